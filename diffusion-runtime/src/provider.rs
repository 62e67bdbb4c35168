//! Execution providers: which hardware a graph runs on.

use std::path::{Path, PathBuf};

use ort::ep::{self, ExecutionProviderDispatch};

/// What the user asked for (`execution-provider` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProviderChoice {
    /// TensorRT, then CUDA, then CPU: the first that registers.
    #[default]
    Auto,
    Cpu,
    Cuda,
    TensorRt,
}

/// The provider a session actually got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Cpu,
    Cuda,
    TensorRt,
    /// On an inference server (`inference-server`), whatever hardware it has.
    Server,
}

impl ProviderKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProviderKind::Cpu => "CPU",
            ProviderKind::Cuda => "CUDA",
            ProviderKind::TensorRt => "TensorRT",
            ProviderKind::Server => "inference server",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that changes how a session is built; part of the session cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderConfig {
    pub choice: ProviderChoice,
    pub device_id: u32,
    /// TensorRT engine and timing cache directory.
    pub engine_cache_dir: PathBuf,
    /// Run the graphs on this inference server instead of in-process (`choice` and the
    /// TensorRT settings are then the server's business).
    pub server: Option<crate::remote::ServerConfig>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            choice: ProviderChoice::Auto,
            device_id: 0,
            engine_cache_dir: default_engine_cache_dir(),
            server: None,
        }
    }
}

/// `$XDG_CACHE_HOME/gst-generative/tensorrt` (or `~/.cache/...`, or the temp dir without a home).
pub fn default_engine_cache_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".cache"),
            None => std::env::temp_dir(),
        },
    };
    base.join("gst-generative").join("tensorrt")
}

impl ProviderConfig {
    /// Providers to try, in order, for this choice.
    pub fn attempts(&self) -> &'static [ProviderKind] {
        match self.choice {
            ProviderChoice::Auto => &[
                ProviderKind::TensorRt,
                ProviderKind::Cuda,
                ProviderKind::Cpu,
            ],
            ProviderChoice::Cpu => &[ProviderKind::Cpu],
            ProviderChoice::Cuda => &[ProviderKind::Cuda],
            ProviderChoice::TensorRt => &[ProviderKind::TensorRt],
        }
    }

    /// The `ort` dispatches to register for one provider, each set to fail loudly so that we
    /// see why it did not register and can move on (auto) or report it (explicit). TensorRT is
    /// registered with CUDA behind it, so that nodes TensorRT rejects run on the GPU, not the
    /// CPU. CPU needs none: it is what a session has without any provider. TensorRT's engines
    /// for `graph` carry the graph's own prefix in the cache ([`crate::engine_cache`]).
    pub(crate) fn dispatch(
        &self,
        kind: ProviderKind,
        graph: &Path,
    ) -> Vec<ExecutionProviderDispatch> {
        let device = i32::try_from(self.device_id).unwrap_or(i32::MAX);
        let cuda = || {
            ep::CUDA::default()
                .with_device_id(device)
                .build()
                .error_on_failure()
        };
        match kind {
            ProviderKind::Cpu | ProviderKind::Server => Vec::new(),
            ProviderKind::Cuda => vec![cuda()],
            ProviderKind::TensorRt => {
                let dir = self.engine_cache_dir.to_string_lossy().into_owned();
                vec![
                    ep::TensorRT::default()
                        .with_device_id(device)
                        .with_engine_cache(true)
                        .with_engine_cache_path(&dir)
                        .with_engine_cache_prefix(crate::engine_cache::cache_prefix(graph))
                        .with_timing_cache(true)
                        .with_timing_cache_path(&dir)
                        .build()
                        .error_on_failure(),
                    cuda(),
                ]
            }
        }
    }
}

impl ProviderChoice {
    /// All choices, in the order of the elements' `execution-provider` enum values.
    pub const ALL: [ProviderChoice; 4] = [
        ProviderChoice::Auto,
        ProviderChoice::Cpu,
        ProviderChoice::Cuda,
        ProviderChoice::TensorRt,
    ];

    /// Position in [`ALL`](Self::ALL): the enum value the elements use.
    pub fn index(self) -> i32 {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0) as i32
    }

    /// The choice named `auto`, `cpu`, `cuda` or `tensorrt` (the property's nicks).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(ProviderChoice::Auto),
            "cpu" => Some(ProviderChoice::Cpu),
            "cuda" => Some(ProviderChoice::Cuda),
            "tensorrt" => Some(ProviderChoice::TensorRt),
            _ => None,
        }
    }

    pub fn from_index(i: i32) -> Option<Self> {
        usize::try_from(i)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }
}
