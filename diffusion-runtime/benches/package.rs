//! Benchmark of a model package on the runtime: per-step denoiser time, end-to-end time per
//! chunk (audio-to-video) or window (video-to-audio), the real-time factor, and the runtime's
//! own overhead (time outside `Session::run`) as a fraction of the total.
//!
//! ```text
//! cargo bench -p diffusion-runtime --bench package -- models/fixtures/presenter [--iters 30] [--steps N] [--branches 1|2|3] [--provider auto|cpu|cuda|tensorrt]
//! ```
//!
//! Inputs are synthetic (noise audio, noise frames, fixed token ids) with the shapes the manifest
//! implies; the figures measure compute, not quality.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use diffusion_runtime::denoiser::{BranchConditions, OnnxDenoiser};
use diffusion_runtime::ort_env;
use diffusion_runtime::package::{
    Dim, GraphInput, LoadedGraph, LoadedPackage, ModelPackage, Role, Task, Timing,
};
use diffusion_runtime::provider::{ProviderChoice, ProviderConfig};
use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::{Branches, Denoise, Guidance, Sampler};
use diffusion_runtime::tensor::mean_pool_normalize;
use ndarray::{ArrayD, IxDyn};

struct Args {
    package: PathBuf,
    iters: usize,
    steps: Option<usize>,
    branches: Option<usize>,
    provider: ProviderChoice,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut a = Args {
        package: PathBuf::new(),
        iters: 30,
        steps: None,
        branches: None,
        provider: ProviderChoice::Auto,
    };
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--iters" => a.iters = val()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--steps" => a.steps = Some(val()?.parse().map_err(|e| format!("--steps: {e}"))?),
            "--branches" => {
                a.branches = Some(val()?.parse().map_err(|e| format!("--branches: {e}"))?)
            }
            "--provider" => {
                a.provider = match val()?.as_str() {
                    "auto" => ProviderChoice::Auto,
                    "cpu" => ProviderChoice::Cpu,
                    "cuda" => ProviderChoice::Cuda,
                    "tensorrt" => ProviderChoice::TensorRt,
                    other => {
                        return Err(format!(
                            "--provider {other}: expected auto, cpu, cuda or tensorrt"
                        ))
                    }
                }
            }
            p if !p.starts_with('-') => {
                // `cargo bench` runs in the crate directory: accept paths from the workspace root.
                let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p);
                a.package = if PathBuf::from(p).exists() {
                    PathBuf::from(p)
                } else {
                    root
                };
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.package.as_os_str().is_empty() {
        return Err("usage: package <model package dir> [--iters N] [--steps N] [--branches 1|2|3] [--provider P]".into());
    }
    Ok(a)
}

/// Stops the benchmark with a message (bad package data, a failed run): no panic trace.
fn fail(message: &str) -> ! {
    eprintln!("benchmark failed: {message}");
    std::process::exit(1)
}

/// Graph runs, timed inside `Session::run`.
struct Timed {
    graph_time: Duration,
    /// Time spent making synthetic inputs: not the runtime's work, subtracted from totals.
    synth_time: Duration,
}

impl Timed {
    fn run(
        &mut self,
        g: &LoadedGraph,
        inputs: &[(&str, GraphInput)],
        outputs: &[&str],
    ) -> Vec<ArrayD<f32>> {
        let (out, in_run) = g
            .run_timed(inputs, outputs)
            .unwrap_or_else(|e| fail(&e.to_string()));
        self.graph_time += in_run;
        out
    }
}

/// Concrete shape for a declared input: symbolic dims take `fill(symbol)`.
fn shape(g: &LoadedGraph, slot: &str, fill: impl Fn(&str) -> usize) -> Vec<usize> {
    let spec = g
        .spec
        .input(slot)
        .unwrap_or_else(|| fail(&format!("{} has no {slot} input", g.spec.file)));
    spec.shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => *n,
            Dim::Symbol(s) if s == "batch" => 1,
            Dim::Symbol(s) => fill(s),
        })
        .collect()
}

impl Timed {
    fn noise(&mut self, shape: &[usize], rng: &mut NoiseRng, scale: f32, lo: f32) -> ArrayD<f32> {
        let t = Instant::now();
        let mut a = ArrayD::<f32>::zeros(IxDyn(shape));
        rng.fill_normal(a.as_slice_mut().expect("standard layout"));
        // Audio in [-1, 1] around 0 (lo = -1); frames in [0, 1] around 0.5 (lo = 0).
        a.mapv_inplace(|v| (v * scale + (lo + 1.0) / 2.0).clamp(lo, 1.0));
        self.synth_time += t.elapsed();
        a
    }
}

/// Figures of one chunk/window end to end (encoders, sampler, decoder), synthetic input
/// generation excluded.
struct ChunkFigures {
    media_s: f64,
    total: Duration,
    sampler: Duration,
    denoiser_run: Duration,
    graphs: Duration,
    steps: usize,
}

fn conditions(
    pkg: &LoadedPackage,
    timed: &mut Timed,
    rng: &mut NoiseRng,
) -> (f64, BranchConditions, Option<ArrayD<f32>>) {
    // Roles, slots, rates and the a2v [video] table are guaranteed by package validation.
    let den = pkg.graph(Role::Denoiser).expect("denoiser");
    let p = &pkg.package;
    let mut conds = Vec::new();
    let mut neg_audio = None;
    let media_s = match p.timing {
        Timing::Chunk(c) => {
            let fps = p.video.expect("video").fps;
            let frames = (c.context_frames + c.chunk_frames + c.lookahead_frames) as u64;
            let samples = diffusion_runtime::time::mul_div_floor(
                frames,
                p.audio.rate as u64 * fps.den,
                fps.num,
            )
            .unwrap() as usize;
            let enc = pkg.graph(Role::AudioEncoder).expect("audio_encoder");
            let audio = timed.noise(&shape(enc, "audio", |_| samples), rng, 0.1, -1.0);
            let feats = timed
                .run(
                    enc,
                    &[("audio", GraphInput::F32(audio.view()))],
                    &["features"],
                )
                .remove(0);
            conds.push((
                den.spec.input("audio_features").unwrap().name.clone(),
                feats,
            ));
            if let Some(prev) = den.spec.input("previous_motion") {
                let s = shape(den, "previous_motion", |_| c.context_frames as usize);
                conds.push((prev.name.clone(), ArrayD::zeros(IxDyn(&s))));
            }
            c.chunk_frames as f64 / fps.as_f64()
        }
        Timing::Window(w) => {
            let window_s = w.window_ms as f64 / 1000.0;
            for enc in pkg
                .graphs
                .iter()
                .filter(|g| g.spec.role == Role::VideoEncoder)
            {
                let fps = enc.spec.fps.expect("fps");
                let n = (window_s * fps.as_f64()).round() as usize;
                let frames = timed.noise(&shape(enc, "frames", |_| n), rng, 0.2, 0.0);
                let feats = timed
                    .run(
                        enc,
                        &[("frames", GraphInput::F32(frames.view()))],
                        &["features"],
                    )
                    .remove(0);
                let slot = format!("video:{}", enc.spec.name.as_deref().unwrap_or(""));
                conds.push((den.spec.input(&slot).unwrap().name.clone(), feats));
            }
            if let (Some(te), Some(slot)) = (pkg.graph(Role::TextEncoder), den.spec.input("text")) {
                let ids =
                    ArrayD::from_shape_vec(IxDyn(&[1, 6]), vec![2i64, 5, 9, 12, 17, 3]).unwrap();
                let mask = ArrayD::from_elem(IxDyn(&[1, 6]), 1i64);
                let mut inputs = vec![
                    ("input_ids", GraphInput::I64(ids.view())),
                    ("attention_mask", GraphInput::I64(mask.view())),
                ];
                let tti = ArrayD::zeros(IxDyn(&[1, 6]));
                if te.spec.input("token_type_ids").is_some() {
                    inputs.push(("token_type_ids", GraphInput::I64(tti.view())));
                }
                let hidden = timed.run(te, &inputs, &["embedding"]).remove(0);
                let emb = if te.spec.mean_pooling {
                    let h = hidden
                        .into_dimensionality::<ndarray::Ix3>()
                        .unwrap_or_else(|_| fail("a text_encoder with pooling \"mean\" must output [batch, seq, dim]"));
                    mean_pool_normalize(h.view(), mask.view()).into_dyn()
                } else {
                    hidden
                };
                conds.push((slot.name.clone(), emb));
            }
            if let Some(slot) = den.spec.input("audio") {
                let dim = slot
                    .shape
                    .last()
                    .and_then(|d| {
                        if let Dim::Fixed(n) = d {
                            Some(*n)
                        } else {
                            None
                        }
                    })
                    .unwrap_or(1);
                conds.push((slot.name.clone(), ArrayD::zeros(IxDyn(&[1, dim]))));
                if let Some(ae) = pkg.graph(Role::AudioEncoder) {
                    let samples = (window_s * p.audio.rate as f64) as usize;
                    let wave = timed.noise(&shape(ae, "waveform", |_| samples), rng, 0.1, -1.0);
                    neg_audio = Some(
                        timed
                            .run(
                                ae,
                                &[("waveform", GraphInput::F32(wave.view()))],
                                &["features"],
                            )
                            .remove(0),
                    );
                }
            }
            window_s
        }
    };
    (media_s, conds, neg_audio)
}

fn chunk(pkg: &LoadedPackage, a: &Args, rng: &mut NoiseRng) -> ChunkFigures {
    let start = Instant::now();
    let mut timed = Timed {
        graph_time: Duration::ZERO,
        synth_time: Duration::ZERO,
    };
    let p = &pkg.package;
    let (media_s, cond, neg_audio) = conditions(pkg, &mut timed, rng);
    let guidance = Guidance {
        scale: p.sampler.guidance_scale,
        negative_audio_scale: p.sampler.negative_audio_scale,
    };
    let wanted = a
        .branches
        .unwrap_or(Branches::needed(guidance, neg_audio.is_some()).count());
    // Branch conditions: c, ∅ (zeroed text/audio conditions stand in for the empty prompt),
    // neg (the existing audio's features in the audio slot).
    let audio_name = pkg
        .graph(Role::Denoiser)
        .and_then(|d| d.spec.input("audio"))
        .map(|s| s.name.clone());
    let text_name = pkg
        .graph(Role::Denoiser)
        .and_then(|d| d.spec.input("text"))
        .map(|s| s.name.clone());
    let mut branches: Vec<BranchConditions> = vec![cond.clone()];
    if wanted >= 2 {
        branches.push(
            cond.iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        if Some(n) == text_name.as_ref() {
                            v.mapv(|_| 0.0)
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect(),
        );
    }
    if wanted >= 3 {
        branches.push(
            cond.iter()
                .map(
                    |(n, v)| match (&neg_audio, Some(n) == audio_name.as_ref()) {
                        (Some(na), true) => (n.clone(), na.clone()),
                        _ => (n.clone(), v.clone()),
                    },
                )
                .collect(),
        );
    }
    let (session, io) = pkg.denoiser_io().expect("denoiser io");
    let mut den = OnnxDenoiser::new(session, io, &p.latent_shape, &branches)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let n: usize = p.latent_shape.iter().product();
    let mut sampler = Sampler::new(p.sampler.kind.clone(), n, den.branches());
    let steps = a.steps.unwrap_or(p.sampler.steps as usize);
    let mut x = vec![0.0f32; n];
    let ts = Instant::now();
    sampler
        .sample(&mut den, rng, steps, guidance, &mut x)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let sampler_time = ts.elapsed();

    let dec = pkg.graph(Role::Decoder).expect("decoder");
    let mut latent_shape = vec![];
    if p.task == Task::VideoToAudio {
        latent_shape.push(1);
    }
    latent_shape.extend_from_slice(&p.latent_shape);
    let latent = ArrayD::from_shape_vec(IxDyn(&latent_shape), x).expect("latent shape");
    match p.task {
        Task::AudioToVideo => {
            let mut inputs = vec![("motion", GraphInput::F32(latent.view()))];
            let img;
            if dec.spec.input("reference_image").is_some() {
                let s = shape(dec, "reference_image", |_| 1);
                img = ArrayD::from_elem(IxDyn(&s), 0.5f32);
                inputs.push(("reference_image", GraphInput::F32(img.view())));
            }
            timed.run(dec, &inputs, &["frames"]);
        }
        Task::VideoToAudio => {
            timed.run(
                dec,
                &[("latent", GraphInput::F32(latent.view()))],
                &["waveform"],
            );
        }
    }
    ChunkFigures {
        media_s,
        total: start.elapsed() - timed.synth_time,
        sampler: sampler_time,
        denoiser_run: den.run_time,
        graphs: timed.graph_time + den.run_time,
        steps,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let ort = ort_env::ensure_loaded(None).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let pkg = ModelPackage::open(&a.package).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let config = ProviderConfig {
        choice: a.provider,
        ..Default::default()
    };
    let pkg = LoadedPackage::load(pkg, &config, &mut |_| {}).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let provider = pkg
        .graph(Role::Denoiser)
        .map(|g| g.session.provider.name())
        .unwrap_or("?");
    let mut rng = NoiseRng::new(0);
    for _ in 0..2 {
        chunk(&pkg, &a, &mut rng); // warm-up
    }
    let runs: Vec<ChunkFigures> = (0..a.iters.max(1))
        .map(|_| chunk(&pkg, &a, &mut rng))
        .collect();
    let steps = runs[0].steps;
    let unit = if pkg.package.task == Task::AudioToVideo {
        "chunk"
    } else {
        "window"
    };
    let per_step = median(
        runs.iter()
            .map(|r| ms(r.denoiser_run) / r.steps as f64)
            .collect(),
    );
    let total = median(runs.iter().map(|r| ms(r.total)).collect());
    let sampler = median(runs.iter().map(|r| ms(r.sampler)).collect());
    let sampler_overhead = median(
        runs.iter()
            .map(|r| 1.0 - r.denoiser_run.as_secs_f64() / r.sampler.as_secs_f64())
            .collect(),
    );
    let overhead = median(
        runs.iter()
            .map(|r| 1.0 - r.graphs.as_secs_f64() / r.total.as_secs_f64())
            .collect(),
    );
    let media = runs[0].media_s;
    println!(
        "package            {} ({})",
        pkg.package.name,
        a.package.display()
    );
    println!(
        "onnx runtime       {} on {provider}, {} iterations (median)",
        ort.version,
        runs.len()
    );
    println!("steps              {steps}");
    println!("denoiser per step  {per_step:.3} ms");
    println!(
        "sampler per {unit:<6} {sampler:.3} ms  (overhead outside Session::run: {:.2}%)",
        100.0 * sampler_overhead
    );
    println!(
        "end-to-end {unit:<7} {total:.3} ms for {:.3} s of media",
        media
    );
    println!(
        "real-time factor   {:.4}  (processing time / media time; < 1 is faster than real time)",
        total / 1e3 / media
    );
    println!(
        "runtime overhead   {:.2}% of end-to-end time outside Session::run",
        100.0 * overhead
    );
}
