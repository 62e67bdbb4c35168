//! Without ONNX Runtime the plugins still register and the elements can be made and inspected;
//! asking one to start gives an error naming what was tried. Alone in its test binary: nothing
//! here may load a real ONNX Runtime.

mod common;

use common::{fixture, go_ready, init};
use gst::prelude::*;

#[test]
fn elements_work_without_onnx_runtime_until_they_start() {
    init();
    for (factory, props) in [
        ("miragegen", 16), // 14 own + name, parent
        ("v2agen", 17),    // 15 own + name, parent
    ] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        assert_eq!(e.list_properties().len(), props, "{factory}");
        assert_eq!(e.pads().len(), if factory == "v2agen" { 3 } else { 2 });
    }
    // Registering the plugins and making elements never loads ONNX Runtime.
    assert!(diffusion_runtime::ort_env::loaded().is_none());
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
    assert!(
        msg.contains("Fix: point the ort-library property at a libonnxruntime.so 1.20 or newer"),
        "{msg}"
    );
    assert!(diffusion_runtime::ort_env::loaded().is_none());

    // Graphs on an inference server need no ONNX Runtime here: the element gets as far as the
    // server (none listens on this port) without loading it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = gst::ElementFactory::make("v2agen")
        .property("model", fixture("foley").to_str().unwrap())
        .property("inference-server", format!("grpc://127.0.0.1:{port}"))
        .property("inference-timeout-ms", 200u32)
        .build()
        .unwrap();
    let msg = go_ready(&e).0.unwrap_err();
    assert!(msg.contains("unreachable"), "{msg}");
    assert!(diffusion_runtime::ort_env::loaded().is_none());
}
