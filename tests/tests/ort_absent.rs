//! Without ONNX Runtime the plugins still register and the elements can be made and inspected;
//! asking one to start gives an error naming what was tried. Alone in its test binary: nothing
//! here may load a real ONNX Runtime.

mod common;

use common::{fixture, go_ready, init};
use gst::prelude::*;

#[test]
fn elements_work_without_onnx_runtime_until_they_start() {
    init();
    for factory in ["miragegen", "v2agen"] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        assert!(e.list_properties().len() > 10);
    }
    let e = gst::ElementFactory::make("miragegen")
        .property("model", fixture("presenter").to_str().unwrap())
        .property("ort-library", "/nonexistent/libonnxruntime.so")
        .build()
        .unwrap();
    let msg = go_ready(&e).0.unwrap_err();
    assert!(msg.starts_with("could not load ONNX Runtime"), "{msg}");
    assert!(
        msg.contains("/nonexistent/libonnxruntime.so (property ort-library): no such file"),
        "{msg}"
    );
    assert!(msg.contains("Fix: run scripts/setup.sh"), "{msg}");
}
