//! Cross-stream batching: the denoiser steps of several generators that share one in-process
//! session (element instances in one process, same package and provider) are combined into one
//! batched `Session::run` along the denoiser's batch dimension.
//!
//! Leader/follower on one mutex, with the semantics of Triton's dynamic batcher
//! (`max_queue_delay`): every step queues a request; whoever finds no batch in flight leads: it
//! waits until every stream registered on the session has a step queued, or until the gather
//! window since the oldest queued step is over, then runs every compatible queued request as
//! one batch and hands each its rows. A stream the window ran out on (decoding, waiting for
//! input, paused, at EOS) is not waited for again until it queues its next step, so it costs
//! the others one window per absence, not one per step. A lone stream never waits. Rows are
//! independent in the graph, so each stream's prediction is what it gets alone (tested bit for
//! bit on CPU).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, ArrayViewD, Axis};
use ort::session::SessionInputValue;
use ort::value::TensorRef;

use crate::denoiser::TimestepType;
use crate::denoiser::{batched_shape, branches_of, stack, BranchConditions, DenoiserIo};
use crate::error::{Error, Result};
use crate::sampler::{Branches, Denoise};
use crate::session_cache::SharedSession;

/// The most requests one batched run carries (each has 1-3 guidance rows).
const MAX_REQUESTS: usize = 32;

/// A fixed input of a request: a condition stacked over its branches, or the branch index.
#[derive(Debug)]
enum Fixed {
    F32(String, ArrayD<f32>),
    I64(String, ArrayD<i64>),
}

impl Fixed {
    fn as_f32(&self) -> Option<ArrayViewD<'_, f32>> {
        match self {
            Fixed::F32(_, a) => Some(a.view()),
            Fixed::I64(..) => None,
        }
    }

    fn as_i64(&self) -> Option<ArrayViewD<'_, i64>> {
        match self {
            Fixed::I64(_, a) => Some(a.view()),
            Fixed::F32(..) => None,
        }
    }
}

/// The requests' rows of one input, stacked along the batch dimension.
fn concat_rows<'a, T: Clone + 'a>(
    parts: impl Iterator<Item = Option<ArrayViewD<'a, T>>>,
) -> std::result::Result<ArrayD<T>, String> {
    let parts: Vec<_> = parts
        .collect::<Option<_>>()
        .ok_or("batched requests differ in an input's element type")?;
    ndarray::concatenate(Axis(0), &parts).map_err(|e| e.to_string())
}

/// One stream's step, queued.
struct Request {
    /// Given by [`Batcher::submit`].
    id: u64,
    /// The stream's [`Registration`].
    stream: u64,
    /// Requests batch together only with equal keys (shapes past the batch dimension, and the
    /// timestep itself when the graph takes one scalar timestep for the whole batch).
    key: Arc<str>,
    rows: usize,
    x: Vec<f32>,
    t: f32,
    fixed: Arc<Vec<Fixed>>,
    io: Arc<DenoiserIo>,
    latent_shape: Arc<Vec<usize>>,
    arrived: Instant,
}

#[derive(Default)]
struct State {
    /// Streams registered with batching on ([`Registration`]), each with whether a leader waits
    /// for it (false once a window ran out on it, until it queues a step again).
    streams: HashMap<u64, bool>,
    next_stream: u64,
    queue: Vec<Request>,
    /// A leader is gathering or running a batch.
    leading: bool,
    /// Finished requests: rows of the prediction and whether the run carried other streams'
    /// steps, or the failure's message.
    done: HashMap<u64, std::result::Result<(Vec<f32>, bool), String>>,
    next_id: u64,
    /// Requests served so far, and how many of them shared their run with another stream.
    served: u64,
    shared: u64,
}

/// The batching point of one shared session (see the module docs).
#[derive(Default)]
pub struct Batcher {
    state: Mutex<State>,
    wake: Condvar,
}

/// Figures of a batcher, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchFigures {
    pub served: u64,
    /// Of which ran in one batch with another stream's step.
    pub shared: u64,
}

impl Batcher {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in the state is left half-updated by a panic (see `Leading`).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn figures(&self) -> BatchFigures {
        let s = self.lock();
        BatchFigures {
            served: s.served,
            shared: s.shared,
        }
    }

    /// Queues one step and returns its prediction rows, leading a batch when none is in flight.
    fn submit(
        &self,
        session: &SharedSession,
        mut request: Request,
        window: Duration,
    ) -> Result<(Vec<f32>, bool)> {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        request.id = id;
        state.streams.insert(request.stream, true);
        state.queue.push(request);
        self.wake.notify_all();
        loop {
            if let Some(result) = state.done.remove(&id) {
                return result.map_err(|message| Error::Inference {
                    graph: session.graph.display().to_string(),
                    message,
                });
            }
            if state.leading {
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.leading = true;
            state = self.gather(state, window);
            let batch = take_batch(&mut state.queue);
            drop(state);
            let ids: Vec<u64> = batch.iter().map(|r| r.id).collect();
            // Whatever happens in the run (an error, a panic), the batch's waiters are answered
            // and leadership is given up.
            let mut leading = Leading {
                batcher: self,
                ids,
                results: None,
            };
            leading.results = Some(run_batch(session, &batch));
            drop(leading);
            state = self.lock();
        }
    }

    /// Waits until every registered stream waited for has a step queued, or the oldest
    /// request's window is over; then the streams still missing are no longer waited for.
    fn gather<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        window: Duration,
    ) -> MutexGuard<'a, State> {
        let Some(oldest) = state.queue.first().map(|r| r.arrived) else {
            return state;
        };
        let deadline = oldest + window;
        let missing = |state: &State| -> Vec<u64> {
            state
                .streams
                .iter()
                .filter(|&(id, &waited)| waited && !state.queue.iter().any(|r| r.stream == *id))
                .map(|(id, _)| *id)
                .collect()
        };
        loop {
            let absent = missing(&state);
            if absent.is_empty() || state.queue.len() >= MAX_REQUESTS {
                return state;
            }
            let now = Instant::now();
            if now >= deadline {
                for id in absent {
                    state.streams.insert(id, false);
                }
                return state;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn join(&self) -> u64 {
        let mut state = self.lock();
        state.next_stream += 1;
        let id = state.next_stream;
        state.streams.insert(id, true);
        id
    }

    fn leave(&self, stream: u64) {
        let mut state = self.lock();
        state.streams.remove(&stream);
        // A leader waiting for this stream's step stops waiting.
        self.wake.notify_all();
    }
}

/// The leader's duty, discharged on drop: answer every request of the batch and step down.
struct Leading<'a> {
    batcher: &'a Batcher,
    ids: Vec<u64>,
    results: Option<std::result::Result<Vec<Vec<f32>>, String>>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut state = self.batcher.lock();
        let results = self
            .results
            .take()
            .unwrap_or_else(|| Err("the batched run panicked".into()));
        let n = self.ids.len() as u64;
        state.served += n;
        if n > 1 {
            state.shared += n;
        }
        match results {
            Ok(rows) => {
                for (id, r) in self.ids.iter().zip(rows) {
                    state.done.insert(*id, Ok((r, n > 1)));
                }
            }
            Err(message) => {
                for id in &self.ids {
                    state.done.insert(*id, Err(message.clone()));
                }
            }
        }
        state.leading = false;
        self.batcher.wake.notify_all();
    }
}

/// Removes the oldest request and every queued one compatible with it (up to [`MAX_REQUESTS`]).
fn take_batch(queue: &mut Vec<Request>) -> Vec<Request> {
    let Some(key) = queue.first().map(|r| r.key.clone()) else {
        return Vec::new();
    };
    let mut batch = Vec::new();
    let mut rest = Vec::with_capacity(queue.len());
    for r in queue.drain(..) {
        if r.key == key && batch.len() < MAX_REQUESTS {
            batch.push(r);
        } else {
            rest.push(r);
        }
    }
    *queue = rest;
    batch
}

/// Runs the requests as one call; each request's prediction rows, in order.
fn run_batch(
    session: &SharedSession,
    batch: &[Request],
) -> std::result::Result<Vec<Vec<f32>>, String> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let io = &first.io;
    let rows: usize = batch.iter().map(|r| r.rows).sum();
    let latent: Vec<f32> = batch
        .iter()
        .flat_map(|r| (0..r.rows).flat_map(move |_| r.x.iter().copied()))
        .collect();
    let latent = ArrayD::from_shape_vec(batched_shape(rows, &first.latent_shape), latent)
        .map_err(|e| e.to_string())?;
    let t_shape = io.timestep_shape(rows);
    // A scalar timestep is shared: the key keeps requests with other timesteps out.
    let t_values: Vec<f32> = if t_shape.is_empty() {
        vec![first.t]
    } else {
        batch.iter().flat_map(|r| vec![r.t; r.rows]).collect()
    };
    let mut f32_inputs: Vec<(String, ArrayD<f32>)> = vec![(io.latent.clone(), latent)];
    let mut i64_inputs: Vec<(String, ArrayD<i64>)> = Vec::new();
    match io.timestep_type {
        TimestepType::F32 => f32_inputs.push((
            io.timestep.clone(),
            ArrayD::from_shape_vec(t_shape, t_values).map_err(|e| e.to_string())?,
        )),
        TimestepType::I64 => i64_inputs.push((
            io.timestep.clone(),
            ArrayD::from_shape_vec(t_shape, t_values.iter().map(|t| t.round() as i64).collect())
                .map_err(|e| e.to_string())?,
        )),
    }
    for (k, input) in first.fixed.iter().enumerate() {
        match input {
            Fixed::F32(name, _) => f32_inputs.push((
                name.clone(),
                concat_rows(batch.iter().map(|r| r.fixed[k].as_f32()))?,
            )),
            Fixed::I64(name, _) => i64_inputs.push((
                name.clone(),
                concat_rows(batch.iter().map(|r| r.fixed[k].as_i64()))?,
            )),
        }
    }
    let mut values: Vec<(String, SessionInputValue<'_>)> = Vec::new();
    for (name, a) in &f32_inputs {
        let v = TensorRef::from_array_view(a.view()).map_err(|e| e.to_string())?;
        values.push((name.clone(), v.into()));
    }
    for (name, a) in &i64_inputs {
        let v = TensorRef::from_array_view(a.view()).map_err(|e| e.to_string())?;
        values.push((name.clone(), v.into()));
    }
    let shapes = || {
        let f = f32_inputs
            .iter()
            .map(|(n, a)| format!("{n}{:?}", a.shape()));
        let i = i64_inputs
            .iter()
            .map(|(n, a)| format!("{n}{:?}", a.shape()));
        f.chain(i).collect::<Vec<_>>().join(" ")
    };
    let per_row: usize = first.latent_shape.iter().product();
    let prediction = session
        .run_with(shapes, |s| {
            let out = s.run(values).map_err(|e| e.to_string())?;
            let v = out
                .get(io.prediction.as_str())
                .ok_or_else(|| format!("output {} missing", io.prediction))?;
            let (_, data) = v.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
            Ok::<_, String>(data.to_vec())
        })
        .map_err(|e| e.to_string())??;
    if prediction.len() != rows * per_row {
        return Err(format!(
            "output {} has {} values, expected {rows} rows of {per_row}",
            io.prediction,
            prediction.len()
        ));
    }
    let mut rest = prediction.as_slice();
    Ok(batch
        .iter()
        .map(|r| {
            let (mine, tail) = rest.split_at(r.rows * per_row);
            rest = tail;
            mine.to_vec()
        })
        .collect())
}

/// A stream registered with a session's batcher: a batch goes as soon as every registered
/// stream has a step queued, else when the window since its oldest step is over. Held by a
/// sampler with batching on (see `GuidedSampler::set_batching`).
pub struct Registration {
    session: Arc<SharedSession>,
    stream: u64,
}

impl Registration {
    pub fn new(session: Arc<SharedSession>) -> Self {
        let stream = session.batcher().join();
        Self { session, stream }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.session.batcher().leave(self.stream);
    }
}

/// The denoiser of one chunk or window, with its steps batched with other streams' through the
/// session's [`Batcher`] as the stream of a [`Registration`] (which its sampler holds).
pub struct BatchedDenoiser {
    session: Arc<SharedSession>,
    stream: u64,
    io: Arc<DenoiserIo>,
    fixed: Arc<Vec<Fixed>>,
    latent_shape: Arc<Vec<usize>>,
    key: Arc<str>,
    branches: Branches,
    latent_len: usize,
    window: Duration,
    pub run_time: Duration,
    /// Steps whose run carried another stream's step.
    pub batched_steps: usize,
}

impl BatchedDenoiser {
    pub fn new(
        registration: &Registration,
        io: DenoiserIo,
        latent_shape: &[usize],
        conditions: &[BranchConditions],
        window: Duration,
    ) -> Result<Self> {
        let branches = branches_of(conditions.len())?;
        let b = conditions.len();
        let mut fixed = Vec::new();
        let mut key = format!("{}{latent_shape:?} {:?}", io.latent, io.timestep_type);
        if let Some(name) = &io.branch {
            fixed.push(Fixed::I64(
                name.clone(),
                ArrayD::from_shape_vec(vec![b], (0..b as i64).collect())
                    .map_err(|e| Error::Invalid(e.to_string()))?,
            ));
        }
        for (name, _) in &conditions[0] {
            let stacked = stack(name, conditions)?.as_standard_layout().into_owned();
            key.push_str(&format!(" {name}{:?}", &stacked.shape()[1..]));
            fixed.push(Fixed::F32(name.clone(), stacked));
        }
        Ok(Self {
            session: registration.session.clone(),
            stream: registration.stream,
            io: Arc::new(io),
            fixed: Arc::new(fixed),
            latent_shape: Arc::new(latent_shape.to_vec()),
            key: key.into(),
            branches,
            latent_len: latent_shape.iter().product(),
            window,
            run_time: Duration::ZERO,
            batched_steps: 0,
        })
    }
}

impl Denoise for BatchedDenoiser {
    fn branches(&self) -> Branches {
        self.branches
    }

    fn latent_len(&self) -> usize {
        self.latent_len
    }

    fn predict(&mut self, x: &[f32], t: f32, out: &mut [f32]) -> Result<()> {
        let key = if self.io.timestep_rank == 0 {
            // One timestep for the whole batch: only steps at the same timestep combine.
            format!("{} t={}", self.key, t.to_bits()).into()
        } else {
            self.key.clone()
        };
        let batcher = self.session.batcher();
        let request = Request {
            id: 0,
            stream: self.stream,
            key,
            rows: self.branches.count(),
            x: x.to_vec(),
            t,
            fixed: self.fixed.clone(),
            io: self.io.clone(),
            latent_shape: self.latent_shape.clone(),
            arrived: Instant::now(),
        };
        let start = Instant::now();
        let (rows, shared) = batcher.submit(&self.session, request, self.window)?;
        self.run_time += start.elapsed();
        self.batched_steps += usize::from(shared);
        if rows.len() != out.len() {
            return Err(Error::Inference {
                graph: self.session.graph.display().to_string(),
                message: format!(
                    "output {}: {} values for {} expected",
                    self.io.prediction,
                    rows.len(),
                    out.len()
                ),
            });
        }
        out.copy_from_slice(&rows);
        Ok(())
    }
}
