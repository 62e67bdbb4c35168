//! Model packages: a directory with `model.toml`, ONNX graphs and assets (see `models/README.md`
//! for the contract). [`ModelPackage::open`] parses and checks the manifest and the files without
//! ONNX Runtime; [`LoadedPackage::load`] then loads every graph and checks its real inputs and
//! outputs against the manifest.

mod load;
mod manifest;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use load::{GraphInput, GraphOutput, LoadEvent, LoadedGraph, LoadedPackage};

use crate::error::PackageError;
use crate::sampler::{Guidance, SamplerKind};
use crate::time::Rate;

/// The manifest file name inside a package.
pub const MANIFEST: &str = "model.toml";
/// The contract version this runtime reads.
pub const SCHEMA: u32 = 1;

/// Directories searched for bundled model packages (`<dir>/presenter`, `<dir>/foley`), in
/// order: the user data dir (`scripts/setup.sh`), the meson install (`GST_GENERATIVE_MODELS_DIR`
/// at build time), and the source tree this crate was built from. No environment variable is
/// needed at run time.
pub fn bundled_model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = crate::ort_env::user_data_dir() {
        dirs.push(d.join("gst-generative").join("models"));
    }
    if let Some(d) = option_env!("GST_GENERATIVE_MODELS_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models"),
    );
    dirs
}

/// The first bundled package called `name` (with a `model.toml`), if any is installed.
pub fn find_bundled(name: &str) -> Option<PathBuf> {
    bundled_model_dirs()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.join(MANIFEST).is_file())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    AudioToVideo,
    VideoToAudio,
}

impl Task {
    pub fn as_str(&self) -> &'static str {
        match self {
            Task::AudioToVideo => "audio-to-video",
            Task::VideoToAudio => "video-to-audio",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    AudioEncoder,
    Denoiser,
    Decoder,
    ReferenceEncoder,
    VideoEncoder,
    TextEncoder,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::AudioEncoder => "audio_encoder",
            Role::Denoiser => "denoiser",
            Role::Decoder => "decoder",
            Role::ReferenceEncoder => "reference_encoder",
            Role::VideoEncoder => "video_encoder",
            Role::TextEncoder => "text_encoder",
        }
    }
}

/// Tensor element types the contract allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    I64,
    I32,
    U8,
}

impl DType {
    pub const ALL: [DType; 5] = [DType::F32, DType::F16, DType::I64, DType::I32, DType::U8];

    pub fn as_str(&self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
        }
    }

    pub(crate) fn to_ort(self) -> ort::value::TensorElementType {
        use ort::value::TensorElementType as T;
        match self {
            DType::F32 => T::Float32,
            DType::F16 => T::Float16,
            DType::I64 => T::Int64,
            DType::I32 => T::Int32,
            DType::U8 => T::Uint8,
        }
    }
}

/// A dimension: fixed, or symbolic (dynamic, named for documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Symbol(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => write!(f, "{s:?}"),
        }
    }
}

/// A shape as the manifest writes it: `["batch", 10, 6]`.
pub fn shape_str(shape: &[Dim]) -> String {
    let dims: Vec<String> = shape.iter().map(Dim::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// A graph input or output as the manifest declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub slot: String,
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

/// One graph of the package.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSpec {
    /// Position in the manifest's `[[graph]]` list, for error messages.
    pub index: usize,
    pub role: Role,
    /// The file as written in the manifest.
    pub file: String,
    /// The file resolved inside the package.
    pub path: PathBuf,
    /// Video encoders: their name (`video:<name>` slot of the denoiser), rate and size.
    pub name: Option<String>,
    pub fps: Option<Rate>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Text encoders: `true` for masked mean pooling + L2 normalisation in the runtime.
    pub mean_pooling: bool,
    /// The model's name on an inference server: `server_model`, or `<package>.<file stem>`.
    pub server_model: String,
    /// The model version to ask the server for: `server_version`; empty = the server's choice
    /// (its version policy, by default the latest).
    pub server_version: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

impl GraphSpec {
    pub fn input(&self, slot: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|t| t.slot == slot)
    }

    pub fn output(&self, slot: &str) -> Option<&TensorSpec> {
        self.outputs.iter().find(|t| t.slot == slot)
    }
}

/// Timing of an audio-to-video package, in output frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkTiming {
    pub chunk_frames: u32,
    pub context_frames: u32,
    pub lookahead_frames: u32,
    /// Frames at the start of each chunk eased out of the previous chunk's last frame.
    pub seam_frames: u32,
}

/// Timing of a video-to-audio package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTiming {
    pub window_ms: u32,
    pub overlap_ms: u32,
}

/// Timing of a streaming video-to-audio package: each generation step adds `hop_ms` of audio,
/// seeing the video from `context_ms` before the hop to `lookahead_ms` after it, and the
/// latent of the audio it generated over the context (the `previous_latent` slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTiming {
    pub hop_ms: u32,
    pub context_ms: u32,
    pub lookahead_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    Chunk(ChunkTiming),
    Window(WindowTiming),
    Stream(StreamTiming),
}

/// Default sampler settings of a package.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerDefaults {
    pub kind: SamplerKind,
    pub steps: u32,
    pub guidance_scale: f32,
    pub negative_audio_scale: f32,
}

impl SamplerDefaults {
    /// The steps to run for a requested count: 0 means the package's default.
    pub fn steps_or_default(&self, requested: u32) -> usize {
        if requested > 0 {
            requested as usize
        } else {
            self.steps as usize
        }
    }

    /// The guidance scales for requested ones: a negative scale means the package's default.
    pub fn guidance_or_default(&self, scale: f64, negative_audio_scale: f64) -> Guidance {
        let pick = |v: f64, default: f32| if v >= 0.0 { v as f32 } else { default };
        Guidance {
            scale: pick(scale, self.guidance_scale),
            negative_audio_scale: pick(negative_audio_scale, self.negative_audio_scale),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpec {
    pub rate: u32,
    pub channels: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSpec {
    pub width: u32,
    pub height: u32,
    pub fps: Rate,
}

/// A parsed and checked package (no graph loaded yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPackage {
    /// The directory as given.
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
    pub license: String,
    pub description: String,
    pub task: Task,
    pub audio: AudioSpec,
    /// The output video of an audio-to-video package.
    pub video: Option<VideoSpec>,
    pub timing: Timing,
    pub latent_shape: Vec<usize>,
    pub sampler: SamplerDefaults,
    pub tokenizer: Option<PathBuf>,
    pub avatars: BTreeMap<String, PathBuf>,
    pub default_avatar: Option<String>,
    pub graphs: Vec<GraphSpec>,
}

impl ModelPackage {
    /// Reads and checks `dir/model.toml` and the files it names.
    pub fn open(dir: &Path) -> Result<Self, PackageError> {
        validate::open(dir)
    }

    /// Parses and checks `text` as if it were `dir/model.toml` (the files it names are looked up
    /// in `dir`). For the manifest fuzz target and tools; elements use [`open`](Self::open).
    pub fn from_manifest_text(dir: &Path, text: &str) -> Result<Self, PackageError> {
        let real_dir = dir.canonicalize().map_err(|e| {
            PackageError::new(
                dir,
                MANIFEST,
                "-",
                format!("package directory not readable: {e}"),
            )
        })?;
        validate::from_text(dir, real_dir, text)
    }

    /// The first graph with this role.
    pub fn graph(&self, role: Role) -> Option<&GraphSpec> {
        self.graphs.iter().find(|g| g.role == role)
    }

    /// All graphs with this role (several video encoders).
    pub fn graphs_with(&self, role: Role) -> impl Iterator<Item = &GraphSpec> {
        self.graphs.iter().filter(move |g| g.role == role)
    }

    /// A [`PackageError`] located in this package.
    pub fn error(
        &self,
        file: &str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> PackageError {
        PackageError::new(&self.dir, file, field, problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_steps_and_negative_scales_mean_the_package_default() {
        let d = SamplerDefaults {
            kind: SamplerKind::FlowEuler {
                shift: 1.0,
                noise_scale: 1.0,
            },
            steps: 8,
            guidance_scale: 1.5,
            negative_audio_scale: 0.5,
        };
        assert_eq!(d.steps_or_default(0), 8);
        assert_eq!(d.steps_or_default(3), 3);
        let g = d.guidance_or_default(-1.0, 2.0);
        assert_eq!((g.scale, g.negative_audio_scale), (1.5, 2.0));
        let g = d.guidance_or_default(0.0, -0.5);
        assert_eq!((g.scale, g.negative_audio_scale), (0.0, 0.5));
    }

    #[test]
    fn bundled_packages_are_found_in_the_source_tree() {
        // The fixtures stand in for a bundled package: same lookup, a directory below models/.
        let found = find_bundled("fixtures/presenter").expect("found from the source tree");
        assert!(found.join(MANIFEST).is_file());
        assert!(find_bundled("no-such-package").is_none());
    }
}
