//! # v2agen
//!
//! Video in; the same video plus a generated, synchronized soundtrack out, steered by a
//! positive and a negative text prompt and, when an existing soundtrack arrives on
//! `audio_sink`, by negative audio guidance (Hayakawa et al. 2025): the new track avoids the
//! sounds already in the mix. The element runs a video-to-audio model package (see
//! `models/README.md`): `video_encoder` graphs at their own frame rates, a `text_encoder` with
//! its tokenizer, a flow-matching or DDIM `denoiser` sampled in steps with the guidance branches
//! batched into one call, and a `decoder` to waveform.
//!
//! ## Status
//!
//! This build registers the element with its pads and properties and, on the NULL→READY
//! transition, loads ONNX Runtime and the model package, validating every graph against the
//! manifest and posting `Progress` messages while the graphs load. **It does not generate audio
//! yet**: the READY→PAUSED transition fails with a `not-implemented` error. The streaming
//! generator is tracked as its own issue.
//!
//! ## Pads
//!
//! - `sink` (always): `video/x-raw`.
//! - `src` (always): the video, to be passed through unchanged.
//! - `audio_src` (always): the generated soundtrack, `audio/x-raw` F32LE at the model's rate.
//! - `audio_sink` (request): an existing soundtrack of the same video, the negative audio
//!   guidance condition, mixed into `audio_src` when `mix-existing` is true.
//!
//! ## Model and ONNX Runtime
//!
//! As for `miragegen`: `model` names a package directory; ONNX Runtime is loaded at READY from
//! `ort-library`, `ORT_DYLIB_PATH`, the copy `scripts/setup.sh` installs, or the system loader;
//! `execution-provider=auto` tries TensorRT, then CUDA, then CPU (`GST_DEBUG=v2agen:4` shows
//! which one each graph got).
//!
//! ## Example
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=50 ! v2agen model=models/fixtures/foley ! fakesink
//! ```
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
        "v2agen",
        gst::DebugColorFlags::empty(),
        Some("Video to synchronized soundtrack"),
    )
});

const MODEL_BLURB: &str = "Directory of a video-to-audio model package (model.toml + graphs). Loaded at READY; changes apply after the next NULL->READY";
const MISSING_MODEL: &str = "set the model property to a video-to-audio package directory (for example models/fixtures/foley); no bundled foley model is installed yet";

/// Property values. `steps == 0` and negative scales mean "the package's default".
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    model: ModelSettings,
    prompt: String,
    negative_prompt: String,
    guidance_scale: f64,
    negative_audio_scale: f64,
    steps: u32,
    seed: u64,
    mix_existing: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::default(),
            prompt: String::new(),
            negative_prompt: String::new(),
            guidance_scale: -1.0,
            negative_audio_scale: -1.0,
            steps: 0,
            seed: 0,
            mix_existing: false,
        }
    }
}

pub struct V2aGen {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    audio_srcpad: gst::Pad,
    audio_sinkpad: Mutex<Option<gst::Pad>>,
    settings: Mutex<Settings>,
    model: Mutex<Option<LoadedPackage>>,
}

#[glib::object_subclass]
impl ObjectSubclass for V2aGen {
    const NAME: &'static str = "GstV2aGen";
    type Type = super::V2aGen;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let pad = |name: &str| {
            gst::Pad::builder_from_template(&klass.pad_template(name).expect("template")).build()
        };
        Self {
            sinkpad: pad("sink"),
            srcpad: pad("src"),
            audio_srcpad: pad("audio_src"),
            audio_sinkpad: Mutex::new(None),
            settings: Mutex::new(Settings::default()),
            model: Mutex::new(None),
        }
    }
}

impl ObjectImpl for V2aGen {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let d = Settings::default();
            let mut props = model_properties(ExecutionProvider::Auto, MODEL_BLURB);
            props.extend([
                glib::ParamSpecString::builder("prompt")
                    .nick("Prompt")
                    .blurb("What the soundtrack should contain. Empty = unconditional. Can change while playing; applies from the next window (Not used yet: this build loads the model but does not generate.)")
                    .default_value(Some(d.prompt.as_str()))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("negative-prompt")
                    .nick("Negative prompt")
                    .blurb("What the soundtrack should avoid; replaces the unconditional guidance branch. Can change while playing; applies from the next window (Not used yet: this build loads the model but does not generate.)")
                    .default_value(Some(d.negative_prompt.as_str()))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("guidance-scale")
                    .nick("Guidance scale")
                    .blurb("Classifier-free guidance scale alpha (negative = the package's default). Can change while playing; applies from the next window (Not used yet: this build loads the model but does not generate.)")
                    .minimum(-1.0)
                    .maximum(50.0)
                    .default_value(d.guidance_scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("negative-audio-scale")
                    .nick("Negative audio scale")
                    .blurb("Negative audio guidance scale beta: how strongly to avoid the sounds on audio_sink (negative = the package's default). Can change while playing; applies from the next window (Not used yet: this build loads the model but does not generate.)")
                    .minimum(-1.0)
                    .maximum(50.0)
                    .default_value(d.negative_audio_scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("steps")
                    .nick("Steps")
                    .blurb("Sampler steps per window (0 = the package's default). Can change while playing; applies from the next window (Not used yet: this build loads the model but does not generate.)")
                    .maximum(1000)
                    .default_value(d.steps)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Seed of the sampler's noise: another seed gives another soundtrack; the same seed and input give the same samples on CPU. Can change while playing; applies from the next window (Not used yet: this build loads the model but does not generate.)")
                    .default_value(d.seed)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("mix-existing")
                    .nick("Mix existing")
                    .blurb("Mix the soundtrack arriving on audio_sink into audio_src. Can change while playing (Not used yet: this build loads the model but does not generate.)")
                    .default_value(d.mix_existing)
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
        let string = |v: &glib::Value| v.get::<Option<String>>().ok().flatten().unwrap_or_default();
        match pspec.name() {
            "prompt" => s.prompt = string(value),
            "negative-prompt" => s.negative_prompt = string(value),
            "guidance-scale" => s.guidance_scale = value.get().unwrap_or(s.guidance_scale),
            "negative-audio-scale" => {
                s.negative_audio_scale = value.get().unwrap_or(s.negative_audio_scale)
            }
            "steps" => s.steps = value.get().unwrap_or(s.steps),
            "seed" => s.seed = value.get().unwrap_or(s.seed),
            "mix-existing" => s.mix_existing = value.get().unwrap_or(s.mix_existing),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = s.model.property(pspec) {
            return v;
        }
        match pspec.name() {
            "prompt" => s.prompt.to_value(),
            "negative-prompt" => s.negative_prompt.to_value(),
            "guidance-scale" => s.guidance_scale.to_value(),
            "negative-audio-scale" => s.negative_audio_scale.to_value(),
            "steps" => s.steps.to_value(),
            "seed" => s.seed.to_value(),
            "mix-existing" => s.mix_existing.to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        for pad in [&self.sinkpad, &self.srcpad, &self.audio_srcpad] {
            obj.add_pad(pad).expect("adding always pad");
        }
    }
}

impl GstObjectImpl for V2aGen {}

impl ElementImpl for V2aGen {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Video to soundtrack generator",
                "Generator/Audio/Video",
                "Passes video through and adds a generated, synchronized soundtrack from an ONNX diffusion model, steered by text prompts and negative audio guidance",
                "gst-generative developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let video = gst_video::VideoCapsBuilder::new().build();
            let audio_out = gst_audio::AudioCapsBuilder::new_interleaved()
                .format(gst_audio::AudioFormat::F32le)
                .build();
            let audio_in = gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
                .build();
            let t = |name, dir, presence, caps: &gst::Caps| {
                gst::PadTemplate::new(name, dir, presence, caps).expect("template")
            };
            vec![
                t(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &video,
                ),
                t(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &video,
                ),
                t(
                    "audio_src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &audio_out,
                ),
                t(
                    "audio_sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &audio_in,
                ),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        // The lock is not held across add_pad/remove_pad: they emit pad-added/pad-removed
        // synchronously, and a handler may call back into the element.
        let pad = {
            let mut slot = self.audio_sinkpad.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "audio_sink already requested: one existing soundtrack per instance"
                );
                return None;
            }
            let pad = gst::Pad::builder_from_template(templ)
                .name("audio_sink")
                .build();
            *slot = Some(pad.clone());
            pad
        };
        if self.obj().add_pad(&pad).is_err() {
            *self.audio_sinkpad.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return None;
        }
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let ours = {
            let mut slot = self.audio_sinkpad.lock().unwrap_or_else(|e| e.into_inner());
            let ours = slot.as_ref() == Some(pad);
            if ours {
                *slot = None;
            }
            ours
        };
        if ours {
            let _ = self.obj().remove_pad(pad);
        }
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
                    Task::VideoToAudio,
                    MISSING_MODEL,
                )?;
                *self.model.lock().unwrap_or_else(|e| e.into_inner()) = Some(loaded);
            }
            gst::StateChange::ReadyToPaused => {
                // Refuse to stream rather than pretend: generation is not built yet.
                gst::element_imp_error!(
                    self,
                    gst::CoreError::NotImplemented,
                    ("v2agen does not generate audio yet: this build loads and validates the model only")
                );
                return Err(gst::StateChangeError);
            }
            gst::StateChange::ReadyToNull => {
                *self.model.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            _ => {}
        }
        self.parent_change_state(transition)
    }
}
