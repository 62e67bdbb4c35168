//! Checking a manifest: every problem becomes a [`PackageError`] naming file and field.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::manifest::{RawDim, RawGraph, RawManifest, RawSampler, RawTensor};
use super::*;
use crate::sampler::{BetaSchedule, Prediction, SamplerKind};

struct Ctx<'a> {
    dir: &'a Path,
    /// The package directory with symlinks resolved, to catch links that lead outside.
    real_dir: PathBuf,
}

impl Ctx<'_> {
    fn err(
        &self,
        file: &str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> PackageError {
        PackageError::new(self.dir, file, field, problem)
    }

    fn manifest_err(&self, field: impl Into<String>, problem: impl Into<String>) -> PackageError {
        self.err(MANIFEST, field, problem)
    }

    /// Resolves a manifest path inside the package: relative, no `..`, existing, and still inside
    /// the package once symlinks are followed.
    fn file(&self, field: &str, rel: &str) -> Result<PathBuf, PackageError> {
        let p = Path::new(rel);
        if rel.is_empty() {
            return Err(self.manifest_err(field, "empty path"));
        }
        if p.is_absolute() {
            return Err(self.manifest_err(
                field,
                format!("path {rel:?} is absolute; paths must be relative to the package"),
            ));
        }
        if p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(self.manifest_err(
                field,
                format!("path {rel:?} contains '..' and would escape the package directory"),
            ));
        }
        let full = self.dir.join(p);
        let real = full.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => self.err(rel, field, "file not found in the package"),
            _ => self.err(rel, field, format!("cannot access: {e}")),
        })?;
        if !real.starts_with(&self.real_dir) {
            return Err(self.manifest_err(
                field,
                format!("path {rel:?} leads outside the package directory (symlink)"),
            ));
        }
        if !real.is_file() {
            return Err(self.err(rel, field, "not a regular file"));
        }
        Ok(full)
    }
}

/// Largest latent accepted (elements per branch): 64 Mi floats, 256 MiB.
const MAX_LATENT_ELEMENTS: usize = 1 << 26;

fn one_of<'a>(value: &str, allowed: &[&'a str]) -> Result<&'a str, String> {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown value {value:?} (expected one of: {})",
                allowed.join(", ")
            )
        })
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(v: T, lo: T, hi: T) -> Result<T, String> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(format!("{v} is out of range {lo}..={hi}"))
    }
}

/// Line number of a byte offset, for TOML syntax errors.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

pub(super) fn open(dir: &Path) -> Result<ModelPackage, PackageError> {
    let early = |field: &str, problem: String| PackageError::new(dir, MANIFEST, field, problem);
    let real_dir = dir
        .canonicalize()
        .map_err(|e| early("-", format!("package directory not readable: {e}")))?;
    let text = read_manifest(&dir.join(MANIFEST)).map_err(|problem| early("-", problem))?;
    from_text(dir, real_dir, &text)
}

/// Largest `model.toml` read: manifests are a few kB; a bigger file is a mistake (or a symlink
/// to a device), not a manifest.
pub(super) const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The manifest's text: a regular file of at most [`MAX_MANIFEST_BYTES`], read with that bound
/// (a file that grows while it is read, or a device such as `/dev/zero` behind a symlink, never
/// reads forever).
fn read_manifest(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the manifest: {e}"))?;
    if !meta.is_file() {
        return Err("the manifest is not a regular file".into());
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(format!(
            "the manifest is {} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the manifest: {e}"))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!(
            "the manifest grew past the {MAX_MANIFEST_BYTES} bytes a manifest may have while it was read"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("the manifest is not UTF-8: {e}"))
}

/// Parses and checks manifest `text` as the `model.toml` of `dir` (whose canonical path is
/// `real_dir`); the files it names are resolved in `dir`.
pub(super) fn from_text(
    dir: &Path,
    real_dir: PathBuf,
    text: &str,
) -> Result<ModelPackage, PackageError> {
    let ctx = Ctx { dir, real_dir };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        ctx.manifest_err(format!("line {line}"), e.message().replace('\n', " "))
    })?;
    check(&ctx, raw)
}

fn check(ctx: &Ctx, raw: RawManifest) -> Result<ModelPackage, PackageError> {
    if raw.schema != SCHEMA {
        return Err(ctx.manifest_err(
            "schema",
            format!(
                "schema {} is not supported (this runtime reads {SCHEMA})",
                raw.schema
            ),
        ));
    }
    for (field, v) in [
        ("package.name", &raw.package.name),
        ("package.version", &raw.package.version),
        ("package.license", &raw.package.license),
    ] {
        if v.trim().is_empty() {
            return Err(ctx.manifest_err(field, "must not be empty"));
        }
    }
    let task = match one_of(&raw.package.task, &["audio-to-video", "video-to-audio"]) {
        Ok("audio-to-video") => Task::AudioToVideo,
        Ok(_) => Task::VideoToAudio,
        Err(e) => return Err(ctx.manifest_err("package.task", e)),
    };
    let audio = raw
        .audio
        .as_ref()
        .ok_or_else(|| ctx.manifest_err("audio", "missing table [audio]"))?;
    let audio = AudioSpec {
        rate: in_range(audio.rate, 8000, 192_000).map_err(|e| ctx.manifest_err("audio.rate", e))?,
        channels: in_range(audio.channels, 1, 8)
            .map_err(|e| ctx.manifest_err("audio.channels", e))?,
    };
    let video = match (&raw.video, task) {
        (Some(v), Task::AudioToVideo) => Some(VideoSpec {
            width: in_range(v.width, 16, 8192).map_err(|e| ctx.manifest_err("video.width", e))?,
            height: in_range(v.height, 16, 8192)
                .map_err(|e| ctx.manifest_err("video.height", e))?,
            fps: Rate::parse(&v.fps).ok_or_else(|| {
                ctx.manifest_err(
                    "video.fps",
                    format!("{:?} is not a positive fraction like \"25/1\"", v.fps),
                )
            })?,
        }),
        (None, Task::AudioToVideo) => {
            return Err(ctx.manifest_err(
                "video",
                "missing table [video] (required for audio-to-video)",
            ))
        }
        (_, Task::VideoToAudio) => None,
    };
    let t = &raw.timing;
    let need = |v: Option<u32>, field: &str| {
        v.ok_or_else(|| {
            ctx.manifest_err(field, format!("missing (required for {})", task.as_str()))
        })
    };
    let timing = match task {
        Task::AudioToVideo => {
            let chunk_frames = in_range(need(t.chunk_frames, "timing.chunk_frames")?, 1, 10_000)
                .map_err(|e| ctx.manifest_err("timing.chunk_frames", e))?;
            let context_frames = in_range(t.context_frames.unwrap_or(0), 0, 10_000)
                .map_err(|e| ctx.manifest_err("timing.context_frames", e))?;
            // Easing as many frames as the context is the safe default for a model that may not
            // continue its previous motion; a model trained to continue it eases fewer.
            let seam_frames = in_range(
                t.seam_frames.unwrap_or(context_frames.min(chunk_frames)),
                0,
                chunk_frames,
            )
            .map_err(|e| ctx.manifest_err("timing.seam_frames", e))?;
            Timing::Chunk(ChunkTiming {
                chunk_frames,
                context_frames,
                lookahead_frames: in_range(t.lookahead_frames.unwrap_or(0), 0, 10_000)
                    .map_err(|e| ctx.manifest_err("timing.lookahead_frames", e))?,
                seam_frames,
            })
        }
        Task::VideoToAudio if t.hop_ms.is_some() => {
            for (v, field) in [
                (t.window_ms, "timing.window_ms"),
                (t.overlap_ms, "timing.overlap_ms"),
            ] {
                if v.is_some() {
                    return Err(ctx.manifest_err(
                        field,
                        "a streaming package (timing.hop_ms) has no windows: drop this field",
                    ));
                }
            }
            let rate = audio.rate;
            // Whole samples, so that hops meet exactly and the video spans are exact.
            let exact = |ms: u32, field: &str| {
                if u64::from(ms) * u64::from(rate) % 1000 != 0 {
                    Err(ctx.manifest_err(
                        field,
                        format!("{ms} ms is not a whole number of samples at {rate} Hz"),
                    ))
                } else {
                    Ok(ms)
                }
            };
            let hop_ms = in_range(t.hop_ms.unwrap_or(0), 10, 60_000)
                .map_err(|e| ctx.manifest_err("timing.hop_ms", e))
                .and_then(|v| exact(v, "timing.hop_ms"))?;
            let context_ms = in_range(t.context_ms.unwrap_or(0), 0, 600_000)
                .map_err(|e| ctx.manifest_err("timing.context_ms", e))
                .and_then(|v| exact(v, "timing.context_ms"))?;
            let lookahead_ms = in_range(t.lookahead_ms.unwrap_or(0), 0, 60_000)
                .map_err(|e| ctx.manifest_err("timing.lookahead_ms", e))
                .and_then(|v| exact(v, "timing.lookahead_ms"))?;
            Timing::Stream(StreamTiming {
                hop_ms,
                context_ms,
                lookahead_ms,
            })
        }
        Task::VideoToAudio => {
            for (v, field) in [
                (t.context_ms, "timing.context_ms"),
                (t.lookahead_ms, "timing.lookahead_ms"),
            ] {
                if v.is_some() {
                    return Err(ctx.manifest_err(
                        field,
                        "only a streaming package (timing.hop_ms) has a context and a lookahead",
                    ));
                }
            }
            let window_ms = in_range(
                need(
                    t.window_ms,
                    "timing.window_ms (or hop_ms for a streaming package)",
                )?,
                100,
                600_000,
            )
            .map_err(|e| ctx.manifest_err("timing.window_ms", e))?;
            let overlap_ms = t.overlap_ms.unwrap_or(0);
            if u64::from(overlap_ms) * 2 >= u64::from(window_ms) {
                return Err(ctx.manifest_err(
                    "timing.overlap_ms",
                    format!("{overlap_ms} must be less than half the window ({window_ms} ms)"),
                ));
            }
            Timing::Window(WindowTiming {
                window_ms,
                overlap_ms,
            })
        }
    };
    if raw.latent.shape.is_empty() || raw.latent.shape.iter().any(|&d| d <= 0) {
        return Err(ctx.manifest_err(
            "latent.shape",
            format!(
                "{:?} must be a non-empty list of positive sizes",
                raw.latent.shape
            ),
        ));
    }
    let latent_shape: Vec<usize> = raw.latent.shape.iter().map(|&d| d as usize).collect();
    let elements = latent_shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_LATENT_ELEMENTS);
    if elements.is_none() {
        return Err(ctx.manifest_err(
            "latent.shape",
            format!("{latent_shape:?} has more than {MAX_LATENT_ELEMENTS} elements"),
        ));
    }
    let sampler = sampler(ctx, &raw.sampler)?;

    let mut graphs = Vec::new();
    for (i, g) in raw.graphs.iter().enumerate() {
        graphs.push(graph(ctx, task, i, g, &raw.package.name)?);
    }
    check_roles(ctx, task, &graphs)?;
    check_denoiser(ctx, &graphs, &latent_shape, &sampler.kind)?;
    check_previous_latent(ctx, &graphs, &latent_shape, &timing)?;
    check_previous_waveform(ctx, &graphs, &timing, audio.rate)?;

    let tokenizer = match &raw.assets.tokenizer {
        Some(t) => Some(ctx.file("assets.tokenizer", t)?),
        None if graphs.iter().any(|g| g.role == Role::TextEncoder) => {
            return Err(ctx.manifest_err(
                "assets.tokenizer",
                "missing: a text_encoder needs a tokenizer.json",
            ));
        }
        None => None,
    };
    let mut avatars = BTreeMap::new();
    for (name, file) in &raw.assets.avatars {
        avatars.insert(
            name.clone(),
            ctx.file(&format!("assets.avatars.{name}"), file)?,
        );
    }
    let takes_portrait = graphs.iter().any(|g| {
        g.role == Role::ReferenceEncoder
            || (g.role == Role::Decoder && g.input("reference_image").is_some())
    });
    if takes_portrait && raw.assets.default_avatar.is_none() {
        return Err(ctx.manifest_err(
            "assets.default_avatar",
            "missing: the graphs take a reference portrait, so the package needs [assets.avatars] and a default_avatar",
        ));
    }
    if let Some(d) = &raw.assets.default_avatar {
        if !avatars.contains_key(d) {
            return Err(ctx.manifest_err(
                "assets.default_avatar",
                format!("{d:?} is not one of assets.avatars"),
            ));
        }
    }
    Ok(ModelPackage {
        dir: ctx.dir.to_path_buf(),
        name: raw.package.name,
        version: raw.package.version,
        license: raw.package.license,
        description: raw.package.description,
        task,
        audio,
        video,
        timing,
        latent_shape,
        sampler,
        tokenizer,
        avatars,
        default_avatar: raw.assets.default_avatar,
        graphs,
    })
}

fn sampler(ctx: &Ctx, s: &RawSampler) -> Result<SamplerDefaults, PackageError> {
    let e = |field: &str, p: String| ctx.manifest_err(format!("sampler.{field}"), p);
    let steps = in_range(s.steps, 1, 1000).map_err(|p| e("steps", p))? as u32;
    let finite = |v: f64, field: &str, hi: f64| {
        if v.is_finite() {
            in_range(v, 0.0, hi)
                .map(|v| v as f32)
                .map_err(|p| e(field, p))
        } else {
            Err(e(field, format!("{v} is not a finite number")))
        }
    };
    let guidance_scale = finite(s.guidance_scale, "guidance_scale", 50.0)?;
    let negative_audio_scale = finite(s.negative_audio_scale, "negative_audio_scale", 50.0)?;
    let kind = match one_of(&s.kind, &["ddim", "flow-euler"]).map_err(|p| e("kind", p))? {
        "flow-euler" => {
            one_of(&s.prediction, &["velocity"]).map_err(|p| {
                e(
                    "prediction",
                    format!("{p}; flow-euler models predict velocity"),
                )
            })?;
            let shift = s.time_shift.unwrap_or(1.0);
            if !(shift.is_finite() && (0.1..=20.0).contains(&shift)) {
                return Err(e(
                    "time_shift",
                    format!("{shift} is outside 0.1..=20 (1 = uniform steps)"),
                ));
            }
            let noise_scale = s.noise_scale.unwrap_or(1.0);
            if !(noise_scale.is_finite() && (0.0..=1.0).contains(&noise_scale)) {
                return Err(e(
                    "noise_scale",
                    format!("{noise_scale} is outside 0..=1 (1 = the trained noise)"),
                ));
            }
            SamplerKind::FlowEuler {
                shift: shift as f32,
                noise_scale: noise_scale as f32,
            }
        }
        _ => {
            let prediction =
                match one_of(&s.prediction, &["eps", "v", "x0"]).map_err(|p| e("prediction", p))? {
                    "eps" => Prediction::Eps,
                    "v" => Prediction::V,
                    _ => Prediction::X0,
                };
            if s.time_shift.is_some() {
                return Err(e("time_shift", "applies to flow-euler only".into()));
            }
            if s.noise_scale.is_some() {
                return Err(e("noise_scale", "applies to flow-euler only".into()));
            }
            let missing = |field: &str| e(field, "missing (required for ddim)".into());
            let train_steps = s.train_steps.ok_or_else(|| missing("train_steps"))?;
            let train_steps =
                in_range(train_steps, 1, 100_000).map_err(|p| e("train_steps", p))? as usize;
            if steps as usize > train_steps {
                return Err(e(
                    "steps",
                    format!("{steps} exceeds train_steps ({train_steps})"),
                ));
            }
            let eta = finite(s.eta.unwrap_or(0.0), "eta", 1.0)?;
            let name = s
                .beta_schedule
                .as_deref()
                .ok_or_else(|| missing("beta_schedule"))?;
            let schedule = match one_of(name, &["linear", "scaled-linear", "cosine"])
                .map_err(|p| e("beta_schedule", p))?
            {
                "cosine" => BetaSchedule::Cosine,
                lin => {
                    let start = s.beta_start.ok_or_else(|| missing("beta_start"))?;
                    let end = s.beta_end.ok_or_else(|| missing("beta_end"))?;
                    if !(start > 0.0 && start < end && end < 1.0) {
                        let field = if start > 0.0 && start < 1.0 && start < end {
                            "beta_end"
                        } else {
                            "beta_start"
                        };
                        return Err(e(
                            field,
                            format!("need 0 < beta_start ({start}) < beta_end ({end}) < 1"),
                        ));
                    }
                    if lin == "linear" {
                        BetaSchedule::Linear { start, end }
                    } else {
                        BetaSchedule::ScaledLinear { start, end }
                    }
                }
            };
            SamplerKind::Ddim {
                prediction,
                schedule,
                train_steps,
                eta,
            }
        }
    };
    Ok(SamplerDefaults {
        kind,
        steps,
        guidance_scale,
        negative_audio_scale,
    })
}

/// (slot name, required) pairs.
type SlotList = &'static [(&'static str, bool)];

/// Slots a role accepts, inputs then outputs. `video:*` is checked separately.
fn slots(task: Task, role: Role) -> (SlotList, SlotList) {
    match (task, role) {
        (Task::AudioToVideo, Role::AudioEncoder) => (&[("audio", true)], &[("features", true)]),
        (Task::AudioToVideo, Role::Denoiser) => (
            &[
                ("latent", true),
                ("timestep", true),
                ("branch", false),
                ("audio_features", true),
                ("previous_motion", false),
                ("reference", false),
            ],
            &[("prediction", true)],
        ),
        (Task::AudioToVideo, Role::Decoder) => (
            &[
                ("motion", true),
                ("reference_image", false),
                ("reference", false),
            ],
            &[("frames", true)],
        ),
        (Task::AudioToVideo, Role::ReferenceEncoder) => (
            &[("image", true)],
            &[
                ("portrait", false),
                ("reference", false),
                ("status", false),
                ("face_box", false),
                ("face_keypoints", false),
            ],
        ),
        (Task::VideoToAudio, Role::VideoEncoder) => (&[("frames", true)], &[("features", true)]),
        (Task::VideoToAudio, Role::TextEncoder) => (
            &[
                ("input_ids", true),
                ("attention_mask", true),
                ("token_type_ids", false),
            ],
            &[("embedding", true)],
        ),
        (Task::VideoToAudio, Role::Denoiser) => (
            &[
                ("latent", true),
                ("timestep", true),
                ("branch", false),
                ("text", false),
                ("audio", false),
                ("previous_latent", false),
            ],
            &[("prediction", true)],
        ),
        (Task::VideoToAudio, Role::Decoder) => (
            &[
                ("latent", true),
                ("previous_latent", false),
                ("previous_waveform", false),
            ],
            &[("waveform", true)],
        ),
        (Task::VideoToAudio, Role::AudioEncoder) => (&[("waveform", true)], &[("features", true)]),
        _ => (&[], &[]),
    }
}

fn roles(task: Task) -> &'static [(&'static str, Role)] {
    match task {
        Task::AudioToVideo => &[
            ("audio_encoder", Role::AudioEncoder),
            ("denoiser", Role::Denoiser),
            ("decoder", Role::Decoder),
            ("reference_encoder", Role::ReferenceEncoder),
        ],
        Task::VideoToAudio => &[
            ("video_encoder", Role::VideoEncoder),
            ("text_encoder", Role::TextEncoder),
            ("denoiser", Role::Denoiser),
            ("decoder", Role::Decoder),
            ("audio_encoder", Role::AudioEncoder),
        ],
    }
}

fn dtype(s: &str) -> Result<DType, String> {
    Ok(
        match one_of(s, &["float32", "float16", "int64", "int32", "uint8"])? {
            "float32" => DType::F32,
            "float16" => DType::F16,
            "int64" => DType::I64,
            "int32" => DType::I32,
            _ => DType::U8,
        },
    )
}

fn tensor(ctx: &Ctx, field: &str, t: &RawTensor) -> Result<TensorSpec, PackageError> {
    if t.name.is_empty() {
        return Err(ctx.manifest_err(format!("{field}.name"), "must not be empty"));
    }
    let dtype = dtype(&t.dtype).map_err(|p| ctx.manifest_err(format!("{field}.dtype"), p))?;
    let shape = t
        .shape
        .iter()
        .map(|d| match d {
            RawDim::Fixed(n) if *n > 0 => Ok(Dim::Fixed(*n as usize)),
            RawDim::Fixed(n) => Err(ctx.manifest_err(
                format!("{field}.shape"),
                format!("dimension {n} must be positive or a name"),
            )),
            RawDim::Symbol(s) => Ok(Dim::Symbol(s.clone())),
        })
        .collect::<Result<_, _>>()?;
    Ok(TensorSpec {
        slot: t.slot.clone(),
        name: t.name.clone(),
        dtype,
        shape,
    })
}

/// Element types the runtime can feed or read for a slot.
fn slot_dtypes(task: Task, role: Role, slot: &str, output: bool) -> &'static [DType] {
    match (task, role, slot, output) {
        (_, Role::Denoiser, "timestep", false) => &[DType::F32, DType::I64],
        (_, Role::Denoiser, "branch", false) => &[DType::I64],
        (_, Role::TextEncoder, _, false) => &[DType::I64],
        (Task::AudioToVideo, Role::Decoder, "frames", true) => &[DType::F32, DType::U8],
        (Task::AudioToVideo, Role::ReferenceEncoder, "status", true) => &[DType::I64],
        _ => &[DType::F32],
    }
}

fn check_dtype(
    ctx: &Ctx,
    field: &str,
    task: Task,
    role: Role,
    t: &TensorSpec,
    output: bool,
) -> Result<(), PackageError> {
    let allowed = slot_dtypes(task, role, &t.slot, output);
    if allowed.contains(&t.dtype) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(DType::as_str).collect();
    Err(ctx.manifest_err(
        format!("{field}.dtype"),
        format!(
            "{} is not accepted for slot {:?} of {} (expected {})",
            t.dtype.as_str(),
            t.slot,
            role.as_str(),
            names.join(" or ")
        ),
    ))
}

/// A name an inference server's model repository can hold as a directory.
fn server_model_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a model name: 1 to 128 of A-Z a-z 0-9 _ - . (not starting with .)"
        ))
    }
}

/// `<package>.<file stem>` with anything a model repository cannot hold replaced by `_`.
fn default_server_model(package: &str, file: &str) -> String {
    let stem = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{package}.{stem}")
        .trim_start_matches('.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn graph(
    ctx: &Ctx,
    task: Task,
    i: usize,
    g: &RawGraph,
    package: &str,
) -> Result<GraphSpec, PackageError> {
    let f = |s: &str| format!("graph[{i}].{s}");
    let names: Vec<&str> = roles(task).iter().map(|(n, _)| *n).collect();
    let role = one_of(&g.role, &names)
        .map_err(|p| ctx.manifest_err(f("role"), format!("{p} for task {}", task.as_str())))?;
    let role = roles(task)
        .iter()
        .find(|(n, _)| *n == role)
        .map(|(_, r)| *r)
        .unwrap_or(Role::Denoiser);
    let path = ctx.file(&f("file"), &g.file)?;
    let (in_slots, out_slots) = slots(task, role);
    let mut inputs = Vec::new();
    for (j, t) in g.inputs.iter().enumerate() {
        let field = f(&format!("inputs[{j}]"));
        let video_slot =
            task == Task::VideoToAudio && role == Role::Denoiser && t.slot.starts_with("video:");
        if !video_slot && !in_slots.iter().any(|(s, _)| *s == t.slot) {
            let allowed: Vec<&str> = in_slots.iter().map(|(s, _)| *s).collect();
            return Err(ctx.manifest_err(
                format!("{field}.slot"),
                format!(
                    "unknown slot {:?} for {} (expected one of: {}{})",
                    t.slot,
                    role.as_str(),
                    allowed.join(", "),
                    if task == Task::VideoToAudio && role == Role::Denoiser {
                        ", video:<encoder name>"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let spec = tensor(ctx, &field, t)?;
        check_dtype(ctx, &field, task, role, &spec, false)?;
        inputs.push(spec);
    }
    let mut outputs = Vec::new();
    for (j, t) in g.outputs.iter().enumerate() {
        let field = f(&format!("outputs[{j}]"));
        if !out_slots.iter().any(|(s, _)| *s == t.slot) {
            let allowed: Vec<&str> = out_slots.iter().map(|(s, _)| *s).collect();
            return Err(ctx.manifest_err(
                format!("{field}.slot"),
                format!(
                    "unknown slot {:?} for {} (expected one of: {})",
                    t.slot,
                    role.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
        let spec = tensor(ctx, &field, t)?;
        check_dtype(ctx, &field, task, role, &spec, true)?;
        outputs.push(spec);
    }
    for (list, decl, what) in [
        (in_slots, &inputs, "inputs"),
        (out_slots, &outputs, "outputs"),
    ] {
        for (slot, required) in list {
            let n = decl.iter().filter(|t| t.slot == *slot).count();
            if *required && n == 0 {
                return Err(ctx.manifest_err(
                    f(what),
                    format!("missing required slot {slot:?} for {}", role.as_str()),
                ));
            }
            if n > 1 {
                return Err(ctx.manifest_err(f(what), format!("slot {slot:?} appears {n} times")));
            }
        }
    }
    if role == Role::ReferenceEncoder
        && !outputs
            .iter()
            .any(|t| t.slot == "portrait" || t.slot == "reference")
    {
        return Err(ctx.manifest_err(
            f("outputs"),
            "a reference_encoder needs a \"portrait\" or a \"reference\" output".to_string(),
        ));
    }
    let mut spec = GraphSpec {
        index: i,
        role,
        file: g.file.clone(),
        path,
        name: g.name.clone(),
        fps: None,
        width: g.width,
        height: g.height,
        mean_pooling: false,
        server_model: match &g.server_model {
            Some(name) => {
                server_model_name(name).map_err(|p| ctx.manifest_err(f("server_model"), p))?;
                name.clone()
            }
            None => default_server_model(package, &g.file),
        },
        server_version: match g.server_version {
            Some(0) => {
                return Err(ctx.manifest_err(
                    f("server_version"),
                    "model versions start at 1 (omit it for the server's choice)".to_string(),
                ))
            }
            Some(v) => v.to_string(),
            None => String::new(),
        },
        inputs,
        outputs,
    };
    if role == Role::VideoEncoder {
        if g.name.as_deref().is_none_or(str::is_empty) {
            return Err(ctx.manifest_err(
                f("name"),
                "a video_encoder needs a name (its denoiser slot is video:<name>)",
            ));
        }
        let fps = g
            .fps
            .as_deref()
            .ok_or_else(|| ctx.manifest_err(f("fps"), "missing (required for video_encoder)"))?;
        spec.fps = Some(Rate::parse(fps).ok_or_else(|| {
            ctx.manifest_err(
                f("fps"),
                format!("{fps:?} is not a positive fraction like \"8/1\""),
            )
        })?);
        for (v, field) in [(g.width, "width"), (g.height, "height")] {
            in_range(
                v.ok_or_else(|| {
                    ctx.manifest_err(f(field), "missing (required for video_encoder)")
                })?,
                1,
                8192,
            )
            .map_err(|p| ctx.manifest_err(f(field), p))?;
        }
    }
    if role == Role::TextEncoder {
        spec.mean_pooling = match one_of(g.pooling.as_deref().unwrap_or("none"), &["mean", "none"])
        {
            Ok(p) => p == "mean",
            Err(p) => return Err(ctx.manifest_err(f("pooling"), p)),
        };
    }
    Ok(spec)
}

fn check_roles(ctx: &Ctx, task: Task, graphs: &[GraphSpec]) -> Result<(), PackageError> {
    let count = |r: Role| graphs.iter().filter(|g| g.role == r).count();
    let required: &[Role] = match task {
        Task::AudioToVideo => &[Role::AudioEncoder, Role::Denoiser, Role::Decoder],
        Task::VideoToAudio => &[
            Role::VideoEncoder,
            Role::TextEncoder,
            Role::Denoiser,
            Role::Decoder,
        ],
    };
    for r in required {
        if count(*r) == 0 {
            return Err(ctx.manifest_err(
                "graph",
                format!(
                    "missing a graph with role {:?} (required for {})",
                    r.as_str(),
                    task.as_str()
                ),
            ));
        }
    }
    for r in [
        Role::AudioEncoder,
        Role::Denoiser,
        Role::Decoder,
        Role::ReferenceEncoder,
        Role::TextEncoder,
    ] {
        if count(r) > 1 {
            return Err(ctx.manifest_err(
                "graph",
                format!(
                    "role {:?} appears {} times; only video_encoder may repeat",
                    r.as_str(),
                    count(r)
                ),
            ));
        }
    }
    let encoders: Vec<&GraphSpec> = graphs
        .iter()
        .filter(|g| g.role == Role::VideoEncoder)
        .collect();
    for (k, e) in encoders.iter().enumerate() {
        if encoders[..k].iter().any(|o| o.name == e.name) {
            return Err(ctx.manifest_err(
                format!("graph[{}].name", e.index),
                format!(
                    "video encoder name {:?} is used twice",
                    e.name.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    if let Some(d) = graphs.iter().find(|g| g.role == Role::Denoiser) {
        for (j, t) in d.inputs.iter().enumerate() {
            if let Some(name) = t.slot.strip_prefix("video:") {
                if !encoders.iter().any(|e| e.name.as_deref() == Some(name)) {
                    return Err(ctx.manifest_err(
                        format!("graph[{}].inputs[{j}].slot", d.index),
                        format!("no video_encoder named {name:?}"),
                    ));
                }
            }
        }
        if task == Task::VideoToAudio {
            for e in &encoders {
                let slot = format!("video:{}", e.name.as_deref().unwrap_or(""));
                if d.input(&slot).is_none() {
                    return Err(ctx.manifest_err(
                        format!("graph[{}].inputs", d.index),
                        format!(
                            "video encoder {:?} feeds no denoiser input (add slot {slot:?})",
                            e.name.as_deref().unwrap_or("")
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The denoiser's batch dimension, latent shape and timestep: the batch (guidance branches) is
/// dimension 0 of every input and output and must be symbolic; `latent` and `prediction` match
/// `latent.shape`; the timestep is `[batch]` or a scalar, float32 for flow matching.
fn check_denoiser(
    ctx: &Ctx,
    graphs: &[GraphSpec],
    latent: &[usize],
    kind: &SamplerKind,
) -> Result<(), PackageError> {
    let Some(d) = graphs.iter().find(|g| g.role == Role::Denoiser) else {
        return Ok(());
    };
    let ports = d
        .inputs
        .iter()
        .enumerate()
        .map(|(j, t)| (format!("graph[{}].inputs[{j}]", d.index), t))
        .chain(
            d.outputs
                .iter()
                .enumerate()
                .map(|(j, t)| (format!("graph[{}].outputs[{j}]", d.index), t)),
        );
    for (field, t) in ports {
        let scalar_timestep = t.slot == "timestep" && t.shape.is_empty();
        if !scalar_timestep && !matches!(t.shape.first(), Some(Dim::Symbol(_))) {
            return Err(ctx.manifest_err(
                format!("{field}.shape"),
                format!(
                    "{:?}: dimension 0 must be the symbolic batch (guidance branches run in one call)",
                    t.name
                ),
            ));
        }
        if t.slot == "latent" || t.slot == "prediction" {
            let fits = t.shape.len() == latent.len() + 1
                && t.shape[1..]
                    .iter()
                    .zip(latent)
                    .all(|(dim, &want)| !matches!(dim, Dim::Fixed(n) if *n != want));
            if !fits {
                return Err(ctx.manifest_err(
                    format!("{field}.shape"),
                    format!(
                        "{} disagrees with latent.shape {latent:?} (expected [batch, ...latent.shape])",
                        shape_str(&t.shape)
                    ),
                ));
            }
        }
        if t.slot == "timestep" {
            if t.shape.len() > 1 {
                return Err(ctx.manifest_err(
                    format!("{field}.shape"),
                    "timestep must be [batch] or a scalar",
                ));
            }
            if matches!(kind, SamplerKind::FlowEuler { .. }) && t.dtype != DType::F32 {
                return Err(ctx.manifest_err(
                    format!("{field}.dtype"),
                    "flow-euler feeds t in [0, 1): the timestep must be float32",
                ));
            }
        }
    }
    Ok(())
}

/// The graphs' inputs in `slot`, which only a streaming package may have: each with its
/// manifest field and the package's stream timing, or an error naming the first of them when the
/// package is not a streaming one.
fn streaming_inputs<'g>(
    ctx: &Ctx,
    graphs: &'g [GraphSpec],
    timing: &Timing,
    slot: &str,
) -> Result<Vec<(String, &'g TensorSpec, StreamTiming)>, PackageError> {
    let mut found = Vec::new();
    for g in graphs {
        let Some(j) = g.inputs.iter().position(|t| t.slot == slot) else {
            continue;
        };
        let field = format!("graph[{}].inputs[{j}]", g.index);
        let Timing::Stream(st) = timing else {
            return Err(ctx.manifest_err(
                format!("{field}.slot"),
                format!("{slot} is for streaming packages (timing.hop_ms)"),
            ));
        };
        found.push((field, &g.inputs[j], *st));
    }
    Ok(found)
}

/// `previous_waveform` (the decoder of a streaming package): the last samples the decoder
/// emitted before the hop, `[batch, n]` with `n` fixed by the graph and at most the context
/// (`context_ms` of samples), so that a decoder can continue its own output (for example
/// phase reconstruction that holds what was already emitted). Only streaming packages have one.
fn check_previous_waveform(
    ctx: &Ctx,
    graphs: &[GraphSpec],
    timing: &Timing,
    rate: u32,
) -> Result<(), PackageError> {
    for (field, t, st) in streaming_inputs(ctx, graphs, timing, "previous_waveform")? {
        // Validation made context_ms a whole number of samples.
        let context = u64::from(st.context_ms) * u64::from(rate) / 1000;
        let fits = match t.shape.as_slice() {
            [Dim::Symbol(_), Dim::Fixed(n)] => (1..=context).contains(&(*n as u64)),
            _ => false,
        };
        if !fits {
            return Err(ctx.manifest_err(
                format!("{field}.shape"),
                format!(
                    "{} must be [batch, n]: n samples, fixed, from 1 to the context's {context} ({} ms at {rate} Hz)",
                    shape_str(&t.shape),
                    st.context_ms
                ),
            ));
        }
    }
    Ok(())
}

/// `previous_latent` (denoiser and decoder of a streaming package): the clean latent of the audio
/// generated over the context, `[batch, ...latent.shape]` but for the last (time) axis, which
/// holds the context at the latent's own rate: `context_ms / hop_ms` times the hop's frames,
/// a whole number. Only streaming packages have one.
fn check_previous_latent(
    ctx: &Ctx,
    graphs: &[GraphSpec],
    latent: &[usize],
    timing: &Timing,
) -> Result<(), PackageError> {
    for (field, t, st) in streaming_inputs(ctx, graphs, timing, "previous_latent")? {
        let hop_frames = *latent.last().unwrap_or(&0) as u64;
        let ctx_frames = u64::from(st.context_ms) * hop_frames;
        if st.context_ms == 0 || ctx_frames % u64::from(st.hop_ms) != 0 {
            return Err(ctx.manifest_err(
                "timing.context_ms",
                format!(
                    "previous_latent needs a context of whole latent frames: {} ms at {hop_frames} frames per {} ms hop",
                    st.context_ms, st.hop_ms
                ),
            ));
        }
        let want: Vec<usize> = latent[..latent.len() - 1]
            .iter()
            .copied()
            .chain([(ctx_frames / u64::from(st.hop_ms)) as usize])
            .collect();
        let fits = t.shape.len() == want.len() + 1
            && matches!(t.shape.first(), Some(Dim::Symbol(_)))
            && t.shape[1..]
                .iter()
                .zip(&want)
                .all(|(dim, &w)| !matches!(dim, Dim::Fixed(n) if *n != w));
        if !fits {
            return Err(ctx.manifest_err(
                format!("{field}.shape"),
                format!(
                    "{} disagrees with the context: expected [batch, {}] (latent.shape with the time axis at context_ms)",
                    shape_str(&t.shape),
                    want.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}
