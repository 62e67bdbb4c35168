//! Both plugin files, `libgstmirage.so` and `libgstv2a.so`, loaded into one process as
//! GStreamer loads them (not the rlibs this test crate links, which are never registered here):
//! each carries its own copy of the runtime's statics, and still the process maps one ONNX
//! Runtime library, even when the second element asks for another copy of it.

use std::path::PathBuf;

use gst::prelude::*;

/// A plugin file: from `GST_GENERATIVE_PLUGIN_DIR`, else the newest of `target/debug` and
/// `target/release` (`scripts/setup.sh` builds the release ones before the tests run; cargo
/// builds no cdylib for a test's dependencies).
fn plugin_file(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("GST_GENERATIVE_PLUGIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join(name))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| {
            panic!("{name} not built: run scripts/setup.sh (or cargo build --release)")
        })
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn both_plugin_files_share_one_onnx_runtime() {
    gst::init().unwrap();
    for file in ["libgstmirage.so", "libgstv2a.so"] {
        gst::Plugin::load_file(plugin_file(file)).expect("plugin loads");
    }
    // A second copy of the library under another name: what a second ort-library would load.
    let setup = diffusion_runtime::ort_env::candidates(None)
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| p.is_file())
        .expect("ONNX Runtime installed by scripts/setup.sh");
    let other_dir = std::env::temp_dir().join(format!("two-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = other_dir.join("libonnxruntime.so.1");
    std::fs::copy(&setup, &other).unwrap();

    let mirage = gst::ElementFactory::make("miragegen")
        .property("model", fixture("presenter"))
        .property("ort-library", setup.display().to_string())
        .build()
        .unwrap();
    let v2a = gst::ElementFactory::make("v2agen")
        .property("model", fixture("foley"))
        .property("ort-library", other.display().to_string())
        .build()
        .unwrap();
    // The elements come from the plugin files, not from this binary.
    for e in [&mirage, &v2a] {
        let plugin = e.factory().unwrap().plugin().unwrap();
        assert!(
            plugin.filename().is_some(),
            "{} is not from a file",
            e.name()
        );
    }
    mirage.set_state(gst::State::Ready).unwrap();
    v2a.set_state(gst::State::Ready).unwrap();
    let mapped = diffusion_runtime::ort_env::mapped_libraries();
    v2a.set_state(gst::State::Null).unwrap();
    mirage.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_dir_all(&other_dir);
    assert_eq!(mapped.len(), 1, "ONNX Runtime libraries mapped: {mapped:?}");
    assert_eq!(mapped[0], setup.canonicalize().unwrap());
}
