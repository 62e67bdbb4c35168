//! Both elements with `inference-server=` against a real Triton Inference Server: the same
//! frames and samples as in-process, and clear errors at READY when the server is wrong.

mod common;
#[path = "../../diffusion-runtime/tests/triton/mod.rs"]
mod triton;

use std::sync::{Arc, Mutex};

use common::{fixture, go_ready, init};
use gst::prelude::*;
use triton::Triton;

/// Runs `launch` to EOS and returns the bytes that reached the appsink `out`.
fn output_bytes(launch: &str) -> Vec<u8> {
    let pipeline = gst::parse::launch(launch).expect("pipeline");
    let pipeline = pipeline.downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                g.lock().unwrap().extend_from_slice(&map);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
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
    let out = got.lock().unwrap().clone();
    out
}

fn foley(server: Option<&str>) -> Vec<u8> {
    output_bytes(&format!(
        "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=64,height=48,framerate=25/1 \
         ! v2agen name=g model={} seed=7 prompt=rain {} g.src ! fakesink \
         g.audio_src ! appsink name=out sync=false",
        fixture("foley").display(),
        server
            .map(|s| format!("inference-server={s}"))
            .unwrap_or_default()
    ))
}

fn presenter(server: Option<&str>) -> Vec<u8> {
    output_bytes(&format!(
        "audiotestsrc num-buffers=30 samplesperbuffer=1600 wave=sine freq=220 \
         ! audio/x-raw,format=F32LE,rate=16000,channels=1 \
         ! miragegen model={} seed=3 {} ! appsink name=out sync=false",
        fixture("presenter").display(),
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
    assert!(
        remote == foley(None),
        "v2agen's soundtrack differs from in-process"
    );
    let remote = presenter(Some(&url));
    assert!(!remote.is_empty());
    assert!(
        remote == presenter(None),
        "miragegen's frames differ from in-process"
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
