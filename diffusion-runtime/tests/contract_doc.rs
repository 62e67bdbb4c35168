//! The example manifests in `models/README.md` (a Ditto-class talking head, an MMAudio-class
//! video-to-audio export and a streaming video-to-audio package) must pass validation as
//! documented, so that the contract doc cannot drift from the code. Graph contents are not checked here (there are no weights), only the
//! manifests, with empty stand-ins for the files they name.

use std::path::PathBuf;

use diffusion_runtime::package::{ModelPackage, Task, Timing};

fn example_manifests() -> Vec<String> {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/README.md"),
    )
    .unwrap();
    let mut blocks = Vec::new();
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("\n```").expect("closed code block");
        if body.starts_with("schema = 1") {
            blocks.push(body[..end].to_string());
        }
        rest = &body[end..];
    }
    blocks
}

fn files_named(manifest: &toml::Value) -> Vec<String> {
    let mut files = Vec::new();
    for g in manifest
        .get("graph")
        .and_then(|g| g.as_array())
        .into_iter()
        .flatten()
    {
        files.extend(g.get("file").and_then(|f| f.as_str()).map(String::from));
    }
    if let Some(assets) = manifest.get("assets") {
        files.extend(
            assets
                .get("tokenizer")
                .and_then(|t| t.as_str())
                .map(String::from),
        );
        for (_, v) in assets
            .get("avatars")
            .and_then(|a| a.as_table())
            .into_iter()
            .flatten()
        {
            files.extend(v.as_str().map(String::from));
        }
    }
    files
}

#[test]
fn documented_example_manifests_validate() {
    let blocks = example_manifests();
    let mut tasks = Vec::new();
    let mut streaming = false;
    for (i, text) in blocks.iter().enumerate() {
        let dir =
            std::env::temp_dir().join(format!("gst-generative-doc-{}-{i}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.toml"), text).unwrap();
        let value: toml::Value =
            toml::from_str(text).unwrap_or_else(|e| panic!("example {i} is not TOML: {e}"));
        for f in files_named(&value) {
            let p = dir.join(&f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let pkg = ModelPackage::open(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let pkg = pkg.unwrap_or_else(|e| panic!("documented example {i} does not validate: {e}"));
        tasks.push(pkg.task);
        streaming |= matches!(pkg.timing, Timing::Stream(_));
    }
    assert!(streaming, "no streaming video-to-audio example found");
    assert!(
        tasks.contains(&Task::AudioToVideo),
        "no audio-to-video example found: {tasks:?}"
    );
    assert!(
        tasks.contains(&Task::VideoToAudio),
        "no video-to-audio example found: {tasks:?}"
    );
}
