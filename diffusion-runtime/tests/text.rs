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
