//! Loading a package's graphs through the session cache and checking each graph's real inputs
//! and outputs against the manifest.

use std::sync::Arc;
use std::time::Duration;

use ndarray::{ArrayD, ArrayViewD};
use ort::session::SessionInputValue;
use ort::value::TensorRef;

use super::{Dim, GraphSpec, ModelPackage, Role, TensorSpec};
use crate::denoiser::{DenoiserIo, TimestepType};
use crate::engine_cache::EngineBuild;
use crate::error::{Error, PackageError, Result};
use crate::package::DType;
use crate::provider::{ProviderConfig, ProviderKind};
use crate::remote::{RemoteInput, RemoteModel};
use crate::session_cache::{self, EngineLoad, Port, SharedSession};

/// Progress while a package loads, for the element's `Progress` messages and log.
#[derive(Debug, Clone)]
pub enum LoadEvent {
    /// About to load graph `index` of `total` (TensorRT may build an engine now: minutes).
    Loading {
        index: usize,
        total: usize,
        file: String,
    },
    /// Graph loaded on `provider`; `skipped` lists providers that failed first, with reasons.
    Loaded {
        file: String,
        provider: ProviderKind,
        skipped: Vec<(ProviderKind, String)>,
        shared: bool,
        load_time: Duration,
        /// TensorRT only: what the load found in and wrote to the engine cache.
        engine: Option<EngineLoad>,
    },
}

/// An input tensor for [`LoadedGraph::run`].
#[derive(Debug, Clone)]
pub enum GraphInput<'a> {
    F32(ArrayViewD<'a, f32>),
    I64(ArrayViewD<'a, i64>),
}

/// An output tensor of [`LoadedGraph::run_raw_timed`], in the graph's own element type.
#[derive(Debug, Clone)]
pub enum GraphOutput {
    F32(ArrayD<f32>),
    U8(ArrayD<u8>),
    I64(ArrayD<i64>),
}

impl GraphOutput {
    pub fn shape(&self) -> &[usize] {
        match self {
            GraphOutput::F32(a) => a.shape(),
            GraphOutput::U8(a) => a.shape(),
            GraphOutput::I64(a) => a.shape(),
        }
    }
}

/// A graph of a package, loaded.
#[derive(Debug, Clone)]
pub struct LoadedGraph {
    pub spec: GraphSpec,
    pub session: Arc<SharedSession>,
}

/// A package with every graph loaded and checked.
#[derive(Debug, Clone)]
pub struct LoadedPackage {
    pub package: ModelPackage,
    pub graphs: Vec<LoadedGraph>,
}

fn check_ports(
    pkg: &ModelPackage,
    spec: &GraphSpec,
    what: &str,
    declared: &[TensorSpec],
    real: &[Port],
) -> Result<(), PackageError> {
    let err = |j: usize, part: &str, problem: String| {
        pkg.error(
            &spec.file,
            format!("graph[{}].{what}[{j}].{part}", spec.index),
            problem,
        )
    };
    for (j, d) in declared.iter().enumerate() {
        let Some(p) = real.iter().find(|p| p.name == d.name) else {
            let names: Vec<&str> = real.iter().map(|p| p.name.as_str()).collect();
            let kind = if what == "inputs" { "input" } else { "output" };
            return Err(err(
                j,
                "name",
                format!(
                    "the graph has no {kind} {:?} (it has: {})",
                    d.name,
                    names.join(", ")
                ),
            ));
        };
        if p.dtype != Some(d.dtype.to_ort()) {
            let got = p.dtype.map_or("a non-tensor value".to_string(), |t| {
                DType::ALL
                    .iter()
                    .find(|d| d.to_ort() == t)
                    .map_or(format!("{t:?}"), |d| d.as_str().to_string())
            });
            return Err(err(
                j,
                "dtype",
                format!(
                    "{:?} is {got} in the graph, the manifest says {}",
                    d.name,
                    d.dtype.as_str()
                ),
            ));
        }
        if p.shape.len() != d.shape.len() {
            return Err(err(
                j,
                "shape",
                format!(
                    "{:?} has rank {} in the graph ({:?}), the manifest says rank {}",
                    d.name,
                    p.shape.len(),
                    p.shape,
                    d.shape.len()
                ),
            ));
        }
        for (k, (&real_dim, decl)) in p.shape.iter().zip(&d.shape).enumerate() {
            // The denoiser's batch carries the guidance branches: a graph exported with a fixed
            // batch would fail at the first guided step, so it is refused here.
            if k == 0
                && spec.role == Role::Denoiser
                && real_dim >= 0
                && matches!(decl, Dim::Symbol(_))
            {
                return Err(err(
                    j,
                    "shape",
                    format!("{:?} has a fixed batch of {real_dim} in the graph; guidance branches need a dynamic batch (export with a dynamic axis 0)", d.name),
                ));
            }
            if let Dim::Fixed(n) = decl {
                if real_dim >= 0 && real_dim as usize != *n {
                    return Err(err(
                        j,
                        "shape",
                        format!(
                            "{:?} dimension {k} is {real_dim} in the graph, the manifest says {n}",
                            d.name
                        ),
                    ));
                }
            }
        }
    }
    if what == "inputs" {
        if let Some(p) = real
            .iter()
            .find(|p| !declared.iter().any(|d| d.name == p.name))
        {
            return Err(pkg.error(
                &spec.file,
                format!("graph[{}].inputs", spec.index),
                format!(
                    "graph input {:?} is not declared in the manifest, so nothing would feed it",
                    p.name
                ),
            ));
        }
    }
    Ok(())
}

/// A graph as a model on an inference server: live server, ready model, its reported inputs
/// and outputs (checked against the manifest by the caller, as local graphs are).
fn load_remote(
    server: &crate::remote::ServerConfig,
    spec: &GraphSpec,
) -> Result<(Arc<SharedSession>, session_cache::LoadReport)> {
    let start = std::time::Instant::now();
    let (mut model, mut inputs, mut outputs) =
        RemoteModel::open(server, &spec.server_model, &spec.server_version)?;
    let rank = |name: &str| {
        spec.inputs
            .iter()
            .chain(&spec.outputs)
            .find(|t| t.name == name)
            .map(|t| t.shape.len())
    };
    model.reconcile(&mut inputs, rank);
    model.reconcile(&mut outputs, rank);
    let session = SharedSession::remote(spec.path.clone(), model, inputs, outputs);
    let report = session_cache::LoadReport {
        provider: ProviderKind::Server,
        skipped: Vec::new(),
        shared: false,
        load_time: start.elapsed(),
        engine: None,
    };
    Ok((Arc::new(session), report))
}

impl LoadedPackage {
    /// Loads every graph (shared with other users of the same graph and provider settings).
    pub fn load(
        package: ModelPackage,
        config: &ProviderConfig,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<Self> {
        let total = package.graphs.len();
        let mut graphs = Vec::with_capacity(total);
        for (index, spec) in package.graphs.iter().enumerate() {
            progress(LoadEvent::Loading {
                index,
                total,
                file: spec.file.clone(),
            });
            let loaded = match &config.server {
                Some(server) => load_remote(server, spec),
                None => session_cache::get_or_load(&spec.path, config),
            };
            let (session, report) = loaded.map_err(|e| {
                let problem = match e {
                    Error::Provider(m) => m,
                    other => other.to_string(),
                };
                Error::Package(package.error(&spec.file, format!("graph[{index}].file"), problem))
            })?;
            check_ports(&package, spec, "inputs", &spec.inputs, &session.inputs)?;
            check_ports(&package, spec, "outputs", &spec.outputs, &session.outputs)?;
            progress(LoadEvent::Loaded {
                file: spec.file.clone(),
                provider: report.provider,
                skipped: report.skipped,
                shared: report.shared,
                load_time: report.load_time,
                engine: report.engine,
            });
            graphs.push(LoadedGraph {
                spec: spec.clone(),
                session,
            });
        }
        Ok(Self { package, graphs })
    }

    /// TensorRT engines built while running this package's graphs so far, by graph file,
    /// oldest first per graph (shared sessions: builds caused by any of their users).
    pub fn engine_builds(&self) -> Vec<(String, EngineBuild)> {
        self.graphs
            .iter()
            .flat_map(|g| {
                g.session
                    .engine_builds()
                    .into_iter()
                    .map(|b| (g.spec.file.clone(), b))
            })
            .collect()
    }

    pub fn graph(&self, role: Role) -> Option<&LoadedGraph> {
        self.graphs.iter().find(|g| g.spec.role == role)
    }

    /// The denoiser's I/O names and timestep type, from the manifest (already checked against
    /// the graph).
    pub fn denoiser_io(&self) -> Result<(Arc<SharedSession>, DenoiserIo)> {
        let g = self
            .graph(Role::Denoiser)
            .ok_or_else(|| Error::Invalid("package has no denoiser".into()))?;
        let slot = |s: &str| {
            g.spec
                .input(s)
                .ok_or_else(|| Error::Invalid(format!("denoiser has no {s} input")))
        };
        let (latent, ts) = (slot("latent")?, slot("timestep")?);
        let pred = g
            .spec
            .output("prediction")
            .ok_or_else(|| Error::Invalid("denoiser has no prediction output".into()))?;
        let io = DenoiserIo {
            latent: latent.name.clone(),
            timestep: ts.name.clone(),
            timestep_type: if ts.dtype == DType::I64 {
                TimestepType::I64
            } else {
                TimestepType::F32
            },
            timestep_rank: ts.shape.len(),
            branch: g.spec.input("branch").map(|b| b.name.clone()),
            prediction: pred.name.clone(),
        };
        Ok((g.session.clone(), io))
    }
}

impl LoadedGraph {
    /// Runs the graph on inputs of any supported type given by slot; outputs by slot as f32
    /// (uint8 outputs keep their 0..=255 values).
    pub fn run(
        &self,
        inputs: &[(&str, GraphInput<'_>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<f32>>> {
        self.run_timed(inputs, outputs).map(|(out, _)| out)
    }

    /// As [`run`](Self::run), also returning the time spent inside `Session::run` (for
    /// overhead accounting: everything else is the runtime's own work).
    pub fn run_timed(
        &self,
        inputs: &[(&str, GraphInput<'_>)],
        outputs: &[&str],
    ) -> Result<(Vec<ArrayD<f32>>, Duration)> {
        let (out, in_run) = self.run_raw_timed(inputs, outputs)?;
        let out = out
            .into_iter()
            .map(|o| match o {
                GraphOutput::F32(a) => a,
                GraphOutput::U8(a) => a.mapv(f32::from),
                // Codes and counts: exact in f32 up to 2^24.
                GraphOutput::I64(a) => a.mapv(|v| v as f32),
            })
            .collect();
        Ok((out, in_run))
    }

    /// As [`run_timed`](Self::run_timed), with each output in the element type the graph
    /// produced: rendered uint8 frames stay bytes (a 512×512 chunk of 80 frames is 63 M values,
    /// which a detour through f32 would copy twice).
    pub fn run_raw_timed(
        &self,
        inputs: &[(&str, GraphInput<'_>)],
        outputs: &[&str],
    ) -> Result<(Vec<GraphOutput>, Duration)> {
        let fail = |m: String| self.inference_error(m);
        if let Some(model) = self.session.remote_model() {
            return self.run_remote(model, inputs, outputs);
        }
        let mut values: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (slot, array) in inputs {
            let name = self.input_name(slot)?;
            let value: SessionInputValue<'_> = match array {
                GraphInput::F32(a) => TensorRef::from_array_view(a.view()).map(Into::into),
                GraphInput::I64(a) => TensorRef::from_array_view(a.view()).map(Into::into),
            }
            .map_err(|e| fail(e.to_string()))?;
            values.push((name.to_string(), value));
        }
        let shapes = || {
            let dims: Vec<String> = inputs
                .iter()
                .map(|(slot, a)| match a {
                    GraphInput::F32(a) => format!("{slot}{:?}", a.shape()),
                    GraphInput::I64(a) => format!("{slot}{:?}", a.shape()),
                })
                .collect();
            dims.join(" ")
        };
        self.session.run_with(shapes, |session| {
            let start = std::time::Instant::now();
            let out = session.run(values).map_err(|e| fail(e.to_string()))?;
            let in_run = start.elapsed();
            outputs
                .iter()
                .map(|slot| {
                    let name = self.output_name(slot)?;
                    let v = out
                        .get(name)
                        .ok_or_else(|| fail(format!("output {name} missing")))?;
                    if let Ok(a) = v.try_extract_array::<f32>() {
                        return Ok(GraphOutput::F32(a.to_owned()));
                    }
                    if let Ok(a) = v.try_extract_array::<i64>() {
                        return Ok(GraphOutput::I64(a.to_owned()));
                    }
                    v.try_extract_array::<u8>()
                        .map(|a| GraphOutput::U8(a.to_owned()))
                        .map_err(|e| fail(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()
                .map(|out| (out, in_run))
        })?
    }

    /// The graph's name of input `slot`, or an error naming the slot.
    fn input_name(&self, slot: &str) -> Result<&str> {
        self.spec
            .input(slot)
            .map(|t| t.name.as_str())
            .ok_or_else(|| self.inference_error(format!("no input slot {slot}")))
    }

    /// The graph's name of output `slot`, or an error naming the slot.
    fn output_name(&self, slot: &str) -> Result<&str> {
        self.spec
            .output(slot)
            .map(|t| t.name.as_str())
            .ok_or_else(|| self.inference_error(format!("no output slot {slot}")))
    }

    fn inference_error(&self, message: String) -> Error {
        Error::Inference {
            graph: self.spec.file.clone(),
            message,
        }
    }

    /// [`run_raw_timed`](Self::run_raw_timed) on an inference server; the time returned is the
    /// request's round trip.
    fn run_remote(
        &self,
        model: &crate::remote::RemoteModel,
        inputs: &[(&str, GraphInput<'_>)],
        outputs: &[&str],
    ) -> Result<(Vec<GraphOutput>, Duration)> {
        let wire = inputs
            .iter()
            .map(|(slot, a)| {
                let name = self.input_name(slot)?;
                Ok(match a {
                    GraphInput::F32(a) => RemoteInput::f32(name, a.shape(), a.iter().copied()),
                    GraphInput::I64(a) => RemoteInput::i64(name, a.shape(), a.iter().copied()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let names = outputs
            .iter()
            .map(|slot| self.output_name(slot))
            .collect::<Result<Vec<_>>>()?;
        let start = std::time::Instant::now();
        let out = model.infer(&wire, &names)?;
        Ok((out, start.elapsed()))
    }
}
