//! Prompts through the foley fixture's tokenizer and text encoder.

mod common;

use common::load_fixture;
use diffusion_runtime::text::TextEncoder;

fn encoder() -> TextEncoder {
    let pkg = load_fixture("foley");
    TextEncoder::new(&pkg).unwrap()
}

#[test]
fn prompts_are_encoded_pooled_and_cached() {
    let mut t = encoder();
    let metal = t.encode("Metal impact on wood").unwrap();
    assert_eq!(metal.shape(), &[1, 16]);
    let norm = metal.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(
        (norm - 1.0).abs() < 1e-5,
        "mean pooled then L2-normalised: {norm}"
    );
    // Case is normalised by the tokenizer: the same tokens, the same embedding.
    let again = t.encode("metal IMPACT on wood").unwrap();
    assert_eq!(metal, again);
    assert_eq!(t.encodes, 2);
    // Cached: no graph run for a prompt seen before.
    assert_eq!(t.encode("Metal impact on wood").unwrap(), metal);
    assert_eq!(t.encodes, 2);
    let rain = t.encode("rain and thunder").unwrap();
    assert_ne!(rain, metal);
    // The empty prompt (unconditional) encodes too: just [CLS] [SEP].
    let empty = t.encode("").unwrap();
    assert_eq!(empty.shape(), &[1, 16]);
    assert_ne!(empty, rain);
}

/// A new prompt every window for hours holds a bounded cache: the oldest prompts are evicted
/// (and encoded again, identically, when they come back).
#[test]
fn the_prompt_cache_is_bounded() {
    use diffusion_runtime::text::CACHED_PROMPTS;
    let mut t = encoder();
    let first = t.encode("prompt 0").unwrap();
    for i in 1..3 * CACHED_PROMPTS {
        t.encode(&format!("prompt {i}")).unwrap();
        assert!(t.cached() <= CACHED_PROMPTS);
    }
    assert_eq!(t.cached(), CACHED_PROMPTS);
    let encodes = t.encodes;
    assert_eq!(t.encode("prompt 0").unwrap(), first);
    assert_eq!(t.encodes, encodes + 1, "evicted, so encoded again");
}
