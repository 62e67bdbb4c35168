//! Both elements: registration, pads, properties and model loading at READY.

mod common;

use common::{fixture, go_ready, init};
use gst::prelude::*;

#[track_caller]
fn assert_properties(factory: &str, names: &[&str]) {
    let e = gst::ElementFactory::make(factory).build().unwrap();
    for n in names {
        let p = e
            .find_property(n)
            .unwrap_or_else(|| panic!("{factory} lacks property {n}"));
        assert!(
            !p.blurb().unwrap_or_default().is_empty(),
            "{factory}:{n} has no blurb"
        );
    }
}

#[test]
fn miragegen_pads_and_properties() {
    init();
    assert_properties(
        "miragegen",
        &[
            "model",
            "avatar",
            "steps",
            "guidance-scale",
            "seed",
            "execution-provider",
            "device-id",
            "engine-cache-dir",
            "ort-library",
            "adaptive-steps",
            "min-steps",
        ],
    );
    let e = gst::ElementFactory::make("miragegen").build().unwrap();
    let sink = e.static_pad("sink").unwrap();
    let src = e.static_pad("src").unwrap();
    assert!(sink
        .pad_template_caps()
        .iter()
        .all(|s| s.name() == "audio/x-raw"));
    assert!(src
        .pad_template_caps()
        .iter()
        .all(|s| s.name() == "video/x-raw"));
    // Defaults come from the package: 0 steps / negative guidance mean "package default".
    assert_eq!(e.property::<u32>("steps"), 0);
    assert_eq!(e.property::<f64>("guidance-scale"), -1.0);
    e.set_property_from_str("execution-provider", "cpu");
    let v = e.property_value("execution-provider");
    assert_eq!(
        glib::EnumValue::from_value(&v).map(|(_, ev)| ev.nick()),
        Some("cpu")
    );
}

#[test]
fn v2agen_pads_and_properties() {
    init();
    assert_properties(
        "v2agen",
        &[
            "model",
            "prompt",
            "negative-prompt",
            "guidance-scale",
            "negative-audio-scale",
            "steps",
            "seed",
            "mix-existing",
            "execution-provider",
            "device-id",
            "engine-cache-dir",
            "ort-library",
        ],
    );
    let e = gst::ElementFactory::make("v2agen").build().unwrap();
    for p in ["sink", "src", "audio_src"] {
        assert!(e.static_pad(p).is_some(), "no {p} pad");
    }
    e.set_property_from_str("execution-provider", "tensorrt");
    let v = e.property_value("execution-provider");
    assert_eq!(
        glib::EnumValue::from_value(&v).map(|(_, ev)| ev.nick()),
        Some("tensorrt")
    );
    e.set_property("engine-cache-dir", "/tmp/engines");
    assert_eq!(e.property::<String>("engine-cache-dir"), "/tmp/engines");
    e.set_property("device-id", 3u32);
    assert_eq!(e.property::<u32>("device-id"), 3);
    let pad = e
        .request_pad_simple("audio_sink")
        .expect("audio_sink request pad");
    assert_eq!(pad.name(), "audio_sink");
    e.release_request_pad(&pad);
    assert!(e.static_pad("audio_sink").is_none());
    assert!(
        e.request_pad_simple("audio_sink").is_some(),
        "can request again after release"
    );
}

#[test]
fn both_elements_load_their_bundled_package_by_default() {
    init();
    // models/presenter and models/foley; the foley prompt encoder comes from scripts/setup.sh
    // (models/foley/fetch-text-encoder.sh).
    for factory in ["miragegen", "v2agen"] {
        let e = gst::ElementFactory::make(factory).build().unwrap();
        let (r, _) = go_ready(&e);
        r.unwrap_or_else(|m| panic!("{factory} with no model property: {m}"));
    }
}

#[test]
fn fixture_packages_load_at_ready_with_progress() {
    init();
    for (factory, pkg) in [("miragegen", "presenter"), ("v2agen", "foley")] {
        let e = gst::ElementFactory::make(factory)
            .property("model", fixture(pkg).to_str().unwrap())
            .property_from_str("execution-provider", common::ep())
            .build()
            .unwrap();
        let (r, progress) = go_ready(&e);
        r.unwrap_or_else(|m| panic!("{factory}: {m}"));
        assert_eq!(
            progress.first(),
            Some(&gst::ProgressType::Start),
            "{factory}: {progress:?}"
        );
        assert_eq!(
            progress.last(),
            Some(&gst::ProgressType::Complete),
            "{factory}: {progress:?}"
        );
        assert!(
            progress
                .iter()
                .filter(|p| **p == gst::ProgressType::Continue)
                .count()
                >= 3
        );
    }
}

/// A package missing one of its graphs, and a package of the other task, fail at READY with
/// errors that name the file and the field.
#[test]
fn broken_package_and_wrong_task_fail_at_ready() {
    init();
    for (factory, own, missing, other, task_error) in [
        (
            "miragegen",
            "presenter",
            ": decoder.onnx: graph[2].file: file not found in the package",
            "foley",
            "package.task: is \"video-to-audio\", this element needs \"audio-to-video\"",
        ),
        (
            "v2agen",
            "foley",
            ": text_encoder.onnx: graph[2].file: file not found in the package",
            "presenter",
            "package.task: is \"audio-to-video\", this element needs \"video-to-audio\"",
        ),
    ] {
        let dir =
            std::env::temp_dir().join(format!("gst-generative-{factory}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let missing_file = missing.split(':').nth(1).unwrap().trim();
        for entry in std::fs::read_dir(fixture(own)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().unwrap() != missing_file {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        let e = gst::ElementFactory::make(factory)
            .property("model", dir.to_str().unwrap())
            .build()
            .unwrap();
        let msg = go_ready(&e).0.unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(msg.contains(missing), "{factory}: {msg}");

        let e = gst::ElementFactory::make(factory)
            .property("model", fixture(other).to_str().unwrap())
            .build()
            .unwrap();
        let msg = go_ready(&e).0.unwrap_err();
        assert!(msg.contains(task_error), "{factory}: {msg}");
    }
}
