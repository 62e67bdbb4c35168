"""Exports the presenter package: audio_encoder.onnx and denoiser.onnx from the training
checkpoint's EMA weights, decoder.onnx (the renderer, render.py) and model.toml.
  python models/presenter/export.py"""

import numpy as np
import torch
from torch import nn

import config
from model import FEAT, MOTION_DIM, AudioEncoder, Denoiser
from render import Renderer
from train import CHECKPOINT

STEPS = 8
OPSET = 17
VERSION = "0.1.0"


class Decoder(nn.Module):
    """Latent motion (scaled to unit spread for the diffusion) → renderer units → frames."""

    def __init__(self) -> None:
        super().__init__()
        self.renderer = Renderer()
        self.register_buffer("scale", torch.tensor(config.MOTION_SCALE))

    def forward(self, motion, image):
        return self.renderer(motion * self.scale, image)


def export(module, args, name, inputs, outputs, dynamic) -> None:
    torch.onnx.export(module.eval(), args, str(config.HERE / name), input_names=inputs,
                      output_names=outputs, dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def load() -> tuple[AudioEncoder, Denoiser]:
    ck = torch.load(CHECKPOINT)
    encoder, denoiser = AudioEncoder(), Denoiser()
    encoder.load_state_dict(ck["encoder"])
    denoiser.load_state_dict(ck["denoiser"])
    params = list(encoder.parameters()) + list(denoiser.parameters())
    with torch.no_grad():
        for p, e in zip(params, ck["ema"]):
            p.copy_(e)
    print(f"checkpoint step {ck['step']}")
    return encoder, denoiser


MANIFEST = f"""# The bundled presenter: audio-to-motion flow matching + an analytic portrait warp.
# Written by models/presenter/export.py; see README.md for how it was trained and measured.

schema = 1

[package]
name = "presenter"
version = "{VERSION}"
task = "audio-to-video"
license = "GPL-3.0-or-later"
description = "Talking head: flow matching over per-frame face motion from speech, rendered by warping an aligned portrait"

[audio]
rate = {config.RATE}
channels = 1

[video]
width = {config.SIZE}
height = {config.SIZE}
fps = "{config.FPS}/1"

[timing]
chunk_frames = {config.CHUNK}
context_frames = {config.CONTEXT}
lookahead_frames = {config.LOOKAHEAD}
seam_frames = {config.SEAM}

[latent]
shape = [{config.CHUNK}, {MOTION_DIM}]

[sampler]
kind = "flow-euler"
prediction = "velocity"
steps = {STEPS}
guidance_scale = 1.0
negative_audio_scale = 0.0

[assets]
default_avatar = "{config.DEFAULT_AVATAR}"

[assets.avatars]
{chr(10).join(f'{name} = "{path}"' for name, path in config.AVATARS.items())}

[[graph]]
role = "audio_encoder"
file = "audio_encoder.onnx"
inputs = [
  {{ slot = "audio", name = "audio", dtype = "float32", shape = ["batch", "samples"] }},
]
outputs = [
  {{ slot = "features", name = "features", dtype = "float32", shape = ["batch", "frames", {FEAT}] }},
]

[[graph]]
role = "denoiser"
file = "denoiser.onnx"
inputs = [
  {{ slot = "latent", name = "x", dtype = "float32", shape = ["batch", {config.CHUNK}, {MOTION_DIM}] }},
  {{ slot = "timestep", name = "t", dtype = "float32", shape = ["batch"] }},
  {{ slot = "audio_features", name = "audio", dtype = "float32", shape = ["batch", {config.WINDOW}, {FEAT}] }},
  {{ slot = "previous_motion", name = "prev", dtype = "float32", shape = ["batch", {config.CONTEXT}, {MOTION_DIM}] }},
]
outputs = [
  {{ slot = "prediction", name = "velocity", dtype = "float32", shape = ["batch", {config.CHUNK}, {MOTION_DIM}] }},
]

[[graph]]
role = "decoder"
file = "decoder.onnx"
inputs = [
  {{ slot = "motion", name = "motion", dtype = "float32", shape = ["frames", {MOTION_DIM}] }},
  {{ slot = "reference_image", name = "reference_image", dtype = "float32", shape = [{config.SIZE}, {config.SIZE}, 3] }},
]
outputs = [
  {{ slot = "frames", name = "frames", dtype = "uint8", shape = ["frames", {config.SIZE}, {config.SIZE}, 3] }},
]

# Made by reference.py (mediapipe's face detector + alignment): any photo as the avatar.
[[graph]]
role = "reference_encoder"
file = "reference_encoder.onnx"
inputs = [
  {{ slot = "image", name = "image", dtype = "float32", shape = ["height", "width", 3] }},
]
outputs = [
  {{ slot = "portrait", name = "portrait", dtype = "float32", shape = [{config.SIZE}, {config.SIZE}, 3] }},
  {{ slot = "status", name = "status", dtype = "int64", shape = [1] }},
  {{ slot = "face_box", name = "face_box", dtype = "float32", shape = [4] }},
  {{ slot = "face_keypoints", name = "face_keypoints", dtype = "float32", shape = [6, 2] }},
]
"""


def main() -> None:
    encoder, denoiser = load()
    b = 2
    export(encoder, (torch.randn(b, config.WINDOW_SAMPLES),), "audio_encoder.onnx",
           ["audio"], ["features"], {"audio": {0: "batch", 1: "samples"}, "features": {0: "batch", 1: "frames"}})
    args = (torch.randn(b, config.CHUNK, MOTION_DIM), torch.rand(b), torch.randn(b, config.WINDOW, FEAT),
            torch.randn(b, config.CONTEXT, MOTION_DIM))
    export(denoiser, args, "denoiser.onnx", ["x", "t", "audio", "prev"], ["velocity"],
           {name: {0: "batch"} for name in ["x", "t", "audio", "prev", "velocity"]})
    export(Decoder(), (torch.zeros(config.CHUNK, MOTION_DIM), torch.rand(config.SIZE, config.SIZE, 3)),
           "decoder.onnx", ["motion", "reference_image"], ["frames"],
           {"motion": {0: "frames"}, "frames": {0: "frames"}})
    (config.HERE / "model.toml").write_text(MANIFEST)
    sizes = {p.name: p.stat().st_size for p in config.HERE.glob("*.onnx")}
    print("graphs:", {k: f"{v / 1e6:.2f} MB" for k, v in sizes.items()}, f"total {sum(sizes.values()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
