//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use diffusion_runtime::ort_env;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures")
}

/// Copies the directory `src` (a package) to `dst`, recursively.
pub fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Loads ONNX Runtime the way an element does (setup-installed copy, env, system).
#[track_caller]
pub fn load_ort() {
    if let Err(e) = ort_env::ensure_loaded(None) {
        panic!("these tests need ONNX Runtime; run scripts/setup.sh first: {e}");
    }
}

/// Mean and (population) standard deviation.
pub fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The provider the suites run graphs on: `GST_GENERATIVE_TEST_PROVIDER` (`cpu`, `cuda`,
/// `tensorrt` or `auto`; `cpu` when unset), so that `scripts/gpu-check.sh` runs the same tests
/// on a GPU. An explicit GPU provider that cannot be used fails the test, never falls back.
pub fn provider() -> diffusion_runtime::provider::ProviderConfig {
    use diffusion_runtime::provider::{ProviderChoice, ProviderConfig};
    let name = std::env::var("GST_GENERATIVE_TEST_PROVIDER").unwrap_or_else(|_| "cpu".into());
    let choice = ProviderChoice::from_name(&name).unwrap_or_else(|| {
        panic!("GST_GENERATIVE_TEST_PROVIDER={name}: expected cpu, cuda, tensorrt or auto")
    });
    ProviderConfig {
        choice,
        ..Default::default()
    }
}

/// A fixture package (`presenter`, `foley`) opened and loaded on the test provider.
pub fn load_fixture(name: &str) -> diffusion_runtime::package::LoadedPackage {
    use diffusion_runtime::package::{LoadedPackage, ModelPackage};
    load_ort();
    LoadedPackage::load(
        ModelPackage::open(&fixtures().join(name)).unwrap(),
        &provider(),
        &mut |_| {},
    )
    .unwrap()
}
