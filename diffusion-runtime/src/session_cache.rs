//! The process-wide session registry: one loaded session per (graph file, provider config),
//! shared by every element instance, freed when the last user drops it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use ort::session::Session;
use ort::value::TensorElementType;

use crate::error::{Error, Result};
use crate::ort_env;
use crate::provider::{ProviderConfig, ProviderKind};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    graph: PathBuf,
    config: ProviderConfig,
}

/// One input or output of a loaded graph as ONNX Runtime reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: String,
    /// `None` for non-tensor values (sequences, maps), which the contract does not allow.
    pub dtype: Option<TensorElementType>,
    /// Dimensions; `-1` where dynamic.
    pub shape: Vec<i64>,
}

/// A loaded graph, shared between element instances.
pub struct SharedSession {
    pub graph: PathBuf,
    pub provider: ProviderKind,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// `Session::run` needs `&mut`: users take turns.
    session: Mutex<Session>,
}

impl std::fmt::Debug for SharedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSession")
            .field("graph", &self.graph)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl SharedSession {
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        // A panic while running a graph leaves no broken invariant in the session itself.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How a session was obtained, for the element's log and `Progress` messages.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub provider: ProviderKind,
    /// Providers tried before the one that worked, with the reason each failed.
    pub skipped: Vec<(ProviderKind, String)>,
    /// True if the session was already loaded by another user.
    pub shared: bool,
    pub load_time: Duration,
}

static REGISTRY: Lazy<Mutex<HashMap<Key, Weak<SharedSession>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

fn ports(outlets: &[ort::value::Outlet]) -> Vec<Port> {
    outlets
        .iter()
        .map(|o| Port {
            name: o.name().to_string(),
            dtype: o.dtype().tensor_type(),
            shape: o
                .dtype()
                .tensor_shape()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default(),
        })
        .collect()
}

fn build(
    graph: &Path,
    kind: ProviderKind,
    config: &ProviderConfig,
) -> std::result::Result<Session, String> {
    let env = ort_env::environment().map_err(|e| e.to_string())?;
    let mut builder = Session::builder(env).map_err(|e| e.to_string())?;
    if let Some(dispatch) = config.dispatch(kind) {
        if kind == ProviderKind::TensorRt {
            std::fs::create_dir_all(&config.engine_cache_dir).map_err(|e| {
                format!(
                    "cannot create engine-cache-dir {}: {e}",
                    config.engine_cache_dir.display()
                )
            })?;
        }
        builder = builder
            .with_execution_providers([dispatch])
            .map_err(|e| e.to_string())?;
    }
    builder.commit_from_file(graph).map_err(|e| e.to_string())
}

/// Returns the shared session for `graph` under `config`, loading it if no one holds it.
///
/// `auto` tries TensorRT, CUDA, then CPU; an explicit provider that fails is an error. A graph
/// that ONNX Runtime cannot load at all (a corrupted file) fails on the CPU attempt and is
/// reported as such.
pub fn get_or_load(
    graph: &Path,
    config: &ProviderConfig,
) -> Result<(Arc<SharedSession>, LoadReport)> {
    let canonical = graph
        .canonicalize()
        .map_err(|e| Error::Invalid(format!("{}: {e}", graph.display())))?;
    let key = Key {
        graph: canonical.clone(),
        config: config.clone(),
    };
    // Loads are serialised by this lock; a TensorRT build therefore blocks other loads, which
    // also keeps two instances from building the same engine twice.
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.retain(|_, w| w.strong_count() > 0);
    if let Some(s) = registry.get(&key).and_then(Weak::upgrade) {
        let report = LoadReport {
            provider: s.provider,
            skipped: Vec::new(),
            shared: true,
            load_time: Duration::ZERO,
        };
        return Ok((s, report));
    }
    let start = Instant::now();
    let mut skipped = Vec::new();
    for &kind in config.attempts() {
        match build(&canonical, kind, config) {
            Ok(session) => {
                let shared = Arc::new(SharedSession {
                    graph: canonical,
                    provider: kind,
                    inputs: ports(session.inputs()),
                    outputs: ports(session.outputs()),
                    session: Mutex::new(session),
                });
                registry.insert(key, Arc::downgrade(&shared));
                let report = LoadReport {
                    provider: kind,
                    skipped,
                    shared: false,
                    load_time: start.elapsed(),
                };
                return Ok((shared, report));
            }
            Err(e) => skipped.push((kind, e)),
        }
    }
    let reasons: Vec<String> = skipped.iter().map(|(k, e)| format!("{k}: {e}")).collect();
    let message = if config.attempts().len() == 1 && config.attempts()[0] != ProviderKind::Cpu {
        format!(
            "execution provider {} could not be used ({}); choose execution-provider=auto or cpu, \
             or install an ONNX Runtime build with that provider",
            config.attempts()[0],
            reasons.join("; ")
        )
    } else {
        format!("cannot load graph: {}", reasons.join("; "))
    };
    Err(Error::Provider(message))
}

/// Number of sessions currently alive in the registry (for tests and diagnostics).
pub fn live_sessions() -> usize {
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.values().filter(|w| w.strong_count() > 0).count()
}
