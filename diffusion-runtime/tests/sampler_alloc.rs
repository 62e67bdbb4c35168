//! The sampling loop allocates nothing per step: a counting allocator sees the same number of
//! allocations (zero) whatever the step count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::{
    BetaSchedule, Branches, Denoise, Guidance, Prediction, Sampler, SamplerKind,
};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCS.load(Ordering::Relaxed);
    sampler
        .sample(&mut den, &mut rng, steps, g, &mut x)
        .unwrap();
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn sampling_loop_does_not_allocate() {
    let ddim = SamplerKind::Ddim {
        prediction: Prediction::V,
        schedule: BetaSchedule::Cosine,
        train_steps: 1000,
        eta: 0.5,
    };
    for kind in [SamplerKind::FlowEuler, ddim] {
        assert_eq!(allocations_during(kind.clone(), 5), 0, "{kind:?}");
        assert_eq!(allocations_during(kind.clone(), 200), 0, "{kind:?}");
    }
}
