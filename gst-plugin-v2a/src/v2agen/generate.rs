//! v2agen's generator thread and src pad tasks: windows are generated in stream order, their
//! samples timestamped from the count of samples emitted, and the held video released up to the
//! soundtrack's end, so that `src` and `audio_src` advance together.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diffusion_runtime::sampler::Guidance;
use diffusion_runtime::v2a::{WindowAssembler, WindowInputs};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_generative_common::pads::post_stats;
use gst_generative_common::queue::{Out, Popped};

use super::frames::Frame;
use super::imp::{lock, Output, Prepared, V2aGen, CAT};
use super::work::Item;

/// Samples per audio buffer: 40 ms, a video frame at 25 fps.
fn buffer_samples(rate: u32) -> usize {
    (rate as usize / 25).max(1)
}

impl V2aGen {
    pub(super) fn start_generator(&self) {
        let mut thread = lock(&self.generator_thread);
        if thread.is_some() {
            return;
        }
        self.stopping.store(false, Ordering::SeqCst);
        let element = self.obj().downgrade();
        *thread = Some(std::thread::spawn(move || loop {
            let Some(element) = element.upgrade() else {
                break;
            };
            let imp = element.imp();
            if imp.stopping.load(Ordering::SeqCst) {
                break;
            }
            imp.generator_step();
        }));
    }

    pub(super) fn stop_generator(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.work.stop();
        self.video_out.stop();
        self.audio_out.stop();
        if let Some(thread) = lock(&self.generator_thread).take() {
            let _ = thread.join();
        }
    }

    /// Starts the task pushing `src` (or `audio_src`).
    pub(super) fn start_task(&self, is_audio: bool) -> bool {
        let pad = if is_audio {
            &self.audio_srcpad
        } else {
            &self.srcpad
        };
        if !pad.is_active() || self.stopping.load(Ordering::SeqCst) {
            return true; // deactivated (or going to be): nothing to push
        }
        let element = self.obj().downgrade();
        pad.start_task(move || {
            if let Some(element) = element.upgrade() {
                element.imp().push_loop(is_audio);
            }
        })
        .is_ok()
    }

    pub(super) fn start_tasks(&self) -> bool {
        // `&`, not `&&`: the audio task starts even if the video one could not.
        self.start_task(false) & self.start_task(true)
    }

    /// One turn of a src pad task: push the next buffer or event downstream.
    fn push_loop(&self, is_audio: bool) {
        let (pad, queue) = if is_audio {
            (&self.audio_srcpad, &self.audio_out)
        } else {
            (&self.srcpad, &self.video_out)
        };
        let out = match queue.pop(Duration::from_millis(100)) {
            Popped::Item(out, _) => out,
            Popped::Timeout => return,
            Popped::Flushing => {
                let _ = pad.pause_task();
                return;
            }
        };
        let is_buffer = matches!(out, Out::Buffer(_));
        let result = match out {
            Out::Event(event) => {
                // A refused event is downstream's business (it posts its own error); refused
                // caps show as not-negotiated at the next buffer.
                if !pad.push_event(event) {
                    gst::debug!(CAT, obj = pad, "downstream refused a serialized event");
                }
                Ok(gst::FlowSuccess::Ok)
            }
            Out::Buffer(buffer) => pad.push(buffer),
        };
        let i = usize::from(is_audio);
        match result {
            Ok(_) if is_buffer => self.not_linked[i].store(false, Ordering::Relaxed),
            Ok(_) => {}
            // An unlinked pad, or one whose downstream is done (EOS), drops its output while the
            // other one flows (as a demuxer does); upstream hears it only when both are.
            Err(err @ (gst::FlowError::NotLinked | gst::FlowError::Eos)) => {
                if !self.not_linked[i].swap(true, Ordering::Relaxed) {
                    gst::debug!(CAT, obj = pad, "{err:?}: dropping its output");
                }
                if self.not_linked[1 - i].load(Ordering::Relaxed) {
                    self.work.set_flow(Err(err));
                }
            }
            Err(err) => {
                if err == gst::FlowError::NotNegotiated {
                    let caps = pad
                        .sticky_event::<gst::event::Caps>(0)
                        .map(|c| c.caps_owned().to_string())
                        .unwrap_or_else(|| "any caps".into());
                    let hint = if is_audio {
                        "; insert audioconvert ! audioresample after it"
                    } else {
                        "; insert videoconvert after it"
                    };
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ["downstream of {} refuses {caps}{hint}", pad.name()]
                    );
                } else if err != gst::FlowError::Flushing {
                    gst::debug!(CAT, obj = pad, "pausing task: {err:?}");
                    if err != gst::FlowError::Eos {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Failed,
                            ["streaming stopped, reason {err:?}"]
                        );
                    }
                }
                // Upstream learns it at its next buffer; the generator stops feeding this pad.
                self.work.set_flow(Err(err));
                queue.set_flow(Err(err));
                let _ = pad.pause_task();
            }
        }
    }

    /// One turn of the generator thread.
    fn generator_step(&self) {
        let (item, epoch) = match self.work.pop(Duration::from_millis(100)) {
            Popped::Item(item, epoch) => (item, epoch),
            Popped::Timeout => return,
            Popped::Flushing => {
                self.work.wait_started(Duration::from_millis(100));
                return;
            }
        };
        let Some(prepared) = self.prepared() else {
            return;
        };
        let epochs = (self.video_out.epoch(), self.audio_out.epoch());
        if !self.work.is_current(epoch) {
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
                if let Some(track) = lock(&self.existing).clone() {
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
                frames,
                limit,
            } => self.generate(output, &prepared, index, &frames, limit, epoch, epochs),
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
                self.work.set_flow(Err(err));
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
            self.audio_out.push_in(Out::Event(e), Some(audio_epoch))?;
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

    /// Sends held video on `src` up to (not including) frames starting at `end` ns.
    fn release(
        &self,
        output: &mut Output,
        end: u64,
        epoch: u64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        while let Some(front) = output.held.front() {
            if let Out::Buffer(b) = front {
                if b.pts().is_some_and(|p| p.nseconds() >= end) {
                    break;
                }
            }
            let out = output.held.pop_front().expect("front exists");
            self.video_out.push_in(out, Some(epoch))?;
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
            self.audio_out
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
        frames: &[Vec<(u64, Frame)>],
        limit: u64,
        epoch: u64,
        epochs: (u64, u64),
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let layout = prepared.layout;
        let window_start = layout.window_start(index);
        let cancelled = || !self.work.is_current(epoch) || self.stopping.load(Ordering::SeqCst);

        // The existing soundtrack over this window: waited for (live: within the budget).
        let track = self.existing_track();
        let track_epoch = track.as_ref().map(|t| t.epoch());
        let existing = match (&track, output.base_index) {
            (Some(track), Some(base_index)) => {
                let deadline = self.live.load(Ordering::Relaxed).then(|| {
                    Instant::now() + Duration::from_nanos(prepared.samples_ns(layout.hop() as u64))
                });
                match track.window(
                    base_index + window_start,
                    layout.window,
                    deadline,
                    cancelled,
                ) {
                    Some(samples) => Some(samples),
                    None => return Err(gst::FlowError::Flushing),
                }
            }
            _ => None,
        };

        let mut video = Vec::with_capacity(frames.len());
        for (e, picked) in frames.iter().enumerate() {
            let name = output.converter.encoders()[e].name.clone();
            let tensor = output.converter.tensor(e, picked).map_err(|err| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Decode,
                    ["window {index}: preparing frames for video encoder {name:?}: {err}"]
                );
                gst::FlowError::Error
            })?;
            video.push((name, tensor));
        }
        let defaults = output.generator.package().package.sampler.clone();
        let steps = if settings.steps > 0 {
            settings.steps as usize
        } else {
            defaults.steps as usize
        };
        let guidance = Guidance {
            scale: if settings.guidance_scale >= 0.0 {
                settings.guidance_scale as f32
            } else {
                defaults.guidance_scale
            },
            negative_audio_scale: if settings.negative_audio_scale >= 0.0 {
                settings.negative_audio_scale as f32
            } else {
                defaults.negative_audio_scale
            },
        };
        output.generator.set_seed(settings.seed);
        let inputs = WindowInputs {
            video,
            existing_audio: existing.as_deref(),
            prompt: &settings.prompt,
            negative_prompt: &settings.negative_prompt,
        };
        let (wave, stats) = match output.generator.generate(&inputs, steps, guidance) {
            Ok(r) => r,
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
        self.post_window_stats(index, hop_ns, steps, stats.inference);

        let first = output.assembler.emitted();
        let mut samples = output.assembler.push(&wave, limit);
        if let Some(existing) = existing {
            if settings.mix_existing {
                mix_into(&mut samples, first, window_start, &existing);
            }
            output.last_existing = Some((window_start, existing));
        }
        let r = self.emit(output, prepared, first, samples, epochs);
        if let (Some(track), Some(e), Some(base_index)) = (track, track_epoch, output.base_index) {
            track.release_before_in(base_index + output.assembler.emitted(), e);
        }
        r
    }

    fn post_window_stats(&self, index: u64, duration_ns: u64, steps: usize, inference: Duration) {
        let rtf = inference.as_secs_f64() / (duration_ns as f64 / 1e9);
        let s = gst::Structure::builder("v2agen/window")
            .field("window", index)
            .field("duration", gst::ClockTime::from_nseconds(duration_ns))
            .field("steps", steps as u32)
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
