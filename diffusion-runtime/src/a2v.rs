//! Audio-to-video generation, one chunk at a time: the tensor side of `miragegen`.
//!
//! Chunk `k` produces frames `[k·C, (k+1)·C)`. Its audio window starts `context` frames before
//! the chunk and ends `lookahead` frames after it (zero before the stream start), so chunk `k`
//! can run once the audio up to frame `(k+1)·C + lookahead` has arrived. Continuity across
//! chunks comes from the denoiser's `previous_motion` input (the tail of the previous chunk's
//! motion) and from the overlapping audio context.

use std::time::Instant;

use ndarray::{ArrayD, IxDyn};

use crate::denoiser::{noise_seed, BranchConditions, GenerationStats, GuidedSampler};
use crate::error::{Error, Result};
use crate::package::{GraphOutput, LoadedPackage, Role, Task, Timing};
use crate::sampler::{Branches, Guidance};
use crate::time::Rate;

/// Where chunks, frames and samples fall, in exact integer arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLayout {
    /// Audio sample rate (Hz).
    pub rate: u64,
    /// Output frame rate.
    pub fps: Rate,
    pub chunk: u64,
    pub context: u64,
    pub lookahead: u64,
}

impl ChunkLayout {
    /// First sample of frame `n` (negative before the stream start): `floor(n·rate/fps)`.
    pub fn frame_start_sample(&self, n: i64) -> i64 {
        let num = i128::from(n) * i128::from(self.rate) * i128::from(self.fps.den);
        num.div_euclid(i128::from(self.fps.num)) as i64
    }

    /// Samples in one chunk's audio window (context + chunk + lookahead frames), rounded up so
    /// that every window has the same length.
    pub fn window_samples(&self) -> usize {
        let frames = self.context + self.chunk + self.lookahead;
        crate::time::mul_div_ceil(frames, self.rate * self.fps.den, self.fps.num).unwrap_or(0)
            as usize
    }

    /// First sample of chunk `k`'s audio window.
    pub fn window_start(&self, k: u64) -> i64 {
        self.frame_start_sample((k * self.chunk) as i64 - self.context as i64)
    }

    /// Samples that must have arrived before chunk `k` can run.
    pub fn samples_needed(&self, k: u64) -> i64 {
        self.window_start(k) + self.window_samples() as i64
    }

    /// Frames needed to cover `samples` samples: `ceil(samples·fps/rate)`.
    pub fn frames_covering(&self, samples: u64) -> u64 {
        crate::time::mul_div_ceil(samples, self.fps.num, self.rate * self.fps.den)
            .unwrap_or(u64::MAX)
    }

    /// Duration of `frames` frames in nanoseconds.
    pub fn frames_ns(&self, frames: u64) -> u64 {
        self.fps.item_start_ns(frames).unwrap_or(u64::MAX)
    }
}

/// A chunk whose audio is complete: its window and the frames it yields.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledChunk {
    pub index: u64,
    /// `window_samples()` mono samples; zeros before the stream start and after its end.
    pub window: Vec<f32>,
    /// First frame of the chunk (`index · chunk`).
    pub first_frame: u64,
    /// Frames to output: the whole chunk, except the last one at the end of the stream.
    pub frame_count: u64,
}

/// Counts samples and cuts them into chunk windows: the sample accumulator and chunk scheduler
/// of `miragegen`, with no GStreamer in it. Memory stays bounded: samples older than the next
/// window are dropped.
#[derive(Debug, Clone)]
pub struct ChunkScheduler {
    layout: ChunkLayout,
    samples: Vec<f32>,
    /// Absolute index of `samples[0]`.
    offset: u64,
    received: u64,
    next_chunk: u64,
}

impl ChunkScheduler {
    pub fn new(layout: ChunkLayout) -> Self {
        Self {
            layout,
            samples: Vec::new(),
            offset: 0,
            received: 0,
            next_chunk: 0,
        }
    }

    pub fn layout(&self) -> &ChunkLayout {
        &self.layout
    }

    /// Samples counted since the stream start.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Frames scheduled so far.
    pub fn frames_scheduled(&self) -> u64 {
        self.next_chunk * self.layout.chunk
    }

    pub fn push(&mut self, samples: &[f32]) {
        self.samples.extend_from_slice(samples);
        self.received += samples.len() as u64;
    }

    /// Silence (a gap, or missing samples before a timestamp jump).
    pub fn push_silence(&mut self, n: u64) {
        self.samples.resize(self.samples.len() + n as usize, 0.0);
        self.received += n;
    }

    fn window(&self, k: u64) -> Vec<f32> {
        let start = self.layout.window_start(k);
        let len = self.layout.window_samples();
        (0..len as i64)
            .map(|i| {
                let abs = start + i;
                if abs < self.offset as i64 || abs >= self.received as i64 {
                    0.0
                } else {
                    self.samples[(abs - self.offset as i64) as usize]
                }
            })
            .collect()
    }

    fn take(&mut self, frames: u64) -> ScheduledChunk {
        let k = self.next_chunk;
        let chunk = ScheduledChunk {
            index: k,
            window: self.window(k),
            first_frame: k * self.layout.chunk,
            frame_count: frames,
        };
        self.next_chunk += 1;
        // Keep only what later windows can still read.
        let keep_from = self.layout.window_start(self.next_chunk).max(0) as u64;
        if keep_from > self.offset {
            let drop = ((keep_from - self.offset) as usize).min(self.samples.len());
            self.samples.drain(..drop);
            self.offset += drop as u64;
        }
        chunk
    }

    /// The next chunk, if its audio (lookahead included) has all arrived.
    pub fn ready(&mut self) -> Option<ScheduledChunk> {
        (self.layout.samples_needed(self.next_chunk) <= self.received as i64)
            .then(|| self.take(self.layout.chunk))
    }

    /// At the end of the stream: the next chunk while frames remain, padded with silence. The
    /// last frame ends where the audio ends (within one frame): `ceil(samples·fps/rate)` frames
    /// in all.
    pub fn finish(&mut self) -> Option<ScheduledChunk> {
        let total = self.layout.frames_covering(self.received);
        let first = self.frames_scheduled();
        (first < total).then(|| self.take((total - first).min(self.layout.chunk)))
    }
}

/// Adaptive steps: fewer steps when a chunk took longer than its duration, more again when it
/// took less than half (hysteresis, one step at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepController {
    pub current: usize,
}

/// What [`StepController::update`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepChange {
    Kept,
    Lowered,
    Raised,
}

impl StepController {
    /// Steps for the next chunk after one that ran at real-time factor `rtf` (processing time /
    /// media time), between `min` and `target`.
    pub fn update(&mut self, rtf: f64, min: usize, target: usize) -> StepChange {
        let min = min.clamp(1, target.max(1));
        let before = self.current.clamp(min, target.max(1));
        self.current = if rtf > 1.0 && before > min {
            before - 1
        } else if rtf < 0.5 && before < target {
            before + 1
        } else {
            before
        };
        match self.current.cmp(&before) {
            std::cmp::Ordering::Less => StepChange::Lowered,
            std::cmp::Ordering::Greater => StepChange::Raised,
            std::cmp::Ordering::Equal => StepChange::Kept,
        }
    }
}

/// A generated chunk: `chunk` frames of packed RGB (`width·height·3` bytes each).
#[derive(Debug, Clone)]
pub struct ChunkOutput {
    pub rgb: Vec<u8>,
    pub stats: GenerationStats,
}

/// Eases the first `frames` motion frames of a chunk out of `last` (the previous chunk's last
/// motion frame): frame `i` becomes `w·m[i] + (1 − w)·last` with `w = (i + 1)/(frames + 1)`. A
/// model conditioned on the previous motion already continues it; this guarantees the seam is
/// no larger a step than the motion within a chunk, whatever the model.
pub fn crossfade_from(motion: &mut [f32], last: &[f32], frames: usize) {
    let dim = last.len();
    if dim == 0 {
        return;
    }
    for (i, frame) in motion.chunks_exact_mut(dim).take(frames).enumerate() {
        let w = (i + 1) as f32 / (frames + 1) as f32;
        for (m, &l) in frame.iter_mut().zip(last) {
            *m = w * *m + (1.0 - w) * l;
        }
    }
}

/// An RGB value in [0, 1] as a byte.
fn to_byte(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// Generates chunks of video from windows of audio with an audio-to-video package.
pub struct A2vGenerator {
    package: LoadedPackage,
    layout: ChunkLayout,
    pub width: usize,
    pub height: usize,
    motion_dim: usize,
    /// Frames eased out of the previous chunk (`timing.seam_frames`).
    seam: usize,
    /// The portrait, f32 [height, width, 3] in [0, 1].
    reference: ArrayD<f32>,
    prev_motion: Vec<f32>,
    sampler: GuidedSampler,
    seed: u64,
    chunk_index: u64,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

impl A2vGenerator {
    /// `reference` is the portrait as f32 [height, width, 3] in [0, 1] at the package's video size.
    pub fn new(package: LoadedPackage, reference: ArrayD<f32>, seed: u64) -> Result<Self> {
        let p = &package.package;
        if p.task != Task::AudioToVideo {
            return Err(invalid("not an audio-to-video package"));
        }
        let (Timing::Chunk(t), Some(video)) = (p.timing, p.video) else {
            return Err(invalid(
                "audio-to-video package without chunk timing or video size",
            ));
        };
        let motion_dim = *p.latent_shape.last().unwrap_or(&0);
        if p.latent_shape.len() != 2 || p.latent_shape[0] != t.chunk_frames as usize {
            return Err(invalid(format!(
                "latent.shape {:?} must be [chunk_frames ({}), motion_dim]",
                p.latent_shape, t.chunk_frames
            )));
        }
        if t.context_frames > t.chunk_frames {
            return Err(invalid(format!(
                "context_frames ({}) longer than chunk_frames ({}): the context is the previous chunk's tail",
                t.context_frames, t.chunk_frames
            )));
        }
        let decoder = package.graph(Role::Decoder);
        let encoder = package.graph(Role::ReferenceEncoder);
        if decoder.and_then(|d| d.spec.input("reference")).is_some()
            || package
                .graph(Role::Denoiser)
                .and_then(|d| d.spec.input("reference"))
                .is_some()
            || encoder.and_then(|e| e.spec.output("reference")).is_some()
        {
            return Err(invalid(
                "reference features (a reference_encoder's `reference` output and the graphs' \
                 `reference` inputs) are not supported by this runtime yet; a reference_encoder \
                 can give the decoder its portrait through `portrait`",
            ));
        }
        if encoder.is_some()
            && decoder
                .and_then(|d| d.spec.input("reference_image"))
                .is_none()
        {
            return Err(invalid(
                "the reference_encoder's portrait goes to the decoder's reference_image, which \
                 this decoder does not take",
            ));
        }
        let (width, height) = (video.width as usize, video.height as usize);
        if reference.shape() != [height, width, 3] {
            return Err(invalid(format!(
                "reference image is {:?}, the package renders [{height}, {width}, 3]",
                reference.shape()
            )));
        }
        let layout = ChunkLayout {
            rate: u64::from(p.audio.rate),
            fps: video.fps,
            chunk: u64::from(t.chunk_frames),
            context: u64::from(t.context_frames),
            lookahead: u64::from(t.lookahead_frames),
        };
        let prev_motion = vec![0.0; t.context_frames as usize * motion_dim];
        Ok(Self {
            package,
            layout,
            width,
            height,
            motion_dim,
            seam: t.seam_frames as usize,
            reference,
            prev_motion,
            sampler: GuidedSampler::new(),
            seed,
            chunk_index: 0,
        })
    }

    /// Cross-stream batching of the denoiser steps (see [`GuidedSampler::set_batching`]).
    pub fn set_batching(&mut self, window: Option<std::time::Duration>) -> Result<()> {
        self.sampler.set_batching(&self.package, window)
    }

    pub fn layout(&self) -> &ChunkLayout {
        &self.layout
    }

    /// The portrait as RGB bytes, `[height, width, 3]`: what a live element shows while no
    /// frame can be rendered (an inference-server outage before the first chunk).
    pub fn portrait_rgb(&self) -> Vec<u8> {
        self.reference.iter().copied().map(to_byte).collect()
    }

    pub fn package(&self) -> &LoadedPackage {
        &self.package
    }

    /// Starts over (after a flush or a new stream): rest pose, chunk 0, the given seed.
    pub fn reset(&mut self, seed: u64) {
        self.prev_motion.fill(0.0);
        self.chunk_index = 0;
        self.seed = seed;
    }

    /// The seed for the chunks from the next one on.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// Generates the next chunk from its audio window (`window_samples()` mono samples).
    pub fn generate(
        &mut self,
        window: &[f32],
        steps: usize,
        guidance: Guidance,
    ) -> Result<ChunkOutput> {
        let start = Instant::now();
        let want = self.layout.window_samples();
        if window.len() != want {
            return Err(invalid(format!(
                "audio window of {} samples, expected {want}",
                window.len()
            )));
        }
        let graph = |role| {
            self.package
                .graph(role)
                .ok_or_else(|| invalid(format!("package has no {}", role.as_str())))
        };
        let (encoder, decoder) = (graph(Role::AudioEncoder)?, graph(Role::Decoder)?);
        let den_spec = &graph(Role::Denoiser)?.spec;
        let audio = ArrayD::from_shape_vec(IxDyn(&[1, want]), window.to_vec())
            .map_err(|e| invalid(e.to_string()))?;
        let (mut enc_out, enc_run) = encoder.run_timed(
            &[("audio", crate::package::GraphInput::F32(audio.view()))],
            &["features"],
        )?;
        let features = enc_out.remove(0);

        let mut cond: BranchConditions = Vec::new();
        let audio_slot = den_spec
            .input("audio_features")
            .ok_or_else(|| invalid("denoiser has no audio_features"))?;
        cond.push((audio_slot.name.clone(), features.clone()));
        if let Some(prev) = den_spec.input("previous_motion") {
            let ctx = self.layout.context as usize;
            let a =
                ArrayD::from_shape_vec(IxDyn(&[1, ctx, self.motion_dim]), self.prev_motion.clone())
                    .map_err(|e| invalid(e.to_string()))?;
            cond.push((prev.name.clone(), a));
        }
        let branches = Branches::needed(guidance, false);
        let mut all = vec![cond.clone()];
        if branches == Branches::Cfg {
            // The unconditional branch hears silence: zeroed audio features.
            let uncond = cond
                .iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        if *n == audio_slot.name {
                            v.mapv(|_| 0.0)
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect();
            all.push(uncond);
        }
        let mut stats = GenerationStats {
            graphs: enc_run,
            ..Default::default()
        };
        let mut x = self.sampler.sample(
            &self.package,
            &all,
            noise_seed(self.seed, self.chunk_index),
            steps,
            guidance,
            &mut stats,
        )?;
        let latent_shape = self.package.package.latent_shape.clone();

        let ctx = self.layout.context as usize;
        if self.chunk_index > 0 {
            crossfade_from(
                &mut x,
                &self.prev_motion[self.prev_motion.len().saturating_sub(self.motion_dim)..],
                self.seam,
            );
        }
        if ctx > 0 && self.prev_motion.len() == ctx * self.motion_dim {
            let tail = &x[x.len() - ctx * self.motion_dim..];
            self.prev_motion.copy_from_slice(tail);
        }
        let motion =
            ArrayD::from_shape_vec(IxDyn(&latent_shape), x).map_err(|e| invalid(e.to_string()))?;
        let mut inputs = vec![("motion", crate::package::GraphInput::F32(motion.view()))];
        if decoder.spec.input("reference_image").is_some() {
            inputs.push((
                "reference_image",
                crate::package::GraphInput::F32(self.reference.view()),
            ));
        }
        let (mut dec_out, dec_run) = decoder.run_raw_timed(&inputs, &["frames"])?;
        stats.graphs += dec_run;
        let frames = dec_out.remove(0);
        let expect = [self.layout.chunk as usize, self.height, self.width, 3];
        if frames.shape() != expect {
            return Err(Error::Inference {
                graph: decoder.spec.file.clone(),
                message: format!(
                    "frames have shape {:?}, expected {expect:?}",
                    frames.shape()
                ),
            });
        }
        let bytes = match frames {
            // The common case for real renderers: bytes already, taken as they are.
            GraphOutput::U8(a) if a.is_standard_layout() => a.into_raw_vec_and_offset().0,
            GraphOutput::U8(a) => a.iter().copied().collect(),
            GraphOutput::F32(a) => a.iter().copied().map(to_byte).collect(),
            GraphOutput::I64(_) => {
                return Err(Error::Inference {
                    graph: decoder.spec.file.clone(),
                    message: "frames are int64; expected uint8 or float32".into(),
                })
            }
        };
        self.chunk_index += 1;
        Ok(ChunkOutput {
            rgb: bytes,
            stats: GenerationStats {
                inference: start.elapsed(),
                ..stats
            },
        })
    }
}

/// The portrait to animate, as the decoder's reference: an avatar of the package by name, else an
/// image file, else the package's `default_avatar` when `avatar` is `None`; at the package's
/// video size. A package with a `reference_encoder` gets the picture at its own size and
/// the encoder makes the portrait (finds and aligns the face). The error says what is wrong.
pub fn avatar_portrait(
    model: &LoadedPackage,
    avatar: Option<&str>,
) -> Result<ndarray::ArrayD<f32>, String> {
    let p = &model.package;
    let video = p.video.ok_or("the package has no [video] size")?;
    let path = match avatar {
        Some(name) if p.avatars.contains_key(name) => p.avatars[name].clone(),
        Some(file) if std::path::Path::new(file).is_file() => std::path::PathBuf::from(file),
        Some(other) => {
            let names: Vec<&str> = p.avatars.keys().map(String::as_str).collect();
            return Err(format!(
                "{other:?} is neither an avatar of the package ({}) nor an image file",
                names.join(", ")
            ));
        }
        None => {
            let name = p
                .default_avatar
                .as_deref()
                .ok_or("the package has no default_avatar")?;
            p.avatars
                .get(name)
                .cloned()
                .ok_or("default_avatar names no avatar")?
        }
    };
    match model.graph(Role::ReferenceEncoder) {
        Some(encoder) => {
            crate::reference::encode_portrait(encoder, &path, video.width, video.height)
        }
        None => crate::tensor::load_image_rgb(&path, video.width, video.height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(rate: u64, fps: Rate) -> ChunkLayout {
        ChunkLayout {
            rate,
            fps,
            chunk: 10,
            context: 2,
            lookahead: 2,
        }
    }

    /// Every sample count gives exactly ceil(N·fps/rate) frames, whatever the buffer sizes.
    #[test]
    fn scheduler_yields_exactly_the_covering_frames() {
        for (rate, fps) in [
            (16_000, Rate::new(25, 1)),
            (48_000, Rate::new(30_000, 1001)),
            (44_100, Rate::new(24, 1)),
        ] {
            let l = layout(rate, fps);
            for total in [0u64, 1, 639, 640, 641, 6_399, 12 * 640, 100_003] {
                for buffer in [1usize, 441, 1024, 10_000] {
                    let mut s = ChunkScheduler::new(l);
                    let mut frames = 0;
                    let mut next_index = 0;
                    let mut pushed = 0u64;
                    let mut check = |c: ScheduledChunk, frames: &mut u64| {
                        assert_eq!(c.index, next_index);
                        assert_eq!(c.first_frame, next_index * l.chunk);
                        assert_eq!(c.window.len(), l.window_samples());
                        next_index += 1;
                        *frames += c.frame_count;
                    };
                    while pushed < total {
                        let n = (buffer as u64).min(total - pushed);
                        s.push(&vec![0.5; n as usize]);
                        pushed += n;
                        while let Some(c) = s.ready() {
                            check(c, &mut frames);
                        }
                    }
                    while let Some(c) = s.finish() {
                        check(c, &mut frames);
                    }
                    assert_eq!(
                        frames,
                        l.frames_covering(total),
                        "rate {rate} fps {fps} total {total} buffer {buffer}"
                    );
                }
            }
        }
    }

    #[test]
    fn windows_carry_the_right_samples() {
        let l = layout(16_000, Rate::new(25, 1));
        let mut s = ChunkScheduler::new(l);
        let ramp: Vec<f32> = (0..20_000).map(|i| i as f32).collect();
        s.push(&ramp);
        let c0 = s.ready().unwrap();
        // Chunk 0: two frames of silence (context before the start), then samples 0.. .
        assert!(c0.window[..1280].iter().all(|&v| v == 0.0));
        assert_eq!(&c0.window[1280..1283], &[0.0, 1.0, 2.0]);
        let c1 = s.ready().unwrap();
        // Chunk 1 starts two frames before frame 10: sample 8 · 640.
        assert_eq!(c1.window[0], 5120.0);
        assert!(s.ready().is_none(), "chunk 2 needs audio up to frame 32");
        s.push_silence(1);
        let c2 = s.finish().unwrap();
        assert_eq!(c2.window[0], 11_520.0);
        assert_eq!(c2.frame_count, 10);
        let c3 = s.finish().unwrap();
        assert_eq!((c3.first_frame, c3.frame_count), (30, 2)); // 20001 samples → 32 frames
        assert!(s.finish().is_none());
    }

    #[test]
    fn crossfade_eases_out_of_the_previous_frame() {
        let mut m = vec![3.0, 30.0, 3.0, 30.0, 3.0, 30.0];
        crossfade_from(&mut m, &[0.0, 0.0], 2);
        assert_eq!(m, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
    }

    #[test]
    fn step_controller_lowers_when_late_and_recovers_with_headroom() {
        let mut c = StepController { current: 8 };
        assert_eq!(c.update(1.5, 2, 8), StepChange::Lowered);
        assert_eq!(c.current, 7);
        for _ in 0..10 {
            c.update(2.0, 2, 8);
        }
        assert_eq!(c.current, 2, "never below min-steps");
        assert_eq!(
            c.update(0.8, 2, 8),
            StepChange::Kept,
            "between 0.5 and 1: hold"
        );
        assert_eq!(c.update(0.3, 2, 8), StepChange::Raised);
        for _ in 0..10 {
            c.update(0.1, 2, 8);
        }
        assert_eq!(c.current, 8, "never above the target");
        // The target dropping below the current steps takes effect at once.
        c.update(0.8, 2, 4);
        assert_eq!(c.current, 4);
    }

    #[test]
    fn windows_and_frames_are_exact() {
        let l = layout(16_000, Rate::new(25, 1));
        assert_eq!(l.window_samples(), 14 * 640);
        assert_eq!(l.window_start(0), -2 * 640);
        assert_eq!(l.samples_needed(0), 12 * 640);
        assert_eq!(l.window_start(3), 28 * 640);
        assert_eq!(l.frames_covering(16_000), 25);
        assert_eq!(l.frames_covering(16_001), 26);
        // NTSC rate: samples per frame is fractional; windows stay equal-length.
        let n = layout(48_000, Rate::new(30_000, 1001));
        assert_eq!(n.frame_start_sample(30_000), 48_048_000);
        assert_eq!(n.frame_start_sample(-1), -1602);
        assert_eq!(n.window_samples(), 22_423); // ceil(14 · 1601.6)
    }
}
