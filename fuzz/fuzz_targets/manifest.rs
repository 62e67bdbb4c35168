//! The manifest parser and validator on arbitrary text, as `model.toml` of the fixture foley
//! package (so that file references resolve against real files): it must never panic, and a
//! refusal is one line naming the package.
#![no_main]

use std::path::PathBuf;

use diffusion_runtime::package::ModelPackage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/foley");
    let text = String::from_utf8_lossy(data);
    if let Err(e) = ModelPackage::from_manifest_text(&dir, &text) {
        let line = e.to_string();
        assert!(!line.contains('\n'), "multi-line error: {line}");
        assert!(line.starts_with("model package "), "{line}");
    }
});
