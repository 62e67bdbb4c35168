//! Cross-stream batching: generators sharing a session, sampling at the same time with batching
//! on, get exactly what each gets alone, their steps really share runs, and a lone or departing
//! stream never holds anyone up for the gather window.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{copy_dir, fixtures, load_ort, provider};
use diffusion_runtime::a2v::A2vGenerator;
use diffusion_runtime::batcher::BatchFigures;
use diffusion_runtime::package::{LoadedPackage, ModelPackage};
use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::Guidance;
use diffusion_runtime::v2a::{V2aGenerator, WindowInputs};
use ndarray::{ArrayD, IxDyn};

/// A private copy of package `src`, so that no other test of this binary shares its sessions
/// (the session cache is keyed by the graph's path) and the batcher figures are this test's.
fn private_copy(src: &Path, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("batching-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(src, &dir);
    dir
}

fn load(dir: &Path) -> LoadedPackage {
    load_ort();
    LoadedPackage::load(ModelPackage::open(dir).unwrap(), &provider(), &mut |_| {}).unwrap()
}

fn figures(pkg: &LoadedPackage) -> BatchFigures {
    pkg.denoiser_io().unwrap().0.batcher().figures()
}

/// A window of speech-like audio, different per stream.
fn audio(n: usize, stream: usize) -> Vec<f32> {
    let f = 0.004 + 0.003 * stream as f32;
    (0..n)
        .map(|i| (i as f32 * f).sin() * (0.2 + 0.1 * (i as f32 * 0.0007).sin()))
        .collect()
}

/// `chunks` presenter chunks of stream `stream`; all streams start together at `start`.
fn presenter_stream(
    pkg: LoadedPackage,
    stream: usize,
    chunks: usize,
    batching: Option<Duration>,
    start: &Barrier,
) -> Vec<u8> {
    let video = pkg.package.video.unwrap();
    let portrait = ArrayD::from_elem(
        IxDyn(&[video.height as usize, video.width as usize, 3]),
        0.3 + 0.1 * stream as f32,
    );
    let mut a2v = A2vGenerator::new(pkg, portrait, 11 + stream as u64).unwrap();
    a2v.set_batching(batching).unwrap();
    let window = audio(a2v.layout().window_samples(), stream);
    start.wait();
    let mut rgb = Vec::new();
    for _ in 0..chunks {
        rgb.extend(a2v.generate(&window, 4, Guidance::default()).unwrap().rgb);
    }
    rgb
}

/// Runs `streams` streams of `run(package, stream, batching, start)` one by one without
/// batching, then all at once with batching (a 50 ms window), and checks that each stream's
/// output is the same bit for bit; returns the batcher's figures.
fn alone_then_together<T, F>(pkg: &LoadedPackage, streams: usize, run: F) -> BatchFigures
where
    T: PartialEq + Send + 'static,
    F: Fn(LoadedPackage, usize, Option<Duration>, &Barrier) -> T + Copy + Send + 'static,
{
    let alone: Vec<T> = (0..streams)
        .map(|s| run(pkg.clone(), s, None, &Barrier::new(1)))
        .collect();
    let start = Arc::new(Barrier::new(streams));
    let handles: Vec<_> = (0..streams)
        .map(|s| {
            let (pkg, start) = (pkg.clone(), start.clone());
            std::thread::spawn(move || run(pkg, s, Some(Duration::from_millis(50)), &start))
        })
        .collect();
    for (s, h) in handles.into_iter().enumerate() {
        assert!(
            h.join().unwrap() == alone[s],
            "stream {s}: batched output differs from the stream alone"
        );
    }
    figures(pkg)
}

fn presenter_streams_match(dir: &Path, streams: usize, chunks: usize) -> BatchFigures {
    alone_then_together(&load(dir), streams, move |pkg, s, batching, start| {
        presenter_stream(pkg, s, chunks, batching, start)
    })
}

#[test]
fn batched_presenter_streams_are_bit_identical_to_each_stream_alone() {
    let dir = private_copy(&fixtures().join("presenter"), "fixture-presenter");
    let f = presenter_streams_match(&dir, 4, 3);
    assert!(
        f.shared > 0,
        "no step shared a run with another stream: {f:?}"
    );
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/presenter");
    let dir = private_copy(&bundled, "bundled-presenter");
    let f = presenter_streams_match(&dir, 2, 2);
    assert!(f.shared > 0, "bundled presenter: no shared step: {f:?}");
}

fn frames(n: usize, size: usize, seed: u64) -> ArrayD<f32> {
    let mut a = ArrayD::zeros(IxDyn(&[1, n, 3, size, size]));
    NoiseRng::new(seed).fill_normal(a.as_slice_mut().unwrap());
    a.mapv(|v: f32| (0.5 + 0.2 * v).clamp(0.0, 1.0))
}

/// One foley window of stream `stream`: even streams use 2 guidance branches, odd ones 3
/// (negative audio guidance), so batches mix requests of different row counts.
fn foley_stream(
    pkg: LoadedPackage,
    stream: usize,
    batching: Option<Duration>,
    start: &Barrier,
) -> Vec<f32> {
    let mut v2a = V2aGenerator::new(pkg, 5 + stream as u64).unwrap();
    v2a.set_batching(batching).unwrap();
    let existing = audio(32_000, stream);
    let inputs = WindowInputs {
        video: vec![
            ("sync".into(), frames(50, 32, stream as u64)),
            ("semantic".into(), frames(16, 64, 9 + stream as u64)),
        ],
        existing_audio: (stream % 2 == 1).then_some(existing.as_slice()),
        prompt: "metal impact",
        negative_prompt: "rain",
    };
    let g = Guidance {
        scale: 3.0,
        negative_audio_scale: 0.5,
    };
    start.wait();
    v2a.generate(&inputs, 4, g).unwrap().0
}

#[test]
fn batched_foley_streams_with_mixed_branch_counts_are_bit_identical() {
    let dir = private_copy(&fixtures().join("foley"), "fixture-foley");
    let pkg = load(&dir);
    // Compared as bits: the same bits, not merely equal values.
    let bits = |pkg, s, batching, start: &Barrier| -> Vec<u32> {
        foley_stream(pkg, s, batching, start)
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    alone_then_together(&pkg, 3, bits);
    let f = figures(&pkg);
    assert!(f.shared > 0, "no step shared a run: {f:?}");
}

/// A window far longer than the test: a lone stream, and a stream whose partner has gone, must
/// not wait for it (the gather ends when every registered stream has queued its step).
#[test]
fn a_lone_or_abandoned_stream_never_waits_for_the_window() {
    let dir = private_copy(&fixtures().join("presenter"), "lone");
    let pkg = load(&dir);
    let window = Some(Duration::from_secs(600));
    let started = Instant::now();
    presenter_stream(pkg.clone(), 0, 2, window, &Barrier::new(1));
    // One stream stops after one chunk; the other goes on for five.
    let start = Arc::new(Barrier::new(2));
    let handles: Vec<_> = [1, 5]
        .into_iter()
        .enumerate()
        .map(|(s, chunks)| {
            let (pkg, start) = (pkg.clone(), start.clone());
            std::thread::spawn(move || presenter_stream(pkg, s, chunks, window, &start))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(120),
        "a stream waited for the gather window ({took:?})"
    );
    let f = figures(&pkg);
    assert!(f.shared > 0, "the two streams never shared a step: {f:?}");
    assert!(
        f.shared < f.served,
        "the survivor's last chunks ran alone: {f:?}"
    );
}

/// A registered stream that stops queueing steps (idle, paused, at EOS) is waited for once: the
/// others lose one window, not one per step.
#[test]
fn an_idle_stream_costs_the_others_one_window_not_one_per_step() {
    let dir = private_copy(&fixtures().join("presenter"), "idle");
    let pkg = load(&dir);
    let window = Duration::from_secs(2);
    let video = pkg.package.video.unwrap();
    let portrait = ArrayD::from_elem(
        IxDyn(&[video.height as usize, video.width as usize, 3]),
        0.5f32,
    );
    // Registered, never generating.
    let mut idle = A2vGenerator::new(pkg.clone(), portrait, 1).unwrap();
    idle.set_batching(Some(window)).unwrap();
    let started = Instant::now();
    // 6 chunks of 4 steps: 24 windows if the idle stream were waited for at every step.
    presenter_stream(pkg.clone(), 0, 6, Some(window), &Barrier::new(1));
    let took = started.elapsed();
    assert!(
        took < window * 6,
        "the idle stream was waited for more than once ({took:?} for 24 steps, window {window:?})"
    );
    assert!(
        took >= window,
        "the idle stream was not waited for at all ({took:?})"
    );
    drop(idle);
}
