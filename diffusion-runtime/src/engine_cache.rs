//! TensorRT's engine cache, watched: which engine files a session's load or runs wrote.
//!
//! ONNX Runtime's TensorRT provider builds an engine when a graph first runs with input shapes
//! that no cached engine covers (minutes for a large graph), writes it to `engine-cache-dir`, and
//! loads it from there on the next start. It says none of this through its API, so the runtime
//! looks at the cache directory: each graph's engines carry a prefix of their own
//! ([`cache_prefix`]), and a load or a run with shapes not seen before that leaves new or
//! rewritten files under that prefix built an engine. The elements report each build in a
//! `Progress` message; a second start with the same cache reports none.
//!
//! Locks: `seen` and `builds` are leaves, taken briefly while the session's own lock is held.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// An engine build seen in the cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineBuild {
    /// Input shapes of the run that built it (`at load` for builds during session creation).
    pub shapes: String,
    /// Files written or rewritten under the graph's prefix, by name.
    pub files: Vec<String>,
    /// How long the load or run that built it took.
    pub took: Duration,
}

/// Size and modification time of each file under a prefix.
pub(crate) type Listing = HashMap<String, (u64, Option<SystemTime>)>;

/// The engine-cache prefix for a graph: its file stem, reduced to characters any file system
/// takes, so that the cache directory says which engine belongs to which graph.
pub fn cache_prefix(graph: &Path) -> String {
    let stem = graph
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("gstgen_{clean}")
}

/// Files in `dir` whose names start with `prefix` (none if the directory is missing).
fn listing(dir: &Path, prefix: &str) -> Listing {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Listing::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            name.starts_with(prefix)
                .then(|| (name, (meta.len(), meta.modified().ok())))
        })
        .collect()
}

/// Names in `after` that are new or changed since `before`, sorted.
fn written(before: &Listing, after: &Listing) -> Vec<String> {
    let mut names: Vec<String> = after
        .iter()
        .filter(|(name, stamp)| before.get(*name) != Some(stamp))
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

/// The watch kept by a TensorRT session.
#[derive(Debug)]
pub(crate) struct EngineWatch {
    dir: PathBuf,
    prefix: String,
    /// Input-shape signatures already run: only a first run with new shapes can build.
    seen: Mutex<HashSet<String>>,
    builds: Mutex<Vec<EngineBuild>>,
}

impl EngineWatch {
    pub(crate) fn new(dir: &Path, graph: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            prefix: cache_prefix(graph),
            seen: Mutex::default(),
            builds: Mutex::default(),
        }
    }

    pub(crate) fn snapshot(&self) -> Listing {
        listing(&self.dir, &self.prefix)
    }

    /// True the first time `shapes` is asked about.
    pub(crate) fn first_time(&self, shapes: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shapes.to_string())
    }

    /// Files under the prefix new or changed since `before` (a [`snapshot`](Self::snapshot)).
    pub(crate) fn written_since(&self, before: &Listing) -> Vec<String> {
        written(before, &self.snapshot())
    }

    /// Records a build if files under the prefix changed since `before`.
    pub(crate) fn record(&self, shapes: &str, before: &Listing, took: Duration) {
        let files = self.written_since(before);
        if !files.is_empty() {
            self.builds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(EngineBuild {
                    shapes: shapes.to_string(),
                    files,
                    took,
                });
        }
    }

    pub(crate) fn builds(&self) -> Vec<EngineBuild> {
        self.builds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("engine-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn prefix_is_the_stem_made_safe() {
        assert_eq!(
            cache_prefix(Path::new("/p/flow step.v2.onnx")),
            "gstgen_flow_step_v2"
        );
        assert_eq!(cache_prefix(Path::new("denoiser.onnx")), "gstgen_denoiser");
    }

    /// A new engine file is a build; the same files untouched (a cache hit) are none; another
    /// graph's files and ONNX Runtime's shared timing cache are not this graph's.
    #[test]
    fn new_or_rewritten_files_under_the_prefix_are_builds() {
        let d = dir("watch");
        let graph = Path::new("/pkg/denoiser.onnx");
        let w = EngineWatch::new(&d, graph);
        std::fs::write(d.join("gstgen_decoder_123_sm90.engine"), b"other graph").unwrap();
        std::fs::write(d.join("TensorrtExecutionProvider_cache_sm90.timing"), b"t").unwrap();

        assert!(w.first_time("[2,48,200]"));
        assert!(!w.first_time("[2,48,200]"));
        let before = w.snapshot();
        std::fs::write(d.join("gstgen_denoiser_9_0_sm90.engine"), b"engine").unwrap();
        std::fs::write(d.join("gstgen_denoiser_9_0_sm90.profile"), b"profile").unwrap();
        w.record("[2,48,200]", &before, Duration::from_secs(40));
        let builds = w.builds();
        assert_eq!(builds.len(), 1);
        assert_eq!(
            builds[0].files,
            [
                "gstgen_denoiser_9_0_sm90.engine",
                "gstgen_denoiser_9_0_sm90.profile"
            ]
        );

        // A later run that finds its engine writes nothing: no build.
        let before = w.snapshot();
        w.record("[1,48,200]", &before, Duration::from_millis(5));
        assert_eq!(w.builds().len(), 1);

        // A rebuild for a new profile rewrites the engine (a different size here).
        std::fs::write(d.join("gstgen_denoiser_9_0_sm90.engine"), b"bigger engine").unwrap();
        w.record("[3,48,200]", &before, Duration::from_secs(41));
        assert_eq!(w.builds().len(), 2);
        assert_eq!(w.builds()[1].files, ["gstgen_denoiser_9_0_sm90.engine"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_directory_lists_nothing() {
        assert!(listing(Path::new("/nonexistent/engine/cache"), "gstgen_x").is_empty());
    }
}
