//! Video-to-audio windows through the foley fixture: shapes, seeds, prompts and negative audio
//! guidance all reach the output.

mod common;

use common::load_fixture;
use diffusion_runtime::rng::NoiseRng;
use diffusion_runtime::sampler::Guidance;
use diffusion_runtime::v2a::{V2aGenerator, WindowInputs};
use ndarray::{ArrayD, IxDyn};

fn generator(seed: u64) -> V2aGenerator {
    let pkg = load_fixture("foley");
    V2aGenerator::new(pkg, seed).unwrap()
}

fn frames(n: usize, size: usize, seed: u64) -> ArrayD<f32> {
    let mut a = ArrayD::zeros(IxDyn(&[1, n, 3, size, size]));
    NoiseRng::new(seed).fill_normal(a.as_slice_mut().unwrap());
    a.mapv(|v: f32| (0.5 + 0.2 * v).clamp(0.0, 1.0))
}

fn window(
    g: &mut V2aGenerator,
    prompt: &str,
    negative: &str,
    existing: Option<&[f32]>,
    guidance: Guidance,
) -> (Vec<f32>, usize) {
    let inputs = WindowInputs {
        // 2 s windows: 50 sync frames (25 fps, 32×32) and 16 semantic frames (8 fps, 64×64).
        video: vec![
            ("sync".into(), frames(50, 32, 1)),
            ("semantic".into(), frames(16, 64, 2)),
        ],
        existing_audio: existing,
        prompt,
        negative_prompt: negative,
    };
    let (wave, stats) = g.generate(&inputs, 4, guidance).unwrap();
    (wave, stats.branches)
}

#[test]
fn windows_follow_seeds_prompts_and_negative_audio() {
    let g3 = Guidance {
        scale: 3.0,
        negative_audio_scale: 0.5,
    };
    let (a, branches) = window(&mut generator(1), "metal impact", "", None, g3);
    assert_eq!(a.len(), 32_000, "2 s at 16 kHz");
    assert_eq!(branches, 2, "CFG without an existing soundtrack");
    assert!(a.iter().all(|v| v.is_finite()));
    // Same seed and inputs: the same samples; another seed: others.
    assert_eq!(window(&mut generator(1), "metal impact", "", None, g3).0, a);
    assert_ne!(window(&mut generator(2), "metal impact", "", None, g3).0, a);
    // The prompt and the negative prompt reach the output.
    assert_ne!(window(&mut generator(1), "rain", "", None, g3).0, a);
    assert_ne!(
        window(&mut generator(1), "metal impact", "rain", None, g3).0,
        a
    );
    // An existing soundtrack adds the negative-audio branch and changes the result.
    let existing: Vec<f32> = (0..32_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    let (b, branches) = window(&mut generator(1), "metal impact", "", Some(&existing), g3);
    assert_eq!(branches, 3);
    assert_ne!(b, a);
    // Guidance 1 and no negative audio: one branch.
    let (_, branches) = window(
        &mut generator(1),
        "metal impact",
        "",
        Some(&existing),
        Guidance::default(),
    );
    assert_eq!(branches, 1);
}
