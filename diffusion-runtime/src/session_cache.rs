//! The process-wide session registry: one loaded session per (graph file, provider config),
//! shared by every element instance, freed when the last user drops it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use ort::session::Session;
use ort::value::TensorElementType;

use crate::batcher::Batcher;
use crate::engine_cache::{EngineBuild, EngineWatch};
use crate::error::{Error, Result};
use crate::ort_env;
use crate::provider::{ProviderConfig, ProviderKind};
use crate::remote::RemoteModel;

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
    backend: Backend,
    /// TensorRT sessions: the engine files their runs write.
    engine: Option<EngineWatch>,
    /// Where denoiser steps of several streams meet to run as one batch.
    batcher: Batcher,
}

/// Where the graph runs.
enum Backend {
    /// In this process. `Session::run` needs `&mut`: users take turns.
    Local(Mutex<Session>),
    /// As a model on an inference server.
    Remote(RemoteModel),
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
    /// A graph served by an inference server, with the inputs and outputs the server reports.
    pub(crate) fn remote(
        graph: PathBuf,
        model: RemoteModel,
        inputs: Vec<Port>,
        outputs: Vec<Port>,
    ) -> Self {
        Self {
            graph,
            provider: ProviderKind::Server,
            inputs,
            outputs,
            backend: Backend::Remote(model),
            engine: None,
            batcher: Batcher::default(),
        }
    }

    /// The server model, when the graph runs on an inference server.
    pub fn remote_model(&self) -> Option<&RemoteModel> {
        match &self.backend {
            Backend::Remote(m) => Some(m),
            Backend::Local(_) => None,
        }
    }

    /// The in-process session (an error for a graph on an inference server).
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Session>> {
        match &self.backend {
            // A panic while running a graph leaves no broken invariant in the session itself.
            Backend::Local(s) => Ok(s.lock().unwrap_or_else(|e| e.into_inner())),
            Backend::Remote(m) => Err(Error::Inference {
                graph: self.graph.display().to_string(),
                message: format!("runs on {} as {}, not in-process", m.server(), m.name),
            }),
        }
    }

    /// Runs `run` on the in-process session, in turn with its other users. `shapes` names the
    /// input shapes: on TensorRT, a first run with new shapes may build an engine, and one that
    /// does is recorded (see [`engine_builds`](Self::engine_builds)).
    pub fn run_with<T>(
        &self,
        shapes: impl FnOnce() -> String,
        run: impl FnOnce(&mut Session) -> T,
    ) -> Result<T> {
        let mut session = self.lock()?;
        let Some(watch) = &self.engine else {
            return Ok(run(&mut session));
        };
        let shapes = shapes();
        if !watch.first_time(&shapes) {
            return Ok(run(&mut session));
        }
        let before = watch.snapshot();
        let start = Instant::now();
        let out = run(&mut session);
        watch.record(&shapes, &before, start.elapsed());
        Ok(out)
    }

    /// The session's cross-stream batching point ([`crate::batcher`]).
    pub fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// TensorRT engines built by this session's runs so far, oldest first (none on other
    /// providers).
    pub fn engine_builds(&self) -> Vec<EngineBuild> {
        self.engine.as_ref().map(|w| w.builds()).unwrap_or_default()
    }
}

/// What a TensorRT session's load did with the engine cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLoad {
    pub dir: PathBuf,
    /// Files of this graph already in the cache before the load.
    pub cached: usize,
    /// Files the load wrote (an engine built at load: graphs with fixed shapes).
    pub written: Vec<String>,
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
    /// TensorRT only: the engine cache before and after the load.
    pub engine: Option<EngineLoad>,
}

/// One registry entry: the per-key load lock (held while a session builds, so that two instances
/// never build the same TensorRT engine twice) and the session, once loaded.
#[derive(Default)]
struct Slot {
    load: Mutex<()>,
    session: Mutex<Weak<SharedSession>>,
}

impl Slot {
    fn get(&self) -> Option<Arc<SharedSession>> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade()
    }
}

/// The registry lock is only held to find or create a slot, never while a session builds.
static REGISTRY: Lazy<Mutex<HashMap<Key, Arc<Slot>>>> = Lazy::new(|| Mutex::new(HashMap::new()));

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

/// Why one provider attempt failed.
enum Attempt {
    /// The provider could not be registered (not in this build, no device, missing libraries).
    Unavailable(String),
    /// The provider registered but the graph did not load (a corrupted file, unsupported ops).
    LoadFailed(String),
}

fn build(
    graph: &Path,
    kind: ProviderKind,
    config: &ProviderConfig,
) -> std::result::Result<Session, Attempt> {
    let env = ort_env::environment().map_err(|e| Attempt::Unavailable(e.to_string()))?;
    // Idle intra-op threads block instead of spinning. Every graph has its own pool, and a pool
    // that spins after its run steals a core from the next graph's (the presenter's decoder ran
    // 60 → 44 ms per chunk on 2 cores after its denoiser with this off); with several streams or
    // both elements in one process, spinning pools only compete.
    let mut builder = Session::builder(env)
        .map_err(|e| Attempt::Unavailable(e.to_string()))?
        .with_intra_op_spinning(false)
        .map_err(|e| Attempt::Unavailable(e.to_string()))?;
    let dispatch = config.dispatch(kind, graph);
    if !dispatch.is_empty() {
        if kind == ProviderKind::TensorRt {
            std::fs::create_dir_all(&config.engine_cache_dir).map_err(|e| {
                Attempt::Unavailable(format!(
                    "cannot create engine-cache-dir {}: {e}",
                    config.engine_cache_dir.display()
                ))
            })?;
        }
        builder = builder
            .with_execution_providers(dispatch)
            .map_err(|e| Attempt::Unavailable(e.to_string()))?;
    }
    builder
        .commit_from_file(graph)
        .map_err(|e| Attempt::LoadFailed(e.to_string()))
}

/// Returns the shared session for `graph` under `config`, loading it if no one holds it.
///
/// `auto` tries TensorRT, CUDA, then CPU, and moves on when a provider is unavailable or cannot
/// load the graph; an explicit provider that fails is an error. A graph that ONNX Runtime cannot
/// load at all (a corrupted file) is reported with ONNX Runtime's own reason.
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
    let slot = {
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, slot| Arc::strong_count(slot) > 1 || slot.get().is_some());
        registry.entry(key).or_default().clone()
    };
    let _loading = slot.load.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = slot.get() {
        let report = LoadReport {
            provider: s.provider,
            skipped: Vec::new(),
            shared: true,
            load_time: Duration::ZERO,
            engine: None,
        };
        return Ok((s, report));
    }
    let start = Instant::now();
    let mut skipped = Vec::new();
    let mut load_failure = None;
    for &kind in config.attempts() {
        // TensorRT: what the load finds in the engine cache and what it writes there.
        let watch = (kind == ProviderKind::TensorRt)
            .then(|| EngineWatch::new(&config.engine_cache_dir, &canonical));
        let before = watch.as_ref().map(EngineWatch::snapshot);
        match build(&canonical, kind, config) {
            Ok(session) => {
                let engine = watch.as_ref().zip(before).map(|(w, before)| EngineLoad {
                    dir: config.engine_cache_dir.clone(),
                    cached: before.len(),
                    written: w.written_since(&before),
                });
                let shared = Arc::new(SharedSession {
                    engine: watch,
                    graph: canonical,
                    provider: kind,
                    inputs: ports(session.inputs()),
                    outputs: ports(session.outputs()),
                    backend: Backend::Local(Mutex::new(session)),
                    batcher: Batcher::default(),
                });
                *slot.session.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&shared);
                let report = LoadReport {
                    provider: kind,
                    skipped,
                    shared: false,
                    load_time: start.elapsed(),
                    engine,
                };
                return Ok((shared, report));
            }
            Err(Attempt::Unavailable(e)) => skipped.push((kind, e)),
            Err(Attempt::LoadFailed(e)) => {
                load_failure = Some((kind, e.clone()));
                skipped.push((kind, e));
            }
        }
    }
    let unavailable: Vec<String> = skipped
        .iter()
        .filter(|(k, _)| load_failure.as_ref().is_none_or(|(f, _)| f != k))
        .map(|(k, e)| format!("{k}: {e}"))
        .collect();
    let message = match (load_failure, config.attempts()) {
        (Some((kind, e)), _) if unavailable.is_empty() => {
            format!("cannot load graph on {kind}: {e}")
        }
        (Some((kind, e)), _) => format!(
            "cannot load graph on {kind}: {e} (not available: {})",
            unavailable.join("; ")
        ),
        (None, [only]) => format!(
            "execution provider {only} could not be used ({}); choose execution-provider=auto or \
             cpu, or install an ONNX Runtime build with that provider",
            unavailable.join("; ")
        ),
        (None, _) => format!(
            "no execution provider could be used: {}",
            unavailable.join("; ")
        ),
    };
    Err(Error::Provider(message))
}

/// Number of sessions currently alive in the registry (for tests and diagnostics).
pub fn live_sessions() -> usize {
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry
        .values()
        .filter(|slot| slot.get().is_some())
        .count()
}
