//! v2agen's generator thread and src pad tasks: windows are generated in stream order, their
//! samples timestamped from the count of samples emitted, and the held video released up to the
//! soundtrack's end, so that `src` and `audio_src` advance together.

use std::time::{Duration, Instant};

use diffusion_runtime::denoiser::GenerationStats;
use diffusion_runtime::v2a::{WindowAssembler, WindowInputs};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_generative_common::pads::post_stats;
use gst_generative_common::queue::{Out, Popped};

use super::existing::{ExistingTrack, Wait};
use super::frames::Frame;
use super::imp::{lock, Output, Prepared, V2aGen, AUDIO, CAT, VIDEO};
use super::work::Item;

/// Before a timeline's first output, an existing soundtrack silent for this many latencies
/// (window + hop) gets a warning, and for [`EXISTING_STALL_ERROR`] latencies an error (see
/// `V2aGen::wait_existing`): 15 s and 45 s with the bundled foley package. Well beyond what a
/// first v2agen upstream takes for its first window, even generating slower than real time.
const EXISTING_STALL_WARN: u32 = 2;
const EXISTING_STALL_ERROR: u32 = 6;

/// Samples per audio buffer: 40 ms, a video frame at 25 fps.
fn buffer_samples(rate: u32) -> usize {
    (rate as usize / 25).max(1)
}

impl V2aGen {
    /// One turn of the generator thread.
    pub(super) fn generator_step(&self) {
        let (item, epoch) = match self.streaming.work.pop(Duration::from_millis(100)) {
            Popped::Item(item, epoch) => (item, epoch),
            Popped::Timeout => return,
            Popped::Flushing => {
                self.streaming.work.wait_started(Duration::from_millis(100));
                return;
            }
        };
        let Some(prepared) = self.prepared() else {
            return;
        };
        let epochs = match self.streaming.outlets.epochs()[..] {
            [video, audio] => (video, audio),
            _ => return,
        };
        if !self.streaming.work.is_current(epoch) {
            return; // a flush began after the pop (the output queues were flushed after it)
        }
        let mut guard = lock(&self.output);
        let Some(output) = guard.as_mut() else {
            return;
        };
        if output.epoch != Some(epoch) {
            // First item after a flush: nothing from before it goes out.
            restart(output, &prepared);
            // Sticky events not yet out (caps, tags) stay, as a pad keeps them across a flush.
            output.held.retain(|o| match o {
                Out::Event(e) => {
                    e.is_sticky()
                        && !matches!(e.type_(), gst::EventType::Segment | gst::EventType::Eos)
                }
                Out::Buffer(_) => false,
            });
            output.epoch = Some(epoch);
        }
        let result = match item {
            Item::Event(event) => self.pass_event(output, &prepared, event, epochs),
            Item::Video(buffer) => {
                output.held.push_back(Out::Buffer(buffer));
                Ok(gst::FlowSuccess::Ok)
            }
            Item::Start { base, base_running } => {
                restart(output, &prepared);
                output.generator.reset(lock(&self.settings).seed);
                output.base = Some(base);
                let track = lock(&self.state).existing.clone();
                if let Some(track) = track {
                    let running = base_running;
                    let index = track.index(running.nseconds());
                    output.base_index = Some(index);
                    // The existing soundtrack before the video starts is not needed.
                    track.release_before(index);
                }
                Ok(gst::FlowSuccess::Ok)
            }
            Item::Window {
                index,
                picked,
                limit,
            } => self.generate(output, &prepared, index, &picked, limit, epoch, epochs),
            Item::Finish { total } => {
                let first = output.assembler.emitted();
                let mut samples = output.assembler.finish(total);
                let mix = lock(&self.settings).mix_existing;
                if mix {
                    if let Some((start, existing)) = &output.last_existing {
                        mix_into(&mut samples, first, *start, existing);
                    }
                }
                let r = self
                    .emit(output, &prepared, first, samples, epochs)
                    .and_then(|_| self.release(output, u64::MAX, epochs.0));
                restart(output, &prepared);
                r
            }
        };
        if let Err(err) = result {
            if err != gst::FlowError::Flushing {
                self.streaming.work.set_flow(Err(err));
            }
        }
    }

    /// Passes a video event on `src` in order, with its counterpart on `audio_src`.
    fn pass_event(
        &self,
        output: &mut Output,
        prepared: &Prepared,
        event: gst::Event,
        (video_epoch, audio_epoch): (u64, u64),
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let audio = match event.view() {
            gst::EventView::StreamStart(s) => {
                let id = format!("{}/v2agen-audio", s.stream_id());
                let mut b = gst::event::StreamStart::builder(&id).flags(s.stream_flags());
                if let Some(g) = s.group_id() {
                    b = b.group_id(g);
                }
                vec![b.build(), gst::event::Caps::new(&prepared.audio_caps())]
            }
            gst::EventView::Segment(_) | gst::EventView::Eos(_) => vec![event.clone()],
            _ => Vec::new(),
        };
        for e in audio {
            self.streaming
                .outlets
                .get(AUDIO)
                .queue
                .push_in(Out::Event(e), Some(audio_epoch))?;
        }
        output.held.push_back(Out::Event(event));
        let end = self.audio_end(output, prepared);
        self.release(output, end, video_epoch)
    }

    /// Timestamp (ns) where the emitted soundtrack ends; 0 before the timeline starts.
    fn audio_end(&self, output: &Output, prepared: &Prepared) -> u64 {
        output.base.map_or(0, |b| {
            b.nseconds()
                .saturating_add(prepared.samples_ns(output.assembler.emitted()))
        })
    }

    /// Sends held video on `src` up to (not including) frames starting at `end` ns. An item
    /// leaves `held` only once queued, so that a sticky event refused by a flush stays for the
    /// next epoch.
    fn release(
        &self,
        output: &mut Output,
        end: u64,
        epoch: u64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let queue = &self.streaming.outlets.get(VIDEO).queue;
        while let Some(front) = output.held.front() {
            if let Out::Buffer(b) = front {
                if b.pts().is_some_and(|p| p.nseconds() >= end) {
                    break;
                }
            }
            let out = front.clone();
            if output.discont {
                // No audio queued on this timeline yet: not waited for. Waiting for a video sink
                // that waits for preroll, before any audio is queued for the other sink's
                // preroll, would deadlock (frames much shorter than an audio buffer, or a
                // timeline too short for one sample). This video is in memory already.
                queue.push_in_now(out, Some(epoch))?;
            } else {
                // Audio is queued ahead of this video, so both sinks can preroll: `src`'s queue
                // paces the generator (and so upstream) even when `audio_src` does not (unlinked,
                // at EOS, or an unsynced sink).
                queue.push_in(out, Some(epoch))?;
            }
            output.held.pop_front();
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Queues samples `first..` of the timeline on `audio_src` in 40 ms buffers, each followed by
    /// the video it reaches.
    fn emit(
        &self,
        output: &mut Output,
        prepared: &Prepared,
        first: u64,
        samples: Vec<f32>,
        (video_epoch, audio_epoch): (u64, u64),
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(base) = output.base else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let per = buffer_samples(prepared.rate);
        let mut n = first;
        for chunk in samples.chunks(per) {
            let end = n + chunk.len() as u64;
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            let mut buffer = gst::Buffer::from_mut_slice(bytes);
            {
                let b = buffer.get_mut().ok_or(gst::FlowError::Error)?;
                let start =
                    base.saturating_add(gst::ClockTime::from_nseconds(prepared.samples_ns(n)));
                let stop =
                    base.saturating_add(gst::ClockTime::from_nseconds(prepared.samples_ns(end)));
                b.set_pts(start);
                b.set_duration(stop.saturating_sub(start));
                b.set_offset(n);
                b.set_offset_end(end);
                if std::mem::take(&mut output.discont) {
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
            }
            self.streaming
                .outlets
                .get(AUDIO)
                .queue
                .push_in(Out::Buffer(buffer), Some(audio_epoch))?;
            let reached = base.nseconds().saturating_add(prepared.samples_ns(end));
            self.release(output, reached, video_epoch)?;
            n = end;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Generates window `index`, emits its final samples and the video they reach.
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        output: &mut Output,
        prepared: &Prepared,
        index: u64,
        picked: &[Vec<(u64, Frame)>],
        limit: u64,
        epoch: u64,
        epochs: (u64, u64),
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let layout = prepared.layout;
        let window_start = layout.window_start(index);
        let cancelled =
            || !self.streaming.work.is_current(epoch) || self.streaming.worker.is_stopping();

        // The existing soundtrack over this window: waited for (live: within the budget).
        let track = self.existing_track();
        let track_epoch = track.as_ref().map(|t| t.epoch());
        // (A streaming package hears it from its context on; the first hops' context reaches
        // back before the track's sample 0 only at the very start of running time: silence.)
        let (before, span) = prepared.existing_span;
        let existing = match (&track, output.base_index) {
            (Some(track), Some(base_index)) => {
                let at = base_index + window_start;
                let pad = (before as u64).saturating_sub(at) as usize;
                let mut samples = vec![0.0; pad];
                samples.extend(self.wait_existing(
                    track,
                    at + pad as u64 - before as u64,
                    span - pad,
                    output.assembler.emitted() == 0,
                    prepared,
                    &cancelled,
                )?);
                Some(samples)
            }
            _ => None,
        };

        let mut video = Vec::with_capacity(picked.len());
        for (e, frames) in picked.iter().enumerate() {
            let name = output.converter.encoders()[e].name.clone();
            let tensor = output.converter.tensor(e, frames).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Decode,
                    ["window {index}: preparing frames for video encoder {name:?}: {err}"]
                );
                gst::FlowError::Error
            })?;
            video.push((name, tensor));
        }
        let defaults = &output.generator.package().package.sampler;
        let steps = defaults.steps_or_default(settings.steps);
        let guidance =
            defaults.guidance_or_default(settings.guidance_scale, settings.negative_audio_scale);
        output.generator.set_seed(settings.seed);
        let inputs = WindowInputs {
            video,
            existing_audio: existing.as_deref(),
            prompt: &settings.prompt,
            negative_prompt: &settings.negative_prompt,
        };
        let generated = output.generator.generate(&inputs, steps, guidance);
        output
            .engines
            .post_new(self.obj().upcast_ref(), *CAT, output.generator.package());
        let (wave, stats) = match generated {
            Ok(r) => {
                output.outage.answered(
                    self.obj().upcast_ref(),
                    *CAT,
                    &format!("window {index} generated"),
                );
                r
            }
            // Live: an inference server that is down (or restarting) gives this window silence
            // at the clock's pace, the video passing through, and the next window tries again.
            Err(e) if e.is_server_outage() && self.is_live() => {
                output.outage.failed(
                    self.obj().upcast_ref(),
                    &e,
                    "silence until the server answers again",
                );
                (vec![0.0; layout.window], Default::default())
            }
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ["generating window {index}: {e}"]
                );
                return Err(gst::FlowError::Error);
            }
        };
        if cancelled() {
            gst::debug!(
                CAT,
                imp = self,
                "dropping window {index}: flushed while generating"
            );
            return Err(gst::FlowError::Flushing);
        }
        let hop_ns = prepared.samples_ns(layout.hop() as u64);
        self.post_window_stats(index, hop_ns, steps, &stats);

        let first = output.assembler.emitted();
        let mut samples = output.assembler.push(&wave, limit);
        if let Some(mut existing) = existing {
            // Mixed from the window's start on: the context before it is already out.
            existing.drain(..before.min(existing.len()));
            if settings.mix_existing {
                mix_into(&mut samples, first, window_start, &existing);
            }
            output.last_existing = Some((window_start, existing));
        }
        let r = self.emit(output, prepared, first, samples, epochs);
        if let (Some(track), Some(e), Some(base_index)) = (track, track_epoch, output.base_index) {
            // A streaming package hears its context again with the next hop.
            let next = (base_index + output.assembler.emitted()).saturating_sub(before as u64);
            track.release_before_in(next, e);
        }
        r
    }

    /// The existing soundtrack's samples `from..from + len`. Live, what has arrived within a hop
    /// (silence for the rest). Otherwise they are waited for; but before the timeline's first
    /// output, a track that delivers nothing for [`EXISTING_STALL_WARN`] gets a warning and
    /// for [`EXISTING_STALL_ERROR`] an error, both naming the usual cause: the existing
    /// soundtrack comes through a `tee` whose other branch ends in a clock-synced sink behind a
    /// default-sized queue, which fills while that sink waits for preroll and blocks the tee, and
    /// this element cannot preroll its own sinks before it has a window.
    #[allow(clippy::too_many_arguments)]
    fn wait_existing(
        &self,
        track: &ExistingTrack,
        from: u64,
        len: usize,
        before_first_output: bool,
        prepared: &Prepared,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<f32>, gst::FlowError> {
        if self.is_live() {
            let hop = Duration::from_nanos(prepared.samples_ns(prepared.layout.hop() as u64));
            return match track.window(from, len, Some(Instant::now() + hop), None, cancelled) {
                Wait::Samples(s) => Ok(s),
                _ => Err(gst::FlowError::Flushing),
            };
        }
        let latency = Duration::from_nanos(prepared.latency().nseconds());
        let mut stall = before_first_output.then_some(latency * EXISTING_STALL_WARN);
        let mut warned = false;
        loop {
            match track.window(from, len, None, stall, cancelled) {
                Wait::Samples(s) => return Ok(s),
                Wait::Cancelled => return Err(gst::FlowError::Flushing),
                Wait::Stalled { have } => {
                    let need =
                        gst::ClockTime::from_nseconds(prepared.samples_ns(from + len as u64));
                    let have = have.map_or_else(
                        || "nothing yet".to_string(),
                        |h| {
                            format!(
                                "up to {}",
                                gst::ClockTime::from_nseconds(prepared.samples_ns(h))
                            )
                        },
                    );
                    let fix = format!(
                        "if audio_sink is fed from a tee whose other branch ends in a synced sink, that branch's queue blocks the tee during preroll: give it max-size-time=0 max-size-buffers=0 max-size-bytes=0 (or a max-size-time of at least {})",
                        prepared.latency()
                    );
                    let silent = latency
                        * if warned {
                            EXISTING_STALL_ERROR
                        } else {
                            EXISTING_STALL_WARN
                        };
                    if !warned {
                        gst::element_imp_warning!(
                            self,
                            gst::StreamError::Failed,
                            ["audio_sink: no existing soundtrack for {:.1} s; the first window needs it up to running time {need} ({have}); {fix}", silent.as_secs_f64()]
                        );
                        warned = true;
                        stall = Some(latency * (EXISTING_STALL_ERROR - EXISTING_STALL_WARN));
                        continue;
                    }
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Failed,
                        ["audio_sink: no existing soundtrack for {:.1} s, so the first window cannot be generated (it needs running time up to {need}, {have}); {fix}", silent.as_secs_f64()]
                    );
                    return Err(gst::FlowError::Error);
                }
            }
        }
    }

    fn post_window_stats(
        &self,
        index: u64,
        duration_ns: u64,
        steps: usize,
        stats: &GenerationStats,
    ) {
        let inference = stats.inference;
        let rtf = inference.as_secs_f64() / (duration_ns as f64 / 1e9);
        let s = gst::Structure::builder("v2agen/window")
            .field("window", index)
            .field("duration", gst::ClockTime::from_nseconds(duration_ns))
            .field("steps", steps as u32)
            .field("batched-steps", stats.batched_steps as u32)
            .field("inference-ms", inference.as_secs_f64() * 1e3)
            .field("real-time-factor", rtf)
            .build();
        post_stats(self.obj().upcast_ref(), *CAT, s);
    }
}

/// Back to the start of a timeline (held video is kept: it belongs to the stream).
fn restart(output: &mut Output, prepared: &Prepared) {
    output.assembler = WindowAssembler::new(prepared.layout);
    output.base = None;
    output.base_index = None;
    output.last_existing = None;
    output.discont = true;
}

/// Adds the existing soundtrack (its samples from timeline sample `existing_start` on) to
/// `samples` (from timeline sample `first` on).
fn mix_into(samples: &mut [f32], first: u64, existing_start: u64, existing: &[f32]) {
    for (i, s) in samples.iter_mut().enumerate() {
        let at = (first + i as u64).checked_sub(existing_start);
        if let Some(v) = at.and_then(|a| existing.get(a as usize)) {
            *s += v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mixing_lines_up_by_sample_index() {
        let mut s = vec![1.0; 4];
        super::mix_into(&mut s, 10, 8, &[0.0, 0.0, 0.5, 0.25, 2.0]);
        assert_eq!(s, vec![1.5, 1.25, 3.0, 1.0]);
    }

    #[test]
    fn buffers_are_a_video_frame_long() {
        assert_eq!(super::buffer_samples(16_000), 640);
        assert_eq!(super::buffer_samples(44_100), 1764);
    }
}
