//! Model settings shared by both elements (`model`, `execution-provider`, `device-id`,
//! `engine-cache-dir`, `ort-library`) and loading the package they name at NULL→READY, with
//! `Progress` messages while graphs load and errors that say how to fix the problem.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use diffusion_runtime::ort_env;
use diffusion_runtime::package::{LoadEvent, LoadedPackage, ModelPackage, Task};
use diffusion_runtime::provider::{default_engine_cache_dir, ProviderChoice, ProviderConfig};
use diffusion_runtime::remote::ServerConfig;
use gst::glib;
use gst::glib::translate::{FromGlib, IntoGlib};
use gst::prelude::*;

/// The settings every generating element has that decide which model runs where.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    pub model: Option<PathBuf>,
    pub ort_library: Option<PathBuf>,
    /// `provider.server` is set from `inference-server` and `inference-timeout-ms`.
    pub provider: ProviderConfig,
    pub timeout_ms: u32,
    /// `batch-window-us`: cross-stream batching of in-process denoiser steps; 0 = off.
    pub batch_window_us: u32,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            model: None,
            ort_library: None,
            provider: ProviderConfig::default(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            batch_window_us: 0,
        }
    }
}

/// The longest `batch-window-us`: a step waits no longer than this for other streams.
const MAX_BATCH_WINDOW_US: u32 = 100_000;

/// `inference-timeout-ms` when not set.
const DEFAULT_TIMEOUT_MS: u32 = diffusion_runtime::remote::DEFAULT_TIMEOUT.as_millis() as u32;

/// The properties both elements share: `model`, `execution-provider`, `device-id`,
/// `engine-cache-dir`, `ort-library`, `inference-server`, `inference-timeout-ms`,
/// `batch-window-us`.
/// `provider_enum` is the element's own enum type (each plugin registers its own GType; see the
/// plugins' `ExecutionProvider`), with values in [`ProviderChoice::ALL`] order.
pub fn model_properties<E>(provider_default: E, model_blurb: &str) -> Vec<glib::ParamSpec>
where
    E: glib::types::StaticType + FromGlib<i32> + IntoGlib<GlibType = i32>,
{
    let d = ModelSettings::default();
    vec![
        glib::ParamSpecString::builder("model")
            .nick("Model package")
            .blurb(model_blurb)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("execution-provider", provider_default)
            .nick("Execution provider")
            .blurb("Where the graphs run: auto tries TensorRT, CUDA, then CPU; an explicit provider that is unavailable is an error. Changes apply at READY")
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("device-id")
            .nick("Device ID")
            .blurb("GPU index for CUDA/TensorRT. Changes apply at READY")
            .default_value(d.provider.device_id)
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("engine-cache-dir")
            .nick("Engine cache directory")
            .blurb("Where TensorRT engines and timing caches are kept between runs. Changes apply at READY")
            .default_value(d.provider.engine_cache_dir.to_str())
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("ort-library")
            .nick("ONNX Runtime library")
            .blurb("Path to libonnxruntime.so (1.20 or newer). Empty = ORT_DYLIB_PATH, then the copy installed by setup, then the system. One library per process: the first load wins")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("inference-server")
            .nick("Inference server")
            .blurb("Run the graphs on an inference server over KServe v2 gRPC (NVIDIA Triton), e.g. grpc://triton.example:8001, each graph as the model <package name>.<graph file stem> (or its server_model); models/tools/triton_repo.py writes the repository. Empty = in-process ONNX Runtime. Changes apply at READY")
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("inference-timeout-ms")
            .nick("Inference request timeout")
            .blurb("Deadline of each request to the inference server, connection included; a failed request is retried 3 times (50, 200, 800 ms apart), then the element posts an error, or when live rides through the outage (miragegen holds its last frame, v2agen gives silence, each chunk tries again). Changes apply at READY")
            .minimum(1)
            .maximum(3_600_000)
            .default_value(DEFAULT_TIMEOUT_MS)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("batch-window-us")
            .nick("Cross-stream batch window")
            .blurb("Batch this instance's denoiser steps with those of the other instances in this process that run the same package on the same provider and set this too: one run per step for all of them, each getting exactly what it would alone. A batch goes when every such instance has its step queued, or after this many microseconds; an instance that is busy elsewhere (decoding, waiting for input, paused) costs the others up to this much per step. 0 = off: each instance runs alone, taking turns. With inference-server, the server's dynamic batcher does this instead. Changes apply at READY")
            .maximum(MAX_BATCH_WINDOW_US)
            .default_value(d.batch_window_us)
            .mutable_ready()
            .build(),
    ]
}

fn path_value(v: &glib::Value) -> Option<PathBuf> {
    v.get::<Option<String>>()
        .ok()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

impl ModelSettings {
    fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    /// The gather window of cross-stream batching, `None` when off.
    pub fn batch_window(&self) -> Option<Duration> {
        (self.batch_window_us > 0).then(|| Duration::from_micros(u64::from(self.batch_window_us)))
    }

    /// Sets one of the [`model_properties`]; returns false if `name` is not one of them.
    pub fn set_property(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "model" => self.model = path_value(value),
            "ort-library" => self.ort_library = path_value(value),
            "device-id" => self.provider.device_id = value.get().unwrap_or(self.provider.device_id),
            "engine-cache-dir" => {
                self.provider.engine_cache_dir =
                    path_value(value).unwrap_or_else(default_engine_cache_dir)
            }
            "execution-provider" => {
                if let Some(c) = glib::EnumValue::from_value(value)
                    .and_then(|(_, v)| ProviderChoice::from_index(v.value()))
                {
                    self.provider.choice = c;
                }
            }
            "inference-server" => {
                let timeout = self.timeout();
                self.provider.server = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|s| !s.trim().is_empty())
                    .map(|url| ServerConfig { url, timeout });
            }
            "inference-timeout-ms" => {
                self.timeout_ms = value.get().unwrap_or(DEFAULT_TIMEOUT_MS);
                let timeout = self.timeout();
                if let Some(server) = &mut self.provider.server {
                    server.timeout = timeout;
                }
            }
            "batch-window-us" => self.batch_window_us = value.get().unwrap_or(0),
            _ => return false,
        }
        true
    }

    /// The value of one of the [`model_properties`], or `None` for another property.
    pub fn property(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).to_value();
        Some(match pspec.name() {
            "model" => path(&self.model),
            "ort-library" => path(&self.ort_library),
            "device-id" => self.provider.device_id.to_value(),
            "engine-cache-dir" => self
                .provider
                .engine_cache_dir
                .display()
                .to_string()
                .to_value(),
            "execution-provider" => glib::EnumClass::with_type(pspec.value_type())?
                .to_value(self.provider.choice.index())?,
            "inference-server" => self
                .provider
                .server
                .as_ref()
                .map(|s| s.url.clone())
                .to_value(),
            "inference-timeout-ms" => self.timeout_ms.to_value(),
            "batch-window-us" => self.batch_window_us.to_value(),
            _ => return None,
        })
    }
}

/// What an element loads when its `model` property is empty.
#[derive(Debug, Clone, Copy)]
pub struct BundledModel {
    /// The package directory's name below `models/` (found by `find_bundled`).
    pub name: &'static str,
    /// The task the element runs.
    pub task: Task,
    /// The error text when neither `model` is set nor the bundled package is installed.
    pub missing_hint: &'static str,
}

/// NULL→READY for both elements: the package named by `settings` (else the bundled one) is
/// loaded; on failure the error is posted on the element and the state change fails.
pub fn load_at_ready(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
    bundled: BundledModel,
) -> Result<LoadedPackage, gst::StateChangeError> {
    let mut settings = settings.clone();
    if settings.model.is_none() {
        settings.model = diffusion_runtime::package::find_bundled(bundled.name);
    }
    load_model(element, cat, &settings, bundled.task, bundled.missing_hint).map_err(|msg| {
        element.post_error_message(msg);
        gst::StateChangeError
    })
}

/// Loads ONNX Runtime for in-process graphs, logging which library and whether it is newer
/// than any tested.
fn load_ort(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
) -> Result<(), gst::ErrorMessage> {
    let ort = ort_env::ensure_loaded(settings.ort_library.as_deref())
        .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("{e}")))?;
    gst::info!(
        cat,
        obj = element,
        "ONNX Runtime {} from {} ({})",
        ort.version,
        ort.path.display(),
        ort.origin
    );
    if let Some(asked) = settings.ort_library.as_deref().filter(|p| *p != ort.path) {
        gst::warning!(
            cat,
            obj = element,
            "ort-library {} ignored: this process already loaded ONNX Runtime from {} (one per process)",
            asked.display(),
            ort.path.display()
        );
    }
    if ort_env::is_untested_newer(&ort.version) {
        gst::info!(
            cat,
            obj = element,
            "ONNX Runtime {} is newer than any version tested",
            ort.version
        );
    }
    Ok(())
}

/// Loads ONNX Runtime and the model package named by `settings`, checks it is for `task`, and
/// loads every graph. Posts `Progress` messages (start, one per graph, complete or error) so that
/// applications can show that a TensorRT engine build is under way. Errors are ready to post.
pub fn load_model(
    element: &gst::Element,
    cat: gst::DebugCategory,
    settings: &ModelSettings,
    task: Task,
    missing_model_hint: &str,
) -> Result<LoadedPackage, gst::ErrorMessage> {
    let Some(dir) = settings.model.as_deref() else {
        return Err(gst::error_msg!(
            gst::ResourceError::NotFound,
            ("no model package: {missing_model_hint}")
        ));
    };
    let package = ModelPackage::open(dir)
        .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("{e}")))?;
    // Says which package a default (bundled) model resolved to.
    gst::info!(
        cat,
        obj = element,
        "model package {} {} from {}",
        package.name,
        package.version,
        dir.display()
    );
    if package.task != task {
        let e = package.error(
            "model.toml",
            "package.task",
            format!(
                "is {:?}, this element needs {:?}",
                package.task.as_str(),
                task.as_str()
            ),
        );
        return Err(gst::error_msg!(gst::ResourceError::Settings, ("{e}")));
    }

    // Graphs on an inference server need no ONNX Runtime in this process.
    match &settings.provider.server {
        Some(server) => gst::info!(
            cat,
            obj = element,
            "graphs on the inference server {} (timeout {} ms)",
            server.url,
            server.timeout.as_millis()
        ),
        None => load_ort(element, cat, settings)?,
    }

    let progress = |kind: gst::ProgressType, code: &str, text: &str| {
        let _ = element.post_message(
            gst::message::Progress::builder(kind, code, text)
                .src(element)
                .build(),
        );
    };
    progress(
        gst::ProgressType::Start,
        "load-model",
        &format!("loading model package {}", package.name),
    );
    let result = LoadedPackage::load(package, &settings.provider, &mut |event| match event {
        LoadEvent::Loading { index, total, file } => {
            gst::debug!(
                cat,
                obj = element,
                "loading graph {}/{total}: {file}",
                index + 1
            );
            progress(
                gst::ProgressType::Continue,
                "load-model",
                &format!("loading graph {}/{total}: {file}", index + 1),
            );
        }
        LoadEvent::Loaded {
            file,
            provider,
            skipped,
            shared,
            load_time,
            engine,
        } => {
            if let Some(engine) = engine {
                let dir = engine.dir.display();
                let text = if engine.written.is_empty() {
                    format!(
                        "{file}: {} cached TensorRT engine file(s) in {dir}; an engine is built at \
                         the first run with input shapes none of them covers",
                        engine.cached
                    )
                } else {
                    format!(
                        "{file}: built a TensorRT engine in {} ms ({}), cached in {dir}",
                        load_time.as_millis(),
                        engine.written.join(", ")
                    )
                };
                gst::info!(cat, obj = element, "{text}");
                progress(gst::ProgressType::Continue, "load-model", &text);
            }
            for (p, why) in &skipped {
                gst::info!(cat, obj = element, "{file}: {p} not used: {why}");
            }
            gst::info!(
                cat,
                obj = element,
                "{file}: running on {provider}{} (loaded in {} ms)",
                if shared {
                    ", shared with another instance"
                } else {
                    ""
                },
                load_time.as_millis()
            );
        }
    });
    match result {
        Ok(loaded) => {
            progress(gst::ProgressType::Complete, "load-model", "model loaded");
            Ok(loaded)
        }
        Err(e) => {
            progress(
                gst::ProgressType::Error,
                "load-model",
                "model failed to load",
            );
            Err(gst::error_msg!(gst::ResourceError::OpenRead, ("{e}")))
        }
    }
}

/// Reports TensorRT engine builds that happen while streaming (a first run with input shapes
/// no cached engine covers, e.g. a new guidance-branch count): one `Progress` message and one
/// info line each. A second start with the same `engine-cache-dir` and shapes reports none.
#[derive(Debug, Default)]
pub struct EngineReports {
    /// Builds already reported, per graph file.
    reported: HashMap<String, usize>,
}

impl EngineReports {
    /// Posts the builds of `package`'s sessions not reported yet. Cheap when there are none
    /// (one lock per graph on TensorRT, nothing on other providers).
    pub fn post_new(
        &mut self,
        element: &gst::Element,
        cat: gst::DebugCategory,
        package: &LoadedPackage,
    ) {
        let mut per_graph: HashMap<String, usize> = HashMap::new();
        for (file, build) in package.engine_builds() {
            let n = per_graph.entry(file.clone()).or_default();
            *n += 1;
            let done = self.reported.entry(file.clone()).or_default();
            if *n <= *done {
                continue;
            }
            *done = *n;
            let text = format!(
                "{file}: built a TensorRT engine for new input shapes ({}) in {} ms: {}",
                build.shapes,
                build.took.as_millis(),
                build.files.join(", ")
            );
            gst::info!(cat, obj = element, "{text}");
            let _ = element.post_message(
                gst::message::Progress::builder(
                    gst::ProgressType::Complete,
                    "tensorrt-engine",
                    &text,
                )
                .src(element)
                .build(),
            );
        }
    }
}
