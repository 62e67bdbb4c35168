//! The reference encoder of an audio-to-video package: any photo in, the portrait the decoder
//! animates out (the face found and aligned by the graph), with the graph's verdict on the face
//! turned into a one-line error naming the file.

use std::path::Path;

use ndarray::ArrayD;

use crate::package::{GraphInput, LoadedGraph};

/// Photos larger than this on a side are refused before decoding (the decoded picture alone
/// would be 805 MB of f32 at the limit).
pub const MAX_PHOTO_SIDE: u32 = 8192;
/// ... and larger than this in pixels.
pub const MAX_PHOTO_PIXELS: u64 = 40_000_000;

/// What the encoder's optional `status` output means (models/README.md, reference_encoder).
fn verdict(code: i64, face_width: Option<f32>) -> Option<String> {
    match code {
        0 => None,
        1 => Some("no face found (a frontal portrait whose face is at least an eighth of the picture's longer side works)".into()),
        2 => Some("several faces; crop the picture to the one to animate".into()),
        3 => Some("the face is turned away from the camera; use a frontal portrait".into()),
        4 => Some(match face_width {
            Some(w) => format!("the face is too small ({w:.0} pixels wide); use a larger picture of it"),
            None => "the face is too small; use a larger picture of it".into(),
        }),
        other => Some(format!("the reference encoder refused the picture (status {other})")),
    }
}

/// Loads `path` at its own size ([height, width, 3] f32 in [0, 1]), runs `encoder` on it and
/// returns its `portrait` (checked to be the `[height, width, 3]` picture the package renders).
pub fn encode_portrait(
    encoder: &LoadedGraph,
    path: &Path,
    width: u32,
    height: u32,
) -> Result<ArrayD<f32>, String> {
    let name = path.display();
    let (w, h) = image::image_dimensions(path)
        .map_err(|e| format!("{name}: not a picture this element reads (PNG or JPEG): {e}"))?;
    if w > MAX_PHOTO_SIDE || h > MAX_PHOTO_SIDE || u64::from(w) * u64::from(h) > MAX_PHOTO_PIXELS {
        return Err(format!(
            "{name}: the picture is {w}x{h}; at most {MAX_PHOTO_SIDE} pixels on a side and {} megapixels (scale it down)",
            MAX_PHOTO_PIXELS / 1_000_000
        ));
    }
    let photo = crate::tensor::load_image_rgb(path, w, h)?;
    let mut wanted = vec!["portrait"];
    let has = |slot| encoder.spec.output(slot).is_some();
    if has("status") {
        wanted.push("status");
    }
    if has("face_box") {
        wanted.push("face_box");
    }
    let mut out = encoder
        .run(&[("image", GraphInput::F32(photo.view()))], &wanted)
        .map_err(|e| format!("{name}: {e}"))?;
    if has("status") {
        let status = out[1].iter().next().copied().unwrap_or(-1.0) as i64;
        let face_width = has("face_box")
            .then(|| out.last().and_then(|b| b.iter().nth(2).copied()))
            .flatten();
        if let Some(problem) = verdict(status, face_width) {
            return Err(format!("{name}: {problem}"));
        }
    }
    let portrait = out.swap_remove(0);
    let want = [height as usize, width as usize, 3];
    if portrait.shape() != want {
        return Err(format!(
            "{name}: the reference encoder's portrait is {:?}; the package renders {want:?}",
            portrait.shape()
        ));
    }
    Ok(portrait)
}
