//! The denoiser graph behind the [`Denoise`] trait: one ONNX Runtime call per step for all
//! guidance branches, through an I/O binding whose tensors are allocated once and rewritten in
//! place, so that a step allocates no tensor memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, Axis};
use ort::session::IoBinding;
use ort::value::{DynTensor, Tensor};

use crate::batcher::Registration;
use crate::error::{Error, Result};
use crate::sampler::{Branches, Denoise};
use crate::session_cache::SharedSession;

/// Element type the graph wants for its timestep input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepType {
    F32,
    I64,
}

/// Names and types of the denoiser's inputs and output.
#[derive(Debug, Clone, PartialEq)]
pub struct DenoiserIo {
    pub latent: String,
    pub timestep: String,
    pub timestep_type: TimestepType,
    /// 1 for `[batch]`, 0 for a scalar timestep shared by the batch.
    pub timestep_rank: usize,
    /// Optional int64 `[batch]` input telling the graph which guidance branch each batch row
    /// is (0 = c, 1 = ∅, 2 = neg), for models that substitute learned null conditions.
    pub branch: Option<String>,
    pub prediction: String,
}

impl DenoiserIo {
    /// The timestep's shape for a call of `batch` rows: `[batch]`, or `[]` for a scalar.
    pub(crate) fn timestep_shape(&self, batch: usize) -> Vec<usize> {
        if self.timestep_rank == 0 {
            vec![]
        } else {
            vec![batch]
        }
    }
}

/// `[batch, ...latent_shape]`: one call's latent.
pub(crate) fn batched_shape(batch: usize, latent_shape: &[usize]) -> Vec<usize> {
    std::iter::once(batch)
        .chain(latent_shape.iter().copied())
        .collect()
}

/// Conditions of one guidance branch: graph input name → tensor with a leading batch dim of 1.
pub type BranchConditions = Vec<(String, ArrayD<f32>)>;

enum TimestepTensor {
    F32(Tensor<f32>),
    I64(Tensor<i64>),
}

/// An ONNX denoiser with its conditions bound for one chunk or window.
pub struct OnnxDenoiser {
    session: Arc<SharedSession>,
    io: DenoiserIo,
    binding: IoBinding,
    x: Tensor<f32>,
    t: TimestepTensor,
    out: Tensor<f32>,
    branches: Branches,
    latent_len: usize,
    /// The bound input shapes, for the TensorRT engine watch.
    shapes: String,
    /// Time spent inside `Session::run`, for overhead accounting.
    pub run_time: Duration,
    pub runs: u32,
}

pub(crate) fn branches_of(n: usize) -> Result<Branches> {
    match n {
        1 => Ok(Branches::Conditional),
        2 => Ok(Branches::Cfg),
        3 => Ok(Branches::CfgNegativeAudio),
        n => Err(Error::Invalid(format!(
            "{n} guidance branches; expected 1, 2 or 3"
        ))),
    }
}

/// Condition `name` of every branch stacked along the batch dimension (each branch has 1).
pub(crate) fn stack(name: &str, conditions: &[BranchConditions]) -> Result<ArrayD<f32>> {
    let parts: Vec<_> = conditions
        .iter()
        .map(|branch| {
            branch
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a.view())
                .ok_or_else(|| {
                    Error::Invalid(format!("condition {name} missing in a guidance branch"))
                })
        })
        .collect::<Result<_>>()?;
    if parts.iter().any(|p| p.shape().first() != Some(&1)) {
        return Err(Error::Invalid(format!(
            "condition {name} must have a batch dimension of 1"
        )));
    }
    ndarray::concatenate(Axis(0), &parts)
        .map_err(|e| Error::Invalid(format!("condition {name}: branches differ in shape: {e}")))
}

fn ort_err(graph: &SharedSession, e: impl std::fmt::Display) -> Error {
    Error::Inference {
        graph: graph.graph.display().to_string(),
        message: e.to_string(),
    }
}

impl OnnxDenoiser {
    /// Binds `conditions` (one entry per branch, in [`Branches`] order) and allocates the latent,
    /// timestep and output tensors for `latent_shape` (without the batch dimension).
    pub fn new(
        session: Arc<SharedSession>,
        io: DenoiserIo,
        latent_shape: &[usize],
        conditions: &[BranchConditions],
    ) -> Result<Self> {
        let branches = branches_of(conditions.len())?;
        let b = conditions.len();
        let latent_len: usize = latent_shape.iter().product();
        let batched_shape = batched_shape(b, latent_shape);
        let mut shapes = format!("{}{batched_shape:?}", io.latent);

        let guard = session.lock()?;
        let alloc = guard.allocator();
        let mk = |e| ort_err(&session, e);
        let x = Tensor::<f32>::new(alloc, batched_shape.clone()).map_err(mk)?;
        let mut out = Tensor::<f32>::new(alloc, batched_shape).map_err(mk)?;
        let t_shape = io.timestep_shape(b);
        let t = match io.timestep_type {
            TimestepType::F32 => TimestepTensor::F32(Tensor::new(alloc, t_shape).map_err(mk)?),
            TimestepType::I64 => TimestepTensor::I64(Tensor::new(alloc, t_shape).map_err(mk)?),
        };
        let mut binding = guard.create_binding().map_err(mk)?;
        drop(guard);

        binding.bind_input(&io.latent, &x).map_err(mk)?;
        match &t {
            TimestepTensor::F32(t) => binding.bind_input(&io.timestep, t),
            TimestepTensor::I64(t) => binding.bind_input(&io.timestep, t),
        }
        .map_err(mk)?;
        if let Some(name) = &io.branch {
            let index: Vec<i64> = (0..b as i64).collect();
            let tensor = Tensor::from_array((vec![b], index)).map_err(mk)?;
            binding.bind_input(name, &tensor).map_err(mk)?;
        }
        for (name, _) in &conditions[0] {
            let stacked = stack(name, conditions)?;
            let tensor: DynTensor = Tensor::from_array(stacked.as_standard_layout().into_owned())
                .map_err(mk)?
                .upcast();
            shapes.push_str(&format!(" {name}{:?}", stacked.shape()));
            // The binding keeps the tensor alive; conditions are fixed for the whole chunk.
            binding.bind_input(name, &tensor).map_err(mk)?;
        }
        binding.bind_output(&io.prediction, &mut out).map_err(mk)?;
        Ok(Self {
            session,
            io,
            binding,
            x,
            t,
            out,
            branches,
            latent_len,
            shapes,
            run_time: Duration::ZERO,
            runs: 0,
        })
    }
}

impl Denoise for OnnxDenoiser {
    fn branches(&self) -> Branches {
        self.branches
    }

    fn latent_len(&self) -> usize {
        self.latent_len
    }

    fn predict(&mut self, x: &[f32], t: f32, out: &mut [f32]) -> Result<()> {
        let n = self.latent_len;
        {
            let (_, data) = self
                .x
                .try_extract_tensor_mut::<f32>()
                .map_err(|e| ort_err(&self.session, e))?;
            for chunk in data.chunks_exact_mut(n) {
                chunk.copy_from_slice(x);
            }
        }
        match &mut self.t {
            TimestepTensor::F32(tt) => tt.try_extract_tensor_mut::<f32>().map(|(_, d)| d.fill(t)),
            TimestepTensor::I64(tt) => tt
                .try_extract_tensor_mut::<i64>()
                .map(|(_, d)| d.fill(t.round() as i64)),
        }
        .map_err(|e| ort_err(&self.session, e))?;
        let start = Instant::now();
        self.session
            .run_with(
                || self.shapes.clone(),
                |session| session.run_binding(&self.binding).map(drop),
            )?
            .map_err(|e| ort_err(&self.session, e))?;
        self.run_time += start.elapsed();
        self.runs += 1;
        let (shape, data) = self
            .out
            .try_extract_tensor::<f32>()
            .map_err(|e| ort_err(&self.session, e))?;
        if data.len() != out.len() {
            return Err(ort_err(
                &self.session,
                format!(
                    "output {} has shape {shape:?}, expected {} values",
                    self.io.prediction,
                    out.len()
                ),
            ));
        }
        out.copy_from_slice(data);
        Ok(())
    }
}

/// The denoiser as a model on an inference server: the chunk's conditions are encoded once, and
/// each step sends them with the latent (repeated per branch) and the timestep.
pub struct RemoteDenoiser {
    model: crate::remote::RemoteModel,
    io: DenoiserIo,
    /// Conditions (and the branch index), encoded once per chunk; shared by every request.
    fixed: Vec<crate::remote::RemoteInput>,
    branches: Branches,
    /// `[branches, ...latent]` and the timestep's shape, as every call sends them.
    latent_shape: Vec<usize>,
    timestep_shape: Vec<usize>,
    latent_len: usize,
    pub run_time: Duration,
}

impl RemoteDenoiser {
    pub fn new(
        session: &SharedSession,
        io: DenoiserIo,
        latent_shape: &[usize],
        conditions: &[BranchConditions],
    ) -> Result<Self> {
        use crate::remote::RemoteInput;
        let model = session
            .remote_model()
            .cloned()
            .ok_or_else(|| Error::Invalid("not a graph on an inference server".into()))?;
        let branches = branches_of(conditions.len())?;
        let b = conditions.len();
        let mut fixed = Vec::new();
        if let Some(name) = &io.branch {
            fixed.push(RemoteInput::i64(name, &[b], 0..b as i64));
        }
        for (name, _) in &conditions[0] {
            let stacked = stack(name, conditions)?;
            fixed.push(RemoteInput::f32(
                name,
                stacked.shape(),
                stacked.iter().copied(),
            ));
        }
        Ok(Self {
            model,
            timestep_shape: io.timestep_shape(b),
            io,
            fixed,
            branches,
            latent_shape: batched_shape(b, latent_shape),
            latent_len: latent_shape.iter().product(),
            run_time: Duration::ZERO,
        })
    }
}

impl Denoise for RemoteDenoiser {
    fn branches(&self) -> Branches {
        self.branches
    }

    fn latent_len(&self) -> usize {
        self.latent_len
    }

    fn predict(&mut self, x: &[f32], t: f32, out: &mut [f32]) -> Result<()> {
        use crate::remote::RemoteInput;
        let b = self.branches.count();
        let mut inputs = self.fixed.clone();
        inputs.push(RemoteInput::f32(
            &self.io.latent,
            &self.latent_shape,
            (0..b).flat_map(|_| x.iter().copied()),
        ));
        let t_shape = &self.timestep_shape;
        let n: usize = t_shape.iter().product(); // 1 for a scalar
        inputs.push(match self.io.timestep_type {
            TimestepType::F32 => RemoteInput::f32(&self.io.timestep, t_shape, vec![t; n]),
            TimestepType::I64 => {
                RemoteInput::i64(&self.io.timestep, t_shape, vec![t.round() as i64; n])
            }
        });
        let start = Instant::now();
        let pred = self.model.infer(&inputs, &[&self.io.prediction])?;
        self.run_time += start.elapsed();
        match pred.into_iter().next() {
            Some(crate::package::GraphOutput::F32(a)) if a.len() == out.len() => {
                out.iter_mut().zip(a.iter()).for_each(|(o, &v)| *o = v);
                Ok(())
            }
            other => Err(Error::Inference {
                graph: self.model.name.clone(),
                message: format!(
                    "output {}: expected {} float32 values, got {:?}",
                    self.io.prediction,
                    out.len(),
                    other.map(|o| o.shape().to_vec())
                ),
            }),
        }
    }
}

/// The noise seed of chunk/window `index`: from the user's seed and the index only, so the
/// same seed and inputs give the same output whatever the buffering.
pub fn noise_seed(seed: u64, index: u64) -> u64 {
    seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Figures of one generated chunk or window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GenerationStats {
    pub steps: usize,
    /// Guidance branches batched in each denoiser call.
    pub branches: usize,
    /// Steps whose run carried another stream's step too (cross-stream batching).
    pub batched_steps: usize,
    /// Wall time of the whole chunk or window (encoders, sampler, decoder).
    pub inference: Duration,
    /// Wall time of the sampling loop.
    pub sampler: Duration,
    /// Of which inside the denoiser's `Session::run`.
    pub denoiser_run: Duration,
    /// Inside `Session::run` of every graph of the chunk (encoders, denoiser, decoder): the rest
    /// of `inference` is the runtime's own work.
    pub graphs: Duration,
}

/// The guided sampling shared by the audio-to-video and video-to-audio generators: binds the
/// conditions of one chunk (a2v) or window (v2a) to the package's denoiser and samples its
/// latent. The sampler (and its
/// buffers) is kept across chunks and rebuilt only when the branch count changes.
pub struct GuidedSampler {
    cached: Option<(Branches, crate::sampler::Sampler)>,
    /// Cross-stream batching of in-process denoiser steps, with this gather window.
    batching: Option<Duration>,
    registration: Option<Registration>,
}

impl Default for GuidedSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl GuidedSampler {
    pub fn new() -> Self {
        Self {
            cached: None,
            batching: None,
            registration: None,
        }
    }

    /// Batches this sampler's in-process denoiser steps with those of other samplers on the same
    /// session, waiting at most `window` for them ([`crate::batcher`]); `None` runs alone.
    /// The stream is registered with the session's batcher from now until batching is turned
    /// off or the sampler dropped. Graphs on an inference server are batched by the server.
    pub fn set_batching(
        &mut self,
        package: &crate::package::LoadedPackage,
        window: Option<Duration>,
    ) -> Result<()> {
        self.registration = None;
        self.batching = None;
        let Some(window) = window else {
            return Ok(());
        };
        let (session, _) = package.denoiser_io()?;
        if session.remote_model().is_none() {
            self.registration = Some(Registration::new(session));
            self.batching = Some(window);
        }
        Ok(())
    }

    /// Samples one chunk's or window's latent from the noise seeded with `noise` (see [`noise_seed`]).
    /// Fills the sampler figures of `stats`.
    pub fn sample(
        &mut self,
        package: &crate::package::LoadedPackage,
        conditions: &[BranchConditions],
        noise: u64,
        steps: usize,
        guidance: crate::sampler::Guidance,
        stats: &mut GenerationStats,
    ) -> Result<Vec<f32>> {
        let (session, io) = package.denoiser_io()?;
        let latent_shape = &package.package.latent_shape;
        let (x, run_time) = if session.remote_model().is_some() {
            let mut den = RemoteDenoiser::new(&session, io, latent_shape, conditions)?;
            (
                self.run(&mut den, package, noise, steps, guidance, stats)?,
                den.run_time,
            )
        } else if let (Some(window), Some(registration)) = (self.batching, &self.registration) {
            let mut den = crate::batcher::BatchedDenoiser::new(
                registration,
                io,
                latent_shape,
                conditions,
                window,
            )?;
            let x = self.run(&mut den, package, noise, steps, guidance, stats)?;
            stats.batched_steps = den.batched_steps;
            (x, den.run_time)
        } else {
            let mut den = OnnxDenoiser::new(session, io, latent_shape, conditions)?;
            (
                self.run(&mut den, package, noise, steps, guidance, stats)?,
                den.run_time,
            )
        };
        stats.denoiser_run = run_time;
        stats.graphs += run_time;
        Ok(x)
    }

    fn run<D: Denoise>(
        &mut self,
        den: &mut D,
        package: &crate::package::LoadedPackage,
        noise: u64,
        steps: usize,
        guidance: crate::sampler::Guidance,
        stats: &mut GenerationStats,
    ) -> Result<Vec<f32>> {
        let n: usize = package.package.latent_shape.iter().product();
        let branches = den.branches();
        if self.cached.as_ref().map(|(b, _)| *b) != Some(branches) {
            let kind = package.package.sampler.kind.clone();
            self.cached = Some((branches, crate::sampler::Sampler::new(kind, n, branches)));
        }
        let mut rng = crate::rng::NoiseRng::new(noise);
        let mut x = vec![0.0f32; n];
        let start = Instant::now();
        if let Some((_, sampler)) = self.cached.as_mut() {
            sampler.sample(den, &mut rng, steps.max(1), guidance, &mut x)?;
        }
        stats.steps = steps.max(1);
        stats.branches = branches.count();
        stats.sampler = start.elapsed();
        Ok(x)
    }
}
