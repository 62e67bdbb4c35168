//! Video-to-audio windows: the tensor side of `v2agen`.
//!
//! Generated audio is a sequence of windows of `w` samples, each starting `hop = w − o` samples
//! after the previous one; consecutive windows overlap by `o` samples and are crossfaded with
//! equal power (`cos`/`sin` gains, so `g_out² + g_in² = 1`), so that a seam has neither a click
//! nor a dip in loudness, and no sample is dropped or doubled.

use std::f32::consts::FRAC_PI_2;

use ndarray::{ArrayD, IxDyn};

use crate::denoiser::{noise_seed, BranchConditions, GenerationStats, GuidedSampler};
use crate::error::{Error, Result};
use crate::package::{Dim, GraphInput, LoadedPackage, Role, Timing};
use crate::sampler::{Branches, Guidance};
use crate::text::TextEncoder;

/// Window geometry in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLayout {
    pub window: usize,
    pub overlap: usize,
}

impl WindowLayout {
    /// From the manifest's `window_ms`/`overlap_ms` at `rate` Hz (rounded down to whole samples).
    pub fn from_ms(window_ms: u32, overlap_ms: u32, rate: u32) -> Self {
        let s = |ms: u32| (u64::from(ms) * u64::from(rate) / 1000) as usize;
        Self {
            window: s(window_ms),
            overlap: s(overlap_ms),
        }
    }

    pub fn hop(&self) -> usize {
        self.window - self.overlap
    }

    /// First output sample of window `j`.
    pub fn window_start(&self, j: u64) -> u64 {
        j * self.hop() as u64
    }

    /// Windows needed to cover `samples` output samples.
    pub fn windows_covering(&self, samples: u64) -> u64 {
        if samples == 0 {
            return 0;
        }
        let beyond_first = samples.saturating_sub(self.window as u64);
        1 + beyond_first.div_ceil(self.hop() as u64)
    }
}

/// Equal-power gains of the incoming window at position `i` of an overlap of `n` samples (the
/// outgoing window gets the complementary `cos`).
fn fade_in(i: usize, n: usize) -> (f32, f32) {
    let t = (i as f32 + 0.5) / n as f32;
    let (s, c) = (t * FRAC_PI_2).sin_cos();
    (s, c)
}

/// Joins generated windows into one continuous stream of samples.
#[derive(Debug, Clone)]
pub struct WindowAssembler {
    layout: WindowLayout,
    /// The previous window's last `overlap` samples, waiting for the next window.
    tail: Vec<f32>,
    /// Samples handed out so far.
    emitted: u64,
}

impl WindowAssembler {
    pub fn new(layout: WindowLayout) -> Self {
        Self {
            layout,
            tail: Vec::new(),
            emitted: 0,
        }
    }

    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Adds the next window (exactly `window` samples) and returns the samples now final: up to
    /// the start of this window's overlap with the next one, and never past `limit` samples in
    /// all (the stream's length, once EOS tells it; `u64::MAX` before).
    pub fn push(&mut self, window: &[f32], limit: u64) -> Vec<f32> {
        let WindowLayout {
            window: w,
            overlap: o,
        } = self.layout;
        assert_eq!(window.len(), w, "window length");
        let mut out = Vec::with_capacity(w - o);
        if self.tail.is_empty() {
            out.extend_from_slice(&window[..w - o]);
        } else {
            for (i, (&prev, &next)) in self.tail.iter().zip(&window[..o]).enumerate() {
                let (gin, gout) = fade_in(i, o);
                out.push(gout * prev + gin * next);
            }
            out.extend_from_slice(&window[o..w - o]);
        }
        self.tail = window[w - o..].to_vec();
        out.truncate(limit.saturating_sub(self.emitted).min(out.len() as u64) as usize);
        self.emitted += out.len() as u64;
        out
    }

    /// At the end: the last window's tail, cut so that exactly `total` samples were emitted.
    pub fn finish(&mut self, total: u64) -> Vec<f32> {
        let remaining = total.saturating_sub(self.emitted) as usize;
        let out: Vec<f32> = self
            .tail
            .iter()
            .copied()
            .chain(std::iter::repeat(0.0))
            .take(remaining)
            .collect();
        self.tail.clear();
        self.emitted += out.len() as u64;
        out
    }
}

/// Times (ns, from the window start) at which an encoder sampling at `fps` looks at the video:
/// `n = window_ms · fps / 1000` frames, `k / fps` apart.
pub fn encoder_times(window_ms: u32, fps: crate::time::Rate) -> Vec<u64> {
    let n = crate::time::mul_div_floor(u64::from(window_ms), fps.num, 1000 * fps.den).unwrap_or(0);
    (0..n).filter_map(|k| fps.item_start_ns(k)).collect()
}

/// For each target time, the input frame shown at that moment: the last one whose timestamp is
/// at or before it (the first frame for times before it). `pts` must be sorted. Resampling by
/// timestamps, not by frame index, keeps variable or odd frame rates in sync.
pub fn pick_frames(targets: &[u64], pts: &[u64]) -> Vec<usize> {
    targets
        .iter()
        .map(|&t| pts.partition_point(|&p| p <= t).saturating_sub(1))
        .collect()
}

/// A window whose video has all arrived: which frames each encoder sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyWindow {
    pub index: u64,
    /// For each encoder (in the order given to the scheduler), the ids of the frames shown at
    /// its sampling times.
    pub picks: Vec<Vec<u64>>,
}

/// Schedules windows on the video's own time: window `j` covers output samples
/// `[j·hop, j·hop + window)` from the first video timestamp. The encoders see the video over the
/// window, widened by the package's context before it and lookahead after it (a streaming
/// package; both 0 for windows), and a window is ready once video frames up to the end of that
/// view have arrived. Frames are identified by ids the caller chooses (it keeps the pixels);
/// [`oldest_needed`](Self::oldest_needed) says which it may drop.
#[derive(Debug, Clone)]
pub struct VideoWindowScheduler {
    layout: WindowLayout,
    rate: u64,
    window_ms: u32,
    /// Video seen before and after each window (ms).
    context_ms: u32,
    lookahead_ms: u32,
    encoders: Vec<crate::time::Rate>,
    /// (timestamp relative to the first frame, id), in order.
    frames: std::collections::VecDeque<(u64, u64)>,
    /// End of the video seen so far (relative ns).
    video_end: u64,
    next: u64,
}

impl VideoWindowScheduler {
    pub fn new(
        layout: WindowLayout,
        rate: u32,
        window_ms: u32,
        encoders: Vec<crate::time::Rate>,
    ) -> Self {
        Self {
            layout,
            rate: u64::from(rate),
            window_ms,
            context_ms: 0,
            lookahead_ms: 0,
            encoders,
            frames: std::collections::VecDeque::new(),
            video_end: 0,
            next: 0,
        }
    }

    /// A streaming package's view: the encoders see `context_ms` of video before each window and
    /// `lookahead_ms` after it.
    pub fn with_view(mut self, context_ms: u32, lookahead_ms: u32) -> Self {
        self.context_ms = context_ms;
        self.lookahead_ms = lookahead_ms;
        self
    }

    fn ms_to_ns(ms: u32) -> u64 {
        u64::from(ms) * 1_000_000
    }

    fn samples_to_ns(&self, samples: u64) -> u64 {
        crate::time::mul_div_floor(samples, 1_000_000_000, self.rate).unwrap_or(u64::MAX)
    }

    /// A video frame at `pts` (ns after the first frame) lasting `duration` ns.
    pub fn push_frame(&mut self, pts: u64, duration: u64, id: u64) {
        if self.frames.back().is_some_and(|(p, _)| *p > pts) {
            return; // out of order: keep the timeline monotonic
        }
        self.frames.push_back((pts, id));
        self.video_end = self.video_end.max(pts.saturating_add(duration));
    }

    /// A stretch of time with no new frame (a GAP event) up to `end` (ns after the first frame):
    /// the last frame stays on screen, and the audio covers the gap.
    pub fn push_gap(&mut self, end: u64) {
        self.video_end = self.video_end.max(end);
    }

    /// Audio samples that cover the video seen so far (its length at EOS).
    pub fn total_samples(&self) -> u64 {
        crate::time::mul_div_floor(self.video_end, self.rate, 1_000_000_000).unwrap_or(u64::MAX)
    }

    fn take(&mut self) -> ReadyWindow {
        let j = self.next;
        let start = self.samples_to_ns(self.layout.window_start(j));
        let context = Self::ms_to_ns(self.context_ms);
        let span_ms = self.context_ms + self.window_ms + self.lookahead_ms;
        let pts: Vec<u64> = self.frames.iter().map(|(p, _)| *p).collect();
        let frames = self
            .encoders
            .iter()
            .map(|fps| {
                // Times before the first frame (the context of the first windows) see it.
                let targets: Vec<u64> = encoder_times(span_ms, *fps)
                    .iter()
                    .map(|t| (start + t).saturating_sub(context))
                    .collect();
                pick_frames(&targets, &pts)
                    .into_iter()
                    .map(|i| self.frames.get(i).map_or(0, |f| f.1))
                    .collect()
            })
            .collect();
        self.next += 1;
        // Frames before the next window's view are no longer needed, except the last one of
        // them (still on screen when it starts).
        let next_view = self
            .samples_to_ns(self.layout.window_start(self.next))
            .saturating_sub(context);
        while self.frames.len() > 1 && self.frames[1].0 <= next_view {
            self.frames.pop_front();
        }
        ReadyWindow {
            index: j,
            picks: frames,
        }
    }

    /// The next window, once the video up to the end of its view has arrived.
    pub fn ready(&mut self) -> Option<ReadyWindow> {
        let end = self
            .samples_to_ns(self.layout.window_start(self.next) + self.layout.window as u64)
            .saturating_add(Self::ms_to_ns(self.lookahead_ms));
        (!self.frames.is_empty() && self.video_end >= end).then(|| self.take())
    }

    /// At EOS: the windows still needed to cover the video's length (a lookahead past the end
    /// sees the last frame).
    pub fn finish(&mut self) -> Option<ReadyWindow> {
        (!self.frames.is_empty() && self.next < self.layout.windows_covering(self.total_samples()))
            .then(|| self.take())
    }

    /// The oldest frame id still needed (the caller may drop older ones).
    pub fn oldest_needed(&self) -> Option<u64> {
        self.frames.front().map(|f| f.1)
    }
}

/// A video encoder of a package: its name (the denoiser's `video:<name>` slot), frame rate and
/// frame size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEncoderSpec {
    pub name: String,
    pub fps: crate::time::Rate,
    pub width: u32,
    pub height: u32,
}

/// The package's video encoders, in manifest order (validation guarantees name, fps and size).
pub fn video_encoders(package: &LoadedPackage) -> Vec<VideoEncoderSpec> {
    package
        .graphs
        .iter()
        .filter(|g| g.spec.role == Role::VideoEncoder)
        .filter_map(|g| {
            Some(VideoEncoderSpec {
                name: g.spec.name.clone()?,
                fps: g.spec.fps?,
                width: g.spec.width?,
                height: g.spec.height?,
            })
        })
        .collect()
}

/// What one window is conditioned on.
pub struct WindowInputs<'a> {
    /// Frames per video encoder name: f32 `[1, n, 3, height, width]` in [0, 1], sampled at the
    /// encoder's rate and size (see [`encoder_times`], [`pick_frames`]).
    pub video: Vec<(String, ArrayD<f32>)>,
    /// The existing soundtrack over the same window (`window` mono samples; for a streaming
    /// package over the context and the hop, see [`V2aGenerator::existing_span`]), for negative
    /// audio guidance.
    pub existing_audio: Option<&'a [f32]>,
    pub prompt: &'a str,
    pub negative_prompt: &'a str,
}

/// What a streaming package generated over its context, along time: the latent it continues
/// from (`previous_latent`: `[...latent.shape]` with the last, time axis `frames` long) or the
/// decoder's last samples (`previous_waveform`: "latent" `[hop samples]`, `frames` samples);
/// zeros before the first hop.
#[derive(Debug, Clone)]
struct TimeContext {
    /// Leading (non-time) dimensions of the latent, and its frames per hop.
    lead: Vec<usize>,
    hop_frames: usize,
    frames: usize,
    values: Vec<f32>,
}

impl TimeContext {
    fn new(latent: &[usize], frames: usize) -> Self {
        let (hop_frames, lead) = latent.split_last().map_or((0, &[][..]), |(t, l)| (*t, l));
        let rows: usize = lead.iter().product();
        Self {
            lead: lead.to_vec(),
            hop_frames,
            frames,
            values: vec![0.0; rows * frames],
        }
    }

    fn reset(&mut self) {
        self.values.iter_mut().for_each(|v| *v = 0.0);
    }

    fn tensor(&self) -> Result<ArrayD<f32>> {
        let mut shape = vec![1];
        shape.extend_from_slice(&self.lead);
        shape.push(self.frames);
        ArrayD::from_shape_vec(IxDyn(&shape), self.values.clone())
            .map_err(|e| Error::Invalid(e.to_string()))
    }

    /// Appends a hop's latent (`[...lead, hop_frames]`, row-major) along time and keeps the last
    /// `frames` of every row.
    fn push(&mut self, hop: &[f32]) {
        let (c, h) = (self.frames, self.hop_frames);
        for (row, new) in self.values.chunks_mut(c.max(1)).zip(hop.chunks(h.max(1))) {
            if c == 0 {
                break;
            }
            if h >= c {
                row.copy_from_slice(&new[h - c..]);
            } else {
                row.copy_within(h.., 0);
                row[c - h..].copy_from_slice(new);
            }
        }
    }
}

/// Generates windows of audio from video (and prompts, and an existing soundtrack) with a
/// video-to-audio package. A streaming package's "windows" are its hops, with no overlap: each
/// continues the latent of the audio generated before it (`previous_latent`), so hops join
/// without a crossfade.
pub struct V2aGenerator {
    package: LoadedPackage,
    text: TextEncoder,
    layout: WindowLayout,
    sampler: GuidedSampler,
    seed: u64,
    window_index: u64,
    /// Streaming: the context the next hop continues, and its length in samples.
    context: Option<TimeContext>,
    context_samples: usize,
    /// Streaming, a decoder with `previous_waveform`: what it emitted last.
    emitted: Option<TimeContext>,
}

impl V2aGenerator {
    pub fn new(package: LoadedPackage, seed: u64) -> Result<Self> {
        let p = &package.package;
        let rate = p.audio.rate;
        let samples = |ms: u32| (u64::from(ms) * u64::from(rate) / 1000) as usize;
        let (layout, context, context_samples) = match p.timing {
            Timing::Window(t) => (
                WindowLayout::from_ms(t.window_ms, t.overlap_ms, rate),
                None,
                0,
            ),
            Timing::Stream(t) => {
                let layout = WindowLayout {
                    window: samples(t.hop_ms),
                    overlap: 0,
                };
                // Validation made the context a whole number of latent frames.
                let hop_frames = p.latent_shape.last().copied().unwrap_or(0) as u64;
                let frames = (u64::from(t.context_ms) * hop_frames / u64::from(t.hop_ms)) as usize;
                let uses_context = package.graphs.iter().any(|g| {
                    matches!(g.spec.role, Role::Denoiser | Role::Decoder)
                        && g.spec.input("previous_latent").is_some()
                });
                let context = uses_context.then(|| TimeContext::new(&p.latent_shape, frames));
                (layout, context, samples(t.context_ms))
            }
            Timing::Chunk(_) => return Err(Error::Invalid("not a video-to-audio package".into())),
        };
        // Validation fixed the slot's length (at most the context) for streaming packages.
        let emitted = package
            .graph(Role::Decoder)
            .and_then(|g| g.spec.input("previous_waveform"))
            .and_then(|t| match t.shape.last() {
                Some(Dim::Fixed(n)) if context_samples > 0 => {
                    Some(TimeContext::new(&[layout.window], *n))
                }
                _ => None,
            });
        let text = TextEncoder::new(&package)?;
        Ok(Self {
            package,
            text,
            layout,
            sampler: GuidedSampler::new(),
            seed,
            window_index: 0,
            context,
            context_samples,
            emitted,
        })
    }

    /// The existing soundtrack a window's negative audio guidance hears: `(before, len)`
    /// samples, starting `before` samples ahead of the window (a streaming package's context)
    /// and `len` long in all.
    pub fn existing_span(&self) -> (usize, usize) {
        (
            self.context_samples,
            self.context_samples + self.layout.window,
        )
    }

    /// Cross-stream batching of the denoiser steps (see [`GuidedSampler::set_batching`]).
    pub fn set_batching(&mut self, window: Option<std::time::Duration>) -> Result<()> {
        self.sampler.set_batching(&self.package, window)
    }

    pub fn layout(&self) -> WindowLayout {
        self.layout
    }

    pub fn package(&self) -> &LoadedPackage {
        &self.package
    }

    /// The seed from the next window on (the window count goes on).
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// Starts over: window 0 with the given seed (and, streaming, nothing generated before it).
    pub fn reset(&mut self, seed: u64) {
        self.seed = seed;
        self.window_index = 0;
        if let Some(c) = &mut self.context {
            c.reset();
        }
        if let Some(w) = &mut self.emitted {
            w.reset();
        }
    }

    /// The next window's waveform (`window` samples at the package's rate).
    pub fn generate(
        &mut self,
        inputs: &WindowInputs,
        steps: usize,
        guidance: Guidance,
    ) -> Result<(Vec<f32>, GenerationStats)> {
        let start = std::time::Instant::now();
        let den = self
            .package
            .graph(Role::Denoiser)
            .ok_or_else(|| Error::Invalid("package has no denoiser".into()))?
            .spec
            .clone();
        let slot_name = |slot: &str| den.input(slot).map(|t| t.name.clone());
        let mut graphs = std::time::Duration::ZERO;
        let mut common: BranchConditions = Vec::new();
        for (name, frames) in &inputs.video {
            let enc = self
                .package
                .graphs
                .iter()
                .find(|g| {
                    g.spec.role == Role::VideoEncoder
                        && g.spec.name.as_deref() == Some(name.as_str())
                })
                .ok_or_else(|| Error::Invalid(format!("no video encoder named {name}")))?;
            let (mut out, t) =
                enc.run_timed(&[("frames", GraphInput::F32(frames.view()))], &["features"])?;
            graphs += t;
            let feats = out.remove(0);
            let slot = slot_name(&format!("video:{name}"))
                .ok_or_else(|| Error::Invalid(format!("denoiser has no video:{name}")))?;
            common.push((slot, feats));
        }
        let previous = self.context.as_ref().map(TimeContext::tensor).transpose()?;
        if let (Some(slot), Some(p)) = (slot_name("previous_latent"), &previous) {
            common.push((slot, p.clone()));
        }
        let audio_slot = slot_name("audio");
        let silent_audio = match &audio_slot {
            Some(_) => {
                let dim = den
                    .input("audio")
                    .and_then(|t| t.shape.last())
                    .and_then(|d| {
                        if let Dim::Fixed(n) = d {
                            Some(*n)
                        } else {
                            None
                        }
                    })
                    .unwrap_or(1);
                Some(ArrayD::<f32>::zeros(IxDyn(&[1, dim])))
            }
            None => None,
        };
        let existing = match (
            inputs.existing_audio,
            &audio_slot,
            self.package.graph(Role::AudioEncoder),
        ) {
            (Some(samples), Some(_), Some(enc)) => {
                let wave = ArrayD::from_shape_vec(IxDyn(&[1, samples.len()]), samples.to_vec())
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                let (mut out, t) =
                    enc.run_timed(&[("waveform", GraphInput::F32(wave.view()))], &["features"])?;
                graphs += t;
                Some(out.remove(0))
            }
            _ => None,
        };
        let branches = Branches::needed(guidance, existing.is_some());
        let text_slot = slot_name("text");
        let branch = |text: Option<ArrayD<f32>>, audio: Option<&ArrayD<f32>>| -> BranchConditions {
            let mut b = common.clone();
            if let (Some(slot), Some(t)) = (&text_slot, text) {
                b.push((slot.clone(), t));
            }
            if let (Some(slot), Some(a)) = (&audio_slot, audio) {
                b.push((slot.clone(), a.clone()));
            }
            b
        };
        let cond_text = Some(self.text.encode(inputs.prompt)?);
        let mut all = vec![branch(cond_text.clone(), silent_audio.as_ref())];
        if branches.count() >= 2 {
            // The negative prompt replaces the unconditional (empty) prompt.
            let uncond = Some(self.text.encode(inputs.negative_prompt)?);
            all.push(branch(uncond, silent_audio.as_ref()));
        }
        if branches.count() >= 3 {
            all.push(branch(cond_text, existing.as_ref()));
        }
        let mut stats = GenerationStats {
            graphs,
            ..Default::default()
        };
        let x = self.sampler.sample(
            &self.package,
            &all,
            noise_seed(self.seed, self.window_index),
            steps,
            guidance,
            &mut stats,
        )?;
        let latent_shape = &self.package.package.latent_shape;
        let mut shape = vec![1];
        shape.extend_from_slice(latent_shape);
        let latent =
            ArrayD::from_shape_vec(IxDyn(&shape), x).map_err(|e| Error::Invalid(e.to_string()))?;
        let dec = self
            .package
            .graph(Role::Decoder)
            .ok_or_else(|| Error::Invalid("package has no decoder".into()))?;
        let mut dec_inputs = vec![("latent", GraphInput::F32(latent.view()))];
        if let (Some(p), Some(_)) = (&previous, dec.spec.input("previous_latent")) {
            dec_inputs.push(("previous_latent", GraphInput::F32(p.view())));
        }
        let emitted = self.emitted.as_ref().map(TimeContext::tensor).transpose()?;
        if let Some(w) = &emitted {
            dec_inputs.push(("previous_waveform", GraphInput::F32(w.view())));
        }
        let (mut out, dec_run) = dec.run_timed(&dec_inputs, &["waveform"])?;
        stats.graphs += dec_run;
        let wave = out.remove(0);
        if wave.len() != self.layout.window {
            return Err(Error::Inference {
                graph: dec.spec.file.clone(),
                message: format!(
                    "waveform of {} samples, the window is {}",
                    wave.len(),
                    self.layout.window
                ),
            });
        }
        if let (Some(c), Some(x)) = (&mut self.context, latent.as_slice()) {
            c.push(x);
        }
        let wave: Vec<f32> = wave.into_iter().collect();
        if let Some(w) = &mut self.emitted {
            w.push(&wave);
        }
        self.window_index += 1;
        let stats = GenerationStats {
            inference: start.elapsed(),
            ..stats
        };
        Ok((wave, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::NoiseRng;

    #[test]
    fn layout_in_samples() {
        let l = WindowLayout::from_ms(2000, 250, 16_000);
        assert_eq!((l.window, l.overlap, l.hop()), (32_000, 4_000, 28_000));
        assert_eq!(l.windows_covering(0), 0);
        assert_eq!(l.windows_covering(32_000), 1);
        assert_eq!(l.windows_covering(32_001), 2);
        assert_eq!(l.windows_covering(60_000), 2);
        assert_eq!(l.windows_covering(60_001), 3);
    }

    /// Every sample is emitted once: the exact total, whatever the length.
    #[test]
    fn exact_length_no_gap_no_double() {
        let l = WindowLayout {
            window: 100,
            overlap: 20,
        };
        for total in [1u64, 79, 80, 100, 101, 181, 1_000] {
            let mut a = WindowAssembler::new(l);
            let mut out = Vec::new();
            for _ in 0..l.windows_covering(total) {
                out.extend(a.push(&[1.0; 100], total));
            }
            out.extend(a.finish(total));
            assert_eq!(out.len() as u64, total);
        }
    }

    /// Equal power: across a seam between independent noise windows the power stays at the
    /// windows' power (within sampling error); a plain linear crossfade would dip to 2/3.
    #[test]
    fn seams_keep_the_power_of_independent_windows() {
        let l = WindowLayout {
            window: 40_000,
            overlap: 20_000,
        };
        let mut rng = NoiseRng::new(4);
        let mut a = WindowAssembler::new(l);
        let mut w = vec![0.0f32; 40_000];
        rng.fill_normal(&mut w);
        a.push(&w, u64::MAX);
        rng.fill_normal(&mut w);
        let out = a.push(&w, u64::MAX);
        let seam = &out[..20_000];
        let power = seam.iter().map(|v| v * v).sum::<f32>() / seam.len() as f32;
        assert!((power - 1.0).abs() < 0.03, "power across the seam {power}");
    }

    #[test]
    fn encoders_sample_by_timestamps() {
        use crate::time::Rate;
        let t = encoder_times(1000, Rate::new(8, 1));
        assert_eq!(t.len(), 8);
        assert_eq!(t[1], 125_000_000);
        // 30000/1001 input, variable gaps: each target takes the frame on screen at that time.
        let pts = [0, 33_366_666, 66_733_333, 200_000_000, 210_000_000];
        assert_eq!(
            pick_frames(
                &[0, 40_000_000, 125_000_000, 205_000_000, 999_000_000],
                &pts
            ),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(pick_frames(&[5], &[10, 20]), vec![0]);
    }

    #[test]
    fn windows_follow_video_time_and_cover_it_exactly() {
        use crate::time::Rate;
        let layout = WindowLayout::from_ms(2000, 250, 16_000);
        let mut s = VideoWindowScheduler::new(
            layout,
            16_000,
            2000,
            vec![Rate::new(8, 1), Rate::new(25, 1)],
        );
        // 5 s of 30 fps video (frame n at floor(n·1e9/30)).
        let mut ready = Vec::new();
        for n in 0..150u64 {
            let pts = n * 1_000_000_000 / 30;
            let end = (n + 1) * 1_000_000_000 / 30;
            s.push_frame(pts, end - pts, n);
            while let Some(w) = s.ready() {
                ready.push(w);
            }
        }
        // Window 0 (0–2 s) is ready once video reaches 2 s; window 1 (1.75–3.75 s) by 3.75 s.
        assert_eq!(ready.len(), 2);
        while let Some(w) = s.finish() {
            ready.push(w);
        }
        // 5 s = 80000 samples: windows of 32000 every 28000 → 3 windows.
        assert_eq!(s.total_samples(), 80_000);
        assert_eq!(ready.len(), 3);
        let w0 = &ready[0];
        assert_eq!(w0.picks[0].len(), 16);
        assert_eq!(w0.picks[1].len(), 50);
        // 8 fps sampling of 30 fps video, by time: t = k/8 s shows frame floor(k·30/8).
        assert_eq!(&w0.picks[0][..5], &[0, 3, 7, 11, 15]);
        // Window 1 starts at 1.75 s: frame 52 is on screen then.
        assert_eq!(ready[1].picks[1][0], 52);
        assert!(s.oldest_needed().unwrap() >= 52);
    }

    /// Streaming: a hop is ready once the video reaches its end plus the lookahead; the encoders
    /// see from the context before it (the first frame while the context is before the video)
    /// to the lookahead after it; and frames in the next hop's context are kept.
    #[test]
    fn hops_see_their_context_and_wait_for_their_lookahead() {
        use crate::time::Rate;
        let layout = WindowLayout {
            window: 3200,
            overlap: 0,
        };
        let mut s = VideoWindowScheduler::new(layout, 16_000, 200, vec![Rate::new(25, 1)])
            .with_view(400, 80);
        let mut ready = Vec::new();
        for n in 0..25u64 {
            s.push_frame(n * 40_000_000, 40_000_000, n);
            while let Some(w) = s.ready() {
                ready.push((n, w));
            }
        }
        // Hop 0 (0-200 ms) needs video to 280 ms: frame 6 ends at 280 ms.
        assert_eq!(ready[0].0, 6);
        // Hop 1 (200-400 ms) needs 480 ms: frame 11.
        assert_eq!(ready[1].0, 11);
        // 680 ms of video at 25 fps: 17 frames from 400 ms before the hop.
        let h0 = &ready[0].1.picks[0];
        assert_eq!(h0.len(), 17);
        assert_eq!(
            &h0[..10],
            &[0; 10],
            "the context before the video sees the first frame"
        );
        assert_eq!(&h0[10..], &[0, 1, 2, 3, 4, 5, 6]);
        let h1 = &ready[1].1.picks[0];
        assert_eq!(&h1[..7], &[0, 0, 0, 0, 0, 0, 1], "from -200 ms on");
        assert_eq!(*h1.last().unwrap(), 11);
        // 1 s of video: 5 hops; the last two see past the end (its last frame).
        let mut n = ready.len();
        while s.finish().is_some() {
            n += 1;
        }
        assert_eq!(n, 5);
        assert!(s.oldest_needed().is_some());
    }

    /// The context keeps the last frames of every row, hop after hop.
    #[test]
    fn time_context_slides_along_time() {
        // Latent [2 rows, 3 frames per hop], context of 4 frames.
        let mut c = TimeContext::new(&[2, 3], 4);
        c.push(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        assert_eq!(c.values, vec![0.0, 1.0, 2.0, 3.0, 0.0, 10.0, 20.0, 30.0]);
        c.push(&[4.0, 5.0, 6.0, 40.0, 50.0, 60.0]);
        assert_eq!(c.values, vec![3.0, 4.0, 5.0, 6.0, 30.0, 40.0, 50.0, 60.0]);
        assert_eq!(c.tensor().unwrap().shape(), &[1, 2, 4]);
        // A context shorter than a hop keeps the hop's last frames.
        let mut c = TimeContext::new(&[1, 3], 2);
        c.push(&[1.0, 2.0, 3.0]);
        assert_eq!(c.values, vec![2.0, 3.0]);
        c.reset();
        assert_eq!(c.values, vec![0.0, 0.0]);
        // A decoder's last samples (previous_waveform): one row, hops of 2 samples, 5 kept.
        let mut w = TimeContext::new(&[2], 5);
        w.push(&[1.0, 2.0]);
        assert_eq!(w.values, [0.0, 0.0, 0.0, 1.0, 2.0]);
        w.push(&[3.0, 4.0]);
        w.push(&[5.0, 6.0]);
        assert_eq!(w.values, [2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(w.tensor().unwrap().shape(), &[1, 5]);
        w.reset();
        assert_eq!(w.values, [0.0; 5]);
    }

    /// A gap extends the video: the soundtrack covers it with the last frame on screen.
    #[test]
    fn gaps_extend_the_timeline() {
        use crate::time::Rate;
        let layout = WindowLayout::from_ms(2000, 250, 16_000);
        let mut s = VideoWindowScheduler::new(layout, 16_000, 2000, vec![Rate::new(8, 1)]);
        s.push_frame(0, 40_000_000, 0);
        assert!(s.ready().is_none());
        s.push_gap(3_000_000_000);
        assert_eq!(s.total_samples(), 48_000);
        let w = s.ready().expect("window 0 covered by the gap");
        assert_eq!(w.picks[0], vec![0; 16]);
        assert!(s.ready().is_none());
        assert!(s.finish().is_some());
        assert!(s.finish().is_none());
    }

    #[test]
    fn crossfade_gains_are_exact() {
        let l = WindowLayout {
            window: 4,
            overlap: 2,
        };
        let mut a = WindowAssembler::new(l);
        assert_eq!(a.push(&[1.0, 2.0, 3.0, 4.0], u64::MAX), vec![1.0, 2.0]);
        let out = a.push(&[10.0, 20.0, 30.0, 40.0], u64::MAX);
        let g = |i: usize| ((i as f32 + 0.5) / 2.0 * FRAC_PI_2).sin_cos();
        let (s0, c0) = g(0);
        let (s1, c1) = g(1);
        assert_eq!(out, vec![c0 * 3.0 + s0 * 10.0, c1 * 4.0 + s1 * 20.0]);
        assert_eq!(a.finish(7), vec![30.0, 40.0, 0.0]);
    }
}
