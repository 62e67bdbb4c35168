//! v2agen end to end on the fixture foley package: passthrough, sample-exact soundtrack length
//! for several frame rates, seams, prompts, seeds, the existing soundtrack (negative audio
//! guidance and mixing), step-by-step Foley, flushes, latency, statistics and errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fixture, init};
use gst::prelude::*;
use gst_check::Harness;

const RATE: u64 = 16_000;
/// Fixture windows: 2 s with 0.25 s overlap.
const WINDOW: usize = 32_000;
const HOP: usize = 28_000;
const WIDTH: usize = 48;
const HEIGHT: usize = 32;

fn element(props: &[(&str, &str)]) -> gst::Element {
    element_of("foley", props)
}

fn element_of(package: &str, props: &[(&str, &str)]) -> gst::Element {
    init();
    let e = gst::ElementFactory::make("v2agen")
        .property("model", fixture(package).to_str().unwrap())
        .property_from_str("execution-provider", common::ep())
        .build()
        .unwrap();
    for (k, v) in props {
        e.set_property_from_str(k, v);
    }
    e
}

/// Frame `i`'s RGB pixels: a pattern that moves, so that encoders see different frames.
fn pixels(i: u64) -> Vec<u8> {
    (0..WIDTH * HEIGHT * 3)
        .map(|k| ((k as u64 * 7 + i * 13) % 251) as u8)
        .collect()
}

fn frame(i: u64, pts: u64, duration: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(pixels(i));
    let bm = b.get_mut().unwrap();
    bm.set_pts(gst::ClockTime::from_nseconds(pts));
    bm.set_duration(gst::ClockTime::from_nseconds(duration));
    b
}

/// (pts, duration) of `n` frames at `num/den` fps from `start` ns.
fn timeline(n: u64, num: u64, den: u64, start: u64) -> Vec<(u64, u64)> {
    let t = |k: u64| start + k * den * 1_000_000_000 / num;
    (0..n).map(|k| (t(k), t(k + 1) - t(k))).collect()
}

/// `n` frames from `start` whose durations cycle through `gaps` (a variable frame rate).
fn variable_timeline(n: usize, start: u64, gaps: &[u64]) -> Vec<(u64, u64)> {
    let mut t = start;
    (0..n)
        .map(|k| {
            let d = gaps[k % gaps.len()];
            t += d;
            (t - d, d)
        })
        .collect()
}

fn video_caps(fps: &str) -> gst::Caps {
    format!("video/x-raw,format=RGB,width={WIDTH},height={HEIGHT},framerate={fps}")
        .parse()
        .unwrap()
}

/// What came out of one run.
#[derive(Default)]
struct Output {
    video: Vec<gst::Buffer>,
    audio: Vec<gst::Buffer>,
    windows: Vec<gst::Structure>,
    error: Option<String>,
}

impl Output {
    fn samples(&self) -> Vec<f32> {
        f32_samples(&self.audio)
    }
}

/// The F32LE samples of `buffers`, in order.
fn f32_samples(buffers: &[gst::Buffer]) -> Vec<f32> {
    buffers
        .iter()
        .flat_map(|b| {
            let m = b.map_readable().unwrap();
            m.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn collecting_sink(name: &str) -> (gst_app::AppSink, Arc<Mutex<Vec<gst::Buffer>>>) {
    let sink = gst_app::AppSink::builder().name(name).sync(false).build();
    let got = common::collect(&sink);
    (sink, got)
}

type OnWindow = Box<dyn Fn(&gst::Element, u64) + Send + Sync>;

struct Run<'a> {
    /// The fixture package (`foley` unless a test says otherwise).
    package: &'a str,
    frames: &'a [(u64, u64)],
    fps: &'a str,
    props: &'a [(&'a str, &'a str)],
    /// An existing soundtrack on `audio_sink`, from running time 0.
    existing: Option<Vec<f32>>,
    /// Request `audio_sink` but leave it unlinked.
    request_unlinked: bool,
    on_window: Option<OnWindow>,
}

impl<'a> Run<'a> {
    fn new(frames: &'a [(u64, u64)]) -> Self {
        Self {
            package: "foley",
            frames,
            fps: "25/1",
            props: &[],
            existing: None,
            request_unlinked: false,
            on_window: None,
        }
    }

    fn go(self) -> Output {
        let e = element_of(self.package, self.props);
        let pipeline = gst::Pipeline::new();
        let src = gst_app::AppSrc::builder()
            .caps(&video_caps(self.fps))
            .format(gst::Format::Time)
            .build();
        let (vsink, video) = collecting_sink("video");
        let (asink, audio) = collecting_sink("audio");
        pipeline
            .add_many([src.upcast_ref(), &e, vsink.upcast_ref(), asink.upcast_ref()])
            .unwrap();
        src.link(&e).unwrap();
        e.link_pads(Some("src"), &vsink, None).unwrap();
        e.link_pads(Some("audio_src"), &asink, None).unwrap();
        let existing_src = if let Some(samples) = &self.existing {
            let a = gst_app::AppSrc::builder()
                .caps(
                    &"audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1"
                        .parse()
                        .unwrap(),
                )
                .format(gst::Format::Time)
                .build();
            pipeline.add(&a).unwrap();
            let pad = e.request_pad_simple("audio_sink").unwrap();
            a.static_pad("src").unwrap().link(&pad).unwrap();
            Some((a, samples.clone()))
        } else {
            if self.request_unlinked {
                e.request_pad_simple("audio_sink").unwrap();
            }
            None
        };
        let windows = Arc::new(Mutex::new(Vec::new()));
        let bus = pipeline.bus().unwrap();
        {
            let windows = windows.clone();
            let on_window = self.on_window;
            bus.set_sync_handler(move |_, msg| {
                if let gst::MessageView::Element(m) = msg.view() {
                    if let Some(s) = m.structure().filter(|s| s.name() == "v2agen/window") {
                        windows.lock().unwrap().push(s.to_owned());
                        if let (Some(f), Some(el)) = (
                            &on_window,
                            msg.src().and_then(|s| s.downcast_ref::<gst::Element>()),
                        ) {
                            f(el, s.get::<u64>("window").unwrap());
                        }
                    }
                }
                gst::BusSyncReply::Pass
            });
        }
        pipeline.set_state(gst::State::Playing).unwrap();
        if let Some((a, samples)) = existing_src {
            for (k, chunk) in samples.chunks(1600).enumerate() {
                let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                let mut b = gst::Buffer::from_mut_slice(bytes);
                let first = k as u64 * 1600;
                let bm = b.get_mut().unwrap();
                bm.set_pts(gst::ClockTime::from_nseconds(first * 1_000_000_000 / RATE));
                a.push_buffer(b).unwrap();
            }
            a.end_of_stream().unwrap();
        }
        for (i, (pts, dur)) in self.frames.iter().enumerate() {
            if src.push_buffer(frame(i as u64, *pts, *dur)).is_err() {
                break;
            }
        }
        let _ = src.end_of_stream();
        let mut error = None;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(err) => {
                    error = Some(err.error().message().to_string());
                    break;
                }
                _ => {}
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        bus.unset_sync_handler();
        let video = std::mem::take(&mut *video.lock().unwrap());
        let audio = std::mem::take(&mut *audio.lock().unwrap());
        let windows = std::mem::take(&mut *windows.lock().unwrap());
        Output {
            video,
            audio,
            windows,
            error,
        }
    }
}

/// Records the buffers reaching `sink` since its last flush.
fn record_after_flush(sink: &gst::Element) -> Arc<Mutex<Vec<gst::Buffer>>> {
    let seen = Arc::new(Mutex::new(Vec::<gst::Buffer>::new()));
    let s = seen.clone();
    sink.static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_FLUSH,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => s.lock().unwrap().push(b.clone()),
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::FlushStop => {
                    s.lock().unwrap().clear()
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}

/// Waits for EOS (None) or an error (its text).
fn wait_end(bus: &gst::Bus) -> Option<String> {
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS or an error within 60 s");
    match msg.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

/// Audio must start at the first video PTS and run on counted samples without gaps.
#[track_caller]
fn assert_audio_timeline(out: &Output, start: u64) {
    let mut n = 0u64;
    for b in &out.audio {
        let pts = b.pts().unwrap().nseconds();
        assert_eq!(pts, start + n * 1_000_000_000 / RATE, "PTS at sample {n}");
        assert_eq!(b.offset(), n, "offset at sample {n}");
        let len = (b.size() / 4) as u64;
        let end = start + (n + len) * 1_000_000_000 / RATE;
        assert_eq!(b.duration().unwrap().nseconds(), end - pts);
        n += len;
    }
}

#[test]
fn passthrough_video_is_bit_identical_with_identical_timestamps() {
    let frames = timeline(60, 25, 1, 1_000_000_000);
    let out = Run::new(&frames).go();
    assert_eq!(out.error, None);
    assert_eq!(out.video.len(), frames.len());
    for (i, (b, (pts, dur))) in out.video.iter().zip(&frames).enumerate() {
        assert_eq!(b.pts().unwrap().nseconds(), *pts, "pts of frame {i}");
        assert_eq!(b.duration().unwrap().nseconds(), *dur);
        assert_eq!(&*b.map_readable().unwrap(), &pixels(i as u64)[..]);
    }
    assert_audio_timeline(&out, 1_000_000_000);
}

/// The harness view: both src pads of one element, buffers pushed by hand.
#[test]
fn harness_passthrough_and_soundtrack() {
    let e = element(&[]);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    let mut ha = Harness::with_element(&e, None, Some("audio_src"));
    h.set_src_caps(video_caps("25/1"));
    let frames = timeline(75, 25, 1, 0);
    for (i, (pts, dur)) in frames.iter().enumerate() {
        h.push(frame(i as u64, *pts, *dur)).unwrap();
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let mut video = Vec::new();
    while let Some(b) = h.pull_until_eos().unwrap() {
        video.push(b);
    }
    let mut samples = 0;
    while let Some(b) = ha.pull_until_eos().unwrap() {
        samples += b.size() / 4;
    }
    assert_eq!(video.len(), 75);
    for (i, b) in video.iter().enumerate() {
        assert_eq!(&*b.map_readable().unwrap(), &pixels(i as u64)[..]);
    }
    // 3 s of video → 48000 samples.
    assert_eq!(samples, 48_000);
    let caps = ha.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("format").unwrap(), "F32LE");
    assert_eq!(s.get::<i32>("rate").unwrap(), 16_000);
    assert_eq!(s.get::<i32>("channels").unwrap(), 1);
}

/// Sample count = video duration × rate (rounded down), for steady, NTSC, odd and variable
/// frame rates.
#[test]
fn soundtrack_length_matches_the_video_for_several_frame_rates() {
    let variable = variable_timeline(
        90,
        500_000_000,
        &[33_000_000, 41_000_000, 17_000_000, 66_000_000, 40_000_000],
    );
    let cases: Vec<(&str, Vec<(u64, u64)>)> = vec![
        ("25/1", timeline(50, 25, 1, 0)),
        ("24000/1001", timeline(100, 24_000, 1001, 0)),
        ("30000/1001", timeline(97, 30_000, 1001, 40_000_000)),
        ("7/1", timeline(30, 7, 1, 0)),
        ("0/1", variable),
    ];
    for (fps, frames) in cases {
        let mut run = Run::new(&frames);
        run.fps = fps;
        let out = run.go();
        assert_eq!(out.error, None, "{fps}");
        let first = frames[0].0;
        let (last, dur) = *frames.last().unwrap();
        let expected = (last + dur - first) * RATE / 1_000_000_000;
        assert_eq!(out.samples().len() as u64, expected, "{fps}");
        assert_audio_timeline(&out, first);
        let video_end = out.video.last().unwrap().pts().unwrap()
            + out.video.last().unwrap().duration().unwrap();
        let audio_end = out.audio.last().unwrap().pts().unwrap()
            + out.audio.last().unwrap().duration().unwrap();
        assert!(
            video_end.nseconds() - audio_end.nseconds() < 1_000_000_000 / RATE,
            "{fps}: audio ends at {audio_end}, video at {video_end}"
        );
    }
}

/// Sample-to-sample steps of `s`, split into those `at_seam` (by the index of the step's first
/// sample) and the rest; with the largest and the RMS of a list.
fn split_steps(s: &[f32], at_seam: impl Fn(usize) -> bool) -> (Vec<f32>, Vec<f32>) {
    let (mut seam, mut inner) = (Vec::new(), Vec::new());
    for i in 0..s.len() - 1 {
        let step = (s[i + 1] - s[i]).abs();
        if at_seam(i) {
            seam.push(step);
        } else {
            inner.push(step);
        }
    }
    (seam, inner)
}

fn largest(v: &[f32]) -> f32 {
    v.iter().copied().fold(0.0, f32::max)
}

fn rms(v: &[f32]) -> f32 {
    (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
}

/// Across a seam the waveform moves no more from one sample to the next than it does inside a
/// window: no click, no gap.
#[test]
fn seams_are_continuous() {
    let frames = timeline(200, 25, 1, 0); // 8 s: 4 windows, 3 seams
    let out = Run::new(&frames).go();
    assert_eq!(out.error, None);
    let s = out.samples();
    assert_eq!(s.len(), 8 * RATE as usize);
    let overlap = WINDOW - HOP;
    let (seam, inner) = split_steps(&s, |i| {
        (1..4).any(|j| {
            let start = j * HOP;
            i + 1 >= start && i <= start + overlap
        })
    });
    let max = largest;
    assert!(max(&inner) > 0.0, "silent output");
    // The fixture decodes noise-like audio: the seams' steps must look like the rest (a click
    // or a gap would stand out in the largest step or in the step energy).
    assert!(
        max(&seam) <= 1.1 * max(&inner),
        "largest step at a seam {}, inside windows {}",
        max(&seam),
        max(&inner)
    );
    let ratio = rms(&seam) / rms(&inner);
    assert!(
        (0.8..1.25).contains(&ratio),
        "step energy at seams / inside {ratio}"
    );
    // No run of exact silence (a gap) anywhere.
    assert!(
        s.windows(16).all(|w| w.iter().any(|v| *v != 0.0)),
        "a gap of silence"
    );
}

#[test]
fn same_seed_same_samples_other_seed_other_soundtrack() {
    let frames = timeline(60, 25, 1, 0);
    let run = |seed: &str| {
        let mut r = Run::new(&frames);
        let props = [("seed", seed), ("prompt", "rain on a tin roof")];
        r.props = &props;
        r.go().samples()
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    let b = run("8");
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b);
}

/// Window 1 and later follow a prompt set while window 0 was being reported; window 0's own
/// samples keep the first prompt.
#[test]
fn prompt_change_applies_from_the_next_window() {
    let frames = timeline(100, 25, 1, 0); // 4 s: windows at 0, 1.75, 3.5 s
    let with = |prompt: &'static str, switch: Option<&'static str>| {
        let mut r = Run::new(&frames);
        let props = [("prompt", prompt)];
        r.props = &props;
        if let Some(next) = switch {
            r.on_window = Some(Box::new(move |e, w| {
                if w == 0 {
                    e.set_property("prompt", next);
                }
            }));
        }
        r.go()
    };
    let a = with("dog barking", None).samples();
    let b = with("ocean waves", None).samples();
    let switched = with("dog barking", Some("ocean waves"));
    let s = switched.samples();
    assert_eq!(switched.windows.len(), 3);
    // Only window 0 made the first hop (minus nothing): identical to the all-A run.
    assert_eq!(&s[..HOP], &a[..HOP]);
    // Past window 1's overlap with window 0, only window 1 (prompt B) is heard.
    let w1_only = HOP + (WINDOW - HOP)..2 * HOP;
    assert_eq!(&s[w1_only.clone()], &b[w1_only.clone()]);
    assert_ne!(&s[w1_only.clone()], &a[w1_only]);
}

fn tone(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.25 * (i as f32 * 440.0 * std::f32::consts::TAU / RATE as f32).sin())
        .collect()
}

/// An existing soundtrack steers generation (negative audio guidance); requested but unlinked,
/// `audio_sink` changes nothing.
#[test]
fn existing_soundtrack_linked_and_unlinked() {
    existing_soundtrack_case("foley");
}

/// The same with a streaming package, whose hops hear the existing track over their context.
#[test]
fn streaming_existing_soundtrack_linked_and_unlinked() {
    existing_soundtrack_case("foley-stream");
}

fn existing_soundtrack_case(package: &'static str) {
    let frames = timeline(75, 25, 1, 0);
    let run = |frames| {
        let mut r = Run::new(frames);
        r.package = package;
        r
    };
    let plain = run(&frames).go();
    assert_eq!(plain.error, None);
    let mut unlinked = run(&frames);
    unlinked.request_unlinked = true;
    let unlinked = unlinked.go();
    assert_eq!(unlinked.error, None);
    assert_eq!(plain.samples(), unlinked.samples());

    let mut guided = run(&frames);
    guided.existing = Some(tone(3 * RATE as usize));
    let guided = guided.go();
    assert_eq!(guided.error, None);
    assert_eq!(guided.samples().len(), plain.samples().len());
    assert_ne!(
        guided.samples(),
        plain.samples(),
        "negative audio guidance had no effect"
    );

    // mix-existing adds the existing track, sample for sample.
    let mut mixed = run(&frames);
    mixed.existing = Some(tone(3 * RATE as usize));
    mixed.props = &[("mix-existing", "true")];
    let mixed = mixed.go();
    assert_eq!(mixed.error, None);
    let t = tone(3 * RATE as usize);
    for (i, (m, g)) in mixed.samples().iter().zip(guided.samples()).enumerate() {
        assert!(
            (m - (g + t[i])).abs() < 1e-6,
            "sample {i}: {m} vs {g} + {}",
            t[i]
        );
    }
}

/// A shorter existing soundtrack: windows past its end are generated without waiting.
#[test]
fn short_existing_soundtrack_does_not_stall() {
    let frames = timeline(100, 25, 1, 0);
    let mut r = Run::new(&frames);
    r.existing = Some(tone(RATE as usize / 2));
    r.props = &[("mix-existing", "true")];
    let out = r.go();
    assert_eq!(out.error, None);
    assert_eq!(out.samples().len(), 4 * RATE as usize);
}

#[test]
fn window_statistics_are_posted() {
    let frames = timeline(100, 25, 1, 0);
    let mut r = Run::new(&frames);
    r.props = &[("steps", "3")];
    let out = r.go();
    assert_eq!(out.windows.len(), 3);
    for (i, w) in out.windows.iter().enumerate() {
        assert_eq!(w.get::<u64>("window").unwrap(), i as u64);
        assert_eq!(w.get::<u32>("steps").unwrap(), 3);
        assert_eq!(
            w.get::<gst::ClockTime>("duration").unwrap(),
            gst::ClockTime::from_mseconds(1750)
        );
        assert!(w.get::<f64>("inference-ms").unwrap() > 0.0);
        assert!(w.get::<f64>("real-time-factor").unwrap() > 0.0);
    }
}

/// Step-by-step Foley: the second instance takes the first's soundtrack on `audio_sink` and
/// generates a track that avoids it; `audiomixer` mixes the two. The branch that bypasses the
/// second instance holds its latency (an unbounded queue), as any branch around a delaying
/// element must.
#[test]
fn two_stacked_instances_with_audiomixer() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=64,height=48,framerate=25/1 ! \
         v2agen name=a model={m} execution-provider={ep} prompt=rain ! \
         v2agen name=b model={m} execution-provider={ep} prompt=thunder ! fakesink sync=false \
         a.audio_src ! tee name=t ! queue ! b.audio_sink \
         t. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! mix.sink_0 \
         b.audio_src ! queue ! mix.sink_1 \
         audiomixer name=mix ! appsink name=out sync=false",
        m = fixture("foley").display()
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
    let mut samples = 0usize;
    while let Ok(s) = out.pull_sample() {
        samples += s.buffer().unwrap().size() / 4;
    }
    let bus = pipeline.bus().unwrap();
    let err = common::first_error(&bus);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(err, None);
    assert_eq!(samples, 3 * RATE as usize);
}

/// A flushing seek in the middle of generation: the soundtrack restarts at the new position and
/// covers exactly the rest of the video.
#[test]
fn flush_mid_window_restarts_at_the_seek_position() {
    flush_case("foley");
}

#[test]
fn streaming_flush_mid_hop_restarts_at_the_seek_position() {
    flush_case("foley-stream");
}

fn flush_case(package: &str) {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc ! video/x-raw,width=64,height=48,framerate=25/1 ! \
         v2agen name=g model={} execution-provider={ep} \
         g.src ! fakesink sync=false g.audio_src ! fakesink name=out sync=false",
        fixture(package).display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let seen = record_after_flush(&pipeline.by_name("out").unwrap());
    pipeline.set_state(gst::State::Paused).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(30));
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    // Seek once the first window is out (the second is being generated or queued).
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Element],
        )
        .expect("a window message");
    assert!(msg.structure().unwrap().name() == "v2agen/window");
    pipeline
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(2),
            gst::SeekType::Set,
            gst::ClockTime::from_seconds(6),
        )
        .unwrap();
    let err = wait_end(&bus);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(err, None);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].pts(), Some(gst::ClockTime::from_seconds(2)));
    let total: usize = seen.iter().map(|b| b.size() / 4).sum();
    assert_eq!(total, 4 * RATE as usize, "video from 2 s to 6 s");
}

#[test]
fn latency_is_window_plus_hop_in_live_pipelines() {
    // 2 s window + 1.75 s hop over videotestsrc's own (one frame).
    latency_case(&format!("model={}", fixture("foley").display()), 3750 + 40);
}

/// A streaming package: its hop, its lookahead and the budget of one hop (0.2 + 0.08 + 0.2 s).
#[test]
fn streaming_latency_is_two_hops_plus_lookahead() {
    latency_case(
        &format!("model={}", fixture("foley-stream").display()),
        480 + 40,
    );
}

/// The bundled package (no `model`) is the streaming one, within the 1.0 s: 0.2 s hop,
/// 0.4 s lookahead, one hop's budget.
#[test]
fn bundled_package_latency_is_under_one_second() {
    latency_case("", 800 + 40);
}

/// `model`: the element's model property (`model=DIR`), empty for the bundled package.
fn latency_case(model: &str, want_ms: u64) {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=25/1 ! \
         v2agen name=g {model} execution-provider={ep} \
         g.src ! fakesink name=v g.audio_src ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    let g = pipeline.by_name("g").unwrap();
    for pad in ["src", "audio_src"] {
        let mut q = gst::query::Latency::new();
        assert!(g.static_pad(pad).unwrap().query(&mut q));
        let (live, min, _) = q.result();
        assert!(live);
        assert_eq!(min, gst::ClockTime::from_mseconds(want_ms), "{pad}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let err = common::first_error(&pipeline.bus().unwrap());
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(err, None);
}

/// Plays `pipeline` until it posts an error; the error's text and debug string.
fn play_until_error(pipeline: &gst::Element) -> String {
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error])
        .expect("an error");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        _ => unreachable!(),
    }
}

#[test]
fn existing_soundtrack_at_another_rate_is_a_clear_error() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48 ! \
         v2agen name=g model={} execution-provider={ep} g.src ! fakesink g.audio_src ! fakesink \
         audiotestsrc num-buffers=10 ! audio/x-raw,format=F32LE,rate=44100,channels=1 ! g.audio_sink",
        fixture("foley").display()
    ))
    .unwrap();
    // Upstream cannot negotiate with what audio_sink offers (the model's rate).
    let dbg = play_until_error(pipeline.upcast_ref());
    assert!(dbg.contains("not-negotiated"), "{dbg}");

    // What audio_sink offers upstream: the model's rate, so audioresample can meet it.
    let e = element(&[]);
    let pipeline = gst::Pipeline::new();
    pipeline.add(&e).unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let pad = e.request_pad_simple("audio_sink").unwrap();
    let caps = pad.query_caps(None);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(!caps.is_empty());
    for s in caps.iter() {
        assert_eq!(s.get::<i32>("rate").unwrap(), 16_000, "{caps}");
    }
}

#[test]
fn audio_caps_refused_downstream_is_a_clear_error() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=60 ! video/x-raw,width=64,height=48 ! \
         v2agen name=g model={} execution-provider={ep} g.src ! fakesink \
         capsfilter name=f caps=audio/x-raw,format=S16LE ! fakesink",
        fixture("foley").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // Linked without the template check, as a mistaken application would.
    let audio = pipeline
        .by_name("g")
        .unwrap()
        .static_pad("audio_src")
        .unwrap();
    let filter = pipeline.by_name("f").unwrap().static_pad("sink").unwrap();
    audio
        .link_full(&filter, gst::PadLinkCheck::empty())
        .unwrap();
    let dbg = play_until_error(pipeline.upcast_ref());
    assert!(dbg.contains("downstream of audio_src refuses"), "{dbg}");
    assert!(dbg.contains("audioconvert"), "{dbg}");
}

#[test]
fn reverse_playback_and_buffers_before_caps_are_errors_not_panics() {
    let e = element(&[]);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    let _ha = Harness::with_element(&e, None, Some("audio_src"));
    h.play();
    // No caps yet.
    assert_eq!(
        h.push(frame(0, 0, 40_000_000)),
        Err(gst::FlowError::NotNegotiated)
    );

    let e = element(&[]);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    let _ha = Harness::with_element(&e, None, Some("audio_src"));
    h.set_src_caps(video_caps("25/1"));
    let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
    seg.set_rate(-1.0);
    let sink = e.static_pad("sink").unwrap();
    assert!(!sink.send_event(gst::event::Segment::new(&seg)));
}

/// Upstream stops with video partly covering a window: EOS still gives the exact length, and the
/// element reaches NULL from any state without hanging.
#[test]
fn state_changes_mid_stream_do_not_hang() {
    let e = element(&[]);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    let _ha = Harness::with_element(&e, None, Some("audio_src"));
    h.set_src_caps(video_caps("25/1"));
    for (i, (pts, dur)) in timeline(30, 25, 1, 0).iter().enumerate() {
        h.push(frame(i as u64, *pts, *dur)).unwrap();
    }
    e.set_state(gst::State::Null).unwrap();
}

/// (first PTS, end of the last buffer) of each appsink's stream.
fn extent(sink: &gst_app::AppSink) -> Option<(gst::ClockTime, gst::ClockTime)> {
    let mut range: Option<(gst::ClockTime, gst::ClockTime)> = None;
    while let Ok(s) = sink.pull_sample() {
        let b = s.buffer().unwrap();
        let (Some(pts), Some(dur)) = (b.pts(), b.duration()) else {
            continue;
        };
        let (lo, hi) = range.unwrap_or((pts, pts + dur));
        range = Some((lo.min(pts), hi.max(pts + dur)));
    }
    range
}

/// `filesrc ! decodebin ! v2agen ! ... qtmux` (raw audio, so no encoder delay blurs the figure): the file's audio and video start together and
/// are equally long (to the muxer's time resolution).
#[test]
fn muxed_file_has_equal_audio_and_video() {
    let ep = common::ep();
    init();
    let dir = std::env::temp_dir().join(format!("v2agen-mux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = dir.join("clip.mp4");
    let out = dir.join("out.mov");
    let run = |desc: String| {
        let p = gst::parse::launch(&desc).unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let err = wait_end(&p.bus().unwrap());
        p.set_state(gst::State::Null).unwrap();
        assert_eq!(err, None, "{desc}");
    };
    run(format!(
        "videotestsrc num-buffers=77 ! video/x-raw,width=64,height=48,framerate=24000/1001 ! \
         x264enc ! mp4mux ! filesink location={}",
        clip.display()
    ));
    // No B-frames: qtmux would shift the video's presentation times by the reordering delay
    // (an encoder/muxer matter, not v2agen's).
    run(format!(
        "filesrc location={clip} ! decodebin ! videoconvert ! \
         v2agen name=g model={m} execution-provider={ep} \
         g.src ! queue ! x264enc bframes=0 ! queue ! mux. \
         g.audio_src ! queue ! audioconvert ! audio/x-raw,format=S16LE ! queue ! mux. \
         qtmux name=mux ! filesink location={out}",
        clip = clip.display(),
        m = fixture("foley").display(),
        out = out.display()
    ));
    let p = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux name=d \
         d.video_0 ! queue ! appsink name=v sync=false \
         d.audio_0 ! queue ! appsink name=a sync=false",
        out.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = |n: &str| {
        p.by_name(n)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap()
    };
    let (v, a) = (sink("v"), sink("a"));
    p.set_state(gst::State::Playing).unwrap();
    let audio = std::thread::spawn(move || extent(&a));
    let video = extent(&v).expect("video in the file");
    let audio = audio.join().unwrap().expect("audio in the file");
    p.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let ms = gst::ClockTime::MSECOND;
    let close = |x: gst::ClockTime, y: gst::ClockTime| x.max(y) - x.min(y) <= ms;
    assert!(
        close(video.0, audio.0),
        "starts: video {video:?}, audio {audio:?}"
    );
    assert!(
        close(video.1, audio.1),
        "ends: video {video:?}, audio {audio:?}"
    );
    // 77 frames at 24000/1001.
    assert!(close(
        video.1 - video.0,
        gst::ClockTime::from_nseconds(77 * 1001 * 1_000_000_000 / 24_000)
    ));
}

/// The soundtrack after a flushing seek to `seek`, with a tone on `audio_sink` (`mix` decides
/// whether it is mixed in).
fn after_seek_with_existing(mix: bool, seek: gst::ClockTime) -> Vec<f32> {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc ! video/x-raw,width=64,height=48,framerate=25/1 ! \
         v2agen name=g model={} execution-provider={ep} mix-existing={mix} \
         g.src ! fakesink sync=false g.audio_src ! fakesink name=out sync=false \
         audiotestsrc freq=440 volume=0.5 samplesperbuffer=1024 ! \
         audio/x-raw,format=F32LE,rate=16000,channels=1 ! g.audio_sink",
        fixture("foley").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let seen = record_after_flush(&pipeline.by_name("out").unwrap());
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Element],
    )
    .expect("a window message");
    pipeline
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            seek,
            gst::SeekType::Set,
            seek + gst::ClockTime::from_seconds(3),
        )
        .unwrap();
    let err = wait_end(&bus);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(err, None);
    let seen = seen.lock().unwrap();
    f32_samples(&seen)
}

/// After a seek (to a time between two frames), the existing soundtrack is found again from the
/// first window on: mixing it in changes the output by exactly the tone, from the first sample.
#[test]
fn existing_soundtrack_follows_a_seek() {
    let seek = gst::ClockTime::from_mseconds(2_020);
    let plain = after_seek_with_existing(false, seek);
    let mixed = after_seek_with_existing(true, seek);
    assert_eq!(plain.len(), mixed.len());
    assert!(
        plain.len() >= 3 * RATE as usize - 1024,
        "{} samples",
        plain.len()
    );
    let diff: Vec<f32> = mixed.iter().zip(&plain).map(|(m, p)| m - p).collect();
    let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    // A 0.5-amplitude sine has an RMS of 0.35: present in the first 100 ms and the last second.
    let first = &diff[..1_600];
    assert!(
        (rms(first) - 0.354).abs() < 0.05,
        "first 100 ms: rms {}",
        rms(first)
    );
    let last = &diff[diff.len() - RATE as usize..];
    assert!(
        (rms(last) - 0.354).abs() < 0.05,
        "last second: rms {}",
        rms(last)
    );
}

/// Streaming fixture: 200 ms hops, 400 ms of context, 80 ms of lookahead.
const STREAM_HOP: usize = 3200;

/// A streaming package's soundtrack is sample-exact from the first video PTS to the video's
/// end, made hop by hop (one `v2agen/window` message of 200 ms each), for steady, NTSC and
/// variable frame rates.
#[test]
fn streaming_soundtrack_is_sample_exact_hop_by_hop() {
    let variable = variable_timeline(
        40,
        300_000_000,
        &[33_000_000, 41_000_000, 17_000_000, 66_000_000],
    );
    let cases: Vec<(&str, Vec<(u64, u64)>)> = vec![
        ("25/1", timeline(50, 25, 1, 0)),
        ("30000/1001", timeline(47, 30_000, 1001, 40_000_000)),
        ("0/1", variable),
    ];
    for (fps, frames) in cases {
        let mut run = Run::new(&frames);
        run.package = "foley-stream";
        run.fps = fps;
        let out = run.go();
        assert_eq!(out.error, None, "{fps}");
        let first = frames[0].0;
        let (last, dur) = *frames.last().unwrap();
        let expected = (last + dur - first) * RATE / 1_000_000_000;
        assert_eq!(out.samples().len() as u64, expected, "{fps}");
        assert_audio_timeline(&out, first);
        assert_eq!(
            out.windows.len() as u64,
            expected.div_ceil(STREAM_HOP as u64),
            "{fps}: one generation step per hop"
        );
        for w in &out.windows {
            assert_eq!(
                w.get::<gst::ClockTime>("duration").unwrap(),
                gst::ClockTime::from_mseconds(200)
            );
        }
    }
}

/// Hops continue each other with no crossfade: the steps at hop boundaries are no larger than
/// the steps inside hops (largest and energy; the fixture's are zero, since its decoder continues
/// the samples it is handed back), and the same seed gives the same soundtrack.
#[test]
fn streaming_hops_join_without_seams() {
    let frames = timeline(100, 25, 1, 0); // 4 s: 20 hops, 19 boundaries
    let run = |seed: &str| {
        let mut r = Run::new(&frames);
        r.package = "foley-stream";
        let props = [("seed", seed)];
        r.props = &props;
        r.go()
    };
    let out = run("3");
    assert_eq!(out.error, None);
    let s = out.samples();
    assert_eq!(s.len(), 4 * RATE as usize);
    assert_eq!(s, run("3").samples(), "same seed, same soundtrack");
    assert_ne!(s, run("4").samples());
    let (boundary, inner) = split_steps(&s, |i| (i + 1) % STREAM_HOP == 0);
    assert_eq!(boundary.len(), 19);
    let max = largest;
    assert!(max(&inner) > 0.0, "silent output");
    assert!(
        max(&boundary) <= max(&inner),
        "largest step at a hop boundary {}, inside hops {}",
        max(&boundary),
        max(&inner)
    );
    // 19 boundary steps against ~64000: a loose bound for sampling noise. (The fixture's decoder
    // starts each hop at the last sample it emitted, its previous_waveform, so its boundary
    // steps are zero: the runtime must hand it the samples it generated.)
    let ratio = rms(&boundary) / rms(&inner);
    assert!(ratio < 1.5, "step energy at boundaries / inside {ratio}");
    assert_eq!(
        rms(&boundary),
        0.0,
        "a hop does not start where the last one ended"
    );
}

/// In a live pipeline every audio buffer of a streaming package is out before its running time
/// plus the latency the element reports (so a synced sink plays it on time): the real delay,
/// measured at the sink as arrival minus running time, stays within the reported latency.
#[test]
fn streaming_live_audio_is_out_within_the_reported_latency() {
    let ep = common::ep();
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=64,height=48,framerate=25/1 ! \
         v2agen name=g model={} execution-provider={ep} \
         g.src ! fakesink sync=false g.audio_src ! appsink name=out sync=false",
        fixture("foley-stream").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let delays = Arc::new(Mutex::new(Vec::<u64>::new()));
    let d = delays.clone();
    let clocked = pipeline.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let (Some(buffer), Some(segment)) = (sample.buffer(), sample.segment()) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let segment = segment.downcast_ref::<gst::ClockTime>().unwrap();
                let running = segment.to_running_time(buffer.pts().unwrap()).unwrap();
                if let (Some(clock), Some(base)) = (clocked.clock(), clocked.base_time()) {
                    let now = clock.time().saturating_sub(base);
                    d.lock()
                        .unwrap()
                        .push(now.saturating_sub(running).nseconds());
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // The latency the element reports on its soundtrack pad (with videotestsrc's own).
    let mut q = gst::query::Latency::new();
    let g = pipeline.by_name("g").unwrap();
    assert!(g.static_pad("audio_src").unwrap().query(&mut q));
    let (_, latency, _) = q.result();
    let err = common::first_error(&pipeline.bus().unwrap());
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(err, None);
    let delays = delays.lock().unwrap();
    assert!(delays.len() >= 40, "{} audio buffers in 3 s", delays.len());
    let worst = *delays.iter().max().unwrap();
    eprintln!(
        "live delay: worst {} ms, median {} ms over {} buffers; reported latency {latency}",
        worst / 1_000_000,
        delays[delays.len() / 2] / 1_000_000,
        delays.len()
    );
    assert!(latency <= gst::ClockTime::from_mseconds(520));
    assert!(
        worst <= latency.nseconds(),
        "an audio buffer left {} ms after its running time; the reported latency is {latency}",
        worst / 1_000_000
    );
}
