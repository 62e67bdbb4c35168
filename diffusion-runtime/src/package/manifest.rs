//! `model.toml` as written on disk. Strings stay strings here so that validation can name the
//! field and list what is allowed; `mod.rs` turns this into typed, checked values.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub schema: u32,
    pub package: RawPackage,
    pub audio: Option<RawAudio>,
    pub video: Option<RawVideo>,
    #[serde(default)]
    pub timing: RawTiming,
    pub latent: RawLatent,
    pub sampler: RawSampler,
    #[serde(default)]
    pub assets: RawAssets,
    #[serde(default, rename = "graph")]
    pub graphs: Vec<RawGraph>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    pub name: String,
    pub version: String,
    pub task: String,
    pub license: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudio {
    pub rate: u32,
    pub channels: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVideo {
    pub width: u32,
    pub height: u32,
    pub fps: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTiming {
    pub chunk_frames: Option<u32>,
    pub context_frames: Option<u32>,
    pub lookahead_frames: Option<u32>,
    pub seam_frames: Option<u32>,
    pub window_ms: Option<u32>,
    pub overlap_ms: Option<u32>,
    pub hop_ms: Option<u32>,
    pub context_ms: Option<u32>,
    pub lookahead_ms: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatent {
    pub shape: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSampler {
    pub kind: String,
    pub prediction: String,
    pub steps: i64,
    #[serde(default = "no_guidance")]
    pub guidance_scale: f64,
    #[serde(default)]
    pub negative_audio_scale: f64,
    pub train_steps: Option<i64>,
    pub beta_schedule: Option<String>,
    pub beta_start: Option<f64>,
    pub beta_end: Option<f64>,
    pub eta: Option<f64>,
    pub time_shift: Option<f64>,
    pub noise_scale: Option<f64>,
}

/// `guidance_scale` when omitted: 1 = the conditional prediction only.
fn no_guidance() -> f64 {
    1.0
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssets {
    pub tokenizer: Option<String>,
    pub default_avatar: Option<String>,
    #[serde(default)]
    pub avatars: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGraph {
    pub role: String,
    pub file: String,
    pub name: Option<String>,
    pub fps: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub pooling: Option<String>,
    pub server_model: Option<String>,
    pub server_version: Option<u64>,
    pub inputs: Vec<RawTensor>,
    pub outputs: Vec<RawTensor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTensor {
    pub slot: String,
    pub name: String,
    pub dtype: String,
    pub shape: Vec<RawDim>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDim {
    Fixed(i64),
    Symbol(String),
}
