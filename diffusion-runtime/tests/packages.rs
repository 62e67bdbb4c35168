//! Model packages: the fixtures open and load; each kind of broken package gives a one-line
//! error naming the package, the file and the problem.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{fixtures, load_ort};
use diffusion_runtime::package::{LoadEvent, LoadedPackage, ModelPackage, Role, Task, Timing};
use diffusion_runtime::sampler::SamplerKind;

/// A private copy of a fixture package to break.
fn copy_fixture(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dst = std::env::temp_dir().join(format!(
        "gst-generative-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dst);
    common::copy_dir(&fixtures().join(name), &dst);
    dst
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let p = dir.join("model.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "fixture manifest lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// Opens and loads the package; returns the error line.
#[track_caller]
fn load_error(dir: &Path) -> String {
    load_ort();
    let result = ModelPackage::open(dir)
        .map_err(diffusion_runtime::Error::from)
        .and_then(|p| LoadedPackage::load(p, &common::provider(), &mut |_| {}));
    let msg = match result {
        Ok(_) => panic!("package {} loaded but should not have", dir.display()),
        Err(e) => e.to_string(),
    };
    assert!(!msg.contains('\n'), "error is not one line: {msg}");
    assert!(
        msg.starts_with(&format!("model package {}: ", dir.display())),
        "error does not name the package: {msg}"
    );
    let _ = std::fs::remove_dir_all(dir);
    msg
}

#[track_caller]
fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{p:?} missing from: {msg}");
    }
}

#[test]
fn fixture_packages_open_and_load() {
    load_ort();
    let presenter = ModelPackage::open(&fixtures().join("presenter")).unwrap();
    assert_eq!(presenter.task, Task::AudioToVideo);
    assert_eq!(presenter.latent_shape, vec![10, 6]);
    assert!(
        matches!(presenter.timing, Timing::Chunk(c) if c.chunk_frames == 10 && c.lookahead_frames == 2
            && c.seam_frames == c.context_frames),
        "seam_frames defaults to context_frames"
    );
    assert_eq!(presenter.default_avatar.as_deref(), Some("default"));
    let mut events = Vec::new();
    let loaded =
        LoadedPackage::load(presenter, &common::provider(), &mut |e| events.push(e)).unwrap();
    assert_eq!(loaded.graphs.len(), 3);
    let loaded_events = events
        .iter()
        .filter(|e| matches!(e, LoadEvent::Loaded { .. }))
        .count();
    assert_eq!(loaded_events, 3);

    let foley = ModelPackage::open(&fixtures().join("foley")).unwrap();
    assert_eq!(foley.task, Task::VideoToAudio);
    assert_eq!(foley.graphs_with(Role::VideoEncoder).count(), 2);
    assert!(foley
        .tokenizer
        .as_ref()
        .unwrap()
        .ends_with("tokenizer.json"));
    let foley = LoadedPackage::load(foley, &common::provider(), &mut |_| {}).unwrap();
    let (_, io) = foley.denoiser_io().unwrap();
    assert_eq!(
        (io.latent.as_str(), io.prediction.as_str()),
        ("x", "velocity")
    );
}

#[test]
fn broken_toml_names_the_line() {
    let d = copy_fixture("presenter");
    edit_manifest(&d, "[latent]", "[latent");
    assert_has(&load_error(&d), &["model.toml: line 27: unclosed table"]);
}

#[test]
fn unknown_field_is_rejected() {
    let d = copy_fixture("presenter");
    edit_manifest(&d, "steps = 4", "stepz = 4");
    assert_has(&load_error(&d), &["model.toml", "unknown field `stepz`"]);
}

#[test]
fn missing_graph_file() {
    let d = copy_fixture("presenter");
    std::fs::remove_file(d.join("denoiser.onnx")).unwrap();
    assert_has(
        &load_error(&d),
        &[": denoiser.onnx: graph[1].file: file not found in the package"],
    );
}

#[test]
fn wrong_input_name() {
    let d = copy_fixture("presenter");
    edit_manifest(&d, r#"name = "x""#, r#"name = "noisy""#);
    assert_has(
        &load_error(&d),
        &[": denoiser.onnx: graph[1].inputs[0].name: the graph has no input \"noisy\" (it has: x, t, audio, prev)"],
    );
}

#[test]
fn wrong_dtype_and_rank() {
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        r#"name = "t", dtype = "float32""#,
        r#"name = "t", dtype = "int64""#,
    );
    assert_has(&load_error(&d), &["denoiser.onnx: graph[1].inputs[1].dtype: \"t\" is float32 in the graph, the manifest says int64"]);
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        r#"shape = ["batch", 16]"#,
        r#"shape = ["batch", 16, 1]"#,
    );
    assert_has(
        &load_error(&d),
        &["denoiser.onnx: graph[", "has rank 2 in the graph"],
    );
}

#[test]
fn undeclared_graph_input() {
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        "  { slot = \"previous_motion\", name = \"prev\", dtype = \"float32\", shape = [\"batch\", 2, 6] },\n",
        "",
    );
    assert_has(
        &load_error(&d),
        &["denoiser.onnx: graph[1].inputs: graph input \"prev\" is not declared"],
    );
}

#[test]
fn path_escaping_the_package() {
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        r#"file = "decoder.onnx""#,
        r#"file = "../presenter/decoder.onnx""#,
    );
    assert_has(
        &load_error(&d),
        &["model.toml: graph[2].file: path \"../presenter/decoder.onnx\" contains '..'"],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, r#"file = "decoder.onnx""#, r#"file = "/etc/passwd""#);
    assert_has(
        &load_error(&d),
        &["graph[2].file: path \"/etc/passwd\" is absolute"],
    );
    let d = copy_fixture("presenter");
    std::os::unix::fs::symlink(
        fixtures().join("presenter/decoder.onnx"),
        d.join("outside.onnx"),
    )
    .unwrap();
    edit_manifest(&d, r#"file = "decoder.onnx""#, r#"file = "outside.onnx""#);
    assert_has(
        &load_error(&d),
        &["graph[2].file: path \"outside.onnx\" leads outside the package directory"],
    );
}

#[test]
fn corrupted_onnx_file() {
    let d = copy_fixture("presenter");
    let p = d.join("audio_encoder.onnx");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.truncate(bytes.len() / 2);
    bytes.extend_from_slice(b"\xff\xff garbage");
    std::fs::write(&p, bytes).unwrap();
    assert_has(
        &load_error(&d),
        &[": audio_encoder.onnx: graph[0].file: cannot load graph on CPU: "],
    );
}

#[test]
fn unknown_task_role_and_slot() {
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        r#"task = "audio-to-video""#,
        r#"task = "text-to-video""#,
    );
    assert_has(
        &load_error(&d),
        &["model.toml: package.task: unknown value \"text-to-video\""],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, r#"role = "decoder""#, r#"role = "vocoder""#);
    assert_has(
        &load_error(&d),
        &["model.toml: graph[2].role: unknown value \"vocoder\""],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, r#"slot = "previous_motion""#, r#"slot = "past""#);
    assert_has(
        &load_error(&d),
        &["graph[1].inputs[3].slot: unknown slot \"past\" for denoiser"],
    );
    let d = copy_fixture("foley");
    edit_manifest(&d, r#"slot = "video:sync""#, r#"slot = "video:flow""#);
    assert_has(&load_error(&d), &["no video_encoder named \"flow\""]);
}

#[test]
fn sampler_settings_out_of_range() {
    for (from, to, expect) in [
        (
            "steps = 4",
            "steps = 0",
            "sampler.steps: 0 is out of range 1..=1000",
        ),
        (
            "guidance_scale = 1.0",
            "guidance_scale = -2.0",
            "sampler.guidance_scale: -2 is out of range",
        ),
        ("eta = 0.0", "eta = 1.5", "sampler.eta: 1.5 is out of range"),
        (
            "beta_end = 0.02",
            "beta_end = 0.00001",
            "sampler.beta_start: need 0 < beta_start",
        ),
        (
            r#"prediction = "eps""#,
            r#"prediction = "velocity""#,
            "sampler.prediction: unknown value \"velocity\"",
        ),
        (
            "steps = 4",
            "steps = 2000",
            "sampler.steps: 2000 is out of range",
        ),
        (
            "train_steps = 1000\n",
            "",
            "sampler.train_steps: missing (required for ddim)",
        ),
        (
            "lookahead_frames = 2",
            "lookahead_frames = 2\nseam_frames = 11",
            "timing.seam_frames: 11 is out of range 0..=10",
        ),
        (
            "default_avatar = \"default\"\n",
            "",
            "assets.default_avatar: missing: the graphs take a reference portrait",
        ),
    ] {
        let d = copy_fixture("presenter");
        edit_manifest(&d, from, to);
        assert_has(&load_error(&d), &["model.toml: ", expect]);
    }
    let d = copy_fixture("foley");
    edit_manifest(&d, r#"prediction = "velocity""#, r#"prediction = "eps""#);
    assert_has(
        &load_error(&d),
        &["sampler.prediction", "flow-euler models predict velocity"],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, "eta = 0.0", "eta = 0.0\ntime_shift = 3.0");
    assert_has(
        &load_error(&d),
        &["sampler.time_shift: applies to flow-euler only"],
    );
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        r#"kind = "flow-euler""#,
        "kind = \"flow-euler\"\ntime_shift = 0.0",
    );
    assert_has(
        &load_error(&d),
        &["sampler.time_shift: 0 is outside 0.1..=20"],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, "eta = 0.0", "eta = 0.0\nnoise_scale = 0.5");
    assert_has(
        &load_error(&d),
        &["sampler.noise_scale: applies to flow-euler only"],
    );
    for bad in ["1.5", "-0.1", "nan"] {
        let d = copy_fixture("foley");
        edit_manifest(
            &d,
            r#"kind = "flow-euler""#,
            &format!("kind = \"flow-euler\"\nnoise_scale = {bad}"),
        );
        assert_has(
            &load_error(&d),
            &["sampler.noise_scale: ", "is outside 0..=1"],
        );
    }
}

#[test]
fn flow_time_shift_and_noise_scale_are_read_from_the_manifest() {
    let d = copy_fixture("foley");
    let kind = |d: &Path| ModelPackage::open(d).unwrap().sampler.kind;
    assert_eq!(
        kind(&d),
        SamplerKind::FlowEuler {
            shift: 1.0,
            noise_scale: 1.0
        },
        "default: uniform"
    );
    edit_manifest(
        &d,
        r#"kind = "flow-euler""#,
        "kind = \"flow-euler\"\ntime_shift = 3.0",
    );
    assert_eq!(
        kind(&d),
        SamplerKind::FlowEuler {
            shift: 3.0,
            noise_scale: 1.0
        }
    );
    edit_manifest(
        &d,
        "time_shift = 3.0",
        "time_shift = 3.0\nnoise_scale = 0.6",
    );
    assert_eq!(
        kind(&d),
        SamplerKind::FlowEuler {
            shift: 3.0,
            noise_scale: 0.6
        }
    );
}

#[test]
fn latent_shape_must_match_denoiser() {
    let d = copy_fixture("presenter");
    edit_manifest(&d, "shape = [10, 6]", "shape = [12, 6]");
    assert_has(
        &load_error(&d),
        &[
            "model.toml: graph[1].inputs[0].shape: [\"batch\", 10, 6] disagrees with latent.shape [12, 6]",
        ],
    );
}

#[test]
fn missing_manifest_and_required_role() {
    let d = copy_fixture("presenter");
    std::fs::remove_file(d.join("model.toml")).unwrap();
    assert_has(
        &load_error(&d),
        &["model.toml: -: cannot read the manifest"],
    );
    let d = copy_fixture("presenter");
    let p = d.join("model.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let decoder = text.find("[[graph]]\nrole = \"decoder\"").unwrap();
    std::fs::write(&p, &text[..decoder]).unwrap();
    assert_has(
        &load_error(&d),
        &["model.toml: graph: missing a graph with role \"decoder\""],
    );
}

#[test]
fn slot_types_batch_and_rates_are_checked() {
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        r#"name = "x", dtype = "float32""#,
        r#"name = "x", dtype = "uint8""#,
    );
    assert_has(
        &load_error(&d),
        &["model.toml: graph[", "].inputs[0].dtype: uint8 is not accepted for slot \"latent\" of denoiser (expected float32)"],
    );
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        r#"name = "t", dtype = "float32""#,
        r#"name = "t", dtype = "int64""#,
    );
    assert_has(
        &load_error(&d),
        &["].inputs[1].dtype: flow-euler feeds t in [0, 1): the timestep must be float32"],
    );
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        r#"name = "prev", dtype = "float32", shape = ["batch""#,
        r#"name = "prev", dtype = "float32", shape = [1"#,
    );
    assert_has(
        &load_error(&d),
        &["graph[1].inputs[3].shape: \"prev\": dimension 0 must be the symbolic batch"],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, r#"fps = "25/1""#, r#"fps = "25/99999999999""#);
    assert_has(
        &load_error(&d),
        &["model.toml: video.fps: \"25/99999999999\" is not a positive fraction"],
    );
    let d = copy_fixture("presenter");
    edit_manifest(&d, "shape = [10, 6]", "shape = [100000, 100000]");
    assert_has(
        &load_error(&d),
        &["latent.shape: [100000, 100000] has more than 67108864 elements"],
    );
    let d = copy_fixture("foley");
    edit_manifest(&d, "overlap_ms = 250", "overlap_ms = 4294967295");
    assert_has(
        &load_error(&d),
        &["timing.overlap_ms: 4294967295 must be less than half the window"],
    );
}

#[test]
fn server_names_and_versions_are_checked() {
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        "file = \"denoiser.onnx\"",
        "file = \"denoiser.onnx\"\nserver_model = \"../escape\"",
    );
    assert_has(&load_error(&d), &["server_model", "is not a model name"]);
    let d = copy_fixture("presenter");
    edit_manifest(
        &d,
        "file = \"denoiser.onnx\"",
        "file = \"denoiser.onnx\"\nserver_version = 0",
    );
    assert_has(&load_error(&d), &["server_version", "versions start at 1"]);
    // A reference encoder with neither a portrait nor reference features.
    let d = copy_fixture("presenter");
    std::fs::copy(d.join("decoder.onnx"), d.join("encoder.onnx")).unwrap();
    let p = d.join("model.toml");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(
        "\n[[graph]]\nrole = \"reference_encoder\"\nfile = \"encoder.onnx\"\ninputs = [\n  { slot = \"image\", name = \"reference_image\", dtype = \"float32\", shape = [64, 64, 3] },\n]\noutputs = [\n  { slot = \"status\", name = \"frames\", dtype = \"int64\", shape = [1] },\n]\n",
    );
    std::fs::write(&p, text).unwrap();
    assert_has(
        &load_error(&d),
        &["needs a \"portrait\" or a \"reference\" output"],
    );
}

/// A streaming video-to-audio package: hop, context and lookahead, and `previous_latent` on the
/// denoiser and the decoder at the context's length.
#[test]
fn streaming_package_opens_and_loads() {
    load_ort();
    let p = ModelPackage::open(&fixtures().join("foley-stream")).unwrap();
    assert!(
        matches!(p.timing, Timing::Stream(t) if t.hop_ms == 200 && t.context_ms == 400
            && t.lookahead_ms == 80),
        "{:?}",
        p.timing
    );
    for role in [Role::Denoiser, Role::Decoder] {
        assert!(p.graph(role).unwrap().input("previous_latent").is_some());
    }
    assert!(p
        .graph(Role::Decoder)
        .unwrap()
        .input("previous_waveform")
        .is_some());
    LoadedPackage::load(p, &common::provider(), &mut |_| {}).unwrap();
}

/// `previous_waveform`: a fixed number of samples, at most the context, streaming only.
#[test]
fn broken_previous_waveform_is_named() {
    let wave = r#"name = "prev_wave", dtype = "float32", shape = ["batch", 160]"#;
    // 400 ms of context at 16 kHz is 6400 samples.
    let d = copy_fixture("foley-stream");
    edit_manifest(
        &d,
        wave,
        r#"name = "prev_wave", dtype = "float32", shape = ["batch", 6401]"#,
    );
    assert_has(
        &load_error(&d),
        &["graph[4].inputs[2].shape: [\"batch\", 6401] must be [batch, n]: n samples, fixed, from 1 to the context's 6400 (400 ms at 16000 Hz)"],
    );
    let d = copy_fixture("foley-stream");
    edit_manifest(
        &d,
        wave,
        r#"name = "prev_wave", dtype = "float32", shape = ["batch", "n"]"#,
    );
    assert_has(&load_error(&d), &["must be [batch, n]: n samples, fixed"]);
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        r#"  { slot = "latent", name = "latent", dtype = "float32", shape = ["batch", 8, 50] },
]
outputs = [
  { slot = "waveform""#,
        r#"  { slot = "latent", name = "latent", dtype = "float32", shape = ["batch", 8, 50] },
  { slot = "previous_waveform", name = "prev_wave", dtype = "float32", shape = ["batch", 160] },
]
outputs = [
  { slot = "waveform""#,
    );
    assert_has(
        &load_error(&d),
        &["previous_waveform is for streaming packages (timing.hop_ms)"],
    );
}

#[test]
fn broken_streaming_timing_is_named() {
    let d = copy_fixture("foley-stream");
    edit_manifest(&d, "hop_ms = 200", "hop_ms = 200\nwindow_ms = 2000");
    assert_has(
        &load_error(&d),
        &["model.toml: timing.window_ms: a streaming package (timing.hop_ms) has no windows"],
    );
    let d = copy_fixture("foley-stream");
    edit_manifest(&d, "hop_ms = 200", "hop_ms = 5");
    assert_has(&load_error(&d), &["timing.hop_ms: 5 is out of range"]);
    // 410 ms of context is 10.25 latent frames at 5 frames per 200 ms hop.
    let d = copy_fixture("foley-stream");
    edit_manifest(&d, "context_ms = 400", "context_ms = 410");
    assert_has(
        &load_error(&d),
        &["timing.context_ms: previous_latent needs a context of whole latent frames: 410 ms at 5 frames per 200 ms hop"],
    );
    // The context's latent is 10 frames long, not 12.
    let d = copy_fixture("foley-stream");
    edit_manifest(
        &d,
        r#"name = "prev", dtype = "float32", shape = ["batch", 8, 10]"#,
        r#"name = "prev", dtype = "float32", shape = ["batch", 8, 12]"#,
    );
    assert_has(
        &load_error(&d),
        &["graph[3].inputs[6].shape: [\"batch\", 8, 12] disagrees with the context: expected [batch, 8, 10]"],
    );
    // A windowed package has no context and no lookahead.
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        "overlap_ms = 250",
        "overlap_ms = 250\nlookahead_ms = 80",
    );
    assert_has(
        &load_error(&d),
        &["timing.lookahead_ms: only a streaming package (timing.hop_ms) has a context and a lookahead"],
    );
    let d = copy_fixture("foley");
    edit_manifest(
        &d,
        r#"  { slot = "audio", name = "audio", dtype = "float32", shape = ["batch", 8] },"#,
        r#"  { slot = "audio", name = "audio", dtype = "float32", shape = ["batch", 8] },
  { slot = "previous_latent", name = "prev", dtype = "float32", shape = ["batch", 8, 10] },"#,
    );
    assert_has(
        &load_error(&d),
        &["previous_latent is for streaming packages (timing.hop_ms)"],
    );
}
