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

/// A streaming package: each call is one hop of new audio; it continues the latent of the hops
/// before it (so the same video gives another hop after other audio) and its decoder gets the
/// samples it emitted last, and a reset starts the context over (the same hops again).
#[test]
fn streaming_hops_continue_their_context() {
    let g3 = Guidance {
        scale: 3.0,
        negative_audio_scale: 0.5,
    };
    let mut g = V2aGenerator::new(load_fixture("foley-stream"), 1).unwrap();
    assert_eq!(g.layout().window, 3200, "200 ms hops at 16 kHz");
    assert_eq!(g.layout().overlap, 0, "hops are not crossfaded");
    assert_eq!(
        g.existing_span(),
        (6400, 9600),
        "400 ms of context + the hop"
    );
    // 680 ms of video: 17 sync frames (25 fps) and 5 semantic frames (8 fps).
    let hop = |g: &mut V2aGenerator, seed: u64, existing: Option<&[f32]>| {
        let inputs = WindowInputs {
            video: vec![
                ("sync".into(), frames(17, 32, seed)),
                ("semantic".into(), frames(5, 64, seed + 1)),
            ],
            existing_audio: existing,
            prompt: "metal impact",
            negative_prompt: "",
        };
        g.generate(&inputs, 4, g3).unwrap()
    };
    let first: Vec<Vec<f32>> = (0..3).map(|k| hop(&mut g, 10 + k, None).0).collect();
    assert!(first.iter().all(|h| h.len() == 3200));
    // The fixture's decoder starts each hop with the last sample it was given as emitted
    // (previous_waveform): zeros before the stream, then its own output.
    assert_eq!(first[0][0], 0.0, "nothing was emitted before the first hop");
    for k in 1..3 {
        assert_ne!(first[k - 1][3199], 0.0);
        assert_eq!(
            first[k][0],
            first[k - 1][3199],
            "hop {k} does not get hop {}'s samples",
            k - 1
        );
    }
    g.reset(1);
    let again: Vec<Vec<f32>> = (0..3).map(|k| hop(&mut g, 10 + k, None).0).collect();
    assert_eq!(first, again, "a reset starts the context over");
    // Hop 2 after other audio (other video before it) is another hop, with its own seed and
    // video unchanged: the context reaches it.
    g.reset(1);
    hop(&mut g, 50, None);
    hop(&mut g, 51, None);
    let (third, _) = hop(&mut g, 12, None);
    assert_ne!(third, first[2], "the context does not reach the hop");
    // Negative audio guidance hears the context and the hop: a third branch.
    g.reset(1);
    let existing = vec![0.3f32; 9600];
    let (_, stats) = hop(&mut g, 10, Some(&existing));
    assert_eq!(stats.branches, 3);
}
