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

use std::sync::Mutex;

use diffusion_runtime::package::{LoadedPackage, Task};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_generative_common::{load_or_post, model_properties, ModelSettings};
use once_cell::sync::Lazy;

use super::ExecutionProvider;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "miragegen",
        gst::DebugColorFlags::empty(),
        Some("Speech audio to talking-presenter video"),
    )
});

const MODEL_BLURB: &str = "Directory of an audio-to-video model package (model.toml + graphs). Loaded at READY; changes apply after the next NULL->READY";
const MISSING_MODEL: &str = "set the model property to an audio-to-video package directory (for example models/fixtures/presenter); no bundled presenter model is installed yet";

/// Property values. `steps == 0` and a negative `guidance_scale` mean "the package's default".
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    model: ModelSettings,
    avatar: Option<String>,
    steps: u32,
    guidance_scale: f64,
    seed: u64,
    adaptive_steps: bool,
    min_steps: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::default(),
            avatar: None,
            steps: 0,
            guidance_scale: -1.0,
            seed: 0,
            adaptive_steps: false,
            min_steps: 2,
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
            let mut props = model_properties(ExecutionProvider::Auto, MODEL_BLURB);
            props.extend([
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
            ]);
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
        if s.model.set_property(pspec.name(), value) {
            return;
        }
        match pspec.name() {
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
            "adaptive-steps" => s.adaptive_steps = value.get().unwrap_or(s.adaptive_steps),
            "min-steps" => s.min_steps = value.get().unwrap_or(s.min_steps),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = s.model.property(pspec) {
            return v;
        }
        match pspec.name() {
            "avatar" => s.avatar.to_value(),
            "steps" => s.steps.to_value(),
            "guidance-scale" => s.guidance_scale.to_value(),
            "seed" => s.seed.to_value(),
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
                    .model
                    .clone();
                let loaded = load_or_post(
                    self.obj().upcast_ref(),
                    *CAT,
                    &settings,
                    Task::AudioToVideo,
                    MISSING_MODEL,
                )?;
                *self.model.lock().unwrap_or_else(|e| e.into_inner()) = Some(loaded);
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
