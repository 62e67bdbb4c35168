//! Both elements with `inference-server=` against a real Triton Inference Server: the same
//! frames and samples as in-process, and clear errors at READY when the server is wrong.

mod common;
#[path = "../../diffusion-runtime/tests/triton/mod.rs"]
mod triton;

use std::sync::{Arc, Mutex};

use common::{fixture, go_ready, init};
use gst::prelude::*;
use triton::Triton;

/// The buffers that reached an appsink, in order.
type Collected = Arc<Mutex<Vec<gst::Buffer>>>;

/// `launch` as a pipeline, with what reaches its appsink `out` collected.
fn with_collecting_sink(launch: &str) -> (gst::Pipeline, Collected) {
    let pipeline = gst::parse::launch(launch).expect("pipeline");
    let pipeline = pipeline.downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let got = common::collect(&sink);
    (pipeline, got)
}

/// Runs `launch` to EOS and returns the bytes that reached the appsink `out`.
fn output_bytes(launch: &str) -> Vec<u8> {
    let (pipeline, got) = with_collecting_sink(launch);
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS or an error within 60 s");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{launch}: {}", e.error());
    }
    let out = common::bytes(&got.lock().unwrap());
    out
}

fn foley(server: Option<&str>) -> Vec<u8> {
    foley_with(&fixture("foley"), server)
}

fn foley_with(model: &std::path::Path, server: Option<&str>) -> Vec<u8> {
    output_bytes(&format!(
        "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=64,height=48,framerate=25/1 \
         ! v2agen name=g model={} seed=7 prompt=rain {} g.src ! fakesink \
         g.audio_src ! appsink name=out sync=false",
        model.display(),
        server
            .map(|s| format!("inference-server={s}"))
            .unwrap_or_default()
    ))
}

fn presenter(server: Option<&str>) -> Vec<u8> {
    presenter_with(&fixture("presenter"), 30, server)
}

fn presenter_with(model: &std::path::Path, buffers: u32, server: Option<&str>) -> Vec<u8> {
    output_bytes(&format!(
        "audiotestsrc num-buffers={buffers} samplesperbuffer=1600 wave=sine freq=220 \
         ! audio/x-raw,format=F32LE,rate=16000,channels=1 \
         ! miragegen model={} seed=3 {} ! appsink name=out sync=false",
        model.display(),
        server
            .map(|s| format!("inference-server={s}"))
            .unwrap_or_default()
    ))
}

#[test]
fn both_elements_on_triton_match_in_process() {
    init();
    let server = Triton::start("elements", &[&fixture("foley"), &fixture("presenter")]);
    let url = server.url();
    let remote = foley(Some(&url));
    assert_eq!(remote.len(), 3 * 16_000 * 4, "3 s of mono f32 at 16 kHz");
    let local = foley(None);
    let samples = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let audio_diff = triton::max_diff(&samples(&remote), &samples(&local));
    // Bit for bit on the server's ONNX Runtime release; the ORT matrix runs older ones here.
    let (audio_tolerance, frame_tolerance) = triton::tolerances();
    assert!(
        audio_diff <= audio_tolerance,
        "v2agen's soundtrack differs from in-process by {audio_diff}"
    );
    let remote = presenter(Some(&url));
    let local = presenter(None);
    assert!(!remote.is_empty());
    let frame_diff = triton::max_byte_diff(&remote, &local);
    assert!(
        frame_diff <= frame_tolerance,
        "miragegen's frames differ from in-process by {frame_diff}"
    );

    // Several instances at once against the one server (its dynamic batcher may combine their
    // denoiser calls): each gives what it gives alone.
    for run in [foley, presenter] {
        let alone = run(Some(&url));
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || run(Some(&url)))
            })
            .collect();
        for r in runs {
            assert!(r.join().unwrap() == alone, "a concurrent stream differs");
        }
    }
}

/// The bundled packages too (what users run): the same soundtrack and frames on the server.
#[test]
fn bundled_packages_on_triton_match_in_process() {
    init();
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let (foley, presenter) = (models.join("foley"), models.join("presenter"));
    let server = Triton::start("bundled", &[&foley, &presenter]);
    let url = server.url();
    let (audio_tolerance, frame_tolerance) = triton::bundled_tolerances();
    let samples = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let remote = foley_with(&foley, Some(&url));
    let local = foley_with(&foley, None);
    assert_eq!(remote.len(), local.len());
    assert!(!remote.is_empty());
    let audio_diff = triton::max_diff(&samples(&remote), &samples(&local));
    eprintln!("bundled foley: remote vs in-process max |diff| {audio_diff}");
    assert!(
        audio_diff <= audio_tolerance,
        "bundled foley on the server differs by {audio_diff}"
    );
    // 1 s of speech-band tone: 25 frames of 512×512.
    let remote = presenter_with(&presenter, 10, Some(&url));
    let local = presenter_with(&presenter, 10, None);
    assert_eq!(remote.len(), local.len());
    assert!(!remote.is_empty());
    let frame_diff = triton::max_byte_diff(&remote, &local);
    eprintln!("bundled presenter: remote vs in-process max |diff| {frame_diff} levels");
    assert!(
        frame_diff <= frame_tolerance,
        "bundled presenter on the server differs by {frame_diff}"
    );
}

#[test]
fn a_wrong_server_is_a_clear_error_at_ready() {
    init();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for factory in ["v2agen", "miragegen"] {
        let model = fixture(if factory == "v2agen" {
            "foley"
        } else {
            "presenter"
        });
        for (url, want) in [
            (format!("grpc://127.0.0.1:{closed}"), "unreachable"),
            (
                "http://127.0.0.1:8000".to_string(),
                "expected grpc://host:port",
            ),
        ] {
            let e = gst::ElementFactory::make(factory)
                .property("model", model.to_str().unwrap())
                .property("inference-server", url.as_str())
                .property("inference-timeout-ms", 300u32)
                .build()
                .unwrap();
            let start = std::time::Instant::now();
            let (result, _) = go_ready(&e);
            let err = result.unwrap_err();
            assert!(
                err.contains(want) && err.contains(&url),
                "{factory} {url}: {err}"
            );
            assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
        }
    }
}

#[test]
fn properties_default_to_in_process() {
    init();
    for factory in ["v2agen", "miragegen"] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        assert_eq!(e.property::<Option<String>>("inference-server"), None);
        assert_eq!(e.property::<u32>("inference-timeout-ms"), 10_000);
        e.set_property("inference-server", "grpc://h:8001");
        e.set_property("inference-timeout-ms", 250u32);
        assert_eq!(
            e.property::<Option<String>>("inference-server").as_deref(),
            Some("grpc://h:8001")
        );
        assert_eq!(e.property::<u32>("inference-timeout-ms"), 250);
    }
}

/// What a live pipeline posted while its server went away and came back.
struct LiveRun {
    buffers: usize,
    bytes: usize,
    warnings: Vec<String>,
    errors: Vec<String>,
    /// Seconds since start of each stats message with a real inference (> 0 ms).
    rendered_at: Vec<f64>,
}

/// Runs `launch` (live, 12 s, ending by itself) while the server is killed at 2 s and restarted
/// on the same port at 4 s (it takes a few seconds to load its models); `stats` is the
/// element's per-chunk or per-window message.
fn live_through_outage(server: &mut Triton, launch: &str, stats: &str) -> LiveRun {
    let (pipeline, got) = with_collecting_sink(launch);
    let bus = pipeline.bus().unwrap();
    let start = std::time::Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut run = LiveRun {
        buffers: 0,
        bytes: 0,
        warnings: Vec::new(),
        errors: Vec::new(),
        rendered_at: Vec::new(),
    };
    let (mut killed, mut restarted) = (false, false);
    loop {
        let t = start.elapsed().as_secs_f64();
        if !killed && t > 2.0 {
            server.stop();
            killed = true;
        }
        if killed && !restarted && t > 4.0 {
            server.restart();
            restarted = true;
        }
        assert!(t < 60.0, "the live pipeline did not end within 60 s");
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                run.errors.push(format!(
                    "{}: {}",
                    e.error(),
                    e.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
                break;
            }
            gst::MessageView::Warning(w) => run.warnings.push(format!(
                "{}: {}",
                w.error(),
                w.debug().map(|d| d.to_string()).unwrap_or_default()
            )),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == stats) {
                    if s.get::<f64>("inference-ms").unwrap_or(0.0) > 0.0 {
                        run.rendered_at.push(start.elapsed().as_secs_f64());
                    }
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let g = got.lock().unwrap();
    run.buffers = g.len();
    run.bytes = g.iter().map(|b| b.size()).sum();
    run
}

/// Live pipelines ride through a server outage: miragegen holds its last frame, v2agen gives
/// silence, both keep the clock's pace, warn once, and render again once the server is back.
#[test]
fn live_elements_ride_through_a_server_restart() {
    init();
    let mut server = Triton::start("outage", &[&fixture("foley"), &fixture("presenter")]);
    let url = server.url();
    let run = live_through_outage(
        &mut server,
        &format!(
            "audiotestsrc is-live=true wave=sine freq=220 samplesperbuffer=640 num-buffers=300 \
             ! audio/x-raw,format=F32LE,rate=16000,channels=1 \
             ! miragegen model={} inference-server={url} inference-timeout-ms=500 \
             ! appsink name=out sync=true",
            fixture("presenter").display()
        ),
        "miragegen/chunk",
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("holding the last frame")),
        "{:?}",
        run.warnings
    );
    assert!(
        (295..=305).contains(&run.buffers),
        "12 s at 25 fps: {} frames",
        run.buffers
    );
    assert!(
        run.rendered_at.iter().any(|&t| t > 4.5),
        "no chunk rendered after the restart: {:?}",
        run.rendered_at
    );

    let run = live_through_outage(
        &mut server,
        &format!(
            "videotestsrc is-live=true num-buffers=300 ! video/x-raw,width=64,height=48,framerate=25/1 \
             ! v2agen name=g model={} inference-server={url} inference-timeout-ms=500 \
             g.src ! fakesink sync=true g.audio_src ! appsink name=out sync=true",
            fixture("foley").display()
        ),
        "v2agen/window",
    );
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert!(
        run.warnings.iter().any(|w| w.contains("silence until")),
        "{:?}",
        run.warnings
    );
    assert_eq!(run.bytes, 12 * 16_000 * 4, "12 s of mono f32, sample-exact");
    assert!(
        run.rendered_at.iter().any(|&t| t > 4.5),
        "no window generated after the restart: {:?}",
        run.rendered_at
    );
}
