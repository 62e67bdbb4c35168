//! Graphs on a real Triton Inference Server (KServe v2 over gRPC): the same output as
//! in-process ONNX Runtime, and clear, bounded errors when the server or a model is wrong.
//! The server runs each graph with the same ONNX Runtime release on CPU (python backend), so
//! outputs are compared exactly.

mod common;
mod triton;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{fixtures, load_ort};
use diffusion_runtime::a2v::A2vGenerator;
use diffusion_runtime::package::{LoadedPackage, ModelPackage};
use diffusion_runtime::provider::{ProviderChoice, ProviderConfig, ProviderKind};
use diffusion_runtime::remote::ServerConfig;
use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::Guidance;
use diffusion_runtime::v2a::{V2aGenerator, WindowInputs};
use ndarray::{ArrayD, IxDyn};
use triton::Triton;

fn remote(url: &str, timeout_ms: u64) -> ProviderConfig {
    ProviderConfig {
        choice: ProviderChoice::Cpu,
        server: Some(ServerConfig {
            url: url.into(),
            timeout: Duration::from_millis(timeout_ms),
        }),
        ..Default::default()
    }
}

fn local() -> ProviderConfig {
    ProviderConfig {
        choice: ProviderChoice::Cpu,
        ..Default::default()
    }
}

fn load(dir: &Path, config: &ProviderConfig) -> Result<LoadedPackage, String> {
    load_ort();
    let pkg = ModelPackage::open(dir).map_err(|e| e.to_string())?;
    LoadedPackage::load(pkg, config, &mut |_| {}).map_err(|e| e.to_string())
}

fn frames(n: usize, size: usize, seed: u64) -> ArrayD<f32> {
    let mut a = ArrayD::zeros(IxDyn(&[1, n, 3, size, size]));
    NoiseRng::new(seed).fill_normal(a.as_slice_mut().unwrap());
    a.mapv(|v: f32| (0.5 + 0.2 * v).clamp(0.0, 1.0))
}

/// Two foley windows (CFG, then CFG + negative audio) and two presenter chunks.
fn outputs(config: &ProviderConfig) -> (Vec<f32>, Vec<u8>) {
    let mut v2a = V2aGenerator::new(load(&fixtures().join("foley"), config).unwrap(), 7).unwrap();
    let existing: Vec<f32> = (0..32_000).map(|i| (i as f32 * 0.03).sin() * 0.4).collect();
    let mut audio = Vec::new();
    for track in [None, Some(existing.as_slice())] {
        let inputs = WindowInputs {
            video: vec![
                ("sync".into(), frames(50, 32, 1)),
                ("semantic".into(), frames(16, 64, 2)),
            ],
            existing_audio: track,
            prompt: "metal impact",
            negative_prompt: "rain",
        };
        let g = Guidance {
            scale: 3.0,
            negative_audio_scale: 0.5,
        };
        audio.extend(v2a.generate(&inputs, 4, g).unwrap().0);
    }
    let pkg = load(&fixtures().join("presenter"), config).unwrap();
    let portrait = ArrayD::from_elem(IxDyn(&[64, 64, 3]), 0.5f32);
    let mut a2v = A2vGenerator::new(pkg, portrait, 3).unwrap();
    let mut rgb = Vec::new();
    for _ in 0..2 {
        let window: Vec<f32> = (0..a2v.layout().window_samples())
            .map(|i| (i as f32 * 0.01).sin() * 0.3)
            .collect();
        rgb.extend(a2v.generate(&window, 4, Guidance::default()).unwrap().rgb);
    }
    (audio, rgb)
}

#[test]
fn a_real_triton_gives_the_in_process_output_and_clear_errors() {
    let mut server = Triton::start(
        "same-output",
        &[&fixtures().join("foley"), &fixtures().join("presenter")],
    );
    let config = remote(&server.url(), 10_000);

    // Every graph on the server, named <package>.<file stem>.
    let pkg = load(&fixtures().join("foley"), &config).unwrap();
    assert!(pkg
        .graphs
        .iter()
        .all(|g| g.session.provider == ProviderKind::Server));
    assert_eq!(
        pkg.graphs[0].session.remote_model().unwrap().name,
        "fixture-foley.video_sync"
    );

    // Same seed, same inputs: the same samples and frames as in-process.
    let (audio, rgb) = outputs(&config);
    let (audio_local, rgb_local) = outputs(&local());
    let audio_diff = triton::max_diff(&audio, &audio_local);
    let rgb_diff = triton::max_byte_diff(&rgb, &rgb_local);
    eprintln!("remote vs in-process: audio max |diff| {audio_diff}, frames max |diff| {rgb_diff}");
    // Bit for bit on the server's ONNX Runtime release; the ORT matrix runs older ones here.
    let (audio_tolerance, frame_tolerance) = triton::tolerances();
    assert!(
        audio_diff <= audio_tolerance,
        "foley windows differ from in-process by {audio_diff}"
    );
    assert!(
        rgb_diff <= frame_tolerance,
        "presenter chunks differ from in-process by {rgb_diff}"
    );

    // A model the server does not have: one line naming the server, the model and the fix.
    let dir = std::env::temp_dir().join(format!("remote-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    common::copy_dir(&fixtures().join("presenter"), &dir);
    let toml = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    let toml = toml.replacen(
        "file = \"denoiser.onnx\"",
        "file = \"denoiser.onnx\"\nserver_model = \"no-such-model\"",
        1,
    );
    std::fs::write(dir.join("model.toml"), toml).unwrap();
    let e = load(&dir, &config).unwrap_err();
    assert!(
        e.contains("no-such-model") && e.contains("not ready") && e.contains(&server.url()),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");

    // A pinned version: the one the repository has loads, another is not ready, naming it.
    for (version, ok) in [(1, true), (7, false)] {
        let toml = std::fs::read_to_string(fixtures().join("presenter/model.toml")).unwrap();
        let toml = toml.replacen(
            "file = \"denoiser.onnx\"",
            &format!("file = \"denoiser.onnx\"\nserver_version = {version}"),
            1,
        );
        std::fs::write(dir.join("model.toml"), toml).unwrap();
        match load(&dir, &config) {
            Ok(_) => assert!(ok, "version {version} loaded"),
            Err(e) => assert!(
                !ok && e.contains("fixture-presenter.denoiser version 7 is not ready"),
                "{e}"
            ),
        }
    }

    // A model whose inputs are not the graph's (the decoder pointed at the denoiser's model):
    // the same one-line port error as a local graph with the wrong inputs.
    let toml = std::fs::read_to_string(fixtures().join("presenter/model.toml")).unwrap();
    let toml = toml.replacen(
        "file = \"decoder.onnx\"",
        "file = \"decoder.onnx\"\nserver_model = \"fixture-presenter.denoiser\"",
        1,
    );
    std::fs::write(dir.join("model.toml"), toml).unwrap();
    let e = load(&dir, &config).unwrap_err();
    assert!(
        e.contains("decoder.onnx") && e.contains("has no input"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    // The server goes away mid-stream: the next window fails within the deadline and its
    // retries, with an error that says so; a restarted server serves the same package again.
    let mut v2a = V2aGenerator::new(load(&fixtures().join("foley"), &config).unwrap(), 7).unwrap();
    server.stop();
    let inputs = WindowInputs {
        video: vec![
            ("sync".into(), frames(50, 32, 1)),
            ("semantic".into(), frames(16, 64, 2)),
        ],
        existing_audio: None,
        prompt: "metal impact",
        negative_prompt: "",
    };
    let start = Instant::now();
    let e = v2a
        .generate(&inputs, 4, Guidance::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unreachable") || e.contains("timed out"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    server.spawn();
    let config = remote(&server.url(), 10_000);
    let mut v2a = V2aGenerator::new(load(&fixtures().join("foley"), &config).unwrap(), 7).unwrap();
    assert!(v2a.generate(&inputs, 4, Guidance::default()).is_ok());
}
