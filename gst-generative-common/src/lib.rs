//! The GStreamer side both plugins share: the skeleton of a generating element (`streaming`:
//! the queues between its threads, the generator thread, src pads pushed by tasks with combined
//! flows, and their lifecycle across state changes; the time rules for input timestamps; the
//! latency query; the model properties and loading at READY),
//! so that `miragegen` and `v2agen` are only what makes them different. The tensor work lives
//! in `diffusion-runtime`, which has no GStreamer types.
//!
//! Lock order in the elements built on this (a thread holding one may take only those after it):
//! `input` (sink streaming thread) → `output` (generator thread) → `settings` and `state`
//! (copied or replaced and released at once) → the locks inside a [`queue::Queue`], an
//! [`outlet::Outlets`] combiner or an existing-track buffer, which are leaves (held only for a
//! push or a pop, never across another lock or a model run).

pub mod audio;
pub mod latency;
pub mod model;
pub mod outage;
pub mod outlet;
pub mod pads;
pub mod queue;
pub mod streaming;
pub mod timeline;
pub mod worker;

pub use model::{load_at_ready, model_properties, BundledModel, EngineReports, ModelSettings};
