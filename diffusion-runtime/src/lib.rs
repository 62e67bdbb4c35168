//! The diffusion runtime shared by the `mirage` and `v2a` GStreamer plugins.
//!
//! Everything both elements need that is not GStreamer: loading ONNX Runtime, execution
//! providers, the process-wide session cache, model packages, samplers and guidance, and exact
//! time arithmetic. No GStreamer type appears here, so all of it is testable without a pipeline.

pub mod a2v;
pub mod batcher;
pub mod denoiser;
pub mod engine_cache;
pub mod error;
pub mod ort_env;
pub mod package;
pub mod provider;
pub mod reference;
pub mod remote;
pub mod rng;
pub mod sampler;
pub mod session_cache;
pub mod tensor;
pub mod text;
pub mod time;
pub mod v2a;

pub use error::{Error, PackageError, Result};
