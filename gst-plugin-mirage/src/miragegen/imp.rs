//! # miragegen
//!
//! Speech audio in, a synchronized video of a talking presenter out. The element runs an
//! audio-to-video model package (see `models/README.md`): an `audio_encoder` graph turns each
//! chunk's audio window into per-frame features, a `denoiser` graph is sampled in steps (DDIM or
//! flow matching) over the chunk's motion, conditioned on the audio and on the tail of the
//! previous chunk's motion (so that chunks join without a jump), and a `decoder` graph renders
//! the frames from the motion and the reference portrait (`avatar`).
//!
//! ## Time
//!
//! Output frame *n* covers `[base + n·T, base + (n+1)·T)`, `T = 1/fps`, where `base` is the
//! timestamp of the first audio sample after a segment or flush and *n* is computed from the
//! counted input samples with exact integer arithmetic. A timestamp jump forward of up to 30 s
//! (DISCONT or a GAP event) is filled with silence, so silence and gaps give idle frames, never
//! missing ones; overlapping audio is dropped; a jump of more than 30 s, either way, finishes the
//! timeline and starts a new one there (from rest, with a DISCONT). Timestamps from 2⁶² ns on are
//! an error (no clock can play them). At EOS the remaining audio is generated (the last chunk
//! padded with silence internally): `N` seconds of audio give exactly `ceil(N·fps)` frames.
//!
//! ## Latency
//!
//! A chunk of `C` frames can only be generated once the audio of the chunk and of the
//! `lookahead` frames after it has arrived, and its generation takes up to one chunk of real
//! time, so the latency added is
//!
//! ```text
//! latency = (C + lookahead)·T + C·T   (algorithmic + processing budget)
//! ```
//!
//! (0.48 s for the bundled presenter package: C = 5, lookahead = 2, 25 fps). A latency message
//! is posted when the caps (and so the latency) are set.
//!
//! ## Threads
//!
//! The sink pad's streaming thread counts samples and cuts chunk windows; a generator thread
//! (`<name>-gen`, fed through a queue of at most two chunks: back-pressure on upstream) runs the
//! model; the src pad's task pushes the frames, so a clock-synced sink never delays the next
//! generation. A flush returns at once: it cancels pending chunks, the one being generated is
//! dropped when it finishes, and the motion goes back to rest.
//!
//! ## Live
//!
//! In a live pipeline, when audio stops arriving for longer than a chunk (plus the upstream
//! latency), the element fills the missing time with silence from the clock, so the presenter
//! keeps idling in real time instead of freezing; real audio takes over again when it resumes.
//!
//! With `adaptive-steps=true`, when a chunk takes longer than its duration the steps are lowered
//! (down to `min-steps`) with a warning, and raised again when a chunk takes less than half its
//! duration. A `miragegen/chunk` element message per chunk carries `chunk`, `frames`, `steps`,
//! `inference-ms` and `real-time-factor`; `batched-steps` counts the steps that ran in one batch
//! with another instance's (`batch-window-us`).
//!
//! ## Model and ONNX Runtime
//!
//! `model` names a package directory; empty means the bundled presenter package
//! (`models/presenter`: 512×512 at 25 fps, avatars `astronaut` and `grace-hopper`). ONNX Runtime
//! is loaded when the element goes to READY (never at plugin load, so `gst-inspect-1.0` works
//! without it), from `ort-library`, else `ORT_DYLIB_PATH`, else the copy `scripts/setup.sh`
//! installs, else the system loader.
//! `execution-provider=auto` tries TensorRT, then CUDA, then CPU and logs which one each graph
//! got (`GST_DEBUG=miragegen:4`); an explicit provider that is unavailable is an error.
//!
//! Caps: `sink` takes `audio/x-raw` F32LE or S16LE at the package's rate and channel count
//! (insert `audioconvert ! audioresample` before it); `src` produces `video/x-raw` RGB or RGBA at
//! the package's size and frame rate.
//!
//! ## Example
//!
//! ```text
//! gst-launch-1.0 espeak text="Good evening." ! audioconvert ! audioresample ! \
//!     miragegen avatar=grace-hopper ! videoconvert ! autovideosink
//! ```
//!
//! ## Tested
//!
//! Debian 12, GStreamer 1.22, ONNX Runtime 1.31.1 (CPU), x86-64 with 2 cores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use diffusion_runtime::a2v::{
    A2vGenerator, ChunkLayout, ChunkOutput, ChunkScheduler, StepChange, StepController,
};
use diffusion_runtime::denoiser::GenerationStats;
use diffusion_runtime::package::{LoadedPackage, Task};
use diffusion_runtime::time::Rate;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_generative_common::audio::to_mono;
use gst_generative_common::latency;
use gst_generative_common::outage::Outage;
use gst_generative_common::pads::{filtered_caps, post_stats};
use gst_generative_common::queue::{Out, Popped};
use gst_generative_common::streaming::Streaming;
use gst_generative_common::timeline::{self, Step, MAX_FILL};
use gst_generative_common::{
    load_at_ready, model_properties, BundledModel, EngineReports, ModelSettings,
};
use once_cell::sync::Lazy;

use super::queue::Item;
use super::ExecutionProvider;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "miragegen",
        gst::DebugColorFlags::empty(),
        Some("Speech audio to talking-presenter video"),
    )
});

const MODEL_BLURB: &str = "Directory of an audio-to-video model package (model.toml + graphs). Empty = the bundled presenter package (models/presenter, installed by setup or meson). Loaded at READY; changes apply after the next NULL->READY";
/// The element description `gst-inspect-1.0 miragegen` prints: enough to use the element.
const MANUAL: &str = "Generates a synchronized video of a talking presenter (src: RGB or RGBA at the model's size and frame rate) from speech audio (sink: F32LE or S16LE at the model's rate; insert audioconvert ! audioresample), with an ONNX diffusion model that animates a portrait (avatar). Frame n covers [base + n/fps, base + (n+1)/fps) from counted samples; silence, gaps and live stalls give idle frames; a timestamp jump of more than 30 s starts a new timeline. \
Latency = (2 chunks + lookahead) / fps (0.48 s with the bundled presenter package): reported in the latency query. \
Model: the model property names a package directory (model.toml + ONNX graphs, see models/README.md); empty = the bundled presenter package (avatars astronaut, grace-hopper). ONNX Runtime is loaded at READY from ort-library, ORT_DYLIB_PATH, the copy scripts/setup.sh installs, or the system. \
Example: gst-launch-1.0 espeak text=\"Good evening.\" ! audioconvert ! audioresample ! miragegen avatar=grace-hopper ! videoconvert ! autovideosink";

/// The package used when `model` is not set.
const BUNDLED: BundledModel = BundledModel {
    name: "presenter",
    task: Task::AudioToVideo,
    missing_hint: "set the model property to an audio-to-video package directory (for example models/fixtures/presenter); the bundled presenter package (models/presenter) is not installed: run scripts/setup.sh or install with meson",
};
/// Chunks waiting for generation at most: enough to keep the generator busy, small enough to
/// bound memory and latency.
const QUEUE_CHUNKS: usize = 2;
/// Generated frames waiting to be pushed at most (about a chunk): the generator works on the
/// next chunk while a clock-synced sink takes these.
const QUEUE_FRAMES: usize = 16;

/// Property values. `steps == 0` and a negative `guidance_scale` mean "the package's default".
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    model: ModelSettings,
    avatar: Option<String>,
    steps: u32,
    guidance_scale: f64,
    seed: u64,
    adaptive_steps: bool,
    min_steps: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::default(),
            avatar: None,
            steps: 0,
            guidance_scale: -1.0,
            seed: 0,
            adaptive_steps: false,
            min_steps: 2,
        }
    }
}

/// Sink-side stream state (streaming thread).
struct Input {
    scheduler: ChunkScheduler,
    audio: Option<gst_audio::AudioInfo>,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// Timestamp of sample 0 of the current timeline.
    base: Option<gst::ClockTime>,
    /// EOS was drained: nothing more until a flush or a new stream (and no idling).
    eos: bool,
}

/// Generator-side state (the generator thread).
struct Output {
    generator: A2vGenerator,
    video: Option<gst_video::VideoInfo>,
    /// Steps in use now (lowered by adaptive-steps).
    steps: Option<StepController>,
    discont: bool,
    /// Work-queue epoch this state belongs to: the first item of a newer one (after a flush)
    /// starts from rest.
    epoch: Option<u64>,
    engines: EngineReports,
    /// The last frame rendered, held on screen through an inference-server outage (live).
    last_frame: Option<Vec<u8>>,
    /// An inference-server outage under way (live): warned once, said when it ends.
    outage: Outage,
}

/// What the element holds between state changes, read and replaced briefly by every thread.
#[derive(Default)]
struct State {
    /// Loaded at NULL→READY, dropped at READY→NULL.
    model: Option<LoadedPackage>,
    /// Fixed once the model is prepared; read by queries without waiting for a generation.
    layout: Option<ChunkLayout>,
    /// Upstream latency (from the latency query), for the stall threshold.
    upstream_latency: gst::ClockTime,
}

/// Four locks, in this order (a thread holding one takes only those after it): `input` (the
/// sink pad's streaming thread; the generator only try-locks it, to idle) → `output` (the
/// generator thread) → `settings` and `state` (leaves: copied or replaced and released at once;
/// no message is posted and no pad is called while they are held) → the queues' and the
/// combiner's own locks. Nothing a flush takes is held across a model run: the generator holds
/// `output`, which no streaming thread takes.
pub struct MirageGen {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    input: Mutex<Option<Input>>,
    output: Mutex<Option<Output>>,
    /// Chunks for the generator thread (from the sink's streaming thread), the generator thread,
    /// and `src` with its queue of frames and events and its task.
    streaming: Streaming<Item>,
    /// Upstream is live (from the latency query): stalls are filled with idle frames.
    live: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MirageGen {
    fn layout(&self) -> Option<ChunkLayout> {
        lock(&self.state).layout
    }

    /// The caps the model takes on `sink`.
    fn sink_caps(&self) -> gst::Caps {
        match lock(&self.state).model.as_ref() {
            Some(m) => gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
                .rate(m.package.audio.rate as i32)
                .channels(m.package.audio.channels as i32)
                .build(),
            None => self.sinkpad.pad_template_caps(),
        }
    }

    /// The caps the model produces on `src`.
    fn src_caps(&self) -> gst::Caps {
        match lock(&self.state)
            .model
            .as_ref()
            .and_then(|m| m.package.video)
        {
            Some(v) => gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Rgba])
                .width(v.width as i32)
                .height(v.height as i32)
                .framerate(gst::Fraction::new(v.fps.num as i32, v.fps.den as i32))
                .build(),
            None => self.srcpad.pad_template_caps(),
        }
    }

    /// Algorithmic latency (chunk + lookahead) plus the processing budget (one chunk).
    fn latency(&self) -> Option<gst::ClockTime> {
        let l = self.layout()?;
        Some(gst::ClockTime::from_nseconds(
            l.frames_ns(2 * l.chunk + l.lookahead),
        ))
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.streaming.work.flow()?;
        self.streaming.outlets.check_linked()?;
        let mut guard = lock(&self.input);
        let input = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = input.audio.clone().ok_or_else(|| {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["buffer before caps"]);
            gst::FlowError::NotNegotiated
        })?;
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::ResourceError::Read, ["cannot map audio buffer"]);
            gst::FlowError::Error
        })?;
        let mut mono = to_mono(&info, map.as_slice());
        drop(map);
        let rate = u64::from(info.rate());

        // Place the buffer on the timeline of counted samples.
        let pts = buffer.pts();
        if input.base.is_none() {
            let start = input.segment.as_ref().and_then(|s| s.start());
            input.base = pts.or(start).or(Some(gst::ClockTime::ZERO));
        }
        if let Some(pts) = pts {
            let end = pts.saturating_add(gst::ClockTime::from_nseconds(
                Rate::per_second(rate).ns_at(mono.len() as u64),
            ));
            if let Err(e) = timeline::check_timestamp("audio timestamp", end) {
                gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
                return Err(gst::FlowError::Error);
            }
            if let Some(overlap) = self.place(input, rate, pts)? {
                gst::debug!(
                    CAT,
                    imp = self,
                    "audio overlaps the previous buffer: dropping {overlap} samples"
                );
                mono.drain(..(overlap as usize).min(mono.len()));
            }
        }
        input.scheduler.push(&mono);
        self.schedule_ready(input)
    }

    /// Places input that starts at `at` on the timeline (the shared time rules): a hole is filled
    /// with silence, so that the presenter idles instead of frames going missing; a jump of
    /// more than `MAX_FILL` is a new timeline instead (what was there is finished and generation
    /// restarts from rest at `at`, rather than rendering, and holding in memory, minutes of
    /// silence). Returns the samples of the input to drop when it overlaps what was counted.
    fn place(
        &self,
        input: &mut Input,
        rate: u64,
        at: gst::ClockTime,
    ) -> Result<Option<u64>, gst::FlowError> {
        let counter = Rate::per_second(rate);
        match timeline::step(expected_end(input, rate), at) {
            Step::InPlace => Ok(None),
            Step::Overlap(overlap) => Ok(Some(counter.items_within_ns(overlap.nseconds()))),
            Step::Hole(hole) => {
                let n = counter.items_within_ns(hole.nseconds());
                gst::debug!(
                    CAT,
                    imp = self,
                    "timestamp jump of {hole}: {n} samples of silence"
                );
                input.scheduler.push_silence(n);
                Ok(None)
            }
            Step::Jump => {
                gst::info!(
                    CAT,
                    imp = self,
                    "timestamp jump from {} to {at}: starting a new timeline",
                    expected_end(input, rate)
                );
                self.drain(input)?;
                input.scheduler = ChunkScheduler::new(*input.scheduler.layout());
                input.base = Some(at);
                self.streaming.work.push(Item::Reset)?;
                Ok(None)
            }
        }
    }

    /// Queues every chunk whose audio is complete.
    fn schedule_ready(&self, input: &mut Input) -> Result<gst::FlowSuccess, gst::FlowError> {
        let base = input.base.unwrap_or(gst::ClockTime::ZERO);
        while let Some(chunk) = input.scheduler.ready() {
            gst::log!(CAT, imp = self, "chunk {} ready", chunk.index);
            self.streaming.work.push(Item::Chunk { chunk, base })?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// At EOS or before a new segment: generate what remains.
    fn drain(&self, input: &mut Input) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.schedule_ready(input)?;
        let base = input.base.unwrap_or(gst::ClockTime::ZERO);
        while let Some(chunk) = input.scheduler.finish() {
            self.streaming.work.push(Item::Chunk { chunk, base })?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "handling event {event:?}");
        match event.view() {
            EventView::FlushStart(_) => {
                self.streaming.work.set_flushing();
                self.streaming.outlets.flush_start(&event)
            }
            EventView::FlushStop(_) => {
                if let Some(input) = lock(&self.input).as_mut() {
                    input.scheduler = ChunkScheduler::new(*input.scheduler.layout());
                    input.base = None;
                    input.eos = false;
                    // The flush removed the segment downstream: the next one (even an equal one,
                    // from the same seek again) must go out.
                    input.segment = None;
                }
                // The generator goes back to rest at its first item of the new epoch (never
                // waited for here: it may be in the middle of a chunk). Outputs first: the
                // generator wakes with `work.start()` and may push at once.
                let ok = self.streaming.outlets.flush_stop(&event);
                self.streaming.work.start();
                ok
            }
            EventView::Caps(c) => self.set_caps(c.caps()),
            EventView::StreamStart(_) => {
                // A new stream after EOS (gapless, concat).
                if let Some(input) = lock(&self.input).as_mut() {
                    input.eos = false;
                }
                self.streaming.work.push(Item::Event(event)).is_ok()
            }
            EventView::Segment(s) => {
                let Ok(segment) = s
                    .segment()
                    .clone()
                    .downcast::<gst::ClockTime>()
                    .map_err(|_| ())
                    .and_then(|seg| if seg.rate() > 0.0 { Ok(seg) } else { Err(()) })
                else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["miragegen needs a TIME segment with a positive rate (reverse playback is not supported)"]
                    );
                    return false;
                };
                let mut guard = lock(&self.input);
                let Some(input) = guard.as_mut() else {
                    return false;
                };
                if input.segment.as_ref() == Some(&segment) {
                    // The same segment again (e.g. re-sent after a reconfigure): same timeline.
                    return true;
                }
                if input.scheduler.received() > 0 {
                    // A new timeline: finish the old one, then start over from rest.
                    if self.drain(input).is_err() {
                        return false;
                    }
                    input.scheduler = ChunkScheduler::new(*input.scheduler.layout());
                    input.base = None;
                    if self.streaming.work.push(Item::Reset).is_err() {
                        return false;
                    }
                }
                // The new timeline's base comes from its first buffer (or gap).
                input.base = None;
                input.segment = Some(segment);
                drop(guard);
                self.streaming.work.push(Item::Event(event)).is_ok()
            }
            EventView::Gap(g) => {
                let (ts, duration) = g.get();
                let mut guard = lock(&self.input);
                let Some(input) = guard.as_mut() else {
                    return false;
                };
                let Some(rate) = input.audio.as_ref().map(|a| u64::from(a.rate())) else {
                    return true;
                };
                if input.base.is_none() {
                    input.base = Some(ts);
                }
                // Silence up to the end of the gap (at most MAX_FILL): idle frames, never
                // missing ones.
                let duration = duration.unwrap_or(gst::ClockTime::ZERO).min(MAX_FILL);
                let end = ts.saturating_add(duration);
                if let Err(e) = timeline::check_timestamp("gap", end) {
                    gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
                    return false;
                }
                if self.place(input, rate, ts).is_err() {
                    return false;
                }
                // Measured from where the counted samples end after placing `ts` (within jitter
                // of it), so that a 30 s gap is a 30 s hole, never a jump.
                let end = end.min(expected_end(input, rate).saturating_add(MAX_FILL));
                if self.place(input, rate, end).is_err() {
                    return false;
                }
                self.schedule_ready(input).is_ok()
            }
            EventView::Eos(_) => {
                let mut guard = lock(&self.input);
                if let Some(input) = guard.as_mut() {
                    if self.drain(input).is_err() {
                        return false;
                    }
                    input.eos = true;
                }
                drop(guard);
                self.streaming.work.push(Item::Event(event)).is_ok()
            }
            _ if event.is_serialized() && event.type_() != gst::EventType::Caps => {
                self.streaming.work.push(Item::Event(event)).is_ok()
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    /// Checks the input caps against the model and negotiates the output caps.
    fn set_caps(&self, caps: &gst::CapsRef) -> bool {
        let wanted = self.sink_caps();
        let info = match gst_audio::AudioInfo::from_caps(caps) {
            Ok(info) if caps.can_intersect(&wanted) => info,
            _ => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ["miragegen cannot take {caps}: the model needs {wanted}; insert audioconvert ! audioresample before miragegen"]
                );
                return false;
            }
        };
        if let Some(input) = lock(&self.input).as_mut() {
            input.audio = Some(info);
        }
        let ours = self.src_caps();
        let peer = self.srcpad.peer_query_caps(Some(&ours));
        let Some(out) = Some(peer.intersect(&ours)).filter(|c| !c.is_empty()) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["downstream accepts none of {ours}"]
            );
            return false;
        };
        let mut out = out;
        out.fixate();
        if gst_video::VideoInfo::from_caps(&out).is_err() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["cannot use output caps {out}"]
            );
            return false;
        }
        // The output format switches when the generator reaches this caps event, so chunks
        // queued under the old caps are still rendered in the old format.
        gst::debug!(CAT, imp = self, "input {caps}, output {out}");
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        self.streaming
            .work
            .push(Item::Event(gst::event::Caps::new(&out)))
            .is_ok()
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        gst::log!(CAT, obj = pad, "handling query {query:?}");
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                let Some(upstream) = latency::query_upstream(&self.sinkpad, &[]) else {
                    return false;
                };
                self.live.store(upstream.live, Ordering::Relaxed);
                lock(&self.state).upstream_latency = upstream.min;
                let ours = self.latency().unwrap_or(gst::ClockTime::ZERO);
                latency::answer(q, upstream, ours);
                gst::debug!(
                    CAT,
                    imp = self,
                    "latency: upstream {}, ours {ours}",
                    upstream.min
                );
                true
            }
            QueryViewMut::Caps(q) => {
                let caps = filtered_caps(&self.src_caps(), q.filter());
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        gst::log!(CAT, obj = pad, "handling query {query:?}");
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                let ours = self.sink_caps();
                let caps = filtered_caps(&ours, q.filter());
                if caps.is_empty() {
                    gst::warning!(
                        CAT,
                        obj = pad,
                        "upstream offers {:?}, the model needs {ours}: insert audioconvert ! audioresample before miragegen",
                        q.filter()
                    );
                }
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// One turn of the generator thread: generate a chunk, pass an event on, or (live, nothing
    /// arriving) idle.
    fn generator_step(&self) {
        let wait = self.layout().map_or(Duration::from_millis(100), |l| {
            Duration::from_nanos(l.frames_ns(l.chunk))
        });
        let (item, epoch) = match self.streaming.work.pop(wait) {
            Popped::Item(item, epoch) => (item, epoch),
            Popped::Timeout => return self.idle_tick(),
            Popped::Flushing => {
                self.streaming.work.wait_started(Duration::from_millis(100));
                return;
            }
        };
        if let Some(output) = lock(&self.output).as_mut() {
            if output.epoch != Some(epoch) {
                // First item after a flush (or the start): from rest, with a DISCONT.
                output.generator.reset(lock(&self.settings).seed);
                output.discont = true;
                output.epoch = Some(epoch);
            }
        }
        match item {
            Item::Event(event) => {
                if let gst::EventView::Caps(c) = event.view() {
                    match gst_video::VideoInfo::from_caps(c.caps()) {
                        Ok(video) => {
                            if let Some(output) = lock(&self.output).as_mut() {
                                output.video = Some(video);
                            }
                        }
                        Err(_) => {
                            gst::warning!(CAT, imp = self, "unusable output caps {:?}", c.caps())
                        }
                    }
                }
                let _ = self.streaming.outlets.get(0).queue.push(Out::Event(event));
            }
            Item::Reset => {
                // A new timeline: from rest, its first frame marked DISCONT (frame numbers, and
                // so offsets, start over).
                if let Some(output) = lock(&self.output).as_mut() {
                    output.generator.reset(lock(&self.settings).seed);
                    output.discont = true;
                }
            }
            Item::Chunk { chunk, base } => {
                if let Err(err) = self.generate(chunk, base, epoch) {
                    if err != gst::FlowError::Flushing {
                        self.streaming.work.set_flow(Err(err));
                    }
                }
            }
        }
    }

    /// Generates a chunk and queues its frames for the src pad task.
    fn generate(
        &self,
        chunk: diffusion_runtime::a2v::ScheduledChunk,
        base: gst::ClockTime,
        epoch: u64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let live = self.live.load(Ordering::Relaxed);
        let out_epoch = self.streaming.outlets.get(0).queue.epoch();
        let mut guard = lock(&self.output);
        let output = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let video = output.video.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let defaults = &output.generator.package().package.sampler;
        let target = defaults.steps_or_default(settings.steps);
        let mut guidance = defaults.guidance_or_default(settings.guidance_scale, 0.0);
        // No existing-audio branch in audio-to-video.
        guidance.negative_audio_scale = 0.0;
        let steps = output
            .steps
            .map_or(target, |c| c.current)
            .clamp(1, target.max(1));
        output.generator.set_seed(settings.seed);
        let generated = output.generator.generate(&chunk.window, steps, guidance);
        output
            .engines
            .post_new(self.obj().upcast_ref(), *CAT, output.generator.package());
        let layout = *output.generator.layout();
        let (width, height) = (output.generator.width, output.generator.height);
        let frame_bytes = width * height * 3;
        let element = self.obj();
        let out = match generated {
            Ok(out) => {
                output.outage.answered(
                    element.upcast_ref(),
                    *CAT,
                    &format!("chunk {} rendered", chunk.index),
                );
                if out.rgb.len() >= frame_bytes {
                    output.last_frame = Some(out.rgb[out.rgb.len() - frame_bytes..].to_vec());
                }
                out
            }
            // Live: an inference server that is down (or restarting) holds the last frame on
            // screen at the clock's pace, and each chunk tries the server again.
            Err(e) if live && e.is_server_outage() => {
                output.outage.failed(
                    element.upcast_ref(),
                    &e,
                    "holding the last frame until the server answers again",
                );
                let frame = output
                    .last_frame
                    .clone()
                    .unwrap_or_else(|| output.generator.portrait_rgb());
                ChunkOutput {
                    rgb: frame.repeat(layout.chunk as usize),
                    stats: Default::default(),
                }
            }
            Err(e) => {
                drop(guard);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ["generating chunk {}: {e}", chunk.index]
                );
                return Err(gst::FlowError::Error);
            }
        };
        let chunk_ns = layout.frames_ns(layout.chunk);
        let rtf = out.stats.inference.as_secs_f64() / (chunk_ns as f64 / 1e9);
        let previous = output.steps;
        output.steps = (settings.adaptive_steps && live).then(|| {
            let mut c = previous.unwrap_or(StepController { current: steps });
            c.current = steps;
            c
        });
        let change = output.steps.as_mut().map_or(StepChange::Kept, |c| {
            c.update(rtf, settings.min_steps as usize, target)
        });
        let next_steps = output.steps.map_or(target, |c| c.current);
        let discont = std::mem::take(&mut output.discont);
        drop(guard);
        if !self.streaming.work.is_current(epoch) {
            gst::debug!(
                CAT,
                imp = self,
                "dropping chunk {}: flushed while generating",
                chunk.index
            );
            return Err(gst::FlowError::Flushing);
        }
        self.report_steps(change, steps, next_steps, rtf, settings.min_steps);
        self.post_chunk_stats(chunk.index, chunk.frame_count, steps, &out.stats, rtf);

        for i in 0..chunk.frame_count {
            let n = chunk.first_frame + i;
            let rgb = &out.rgb[i as usize * frame_bytes..(i as usize + 1) * frame_bytes];
            let mut buffer = frame_buffer(&video, rgb, width, height)?;
            {
                let b = buffer.get_mut().ok_or(gst::FlowError::Error)?;
                let start = base.saturating_add(gst::ClockTime::from_nseconds(layout.frames_ns(n)));
                let end =
                    base.saturating_add(gst::ClockTime::from_nseconds(layout.frames_ns(n + 1)));
                b.set_pts(start);
                b.set_duration(end.saturating_sub(start));
                b.set_offset(n);
                b.set_offset_end(n + 1);
                if discont && i == 0 {
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
            }
            self.streaming
                .outlets
                .get(0)
                .queue
                .push_in(Out::Buffer(buffer), Some(out_epoch))?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Says when adaptive steps changed the step count.
    fn report_steps(&self, change: StepChange, steps: usize, next: usize, rtf: f64, min: u32) {
        match change {
            StepChange::Lowered => gst::element_imp_warning!(
                self,
                gst::CoreError::Clock,
                ["generation is slower than real time (real-time factor {rtf:.2}): steps lowered from {steps} to {next} (min-steps {min})"]
            ),
            StepChange::Raised => gst::info!(CAT, imp = self, "headroom (real-time factor {rtf:.2}): steps raised to {next}"),
            StepChange::Kept => {}
        }
    }

    /// Live only: when audio has stalled for more than a chunk (plus the upstream latency), fill
    /// the time up to the clock's now with silence, so the presenter idles in real time.
    fn idle_tick(&self) {
        if !self.live.load(Ordering::Relaxed) {
            return;
        }
        let element = self.obj();
        let (Some(clock), Some(base_time)) = (element.clock(), element.base_time()) else {
            return;
        };
        if element.current_state() != gst::State::Playing {
            return;
        }
        let now = clock.time().saturating_sub(base_time);
        let upstream = lock(&self.state).upstream_latency;
        // The streaming thread holding the input means audio is flowing (and it may be waiting
        // for this task to make room in the queue): no stall, and no waiting for it here.
        let mut guard = match self.input.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let Some(input) = guard.as_mut().filter(|i| !i.eos) else {
            return;
        };
        let (Some(info), Some(base), Some(segment)) =
            (input.audio.as_ref(), input.base, input.segment.as_ref())
        else {
            return;
        };
        let rate = u64::from(info.rate());
        let layout = *input.scheduler.layout();
        let end = expected_end(input, rate);
        let Some(end_running) = segment.to_running_time(end) else {
            return;
        };
        let chunk = gst::ClockTime::from_nseconds(layout.frames_ns(layout.chunk));
        let stalled = now.saturating_sub(end_running);
        if stalled <= chunk + upstream {
            return;
        }
        // Everything up to now (less the upstream latency), so the idle video keeps pace with
        // the clock instead of falling behind by a generation time per chunk.
        let fill = (stalled - upstream).min(MAX_FILL);
        let n = Rate::per_second(rate).items_within_ns(fill.nseconds());
        gst::debug!(
            CAT,
            imp = self,
            "audio stalled for {stalled}: {n} samples of silence to keep idling"
        );
        input.scheduler.push_silence(n);
        // This thread is the queue's consumer and the queue was empty when the tick began: queue
        // the chunks without waiting for room (a stall of t seconds gives t / chunk of them).
        while let Some(chunk) = input.scheduler.ready() {
            self.streaming.work.push_now(Item::Chunk { chunk, base });
        }
    }

    fn post_chunk_stats(
        &self,
        index: u64,
        frames: u64,
        steps: usize,
        stats: &GenerationStats,
        rtf: f64,
    ) {
        let s = gst::Structure::builder("miragegen/chunk")
            .field("chunk", index)
            .field("frames", frames as u32)
            .field("steps", steps as u32)
            .field("batched-steps", stats.batched_steps as u32)
            .field("inference-ms", stats.inference.as_secs_f64() * 1e3)
            .field("real-time-factor", rtf)
            .build();
        post_stats(self.obj().upcast_ref(), *CAT, s);
    }

    /// Builds the generator for the loaded model and the chosen avatar.
    fn prepare(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let model = lock(&self.state)
            .model
            .clone()
            .ok_or_else(|| gst::error_msg!(gst::CoreError::StateChange, ("no model loaded")))?;
        let reference = diffusion_runtime::a2v::avatar_portrait(&model, settings.avatar.as_deref())
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("avatar: {e}")))?;
        gst::debug!(CAT, imp = self, "portrait {:?}", reference.shape());
        let mut generator = A2vGenerator::new(model, reference, settings.seed)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{e}")))?;
        generator
            .set_batching(settings.model.batch_window())
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{e}")))?;
        *lock(&self.input) = Some(Input {
            scheduler: ChunkScheduler::new(*generator.layout()),
            audio: None,
            segment: None,
            base: None,
            eos: false,
        });
        lock(&self.state).layout = Some(*generator.layout());
        *lock(&self.output) = Some(Output {
            generator,
            video: None,
            steps: None,
            discont: true,
            epoch: None,
            engines: EngineReports::default(),
            last_frame: None,
            outage: Outage::default(),
        });
        Ok(())
    }
}

/// Timestamp where the counted samples end: `base + received/rate`.
fn expected_end(input: &Input, rate: u64) -> gst::ClockTime {
    timeline::item_time(
        input.base.unwrap_or(gst::ClockTime::ZERO),
        Rate::per_second(rate),
        input.scheduler.received(),
    )
}

/// One video frame from packed RGB, in the negotiated format and strides.
fn frame_buffer(
    info: &gst_video::VideoInfo,
    rgb: &[u8],
    width: usize,
    height: usize,
) -> Result<gst::Buffer, gst::FlowError> {
    let mut buffer = gst::Buffer::with_size(info.size()).map_err(|_| gst::FlowError::Error)?;
    {
        let b = buffer.get_mut().ok_or(gst::FlowError::Error)?;
        let mut map = b.map_writable().map_err(|_| gst::FlowError::Error)?;
        let stride = info.stride()[0] as usize;
        let px = if info.format() == gst_video::VideoFormat::Rgba {
            4
        } else {
            3
        };
        let dst = map.as_mut_slice();
        for y in 0..height {
            let row = &rgb[y * width * 3..(y + 1) * width * 3];
            let out = &mut dst[y * stride..y * stride + width * px];
            if px == 3 {
                out.copy_from_slice(row);
            } else {
                for (o, i) in out.chunks_exact_mut(4).zip(row.chunks_exact(3)) {
                    o[..3].copy_from_slice(i);
                    o[3] = 255;
                }
            }
        }
    }
    Ok(buffer)
}

#[glib::object_subclass]
impl ObjectSubclass for MirageGen {
    const NAME: &'static str = "GstMirageGen";
    type Type = super::MirageGen;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|_pad, parent, buffer| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_query(pad, query),
                )
            })
            .build();
        let templ = klass.pad_template("src").expect("src template");
        let srcpad = gst::Pad::builder_from_template(&templ)
            .event_function(|pad, parent, event| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| {
                        // QoS about video frames means nothing to the audio source upstream.
                        if event.type_() == gst::EventType::Qos {
                            gst::log!(CAT, obj = pad, "consuming {event:?}");
                            return true;
                        }
                        gst::Pad::event_default(pad, Some(&*this.obj()), event)
                    },
                )
            })
            .query_function(|pad, parent, query| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.src_query(pad, query),
                )
            })
            .activatemode_function(|pad, parent, mode, active| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic activating src pad")),
                    |this| this.streaming.outlets.activate(pad, mode, active),
                )
            })
            .flags(gst::PadFlags::FIXED_CAPS)
            .build();
        let streaming = Streaming::new(
            QUEUE_CHUNKS,
            vec![(srcpad.clone(), QUEUE_FRAMES, "videoconvert")],
            *CAT,
        );
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            input: Mutex::new(None),
            output: Mutex::new(None),
            streaming,
            live: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for MirageGen {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let d = Settings::default();
            let mut props = model_properties(ExecutionProvider::Auto, MODEL_BLURB);
            props.extend([
                glib::ParamSpecString::builder("avatar")
                    .nick("Avatar")
                    .blurb("Portrait to animate: an avatar name from the package, or a path to a PNG or JPEG picture. With a package that has a reference encoder (the bundled presenter does) any frontal portrait works: the face is found and aligned at READY, and a picture without one usable face is an error saying why; otherwise the picture must be prepared as the package expects. Empty = the package's default. Changes apply at READY")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("steps")
                    .nick("Steps")
                    .blurb("Denoising steps per chunk (0 = the package's default). Can change while playing; applies from the next chunk")
                    .maximum(1000)
                    .default_value(d.steps)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("guidance-scale")
                    .nick("Guidance scale")
                    .blurb("Classifier-free guidance scale (negative = the package's default). Can change while playing; applies from the next chunk")
                    .minimum(-1.0)
                    .maximum(50.0)
                    .default_value(d.guidance_scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Seed of the sampler's noise: the same seed and input give the same video on CPU. Can change while playing; applies from the next chunk")
                    .default_value(d.seed)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("adaptive-steps")
                    .nick("Adaptive steps")
                    .blurb("In live pipelines, lower the steps (down to min-steps) when generation falls behind real time and raise them again with headroom. Can change while playing")
                    .default_value(d.adaptive_steps)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-steps")
                    .nick("Minimum steps")
                    .blurb("Lowest step count adaptive-steps may use. Can change while playing")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.min_steps)
                    .mutable_playing()
                    .build(),
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
        if s.model.set_property(pspec.name(), value) {
            return;
        }
        match pspec.name() {
            "avatar" => {
                s.avatar = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|s| !s.is_empty())
            }
            "steps" => s.steps = value.get().unwrap_or(s.steps),
            "guidance-scale" => s.guidance_scale = value.get().unwrap_or(s.guidance_scale),
            "seed" => s.seed = value.get().unwrap_or(s.seed),
            "adaptive-steps" => s.adaptive_steps = value.get().unwrap_or(s.adaptive_steps),
            "min-steps" => s.min_steps = value.get().unwrap_or(s.min_steps),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = s.model.property(pspec) {
            return v;
        }
        match pspec.name() {
            "avatar" => s.avatar.to_value(),
            "steps" => s.steps.to_value(),
            "guidance-scale" => s.guidance_scale.to_value(),
            "seed" => s.seed.to_value(),
            "adaptive-steps" => s.adaptive_steps.to_value(),
            "min-steps" => s.min_steps.to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("adding sink pad");
        obj.add_pad(&self.srcpad).expect("adding src pad");
    }
}

impl GstObjectImpl for MirageGen {}

impl ElementImpl for MirageGen {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Talking presenter generator",
                "Generator/Video/Audio",
                MANUAL,
                "gst-generative developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let audio = gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
                .build();
            let video = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Rgba])
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &audio,
                )
                .expect("sink template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &video,
                )
                .expect("src template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "state change {transition:?}");
        match transition {
            gst::StateChange::NullToReady => {
                let settings = lock(&self.settings).model.clone();
                let loaded = load_at_ready(self.obj().upcast_ref(), *CAT, &settings, BUNDLED)?;
                lock(&self.state).model = Some(loaded);
            }
            gst::StateChange::ReadyToPaused => {
                let started = self.prepare().and_then(|()| {
                    self.streaming
                        .start(&*self.obj(), |obj| obj.imp().generator_step())
                });
                if let Err(msg) = started {
                    self.post_error_message(msg);
                    return Err(gst::StateChangeError);
                }
            }
            gst::StateChange::PausedToReady => {
                // Before the pads deactivate: the generator drops the chunk it is working on
                // instead of finishing it, and nothing waits on a queue.
                self.streaming.begin_stop();
            }
            _ => {}
        }
        let ret = match self.parent_change_state(transition) {
            Ok(ret) => ret,
            Err(e) => {
                if transition == gst::StateChange::ReadyToPaused {
                    self.streaming.finish_stop();
                }
                return Err(e);
            }
        };
        match transition {
            gst::StateChange::PausedToReady => {
                self.streaming.finish_stop();
                self.live.store(false, Ordering::Relaxed);
                *lock(&self.input) = None;
                *lock(&self.output) = None;
            }
            gst::StateChange::ReadyToNull => {
                // Releases this instance's hold on the shared sessions.
                lock(&self.state).model = None;
            }
            _ => {}
        }
        Ok(ret)
    }
}
