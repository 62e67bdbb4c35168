//! miragegen end to end on the fixture presenter package: exact frame counts and timestamps,
//! segments, EOS, gaps, timestamp jumps, flushes, seeds, latency, statistics and errors.

mod common;

use common::{first_error, fixture, init};
use gst::prelude::*;
use gst_check::Harness;

const RATE: u64 = 16_000;
const FPS: u64 = 25;

fn element(props: &[(&str, &str)]) -> gst::Element {
    init();
    let e = gst::ElementFactory::make("miragegen")
        .property("model", fixture("presenter").to_str().unwrap())
        .property_from_str("execution-provider", common::ep())
        .build()
        .unwrap();
    for (k, v) in props {
        e.set_property_from_str(k, v);
    }
    e
}

fn harness(props: &[(&str, &str)]) -> Harness {
    let e = element(props);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps_str("audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1");
    h
}

fn ns(samples: u64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(samples * 1_000_000_000 / RATE)
}

/// A buffer of `n` samples of a 220 Hz tone starting at sample `first` (PTS from the count).
fn audio(first: u64, n: u64, base: gst::ClockTime) -> gst::Buffer {
    let bytes: Vec<u8> = (first..first + n)
        .flat_map(|i| {
            (0.3 * (i as f32 * 220.0 * std::f32::consts::TAU / RATE as f32).sin()).to_le_bytes()
        })
        .collect();
    let mut b = gst::Buffer::from_mut_slice(bytes);
    let bm = b.get_mut().unwrap();
    bm.set_pts(base + ns(first));
    bm.set_duration(ns(first + n) - ns(first));
    b
}

fn push_audio(h: &mut Harness, first: u64, total: u64, buffer: u64, base: gst::ClockTime) {
    let mut pushed = 0;
    while pushed < total {
        let n = buffer.min(total - pushed);
        h.push(audio(first + pushed, n, base)).unwrap();
        pushed += n;
    }
}

/// Sends EOS and collects every frame until EOS comes out.
fn finish(h: &mut Harness) -> Vec<gst::Buffer> {
    assert!(h.push_event(gst::event::Eos::new()));
    let mut frames = Vec::new();
    while let Some(b) = h.pull_until_eos().unwrap() {
        frames.push(b);
    }
    frames
}

fn frame_start(n: u64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(n * 1_000_000_000 / FPS)
}

/// Frame n must be at base + n·T with duration T (exact integer arithmetic).
#[track_caller]
fn assert_timeline(frames: &[gst::Buffer], base: gst::ClockTime, count: u64) {
    assert_eq!(frames.len() as u64, count, "frame count");
    for (n, b) in frames.iter().enumerate() {
        let n = n as u64;
        assert_eq!(b.pts(), Some(base + frame_start(n)), "PTS of frame {n}");
        assert_eq!(
            b.duration(),
            Some(frame_start(n + 1) - frame_start(n)),
            "duration of frame {n}"
        );
        assert_eq!(b.size(), 64 * 64 * 3, "RGB 64×64");
    }
}

fn covering_frames(samples: u64) -> u64 {
    (samples * FPS).div_ceil(RATE)
}

#[test]
fn exact_frames_for_any_length_and_buffer_size() {
    for total in [1u64, 639, 640, 4_800, 16_000, 16_001, 40_000] {
        for buffer in [160u64, 1024, 16_000] {
            let mut h = harness(&[]);
            push_audio(&mut h, 0, total, buffer, gst::ClockTime::ZERO);
            let frames = finish(&mut h);
            assert_timeline(&frames, gst::ClockTime::ZERO, covering_frames(total));
        }
    }
}

#[test]
fn non_zero_segment_start() {
    let mut h = harness(&[]);
    let base = gst::ClockTime::from_seconds(10);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(base);
    segment.set_time(base);
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    push_audio(&mut h, 0, 8_000, 800, base);
    let frames = finish(&mut h);
    assert_timeline(&frames, base, 13);
}

#[test]
fn gaps_and_timestamp_jumps_give_idle_frames_not_missing_ones() {
    // 0.2 s of audio, a 0.5 s GAP event, 0.3 s more: 1 s of frames with no hole.
    let mut h = harness(&[]);
    push_audio(&mut h, 0, 3_200, 320, gst::ClockTime::ZERO);
    assert!(h.push_event(
        gst::event::Gap::builder(ns(3_200))
            .duration(ns(8_000) - ns(3_200))
            .build()
    ));
    push_audio(&mut h, 11_200, 4_800, 320, gst::ClockTime::ZERO);
    let frames = finish(&mut h);
    assert_timeline(&frames, gst::ClockTime::ZERO, 25);

    // A DISCONT buffer 0.4 s after the previous one ends: silence in between.
    let mut h = harness(&[]);
    push_audio(&mut h, 0, 4_000, 400, gst::ClockTime::ZERO);
    let mut late = audio(10_400, 5_600, gst::ClockTime::ZERO);
    late.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
    h.push(late).unwrap();
    let frames = finish(&mut h);
    assert_timeline(&frames, gst::ClockTime::ZERO, 25);
}

#[test]
fn flush_mid_chunk_drops_stale_work() {
    let mut h = harness(&[("steps", "50")]);
    // 1 s of audio: chunks in the queue and one being generated when the flush comes.
    push_audio(&mut h, 0, 16_000, 800, gst::ClockTime::ZERO);
    let first = h.pull().unwrap();
    assert_eq!(first.pts(), Some(gst::ClockTime::ZERO));
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    // Whatever came out before the flush is in the harness already: set it aside.
    while h.try_pull().is_some() {}
    let base = gst::ClockTime::from_seconds(5);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(base);
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    push_audio(&mut h, 0, 8_000, 800, base);
    let frames = finish(&mut h);
    // Only the new stream's frames, on the new timeline, starting with DISCONT.
    assert_timeline(&frames, base, 13);
    assert!(frames[0].flags().contains(gst::BufferFlags::DISCONT));
}

fn frame_bytes(seed: &str) -> Vec<u8> {
    let mut h = harness(&[("seed", seed)]);
    push_audio(&mut h, 0, 16_000, 1_600, gst::ClockTime::ZERO);
    finish(&mut h)
        .iter()
        .flat_map(|b| b.map_readable().unwrap().as_slice().to_vec())
        .collect()
}

#[test]
fn same_seed_same_frames_other_seed_other_frames() {
    let a = frame_bytes("7");
    assert_eq!(a, frame_bytes("7"));
    let c = frame_bytes("8");
    assert_eq!(a.len(), c.len());
    assert_ne!(a, c);
}

#[test]
fn latency_is_chunk_plus_lookahead_plus_budget() {
    let mut h = harness(&[]);
    push_audio(&mut h, 0, 640, 640, gst::ClockTime::ZERO);
    // (10 + 2) frames of algorithm + 10 frames of processing budget at 25 fps.
    assert_eq!(h.query_latency(), Some(gst::ClockTime::from_mseconds(880)));
}

/// A pipeline with a bus: statistics messages, caps errors and other rates through
/// audioresample.
fn run_pipeline(launch: &str) -> (Vec<gst::Message>, u64) {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline.by_name("out").unwrap();
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = frames.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut messages = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        let end = matches!(msg.type_(), gst::MessageType::Eos | gst::MessageType::Error);
        messages.push(msg);
        if end {
            break;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (messages, frames.load(std::sync::atomic::Ordering::Relaxed))
}

fn launch_sync(source: &str) -> String {
    let ep = common::ep();
    format!(
        "{source} ! miragegen model={} execution-provider={ep} ! fakesink name=out sync=true qos=true",
        fixture("presenter").display()
    )
}

fn launch(source: &str) -> String {
    let ep = common::ep();
    format!(
        "{source} ! miragegen model={} execution-provider={ep} ! fakesink name=out",
        fixture("presenter").display()
    )
}

#[test]
fn other_sample_rates_through_audioresample() {
    for rate in [8_000u64, 44_100, 48_000] {
        // 1.5 s at `rate`, in buffers of 1000 samples: 38 frames (ceil(1.5 · 25)).
        let src = format!(
            "audiotestsrc num-buffers={} samplesperbuffer=1000 ! audio/x-raw,rate={rate} ! audioconvert ! audioresample",
            rate * 3 / 2 / 1000
        );
        let (messages, frames) = run_pipeline(&launch(&src));
        assert!(
            messages.iter().any(|m| m.type_() == gst::MessageType::Eos),
            "{rate} Hz: no EOS"
        );
        let seconds = (rate * 3 / 2 / 1000 * 1000) as f64 / rate as f64;
        assert_eq!(frames, (seconds * FPS as f64).ceil() as u64, "{rate} Hz");
    }
}

#[test]
fn statistics_message_per_chunk() {
    let (messages, frames) = run_pipeline(&launch(
        "audiotestsrc num-buffers=25 samplesperbuffer=640 ! audio/x-raw,rate=16000",
    ));
    assert_eq!(frames, 25);
    let stats: Vec<_> = messages
        .iter()
        .filter_map(|m| match m.view() {
            gst::MessageView::Element(e) => e
                .structure()
                .filter(|s| s.name() == "miragegen/chunk")
                .map(|s| s.to_owned()),
            _ => None,
        })
        .collect();
    // 25 frames in chunks of 10: 10 + 10 + 5.
    let counts: Vec<u32> = stats
        .iter()
        .map(|s| s.get::<u32>("frames").unwrap())
        .collect();
    assert_eq!(counts, vec![10, 10, 5]);
    for s in &stats {
        assert_eq!(s.get::<u32>("steps").unwrap(), 4, "the package default");
        assert!(s.get::<f64>("inference-ms").unwrap() > 0.0);
        assert!(s.get::<f64>("real-time-factor").unwrap() > 0.0);
    }
}

/// Caps the model cannot take are refused at negotiation (`not-negotiated` upstream), and the
/// element's debug log says what it needs.
#[test]
fn caps_the_model_cannot_take_are_not_negotiated() {
    let e = element(&[]);
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = logs.clone();
    let cat = gst::DebugCategory::get("miragegen").expect("category registered with the element");
    cat.set_threshold(gst::DebugLevel::Debug);
    let log_fn = gst::log::add_log_function(move |cat, _level, _file, _func, _line, _obj, msg| {
        if cat.name() == "miragegen" {
            if let Some(m) = msg.get() {
                sink.lock().unwrap().push(m.to_string());
            }
        }
    });
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps_str("audio/x-raw,format=F32LE,layout=interleaved,rate=44100,channels=1");
    assert_eq!(
        h.push(audio(0, 441, gst::ClockTime::ZERO)),
        Err(gst::FlowError::NotNegotiated)
    );
    gst::log::remove_log_function(log_fn);
    cat.reset_threshold();
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains("the model needs audio/x-raw")
                && l.contains("rate=(int)16000")
                && l.contains("insert audioconvert ! audioresample")),
        "{logs:#?}"
    );
}

/// Live: when audio stops arriving, the presenter keeps idling in real time (frames keep coming
/// from the clock) instead of freezing until more audio or EOS.
#[test]
fn live_stall_keeps_idling_in_real_time() {
    let ep = common::ep();
    use gst::prelude::*;
    init();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src is-live=true do-timestamp=true format=time \
         caps=audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1 \
         ! miragegen model={} execution-provider={ep} ! fakesink name=out sync=true",
        fixture("presenter").display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = frames.clone();
    pipeline
        .by_name("out")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let src = pipeline.by_name("src").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // 0.48 s of audio at real-time pace (one chunk plus lookahead), then silence from the source.
    for i in 0..12u64 {
        let b = audio(i * 640, 640, gst::ClockTime::ZERO);
        let mut b = b.copy();
        b.get_mut().unwrap().set_pts(gst::ClockTime::NONE);
        assert_eq!(
            src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&b]),
            gst::FlowReturn::Ok
        );
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let during_stall = frames.load(std::sync::atomic::Ordering::Relaxed);
    pipeline.set_state(gst::State::Null).unwrap();
    eprintln!("{during_stall} frames by 3 s with 0.48 s of audio");
    // 3 s since the start, minus ~0.9 s of latency and one chunk of stall threshold: well over
    // the 10 frames the 0.48 s of real audio alone would give.
    assert!(
        during_stall >= 30,
        "only {during_stall} frames while the audio stalled"
    );
}

/// A pipeline from `launch` and its appsink named `out`.
fn appsink_pipeline(launch: &str) -> (gst::Pipeline, gst_app::AppSink) {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    (pipeline, sink)
}

/// Writes `seconds` of a test tone as a 16 kHz mono WAV file.
fn wav_file(seconds: u64) -> std::path::PathBuf {
    init();
    let path = std::env::temp_dir().join(format!(
        "miragegen-test-{}-{seconds}.wav",
        std::process::id()
    ));
    let launch = format!(
        "audiotestsrc num-buffers={} samplesperbuffer=1600 ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! wavenc ! filesink location={}",
        seconds * 10,
        path.display()
    );
    let p = gst::parse::launch(&launch).unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos])
        .expect("wav written");
    p.set_state(gst::State::Null).unwrap();
    path
}

/// A flushing seek in a file pipeline: the frames that follow start at the seek position, on
/// the new segment, with nothing from before the seek.
#[test]
fn seek_restarts_on_the_new_segment() {
    let ep = common::ep();
    let wav = wav_file(3);
    let (pipeline, sink) = appsink_pipeline(&format!(
        "filesrc location={} ! wavparse ! miragegen model={} execution-provider={ep} ! appsink name=out sync=false",
        wav.display(),
        fixture("presenter").display()
    ));
    pipeline.set_state(gst::State::Paused).unwrap();
    assert_eq!(
        pipeline.state(gst::ClockTime::from_seconds(30)).1,
        gst::State::Paused
    );
    pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::ClockTime::from_seconds(1),
        )
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut pts = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        pts.push(sample.buffer().unwrap().pts().unwrap());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_file(&wav);
    // 2 s from the seek position to the end: 50 frames from 1 s on, 40 ms apart.
    assert_eq!(pts.len(), 50, "{pts:?}");
    for (n, t) in pts.iter().enumerate() {
        assert_eq!(
            *t,
            gst::ClockTime::from_seconds(1) + frame_start(n as u64),
            "frame {n}"
        );
    }
}

#[test]
fn s16le_input_and_avatar_from_an_image_file() {
    let avatar = fixture("presenter").join("avatars/default.png");
    let e = element(&[("avatar", avatar.to_str().unwrap())]);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps_str("audio/x-raw,format=S16LE,layout=interleaved,rate=16000,channels=1");
    let bytes: Vec<u8> = (0..8_000i16)
        .flat_map(|i| (i % 200 * 50).to_le_bytes())
        .collect();
    let mut b = gst::Buffer::from_mut_slice(bytes);
    b.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    h.push(b).unwrap();
    let frames = finish(&mut h);
    assert_timeline(&frames, gst::ClockTime::ZERO, 13);
}

#[test]
fn unknown_avatar_is_an_error_naming_the_choices() {
    let e = element(&[("avatar", "nobody")]);
    let pipeline = gst::Pipeline::new();
    pipeline.add(&e).unwrap();
    assert!(pipeline.set_state(gst::State::Paused).is_err());
    let bus = pipeline.bus().unwrap();
    let err = first_error(&bus).expect("an error message");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        err.contains("\"nobody\" is neither an avatar of the package (default) nor an image file"),
        "{err}"
    );
}

/// Chunks join without a jump: the mean frame-to-frame change across chunk boundaries is no
/// larger than within chunks (measured over 4 s of speech-like audio, fixed seed).
#[test]
fn chunk_boundaries_are_not_visible_jumps() {
    let mut h = harness(&[("seed", "3")]);
    push_audio(&mut h, 0, 64_000, 1_600, gst::ClockTime::ZERO);
    let frames: Vec<Vec<u8>> = finish(&mut h)
        .iter()
        .map(|b| b.map_readable().unwrap().as_slice().to_vec())
        .collect();
    let change = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).abs())
            .sum::<f64>()
            / a.len() as f64
    };
    let (mut at, mut within) = (Vec::new(), Vec::new());
    for n in 1..frames.len() {
        let d = change(&frames[n - 1], &frames[n]);
        if n % 10 == 0 {
            at.push(d)
        } else {
            within.push(d)
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (at, within) = (mean(&at), mean(&within));
    eprintln!("mean frame-to-frame change: {at:.3} at chunk boundaries, {within:.3} within chunks");
    assert!(at <= within, "boundaries {at:.3} vs within {within:.3}");
}

/// A live source synced to the clock: every frame arrives in time (no QoS "late" drops at the
/// sink) and the count is exact.
#[test]
fn live_pipeline_plays_in_sync_without_late_drops() {
    let (messages, frames) = run_pipeline(&launch_sync(
        "audiotestsrc is-live=true num-buffers=100 samplesperbuffer=320 ! audio/x-raw,rate=16000",
    ));
    assert!(messages.iter().any(|m| m.type_() == gst::MessageType::Eos));
    let qos = messages
        .iter()
        .filter(|m| m.type_() == gst::MessageType::Qos)
        .count();
    assert_eq!(qos, 0, "late frames dropped at the sink");
    // 100 × 20 ms = 2 s: 50 frames.
    assert_eq!(frames, 50);
}

#[test]
fn rgba_when_downstream_asks_for_it() {
    let ep = common::ep();
    init();
    let (pipeline, sink) = appsink_pipeline(&format!(
        "audiotestsrc num-buffers=10 samplesperbuffer=400 ! audio/x-raw,rate=16000 \
         ! miragegen model={} execution-provider={ep} ! video/x-raw,format=RGBA ! appsink name=out sync=false",
        fixture("presenter").display()
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        assert_eq!(map.len(), 64 * 64 * 4);
        assert!(map.chunks_exact(4).all(|px| px[3] == 255), "opaque alpha");
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames, 7); // 4000 samples = 0.25 s
}

#[test]
fn buffers_without_timestamps_follow_the_segment() {
    let mut h = harness(&[]);
    let base = gst::ClockTime::from_seconds(2);
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(base);
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    for i in 0..16u64 {
        let mut b = audio(i * 1_000, 1_000, gst::ClockTime::ZERO);
        let bm = b.get_mut().unwrap();
        bm.set_pts(gst::ClockTime::NONE);
        bm.set_duration(gst::ClockTime::NONE);
        h.push(b).unwrap();
    }
    // The same segment again mid-stream is the same timeline: no reset, no extra frames.
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    let frames = finish(&mut h);
    assert_timeline(&frames, base, 25);
}

#[test]
fn eos_without_audio_ends_without_frames() {
    let mut h = harness(&[]);
    assert!(finish(&mut h).is_empty());
}
