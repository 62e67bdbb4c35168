//! GStreamer-side helpers shared by the `mirage` and `v2a` plugins: turning element settings into
//! a loaded model package, with `Progress` messages while graphs load and errors that say how to
//! fix the problem. The tensor work itself lives in `diffusion-runtime`.

use std::path::PathBuf;

use diffusion_runtime::ort_env;
use diffusion_runtime::package::{LoadEvent, LoadedPackage, ModelPackage, Task};
use diffusion_runtime::provider::ProviderConfig;
use gst::prelude::*;

/// The settings every generating element has that decide which model runs where.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSettings {
    pub model: Option<PathBuf>,
    pub ort_library: Option<PathBuf>,
    pub provider: ProviderConfig,
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
        } => {
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
