//! # v2agen
//!
//! Video in; the same video plus a generated, synchronized soundtrack out, steered by a
//! positive and a negative text prompt and, when an existing soundtrack arrives on
//! `audio_sink`, by negative audio guidance (Hayakawa et al. 2025): the new track avoids the
//! sounds already in the mix. The element runs a video-to-audio model package (see
//! `models/README.md`): `video_encoder` graphs at their own frame rates and sizes, a
//! `text_encoder` with its tokenizer, a flow-matching or DDIM `denoiser` sampled in steps with
//! the guidance branches batched into one call, and a `decoder` to waveform.
//!
//! ## Pads
//!
//! - `sink` (always): `video/x-raw` in system memory, any format, size and frame rate
//!   (including variable): frames are converted and resized to each encoder's size and sampled
//!   at its frame rate by timestamps.
//! - `src` (always): the video, passed through unchanged: the same buffers with the same
//!   timestamps, caps and events. Each buffer is held until the soundtrack up to its timestamp
//!   exists, so both outputs advance together and no downstream queue has to hold a window of
//!   video (a muxer right after `src` and `audio_src` works with ordinary queues).
//! - `audio_src` (always): the soundtrack, `audio/x-raw` F32LE mono at the model's rate, in
//!   buffers of 40 ms, on the video's segment.
//! - `audio_sink` (request): an existing soundtrack of the same video (F32LE or S16LE at the
//!   model's rate, any channel count: insert `audioconvert ! audioresample`). It is the negative
//!   audio guidance condition, and is mixed into `audio_src` when `mix-existing` is true. It is
//!   matched to the video by running time.
//!
//! ## Time
//!
//! The soundtrack is a sequence of windows of `W` samples (`window_ms` of the package), each
//! starting `hop = W − overlap` after the previous one; overlaps are crossfaded with equal power
//! (no click, dip, gap or doubled sample at a seam). Window *j* covers
//! `[base + j·hop, base + j·hop + W)` where `base` is the first video timestamp of the segment,
//! and is generated once the video up to its end has arrived. Audio timestamps come from counted
//! samples (`base + n/rate`, exact integer arithmetic). At EOS the soundtrack ends exactly at the
//! end of the last video frame: `round_down(duration · rate)` samples. A new segment that is not
//! a repeat finishes the current timeline and starts a new one (from window 0).
//!
//! A **streaming** package (`hop_ms`, `context_ms`, `lookahead_ms` in its manifest) generates
//! hop by hop instead: hop *j* is `[base + j·hop, base + (j+1)·hop)`, with no overlap and no
//! crossfade, since each hop continues the latent of the audio generated before it
//! (`previous_latent`) and, if its decoder asks, the samples it generated last
//! (`previous_waveform`: the decoder's own output, before any mixing); its video encoders see
//! from `context_ms` before the hop (the first frame while that is before the video) to
//! `lookahead_ms` after it, and it is generated once the video up to the end of its lookahead
//! has arrived. Negative audio guidance hears the existing soundtrack over the context and the
//! hop. A new timeline (flush, seek, new segment) starts the context over.
//!
//! ## Latency
//!
//! A window needs the video up to its end (a hop: to the end of its lookahead), and generating
//! it may take up to a hop of real time:
//!
//! ```text
//! latency = W + hop              (3.75 s for the fixture package: W = 2 s, overlap 0.25 s)
//! latency = 2·hop + lookahead    (streaming: 0.48 s for the streaming fixture, 200 + 200 + 80 ms)
//! ```
//!
//! This is reported in the latency query of both src pads, so that in a live pipeline sinks
//! play the delayed video and the soundtrack in sync.
//!
//! ## Threads
//!
//! The skeleton shared with `miragegen` (`gst-generative-common`): the sink pad's streaming
//! thread timestamps frames and cuts windows; a generator thread (`<name>-gen`, started at
//! READY→PAUSED, fed through a queue of one window: back-pressure on upstream) generates them;
//! `src` and `audio_src` are pushed by a task each, with their flows combined, so that a
//! clock-synced sink on one never starves the other and an unlinked one does not stop the
//! other. A flush drops pending windows, the held video and the window being generated.
//!
//! ## Gaps, jumps and odd timestamps
//!
//! A hole in the video (or a GAP event) of up to 30 s is covered by the soundtrack under the
//! last frame; a jump of more than 30 s (either way) ends the timeline at its last frame and
//! starts a new one (a DISCONT on `audio_src`); a frame's stated duration counts for at most
//! 30 s. Timestamps from 2⁶² ns on are an error. Live, the existing soundtrack is waited for
//! within one hop per window (silence for what is missing); otherwise it is waited for, but
//! before the first output of a timeline a track that stays silent for twice the latency gets
//! a warning, and for six times the latency an error naming the usual cause (see Examples).
//!
//! ## Prompts and guidance
//!
//! `prompt` and `negative-prompt` are tokenized with the package's `tokenizer.json` and encoded
//! by its `text_encoder` (cached per string). An empty prompt is unconditional; the negative
//! prompt replaces the unconditional branch of classifier-free guidance (`guidance-scale`).
//! With an existing soundtrack, a third branch conditioned on it is pushed away from
//! (`negative-audio-scale`). Prompts, scales, steps and seed may change while playing and apply
//! from the next window. A `v2agen/window` element message per window carries `window`,
//! `duration` (the hop, the new audio a window adds), `steps`, `inference-ms` and
//! `real-time-factor` (inference time over duration).
//!
//! ## Model and ONNX Runtime
//!
//! `model` names a package directory; left empty, the bundled `foley` package is used (a small
//! streaming flow-matching model trained on procedural scenes: impacts, engines, splashes, rain,
//! thunder; 200 ms hops, 400 ms lookahead, latency 0.8 s; see `models/foley/README.md`; its
//! windowed predecessor, 4 s windows, is `models/foley-windowed`). ONNX Runtime is loaded when the element goes to READY
//! (never at plugin load, so `gst-inspect-1.0` works without it), from `ort-library`, else
//! `ORT_DYLIB_PATH`, else the copy `scripts/setup.sh` installs, else the system loader.
//! `execution-provider=auto` tries TensorRT, then CUDA, then CPU and logs which one each graph
//! got (`GST_DEBUG=v2agen:4`); an explicit provider that is unavailable is an error. The same
//! seed and input give the same samples on CPU.
//!
//! ## Examples
//!
//! ```text
//! # Add a soundtrack to a video file:
//! gst-launch-1.0 -e filesrc location=in.mp4 ! decodebin ! videoconvert ! \
//!     v2agen name=g prompt="a metal can falls and hits the floor" \
//!     g.src ! queue ! x264enc ! mux. \
//!     g.audio_src ! queue ! audioconvert ! voaacenc ! mux. \
//!     mp4mux name=mux ! filesink location=out.mp4
//!
//! # Step-by-step Foley: a second track that avoids the first, mixed with it.
//! ... ! v2agen name=a prompt="rain" ! v2agen name=b prompt="thunder" mix-existing=true \
//!     a.audio_src ! b.audio_sink   b.audio_src ! ...
//!
//! # The first track also heard on its own: a tee. The branch that ends in a synced sink needs
//! # an unbounded queue, or it fills while its sink waits for preroll and blocks the tee
//! # before b has the first window of the track it needs (b then posts an error saying so).
//! ... a.audio_src ! tee name=t ! queue ! b.audio_sink \
//!     t. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! autoaudiosink
//! ```
//!
//! Buffers of upstream's own pool are held for up to `W + hop`: a source with a small fixed pool
//! (some cameras) needs a `videoconvert` or a copy before `v2agen`.
//!
//! ## Tested
//!
//! Debian 12, GStreamer 1.22, ONNX Runtime 1.31.1 (CPU), x86-64 with 2 cores.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use diffusion_runtime::package::{LoadedPackage, Task, Timing};
use diffusion_runtime::time::Rate;
use diffusion_runtime::v2a::{
    video_encoders, ReadyWindow, V2aGenerator, VideoEncoderSpec, VideoWindowScheduler,
    WindowAssembler, WindowLayout,
};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_generative_common::audio::to_mono;
use gst_generative_common::latency;
use gst_generative_common::outage::Outage;
use gst_generative_common::pads::filtered_caps;
use gst_generative_common::queue::Out;
use gst_generative_common::streaming::Streaming;
use gst_generative_common::timeline::{self, Step, MAX_FILL};
use gst_generative_common::EngineReports;
use gst_generative_common::{load_at_ready, model_properties, BundledModel, ModelSettings};
use once_cell::sync::Lazy;

use super::existing::ExistingTrack;
use super::frames::{self, Frame, FrameConverter};
use super::work::Item;
use super::ExecutionProvider;

pub(super) static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "v2agen",
        gst::DebugColorFlags::empty(),
        Some("Video to synchronized soundtrack"),
    )
});

const MODEL_BLURB: &str = "Directory of a video-to-audio model package (model.toml + graphs). Empty = the bundled foley package (models/foley, installed by setup or meson). Loaded at READY; changes apply after the next NULL->READY";
/// The element description `gst-inspect-1.0 v2agen` prints: enough to use the element.
const MANUAL: &str = "Passes video through unchanged on src and adds a generated, synchronized soundtrack on audio_src (F32LE mono at the model's rate, sample-exact from the first video timestamp to the end of the last frame), from an ONNX diffusion model steered by prompt / negative-prompt and, from an existing soundtrack on the request pad audio_sink, by negative audio guidance (mixed in with mix-existing=true). \
Latency = 2 x hop + lookahead for a streaming package (hop_ms, context_ms, lookahead_ms in its model.toml; 0.8 s with the bundled foley package, 200 ms hops and 400 ms lookahead); window + hop for a windowed package (7.5 s with models/foley-windowed, 4 s windows, 0.5 s overlap): reported in the latency query. \
Model: the model property names a package directory (model.toml + ONNX graphs, see models/README.md); empty = the bundled foley package. ONNX Runtime is loaded at READY from ort-library, ORT_DYLIB_PATH, the copy scripts/setup.sh installs, or the system. \
Stacking (step-by-step foley): a.audio_src ! tee name=t ! queue ! b.audio_sink, with a queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 on any other tee branch that ends in a synced sink. \
Example: gst-launch-1.0 -e filesrc location=in.mp4 ! decodebin ! videoconvert ! v2agen name=g prompt=\"rain\" g.src ! queue ! x264enc ! mux. g.audio_src ! queue ! audioconvert ! avenc_aac ! mux. mp4mux name=mux ! filesink location=out.mp4";

/// The package used when `model` is not set.
const BUNDLED: BundledModel = BundledModel {
    name: "foley",
    task: Task::VideoToAudio,
    missing_hint: "set the model property to a video-to-audio package directory (for example models/fixtures/foley); the bundled foley package (models/foley) is not installed: run scripts/setup.sh or install with meson",
};
/// Index of `src` and `audio_src` in [`V2aGen::outlets`].
pub(super) const VIDEO: usize = 0;
pub(super) const AUDIO: usize = 1;
/// [`V2aGen::live`]: not asked yet, not live, live.
const LIVE_UNKNOWN: u8 = 0;
const LIVE_NO: u8 = 1;
const LIVE_YES: u8 = 2;
/// Windows waiting for generation besides the one being generated: one keeps the generator
/// busy; more would only hold more video.
const QUEUE_WINDOWS: usize = 1;
/// Video buffers released to the `src` task at most before the generator waits for it (once
/// audio is queued on the timeline; see `release`).
const QUEUE_VIDEO: usize = 64;
/// Longest frame duration guessed from the interval since the previous frame (variable-rate
/// video without durations): 1 fps.
const MAX_GUESSED_DURATION: gst::ClockTime = gst::ClockTime::SECOND;
/// Audio buffers waiting for the `audio_src` task at most (10 s of 40 ms buffers).
const QUEUE_AUDIO: usize = 250;

/// Property values. `steps == 0` and negative scales mean "the package's default".
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settings {
    pub model: ModelSettings,
    pub prompt: String,
    pub negative_prompt: String,
    pub guidance_scale: f64,
    pub negative_audio_scale: f64,
    pub steps: u32,
    pub seed: u64,
    pub mix_existing: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::default(),
            prompt: String::new(),
            negative_prompt: String::new(),
            guidance_scale: -1.0,
            negative_audio_scale: -1.0,
            steps: 0,
            seed: 0,
            mix_existing: false,
        }
    }
}

/// What the model fixes, known from READY→PAUSED on: read by queries and both threads.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    /// Windows (a streaming package: hops, no overlap), in samples.
    pub layout: WindowLayout,
    pub rate: u32,
    pub window_ms: u32,
    /// A streaming package's view around each hop (0 for windows): video (and the existing
    /// soundtrack) before it, video after it.
    pub context_ms: u32,
    pub lookahead_ms: u32,
    /// The existing soundtrack negative audio guidance hears: from this many samples before a
    /// window, this many in all.
    pub existing_span: (usize, usize),
    pub encoders: Vec<VideoEncoderSpec>,
}

impl Prepared {
    pub fn scheduler(&self) -> VideoWindowScheduler {
        VideoWindowScheduler::new(
            self.layout,
            self.rate,
            self.window_ms,
            self.encoders.iter().map(|e| e.fps).collect(),
        )
        .with_view(self.context_ms, self.lookahead_ms)
    }

    pub fn samples_ns(&self, samples: u64) -> u64 {
        Rate::per_second(u64::from(self.rate)).ns_at(samples)
    }

    /// The window and the video after it that it waits for, plus the processing budget of one
    /// hop: a streaming package's is two hops and its lookahead.
    pub fn latency(&self) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(
            self.samples_ns((self.layout.window + self.layout.hop()) as u64)
                + u64::from(self.lookahead_ms) * 1_000_000,
        )
    }

    pub fn audio_caps(&self) -> gst::Caps {
        soundtrack_caps(self.rate)
    }
}

/// The soundtrack's caps: F32LE mono at `rate`.
fn soundtrack_caps(rate: u32) -> gst::Caps {
    gst_audio::AudioCapsBuilder::new_interleaved()
        .format(gst_audio::AudioFormat::F32le)
        .rate(rate as i32)
        .channels(1)
        .build()
}

/// Sink-side stream state (the video streaming thread).
struct Input {
    scheduler: VideoWindowScheduler,
    video: Option<Arc<gst_video::VideoInfo>>,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// First video timestamp of the timeline.
    base: Option<gst::ClockTime>,
    /// Frames windows may still pick, by id (ascending).
    pickable: VecDeque<(u64, Frame)>,
    next_id: u64,
    /// The previous frame's timestamp and duration.
    last: Option<(gst::ClockTime, gst::ClockTime)>,
}

impl Input {
    fn new(prepared: &Prepared) -> Self {
        Self {
            scheduler: prepared.scheduler(),
            video: None,
            segment: None,
            base: None,
            pickable: VecDeque::new(),
            next_id: 0,
            last: None,
        }
    }

    /// A new timeline (segment, flush): caps stay.
    fn restart(&mut self, prepared: &Prepared) {
        let video = self.video.take();
        *self = Self {
            video,
            ..Self::new(prepared)
        };
    }
}

/// Generator-side state (the generator thread).
pub(super) struct Output {
    pub generator: V2aGenerator,
    pub converter: FrameConverter,
    pub assembler: WindowAssembler,
    /// Video buffers and events waiting for the soundtrack to reach them.
    pub held: VecDeque<Out>,
    pub base: Option<gst::ClockTime>,
    /// `base` as a sample index of the existing soundtrack (running time).
    pub base_index: Option<u64>,
    /// The last window's existing soundtrack (first sample, samples), for mixing its tail.
    pub last_existing: Option<(u64, Vec<f32>)>,
    /// Work-queue epoch this state belongs to: items of a newer one (after a flush) start over.
    pub epoch: Option<u64>,
    pub discont: bool,
    pub engines: EngineReports,
    /// An inference-server outage under way (live): warned once, said when it ends.
    pub outage: Outage,
}

/// `audio_sink` stream state.
#[derive(Default)]
pub(super) struct AudioIn {
    pub info: Option<gst_audio::AudioInfo>,
    pub segment: Option<gst::FormattedSegment<gst::ClockTime>>,
}

/// What the element holds between state changes, read and replaced briefly by every thread.
#[derive(Default)]
pub(super) struct State {
    /// Loaded at NULL→READY, dropped at READY→NULL.
    model: Option<LoadedPackage>,
    /// From READY→PAUSED to PAUSED→READY.
    pub prepared: Option<Prepared>,
    /// The existing soundtrack from `audio_sink` (created with the model at READY→PAUSED).
    pub existing: Option<Arc<ExistingTrack>>,
    pub audio_in: AudioIn,
    /// The requested `audio_sink`, if any.
    pub audio_sinkpad: Option<gst::Pad>,
    /// Seqnum of the last seek sent upstream: the same seek arriving on the other src pad is not
    /// sent twice.
    last_seek: Option<gst::Seqnum>,
}

/// Four locks, in this order (a thread holding one takes only those after it): `input` (the
/// sink pad's streaming thread) → `output` (the generator thread) → `settings` and `state`
/// (leaves: copied or replaced and released at once; no message is posted and no pad is called
/// while they are held) → the queues' and the combiner's own locks (held only for a push or a
/// pop). The generator never holds `output` across a wait a flush must end: waits check the
/// work queue's epoch, and every queue wakes on a flush.
pub struct V2aGen {
    pub(super) sinkpad: gst::Pad,
    pub(super) srcpad: gst::Pad,
    pub(super) audio_srcpad: gst::Pad,
    pub(super) settings: Mutex<Settings>,
    pub(super) state: Mutex<State>,
    input: Mutex<Option<Input>>,
    pub(super) output: Mutex<Option<Output>>,
    /// Video buffers, windows and events for the generator thread, the generator thread, and
    /// `src` and `audio_src` ([`VIDEO`], [`AUDIO`]) with their queues and tasks.
    pub(super) streaming: Streaming<Item>,
    /// Whether upstream is live ([`LIVE_UNKNOWN`] until the first latency query, or until a
    /// window has to know: see [`V2aGen::is_live`]).
    live: AtomicU8,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl V2aGen {
    pub(super) fn prepared(&self) -> Option<Prepared> {
        lock(&self.state).prepared.clone()
    }

    /// The model's audio rate, known from READY on.
    fn model_rate(&self) -> Option<u32> {
        lock(&self.state)
            .model
            .as_ref()
            .map(|m| m.package.audio.rate)
    }

    /// What `audio_sink` takes: the model's rate (from READY on), any channel count (mixed down
    /// to mono).
    fn existing_caps(&self, pad: &gst::Pad) -> gst::Caps {
        match self.model_rate() {
            Some(rate) => gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
                .rate(rate as i32)
                .build(),
            None => pad.pad_template_caps(),
        }
    }

    /// What `audio_src` produces: F32LE mono at the model's rate (from READY on).
    fn soundtrack_caps(&self, pad: &gst::Pad) -> gst::Caps {
        match self.model_rate() {
            Some(rate) => soundtrack_caps(rate),
            None => pad.pad_template_caps(),
        }
    }

    /// Whether upstream is live. Known from the latency query; but a live pipeline asks for the
    /// latency only once every sink has a first buffer, and this element's first output needs a
    /// window, whose wait for the existing soundtrack depends on liveness: so when no query came
    /// yet, upstream is asked here.
    pub(super) fn is_live(&self) -> bool {
        match self.live.load(Ordering::Relaxed) {
            LIVE_YES => true,
            LIVE_NO => false,
            _ => {
                let audio: Vec<gst::Pad> =
                    lock(&self.state).audio_sinkpad.iter().cloned().collect();
                let live = latency::query_upstream(&self.sinkpad, &audio).is_some_and(|u| u.live);
                gst::debug!(CAT, imp = self, "upstream is live: {live}");
                self.live
                    .store(if live { LIVE_YES } else { LIVE_NO }, Ordering::Relaxed);
                live
            }
        }
    }

    /// The linked `audio_sink` pad's track, if any.
    pub(super) fn existing_track(&self) -> Option<Arc<ExistingTrack>> {
        let st = lock(&self.state);
        let linked = st.audio_sinkpad.as_ref().is_some_and(|p| p.is_linked());
        linked.then(|| st.existing.clone()).flatten()
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.streaming.work.flow()?;
        self.streaming.outlets.check_linked()?;
        let mut guard = lock(&self.input);
        let input = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = input.video.clone().ok_or_else(|| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["video buffer before caps"]
            );
            gst::FlowError::NotNegotiated
        })?;
        // A frame without a timestamp follows the previous one.
        let pts = buffer
            .pts()
            .or_else(|| input.last.map(|(p, d)| p.saturating_add(d)))
            .or_else(|| input.segment.as_ref().and_then(|s| s.start()));
        let Some(pts) = pts else {
            self.streaming.work.push(Item::Video(buffer))?;
            return Ok(gst::FlowSuccess::Ok);
        };
        if let (Some(_), Some((last, last_duration))) = (input.base, input.last) {
            if timeline::step(last.saturating_add(last_duration), pts) == Step::Jump {
                // Not a hole to fill with sound: the old timeline ends with its last frame and
                // a new one starts here (as after a new segment).
                gst::info!(
                    CAT,
                    imp = self,
                    "video timestamp jump from {last} to {pts}: a new soundtrack timeline starts"
                );
                self.new_timeline(input)?;
            }
        }
        // A frame lasts until the next one. Without a stated duration or a fixed frame rate,
        // the interval since the previous frame of this timeline is the guess, if it is a frame
        // interval at all (at most `MAX_GUESSED_DURATION`); else 0, and the next frame closes
        // the hole. A stated duration longer than the longest hole the soundtrack fills is cut
        // to it (a still image, or a broken timestamp).
        let duration = buffer
            .duration()
            .or_else(|| frame_duration(&info))
            .or_else(|| {
                input
                    .last
                    .map(|(p, _)| pts.saturating_sub(p))
                    .filter(|d| *d <= MAX_GUESSED_DURATION)
            })
            .unwrap_or(gst::ClockTime::ZERO)
            .min(MAX_FILL);
        if let Err(e) = timeline::check_timestamp("video timestamp", pts.saturating_add(duration)) {
            gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
            return Err(gst::FlowError::Error);
        }
        let base = match input.base {
            Some(base) => base,
            None => {
                self.start_timeline(input, pts)?;
                pts
            }
        };
        if pts < base {
            // Before the timeline's start (reordered input): passed through, not heard.
            self.streaming.work.push(Item::Video(buffer))?;
            return Ok(gst::FlowSuccess::Ok);
        }
        input.last = Some((pts, duration));
        let id = input.next_id;
        input.next_id += 1;
        input
            .scheduler
            .push_frame((pts - base).nseconds(), duration.nseconds(), id);
        input
            .pickable
            .push_back((id, Frame::new(buffer.clone(), info)));
        self.streaming.work.push(Item::Video(buffer))?;
        while let Some(w) = input.scheduler.ready() {
            self.queue_window(input, w, u64::MAX)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Ends the current timeline (its remaining windows, then its end) and starts over; the
    /// segment and caps stay.
    fn new_timeline(&self, input: &mut Input) -> Result<gst::FlowSuccess, gst::FlowError> {
        let prepared = self.prepared().ok_or(gst::FlowError::Flushing)?;
        self.drain(input)?;
        let segment = input.segment.take();
        input.restart(&prepared);
        input.segment = segment;
        Ok(gst::FlowSuccess::Ok)
    }

    /// The first timestamp of a timeline: tells the generator where the soundtrack starts.
    fn start_timeline(
        &self,
        input: &mut Input,
        base: gst::ClockTime,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        input.base = Some(base);
        // A first frame that starts before the segment (it straddles a seek position) starts at
        // running time 0; without a segment, timestamps are running time.
        let base_running = match input
            .segment
            .as_ref()
            .and_then(|s| s.to_running_time_full(base))
        {
            Some(gst::Signed::Positive(t)) => t,
            Some(gst::Signed::Negative(_)) => gst::ClockTime::ZERO,
            None => base,
        };
        gst::debug!(
            CAT,
            imp = self,
            "soundtrack starts at {base} (running time {base_running})"
        );
        self.streaming.work.push(Item::Start { base, base_running })
    }

    /// Queues a window with the frames its encoders picked, and forgets frames no window needs.
    fn queue_window(
        &self,
        input: &mut Input,
        window: ReadyWindow,
        limit: u64,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let lookup = |id: &u64| {
            let i = input.pickable.partition_point(|(f, _)| f < id);
            input.pickable.get(i).or(input.pickable.back()).cloned()
        };
        let picked: Vec<Vec<(u64, Frame)>> = window
            .picks
            .iter()
            .map(|ids| ids.iter().filter_map(lookup).collect())
            .collect();
        if let Some(oldest) = input.scheduler.oldest_needed() {
            while input.pickable.front().is_some_and(|(id, _)| *id < oldest) {
                input.pickable.pop_front();
            }
        }
        gst::log!(CAT, imp = self, "window {} ready", window.index);
        self.streaming.work.push(Item::Window {
            index: window.index,
            picked,
            limit,
        })
    }

    /// At EOS or before a new timeline: the windows still needed, then the end of the timeline.
    fn drain(&self, input: &mut Input) -> Result<gst::FlowSuccess, gst::FlowError> {
        while let Some(w) = input.scheduler.ready() {
            self.queue_window(input, w, u64::MAX)?;
        }
        let total = input.scheduler.total_samples();
        while let Some(w) = input.scheduler.finish() {
            self.queue_window(input, w, total)?;
        }
        if input.base.is_some() {
            self.streaming.work.push(Item::Finish { total })?;
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
                if let (Some(input), Some(prepared)) = (lock(&self.input).as_mut(), self.prepared())
                {
                    input.restart(&prepared);
                }
                // Outputs first: the generator wakes with `work.start()` and may push at once.
                let ok = self.streaming.outlets.flush_stop(&event);
                self.streaming.work.start();
                ok
            }
            EventView::Caps(c) => self.set_caps(c.caps(), event.clone()),
            EventView::StreamStart(_) => {
                // A new stream (gapless, concat): the old timeline ends before it starts.
                let Some(prepared) = self.prepared() else {
                    return false;
                };
                if let Some(input) = lock(&self.input).as_mut() {
                    if input.base.is_some() {
                        if self.drain(input).is_err() {
                            return false;
                        }
                        input.restart(&prepared);
                        input.segment = None;
                    }
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
                        ["v2agen needs a TIME segment with a positive rate (reverse playback is not supported)"]
                    );
                    return false;
                };
                let Some(prepared) = self.prepared() else {
                    return false;
                };
                let mut guard = lock(&self.input);
                let Some(input) = guard.as_mut() else {
                    return false;
                };
                if input.segment.as_ref() == Some(&segment) {
                    return true; // the same segment again: the same timeline
                }
                if input.base.is_some() {
                    // A new timeline: finish the old one first.
                    if self.drain(input).is_err() {
                        return false;
                    }
                    input.restart(&prepared);
                }
                input.segment = Some(segment);
                drop(guard);
                self.streaming.work.push(Item::Event(event)).is_ok()
            }
            EventView::Gap(g) => {
                let (ts, duration) = g.get();
                // At most the longest hole the soundtrack fills, as a frame's duration.
                let duration = duration.unwrap_or(gst::ClockTime::ZERO).min(MAX_FILL);
                if let Err(e) = timeline::check_timestamp("gap", ts.saturating_add(duration)) {
                    gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
                    return false;
                }
                let mut guard = lock(&self.input);
                let Some(input) = guard.as_mut() else {
                    return false;
                };
                if let (Some(_), Some((last, last_duration))) = (input.base, input.last) {
                    if timeline::step(last.saturating_add(last_duration), ts) == Step::Jump
                        && self.new_timeline(input).is_err()
                    {
                        return false;
                    }
                }
                // A timeline of gaps only (no frame yet) is cut every MAX_FILL: it has no
                // windows to generate, and would otherwise be emitted in one piece at its end.
                if let Some(base) = input.base {
                    if input.next_id == 0
                        && ts.saturating_add(duration).saturating_sub(base) > MAX_FILL
                        && self.new_timeline(input).is_err()
                    {
                        return false;
                    }
                }
                // The soundtrack covers the gap (the last frame stays on screen).
                let base = match input.base {
                    Some(b) => b,
                    None => {
                        if self.start_timeline(input, ts).is_err() {
                            return false;
                        }
                        ts
                    }
                };
                if ts < base {
                    return self.streaming.work.push(Item::Event(event)).is_ok();
                }
                let end = ts.saturating_add(duration);
                input.last = Some((ts, duration));
                input
                    .scheduler
                    .push_gap(end.saturating_sub(base).nseconds());
                if self.streaming.work.push(Item::Event(event)).is_err() {
                    return false;
                }
                while let Some(w) = input.scheduler.ready() {
                    if self.queue_window(input, w, u64::MAX).is_err() {
                        return false;
                    }
                }
                true
            }
            EventView::Eos(_) => {
                if let Some(input) = lock(&self.input).as_mut() {
                    if self.drain(input).is_err() {
                        return false;
                    }
                }
                self.streaming.work.push(Item::Event(event)).is_ok()
            }
            _ if event.is_serialized() => self.streaming.work.push(Item::Event(event)).is_ok(),
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    /// Checks that the frames can be converted for the encoders; the caps themselves pass
    /// through to `src` in order with the video.
    fn set_caps(&self, caps: &gst::CapsRef, event: gst::Event) -> bool {
        let Some(prepared) = self.prepared() else {
            return false;
        };
        let info = match gst_video::VideoInfo::from_caps(caps) {
            Ok(info) => info,
            Err(_) => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ["v2agen cannot parse the video caps {caps}"]
                );
                return false;
            }
        };
        if let Err(e) = frames::check(&info, &prepared.encoders) {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["v2agen cannot take {caps}: {e}; insert videoconvert before v2agen"]
            );
            return false;
        }
        gst::debug!(CAT, imp = self, "video {caps}");
        if let Some(input) = lock(&self.input).as_mut() {
            input.video = Some(Arc::new(info));
        }
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        self.streaming.work.push(Item::Event(event)).is_ok()
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        gst::log!(CAT, obj = pad, "handling query {query:?}");
        match query.view_mut() {
            // Passthrough: what downstream of `src` takes.
            QueryViewMut::Caps(q) => {
                let caps = passthrough_caps(pad, q.filter(), &self.srcpad);
                if caps.is_empty() {
                    gst::debug!(
                        CAT,
                        obj = pad,
                        "no video caps in common: upstream offers {:?}, downstream of src takes {}; v2agen takes raw video in system memory (insert videoconvert)",
                        q.filter(),
                        self.srcpad.peer_query_caps(None)
                    );
                }
                q.set_result(&caps);
                true
            }
            // Buffers are held for a window: a downstream pool of a few buffers would run dry.
            QueryViewMut::Allocation(_) => false,
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        gst::log!(CAT, obj = pad, "handling query {query:?}");
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                let audio: Vec<gst::Pad> =
                    lock(&self.state).audio_sinkpad.iter().cloned().collect();
                let Some(upstream) = latency::query_upstream(&self.sinkpad, &audio) else {
                    return false;
                };
                self.live.store(
                    if upstream.live { LIVE_YES } else { LIVE_NO },
                    Ordering::Relaxed,
                );
                let ours = self
                    .prepared()
                    .map_or(gst::ClockTime::ZERO, |p| p.latency());
                latency::answer(q, upstream, ours);
                gst::debug!(
                    CAT,
                    obj = pad,
                    "latency: upstream {}, ours {ours}",
                    upstream.min
                );
                true
            }
            QueryViewMut::Caps(q) if *pad == self.audio_srcpad => {
                q.set_result(&filtered_caps(&self.soundtrack_caps(pad), q.filter()));
                true
            }
            QueryViewMut::Caps(q) => {
                q.set_result(&passthrough_caps(pad, q.filter(), &self.sinkpad));
                true
            }
            _ => self.sinkpad.peer_query(query),
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "handling event {event:?}");
        match event.type_() {
            gst::EventType::Seek => {
                // The same seek comes through both src pads (a pipeline seeks every sink):
                // upstream gets it once.
                {
                    let mut st = lock(&self.state);
                    if st.last_seek == Some(event.seqnum()) {
                        return true;
                    }
                    st.last_seek = Some(event.seqnum());
                }
                // The existing soundtrack first: its flush is over before the video's new
                // timeline asks for it, so no window is generated from the old one.
                let audio = lock(&self.state).audio_sinkpad.clone();
                if let Some(audio) = audio.filter(|p| p.is_linked()) {
                    let _ = audio.push_event(event.clone());
                }
                self.sinkpad.push_event(event)
            }
            // QoS about the soundtrack means nothing to the video upstream.
            gst::EventType::Qos if *pad == self.audio_srcpad => true,
            _ => self.sinkpad.push_event(event),
        }
    }

    fn audio_sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (track, info, segment) = {
            let st = lock(&self.state);
            let a = &st.audio_in;
            (st.existing.clone(), a.info.clone(), a.segment.clone())
        };
        let track = track.ok_or(gst::FlowError::Flushing)?;
        let Some(info) = info else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["audio_sink: buffer before caps"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let (running, clip) = {
            // Samples before the segment's start are clipped (they straddle a seek position).
            let (running, clip) = match (buffer.pts(), segment.as_ref()) {
                (Some(pts), Some(seg)) => match seg.to_running_time_full(pts) {
                    Some(gst::Signed::Positive(t)) => (Some(t), 0),
                    Some(gst::Signed::Negative(early)) => (
                        Some(gst::ClockTime::ZERO),
                        track.index(early.nseconds()) as usize,
                    ),
                    None => (None, 0),
                },
                (pts, _) => (pts, 0),
            };
            (running, clip)
        };
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::ResourceError::Read, ["cannot map audio buffer"]);
            gst::FlowError::Error
        })?;
        let mono = to_mono(&info, map.as_slice());
        drop(map);
        track
            .push(running.map(|r| r.nseconds()), &mono[clip.min(mono.len())..])
            .map_err(|_| gst::FlowError::Flushing)?;
        Ok(gst::FlowSuccess::Ok)
    }

    fn audio_sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "handling event {event:?}");
        let track = lock(&self.state).existing.clone();
        match event.view() {
            EventView::FlushStart(_) => {
                if let Some(t) = track {
                    t.flush_start();
                }
            }
            EventView::FlushStop(_) | EventView::StreamStart(_) => {
                if let Some(t) = track {
                    t.reset();
                }
            }
            EventView::Caps(c) => {
                let wanted = self.existing_caps(pad);
                match gst_audio::AudioInfo::from_caps(c.caps()) {
                    Ok(info) if c.caps().can_intersect(&wanted) => {
                        lock(&self.state).audio_in.info = Some(info);
                    }
                    _ => {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            ["audio_sink cannot take {}: the model needs {wanted}; insert audioconvert ! audioresample before audio_sink", c.caps()]
                        );
                        return false;
                    }
                }
            }
            EventView::Segment(s) => match s.segment().clone().downcast::<gst::ClockTime>() {
                Ok(seg) => lock(&self.state).audio_in.segment = Some(seg),
                Err(_) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["audio_sink needs a TIME segment"]
                    );
                    return false;
                }
            },
            EventView::Gap(g) => {
                let (ts, duration) = g.get();
                let running = lock(&self.state)
                    .audio_in
                    .segment
                    .as_ref()
                    .and_then(|s| s.to_running_time(ts));
                if let (Some(t), Some(d)) = (track, duration) {
                    let _ = t.push_silence(running.map(|r| r.nseconds()), t.index(d.nseconds()));
                }
            }
            EventView::Eos(_) => {
                if let Some(t) = track {
                    t.set_eos();
                }
            }
            _ => {}
        }
        // The existing soundtrack ends here; it is not passed on as such.
        true
    }

    fn audio_sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        match query.view_mut() {
            QueryViewMut::Caps(q) => {
                let ours = self.existing_caps(pad);
                let caps = filtered_caps(&ours, q.filter());
                if caps.is_empty() {
                    gst::warning!(
                        CAT,
                        obj = pad,
                        "upstream offers {:?}, audio_sink takes {ours}: insert audioconvert ! audioresample before audio_sink",
                        q.filter()
                    );
                }
                q.set_result(&caps);
                true
            }
            QueryViewMut::AcceptCaps(q) => {
                let ok = q.caps().is_subset(&self.existing_caps(pad));
                q.set_result(ok);
                true
            }
            QueryViewMut::Allocation(_) => false,
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Builds the generator and the stream state for the loaded model.
    fn prepare(&self) -> Result<(), gst::ErrorMessage> {
        let (seed, batch_window) = {
            let settings = lock(&self.settings);
            (settings.seed, settings.model.batch_window())
        };
        let model = lock(&self.state)
            .model
            .clone()
            .ok_or_else(|| gst::error_msg!(gst::CoreError::StateChange, ("no model loaded")))?;
        let (window_ms, context_ms, lookahead_ms) = match model.package.timing {
            Timing::Window(t) => (t.window_ms, 0, 0),
            Timing::Stream(t) => (t.hop_ms, t.context_ms, t.lookahead_ms),
            Timing::Chunk(_) => {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    ("the package has no window or hop timing")
                ))
            }
        };
        let encoders = video_encoders(&model);
        let mut generator = V2aGenerator::new(model.clone(), seed)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{e}")))?;
        generator
            .set_batching(batch_window)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{e}")))?;
        let prepared = Prepared {
            layout: generator.layout(),
            rate: model.package.audio.rate,
            window_ms,
            context_ms,
            lookahead_ms,
            existing_span: generator.existing_span(),
            encoders: encoders.clone(),
        };
        gst::debug!(CAT, imp = self, "prepared {prepared:?}");
        *lock(&self.input) = Some(Input::new(&prepared));
        let existing = Arc::new(ExistingTrack::new(prepared.rate, prepared.existing_span.1));
        *lock(&self.output) = Some(Output {
            assembler: WindowAssembler::new(prepared.layout),
            generator,
            converter: FrameConverter::new(encoders),
            held: VecDeque::new(),
            base: None,
            base_index: None,
            last_existing: None,
            epoch: None,
            discont: true,
            engines: EngineReports::default(),
            outage: Outage::default(),
        });
        let mut st = lock(&self.state);
        st.existing = Some(existing);
        st.prepared = Some(prepared);
        Ok(())
    }
}

/// What a passthrough pad can take or give: what the pad on the other side of the element can
/// (`other`'s peer), within `pad`'s template and the query's filter.
fn passthrough_caps(pad: &gst::Pad, filter: Option<&gst::CapsRef>, other: &gst::Pad) -> gst::Caps {
    let filter = filtered_caps(&pad.pad_template_caps(), filter);
    other.peer_query_caps(Some(&filter))
}

/// A sink pad whose chain, event and query functions are these methods, each guarded against
/// panics (a panic becomes a flow error or a refused event/query, never an abort).
fn sink_pad_builder(
    templ: &gst::PadTemplate,
    chain: fn(&V2aGen, gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError>,
    event: fn(&V2aGen, &gst::Pad, gst::Event) -> bool,
    query: fn(&V2aGen, &gst::Pad, &mut gst::QueryRef) -> bool,
) -> gst::PadBuilder<gst::Pad> {
    gst::Pad::builder_from_template(templ)
        .chain_function(move |_pad, parent, buffer| {
            V2aGen::catch_panic_pad_function(
                parent,
                || Err(gst::FlowError::Error),
                |this| chain(this, buffer),
            )
        })
        .event_function(move |pad, parent, e| {
            V2aGen::catch_panic_pad_function(parent, || false, |this| event(this, pad, e))
        })
        .query_function(move |pad, parent, q| {
            V2aGen::catch_panic_pad_function(parent, || false, |this| query(this, pad, q))
        })
}

/// One frame's duration from the caps' frame rate (none for variable rate).
fn frame_duration(info: &gst_video::VideoInfo) -> Option<gst::ClockTime> {
    let fps = info.fps();
    (fps.numer() > 0 && fps.denom() > 0)
        .then(|| gst::ClockTime::SECOND.mul_div_floor(fps.denom() as u64, fps.numer() as u64))
        .flatten()
}

#[glib::object_subclass]
impl ObjectSubclass for V2aGen {
    const NAME: &'static str = "GstV2aGen";
    type Type = super::V2aGen;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = sink_pad_builder(
            &templ,
            V2aGen::sink_chain,
            V2aGen::sink_event,
            V2aGen::sink_query,
        )
        .activatemode_function(|_pad, parent, mode, active| {
            V2aGen::catch_panic_pad_function(
                parent,
                || Err(gst::loggable_error!(CAT, "panic activating sink pad")),
                |this| {
                    if mode != gst::PadMode::Push {
                        return Err(gst::loggable_error!(
                            CAT,
                            "sink pad works in push mode only"
                        ));
                    }
                    // A streaming thread waiting for room in the work queue lets go (the
                    // generator itself starts and stops with the state, not with a pad).
                    if !active {
                        this.streaming.work.set_flushing();
                    }
                    Ok(())
                },
            )
        })
        .build();
        let src = |name: &str| {
            let templ = klass.pad_template(name).expect("src template");
            gst::Pad::builder_from_template(&templ)
                .event_function(|pad, parent, event| {
                    V2aGen::catch_panic_pad_function(
                        parent,
                        || false,
                        |this| this.src_event(pad, event),
                    )
                })
                .query_function(|pad, parent, query| {
                    V2aGen::catch_panic_pad_function(
                        parent,
                        || false,
                        |this| this.src_query(pad, query),
                    )
                })
                .activatemode_function(|pad, parent, mode, active| {
                    V2aGen::catch_panic_pad_function(
                        parent,
                        || Err(gst::loggable_error!(CAT, "panic activating a src pad")),
                        |this| this.streaming.outlets.activate(pad, mode, active),
                    )
                })
                .build()
        };
        let (srcpad, audio_srcpad) = (src("src"), src("audio_src"));
        let streaming = Streaming::new(
            QUEUE_WINDOWS,
            vec![
                (srcpad.clone(), QUEUE_VIDEO, "videoconvert"),
                (
                    audio_srcpad.clone(),
                    QUEUE_AUDIO,
                    "audioconvert ! audioresample",
                ),
            ],
            *CAT,
        );
        Self {
            sinkpad,
            srcpad,
            audio_srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            input: Mutex::new(None),
            output: Mutex::new(None),
            streaming,
            live: AtomicU8::new(LIVE_UNKNOWN),
        }
    }
}

impl ObjectImpl for V2aGen {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let d = Settings::default();
            let mut props = model_properties(ExecutionProvider::Auto, MODEL_BLURB);
            props.extend([
                glib::ParamSpecString::builder("prompt")
                    .nick("Prompt")
                    .blurb("What the soundtrack should contain. Empty = unconditional. Can change while playing; applies from the next window")
                    .default_value(Some(d.prompt.as_str()))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("negative-prompt")
                    .nick("Negative prompt")
                    .blurb("What the soundtrack should avoid; replaces the unconditional guidance branch. Can change while playing; applies from the next window")
                    .default_value(Some(d.negative_prompt.as_str()))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("guidance-scale")
                    .nick("Guidance scale")
                    .blurb("Classifier-free guidance scale alpha (negative = the package's default). Can change while playing; applies from the next window")
                    .minimum(-1.0)
                    .maximum(50.0)
                    .default_value(d.guidance_scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("negative-audio-scale")
                    .nick("Negative audio scale")
                    .blurb("Negative audio guidance scale beta: how strongly to avoid the sounds on audio_sink (negative = the package's default). Can change while playing; applies from the next window")
                    .minimum(-1.0)
                    .maximum(50.0)
                    .default_value(d.negative_audio_scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("steps")
                    .nick("Steps")
                    .blurb("Sampler steps per window (0 = the package's default). Can change while playing; applies from the next window")
                    .maximum(1000)
                    .default_value(d.steps)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Seed of the sampler's noise: another seed gives another soundtrack; the same seed and input give the same samples on CPU. Can change while playing; applies from the next window")
                    .default_value(d.seed)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("mix-existing")
                    .nick("Mix existing")
                    .blurb("Mix the soundtrack arriving on audio_sink into audio_src. Can change while playing")
                    .default_value(d.mix_existing)
                    .mutable_playing()
                    .build(),
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
        if s.model.set_property(pspec.name(), value) {
            return;
        }
        let string = |v: &glib::Value| v.get::<Option<String>>().ok().flatten().unwrap_or_default();
        match pspec.name() {
            "prompt" => s.prompt = string(value),
            "negative-prompt" => s.negative_prompt = string(value),
            "guidance-scale" => s.guidance_scale = value.get().unwrap_or(s.guidance_scale),
            "negative-audio-scale" => {
                s.negative_audio_scale = value.get().unwrap_or(s.negative_audio_scale)
            }
            "steps" => s.steps = value.get().unwrap_or(s.steps),
            "seed" => s.seed = value.get().unwrap_or(s.seed),
            "mix-existing" => s.mix_existing = value.get().unwrap_or(s.mix_existing),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        if let Some(v) = s.model.property(pspec) {
            return v;
        }
        match pspec.name() {
            "prompt" => s.prompt.to_value(),
            "negative-prompt" => s.negative_prompt.to_value(),
            "guidance-scale" => s.guidance_scale.to_value(),
            "negative-audio-scale" => s.negative_audio_scale.to_value(),
            "steps" => s.steps.to_value(),
            "seed" => s.seed.to_value(),
            "mix-existing" => s.mix_existing.to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        for pad in [&self.sinkpad, &self.srcpad, &self.audio_srcpad] {
            obj.add_pad(pad).expect("adding always pad");
        }
    }
}

impl GstObjectImpl for V2aGen {}

impl ElementImpl for V2aGen {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Video to soundtrack generator",
                "Generator/Audio/Video",
                MANUAL,
                "gst-generative developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let video = gst_video::VideoCapsBuilder::new().build();
            // The rate is the model's: the caps queries answer it from READY on.
            let audio_out = gst_audio::AudioCapsBuilder::new_interleaved()
                .format(gst_audio::AudioFormat::F32le)
                .channels(1)
                .build();
            let audio_in = gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
                .build();
            let t = |name, dir, presence, caps: &gst::Caps| {
                gst::PadTemplate::new(name, dir, presence, caps).expect("template")
            };
            vec![
                t(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &video,
                ),
                t(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &video,
                ),
                t(
                    "audio_src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &audio_out,
                ),
                t(
                    "audio_sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &audio_in,
                ),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        // The lock is not held across add_pad/remove_pad: they emit pad-added/pad-removed
        // synchronously, and a handler may call back into the element.
        let pad = {
            let mut st = lock(&self.state);
            if st.audio_sinkpad.is_some() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "audio_sink already requested: one existing soundtrack per instance"
                );
                return None;
            }
            let pad = sink_pad_builder(
                templ,
                V2aGen::audio_sink_chain,
                V2aGen::audio_sink_event,
                V2aGen::audio_sink_query,
            )
            .name("audio_sink")
            .activatemode_function(|_pad, parent, _mode, active| {
                V2aGen::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic activating audio_sink")),
                    |this| {
                        let track = lock(&this.state).existing.clone();
                        if let Some(track) = track {
                            if active {
                                track.reset();
                            } else {
                                track.flush_start();
                            }
                        }
                        Ok(())
                    },
                )
            })
            .build();
            st.audio_sinkpad = Some(pad.clone());
            pad
        };
        if self.obj().add_pad(&pad).is_err() {
            lock(&self.state).audio_sinkpad = None;
            return None;
        }
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let ours = {
            let mut st = lock(&self.state);
            let ours = st.audio_sinkpad.as_ref() == Some(pad);
            if ours {
                st.audio_sinkpad = None;
            }
            ours
        };
        if ours {
            // Windows waiting for this soundtrack go on without it.
            let track = lock(&self.state).existing.clone();
            if let Some(track) = track {
                track.set_eos();
            }
            let _ = pad.set_active(false);
            let _ = self.obj().remove_pad(pad);
        }
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
                // Before the pads deactivate: the generator drops the window it is working on
                // instead of finishing it, and nothing waits on a queue.
                self.streaming.begin_stop();
                let track = lock(&self.state).existing.clone();
                if let Some(track) = track {
                    track.flush_start();
                }
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
                self.live.store(LIVE_UNKNOWN, Ordering::Relaxed);
                *lock(&self.input) = None;
                *lock(&self.output) = None;
                let mut st = lock(&self.state);
                st.existing = None;
                st.prepared = None;
                st.audio_in = AudioIn::default();
                st.last_seek = None;
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
