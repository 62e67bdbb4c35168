//! Combining the guidance branches of one batched denoiser call.
//!
//! Branch order in the batch: 0 = conditional `c`, 1 = unconditional `∅` (or the negative
//! prompt, which replaces it), 2 = negative audio `neg` (the existing soundtrack as condition).
//! With all three: `u = u(∅) + α·(u(c) − u(∅)) + β·(u(c) − u_neg)` (Hayakawa et al. 2025).

/// Guidance scales for one sampling run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guidance {
    /// α, classifier-free guidance scale; 1 = conditional prediction only.
    pub scale: f32,
    /// β, negative audio guidance scale; used only with three branches.
    pub negative_audio_scale: f32,
}

impl Default for Guidance {
    fn default() -> Self {
        Self {
            scale: 1.0,
            negative_audio_scale: 0.0,
        }
    }
}

/// Which branches a sampling run needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branches {
    /// `c` only.
    Conditional = 1,
    /// `c` and `∅`: classifier-free guidance.
    Cfg = 2,
    /// `c`, `∅` and `neg`: classifier-free plus negative audio guidance.
    CfgNegativeAudio = 3,
}

impl Branches {
    pub fn count(self) -> usize {
        self as usize
    }

    /// The fewest branches that realise `g`: a scale of exactly 1 with no negative audio needs
    /// one branch, which halves the denoiser's work.
    pub fn needed(g: Guidance, has_negative_audio: bool) -> Self {
        if has_negative_audio && g.negative_audio_scale != 0.0 {
            Branches::CfgNegativeAudio
        } else if g.scale != 1.0 {
            Branches::Cfg
        } else {
            Branches::Conditional
        }
    }
}

/// Combines `pred` (`branches × n`, branch-major) into `out` (`n`).
pub fn combine(pred: &[f32], branches: Branches, g: Guidance, out: &mut [f32]) {
    let n = out.len();
    debug_assert_eq!(pred.len(), branches.count() * n);
    let c = &pred[..n];
    match branches {
        Branches::Conditional => out.copy_from_slice(c),
        Branches::Cfg => {
            let u = &pred[n..2 * n];
            for ((o, &c), &u) in out.iter_mut().zip(c).zip(u) {
                *o = u + g.scale * (c - u);
            }
        }
        Branches::CfgNegativeAudio => {
            let u = &pred[n..2 * n];
            let neg = &pred[2 * n..3 * n];
            for (((o, &c), &u), &ng) in out.iter_mut().zip(c).zip(u).zip(neg) {
                *o = u + g.scale * (c - u) + g.negative_audio_scale * (c - ng);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_match_hand_computation() {
        // Dyadic values: every intermediate is exact in f32, so equality is exact.
        let pred = [
            1.0, -2.0, /* ∅ */ 0.5, 0.25, /* neg */ 2.0, -1.0,
        ];
        let g = Guidance {
            scale: 3.0,
            negative_audio_scale: 0.5,
        };
        let mut out = [0.0; 2];
        combine(&pred, Branches::CfgNegativeAudio, g, &mut out);
        // 0.5 + 3(1 − 0.5) + 0.5(1 − 2) = 1.5; 0.25 + 3(−2 − 0.25) + 0.5(−2 + 1) = −7
        assert_eq!(out, [1.5, -7.0]);
        combine(&pred[..4], Branches::Cfg, g, &mut out);
        assert_eq!(out, [2.0, -6.5]);
        combine(&pred[..2], Branches::Conditional, g, &mut out);
        assert_eq!(out, [1.0, -2.0]);
    }

    #[test]
    fn needed_branches() {
        let g = Guidance::default();
        assert_eq!(Branches::needed(g, true), Branches::Conditional);
        let cfg = Guidance { scale: 4.5, ..g };
        assert_eq!(Branches::needed(cfg, false), Branches::Cfg);
        let nag = Guidance {
            scale: 1.0,
            negative_audio_scale: 0.3,
        };
        assert_eq!(Branches::needed(nag, true), Branches::CfgNegativeAudio);
        assert_eq!(Branches::needed(nag, false), Branches::Conditional);
    }
}
