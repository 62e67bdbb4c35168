//! A missing or wrong ONNX Runtime library is an error that lists what was tried and how to
//! fix it, never a panic. Alone in its test binary: nothing here may load a real library.

use std::path::Path;

use diffusion_runtime::ort_env::ensure_loaded;

#[test]
fn missing_and_wrong_libraries_are_clear_errors() {
    let e = ensure_loaded(Some(Path::new("/nonexistent/libonnxruntime.so")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/libonnxruntime.so (property ort-library): no such file"),
        "{e}"
    );
    assert!(
        e.contains("Fix: point the ort-library property at a libonnxruntime.so 1.20 or newer"),
        "{e}"
    );
    assert!(!e.contains('\n'));

    // A real shared library that is not ONNX Runtime: the C library every Debian system has.
    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    assert!(libc.exists(), "test expects Debian's multiarch libc");
    let e = ensure_loaded(Some(libc)).unwrap_err().to_string();
    assert!(e.contains("not an ONNX Runtime library"), "{e}");

    // A file that is not a library at all.
    let junk = std::env::temp_dir().join(format!("not-a-library-{}.so", std::process::id()));
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let e = ensure_loaded(Some(&junk)).unwrap_err().to_string();
    let _ = std::fs::remove_file(&junk);
    assert!(e.contains(&junk.display().to_string()), "{e}");
    assert!(diffusion_runtime::ort_env::loaded().is_none());
}

/// Run by `scripts/ort-matrix.sh` with `GST_GENERATIVE_OLD_ORT` pointing at ONNX Runtime 1.19:
/// a library older than the oldest supported is refused with its version, not loaded.
#[test]
#[ignore = "needs GST_GENERATIVE_OLD_ORT (scripts/ort-matrix.sh sets it)"]
fn too_old_library_is_refused_by_version() {
    let old = std::env::var("GST_GENERATIVE_OLD_ORT")
        .expect("GST_GENERATIVE_OLD_ORT must name an old libonnxruntime.so");
    let e = ensure_loaded(Some(Path::new(&old)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("version 1.19.2 is not supported (need 1.20 or newer)"),
        "{e}"
    );
}
