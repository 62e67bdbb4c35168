//! # miragegen
//!
//! Speech audio in, a synchronized video of a talking presenter out. The element runs an
//! audio-to-video model package (see `models/README.md`): an `audio_encoder` graph turns the
//! waveform into per-frame features, a `denoiser` graph is sampled in steps (DDIM or flow
//! matching) over a window of motion frames, and a `decoder` graph renders frames from the
//! motion and a reference portrait.
//!
//! ## Status
//!
//! This build registers the element with its pads and properties and, on the NULL→READY
//! transition, loads ONNX Runtime and the model package, validating every graph against the
//! manifest and posting `Progress` messages while the graphs load. **It does not generate
//! video yet**: the READY→PAUSED transition fails with a `not-implemented` error. The streaming
//! generator is tracked as its own issue.
//!
//! ## Model and ONNX Runtime
//!
//! `model` names a package directory. ONNX Runtime is loaded when the element goes to READY
//! (never at plugin load, so `gst-inspect-1.0` works without it), from `ort-library`, else
//! `ORT_DYLIB_PATH`, else the copy `scripts/setup.sh` installs, else the system loader.
//! `execution-provider=auto` tries TensorRT, then CUDA, then CPU and logs which one each graph
//! got (`GST_DEBUG=miragegen:4`); an explicit provider that is unavailable is an error.
//!
//! ## Example
//!
//! ```text
//! gst-launch-1.0 -m audiotestsrc num-buffers=10 ! audioconvert ! audioresample ! \
//!     miragegen model=models/fixtures/presenter ! fakesink
//! ```
//!
//! (Loads and checks the package, then stops with "not implemented".)
//!
//! ## Tested
//!
//! Debian 12, GStreamer 1.22, ONNX Runtime 1.31.1 (CPU), x86-64 with 2 cores.

use std::path::PathBuf;
use std::sync::Mutex;

use diffusion_runtime::package::{LoadedPackage, Task};
use diffusion_runtime::provider::default_engine_cache_dir;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_generative_common::{load_model, ModelSettings};
use once_cell::sync::Lazy;

use super::ExecutionProvider;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "miragegen",
        gst::DebugColorFlags::empty(),
        Some("Speech audio to talking-presenter video"),
    )
});

/// Property values. `steps == 0` and a negative `guidance_scale` mean "the package's default".
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    model: Option<PathBuf>,
    avatar: Option<String>,
    steps: u32,
    guidance_scale: f64,
    seed: u64,
    execution_provider: ExecutionProvider,
    device_id: u32,
    engine_cache_dir: PathBuf,
    ort_library: Option<PathBuf>,
    adaptive_steps: bool,
    min_steps: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: None,
            avatar: None,
            steps: 0,
            guidance_scale: -1.0,
            seed: 0,
            execution_provider: ExecutionProvider::Auto,
            device_id: 0,
            engine_cache_dir: default_engine_cache_dir(),
            ort_library: None,
            adaptive_steps: false,
            min_steps: 2,
        }
    }
}

impl Settings {
    fn model_settings(&self) -> ModelSettings {
        ModelSettings {
            model: self.model.clone(),
            ort_library: self.ort_library.clone(),
            provider: diffusion_runtime::provider::ProviderConfig {
                choice: self.execution_provider.into(),
                device_id: self.device_id,
                engine_cache_dir: self.engine_cache_dir.clone(),
            },
        }
    }
}

pub struct MirageGen {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    model: Mutex<Option<LoadedPackage>>,
}

impl MirageGen {
    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "handling event {event:?}");
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for MirageGen {
    const NAME: &'static str = "GstMirageGen";
    type Type = super::MirageGen;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .event_function(|pad, parent, event| {
                MirageGen::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .build();
        let templ = klass.pad_template("src").expect("src template");
        let srcpad = gst::Pad::builder_from_template(&templ).build();
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            model: Mutex::new(None),
        }
    }
}

impl ObjectImpl for MirageGen {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model package")
                    .blurb("Directory of an audio-to-video model package (model.toml + graphs). Loaded at READY; changes apply after the next NULL->READY")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("avatar")
                    .nick("Avatar")
                    .blurb("Portrait to animate: an avatar name from the package, or a path to an image file if the package can encode one. Empty = the package's default. Changes apply at READY (Not used yet: this build loads the model but does not generate.)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("steps")
                    .nick("Steps")
                    .blurb("Denoising steps per chunk (0 = the package's default). Can change while playing; applies from the next chunk (Not used yet: this build loads the model but does not generate.)")
                    .maximum(1000)
                    .default_value(d.steps)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("guidance-scale")
                    .nick("Guidance scale")
                    .blurb("Classifier-free guidance scale (negative = the package's default). Can change while playing; applies from the next chunk (Not used yet: this build loads the model but does not generate.)")
                    .minimum(-1.0)
                    .maximum(50.0)
                    .default_value(d.guidance_scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Seed of the sampler's noise: the same seed and input give the same video on CPU. Can change while playing; applies from the next chunk (Not used yet: this build loads the model but does not generate.)")
                    .default_value(d.seed)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("execution-provider", d.execution_provider)
                    .nick("Execution provider")
                    .blurb("Where the graphs run: auto tries TensorRT, CUDA, then CPU; an explicit provider that is unavailable is an error. Changes apply at READY")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("device-id")
                    .nick("Device ID")
                    .blurb("GPU index for CUDA/TensorRT. Changes apply at READY")
                    .default_value(d.device_id)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("engine-cache-dir")
                    .nick("Engine cache directory")
                    .blurb("Where TensorRT engines and timing caches are kept between runs. Changes apply at READY")
                    .default_value(d.engine_cache_dir.to_str())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("ort-library")
                    .nick("ONNX Runtime library")
                    .blurb("Path to libonnxruntime.so (1.20 or newer). Empty = ORT_DYLIB_PATH, then the copy installed by setup, then the system. One library per process: the first load wins")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("adaptive-steps")
                    .nick("Adaptive steps")
                    .blurb("In live pipelines, lower the steps (down to min-steps) when generation falls behind real time and raise them again with headroom. Can change while playing (Not used yet: this build loads the model but does not generate.)")
                    .default_value(d.adaptive_steps)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-steps")
                    .nick("Minimum steps")
                    .blurb("Lowest step count adaptive-steps may use. Can change while playing (Not used yet: this build loads the model but does not generate.)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.min_steps)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let path = |v: &glib::Value| {
            v.get::<Option<String>>()
                .ok()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        match pspec.name() {
            "model" => s.model = path(value),
            "avatar" => {
                s.avatar = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|s| !s.is_empty())
            }
            "steps" => s.steps = value.get().unwrap_or(s.steps),
            "guidance-scale" => s.guidance_scale = value.get().unwrap_or(s.guidance_scale),
            "seed" => s.seed = value.get().unwrap_or(s.seed),
            "execution-provider" => {
                s.execution_provider = value.get().unwrap_or(s.execution_provider)
            }
            "device-id" => s.device_id = value.get().unwrap_or(s.device_id),
            "engine-cache-dir" => {
                s.engine_cache_dir = path(value).unwrap_or_else(default_engine_cache_dir)
            }
            "ort-library" => s.ort_library = path(value),
            "adaptive-steps" => s.adaptive_steps = value.get().unwrap_or(s.adaptive_steps),
            "min-steps" => s.min_steps = value.get().unwrap_or(s.min_steps),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match pspec.name() {
            "model" => path(&s.model).to_value(),
            "avatar" => s.avatar.to_value(),
            "steps" => s.steps.to_value(),
            "guidance-scale" => s.guidance_scale.to_value(),
            "seed" => s.seed.to_value(),
            "execution-provider" => s.execution_provider.to_value(),
            "device-id" => s.device_id.to_value(),
            "engine-cache-dir" => s.engine_cache_dir.display().to_string().to_value(),
            "ort-library" => path(&s.ort_library).to_value(),
            "adaptive-steps" => s.adaptive_steps.to_value(),
            "min-steps" => s.min_steps.to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("adding sink pad");
        obj.add_pad(&self.srcpad).expect("adding src pad");
    }
}

impl GstObjectImpl for MirageGen {}

impl ElementImpl for MirageGen {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Talking presenter generator",
                "Generator/Video/Audio",
                "Generates a synchronized talking-presenter video from speech audio with an ONNX diffusion model",
                "gst-generative developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let audio = gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
                .build();
            let video = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Rgba])
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &audio,
                )
                .expect("sink template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &video,
                )
                .expect("src template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "state change {transition:?}");
        match transition {
            gst::StateChange::NullToReady => {
                let settings = self
                    .settings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .model_settings();
                let element = self.obj();
                match load_model(
                    element.upcast_ref(),
                    *CAT,
                    &settings,
                    Task::AudioToVideo,
                    "set the model property to an audio-to-video package directory (for example models/fixtures/presenter); no bundled presenter model is installed yet",
                ) {
                    Ok(loaded) => *self.model.lock().unwrap_or_else(|e| e.into_inner()) = Some(loaded),
                    Err(msg) => {
                        self.post_error_message(msg);
                        return Err(gst::StateChangeError);
                    }
                }
            }
            gst::StateChange::ReadyToPaused => {
                // Refuse to stream rather than pretend: generation is not built yet.
                gst::element_imp_error!(
                    self,
                    gst::CoreError::NotImplemented,
                    ("miragegen does not generate video yet: this build loads and validates the model only")
                );
                return Err(gst::StateChangeError);
            }
            gst::StateChange::ReadyToNull => {
                // Releases this instance's hold on the shared sessions.
                *self.model.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            _ => {}
        }
        self.parent_change_state(transition)
    }
}
