//! Tests live in tests/tests/ and benches in tests/benches/; this library holds what the benches
//! share.

use std::path::Path;

/// The model directory a bench was given (or the named fixture package), as an absolute path.
/// Cargo runs benches from this crate's directory, so a relative path is taken from the
/// workspace root, where the README's commands run. Exits with a one-line message when the
/// directory holds no `model.toml` (the element would only report a failed state change).
pub fn bench_model_dir(arg: Option<String>, fixture: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // An absolute argument replaces the root (Path::join).
    let dir = match arg {
        Some(a) => root.join(a),
        None => root.join("models/fixtures").join(fixture),
    };
    match dir.canonicalize() {
        Ok(d) if d.join("model.toml").is_file() => d.display().to_string(),
        _ => {
            eprintln!("{}: not a model package (no model.toml)", dir.display());
            std::process::exit(2);
        }
    }
}
