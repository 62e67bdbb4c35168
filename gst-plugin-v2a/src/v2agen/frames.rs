//! Video frames for the model's encoders: each frame a window picks is converted from whatever
//! raw format and size arrived to packed RGB at the encoder's size (GStreamer's video converter:
//! colour conversion and scaling in one pass; the picture is stretched, not cropped), then to f32
//! in [0, 1] laid out `[1, n, 3, height, width]`. Only picked frames are converted, once per
//! window even when a fast encoder shows the same frame several times, and a frame the previous
//! window also picked is not converted again: a streaming package's steps overlap by all but a
//! hop (the bundled foley package: 55 frames a step, 5 new), and converting every picked frame
//! anew made 640×360 input cost twice the model's own time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use diffusion_runtime::v2a::VideoEncoderSpec;
use ndarray::{ArrayD, IxDyn};

/// A video buffer as it arrived, with the caps it arrived under.
#[derive(Clone)]
pub struct Frame {
    pub buffer: gst::Buffer,
    pub info: Arc<gst_video::VideoInfo>,
    /// Unique in the process (a window's frame ids restart with each timeline): what the
    /// converted frames are cached by.
    key: u64,
}

impl Frame {
    pub fn new(buffer: gst::Buffer, info: Arc<gst_video::VideoInfo>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            buffer,
            info,
            key: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// RGB at the encoder's size, same frame rate and interlacing as the input (the converter
/// changes neither).
fn rgb_info(
    input: &gst_video::VideoInfo,
    enc: &VideoEncoderSpec,
) -> Result<gst_video::VideoInfo, glib::BoolError> {
    gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, enc.width, enc.height)
        .fps(input.fps())
        .interlace_mode(input.interlace_mode())
        .build()
}

fn converter(
    input: &gst_video::VideoInfo,
    enc: &VideoEncoderSpec,
) -> Result<(gst_video::VideoInfo, gst_video::VideoConverter), String> {
    let out = rgb_info(input, enc).map_err(|e| e.to_string())?;
    let conv = gst_video::VideoConverter::new(input, &out, None).map_err(|e| e.to_string())?;
    Ok((out, conv))
}

/// Whether frames of `input` can be converted for every encoder (checked at caps time, so that
/// an unusable format is a negotiation error, not a failure mid-stream).
pub fn check(input: &gst_video::VideoInfo, encoders: &[VideoEncoderSpec]) -> Result<(), String> {
    for enc in encoders {
        converter(input, enc).map_err(|e| {
            format!(
                "cannot convert {:?} {}x{} to RGB {}x{} for video encoder {:?}: {e}",
                input.format(),
                input.width(),
                input.height(),
                enc.width,
                enc.height,
                enc.name
            )
        })?;
    }
    Ok(())
}

/// Converts frames for the encoders, keeping one converter per encoder for the current input
/// caps, and per encoder the frames the last window picked, converted.
pub struct FrameConverter {
    encoders: Vec<VideoEncoderSpec>,
    converters: Vec<
        Option<(
            gst_video::VideoInfo,
            gst_video::VideoInfo,
            gst_video::VideoConverter,
        )>,
    >,
    last: Vec<HashMap<u64, Vec<f32>>>,
}

impl FrameConverter {
    pub fn new(encoders: Vec<VideoEncoderSpec>) -> Self {
        let converters = encoders.iter().map(|_| None).collect();
        let last = encoders.iter().map(|_| HashMap::new()).collect();
        Self {
            encoders,
            converters,
            last,
        }
    }

    pub fn encoders(&self) -> &[VideoEncoderSpec] {
        &self.encoders
    }

    /// Frames of encoder `e` as `[1, n, 3, height, width]`.
    pub fn tensor(&mut self, e: usize, frames: &[(u64, Frame)]) -> Result<ArrayD<f32>, String> {
        let (w, h) = (
            self.encoders[e].width as usize,
            self.encoders[e].height as usize,
        );
        let plane = w * h;
        let mut data = vec![0.0f32; frames.len() * 3 * plane];
        let mut done: HashMap<u64, usize> = HashMap::new();
        let mut last = std::mem::take(&mut self.last[e]);
        let mut kept = HashMap::with_capacity(frames.len());
        for (k, (id, frame)) in frames.iter().enumerate() {
            let dst = k * 3 * plane;
            if let Some(&prev) = done.get(id) {
                let src = prev * 3 * plane;
                data.copy_within(src..src + 3 * plane, dst);
                continue;
            }
            let out = &mut data[dst..dst + 3 * plane];
            let converted = match last.remove(&frame.key) {
                Some(converted) => {
                    out.copy_from_slice(&converted);
                    converted
                }
                None => {
                    self.convert(e, frame, out)?;
                    out.to_vec()
                }
            };
            kept.insert(frame.key, converted);
            done.insert(*id, k);
        }
        // Only this window's frames are kept: the next window's overlap with it.
        self.last[e] = kept;
        ArrayD::from_shape_vec(IxDyn(&[1, frames.len(), 3, h, w]), data).map_err(|e| e.to_string())
    }

    /// One frame into `out` (`3 × height × width`, channel-major, in [0, 1]).
    fn convert(&mut self, e: usize, frame: &Frame, out: &mut [f32]) -> Result<(), String> {
        let stale = self.converters[e]
            .as_ref()
            .is_none_or(|(input, _, _)| input != frame.info.as_ref());
        if stale {
            let (out_info, conv) = converter(&frame.info, &self.encoders[e])?;
            self.converters[e] = Some(((*frame.info).clone(), out_info, conv));
        }
        let Some((_, out_info, conv)) = self.converters[e].as_ref() else {
            return Err("no converter".into());
        };
        let input =
            gst_video::VideoFrameRef::from_buffer_ref_readable(frame.buffer.as_ref(), &frame.info)
                .map_err(|_| "cannot map a video frame (buffer smaller than its caps say?)")?;
        let mut rgb = gst::Buffer::with_size(out_info.size()).map_err(|e| e.to_string())?;
        {
            let rgb = rgb.get_mut().ok_or("fresh buffer not writable")?;
            let mut dest = gst_video::VideoFrameRef::from_buffer_ref_writable(rgb, out_info)
                .map_err(|_| "cannot map the RGB frame")?;
            conv.frame_ref(&input, &mut dest);
        }
        let map = rgb.map_readable().map_err(|e| e.to_string())?;
        let (w, h) = (out_info.width() as usize, out_info.height() as usize);
        let stride = out_info.stride()[0] as usize;
        let plane = w * h;
        for y in 0..h {
            let row = &map[y * stride..y * stride + 3 * w];
            for (x, px) in row.chunks_exact(3).enumerate() {
                for (c, &v) in px.iter().enumerate() {
                    out[c * plane + y * w + x] = f32::from(v) / 255.0;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×4 RGB frame of one colour.
    fn frame(rgb: [u8; 3]) -> Frame {
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 4, 4)
            .fps(gst::Fraction::new(25, 1))
            .build()
            .unwrap();
        let mut data = vec![0u8; info.size()];
        let stride = info.stride()[0] as usize;
        for y in 0..4 {
            for x in 0..4 {
                data[y * stride + 3 * x..y * stride + 3 * x + 3].copy_from_slice(&rgb);
            }
        }
        Frame::new(gst::Buffer::from_mut_slice(data), Arc::new(info))
    }

    fn red(t: &ArrayD<f32>, k: usize) -> f32 {
        t[[0, k, 0, 0, 0]]
    }

    #[test]
    fn frames_carry_over_between_windows_by_frame_not_id() {
        gst::init().unwrap();
        let enc = VideoEncoderSpec {
            name: "sync".into(),
            fps: diffusion_runtime::time::Rate::new(25, 1),
            width: 2,
            height: 2,
        };
        let mut conv = FrameConverter::new(vec![enc]);
        let (white, black) = (frame([255; 3]), frame([0; 3]));
        let t = conv
            .tensor(0, &[(0, white.clone()), (1, black.clone())])
            .unwrap();
        assert_eq!((red(&t, 0), red(&t, 1)), (1.0, 0.0));
        // The next window overlaps: the kept frames come back as they were converted.
        let t = conv
            .tensor(0, &[(1, black.clone()), (2, white.clone())])
            .unwrap();
        assert_eq!((red(&t, 0), red(&t, 1)), (0.0, 1.0));
        // A new timeline numbers its frames from 0 again: a new frame under an old id is
        // converted, not taken for the old one.
        let t = conv.tensor(0, &[(1, frame([255; 3]))]).unwrap();
        assert_eq!(red(&t, 0), 1.0);
    }
}
