#!/usr/bin/env python3
"""Exports the trained windowed foley model (the EMA weights in .cache/foley.pt) as the schema-1
package in models/foley-windowed/: the graphs, the manifest. The prompt encoder is fetched, not
exported (fetch-text-encoder.sh). The bundled package, models/foley, is the streaming model
(export_stream.py).

    python models/foley/export.py
"""

import argparse
from pathlib import Path

import torch

from common import GriffinLimDecoder, latent_stats
from config import (CACHE, FEAT, GUIDANCE, LATENT_FRAMES, N_MELS, NEGATIVE_AUDIO, OVERLAP_MS, RATE,
                    SAMPLES, SEMANTIC_FPS, SEMANTIC_SIZE, STEPS, SYNC_FPS, SYNC_SIZE, TEXT_DIM, TIME_SHIFT,
                    WINDOW_S, WINDOWED)
import vocoder
from model import Foley


def manifest(*, timing, frames, sync_frames, semantic_frames, samples, context=0, made_by="train.py and export.py",
             version="0.1.0", kind="", name="foley-windowed", role="The windowed (offline) foley model",
             noise_scale=1.0, channels=N_MELS):
    """The package's model.toml: a windowed package (`timing` window_ms / overlap_ms, the
    window's latent `frames`) or a streaming one (hop_ms / context_ms / lookahead_ms, the hop's
    `frames`, and the `context` frames of previous latent on the denoiser and the decoder); the
    latent's `channels`."""
    prev = (f'  {{ slot = "previous_latent", name = "prev", dtype = "float32", shape = ["batch", {channels}, {context}] }},\n'
            if context else "")
    return f"""# {role}: trained on procedural scenes (models/foley/README.md). Written by
# models/foley/{made_by}; do not edit by hand. The weights are trained on recorded
# sounds under CC-BY-SA-3.0/4.0, CC-BY-3.0, GPL-2+, BSD-3-Clause and CC0 (per file in the
# README); the prompt encoder (all-MiniLM-L6-v2) is Apache-2.0.

schema = 1

[package]
name = "{name}"
version = "{version}"
task = "video-to-audio"
license = "CC-BY-SA-4.0 AND GPL-2.0-or-later AND Apache-2.0"
description = "Small {kind}video-to-audio flow-matching model trained on procedural scenes with recorded sound effects (impacts, engines, splashes, rain, thunder); prompt encoder all-MiniLM-L6-v2"

[audio]
rate = {RATE}
channels = 1

[timing]
{timing}

[latent]
shape = [{channels}, {frames}]

[sampler]
kind = "flow-euler"
prediction = "velocity"
steps = {STEPS}
time_shift = {TIME_SHIFT}
noise_scale = {noise_scale}
guidance_scale = {GUIDANCE}
negative_audio_scale = {NEGATIVE_AUDIO}

[assets]
tokenizer = "tokenizer.json"

[[graph]]
role = "video_encoder"
file = "video_sync.onnx"
name = "sync"
fps = "{SYNC_FPS}/1"
width = {SYNC_SIZE}
height = {SYNC_SIZE}
inputs = [
  {{ slot = "frames", name = "frames", dtype = "float32", shape = ["batch", "n", 3, {SYNC_SIZE}, {SYNC_SIZE}] }},
]
outputs = [
  {{ slot = "features", name = "features", dtype = "float32", shape = ["batch", "n", {FEAT}] }},
]

[[graph]]
role = "video_encoder"
file = "video_semantic.onnx"
name = "semantic"
fps = "{SEMANTIC_FPS}/1"
width = {SEMANTIC_SIZE}
height = {SEMANTIC_SIZE}
inputs = [
  {{ slot = "frames", name = "frames", dtype = "float32", shape = ["batch", "n", 3, {SEMANTIC_SIZE}, {SEMANTIC_SIZE}] }},
]
outputs = [
  {{ slot = "features", name = "features", dtype = "float32", shape = ["batch", "n", {FEAT}] }},
]

[[graph]]
role = "text_encoder"
file = "text_encoder.onnx"
pooling = "mean"
inputs = [
  {{ slot = "input_ids", name = "input_ids", dtype = "int64", shape = ["batch", "seq"] }},
  {{ slot = "attention_mask", name = "attention_mask", dtype = "int64", shape = ["batch", "seq"] }},
  {{ slot = "token_type_ids", name = "token_type_ids", dtype = "int64", shape = ["batch", "seq"] }},
]
outputs = [
  {{ slot = "embedding", name = "last_hidden_state", dtype = "float32", shape = ["batch", "seq", {TEXT_DIM}] }},
]

[[graph]]
role = "denoiser"
file = "denoiser.onnx"
inputs = [
  {{ slot = "latent", name = "x", dtype = "float32", shape = ["batch", {channels}, {frames}] }},
  {{ slot = "timestep", name = "t", dtype = "float32", shape = ["batch"] }},
  {{ slot = "text", name = "text", dtype = "float32", shape = ["batch", {TEXT_DIM}] }},
  {{ slot = "video:sync", name = "sync", dtype = "float32", shape = ["batch", {sync_frames}, {FEAT}] }},
  {{ slot = "video:semantic", name = "semantic", dtype = "float32", shape = ["batch", {semantic_frames}, {FEAT}] }},
  {{ slot = "audio", name = "audio", dtype = "float32", shape = ["batch", {FEAT}] }},
{prev}]
outputs = [
  {{ slot = "prediction", name = "velocity", dtype = "float32", shape = ["batch", {channels}, {frames}] }},
]

[[graph]]
role = "decoder"
file = "decoder.onnx"
inputs = [
  {{ slot = "latent", name = "latent", dtype = "float32", shape = ["batch", {channels}, {frames}] }},
{prev}]
outputs = [
  {{ slot = "waveform", name = "waveform", dtype = "float32", shape = ["batch", {samples}] }},
]

[[graph]]
role = "audio_encoder"
file = "audio_encoder.onnx"
inputs = [
  {{ slot = "waveform", name = "waveform", dtype = "float32", shape = ["batch", "samples"] }},
]
outputs = [
  {{ slot = "features", name = "features", dtype = "float32", shape = ["batch", {FEAT}] }},
]
"""


def export(module, args, path, inputs, outputs, dynamic):
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                      dynamic_axes=dynamic, opset_version=17, dynamo=False)
    print(f"wrote {path.name}: {path.stat().st_size / 1e6:.2f} MB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=WINDOWED)
    ap.add_argument("--checkpoint", type=Path, default=CACHE / "foley.pt")
    a = ap.parse_args()
    stats = latent_stats()
    model = Foley(stats)
    model.load_state_dict(torch.load(a.checkpoint)["ema"])
    model.eval()
    out = a.out
    with torch.no_grad():
        n = SYNC_FPS * WINDOW_S
        export(model.sync, (torch.rand(1, n, 3, SYNC_SIZE, SYNC_SIZE),), out / "video_sync.onnx",
               ["frames"], ["features"], {"frames": {0: "batch", 1: "n"}, "features": {0: "batch", 1: "n"}})
        m = SEMANTIC_FPS * WINDOW_S
        export(model.semantic, (torch.rand(1, m, 3, SEMANTIC_SIZE, SEMANTIC_SIZE),),
               out / "video_semantic.onnx", ["frames"], ["features"],
               {"frames": {0: "batch", 1: "n"}, "features": {0: "batch", 1: "n"}})
        export(model.audio, (torch.zeros(1, SAMPLES),), out / "audio_encoder.onnx", ["waveform"],
               ["features"], {"waveform": {0: "batch", 1: "samples"}, "features": {0: "batch"}})
        den_args = (torch.randn(2, N_MELS, LATENT_FRAMES), torch.rand(2), torch.randn(2, TEXT_DIM),
                    torch.randn(2, n, FEAT), torch.randn(2, m, FEAT), torch.randn(2, FEAT))
        names = ["x", "t", "text", "sync", "semantic", "audio"]
        export(model.denoiser, den_args, out / "denoiser.onnx", names, ["velocity"],
               {k: {0: "batch"} for k in names + ["velocity"]})
        if vocoder.CHECKPOINT.exists():
            vocoder.export_window(out)  # the trained vocoder (vocoder.py)
        else:
            print(f"no {vocoder.CHECKPOINT}: the Griffin-Lim decoder (train the vocoder first)")
            export(GriffinLimDecoder(stats), (torch.randn(1, N_MELS, LATENT_FRAMES),), out / "decoder.onnx",
                   ["latent"], ["waveform"], {"latent": {0: "batch"}, "waveform": {0: "batch"}})
    (out / "model.toml").write_text(manifest(
        timing=f"window_ms = {WINDOW_S * 1000}\noverlap_ms = {OVERLAP_MS}", frames=LATENT_FRAMES,
        sync_frames=SYNC_FPS * WINDOW_S, semantic_frames=SEMANTIC_FPS * WINDOW_S, samples=SAMPLES))
    print(f"wrote {out / 'model.toml'}")


if __name__ == "__main__":
    main()
