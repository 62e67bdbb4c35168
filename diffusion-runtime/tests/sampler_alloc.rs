//! The sampling loop allocates nothing per step: a counting allocator sees the same number of
//! allocations (zero) whatever the step count. Through ONNX Runtime, the `ort` wrapper's own
//! bookkeeping allocates a few small objects per `Run`; no allocation grows with the latent.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

mod common;

use diffusion_runtime::denoiser::{DenoiserIo, OnnxDenoiser, TimestepType};
use diffusion_runtime::provider::{ProviderChoice, ProviderConfig};
use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::{
    BetaSchedule, Branches, Denoise, Guidance, Prediction, Sampler, SamplerKind,
};
use ndarray::{ArrayD, IxDyn};

struct Counting;
// Per thread, so that the test harness's own threads (printing results) do not count.
thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn counters() -> (usize, usize) {
    (ALLOCS.with(Cell::get), BYTES.with(Cell::get))
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // `try_with`: the thread-locals may be gone while a thread shuts down.
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + l.size()));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Closed-form flow velocity for N(μ, s²) data (see `samplers.rs`), three branches.
struct Analytic {
    n: usize,
}

impl Denoise for Analytic {
    fn branches(&self) -> Branches {
        Branches::CfgNegativeAudio
    }
    fn latent_len(&self) -> usize {
        self.n
    }
    fn predict(&mut self, x: &[f32], t: f32, out: &mut [f32]) -> diffusion_runtime::Result<()> {
        let (mu, s2) = (1.0f32, 0.25f32);
        let var = t * t * s2 + (1.0 - t) * (1.0 - t);
        for (b, chunk) in out.chunks_exact_mut(self.n).enumerate() {
            for (o, &xi) in chunk.iter_mut().zip(x) {
                *o = mu * b as f32 + (t * s2 - (1.0 - t)) * (xi - t * mu) / var;
            }
        }
        Ok(())
    }
}

fn allocations_during(kind: SamplerKind, steps: usize) -> usize {
    let n = 1024;
    let mut den = Analytic { n };
    let mut sampler = Sampler::new(kind, n, Branches::CfgNegativeAudio);
    let mut x = vec![0.0; n];
    let mut rng = NoiseRng::new(1);
    let g = Guidance {
        scale: 2.0,
        negative_audio_scale: 0.5,
    };
    let (before, _) = counters();
    sampler
        .sample(&mut den, &mut rng, steps, g, &mut x)
        .unwrap();
    counters().0 - before
}

#[test]
fn sampling_loop_does_not_allocate() {
    let ddim = SamplerKind::Ddim {
        prediction: Prediction::V,
        schedule: BetaSchedule::Cosine,
        train_steps: 1000,
        eta: 0.5,
    };
    for kind in [
        SamplerKind::FlowEuler {
            shift: 1.0,
            noise_scale: 1.0,
        },
        ddim,
    ] {
        assert_eq!(allocations_during(kind.clone(), 5), 0, "{kind:?}");
        assert_eq!(allocations_during(kind.clone(), 200), 0, "{kind:?}");
    }
}

/// (allocations, bytes) of one sampling run through the ONNX analytic denoiser.
fn onnx_allocations(n: usize, steps: usize) -> (usize, usize) {
    common::load_ort();
    let cpu = ProviderConfig {
        choice: ProviderChoice::Cpu,
        ..Default::default()
    };
    let graph = common::fixtures().join("analytic/flow_velocity.onnx");
    let (session, _) = diffusion_runtime::session_cache::get_or_load(&graph, &cpu).unwrap();
    let io = DenoiserIo {
        latent: "x".into(),
        timestep: "t".into(),
        timestep_type: TimestepType::F32,
        timestep_rank: 1,
        branch: None,
        prediction: "out".into(),
    };
    let mu = |v: f32| vec![("mu".to_string(), ArrayD::from_elem(IxDyn(&[1, n]), v))];
    let mut den = OnnxDenoiser::new(session, io, &[n], &[mu(1.0), mu(0.0), mu(-1.0)]).unwrap();
    let mut sampler = Sampler::new(
        SamplerKind::FlowEuler {
            shift: 1.0,
            noise_scale: 1.0,
        },
        n,
        den.branches(),
    );
    let mut x = vec![0.0; n];
    let g = Guidance {
        scale: 2.0,
        negative_audio_scale: 0.5,
    };
    let (a0, b0) = counters();
    sampler
        .sample(&mut den, &mut NoiseRng::new(1), steps, g, &mut x)
        .unwrap();
    let (a1, b1) = counters();
    (a1 - a0, b1 - b0)
}

#[test]
fn onnx_steps_allocate_only_small_constant_bookkeeping() {
    // Per step: the difference between 20 and 10 steps, for a small and a 16× larger latent.
    let per_step = |n| {
        let (a10, b10) = onnx_allocations(n, 10);
        let (a20, b20) = onnx_allocations(n, 20);
        ((a20 - a10) / 10, (b20 - b10) / 10)
    };
    let (small_allocs, small_bytes) = per_step(4096);
    let (large_allocs, large_bytes) = per_step(65536);
    assert_eq!(
        small_allocs, large_allocs,
        "allocation count grows with the latent"
    );
    assert!(small_allocs <= 4, "{small_allocs} allocations per step");
    // A latent of 65536 f32 × 3 branches is 768 KiB: nothing near that may be allocated per step.
    assert!(
        large_bytes < 1024,
        "{large_bytes} bytes allocated per step (small latent: {small_bytes})"
    );
    eprintln!("per ONNX step: {small_allocs} allocations, {large_bytes} bytes (ort bookkeeping)");
}
