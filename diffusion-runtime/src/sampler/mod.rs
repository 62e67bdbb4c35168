//! The sampling loop: DDIM (eps, v, x0 prediction) and flow-matching Euler (velocity), with
//! guidance branches batched into one denoiser call per step.
//!
//! The loop allocates nothing: every buffer is sized when the [`Sampler`] is made and reused.

pub mod guidance;
pub mod schedule;

pub use guidance::{Branches, Guidance};
pub use schedule::BetaSchedule;

use crate::error::{Error, Result};
use crate::rng::NoiseRng;

/// What the denoiser predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prediction {
    Eps,
    V,
    X0,
}

/// The sampler family and its schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerKind {
    Ddim {
        prediction: Prediction,
        schedule: BetaSchedule,
        train_steps: usize,
        /// 0 = deterministic DDIM; 1 = DDPM-like ancestral noise.
        eta: f32,
    },
    /// Flow matching, t from 0 (noise) to 1 (data), `x_t = t·x1 + (1 − t)·x0`, velocity
    /// `x1 − x0` (MMAudio's convention). Step `k` of `n` starts at
    /// `t = s·u / (1 + (s − 1)·u)` with `u = k / n` and `s = shift` ([`flow_time`]): 1 is uniform;
    /// above 1 the steps crowd towards the data end, where short, sharp detail (an impact's
    /// attack) is decided, and the first step takes a longer stride out of the noise.
    /// `noise_scale` is the starting noise's standard deviation (1 = the distribution the model
    /// was trained to transport): below 1 the path starts nearer the noise's mean and ends
    /// nearer the model's most likely output, a sampling temperature (Glow-TTS, VITS).
    FlowEuler { shift: f32, noise_scale: f32 },
}

/// Start time of step `k` of `steps` on a flow path warped by `shift` (see
/// [`SamplerKind::FlowEuler`]); `flow_time(steps, steps, _)` is 1.
pub fn flow_time(k: usize, steps: usize, shift: f32) -> f32 {
    let u = k as f64 / steps as f64;
    let s = f64::from(shift);
    (s * u / (1.0 + (s - 1.0) * u)) as f32
}

/// Start time and length of step `k` of `steps`.
fn flow_step(k: usize, steps: usize, shift: f32) -> (f32, f32) {
    if shift == 1.0 {
        // The uniform grid exactly as it always was: t = k / n and dt = 1 / n in f32.
        return (k as f32 / steps as f32, 1.0 / steps as f32);
    }
    let t = flow_time(k, steps, shift);
    (t, flow_time(k + 1, steps, shift) - t)
}

/// One denoising step, batched over guidance branches.
pub trait Denoise {
    /// Number of branches each call evaluates (1, 2 or 3; see [`Branches`]).
    fn branches(&self) -> Branches;
    /// Number of latent elements per branch.
    fn latent_len(&self) -> usize;
    /// Predicts for every branch at once: `x` (one latent, `latent_len`) is the same for all
    /// branches; `out` receives `branches × latent_len` values, branch-major. `t` is the
    /// timestep as the graph expects it (a training index for DDIM, t ∈ [0, 1) for flow).
    fn predict(&mut self, x: &[f32], t: f32, out: &mut [f32]) -> Result<()>;
}

/// A reusable sampler for one latent size and branch count.
pub struct Sampler {
    kind: SamplerKind,
    alphas_cumprod: Vec<f64>,
    pred: Vec<f32>,
    guided: Vec<f32>,
    noise: Vec<f32>,
}

impl Sampler {
    pub fn new(kind: SamplerKind, latent_len: usize, branches: Branches) -> Self {
        let alphas_cumprod = match &kind {
            SamplerKind::Ddim {
                schedule,
                train_steps,
                ..
            } => schedule::alphas_cumprod(*schedule, *train_steps),
            SamplerKind::FlowEuler { .. } => Vec::new(),
        };
        let needs_noise = matches!(kind, SamplerKind::Ddim { eta, .. } if eta > 0.0);
        Self {
            kind,
            alphas_cumprod,
            pred: vec![0.0; latent_len * branches.count()],
            guided: vec![0.0; latent_len],
            noise: if needs_noise {
                vec![0.0; latent_len]
            } else {
                Vec::new()
            },
        }
    }

    /// Draws `x` from N(0, I) with `rng` (scaled by a flow sampler's `noise_scale`) and denoises
    /// it in `steps` steps. `x` holds the sample on return. Same seed, inputs and graph → the
    /// same bits on CPU.
    pub fn sample(
        &mut self,
        denoiser: &mut dyn Denoise,
        rng: &mut NoiseRng,
        steps: usize,
        guidance: Guidance,
        x: &mut [f32],
    ) -> Result<()> {
        let n = self.guided.len();
        let branches = denoiser.branches();
        if x.len() != n || denoiser.latent_len() != n || self.pred.len() != n * branches.count() {
            return Err(Error::Invalid(format!(
                "sampler sized for {n} latent values × {} branches, got x of {} and a denoiser \
                 with {} values × {} branches",
                self.pred.len() / n.max(1),
                x.len(),
                denoiser.latent_len(),
                branches.count()
            )));
        }
        if steps == 0 {
            return Err(Error::Invalid("steps must be at least 1".into()));
        }
        rng.fill_normal(x);
        match self.kind.clone() {
            SamplerKind::FlowEuler { shift, noise_scale } => {
                if noise_scale != 1.0 {
                    x.iter_mut().for_each(|xi| *xi *= noise_scale);
                }
                for k in 0..steps {
                    let (t, dt) = flow_step(k, steps, shift);
                    denoiser.predict(x, t, &mut self.pred)?;
                    guidance::combine(&self.pred, branches, guidance, &mut self.guided);
                    for (xi, &v) in x.iter_mut().zip(&self.guided) {
                        *xi += dt * v;
                    }
                }
            }
            SamplerKind::Ddim {
                prediction,
                train_steps,
                eta,
                ..
            } => {
                for k in 0..steps {
                    let t = schedule::ddim_timestep(train_steps, steps, k).unwrap_or(0);
                    let a_t = self.alphas_cumprod[t];
                    // The last step lands on clean data (ᾱ = 1).
                    let a_prev = schedule::ddim_timestep(train_steps, steps, k + 1)
                        .map_or(1.0, |p| self.alphas_cumprod[p]);
                    denoiser.predict(x, t as f32, &mut self.pred)?;
                    guidance::combine(&self.pred, branches, guidance, &mut self.guided);
                    self.ddim_update(prediction, a_t, a_prev, eta, rng, x);
                }
            }
        }
        Ok(())
    }

    /// x ← √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, with x̂0 and ε̂ recovered from the guided
    /// prediction according to what the model predicts.
    fn ddim_update(
        &mut self,
        prediction: Prediction,
        a_t: f64,
        a_prev: f64,
        eta: f32,
        rng: &mut NoiseRng,
        x: &mut [f32],
    ) {
        let sigma =
            f64::from(eta) * ((1.0 - a_prev) / (1.0 - a_t)).sqrt() * (1.0 - a_t / a_prev).sqrt();
        let (sa, s1a) = (a_t.sqrt(), (1.0 - a_t).sqrt());
        let c_x0 = a_prev.sqrt() as f32;
        let c_eps = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt() as f32;
        let (sa32, s1a32) = (sa as f32, s1a as f32);
        let (inv_sa, inv_s1a) = ((1.0 / sa) as f32, (1.0 / s1a) as f32);
        if sigma > 0.0 {
            rng.fill_normal(&mut self.noise);
        }
        for (i, (xi, &m)) in x.iter_mut().zip(&self.guided).enumerate() {
            let (x0, eps) = match prediction {
                Prediction::Eps => ((*xi - s1a32 * m) * inv_sa, m),
                Prediction::X0 => (m, (*xi - sa32 * m) * inv_s1a),
                Prediction::V => (sa32 * *xi - s1a32 * m, sa32 * m + s1a32 * *xi),
            };
            let z = if sigma > 0.0 { self.noise[i] } else { 0.0 };
            *xi = c_x0 * x0 + c_eps * eps + sigma as f32 * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::flow_time;

    #[test]
    fn flow_time_runs_from_noise_to_data_and_crowds_towards_data() {
        for shift in [0.5, 1.0, 3.0] {
            assert_eq!(flow_time(0, 8, shift), 0.0);
            assert_eq!(flow_time(8, 8, shift), 1.0);
            assert!((1..=8).all(|k| flow_time(k, 8, shift) > flow_time(k - 1, 8, shift)));
        }
        // s·u / (1 + (s − 1)·u) at u = 1/2, s = 3: 3/4.
        assert_eq!(flow_time(4, 8, 3.0), 0.75);
        assert_eq!(flow_time(3, 8, 1.0), 0.375);
        let first = flow_time(1, 8, 3.0);
        let last = 1.0 - flow_time(7, 8, 3.0);
        assert!(first > 6.0 * last, "first step {first}, last {last}");
    }
}
