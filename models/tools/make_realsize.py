#!/usr/bin/env python3
"""Write two benchmark packages whose denoisers have the size and shape of real exports.

Usage:
    python3 models/tools/make_realsize.py OUT_DIR [--tiny]

OUT_DIR receives two model packages that load in the runtime and in both elements:

    mmaudio-s-16k/   video-to-audio, denoiser shaped like MMAudio S-16k (about 157 M parameters)
    ditto-lmdm/      audio-to-video, denoiser shaped like Ditto's LMDM (about 44 M parameters)

The weights are random (fixed seeds, numpy's frozen legacy stream): the packages produce
meaningless media and exist only to measure the runtime, the providers and the elements at the
scale of real exports (`scripts/bench-realsize.sh`, `scripts/gpu-check.sh`). Nothing is
downloaded. Only the denoisers are real-size: the encoders, the decoders and the text encoder are
light stand-ins with the real inputs and outputs (see `models/README.md`, "Real-size benchmark
packages", for the shapes and why). `--tiny` writes the same graphs at a width and depth small
enough for CI, which checks that this script and the benchmarks keep working.

Needs only `onnx` and `numpy` (the project's setup installs both).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures  # noqa: E402  (same directory, imported after the path is set)
from make_fixtures import (  # noqa: E402
    F32,
    I64,
    VOCAB,
    Graph,
    graph_table,
    png_rgb,
    rng_for,
    section,
    tokenizer_json,
    write_text,
)

make_fixtures.DTYPE_NAMES.setdefault(TensorProto.UINT8, "uint8")  # the renderer's frames

# MMAudio S-16k (hkchengrex/MMAudio, `small_16k`): the token counts of one 8 s window and the
# network's width and depth. The latent is 20 channels x 250 steps (31.25 per second).
MMAUDIO = {
    "latent_dim": 20,
    "latent_len": 250,
    "clip_dim": 1024,
    "clip_len": 64,  # CLIP at 8 fps
    "sync_dim": 768,
    "sync_frames": 200,  # 25 fps in
    "sync_len": 192,  # 24 segments x 8 tokens out
    "text_dim": 1024,
    "text_len": 77,
    "audio_dim": 1024,
    "hidden": 448,
    "heads": 7,
    "joint_depth": 4,  # depth 12, of which 8 fused (single-stream)
    "fused_depth": 8,
    "mlp_hidden": 1280,  # SwiGLU width: 2/3 of 4 x 448, rounded up to a multiple of 256
    "window_samples": 128000,
}

# Ditto's LMDM (antgroup/ditto-talkinghead, `LMDM` / `MotionDecoder`): 80 frames of 265-dim
# motion, HuBERT features (1024) plus 35 control dims, width 512, 8 FiLM decoder layers.
LMDM = {
    "frames": 80,
    "motion_dim": 265,
    "context": 10,
    "lookahead": 4,
    "audio_dim": 1024,
    "extra_cond": 35,
    "hidden": 512,
    "ff": 1024,
    "heads": 8,
    "layers": 8,
    "cond_layers": 2,
    "size": 512,
}

TINY = {"hidden": 64, "heads": 2, "joint_depth": 1, "fused_depth": 1, "mlp_hidden": 128, "ff": 128, "layers": 1,
        "cond_layers": 1}


class Net(Graph):
    """Graph builder with random-weight layers; counts the parameters it creates."""

    def __init__(self, name: str, seed: int):
        super().__init__(name)
        self.rng = rng_for(seed)
        self.params = 0

    def weight(self, shape, std: float) -> str:
        w = (self.rng.standard_normal(shape) * std).astype(np.float32)
        self.params += w.size
        return self.const(w)

    def zeros(self, shape) -> str:
        self.params += int(np.prod(shape))
        return self.const(np.zeros(shape, np.float32))

    def linear(self, x: str, d_in: int, d_out: int, std: float | None = None) -> str:
        w = self.weight((d_in, d_out), std if std is not None else 1.0 / math.sqrt(d_in))
        return self.add(self.matmul(x, w), self.zeros((d_out,)))

    def conv1d(self, x: str, d_in: int, d_out: int, k: int) -> str:
        """Channel-last 1-D convolution, `same` padding: [B, N, d_in] -> [B, N, d_out]."""
        w = self.weight((d_out, d_in, k), 1.0 / math.sqrt(d_in * k))
        y = self.op("Conv", [self.transpose(x, [0, 2, 1]), w, self.zeros((d_out,))],
                    pads=[k // 2, k // 2], kernel_shape=[k])
        return self.transpose(y, [0, 2, 1])

    def norm(self, x: str, dim: int) -> str:
        # Affine-free, as in DiT's adaLN blocks: the modulation supplies scale and shift.
        return self.op("LayerNormalization", [x, self.const(np.ones(dim, np.float32)),
                                              self.const(np.zeros(dim, np.float32))], axis=-1, epsilon=1e-6)

    def silu(self, x: str) -> str:
        return self.mul(x, self.op("Sigmoid", [x]))

    def gelu(self, x: str) -> str:
        # x * sigmoid(1.702 x): opset 17 has no Gelu, and this is what exporters' fusions match too.
        return self.mul(x, self.op("Sigmoid", [self.mul(x, self.const(1.702))]))

    def mish(self, x: str) -> str:
        return self.mul(x, self.op("Tanh", [self.op("Softplus", [x])]))

    def split(self, x: str, parts: int, size: int, axis: int = -1) -> list[str]:
        outs = [self._uniq("split") for _ in range(parts)]
        self.nodes.append(onnx.helper.make_node("Split", [x, self.ints([size] * parts)], outs,
                                                name=self._uniq("n_split"), axis=axis))
        return outs

    def split_sizes(self, x: str, sizes: list[int], axis: int) -> list[str]:
        outs = [self._uniq("split") for _ in sizes]
        self.nodes.append(onnx.helper.make_node("Split", [x, self.ints(sizes)], outs,
                                                name=self._uniq("n_split"), axis=axis))
        return outs

    def heads(self, x: str, heads: int, head_dim: int) -> str:
        """[B, N, H*D] -> [B, H, N, D]"""
        return self.transpose(self.reshape(x, [0, -1, heads, head_dim]), [0, 2, 1, 3])

    def attention(self, q: str, k: str, v: str, heads: int, head_dim: int) -> str:
        """Scaled dot-product attention over [B, N, H*D] queries and [B, M, H*D] keys/values."""
        qh, kh, vh = (self.heads(a, heads, head_dim) for a in (q, k, v))
        scores = self.mul(self.matmul(qh, self.transpose(kh, [0, 1, 3, 2])), self.const(1.0 / math.sqrt(head_dim)))
        o = self.matmul(self.op("Softmax", [scores], axis=-1), vh)
        return self.reshape(self.transpose(o, [0, 2, 1, 3]), [0, -1, heads * head_dim])

    def swiglu(self, x: str, dim: int, hidden: int, k: int) -> str:
        """SwiGLU MLP; k > 1 makes its three projections convolutions over the tokens (MMAudio's ConvMLP)."""
        if k > 1:
            a, b = self.conv1d(x, dim, hidden, k), self.conv1d(x, dim, hidden, k)
            return self.conv1d(self.mul(self.silu(a), b), hidden, dim, k)
        a, b = self.linear(x, dim, hidden), self.linear(x, dim, hidden)
        return self.linear(self.mul(self.silu(a), b), hidden, dim)

    def sinusoid(self, t: str, dim: int, max_period: float) -> str:
        """[B] f32 -> [B, dim] sinusoidal embedding."""
        half = dim // 2
        freqs = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / half).astype(np.float32)
        arg = self.mul(self.unsqueeze(t, [1]), self.const(freqs[None, :]))
        return self.op("Concat", [self.op("Cos", [arg]), self.op("Sin", [arg])], axis=1)


def modulate(g: Net, x: str, dim: int, shift: str, scale: str) -> str:
    return g.add(g.mul(g.norm(x, dim), g.add(scale, g.const(1.0))), shift)


def ada_ln(g: Net, c: str, dim: int, parts: int) -> list[str]:
    # Small init for the modulation (DiT zeroes it; small random keeps every path exercised).
    return g.split(g.linear(g.silu(c), dim, parts * dim, std=0.02 / math.sqrt(dim)), parts, dim)


# --------------------------------------------------------------------------
# MMAudio-shaped video-to-audio package
# --------------------------------------------------------------------------


def mmaudio_denoiser(cfg: dict) -> tuple[onnx.ModelProto, int]:
    c = cfg
    d, heads = c["hidden"], c["heads"]
    hd = d // heads
    g = Net("mmaudio_s_16k_flow_step", 1601)
    x = g.input("x", F32, ["batch", c["latent_dim"], c["latent_len"]])
    t = g.input("t", F32, ["batch"])
    branch = g.input("branch", I64, ["batch"])
    text = g.input("text_f", F32, ["batch", c["text_dim"]])
    clip = g.input("clip_f", F32, ["batch", c["clip_len"], c["clip_dim"]])
    sync = g.input("sync_f", F32, ["batch", c["sync_len"], c["sync_dim"]])
    audio = g.input("neg_audio", F32, ["batch", c["audio_dim"]])
    g.output("velocity", F32, ["batch", c["latent_dim"], c["latent_len"]])

    # The unconditional branch (branch == 1) sees MMAudio's learned "empty" video features.
    uncond = g.unsqueeze(g.op("Equal", [branch, g.ints(1)]), [1, 2])
    clip = g.op("Where", [uncond, g.weight((1, 1, c["clip_dim"]), 0.02), clip])
    sync = g.op("Where", [uncond, g.weight((1, 1, c["sync_dim"]), 0.02), sync])

    latent = g.transpose(x, [0, 2, 1])  # [B, 250, 20]
    latent = g.conv1d(latent, c["latent_dim"], d, 7)
    latent = g.swiglu(g.silu(latent), d, c["mlp_hidden"], 7)
    clip_f = g.swiglu(g.linear(clip, c["clip_dim"], d), d, c["mlp_hidden"], 3)
    sync_f = g.swiglu(g.silu(g.conv1d(sync, c["sync_dim"], d, 7)), d, c["mlp_hidden"], 3)
    # Sync tokens are stretched to the latent's length (nearest), as MMAudio does.
    idx = np.floor(np.arange(c["latent_len"]) * c["sync_len"] / c["latent_len"]).astype(np.int64)
    sync_f = g.op("Gather", [sync_f, g.ints(idx)], axis=1)  # [B, 250, d]
    # Schema 1 passes one pooled text vector: expand it to MMAudio's 77 text tokens.
    text_f = g.add(g.unsqueeze(g.linear(text, c["text_dim"], d), [1]), g.weight((1, c["text_len"], d), 0.02))
    text_f = g.swiglu(text_f, d, c["mlp_hidden"], 1)

    t_emb = g.linear(g.silu(g.linear(g.sinusoid(t, 256, 10000.0), 256, d)), d, d)
    clip_c = g.linear(g.reduce_mean(clip_f, [1], keepdims=0), d, d)
    text_c = g.linear(g.reduce_mean(text_f, [1], keepdims=0), d, d)
    cond = g.linear(g.silu(g.linear(g.add(clip_c, text_c), d, 4 * d)), 4 * d, d)
    cond = g.add(cond, g.linear(audio, c["audio_dim"], d))
    global_c = g.unsqueeze(g.add(t_emb, cond), [1])  # [B, 1, d]
    extended_c = g.add(global_c, sync_f)  # [B, 250, d]: per-token conditioning of the latent stream

    lens = [c["latent_len"], c["clip_len"], c["text_len"]]
    for _ in range(c["joint_depth"]):
        streams = [(latent, extended_c, 3), (clip_f, global_c, 3), (text_f, global_c, 1)]
        mods, qs, ks, vs = [], [], [], []
        for s, cs, _k in streams:
            m = ada_ln(g, cs, d, 6)
            mods.append(m)
            q, k, v = g.split(g.linear(modulate(g, s, d, m[0], m[1]), d, 3 * d), 3, d)
            qs.append(q), ks.append(k), vs.append(v)
        att = g.attention(*(g.op("Concat", a, axis=1) for a in (qs, ks, vs)), heads, hd)
        outs = g.split_sizes(att, lens, axis=1)
        new = []
        for (s, _cs, k), m, o in zip(streams, mods, outs):
            s = g.add(s, g.mul(m[2], g.linear(o, d, d)))
            s = g.add(s, g.mul(m[5], g.swiglu(modulate(g, s, d, m[3], m[4]), d, c["mlp_hidden"], k)))
            new.append(s)
        latent, clip_f, text_f = new

    for _ in range(c["fused_depth"]):
        m = ada_ln(g, extended_c, d, 6)
        q, k, v = g.split(g.linear(modulate(g, latent, d, m[0], m[1]), d, 3 * d), 3, d)
        latent = g.add(latent, g.mul(m[2], g.linear(g.attention(q, k, v, heads, hd), d, d)))
        latent = g.add(latent, g.mul(m[5], g.swiglu(modulate(g, latent, d, m[3], m[4]), d, c["mlp_hidden"], 3)))

    m = ada_ln(g, global_c, d, 2)
    out = g.linear(modulate(g, latent, d, m[0], m[1]), d, c["latent_dim"])
    g.transpose(out, [0, 2, 1], out="velocity")
    return g.model(), g.params


def pooled_video_encoder(name: str, size: int, n_out: int | None, dim: int, seed: int) -> onnx.ModelProto:
    """Stand-in: 16x16 average-pooled RGB per frame, one linear layer. Real ones are ViTs."""
    g = Net(f"standin_{name}", seed)
    frames = g.input("pixel_values", F32, ["batch", "n", 3, size, size])
    g.output("features", F32, ["batch", "n_out" if n_out else "n", dim])
    pooled = g.op("AveragePool", [g.reshape(frames, [-1, 3, size, size])],
                  kernel_shape=[size // 16, size // 16], strides=[size // 16, size // 16])
    lead = g.slice(g.op("Shape", [frames]), [0], [2], [0])
    flat = g.op("Reshape", [pooled, g.op("Concat", [lead, g.ints([768])], axis=0)])
    feats = g.op("Tanh", [g.linear(flat, 768, dim)])
    if n_out:  # Synchformer: 200 frames in, 24 segments x 8 tokens = 192 out
        skip = (MMAUDIO["sync_frames"] - n_out) // 2
        g.slice(feats, [skip], [skip + n_out], [1], out="features")
    else:
        g.op("Identity", [feats], out="features")
    return g.model()


def text_encoder(dim: int) -> onnx.ModelProto:
    g = Net("standin_text", 1603)
    ids = g.input("input_ids", I64, ["batch", "seq"])
    mask = g.input("attention_mask", I64, ["batch", "seq"])
    g.output("text_embeds", F32, ["batch", dim])
    hs = g.op("Gather", [g.weight((len(VOCAB), dim), 1.0), ids], axis=0)
    m = g.unsqueeze(g.op("Cast", [mask], to=F32), [2])
    g.reduce_mean(g.mul(hs, m), [1], keepdims=0, out="text_embeds")
    return g.model()


def vae_vocoder(cfg: dict) -> onnx.ModelProto:
    """Stand-in: each latent step becomes 512 samples through one linear layer."""
    g = Net("standin_vae_vocoder", 1604)
    z = g.input("z", F32, ["batch", cfg["latent_dim"], cfg["latent_len"]])
    g.output("audio", F32, ["batch", cfg["window_samples"]])
    hop = cfg["window_samples"] // cfg["latent_len"]
    y = g.op("Tanh", [g.linear(g.transpose(z, [0, 2, 1]), cfg["latent_dim"], hop)])
    g.reshape(y, [0, cfg["window_samples"]], out="audio")
    return g.model()


def audio_embed(dim: int) -> onnx.ModelProto:
    g = Net("standin_audio_embed", 1605)
    wave = g.input("waveform", F32, ["batch", "samples"])
    g.output("audio_embed", F32, ["batch", dim])
    frames = g.op("Conv", [g.unsqueeze(wave, [1]), g.weight((64, 1, 320), 0.05), g.zeros((64,))],
                  kernel_shape=[320], strides=[320])
    g.op("Tanh", [g.linear(g.reduce_mean(frames, [2], keepdims=0), 64, dim)], out="audio_embed")
    return g.model()


def write_mmaudio(out: Path, cfg: dict) -> int:
    c = cfg
    denoiser, params = mmaudio_denoiser(c)
    graphs = [
        ("video_encoder", "clip_video.onnx", pooled_video_encoder("clip", 384, None, c["clip_dim"], 1606),
         {"pixel_values": "frames"}, {"features": "features"},
         [("name", "clip"), ("fps", "8/1"), ("width", 384), ("height", 384)]),
        ("video_encoder", "synchformer_video.onnx",
         pooled_video_encoder("sync", 224, c["sync_len"], c["sync_dim"], 1607),
         {"pixel_values": "frames"}, {"features": "features"},
         [("name", "sync"), ("fps", "25/1"), ("width", 224), ("height", 224)]),
        ("text_encoder", "clip_text.onnx", text_encoder(c["text_dim"]),
         {"input_ids": "input_ids", "attention_mask": "attention_mask"}, {"text_embeds": "embedding"},
         [("pooling", "none")]),
        ("denoiser", "flow_step.onnx", denoiser,
         {"x": "latent", "t": "timestep", "branch": "branch", "text_f": "text", "clip_f": "video:clip",
          "sync_f": "video:sync", "neg_audio": "audio"}, {"velocity": "prediction"}, []),
        ("decoder", "vae_vocoder.onnx", vae_vocoder(c), {"z": "latent"}, {"audio": "waveform"}, []),
        ("audio_encoder", "audio_embed.onnx", audio_embed(c["audio_dim"]),
         {"waveform": "waveform"}, {"audio_embed": "features"}, []),
    ]
    body = [
        section("timing", [("window_ms", 8000), ("overlap_ms", 1000)]),
        section("latent", [("shape", [c["latent_dim"], c["latent_len"]])]),
        section("sampler", [("kind", "flow-euler"), ("prediction", "velocity"), ("steps", 25),
                            ("guidance_scale", 4.5), ("negative_audio_scale", 0.0)]),
        section("assets", [("tokenizer", "tokenizer.json")]),
    ]
    return _write_package(out / "mmaudio-s-16k", "video-to-audio", "MMAudio S-16k", "MMAudio-S-shaped flow DiT",
                          body, graphs, {"tokenizer.json": tokenizer_json()}, params)


# --------------------------------------------------------------------------
# Ditto-shaped audio-to-video package
# --------------------------------------------------------------------------


def lmdm_denoiser(cfg: dict) -> tuple[onnx.ModelProto, int]:
    c = cfg
    d, heads, nf, md = c["hidden"], c["heads"], c["frames"], c["motion_dim"]
    hd = d // heads
    window = c["context"] + nf + c["lookahead"]
    g = Net("lmdm_step", 1701)
    x = g.input("x", F32, ["batch", nf, md])
    t = g.input("t", I64, ["batch"])
    aud = g.input("aud_cond", F32, ["batch", window, c["audio_dim"]])
    kp = g.input("kp_cond", F32, ["batch", c["context"], md])
    g.output("x0_pred", F32, ["batch", nf, md])

    # LMDM conditions every frame on the last known motion frame (concatenated to the input).
    last = g.slice(kp, [c["context"] - 1], [c["context"]], [1])
    h = g.linear(g.op("Concat", [x, g.op("Expand", [last, g.op("Shape", [x])])], axis=2), 2 * md, d)

    # The chunk's own audio frames, plus Ditto's 35 control dimensions (zero here).
    cond = g.slice(aud, [c["context"]], [c["context"] + nf], [1])
    cond = g.op("Pad", [cond, g.ints([0, 0, 0, 0, 0, c["extra_cond"]]), g.const(0.0)], mode="constant")
    cond = g.linear(cond, c["audio_dim"] + c["extra_cond"], d)
    for _ in range(c["cond_layers"]):  # pre-norm encoder layers
        n = g.norm(cond, d)
        q, k, v = g.split(g.linear(n, d, 3 * d), 3, d)
        cond = g.add(cond, g.linear(g.attention(q, k, v, heads, hd), d, d))
        cond = g.add(cond, g.linear(g.gelu(g.linear(g.norm(cond, d), d, c["ff"])), c["ff"], d))
    pooled = g.reduce_mean(cond, [1], keepdims=0)
    cond_hidden = g.linear(g.silu(g.linear(g.norm(pooled, d), d, d)), d, d)

    t_hidden = g.mish(g.linear(g.sinusoid(g.op("Cast", [t], to=F32), d, 10000.0), d, 4 * d))
    film_t = g.add(g.linear(t_hidden, 4 * d, d), cond_hidden)  # [B, d]
    t_tokens = g.reshape(g.linear(t_hidden, 4 * d, 2 * d), [0, 2, d])
    memory = g.norm(g.op("Concat", [cond, t_tokens], axis=1), d)  # [B, 82, d]

    def film(y: str) -> str:
        scale, shift = g.split(g.unsqueeze(g.linear(g.mish(film_t), d, 2 * d), [1]), 2, d)
        return g.add(g.mul(y, g.add(scale, g.const(1.0))), shift)

    for _ in range(c["layers"]):
        n = g.norm(h, d)
        q, k, v = g.split(g.linear(n, d, 3 * d), 3, d)
        h = g.add(h, film(g.linear(g.attention(q, k, v, heads, hd), d, d)))
        q = g.linear(g.norm(h, d), d, d)
        k, v = g.split(g.linear(memory, d, 2 * d), 2, d)
        h = g.add(h, film(g.linear(g.attention(q, k, v, heads, hd), d, d)))
        h = g.add(h, film(g.linear(g.gelu(g.linear(g.norm(h, d), d, c["ff"])), c["ff"], d)))
    g.op("Identity", [g.linear(h, d, md)], out="x0_pred")
    return g.model(), g.params


def hubert_standin(cfg: dict) -> onnx.ModelProto:
    """Stand-in: one strided convolution from 640 samples (a 25 fps frame) to 1024 features."""
    g = Net("standin_hubert", 1702)
    wave = g.input("waveform", F32, ["batch", "samples"])
    g.output("audio_feat", F32, ["batch", "frames", cfg["audio_dim"]])
    y = g.op("Conv", [g.unsqueeze(wave, [1]), g.weight((cfg["audio_dim"], 1, 640), 0.05), g.zeros((cfg["audio_dim"],))],
             kernel_shape=[640], strides=[640])
    g.op("Tanh", [g.transpose(y, [0, 2, 1])], out="audio_feat")
    return g.model()


def renderer_standin(cfg: dict) -> onnx.ModelProto:
    """Stand-in renderer: the portrait, brightened per frame by a linear read of the motion."""
    s = cfg["size"]
    g = Net("standin_renderer", 1703)
    motion = g.input("motion", F32, ["frames", cfg["motion_dim"]])
    image = g.input("source_image", F32, [s, s, 3])
    g.output("rgb", TensorProto.UINT8, ["frames", s, s, 3])
    gain = g.op("Sigmoid", [g.linear(motion, cfg["motion_dim"], 1)])  # [frames, 1]
    lit = g.mul(g.unsqueeze(image, [0]), g.unsqueeze(g.add(gain, g.const(0.5)), [2, 3]))
    scaled = g.op("Clip", [g.mul(lit, g.const(255.0)), g.const(0.0), g.const(255.0)])
    g.op("Cast", [g.op("Round", [scaled])], out="rgb", to=TensorProto.UINT8)
    return g.model()


def write_ditto(out: Path, cfg: dict) -> int:
    c = cfg
    denoiser, params = lmdm_denoiser(c)
    graphs = [
        ("audio_encoder", "hubert_25fps.onnx", hubert_standin(c), {"waveform": "audio"},
         {"audio_feat": "features"}, []),
        ("denoiser", "lmdm_step.onnx", denoiser,
         {"x": "latent", "t": "timestep", "aud_cond": "audio_features", "kp_cond": "previous_motion"},
         {"x0_pred": "prediction"}, []),
        ("decoder", "warp_decoder.onnx", renderer_standin(c), {"motion": "motion", "source_image": "reference_image"},
         {"rgb": "frames"}, []),
    ]
    body = [
        section("video", [("width", c["size"]), ("height", c["size"]), ("fps", "25/1")]),
        section("timing", [("chunk_frames", c["frames"]), ("context_frames", c["context"]),
                           ("lookahead_frames", c["lookahead"])]),
        section("latent", [("shape", [c["frames"], c["motion_dim"]])]),
        section("sampler", [("kind", "ddim"), ("prediction", "x0"), ("steps", 50), ("guidance_scale", 1.0),
                            ("negative_audio_scale", 0.0), ("train_steps", 1000), ("beta_schedule", "cosine"),
                            ("eta", 0.0)]),
        section("assets", [("default_avatar", "default")]),
        section("assets.avatars", [("default", "avatars/default.png")]),
    ]
    yy, xx = np.mgrid[0:c["size"], 0:c["size"]] / c["size"]
    portrait = np.stack([0.3 + 0.5 * yy, 0.4 + 0.3 * xx, 0.5 + 0.2 * (1 - yy)], axis=-1)
    avatar = png_rgb(c["size"], c["size"], (portrait * 255).astype(np.uint8))
    return _write_package(out / "ditto-lmdm", "audio-to-video", "Ditto's LMDM", "LMDM-shaped motion diffusion",
                          body, graphs, {"avatars/default.png": avatar}, params)


def _write_package(d: Path, task: str, anchor: str, what: str, body: list[str], graphs, assets: dict,
                   params: int) -> int:
    """Writes graphs, assets and a manifest: the [package] and [audio] tables, then `body`."""
    header = (
        "# Benchmark package written by models/tools/make_realsize.py: random weights, meaningless output.\n"
        f"# Denoiser shaped like {anchor}: {params} parameters.\n\nschema = 1\n\n"
    )
    body = [
        section("package", [("name", d.name), ("version", "0.0.0"), ("task", task), ("license", "CC0-1.0"),
                            ("description", f"Real-size benchmark: {what}, random weights")]),
        section("audio", [("rate", 16000), ("channels", 1)]),
    ] + body
    d.mkdir(parents=True, exist_ok=True)
    tables = []
    for role, file, model, ins, outs, extra in graphs:
        # One protobuf per graph: the largest (about 630 MB) is under protobuf's 2 GiB limit.
        (d / file).write_bytes(model.SerializeToString(deterministic=True))
        tables.append(graph_table(role, file, model, ins, outs, extra))
    for name, data in assets.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    write_text(d / "model.toml", header + "\n".join(body) + "\n" + "\n".join(tables))
    print(f"{d}: denoiser {params / 1e6:.1f} M parameters")
    return params


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1 or any(a not in ("--tiny",) for a in argv if a.startswith("--")):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = Path(args[0])
    tiny = "--tiny" in argv
    mm = dict(MMAUDIO, **({k: v for k, v in TINY.items() if k in MMAUDIO} if tiny else {}))
    lm = dict(LMDM, **({k: v for k, v in TINY.items() if k in LMDM} if tiny else {}))
    write_mmaudio(out, mm)
    write_ditto(out, lm)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
