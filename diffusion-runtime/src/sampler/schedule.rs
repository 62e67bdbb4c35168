//! Noise schedules and the timesteps a sampler visits.

/// DDIM's beta schedule over the training timesteps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BetaSchedule {
    Linear {
        start: f64,
        end: f64,
    },
    ScaledLinear {
        start: f64,
        end: f64,
    },
    /// Nichol & Dhariwal (2021), s = 0.008, betas clipped to 0.999.
    Cosine,
}

/// ᾱ_t = Π_{i≤t} (1 − β_i) for t in [0, train_steps), in f64.
pub fn alphas_cumprod(schedule: BetaSchedule, train_steps: usize) -> Vec<f64> {
    let n = train_steps.max(1);
    let lin = |a: f64, b: f64, i: usize| {
        if n == 1 {
            a
        } else {
            a + (b - a) * i as f64 / (n - 1) as f64
        }
    };
    let betas: Vec<f64> = match schedule {
        BetaSchedule::Linear { start, end } => (0..n).map(|i| lin(start, end, i)).collect(),
        BetaSchedule::ScaledLinear { start, end } => (0..n)
            .map(|i| lin(start.sqrt(), end.sqrt(), i).powi(2))
            .collect(),
        BetaSchedule::Cosine => {
            let f = |t: f64| {
                ((t / n as f64 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                    .cos()
                    .powi(2)
            };
            (0..n)
                .map(|i| (1.0 - f((i + 1) as f64) / f(i as f64)).min(0.999))
                .collect()
        }
    };
    let mut acc = 1.0;
    betas
        .iter()
        .map(|b| {
            acc *= 1.0 - b;
            acc
        })
        .collect()
}

/// The k-th of `steps` DDIM timesteps, "trailing" spacing: `round(T − k·T/steps) − 1`, so the
/// first step starts at the last training timestep. Returns `None` past the last step.
pub fn ddim_timestep(train_steps: usize, steps: usize, k: usize) -> Option<usize> {
    (k < steps).then(|| {
        // Half to even, like numpy's `round` in the reference implementation (diffusers), so
        // that the same steps visit the same timesteps: T=1000, 16 steps, k=3 gives 811.
        let t = (train_steps as f64 - k as f64 * train_steps as f64 / steps as f64)
            .round_ties_even() as usize;
        t.saturating_sub(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_matches_closed_form() {
        let a = alphas_cumprod(
            BetaSchedule::Linear {
                start: 1e-4,
                end: 0.02,
            },
            1000,
        );
        assert_eq!(a.len(), 1000);
        assert!((a[0] - (1.0 - 1e-4)).abs() < 1e-15);
        // Known value for the DDPM schedule: ᾱ_999 ≈ 4.04e-5.
        assert!((a[999] - 4.036e-5).abs() < 1e-7, "{}", a[999]);
        assert!(a.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn cosine_schedule_is_monotone_and_ends_near_zero() {
        let a = alphas_cumprod(BetaSchedule::Cosine, 1000);
        assert!(a.windows(2).all(|w| w[1] <= w[0]));
        assert!(a[999] < 1e-4 && a[0] > 0.999);
    }

    #[test]
    fn trailing_timesteps() {
        let ts: Vec<_> = (0..4).map(|k| ddim_timestep(1000, 4, k).unwrap()).collect();
        assert_eq!(ts, vec![999, 749, 499, 249]);
        assert_eq!(ddim_timestep(1000, 4, 4), None);
        assert_eq!(ddim_timestep(1000, 1, 0), Some(999));
        assert_eq!(ddim_timestep(1000, 16, 3), Some(811));
    }
}
