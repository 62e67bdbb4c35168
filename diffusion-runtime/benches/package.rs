//! Benchmark of a model package on the runtime: per-step denoiser time, end-to-end time per
//! chunk (audio-to-video) or window (video-to-audio), the real-time factor, and the runtime's
//! own overhead (time outside `Session::run`) as a fraction of the total.
//!
//! ```text
//! cargo bench -p diffusion-runtime --bench package -- models/fixtures/presenter [--iters 30] [--warmup 2] [--steps N] [--branches 1|2|3] [--provider auto|cpu|cuda|tensorrt] [--engine-cache-dir DIR] [--inference-server grpc://host:port]
//! ```
//!
//! With `--inference-server`, every graph runs as a model on that server (KServe v2 gRPC; see
//! `models/tools/triton_repo.py`): "inside Session::run" then means inside the request.
//!
//! It drives the same generators the elements use (`A2vGenerator`, `V2aGenerator`) on synthetic
//! inputs (noise audio, noise frames, a fixed prompt) with the shapes the manifest implies; the
//! figures measure compute, not quality. `--branches 1|2|3` forces no guidance, classifier-free
//! guidance, or classifier-free plus negative audio guidance (with a noise "existing" track).

use std::path::PathBuf;
use std::time::Duration;

use diffusion_runtime::a2v::A2vGenerator;
use diffusion_runtime::denoiser::GenerationStats;
use diffusion_runtime::ort_env;
use diffusion_runtime::package::{LoadEvent, LoadedPackage, ModelPackage, Role, Task, Timing};
use diffusion_runtime::provider::{ProviderChoice, ProviderConfig};
use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::Guidance;
use diffusion_runtime::v2a::{encoder_times, V2aGenerator, WindowInputs};
use ndarray::{ArrayD, IxDyn};

struct Args {
    package: PathBuf,
    iters: usize,
    warmup: usize,
    steps: Option<usize>,
    branches: Option<usize>,
    provider: ProviderChoice,
    engine_cache_dir: Option<PathBuf>,
    server: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut a = Args {
        package: PathBuf::new(),
        iters: 30,
        warmup: 2,
        steps: None,
        branches: None,
        provider: ProviderChoice::Auto,
        engine_cache_dir: None,
        server: None,
    };
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--iters" => a.iters = val()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--inference-server" => a.server = Some(val()?),
            "--engine-cache-dir" => a.engine_cache_dir = Some(PathBuf::from(val()?)),
            "--warmup" => a.warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--steps" => a.steps = Some(val()?.parse().map_err(|e| format!("--steps: {e}"))?),
            "--branches" => {
                a.branches = Some(val()?.parse().map_err(|e| format!("--branches: {e}"))?)
            }
            "--provider" => {
                let name = val()?;
                a.provider = ProviderChoice::from_name(&name).ok_or(format!(
                    "--provider {name}: expected auto, cpu, cuda or tensorrt"
                ))?;
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
        return Err("usage: package <model package dir> [--iters N] [--warmup N] [--steps N] [--branches 1|2|3] [--provider P]".into());
    }
    Ok(a)
}

/// Stops the benchmark with a message (bad package data, a failed run): no panic trace.
fn fail(message: &str) -> ! {
    eprintln!("benchmark failed: {message}");
    std::process::exit(1)
}

fn noise(n: usize, rng: &mut NoiseRng, scale: f32, offset: f32) -> Vec<f32> {
    let mut v = vec![0.0; n];
    rng.fill_normal(&mut v);
    v.iter_mut()
        .for_each(|x| *x = (*x * scale + offset).clamp(offset - 1.0, 1.0));
    v
}

/// The generator for the package's task, and what one chunk/window covers.
enum Generator {
    A2v(Box<A2vGenerator>, f64),
    V2a(Box<V2aGenerator>, f64),
}

/// Guidance for `--branches` (or the package's defaults).
fn guidance(pkg: &LoadedPackage, branches: Option<usize>) -> (Guidance, bool) {
    let d = &pkg.package.sampler;
    let package = Guidance {
        scale: d.guidance_scale,
        negative_audio_scale: d.negative_audio_scale,
    };
    let has_audio_encoder =
        pkg.graph(Role::AudioEncoder).is_some() && pkg.package.task == Task::VideoToAudio;
    match branches {
        Some(1) => (Guidance::default(), false),
        Some(2) => (
            Guidance {
                scale: if package.scale == 1.0 {
                    4.0
                } else {
                    package.scale
                },
                negative_audio_scale: 0.0,
            },
            false,
        ),
        Some(_) => (
            Guidance {
                scale: if package.scale == 1.0 {
                    4.0
                } else {
                    package.scale
                },
                negative_audio_scale: if package.negative_audio_scale == 0.0 {
                    0.5
                } else {
                    package.negative_audio_scale
                },
            },
            true,
        ),
        None => (package, has_audio_encoder),
    }
}

/// One chunk/window end to end, inputs made before the clock starts.
fn run_once(
    g: &mut Generator,
    steps: usize,
    guide: Guidance,
    existing: bool,
    rng: &mut NoiseRng,
) -> (GenerationStats, f64) {
    match g {
        Generator::A2v(gen, media) => {
            let window = noise(gen.layout().window_samples(), rng, 0.1, 0.0);
            let out = gen
                .generate(&window, steps, guide)
                .unwrap_or_else(|e| fail(&e.to_string()));
            (out.stats, *media)
        }
        Generator::V2a(gen, media) => {
            let pkg = gen.package().clone();
            // The video a window (a streaming package: a hop, its context and lookahead) sees.
            let span_ms = match pkg.package.timing {
                Timing::Window(t) => t.window_ms,
                Timing::Stream(t) => t.context_ms + t.hop_ms + t.lookahead_ms,
                Timing::Chunk(_) => fail("not a video-to-audio package"),
            };
            let video: Vec<(String, ArrayD<f32>)> = pkg
                .graphs
                .iter()
                .filter(|g| g.spec.role == Role::VideoEncoder)
                .map(|g| {
                    let n = encoder_times(
                        span_ms,
                        g.spec
                            .fps
                            .unwrap_or(diffusion_runtime::time::Rate::new(1, 1)),
                    )
                    .len();
                    let (w, h) = (
                        g.spec.width.unwrap_or(1) as usize,
                        g.spec.height.unwrap_or(1) as usize,
                    );
                    let data = noise(n * 3 * h * w, rng, 0.2, 0.5);
                    let frames = ArrayD::from_shape_vec(IxDyn(&[1, n, 3, h, w]), data)
                        .unwrap_or_else(|e| fail(&e.to_string()));
                    (g.spec.name.clone().unwrap_or_default(), frames)
                })
                .collect();
            let track = existing.then(|| noise(gen.existing_span().1, rng, 0.1, 0.0));
            let inputs = WindowInputs {
                video,
                existing_audio: track.as_deref(),
                prompt: "metal impact on wood",
                negative_prompt: "",
            };
            let (_, stats) = gen
                .generate(&inputs, steps, guide)
                .unwrap_or_else(|e| fail(&e.to_string()));
            (stats, *media)
        }
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
    let ort = ort_env::ensure_loaded(None).unwrap_or_else(|e| fail(&e.to_string()));
    let pkg = ModelPackage::open(&a.package).unwrap_or_else(|e| fail(&e.to_string()));
    let mut config = ProviderConfig {
        choice: a.provider,
        ..Default::default()
    };
    if let Some(dir) = &a.engine_cache_dir {
        config.engine_cache_dir = dir.clone();
    }
    config.server = a
        .server
        .clone()
        .map(|url| diffusion_runtime::remote::ServerConfig {
            url,
            timeout: diffusion_runtime::remote::DEFAULT_TIMEOUT,
        });
    let load_start = std::time::Instant::now();
    let mut engine_lines = Vec::new();
    let pkg = LoadedPackage::load(pkg, &config, &mut |e| {
        if let LoadEvent::Loaded {
            file,
            engine: Some(engine),
            load_time,
            ..
        } = e
        {
            engine_lines.push(format!(
                "tensorrt engine    {file}: loaded in {} ms, {} cached file(s) before, written at load: [{}]",
                load_time.as_millis(),
                engine.cached,
                engine.written.join(", ")
            ));
        }
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    let load_ms = ms(load_start.elapsed());
    let provider = pkg
        .graph(Role::Denoiser)
        .map(|g| g.session.provider.name())
        .unwrap_or("?");
    let (guide, existing) = guidance(&pkg, a.branches);
    let steps = a.steps.unwrap_or(pkg.package.sampler.steps as usize);
    let name = pkg.package.name.clone();
    let (mut generator, unit) = match pkg.package.timing {
        Timing::Chunk(c) => {
            let video = pkg
                .package
                .video
                .unwrap_or_else(|| fail("audio-to-video package without [video]"));
            let portrait = ArrayD::from_elem(
                IxDyn(&[video.height as usize, video.width as usize, 3]),
                0.5f32,
            );
            let media = c.chunk_frames as f64 / video.fps.as_f64();
            let g = A2vGenerator::new(pkg, portrait, 0).unwrap_or_else(|e| fail(&e.to_string()));
            (Generator::A2v(Box::new(g), media), "chunk")
        }
        Timing::Window(w) => {
            let g = V2aGenerator::new(pkg, 0).unwrap_or_else(|e| fail(&e.to_string()));
            (
                Generator::V2a(Box::new(g), w.window_ms as f64 / 1000.0),
                "window",
            )
        }
        Timing::Stream(t) => {
            let g = V2aGenerator::new(pkg, 0).unwrap_or_else(|e| fail(&e.to_string()));
            (Generator::V2a(Box::new(g), t.hop_ms as f64 / 1000.0), "hop")
        }
    };
    let mut rng = NoiseRng::new(0);
    for _ in 0..a.warmup {
        run_once(&mut generator, steps, guide, existing, &mut rng); // warm-up
    }
    let runs: Vec<(GenerationStats, f64)> = (0..a.iters.max(1))
        .map(|_| run_once(&mut generator, steps, guide, existing, &mut rng))
        .collect();
    let (first, media) = runs[0];
    let per_step = median(
        runs.iter()
            .map(|(s, _)| ms(s.denoiser_run) / s.steps as f64)
            .collect(),
    );
    let total = median(runs.iter().map(|(s, _)| ms(s.inference)).collect());
    let sampler = median(runs.iter().map(|(s, _)| ms(s.sampler)).collect());
    let sampler_overhead = median(
        runs.iter()
            .map(|(s, _)| 1.0 - s.denoiser_run.as_secs_f64() / s.sampler.as_secs_f64())
            .collect(),
    );
    let overhead = median(
        runs.iter()
            .map(|(s, _)| 1.0 - s.graphs.as_secs_f64() / s.inference.as_secs_f64())
            .collect(),
    );
    println!("package            {name} ({})", a.package.display());
    println!(
        "onnx runtime       {} on {provider}, {} iterations (median)",
        ort.version,
        runs.len()
    );
    println!(
        "steps              {} × {} guidance branch(es)",
        first.steps, first.branches
    );
    println!("denoiser per step  {per_step:.3} ms");
    println!(
        "sampler per {unit:<6} {sampler:.3} ms  (overhead outside Session::run: {:.2}%)",
        100.0 * sampler_overhead
    );
    println!("end-to-end {unit:<7} {total:.3} ms for {media:.3} s of media");
    println!(
        "real-time factor   {:.4}  (processing time / media time; < 1 is faster than real time)",
        total / 1e3 / media
    );
    println!(
        "runtime overhead   {:.2}% of end-to-end time outside Session::run",
        100.0 * overhead
    );
    println!("package load       {load_ms:.0} ms");
    for line in engine_lines {
        println!("{line}");
    }
    let package = match &generator {
        Generator::A2v(g, _) => g.package(),
        Generator::V2a(g, _) => g.package(),
    };
    for (file, build) in package.engine_builds() {
        println!(
            "tensorrt engine    {file}: built for {} in {} ms: [{}]",
            build.shapes,
            build.took.as_millis(),
            build.files.join(", ")
        );
    }
}
