//! The reliability suite: one test of each shared behaviour run against both elements (restart,
//! flushing seeks during generation, state cycling, fuzzed timestamps and caps), seeded so that
//! a failure reproduces, and one regression test per defect of the QA run (issue 14: D1..D9).
//! Fixture packages only; bounded to a few minutes on two cores. Every wait has a deadline:
//! a hang is a test failure, not a stuck CI job.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fixture, init};
use gst::prelude::*;
use gst_check::Harness;

/// How many times more fuzzed cases to run than CI does: `RELIABILITY_SCALE=8 cargo test -p
/// gst-generative-tests --test reliability fuzzed` for a longer run (new seeds, same rules).
fn scale() -> u64 {
    std::env::var("RELIABILITY_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Longest any single case may take before it counts as a hang.
const CASE_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Subject {
    Mirage,
    V2a,
}

const BOTH: [Subject; 2] = [Subject::Mirage, Subject::V2a];

impl Subject {
    fn factory(self) -> &'static str {
        match self {
            Subject::Mirage => "miragegen",
            Subject::V2a => "v2agen",
        }
    }

    fn element(self) -> gst::Element {
        init();
        let package = match self {
            Subject::Mirage => "presenter",
            Subject::V2a => "foley",
        };
        gst::ElementFactory::make(self.factory())
            .property("model", fixture(package).to_str().unwrap())
            .property_from_str("execution-provider", common::ep())
            .build()
            .unwrap()
    }

    /// Raw input caps the fixture takes.
    fn caps(self) -> gst::Caps {
        match self {
            Subject::Mirage => "audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1",
            Subject::V2a => "video/x-raw,format=RGB,width=48,height=32,framerate=25/1",
        }
        .parse()
        .unwrap()
    }

    /// One input buffer: 40 ms of a tone, or one 48×32 RGB frame.
    fn buffer(self, pts: Option<u64>, duration: Option<u64>) -> gst::Buffer {
        let data: Vec<u8> = match self {
            Subject::Mirage => (0..640)
                .flat_map(|i| (0.3 * (i as f32 * 0.1).sin()).to_le_bytes())
                .collect(),
            Subject::V2a => (0..48 * 32 * 3).map(|k| (k % 251) as u8).collect(),
        };
        let mut b = gst::Buffer::from_mut_slice(data);
        let bm = b.get_mut().unwrap();
        bm.set_pts(pts.map(gst::ClockTime::from_nseconds));
        bm.set_duration(duration.map(gst::ClockTime::from_nseconds));
        b
    }

    /// Whether `pad` carries generated output (not passed-through input).
    fn generated(self, pad: &str) -> bool {
        !(self == Subject::V2a && pad == "src")
    }

    fn src_pads(self) -> &'static [&'static str] {
        match self {
            Subject::Mirage => &["src"],
            Subject::V2a => &["src", "audio_src"],
        }
    }

    /// A source for a `gst-launch` line, seekable: `seconds` of input, or endless (a seek's stop
    /// ends it; `num-buffers` would count across seeks).
    fn source(self, seconds: Option<u64>) -> String {
        let limit = seconds.map_or(String::new(), |s| format!("num-buffers={}", s * 25));
        match self {
            Subject::Mirage => format!(
                "audiotestsrc samplesperbuffer=640 {limit} ! audio/x-raw,rate=16000,channels=1"
            ),
            Subject::V2a => format!(
                "videotestsrc pattern=ball {limit} ! video/x-raw,format=RGB,width=48,height=32,framerate=25/1"
            ),
        }
    }
}

/// Choices drawn from the runtime's seeded generator, so that every fuzzed case can be
/// reproduced from the seed printed with a failure.
struct Rng(diffusion_runtime::rng::NoiseRng);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(diffusion_runtime::rng::NoiseRng::new(seed))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Harness runs: full control of events and timestamps.

/// The element between harnesses: one pushing into `sink`, one per src pad collecting.
struct Rig {
    element: gst::Element,
    input: Harness,
    outputs: Vec<Harness>,
    bus: gst::Bus,
}

impl Rig {
    fn new(subject: Subject, props: &[(&str, &str)]) -> Self {
        let element = subject.element();
        for (k, v) in props {
            element.set_property_from_str(k, v);
        }
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let pads = subject.src_pads();
        let input = Harness::with_element(&element, Some("sink"), Some(pads[0]));
        let outputs = pads[1..]
            .iter()
            .map(|p| Harness::with_element(&element, None, Some(p)))
            .collect();
        Self {
            element,
            input,
            outputs,
            bus,
        }
    }

    /// Collects every output buffer until each src pad saw EOS, or an error was posted, or the
    /// deadline passed (`Err` naming what hung).
    fn finish(&mut self) -> Result<Vec<Vec<gst::Buffer>>, String> {
        let start = Instant::now();
        let mut got: Vec<Vec<gst::Buffer>> = vec![Vec::new(); 1 + self.outputs.len()];
        let mut eos = vec![false; got.len()];
        loop {
            for (i, h) in std::iter::once(&mut self.input)
                .chain(self.outputs.iter_mut())
                .enumerate()
            {
                while let Some(b) = h.try_pull() {
                    got[i].push(b);
                }
                while let Some(e) = h.try_pull_event() {
                    if e.type_() == gst::EventType::Eos {
                        eos[i] = true;
                    }
                }
            }
            if eos.iter().all(|e| *e) {
                return Ok(got);
            }
            if let Some(err) = self.error() {
                return Err(format!("error: {err}"));
            }
            if start.elapsed() > CASE_DEADLINE {
                return Err(format!(
                    "no EOS within {CASE_DEADLINE:?} (EOS per pad: {eos:?})"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The first error posted, if any.
    fn error(&self) -> Option<String> {
        std::iter::from_fn(|| self.bus.pop()).find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(error_text(e)),
            _ => None,
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.element.set_state(gst::State::Null);
    }
}

/// An error message with its debug text, where the elements put what went wrong and the fix.
fn error_text(e: &gst::message::Error) -> String {
    format!("{} ({})", e.error(), e.debug().unwrap_or_default())
}

/// Generated output buffers must carry timestamps a clock can play and offsets that continue
/// within each timeline (a DISCONT starts a new one); passed-through video keeps what it had
/// (a frame without a timestamp stays without), but never gets an unplayable one.
#[track_caller]
fn assert_sane_output(buffers: &[gst::Buffer], generated: bool, what: &str) {
    let mut expected_offset: Option<u64> = None;
    for b in buffers {
        let Some(pts) = b.pts().or(if generated {
            None
        } else {
            Some(gst::ClockTime::ZERO)
        }) else {
            panic!("{what}: a generated buffer without a timestamp");
        };
        assert!(
            pts < gst_generative_common::timeline::MAX_TIMESTAMP,
            "{what}: output PTS {pts} is past the playable range"
        );
        if !generated {
            continue;
        }
        if b.flags().contains(gst::BufferFlags::DISCONT) {
            expected_offset = None;
        }
        if let Some(o) = expected_offset {
            assert_eq!(b.offset(), o, "{what}: offsets continue within a timeline");
        }
        expected_offset = Some(b.offset_end());
    }
}

/// Media time covered by `buffers`.
fn covered(buffers: &[gst::Buffer]) -> Duration {
    Duration::from_nanos(
        buffers
            .iter()
            .map(|b| b.duration().map_or(0, |d| d.nseconds()))
            .sum(),
    )
}

/// One fuzzed input timestamp: what a broken or unusual source sends.
fn fuzzed_step(rng: &mut Rng, pts: &mut u64, dur: u64) -> (Option<u64>, Option<u64>) {
    const S: u64 = 1_000_000_000;
    let kind = rng.below(20);
    let (p, d) = match kind {
        0 => (None, Some(dur)),                              // no timestamp
        1 => (Some(pts.saturating_sub(dur / 2)), Some(dur)), // overlapping
        2 => (Some(pts.saturating_sub(100 * S)), Some(dur)), // far backwards
        3 => (Some(*pts + 1_000_000 * S), Some(dur)),        // huge jump
        4 => (Some(u64::MAX - 1 - rng.below(S)), Some(dur)), // near 2^64
        5 => (Some(*pts), Some(0)),                          // zero duration
        6 => (Some(*pts), Some(1_000_000_000_000_000_000)),  // 10^18 ns duration
        7 => (Some(*pts), None),                             // no duration
        8 => (Some(*pts + 3 * S), Some(dur)),                // a hole to fill
        9 => (Some(*pts + 1), Some(1)),                      // 1 ns frames
        _ => (Some(*pts), Some(dur)),
    };
    if let Some(p) = p.filter(|p| *p < u64::MAX / 2) {
        *pts = p.saturating_add(d.unwrap_or(dur).min(40 * S));
    }
    (p, d)
}

/// Fuzzed timestamps (none, backwards, overlapping, huge jumps, near 2⁶⁴, odd durations) on
/// non-zero and rate≠1 segments, against both elements: every case ends (EOS or a clear error)
/// within the deadline, output timestamps stay playable, audio offsets stay sample-exact, and the
/// output is bounded by what the shared time rules allow (at most 30 s filled per input buffer).
#[test]
fn fuzzed_timestamps_end_cleanly_with_bounded_output() {
    let cases = 40 * scale();
    let mut failures = Vec::new();
    for subject in BOTH {
        for case in 0..cases {
            let seed = 1_000 + case;
            let mut rng = Rng::new(seed);
            let mut rig = Rig::new(subject, &[]);
            rig.input.set_src_caps(subject.caps());
            let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
            segment.set_start(gst::ClockTime::from_mseconds(
                rng.pick(&[0, 0, 5_000, 3_600_000]),
            ));
            segment.set_rate(rng.pick(&[1.0, 1.0, 0.5, 2.0]));
            segment.set_applied_rate(rng.pick(&[1.0, 1.0, 0.25]));
            rig.input.push_event(gst::event::Segment::new(&segment));
            let n = 5 + rng.below(25);
            let mut pts = segment.start().unwrap().nseconds();
            let mut refused = false;
            for _ in 0..n {
                let (p, d) = fuzzed_step(&mut rng, &mut pts, 40_000_000);
                if rig.input.push(subject.buffer(p, d)).is_err() {
                    refused = true;
                    break;
                }
            }
            rig.input.push_event(gst::event::Eos::new());
            let outcome = rig.finish();
            let what = format!("{subject:?} seed {seed}");
            match outcome {
                Ok(outputs) => {
                    for (pad, buffers) in subject.src_pads().iter().zip(&outputs) {
                        let generated = subject.generated(pad);
                        assert_sane_output(buffers, generated, &format!("{what} {pad}"));
                        let bound = Duration::from_secs(31 * (n + 1));
                        assert!(
                            !generated || covered(buffers) <= bound,
                            "{what} {pad}: {:?} of output from {n} buffers",
                            covered(buffers)
                        );
                    }
                }
                // An error must say why; a refused timestamp says how to fix it.
                Err(e) if refused && e.contains("2^62") => {}
                Err(e) => failures.push(format!("{what}: {e}")),
            }
            if let Some(e) = rig.error().filter(|e| e.contains("panic")) {
                failures.push(format!("{what}: panicked: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        2 * cases,
        failures.join("\n")
    );
}

/// Fuzzed caps: anything a source may send either runs to EOS or is refused with an error that
/// names what the element takes; nothing hangs.
#[test]
fn fuzzed_caps_run_or_are_refused_clearly() {
    let cases = 30 * scale();
    let mut failures = Vec::new();
    for subject in BOTH {
        for case in 0..cases {
            let seed = 2_000 + case;
            let mut rng = Rng::new(seed);
            let caps: String = match subject {
                Subject::Mirage => format!(
                    "audio/x-raw,format={},layout=interleaved,rate={},channels={}",
                    rng.pick(&["F32LE", "S16LE", "U8", "S24LE", "F64LE"]),
                    rng.pick(&[16_000, 16_000, 8_000, 44_100, 48_000, 1, 2_147_483_647]),
                    rng.pick(&[1, 1, 2, 6, 64]),
                ),
                Subject::V2a => format!(
                    "video/x-raw,format={},width={},height={},framerate={}",
                    rng.pick(&["RGB", "RGBA", "I420", "NV12", "GRAY8", "ABGR64_LE", "YUY2"]),
                    rng.pick(&[1, 2, 3, 48, 161, 640]),
                    rng.pick(&[1, 2, 3, 32, 97, 480]),
                    rng.pick(&[
                        "25/1",
                        "0/1",
                        "1/1",
                        "2147483647/1",
                        "30000/1001",
                        "1/2147483647"
                    ]),
                ),
            };
            let what = format!("{subject:?} seed {seed} {caps}");
            let mut rig = Rig::new(subject, &[]);
            let caps: gst::Caps = caps.parse().unwrap();
            rig.input.set_src_caps(caps.clone());
            let size = match subject {
                Subject::Mirage => gst_audio::AudioInfo::from_caps(&caps)
                    .map(|i| i.bpf() as usize * 640)
                    .unwrap_or(2560),
                Subject::V2a => gst_video::VideoInfo::from_caps(&caps)
                    .map(|i| i.size())
                    .unwrap_or(16),
            };
            let mut ok = true;
            for i in 0..6u64 {
                let mut b = gst::Buffer::from_mut_slice(vec![1u8; size]);
                b.get_mut()
                    .unwrap()
                    .set_pts(gst::ClockTime::from_mseconds(40 * i));
                if rig.input.push(b).is_err() {
                    ok = false;
                    break;
                }
            }
            rig.input.push_event(gst::event::Eos::new());
            match (ok, rig.finish()) {
                (_, Ok(outputs)) => {
                    for (pad, buffers) in subject.src_pads().iter().zip(&outputs) {
                        assert_sane_output(buffers, subject.generated(pad), &what);
                    }
                }
                (false, Err(e)) if e.contains("insert") || e.contains("cannot") => {}
                (_, Err(e)) => failures.push(format!("{what}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Pipeline runs: state changes and seeks as an application does them.

/// A pipeline `source ! element ! appsink` (one per src pad), recording each sink's buffers'
/// timestamps and durations.
struct Pipe {
    pipeline: gst::Pipeline,
    seen: Vec<Seen>,
}

/// (PTS, duration) of the buffers one sink received.
type Seen = Arc<Mutex<Vec<(gst::ClockTime, gst::ClockTime)>>>;

impl Pipe {
    fn new(subject: Subject, seconds: Option<u64>, props: &str) -> Self {
        let ep = common::ep();
        init();
        let package = match subject {
            Subject::Mirage => fixture("presenter"),
            Subject::V2a => fixture("foley"),
        };
        let sinks: String = subject
            .src_pads()
            .iter()
            .enumerate()
            .map(|(i, p)| format!(" g.{p} ! appsink name=out{i} sync=false"))
            .collect();
        let launch = format!(
            "{} ! {} name=g model={} execution-provider={ep} {props} {sinks}",
            subject.source(seconds),
            subject.factory(),
            package.display()
        );
        let pipeline = gst::parse::launch(&launch)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let seen = (0..subject.src_pads().len())
            .map(|i| {
                let seen = Arc::new(Mutex::new(Vec::new()));
                let s = seen.clone();
                let sink = pipeline
                    .by_name(&format!("out{i}"))
                    .unwrap()
                    .downcast::<gst_app::AppSink>()
                    .unwrap();
                sink.set_callbacks(
                    gst_app::AppSinkCallbacks::builder()
                        .new_sample(move |a| {
                            let sample = a.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                            if let Some(b) = sample.buffer() {
                                let d = b.duration().unwrap_or(gst::ClockTime::ZERO);
                                s.lock()
                                    .unwrap()
                                    .push((b.pts().unwrap_or(gst::ClockTime::ZERO), d));
                            }
                            Ok(gst::FlowSuccess::Ok)
                        })
                        .build(),
                );
                seen
            })
            .collect();
        Self { pipeline, seen }
    }

    /// Plays to EOS (or fails with what went wrong).
    fn play_to_eos(&self) -> Result<Vec<usize>, String> {
        for c in &self.seen {
            c.lock().unwrap().clear();
        }
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("PLAYING refused: {e}"))?;
        let end = self.wait_end()?;
        end.map_or(Ok(()), Err)?;
        Ok(self.seen.iter().map(|c| c.lock().unwrap().len()).collect())
    }

    /// Media time each sink received.
    fn covered(&self) -> Vec<Duration> {
        self.seen
            .iter()
            .map(|c| {
                Duration::from_nanos(c.lock().unwrap().iter().map(|(_, d)| d.nseconds()).sum())
            })
            .collect()
    }

    /// `Ok(None)` at EOS, `Ok(Some(error))` at an error, `Err` when neither came in time.
    fn wait_end(&self) -> Result<Option<String>, String> {
        let bus = self.pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_nseconds(CASE_DEADLINE.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .ok_or_else(|| format!("neither EOS nor an error within {CASE_DEADLINE:?}"))?;
        Ok(match msg.view() {
            gst::MessageView::Error(e) => Some(error_text(e)),
            _ => None,
        })
    }

    fn stop(&self) {
        self.pipeline.set_state(gst::State::Null).unwrap();
    }
}

/// PLAYING → EOS → NULL → PLAYING, over and over, on the same pipeline: every run produces the
/// same output (D1: v2agen never prerolled again after its first NULL).
#[test]
fn d1_restart_gives_the_same_output_every_time() {
    for subject in BOTH {
        let pipe = Pipe::new(subject, Some(1), "");
        let first = pipe.play_to_eos().unwrap();
        assert!(first.iter().all(|n| *n > 0), "{subject:?}: {first:?}");
        for run in 1..50 {
            pipe.stop();
            let again = pipe
                .play_to_eos()
                .unwrap_or_else(|e| panic!("{subject:?} restart {run}: {e}"));
            assert_eq!(again, first, "{subject:?} restart {run}");
        }
        pipe.stop();
    }
}

/// Random state changes at random moments of a stream (mid-generation included) never hang or
/// fail, and the element still plays a whole stream afterwards.
#[test]
fn random_state_cycling_mid_stream() {
    let states = [
        gst::State::Null,
        gst::State::Ready,
        gst::State::Paused,
        gst::State::Playing,
    ];
    for subject in BOTH {
        let mut rng = Rng::new(3_000);
        let pipe = Pipe::new(subject, Some(4), "");
        for step in 0..60 {
            let state = rng.pick(&states);
            let start = Instant::now();
            pipe.pipeline
                .set_state(state)
                .unwrap_or_else(|e| panic!("{subject:?} step {step}: {state:?}: {e}"));
            let (r, _, _) = pipe
                .pipeline
                .state(gst::ClockTime::from_seconds(CASE_DEADLINE.as_secs()));
            assert!(
                r.is_ok(),
                "{subject:?} step {step}: {state:?} did not complete"
            );
            assert!(start.elapsed() < CASE_DEADLINE, "{subject:?} step {step}");
            std::thread::sleep(Duration::from_millis(rng.below(60)));
        }
        pipe.stop();
        let counts = pipe.play_to_eos().unwrap();
        assert!(counts.iter().all(|n| *n > 0), "{subject:?}: {counts:?}");
        pipe.stop();
    }
}

/// 100 flushing seeks per element, issued while the element generates (at random moments, some
/// before any output of the previous one): after each flush that produced output, the first
/// buffer on every src pad is at the seek position, and the last seek plays to its stop.
#[test]
fn flushing_seeks_during_generation_land_exactly() {
    for subject in BOTH {
        let mut rng = Rng::new(4_000);
        let pipe = Pipe::new(subject, None, "");
        // Per sink: (flush count, first PTS after it).
        let firsts: Vec<Arc<Mutex<Vec<Option<gst::ClockTime>>>>> = (0..pipe.seen.len())
            .map(|i| {
                let firsts = Arc::new(Mutex::new(vec![None]));
                let f = firsts.clone();
                let sink = pipe.pipeline.by_name(&format!("out{i}")).unwrap();
                sink.static_pad("sink").unwrap().add_probe(
                    gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_FLUSH,
                    move |_, info| {
                        let mut f = f.lock().unwrap();
                        match &info.data {
                            Some(gst::PadProbeData::Buffer(b)) => {
                                let last = f.last_mut().unwrap();
                                if last.is_none() {
                                    *last = b.pts();
                                }
                            }
                            Some(gst::PadProbeData::Event(e))
                                if e.type_() == gst::EventType::FlushStop =>
                            {
                                f.push(None)
                            }
                            _ => {}
                        }
                        gst::PadProbeReturn::Ok
                    },
                );
                firsts
            })
            .collect();
        pipe.pipeline.set_state(gst::State::Paused).unwrap();
        let (r, _, _) = pipe.pipeline.state(gst::ClockTime::from_seconds(30));
        assert!(r.is_ok(), "{subject:?}: no preroll");
        pipe.pipeline.set_state(gst::State::Playing).unwrap();
        let mut positions = Vec::new();
        let seeks = 100;
        for k in 0..seeks {
            // Positions on the source's frame grid (40 ms), so the first buffer is exactly there.
            let position = gst::ClockTime::from_mseconds(40 * rng.below(500));
            let stop =
                position + gst::ClockTime::from_mseconds(if k + 1 == seeks { 800 } else { 20_000 });
            pipe.pipeline
                .seek(
                    1.0,
                    gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                    gst::SeekType::Set,
                    position,
                    gst::SeekType::Set,
                    stop,
                )
                .unwrap_or_else(|e| panic!("{subject:?} seek {k}: {e}"));
            positions.push(position);
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        }
        let end = pipe.wait_end().unwrap();
        assert_eq!(
            end, None,
            "{subject:?}: the last seek must play to its stop"
        );
        pipe.stop();
        for (i, firsts) in firsts.iter().enumerate() {
            let firsts = firsts.lock().unwrap();
            // Entry 0 is before any seek; entry k + 1 follows seek k.
            assert_eq!(
                firsts.len(),
                seeks + 1,
                "{subject:?} sink {i}: one flush per seek"
            );
            let mut checked = 0;
            for (k, first) in firsts[1..].iter().enumerate() {
                if let Some(pts) = first {
                    assert_eq!(
                        *pts, positions[k],
                        "{subject:?} sink {i}: first buffer after seek {k}"
                    );
                    checked += 1;
                }
            }
            assert!(
                firsts[seeks].is_some(),
                "{subject:?} sink {i}: the last seek gave output"
            );
            assert!(checked >= 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regression tests, one per defect of the QA run.

/// D2: `prompt=""` and `negative-prompt=""` set explicitly are unconditional, as documented.
#[test]
fn d2_explicitly_empty_prompts_are_unconditional() {
    let pipe = Pipe::new(Subject::V2a, Some(3), "prompt=\"\" negative-prompt=\"\"");
    let g = pipe.pipeline.by_name("g").unwrap();
    g.set_property("prompt", "");
    g.set_property("negative-prompt", "");
    pipe.play_to_eos().unwrap();
    pipe.stop();
    // 3 s of video: 75 frames, and 3 s of soundtrack.
    assert_eq!(
        pipe.covered(),
        vec![Duration::from_secs(3), Duration::from_secs(3)]
    );
}

/// D2, what hung: the shell turns `prompt="" ! fakesink` into `prompt= ! fakesink`, whose `!`
/// becomes the prompt, leaving both src pads unlinked (and the fakesink on its own). An element
/// with no linked src pad now returns not-linked at once, so upstream posts that error, for both
/// elements alike; before, v2agen took the whole input (its first push is a window away) and,
/// with upstream finished, waited forever.
#[test]
fn d2_no_linked_src_pad_is_not_linked_at_once() {
    for subject in [Subject::V2a, Subject::Mirage] {
        init();
        let package = match subject {
            Subject::Mirage => fixture("presenter"),
            Subject::V2a => fixture("foley"),
        };
        let pipeline = gst::parse::launch(&format!(
            "{} ! {} model={} prompt= ! fakesink",
            subject.source(Some(2)),
            subject.factory(),
            package.display()
        ))
        .or_else(|_| {
            gst::parse::launch(&format!(
                "{} ! {} model={}",
                subject.source(Some(2)),
                subject.factory(),
                package.display()
            ))
        })
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let msg = pipeline.bus().unwrap().timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        pipeline.set_state(gst::State::Null).unwrap();
        let text = match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => error_text(e),
            other => panic!("{subject:?}: {other:?} instead of a not-linked error"),
        };
        assert!(text.contains("not-linked"), "{subject:?}: {text}");
    }
}

/// D3: a forward timestamp jump of 10⁶ s, or a frame claiming 10¹⁸ ns, no longer makes v2agen
/// generate the whole jump: the timeline ends at the last frame and a new one starts at the jump.
#[test]
fn d3_huge_jumps_and_durations_start_a_new_timeline() {
    const S: u64 = 1_000_000_000;
    let mut rig = Rig::new(Subject::V2a, &[]);
    rig.input.set_src_caps(Subject::V2a.caps());
    for i in 0..25 {
        rig.input
            .push(Subject::V2a.buffer(Some(i * S / 25), Some(S / 25)))
            .unwrap();
    }
    for i in 0..25 {
        let pts = 1_000_000 * S + i * S / 25;
        let dur = if i == 24 {
            1_000_000_000_000_000_000
        } else {
            S / 25
        };
        rig.input
            .push(Subject::V2a.buffer(Some(pts), Some(dur)))
            .unwrap();
    }
    rig.input.push_event(gst::event::Eos::new());
    let started = Instant::now();
    let outputs = rig.finish().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let audio = &outputs[1];
    let first_after = audio
        .iter()
        .position(|b| b.pts().unwrap().nseconds() >= 1_000_000 * S)
        .expect("a second timeline");
    // 1 s, then 0.96 s plus the last frame cut to the 30 s longest fill.
    assert_eq!(covered(&audio[..first_after]), Duration::from_secs(1));
    assert_eq!(audio[first_after].pts().unwrap().nseconds(), 1_000_000 * S);
    assert!(audio[first_after]
        .flags()
        .contains(gst::BufferFlags::DISCONT));
    assert_eq!(
        covered(&audio[first_after..]),
        Duration::from_millis(30_960)
    );
}

/// D3 for miragegen (already bounded): a 10⁶ s jump starts a new timeline of frames there.
#[test]
fn d3_miragegen_jump_starts_a_new_timeline() {
    const S: u64 = 1_000_000_000;
    let mut rig = Rig::new(Subject::Mirage, &[]);
    rig.input.set_src_caps(Subject::Mirage.caps());
    for i in 0..25 {
        rig.input
            .push(Subject::Mirage.buffer(Some(i * S / 25), None))
            .unwrap();
    }
    for i in 0..25 {
        rig.input
            .push(Subject::Mirage.buffer(Some(1_000_000 * S + i * S / 25), None))
            .unwrap();
    }
    rig.input.push_event(gst::event::Eos::new());
    let frames = &rig.finish().unwrap()[0];
    assert_eq!(frames.len(), 50);
    assert_eq!(frames[25].pts().unwrap().nseconds(), 1_000_000 * S);
}

/// D3b: live, with `audio_sink` linked to a source that never delivers a buffer, v2agen still
/// outputs within its latency (the existing soundtrack is waited for only within the budget).
#[test]
fn d3b_live_with_a_silent_existing_soundtrack_still_outputs() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=48,height=32,framerate=25/1 \
         ! v2agen name=g model={} execution-provider={ep} \
         g.src ! fakesink sync=true g.audio_src ! appsink name=out sync=true \
         appsrc is-live=true format=time caps=audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1 ! g.audio_sink",
        fixture("foley").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let out = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // The fixture's latency is 3.75 s; the first window also waits one hop for the track.
    let sample = out.try_pull_sample(gst::ClockTime::from_seconds(15));
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(sample.is_some(), "no soundtrack within 15 s");
}

/// D5: frame durations that round to 0 ns (2147483647 fps) no longer deadlock preroll.
#[test]
fn d5_zero_ns_frames_do_not_deadlock() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=120 ! video/x-raw,width=48,height=32,framerate=2147483647/1 \
         ! v2agen name=g model={} execution-provider={ep} g.src ! fakesink g.audio_src ! fakesink",
        fixture("foley").display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(20),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos));
}

/// D6: stacked foley through a tee whose other branch ends in a synced sink: with a default
/// queue on that branch the tee blocks during preroll, and the second instance says so with an
/// error naming the fix instead of waiting forever; with the documented recipe it plays.
#[test]
fn d6_stacked_foley_through_a_tee() {
    let ep = common::ep();
    init();
    let launch = |queue: &str| {
        format!(
            "videotestsrc num-buffers=100 ! video/x-raw,width=48,height=32,framerate=25/1 \
             ! v2agen name=a model={m} execution-provider={ep} \
             ! v2agen name=b model={m} execution-provider={ep} ! fakesink sync=true \
             a.audio_src ! tee name=t ! queue ! b.audio_sink \
             t. ! {queue} ! fakesink sync=true \
             b.audio_src ! fakesink sync=true",
            m = fixture("foley").display()
        )
    };
    let run = |queue: &str| {
        let pipeline = gst::parse::launch(&launch(queue)).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let msg = pipeline.bus().unwrap().timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        pipeline.set_state(gst::State::Null).unwrap();
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => Some(Err(error_text(e))),
            Some(_) => Some(Ok(())),
            None => None,
        }
    };
    let blocked = run("queue").expect("an error, not a hang");
    let err = blocked.expect_err("the default queue blocks the tee");
    assert!(
        err.contains("audio_sink")
            && err.contains("max-size-time=0 max-size-buffers=0 max-size-bytes=0"),
        "{err}"
    );
    let recipe = run("queue max-size-time=0 max-size-buffers=0 max-size-bytes=0");
    assert_eq!(recipe, Some(Ok(())));
}

/// D7: from READY on, the sink pads advertise what the model takes (its rate; mono out), so
/// upstream converters negotiate it instead of failing with a bare not-negotiated.
#[test]
fn d7_caps_follow_the_model_from_ready() {
    for subject in BOTH {
        let e = subject.element();
        let pad_name = if subject == Subject::V2a {
            "audio_sink"
        } else {
            "sink"
        };
        let pad = if subject == Subject::V2a {
            e.request_pad_simple(pad_name).unwrap()
        } else {
            e.static_pad(pad_name).unwrap()
        };
        e.set_state(gst::State::Ready).unwrap();
        let caps = pad.query_caps(None);
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<i32>("rate"), Ok(16_000), "{subject:?}: {caps}");
        if subject == Subject::V2a {
            let out = e.static_pad("audio_src").unwrap().query_caps(None);
            let s = out.structure(0).unwrap();
            assert_eq!(
                (s.get::<i32>("rate"), s.get::<i32>("channels")),
                (Ok(16_000), Ok(1)),
                "{out}"
            );
        }
        e.set_state(gst::State::Null).unwrap();
    }
}

/// D9: timestamps near 2⁶⁴ are refused with an error that says why and how to fix it, instead
/// of reaching a synced sink that may then block at teardown.
#[test]
fn d9_timestamps_near_the_end_of_time_are_refused() {
    for subject in BOTH {
        let mut rig = Rig::new(subject, &[]);
        rig.input.set_src_caps(subject.caps());
        let pts = u64::MAX - 2_000_000_000;
        assert_eq!(
            rig.input.push(subject.buffer(Some(pts), Some(40_000_000))),
            Err(gst::FlowError::Error),
            "{subject:?}"
        );
        let err = rig.error().expect("an error message");
        assert!(
            err.contains("2^62") && err.contains("fix the timestamps"),
            "{subject:?}: {err}"
        );
    }
}

/// The same flushing seek twice (a loop seeking back to the start, "jump to X" pressed twice):
/// the flush removed the segment downstream, so the equal segment after the second seek must go
/// out again before any buffer (miragegen kept it as "the same segment" and swallowed it).
#[test]
fn the_same_seek_twice_still_sends_its_segment() {
    for subject in BOTH {
        let pipe = Pipe::new(subject, None, "");
        // Per sink: whether a segment arrived since the last flush, when each buffer arrived.
        let flags: Vec<Arc<Mutex<(bool, bool)>>> = (0..pipe.seen.len())
            .map(|i| {
                let f = Arc::new(Mutex::new((false, true)));
                let g = f.clone();
                let sink = pipe.pipeline.by_name(&format!("out{i}")).unwrap();
                sink.static_pad("sink").unwrap().add_probe(
                    gst::PadProbeType::BUFFER
                        | gst::PadProbeType::EVENT_FLUSH
                        | gst::PadProbeType::EVENT_DOWNSTREAM,
                    move |_, info| {
                        let mut g = g.lock().unwrap();
                        match &info.data {
                            Some(gst::PadProbeData::Buffer(_)) => g.1 &= g.0,
                            Some(gst::PadProbeData::Event(e)) => match e.type_() {
                                gst::EventType::FlushStop => g.0 = false,
                                gst::EventType::Segment => g.0 = true,
                                _ => {}
                            },
                            _ => {}
                        }
                        gst::PadProbeReturn::Ok
                    },
                );
                f
            })
            .collect();
        pipe.pipeline.set_state(gst::State::Playing).unwrap();
        let seek = || {
            pipe.pipeline
                .seek(
                    1.0,
                    gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                    gst::SeekType::Set,
                    gst::ClockTime::from_seconds(1),
                    gst::SeekType::Set,
                    gst::ClockTime::from_seconds(4),
                )
                .unwrap()
        };
        seek();
        std::thread::sleep(Duration::from_millis(300));
        seek();
        assert_eq!(pipe.wait_end().unwrap(), None, "{subject:?}");
        pipe.stop();
        for (i, f) in flags.iter().enumerate() {
            assert!(
                f.lock().unwrap().1,
                "{subject:?} sink {i}: a buffer arrived without a segment after a flush"
            );
        }
    }
}

/// With `audio_src` unlinked (or its sink not synced), `src`'s queue still paces the generator
/// and so upstream: a clock-synced video sink at real time holds v2agen, and a fast non-live
/// source cannot pile the whole file into memory.
#[test]
fn video_pacing_holds_when_audio_does_not() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc ! video/x-raw,format=RGB,width=48,height=32,framerate=25/1 \
         ! v2agen name=g model={} execution-provider={ep} g.src ! fakesink sync=true",
        fixture("foley").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames_in = Arc::new(Mutex::new(0u64));
    let n = frames_in.clone();
    let g = pipeline.by_name("g").unwrap();
    g.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            *n.lock().unwrap() += 1;
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let wall = Duration::from_secs(3);
    std::thread::sleep(wall);
    let taken = *frames_in.lock().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    // Real time (3 s), plus what the element holds (latency 3.75 s and a window queued), plus
    // src's queue (64): about 300 frames; without pacing, thousands.
    assert!(
        taken <= 25 * 9 + 64 + 60,
        "{taken} frames taken in {wall:?}"
    );
    assert!(taken >= 75, "{taken} frames: the pipeline did not play");
}
