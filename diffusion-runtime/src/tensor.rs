//! Small tensor helpers shared by the elements and the benchmark.

use ndarray::{Array2, ArrayView3, ArrayViewD, Axis};

/// Masked mean over the sequence axis, then L2 normalisation: sentence embeddings from a
/// `[batch, seq, dim]` hidden state (all-MiniLM style). `mask` is `[batch, seq]`, 1 = token.
pub fn mean_pool_normalize(hidden: ArrayView3<f32>, mask: ArrayViewD<i64>) -> Array2<f32> {
    let (b, s, d) = hidden.dim();
    let mut out = Array2::<f32>::zeros((b, d));
    for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
        let mut count = 0.0f32;
        for j in 0..s {
            let m = mask.get([i, j]).copied().unwrap_or(0);
            if m != 0 {
                row += &hidden.slice(ndarray::s![i, j, ..]);
                count += 1.0;
            }
        }
        if count > 0.0 {
            row /= count;
        }
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row /= norm;
    }
    out
}

/// Loads an image file (PNG or JPEG) as RGB f32 `[height, width, 3]` in [0, 1], resized to the
/// given size.
pub fn load_image_rgb(
    path: &std::path::Path,
    width: u32,
    height: u32,
) -> Result<ndarray::ArrayD<f32>, String> {
    let img = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_rgb8();
    let img = if img.dimensions() == (width, height) {
        img
    } else {
        image::imageops::resize(&img, width, height, image::imageops::FilterType::Triangle)
    };
    let data: Vec<f32> = img
        .into_raw()
        .into_iter()
        .map(|v| f32::from(v) / 255.0)
        .collect();
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[height as usize, width as usize, 3]), data)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, arr3};

    #[test]
    fn pooling_ignores_masked_tokens_and_normalises() {
        let h = arr3(&[[[3.0f32, 0.0], [0.0, 4.0], [100.0, 100.0]]]);
        let mask = arr2(&[[1i64, 1, 0]]).into_dyn();
        let e = mean_pool_normalize(h.view(), mask.view());
        // mean of the first two tokens = (1.5, 2), norm 2.5.
        assert_eq!(e, arr2(&[[0.6, 0.8]]));
    }
}
