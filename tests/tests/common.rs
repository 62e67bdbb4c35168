//! Helpers for whole-element tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst init");
        gstmirage::plugin_register_static().expect("register mirage");
        gstv2a::plugin_register_static().expect("register v2a");
    });
}

/// The `execution-provider` the element tests use: `GST_GENERATIVE_TEST_PROVIDER` (`cpu`,
/// `cuda`, `tensorrt` or `auto`; `cpu` when unset), so that `scripts/gpu-check.sh` runs the
/// same tests on a GPU.
pub fn ep() -> &'static str {
    static EP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    EP.get_or_init(|| {
        let name = std::env::var("GST_GENERATIVE_TEST_PROVIDER").unwrap_or_else(|_| "cpu".into());
        assert!(
            ["cpu", "cuda", "tensorrt", "auto"].contains(&name.as_str()),
            "GST_GENERATIVE_TEST_PROVIDER={name}: expected cpu, cuda, tensorrt or auto"
        );
        name
    })
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/fixtures")
        .join(name)
}

/// Puts `element` in a pipeline, asks for READY and returns the error text posted, if any,
/// together with every `Progress` message type seen.
pub fn go_ready(element: &gst::Element) -> (Result<(), String>, Vec<gst::ProgressType>) {
    let pipeline = gst::Pipeline::new();
    pipeline.add(element).unwrap();
    let bus = pipeline.bus().unwrap();
    let result = pipeline.set_state(gst::State::Ready);
    let mut progress = Vec::new();
    let mut error = None;
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Progress(p) => progress.push(p.get().0),
            gst::MessageView::Error(e) => error = Some(e.error().message().to_string()),
            _ => {}
        }
    }
    let outcome = match (result, error) {
        (Ok(_), None) => Ok(()),
        (Ok(_), Some(e)) => Err(format!(
            "state change succeeded but an error was posted: {e}"
        )),
        (Err(_), Some(e)) => Err(e),
        (Err(_), None) => Err("state change failed without an error message".into()),
    };
    pipeline.set_state(gst::State::Null).unwrap();
    (outcome, progress)
}

/// The text of the first error message on `bus`, if any.
pub fn first_error(bus: &gst::Bus) -> Option<String> {
    std::iter::from_fn(|| bus.pop()).find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().message().to_string()),
        _ => None,
    })
}

/// Every buffer that reaches `sink`, in order: its samples are pulled as they come.
pub fn collect(sink: &gst_app::AppSink) -> Arc<Mutex<Vec<gst::Buffer>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer_owned().ok_or(gst::FlowError::Error)?;
                g.lock().unwrap().push(buffer);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    got
}

/// The bytes of `buffers`, one after the other.
pub fn bytes(buffers: &[gst::Buffer]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in buffers {
        out.extend_from_slice(&b.map_readable().expect("readable buffer"));
    }
    out
}
