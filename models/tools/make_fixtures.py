#!/usr/bin/env python3
"""Generate the small, deterministic ONNX test fixtures used by the Rust tests.

Usage:
    python3 models/tools/make_fixtures.py [OUT_DIR] [--check]

OUT_DIR defaults to ``models/fixtures`` in the repository root (found from this
script's location). Generation needs only ``onnx`` and ``numpy``; the output is
deterministic (fixed seeds, legacy ``RandomState`` whose stream numpy keeps
frozen, no timestamps), so running it twice gives byte-identical files.

``--check`` additionally verifies the output with ``onnxruntime``, ``tokenizers``
and ``tomllib`` (the first two are only needed for checking; install them with
``pip install onnxruntime tokenizers``).

Layout written:
    analytic/   closed-form denoisers (x0 ~ N(mu, 0.5^2)) for sampler tests
    presenter/  audio-to-video package (model.toml + graphs + avatar)
    foley/      video-to-audio package (model.toml + graphs + tokenizer)
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # loadable by ONNX Runtime >= 1.20 (and much older)
SIGMA = 0.5  # std of the analytic data distribution x0 ~ N(mu, SIGMA^2)
FRAME_SAMPLES = 640  # one 25 fps video frame at 16 kHz
INT64_MAX = 2**63 - 1

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
DTYPE_NAMES = {F32: "float32", I64: "int64"}


# --------------------------------------------------------------------------
# Graph building helpers
# --------------------------------------------------------------------------


class Graph:
    """Tiny builder: nodes get sequential deterministic names."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[tuple[str, int, list]] = []
        self.outputs: list[tuple[str, int, list]] = []
        self._count = 0

    def _uniq(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def input(self, name: str, dtype: int, shape: list) -> str:
        self.inputs.append((name, dtype, shape))
        return name

    def output(self, name: str, dtype: int, shape: list) -> str:
        self.outputs.append((name, dtype, shape))
        return name

    def const(self, value, dtype=np.float32, name: str | None = None) -> str:
        name = name or self._uniq("const")
        arr = np.asarray(value, dtype=dtype)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def ints(self, values) -> str:
        return self.const(values, dtype=np.int64)

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self._uniq(op_type.lower())
        node_name = self._uniq("n_" + op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=node_name, **attrs))
        return out

    # convenience wrappers -------------------------------------------------
    def add(self, a, b, out=None):
        return self.op("Add", [a, b], out)

    def sub(self, a, b, out=None):
        return self.op("Sub", [a, b], out)

    def mul(self, a, b, out=None):
        return self.op("Mul", [a, b], out)

    def div(self, a, b, out=None):
        return self.op("Div", [a, b], out)

    def matmul(self, a, b, out=None):
        return self.op("MatMul", [a, b], out)

    def unsqueeze(self, a, axes, out=None):
        return self.op("Unsqueeze", [a, self.ints(axes)], out)

    def reshape(self, a, shape, out=None):
        return self.op("Reshape", [a, self.ints(shape)], out)

    def reduce_mean(self, a, axes, keepdims, out=None):
        # opset 17: axes is an attribute (it became an input in opset 18)
        return self.op("ReduceMean", [a], out, axes=list(axes), keepdims=keepdims)

    def reduce_max(self, a, axes, keepdims, out=None):
        return self.op("ReduceMax", [a], out, axes=list(axes), keepdims=keepdims)

    def slice(self, a, starts, ends, axes, out=None):
        return self.op("Slice", [a, self.ints(starts), self.ints(ends), self.ints(axes)], out)

    def transpose(self, a, perm, out=None):
        return self.op("Transpose", [a], out, perm=list(perm))

    def model(self) -> onnx.ModelProto:
        def vi(name, dtype, shape):
            return helper.make_tensor_value_info(name, dtype, shape)

        graph = helper.make_graph(
            self.nodes,
            self.name,
            [vi(*i) for i in self.inputs],
            [vi(*o) for o in self.outputs],
            initializer=self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="make_fixtures",
            producer_version="1",
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def save_model(model: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString(deterministic=True))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def rng_for(seed: int) -> np.random.RandomState:
    # Legacy RandomState: its stream is frozen by numpy's compatibility policy.
    return np.random.RandomState(seed)


def randn(rng: np.random.RandomState, shape, scale: float) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --------------------------------------------------------------------------
# Analytic denoisers
# --------------------------------------------------------------------------


def linear_abar(train_steps=1000, beta_start=1e-4, beta_end=0.02) -> np.ndarray:
    betas = np.linspace(beta_start, beta_end, train_steps, dtype=np.float64)
    return np.cumprod(1.0 - betas).astype(np.float32)


def _analytic_io(g: Graph):
    x = g.input("x", F32, ["batch", "n"])
    t = g.input("t", F32, ["batch"])
    mu = g.input("mu", F32, ["batch", "n"])
    g.output("out", F32, ["batch", "n"])
    return x, t, mu


def _ddim_common(g: Graph, x, t, mu):
    """Returns (sqrt_a, sqrt_1ma, d, var) each broadcastable to [batch, n]."""
    abar = g.const(linear_abar(), name="abar")
    idx = g.op("Cast", [t], to=I64)
    a = g.unsqueeze(g.op("Gather", [abar, idx], axis=0), [1])  # [batch, 1]
    one = g.const(1.0)
    s2 = g.const(SIGMA**2)
    one_m_a = g.sub(one, a)
    sqrt_a = g.op("Sqrt", [a])
    sqrt_1ma = g.op("Sqrt", [one_m_a])
    var = g.add(g.mul(a, s2), one_m_a)
    d = g.sub(x, g.mul(sqrt_a, mu))
    return sqrt_a, sqrt_1ma, d, var, s2


def _ddim_eps(g, sqrt_1ma, d, var, out=None):
    return g.div(g.mul(sqrt_1ma, d), var, out)


def _ddim_x0(g, mu, sqrt_a, s2, d, var, out=None):
    return g.add(mu, g.div(g.mul(g.mul(sqrt_a, s2), d), var), out)


def build_ddim(prediction: str) -> onnx.ModelProto:
    g = Graph(f"analytic_ddim_{prediction}")
    x, t, mu = _analytic_io(g)
    sqrt_a, sqrt_1ma, d, var, s2 = _ddim_common(g, x, t, mu)
    if prediction == "eps":
        _ddim_eps(g, sqrt_1ma, d, var, out="out")
    elif prediction == "x0":
        _ddim_x0(g, mu, sqrt_a, s2, d, var, out="out")
    elif prediction == "v":
        eps = _ddim_eps(g, sqrt_1ma, d, var)
        x0 = _ddim_x0(g, mu, sqrt_a, s2, d, var)
        g.sub(g.mul(sqrt_a, eps), g.mul(sqrt_1ma, x0), out="out")
    else:
        raise ValueError(prediction)
    return g.model()


def build_flow_velocity() -> onnx.ModelProto:
    g = Graph("analytic_flow_velocity")
    x, t, mu = _analytic_io(g)
    tt = g.unsqueeze(t, [1])  # [batch, 1]
    one = g.const(1.0)
    s2 = g.const(SIGMA**2)
    omt = g.sub(one, tt)
    var = g.add(g.mul(g.mul(tt, tt), s2), g.mul(omt, omt))
    d = g.sub(x, g.mul(tt, mu))
    coef = g.sub(g.mul(tt, s2), omt)
    g.add(mu, g.div(g.mul(coef, d), var), out="out")
    return g.model()


def build_cond_echo() -> onnx.ModelProto:
    g = Graph("analytic_cond_echo")
    x, t, mu = _analytic_io(g)
    zero = g.const(0.0)
    xz = g.mul(x, zero)
    tz = g.mul(g.unsqueeze(t, [1]), zero)
    g.add(g.add(mu, xz), tz, out="out")
    return g.model()


def build_branch_echo() -> onnx.ModelProto:
    """out[b, :] = mu[b, :] + branch[b]: checks that the runtime feeds each guidance branch its
    index (0 = c, 1 = uncond, 2 = negative audio) through the optional `branch` input."""
    g = Graph("analytic_branch_echo")
    x, t, mu = _analytic_io(g)
    branch = g.input("branch", I64, ["batch"])
    zero = g.const(0.0)
    xz = g.mul(x, zero)
    tz = g.mul(g.unsqueeze(t, [1]), zero)
    b = g.unsqueeze(g.op("Cast", [branch], to=F32), [1])
    g.add(g.add(g.add(mu, b), xz), tz, out="out")
    return g.model()


# numpy references (used by --check) -----------------------------------------


def ref_ddim(prediction, x, t, mu):
    abar = linear_abar()
    a = abar[t.astype(np.int64)].astype(np.float64)[:, None]
    x = x.astype(np.float64)
    mu = mu.astype(np.float64)
    s2 = SIGMA**2
    var = a * s2 + (1 - a)
    d = x - np.sqrt(a) * mu
    eps = np.sqrt(1 - a) * d / var
    x0 = mu + np.sqrt(a) * s2 * d / var
    return {"eps": eps, "x0": x0, "v": np.sqrt(a) * eps - np.sqrt(1 - a) * x0}[prediction]


def ref_flow(x, t, mu):
    t = t.astype(np.float64)[:, None]
    s2 = SIGMA**2
    var = t * t * s2 + (1 - t) ** 2
    d = x - t * mu
    return mu + (t * s2 - (1 - t)) * d / var


# --------------------------------------------------------------------------
# Presenter (audio-to-video)
# --------------------------------------------------------------------------

PRESENTER = dict(
    rate=16000,
    width=64,
    height=64,
    chunk=10,
    context=2,
    lookahead=2,
    motion_dim=6,
    feat_dim=8,
    hidden=16,
)


def _rms_frames(g: Graph, wave: str, keepdims: int) -> str:
    """[batch, samples] -> RMS per 640-sample frame ([batch, frames(, 1)])."""
    frames = g.reshape(wave, [0, -1, FRAME_SAMPLES])
    return g.op("Sqrt", [g.reduce_mean(g.mul(frames, frames), [2], keepdims)])


def build_presenter_audio_encoder() -> onnx.ModelProto:
    rng = rng_for(101)
    g = Graph("presenter_audio_encoder")
    audio = g.input("audio", F32, ["batch", "samples"])
    g.output("features", F32, ["batch", "frames", PRESENTER["feat_dim"]])
    rms = _rms_frames(g, audio, keepdims=1)  # [batch, frames, 1]
    w = g.const(randn(rng, (1, PRESENTER["feat_dim"]), 3.0))
    b = g.const(randn(rng, (PRESENTER["feat_dim"],), 0.1))
    g.op("Tanh", [g.add(g.matmul(rms, w), b)], out="features")
    return g.model()


def _timestep_embedding(g: Graph, t: str, dim: int, t_scale: float, max_freq: float) -> str:
    """t [batch] -> sin(t*t_scale*freq + phase) [batch, dim] (half sin, half cos)."""
    freqs = np.geomspace(1.0, max_freq, dim // 2)
    freqs = np.concatenate([freqs, freqs]).astype(np.float32)[None, :]
    phase = np.concatenate([np.zeros(dim // 2), np.full(dim // 2, math.pi / 2)])
    phase = phase.astype(np.float32)[None, :]
    tt = g.unsqueeze(g.mul(t, g.const(t_scale)), [1])  # [batch, 1]
    return g.op("Sin", [g.add(g.mul(tt, g.const(freqs)), g.const(phase))])


def build_presenter_denoiser() -> onnx.ModelProto:
    p = PRESENTER
    rng = rng_for(102)
    c, k, la, m, f, h = p["context"], p["chunk"], p["lookahead"], p["motion_dim"], p["feat_dim"], p["hidden"]
    g = Graph("presenter_denoiser")
    x = g.input("x", F32, ["batch", k, m])
    t = g.input("t", F32, ["batch"])
    audio = g.input("audio", F32, ["batch", c + k + la, f])
    prev = g.input("prev", F32, ["batch", c, m])
    g.output("eps", F32, ["batch", k, m])

    a = g.slice(audio, [c], [c + k], [1])  # [batch, chunk, feat]
    ha = g.matmul(a, g.const(randn(rng, (f, h), 1.0 / math.sqrt(f))))
    hx = g.matmul(x, g.const(randn(rng, (m, h), 0.8 / math.sqrt(m))))
    temb = _timestep_embedding(g, t, h, 1.0 / 1000.0, 100.0)  # [batch, h]
    ht = g.unsqueeze(g.matmul(temb, g.const(randn(rng, (h, h), 0.5 / math.sqrt(h)))), [1])
    pm = g.reduce_mean(prev, [1], keepdims=1)  # [batch, 1, m]
    hp = g.matmul(pm, g.const(randn(rng, (m, h), 0.5 / math.sqrt(m))))
    b1 = g.const(randn(rng, (h,), 0.1))
    hid = g.op("Tanh", [g.add(g.add(g.add(g.add(ha, hx), ht), hp), b1)])
    wo = g.const(randn(rng, (h, m), 1.0 / math.sqrt(h)))
    bo = g.const(randn(rng, (m,), 0.05))
    g.add(g.matmul(hid, wo), bo, out="eps")
    return g.model()


def build_presenter_decoder() -> onnx.ModelProto:
    p = PRESENTER
    rng = rng_for(103)
    hgt, wid, m = p["height"], p["width"], p["motion_dim"]
    g = Graph("presenter_decoder")
    motion = g.input("motion", F32, ["frames", m])
    ref = g.input("reference_image", F32, [hgt, wid, 3])
    g.output("frames", F32, ["frames", hgt, wid, 3])
    w = g.const(randn(rng, (m, hgt * wid * 3), 1.0 / math.sqrt(m)))
    delta = g.mul(g.op("Tanh", [g.reshape(g.matmul(motion, w), [-1, hgt, wid, 3])]), g.const(0.1))
    g.op("Clip", [g.add(ref, delta), g.const(0.0), g.const(1.0)], out="frames")
    return g.model()


def png_rgb(width: int, height: int, pixels: np.ndarray) -> bytes:
    """Minimal PNG encoder (8-bit RGB, filter 0, fixed zlib level)."""
    assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def avatar_pixels(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    # vertical blue-ish gradient background
    img = np.zeros((size, size, 3), dtype=np.float64)
    img[..., 0] = 40 + 60 * yy / (size - 1)
    img[..., 1] = 70 + 80 * yy / (size - 1)
    img[..., 2] = 150 + 90 * yy / (size - 1)
    cx, cy = size / 2 - 0.5, size / 2 + 1.5
    face = ((xx - cx) / 20.0) ** 2 + ((yy - cy) / 25.0) ** 2 <= 1.0
    img[face] = (235, 190, 160)
    for ex in (cx - 8, cx + 8):
        eye = (xx - ex) ** 2 + (yy - (cy - 7)) ** 2 <= 2.5**2
        img[eye] = (40, 30, 30)
    mouth = (np.abs(xx - cx) <= 7) & (yy >= cy + 9) & (yy <= cy + 11)
    img[mouth] = (160, 50, 60)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Foley (video-to-audio)
# --------------------------------------------------------------------------

FOLEY = dict(
    rate=16000,
    window_ms=2000,
    latent_ch=8,
    latent_len=50,
    feat_dim=8,
    text_dim=16,
    hidden=16,
    sync=dict(fps="25/1", width=32, height=32, frames=50),
    semantic=dict(fps="8/1", width=64, height=64, frames=16),
)
WAVE_SAMPLES = FOLEY["rate"] * FOLEY["window_ms"] // 1000  # 32000
# The streaming fixture: 200 ms hops of 5 latent frames (40 ms each, like the windowed one's),
# 400 ms of context (10 frames), 80 ms of video lookahead; the encoders see 680 ms of video.
# Its decoder also reads the last 160 samples it emitted (previous_waveform).
STREAM = dict(hop_ms=200, context_ms=400, lookahead_ms=80, hop_frames=5, context_frames=10,
              hop_samples=3200, context_sync=10, frames=dict(sync=17, semantic=5),
              wave_context=160)  # fmt: skip

SOUND_WORDS = [
    "a", "an", "the", "of", "and", "with", "on", "in", "metal", "wood",
    "glass", "water", "splash", "rain", "thunder", "engine", "car", "truck", "train", "impact",
    "hit", "knock", "footsteps", "door", "bell", "birds", "dog", "bark", "wind", "fire",
    "crackle", "loud", "quiet", "soft", "sharp", "distant", "close", "heavy", "light", "small",
    "large", "fast", "slow", "crowd", "voice", "music", "drum", "guitar", "piano", "click",
    "whoosh", "explosion", "breaking", "rolling", "scrape", "squeak", "hum", "beep", "ocean", "waves",
]  # fmt: skip
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
VOCAB = SPECIAL_TOKENS + SOUND_WORDS
assert len(set(VOCAB)) == len(VOCAB)


def tokenizer_json() -> str:
    def special(tok):
        return {"SpecialToken": {"id": tok, "type_id": 0}}

    def special_b(tok):
        return {"SpecialToken": {"id": tok, "type_id": 1}}

    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": tok,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i, tok in enumerate(SPECIAL_TOKENS)
        ],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]"), {"Sequence": {"id": "A", "type_id": 0}}, special("[SEP]")],
            "pair": [
                special("[CLS]"),
                {"Sequence": {"id": "A", "type_id": 0}},
                special("[SEP]"),
                {"Sequence": {"id": "B", "type_id": 1}},
                special_b("[SEP]"),
            ],
            "special_tokens": {
                tok: {"id": tok, "ids": [VOCAB.index(tok)], "tokens": [tok]} for tok in ("[CLS]", "[SEP]")
            },
        },
        "decoder": None,
        "model": {
            "type": "WordLevel",
            "vocab": {tok: i for i, tok in enumerate(VOCAB)},
            "unk_token": "[UNK]",
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def build_video_encoder(name: str, seed: int, with_max: bool) -> onnx.ModelProto:
    cfg = FOLEY[name]
    rng = rng_for(seed)
    f = FOLEY["feat_dim"]
    g = Graph(f"foley_video_{name}")
    frames = g.input("frames", F32, ["batch", "n", 3, cfg["height"], cfg["width"]])
    g.output("features", F32, ["batch", "n", f])
    mean = g.reduce_mean(frames, [3, 4], keepdims=0)  # [batch, n, 3]
    # temporal difference, zero for the first frame: [batch, n, 3]
    diff = g.sub(g.slice(mean, [1], [INT64_MAX], [1]), g.slice(mean, [0], [-1], [1]))
    diff = g.op("Pad", [diff, g.ints([0, 1, 0, 0, 0, 0]), g.const(0.0)], mode="constant")
    parts = [mean, diff]
    if with_max:
        parts.append(g.reduce_max(frames, [3, 4], keepdims=0))
    feats = g.op("Concat", parts, axis=2)
    d_in = 3 * len(parts)
    w = g.const(randn(rng, (d_in, f), 2.0 / math.sqrt(d_in)))
    b = g.const(randn(rng, (f,), 0.1))
    g.op("Tanh", [g.add(g.matmul(feats, w), b)], out="features")
    return g.model()


def build_text_encoder() -> onnx.ModelProto:
    rng = rng_for(202)
    d = FOLEY["text_dim"]
    g = Graph("foley_text_encoder")
    ids = g.input("input_ids", I64, ["batch", "seq"])
    mask = g.input("attention_mask", I64, ["batch", "seq"])
    g.output("last_hidden_state", F32, ["batch", "seq", d])
    emb = g.const(randn(rng, (len(VOCAB), d), 1.0), name="embeddings")
    hs = g.op("Gather", [emb, ids], axis=0)  # [batch, seq, d]
    m = g.unsqueeze(g.op("Cast", [mask], to=F32), [2])  # [batch, seq, 1]
    g.mul(hs, m, out="last_hidden_state")
    return g.model()


def build_foley_denoiser(stream: bool = False) -> onnx.ModelProto:
    """The windowed fixture's denoiser, or (stream) the streaming one: a hop's latent, the video
    over context + hop + lookahead, and the clean latent of the context (`prev`), whose last
    frame steers every position (so hops continue the audio before them)."""
    rng = rng_for(207 if stream else 203)
    ch, f, td, h = FOLEY["latent_ch"], FOLEY["feat_dim"], FOLEY["text_dim"], FOLEY["hidden"]
    ln = STREAM["hop_frames"] if stream else FOLEY["latent_len"]
    frames = STREAM["frames"] if stream else {k: FOLEY[k]["frames"] for k in ("sync", "semantic")}
    g = Graph("foley_stream_denoiser" if stream else "foley_denoiser")
    x = g.input("x", F32, ["batch", ch, ln])
    t = g.input("t", F32, ["batch"])
    text = g.input("text", F32, ["batch", td])
    sync = g.input("sync", F32, ["batch", frames["sync"], f])
    sem = g.input("semantic", F32, ["batch", frames["semantic"], f])
    audio = g.input("audio", F32, ["batch", f])
    prev = g.input("prev", F32, ["batch", ch, STREAM["context_frames"]]) if stream else None
    g.output("velocity", F32, ["batch", ch, ln])

    # per-position terms, channels-first [batch, h, ln]
    hx = g.matmul(g.const(randn(rng, (h, ch), 0.8 / math.sqrt(ch))), x)
    sync_cf = g.transpose(sync, [0, 2, 1])  # [batch, f, n]
    if stream:
        # The sync frames of the hop itself (after the context), one per latent frame.
        sync_cf = g.slice(sync_cf, [STREAM["context_sync"]], [STREAM["context_sync"] + ln], [2])
    hs = g.matmul(g.const(randn(rng, (h, f), 1.0 / math.sqrt(f))), sync_cf)
    # global conditioning [batch, h]
    ct = g.matmul(text, g.const(randn(rng, (td, h), 0.5 / math.sqrt(td))))
    sem_mean = g.reduce_mean(sem, [1], keepdims=0)  # [batch, f]
    cs = g.matmul(sem_mean, g.const(randn(rng, (f, h), 0.5 / math.sqrt(f))))
    ca = g.matmul(audio, g.const(randn(rng, (f, h), 0.5 / math.sqrt(f))))
    temb = _timestep_embedding(g, t, h, 1.0, 10.0)
    cte = g.matmul(temb, g.const(randn(rng, (h, h), 0.5 / math.sqrt(h))))
    c = g.add(g.add(g.add(ct, cs), ca), cte)
    if stream:
        last = g.reshape(g.slice(prev, [-1], [INT64_MAX], [2]), [0, ch])  # [batch, ch]
        c = g.add(c, g.matmul(last, g.const(randn(rng, (ch, h), 1.0 / math.sqrt(ch)))))
    cond = g.unsqueeze(c, [2])  # [batch, h, 1]
    b1 = g.const(randn(rng, (h, 1), 0.1))
    hid = g.op("Tanh", [g.add(g.add(g.add(hx, hs), cond), b1)])
    wo = g.const(randn(rng, (ch, h), 1.0 / math.sqrt(h)))
    bo = g.const(randn(rng, (ch, 1), 0.05))
    g.add(g.matmul(wo, hid), bo, out="velocity")
    return g.model()


def build_foley_decoder(stream: bool = False) -> onnx.ModelProto:
    """Latent frames to samples by one projection per frame. The streaming one decodes the
    context's last frame and the hop together and keeps the hop's samples, so that the hop's
    first samples depend on the audio before it, as a real vocoder's receptive field does, and
    its first sample is the last one it emitted before (previous_waveform), so that a test can
    see the runtime hand its output back."""
    rng = rng_for(208 if stream else 204)
    ch = FOLEY["latent_ch"]
    ln = STREAM["hop_frames"] if stream else FOLEY["latent_len"]
    samples = STREAM["hop_samples"] if stream else WAVE_SAMPLES
    per = samples // ln
    g = Graph("foley_stream_decoder" if stream else "foley_decoder")
    lat = g.input("latent", F32, ["batch", ch, ln])
    if stream:
        prev = g.input("prev", F32, ["batch", ch, STREAM["context_frames"]])
        lat = g.op("Concat", [g.slice(prev, [-1], [INT64_MAX], [2]), lat], axis=2)
    g.output("waveform", F32, ["batch", samples])
    y = g.matmul(g.transpose(lat, [0, 2, 1]), g.const(randn(rng, (ch, per), 1.0 / math.sqrt(ch))))
    if stream:
        # [batch, ln + 1, per] → flat, then a smoothing of each sample with the one `per / 2`
        # before it (the seam's continuity), then the hop's samples.
        y = g.reshape(y, [0, (ln + 1) * per])
        y = g.add(g.mul(y, g.const(0.5)),
                  g.mul(g.slice(g.op("Pad", [y, g.ints([0, per // 2, 0, 0]), g.const(0.0)], mode="constant"),
                                [0], [(ln + 1) * per], [1]), g.const(0.5)))
        y = g.slice(y, [per], [INT64_MAX], [1])
    y = g.op("Tanh", [g.reshape(y, [0, samples])])
    if not stream:
        g.mul(y, g.const(0.5), out="waveform")
        return g.model()
    emitted = g.input("prev_wave", F32, ["batch", STREAM["wave_context"]])
    first = np.zeros((1, samples), np.float32)
    first[0, 0] = 1.0
    y = g.mul(y, g.const(0.5 * (1.0 - first)))
    g.add(y, g.mul(g.slice(emitted, [-1], [INT64_MAX], [1]), g.const(first)), out="waveform")
    return g.model()


def build_foley_audio_encoder() -> onnx.ModelProto:
    rng = rng_for(205)
    f = FOLEY["feat_dim"]
    g = Graph("foley_audio_encoder")
    wave = g.input("waveform", F32, ["batch", "samples"])
    g.output("features", F32, ["batch", f])
    rms = _rms_frames(g, wave, keepdims=0)  # [batch, frames]
    stats = g.op("Concat", [g.reduce_mean(rms, [1], 1), g.reduce_max(rms, [1], 1)], axis=1)  # [batch, 2]
    w = g.const(randn(rng, (2, f), 3.0))
    b = g.const(randn(rng, (f,), 0.1))
    g.op("Tanh", [g.add(g.matmul(stats, w), b)], out="features")
    return g.model()


# --------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def io_entries(model: onnx.ModelProto, slots: dict[str, str], which: str) -> list[str]:
    """Manifest entries taken from the real graph's inputs/outputs."""
    values = model.graph.input if which == "inputs" else model.graph.output
    lines = []
    for v in values:
        tt = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
        lines.append(
            "  { slot = %s, name = %s, dtype = %s, shape = %s },"
            % (toml_value(slots[v.name]), toml_value(v.name), toml_value(DTYPE_NAMES[tt.elem_type]), toml_value(shape))
        )
    assert set(slots) == {v.name for v in values}, (slots, [v.name for v in values])
    return lines


def graph_table(role: str, file: str, model: onnx.ModelProto, in_slots, out_slots, extra=()) -> str:
    lines = ["[[graph]]", f"role = {toml_value(role)}", f"file = {toml_value(file)}"]
    for k, v in extra:
        lines.append(f"{k} = {toml_value(v)}")
    lines.append("inputs = [")
    lines += io_entries(model, in_slots, "inputs")
    lines.append("]")
    lines.append("outputs = [")
    lines += io_entries(model, out_slots, "outputs")
    lines.append("]")
    return "\n".join(lines) + "\n"


def section(name: str, items) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in items)


README_TAIL = (
    "Its weights are random (fixed seed): it produces meaningless output and is only for tests.\n"
    "License: CC0-1.0. Regenerate with `python3 models/tools/make_fixtures.py`.\n"
)


def write_presenter(out: Path) -> None:
    p = PRESENTER
    d = out / "presenter"
    graphs = [
        ("audio_encoder", "audio_encoder.onnx", build_presenter_audio_encoder(),
         {"audio": "audio"}, {"features": "features"}),
        ("denoiser", "denoiser.onnx", build_presenter_denoiser(),
         {"x": "latent", "t": "timestep", "audio": "audio_features", "prev": "previous_motion"},
         {"eps": "prediction"}),
        ("decoder", "decoder.onnx", build_presenter_decoder(),
         {"motion": "motion", "reference_image": "reference_image"}, {"frames": "frames"}),
    ]  # fmt: skip
    parts = [
        "# Test fixture: tiny audio-to-video model with random weights. Generated by\n"
        "# models/tools/make_fixtures.py; do not edit by hand.\n",
        "schema = 1\n",
        section("package", [
            ("name", "fixture-presenter"), ("version", "0.1.0"), ("task", "audio-to-video"),
            ("license", "CC0-1.0"),
            ("description", "Random-weight audio-to-video fixture for tests (not a real model)"),
        ]),
        section("audio", [("rate", p["rate"]), ("channels", 1)]),
        section("video", [("width", p["width"]), ("height", p["height"]), ("fps", "25/1")]),
        section("timing", [
            ("chunk_frames", p["chunk"]), ("context_frames", p["context"]), ("lookahead_frames", p["lookahead"]),
        ]),
        section("latent", [("shape", [p["chunk"], p["motion_dim"]])]),
        section("sampler", [
            ("kind", "ddim"), ("prediction", "eps"), ("steps", 4), ("guidance_scale", 1.0),
            ("negative_audio_scale", 0.0), ("train_steps", 1000), ("beta_schedule", "linear"),
            ("beta_start", 0.0001), ("beta_end", 0.02), ("eta", 0.0),
        ]),
        section("assets", [("default_avatar", "default")]),
        section("assets.avatars", [("default", "avatars/default.png")]),
    ]  # fmt: skip
    for role, file, model, ins, outs in graphs:
        save_model(model, d / file)
        parts.append(graph_table(role, file, model, ins, outs))
    write_text(d / "model.toml", "\n".join(parts))
    (d / "avatars").mkdir(parents=True, exist_ok=True)
    (d / "avatars" / "default.png").write_bytes(png_rgb(64, 64, avatar_pixels(64)))
    write_text(
        d / "README.md",
        "# fixture-presenter\n\n"
        "Tiny audio-to-video (talking-head) model package used by the miragegen tests: "
        "64x64 @ 25 fps from 16 kHz mono audio, DDIM eps sampler.\n" + README_TAIL,
    )


def write_foley(out: Path, stream: bool = False) -> None:
    """fixture-foley, or (stream) fixture-foley-stream: the same encoders and tokenizer, the
    streaming denoiser and decoder with `previous_latent` (the decoder also with
    `previous_waveform`), hop/context/lookahead timing."""
    f, st = FOLEY, STREAM
    d = out / ("foley-stream" if stream else "foley")
    prev = {"prev": "previous_latent"} if stream else {}
    graphs = [
        ("video_encoder", "video_sync.onnx", build_video_encoder("sync", 201, with_max=False),
         {"frames": "frames"}, {"features": "features"},
         [("name", "sync"), ("fps", f["sync"]["fps"]), ("width", f["sync"]["width"]),
          ("height", f["sync"]["height"])]),
        ("video_encoder", "video_semantic.onnx", build_video_encoder("semantic", 206, with_max=True),
         {"frames": "frames"}, {"features": "features"},
         [("name", "semantic"), ("fps", f["semantic"]["fps"]), ("width", f["semantic"]["width"]),
          ("height", f["semantic"]["height"])]),
        ("text_encoder", "text_encoder.onnx", build_text_encoder(),
         {"input_ids": "input_ids", "attention_mask": "attention_mask"},
         {"last_hidden_state": "embedding"}, [("pooling", "mean")]),
        ("denoiser", "denoiser.onnx", build_foley_denoiser(stream),
         {"x": "latent", "t": "timestep", "text": "text", "sync": "video:sync",
          "semantic": "video:semantic", "audio": "audio", **prev},
         {"velocity": "prediction"}, []),
        ("decoder", "decoder.onnx", build_foley_decoder(stream),
         {"latent": "latent", **prev, **({"prev_wave": "previous_waveform"} if stream else {})},
         {"waveform": "waveform"}, []),
        ("audio_encoder", "audio_encoder.onnx", build_foley_audio_encoder(),
         {"waveform": "waveform"}, {"features": "features"}, []),
    ]  # fmt: skip
    name = "fixture-foley-stream" if stream else "fixture-foley"
    timing = ([("hop_ms", st["hop_ms"]), ("context_ms", st["context_ms"]), ("lookahead_ms", st["lookahead_ms"])]
              if stream else [("window_ms", f["window_ms"]), ("overlap_ms", 250)])
    parts = [
        f"# Test fixture: tiny {'streaming ' if stream else ''}video-to-audio model with random weights. Generated by\n"
        "# models/tools/make_fixtures.py; do not edit by hand.\n",
        "schema = 1\n",
        section("package", [
            ("name", name), ("version", "0.1.0"), ("task", "video-to-audio"),
            ("license", "CC0-1.0"),
            ("description", f"Random-weight {'streaming ' if stream else ''}video-to-audio fixture for tests (not a real model)"),
        ]),
        section("audio", [("rate", f["rate"]), ("channels", 1)]),
        section("timing", timing),
        section("latent", [("shape", [f["latent_ch"], st["hop_frames"] if stream else f["latent_len"]])]),
        section("sampler", [
            ("kind", "flow-euler"), ("prediction", "velocity"), ("steps", 4), ("guidance_scale", 3.0),
            ("negative_audio_scale", 0.5),
        ]),
        section("assets", [("tokenizer", "tokenizer.json")]),
    ]  # fmt: skip
    for role, file, model, ins, outs, extra in graphs:
        save_model(model, d / file)
        parts.append(graph_table(role, file, model, ins, outs, extra))
    write_text(d / "model.toml", "\n".join(parts))
    write_text(d / "tokenizer.json", tokenizer_json())
    about = (
        "Tiny streaming video-to-audio package used by the v2agen tests: 200 ms hops, each seeing "
        "400 ms of video and generated latent before it and 80 ms of video after it; the same "
        "encoders and tokenizer as `fixture-foley`; flow-euler sampler, 16 kHz mono. The decoder "
        "starts each hop with the last sample it emitted (`previous_waveform`, 160 samples).\n"
        if stream else
        "Tiny video-to-audio (foley) model package used by the v2agen tests: two video encoders "
        "(sync 25 fps 32x32, semantic 8 fps 64x64), a word-level text encoder, flow-euler sampler, "
        "2 s windows of 16 kHz mono audio.\n"
    )
    write_text(d / "README.md", f"# {name}\n\n" + about + README_TAIL)


ANALYTIC = {
    "ddim_eps.onnx": lambda: build_ddim("eps"),
    "ddim_x0.onnx": lambda: build_ddim("x0"),
    "ddim_v.onnx": lambda: build_ddim("v"),
    "flow_velocity.onnx": build_flow_velocity,
    "cond_echo.onnx": build_cond_echo,
    "branch_echo.onnx": build_branch_echo,
}

TOP_README = """\
# Test fixtures

Small, deterministic ONNX model fixtures for the Rust tests. They are generated, not trained:
all weights are random (fixed seeds) or closed-form, and everything here is CC0-1.0.

- `analytic/` - closed-form denoisers for sampler tests (no model.toml). Inputs `x` f32 [batch, n],
  `t` f32 [batch], `mu` f32 [batch, n] (data mean); output `out` f32 [batch, n]. Data
  distribution x0 ~ N(mu, 0.5^2) elementwise, so the exact posterior predictions are known:
  - `ddim_eps.onnx`, `ddim_x0.onnx`, `ddim_v.onnx`: DDIM eps / x0 / v prediction, linear beta
    schedule (1e-4..0.02, 1000 steps), `t` = integer training index as f32.
  - `flow_velocity.onnx`: flow-matching velocity, t in [0, 1], t=0 noise, t=1 data.
  - `cond_echo.onnx`: returns `mu` unchanged (for checking guidance arithmetic exactly).
  - `branch_echo.onnx`: returns `mu + branch`, with an extra int64 [batch] input `branch` (the
    guidance branch index each batch row gets).
- `presenter/` - `fixture-presenter`, an audio-to-video package (audio encoder, DDIM eps
  denoiser, decoder to 64x64 RGB frames, default avatar PNG).
- `foley/` - `fixture-foley`, a video-to-audio package (sync and semantic video encoders, text
  encoder + WordLevel tokenizer, flow-euler velocity denoiser, decoder to 2 s of 16 kHz audio,
  audio encoder).
- `foley-stream/` - `fixture-foley-stream`, the same as a streaming package: 200 ms hops with
  400 ms of context (`previous_latent` on the denoiser and decoder) and 80 ms of lookahead; its
  decoder's first sample of each hop is the last sample it emitted (`previous_waveform`).

Regenerate (needs `onnx` and `numpy`; the output is byte-identical on every run):

    python3 models/tools/make_fixtures.py            # writes models/fixtures
    python3 models/tools/make_fixtures.py --check    # also verifies (needs onnxruntime, tokenizers)
"""


def generate(out: Path) -> None:
    for name, build in ANALYTIC.items():
        save_model(build(), out / "analytic" / name)
    write_presenter(out)
    write_foley(out)
    write_foley(out, stream=True)
    write_text(out / "README.md", TOP_README)


# --------------------------------------------------------------------------
# Checks (optional; need onnxruntime + tokenizers)
# --------------------------------------------------------------------------


def _check_analytic(out: Path, ort) -> None:
    rng = np.random.RandomState(7)
    b, n = 3, 7
    for name in ANALYTIC:
        sess = ort.InferenceSession(str(out / "analytic" / name), providers=["CPUExecutionProvider"])
        ts = [0.0, 0.3, 0.9] if name.startswith(("flow", "cond", "branch")) else [0.0, 500.0, 999.0]
        worst = 0.0
        # each t for the whole batch, then one batch mixing all of them
        for t in [np.full(b, tv, np.float32) for tv in ts] + [np.array(ts, np.float32)]:
            x = rng.standard_normal((b, n)).astype(np.float32)
            mu = rng.standard_normal((b, n)).astype(np.float32)
            feeds = {"x": x, "t": t, "mu": mu}
            if name.startswith("branch"):
                feeds["branch"] = np.arange(b, dtype=np.int64)
            (got,) = sess.run(["out"], feeds)
            if name.startswith("ddim"):
                ref = ref_ddim(name[5:-5], x, t, mu)
            elif name.startswith("flow"):
                ref = ref_flow(x, t, mu)
            elif name.startswith("branch"):
                ref = mu + np.arange(b, dtype=np.float32)[:, None]
            else:
                ref = mu
            assert got.shape == (b, n) and got.dtype == np.float32
            err = float(np.max(np.abs(got - ref)))
            worst = max(worst, err)
            assert err < 1e-5, (name, t, err)
        print(f"  analytic/{name}: max abs err {worst:.2e}")


REQUIRED = {
    "package": ["name", "version", "task", "license"],
    "audio": ["rate", "channels"],
    "timing": [],
    "latent": ["shape"],
    "sampler": ["kind", "prediction", "steps", "guidance_scale", "negative_audio_scale"],
}
NP_DTYPE = {"float32": np.float32, "int64": np.int64}


def _validate_manifest(pkg: Path, m: dict) -> None:
    assert m["schema"] == 1
    for sec, keys in REQUIRED.items():
        assert sec in m, (pkg, sec)
        for k in keys:
            assert k in m[sec], (pkg, sec, k)
    task = m["package"]["task"]
    assert m["package"]["name"] and m["package"]["license"] == "CC0-1.0"
    assert 8000 <= m["audio"]["rate"] <= 192000 and 1 <= m["audio"]["channels"] <= 8
    s = m["sampler"]
    assert 1 <= s["steps"] <= 1000 and 0 <= s["guidance_scale"] <= 50 and 0 <= s["negative_audio_scale"] <= 50
    roles = [g["role"] for g in m["graph"]]
    if task == "audio-to-video":
        for k in ("width", "height", "fps"):
            assert k in m["video"]
        t = m["timing"]
        assert t["chunk_frames"] >= 1 and t["context_frames"] >= 0 and t["lookahead_frames"] >= 0
        assert s["kind"] == "ddim" and s["prediction"] in ("eps", "v", "x0")
        assert 0 < s["beta_start"] < s["beta_end"] < 1 and 0 <= s["eta"] <= 1 and s["train_steps"] >= 1
        assert {"audio_encoder", "denoiser", "decoder"} <= set(roles)
        av = m["assets"]
        assert av["default_avatar"] in av["avatars"]
        for rel in av["avatars"].values():
            assert (pkg / rel).is_file(), rel
    else:
        assert task == "video-to-audio"
        t = m["timing"]
        if "hop_ms" in t:
            assert t["hop_ms"] >= 10 and t["context_ms"] >= 0 and t["lookahead_ms"] >= 0
            assert "window_ms" not in t and "overlap_ms" not in t
        else:
            assert t["window_ms"] >= 100 and 0 <= t["overlap_ms"] < t["window_ms"] / 2
        assert s["kind"] == "flow-euler" and s["prediction"] == "velocity"
        assert {"video_encoder", "denoiser", "decoder"} <= set(roles)
        if "text_encoder" in roles:
            assert (pkg / m["assets"]["tokenizer"]).is_file()
        names = [g["name"] for g in m["graph"] if g["role"] == "video_encoder"]
        assert len(names) == len(set(names))
    for g in m["graph"]:
        assert not Path(g["file"]).is_absolute() and ".." not in Path(g["file"]).parts
        assert (pkg / g["file"]).is_file()
        for e in g["inputs"] + g["outputs"]:
            assert set(e) == {"slot", "name", "dtype", "shape"}, e
            assert e["dtype"] in ("float32", "float16", "int64", "int32", "uint8")
        # declared slots per role/task
        ins = {e["slot"] for e in g["inputs"]}
        outs = {e["slot"] for e in g["outputs"]}
        if g["role"] == "denoiser":
            assert {"latent", "timestep"} <= ins and outs == {"prediction"}
            lat = next(e for e in g["inputs"] if e["slot"] == "latent")["shape"]
            pred = g["outputs"][0]["shape"]
            assert lat[1:] == m["latent"]["shape"] and pred == lat
            if task == "video-to-audio":
                for n in names:
                    assert f"video:{n}" in ins


def _check_graph_io(model_path: Path, entries_in, entries_out) -> None:
    """Manifest entries must match the real graph: names, dtypes, ranks, fixed sizes."""
    model = onnx.load(str(model_path))
    for entries, values in ((entries_in, model.graph.input), (entries_out, model.graph.output)):
        assert [e["name"] for e in entries] == [v.name for v in values]
        for e, v in zip(entries, values):
            tt = v.type.tensor_type
            assert DTYPE_NAMES[tt.elem_type] == e["dtype"]
            dims = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
            assert len(dims) == len(e["shape"])
            for a, b in zip(dims, e["shape"]):
                if isinstance(a, int) and isinstance(b, int):
                    assert a == b, (model_path, e)
    assert model.ir_version == IR_VERSION and model.opset_import[0].version == OPSET


def _run_package(pkg: Path, m: dict, ort, batch: int, symbols: dict) -> dict:
    """Run every graph with random inputs of the declared shapes; returns outputs by role/name."""
    rng = np.random.RandomState(11 + batch)
    results = {}
    for g in m["graph"]:
        sess = ort.InferenceSession(str(pkg / g["file"]), providers=["CPUExecutionProvider"])
        sym = {k: v for k, v in symbols.items() if not isinstance(v, dict)}
        sym.update(symbols.get(g.get("name", ""), {}), batch=batch)  # per-video-encoder symbols
        feeds = {}
        for e in g["inputs"]:
            shape = [d if isinstance(d, int) else sym[d] for d in e["shape"]]
            if e["dtype"] == "int64":
                if e["slot"] == "attention_mask":
                    arr = np.ones(shape, np.int64)
                    arr[..., -1] = 0
                else:
                    arr = rng.randint(0, len(VOCAB), size=shape).astype(np.int64)
            elif e["slot"] == "timestep":
                hi = 999.0 if m["sampler"]["kind"] == "ddim" else 0.99
                arr = (rng.uniform(0, hi, size=shape)).astype(np.float32)
                if m["sampler"]["kind"] == "ddim":
                    arr = np.round(arr)
            elif e["slot"] in ("frames", "reference_image"):
                arr = rng.uniform(0, 1, size=shape).astype(np.float32)
            elif e["slot"] in ("audio", "waveform") and g["role"] == "audio_encoder":
                arr = (0.3 * rng.standard_normal(shape)).astype(np.float32)
            else:
                arr = rng.standard_normal(shape).astype(np.float32)
            feeds[e["name"]] = arr
        outs = sess.run([e["name"] for e in g["outputs"]], feeds)
        for e, o in zip(g["outputs"], outs):
            want = [d if isinstance(d, int) else sym[d] for d in e["shape"]]
            assert list(o.shape) == want, (g["file"], e["name"], o.shape, want)
            assert o.dtype == NP_DTYPE[e["dtype"]]
            assert np.all(np.isfinite(o)) and np.max(np.abs(o)) < 10.0, (g["file"], float(np.max(np.abs(o))))
            results[(g["file"], e["name"])] = o
            print(
                f"  {pkg.name}/{g['file']} batch={batch}: {e['name']} {tuple(o.shape)} "
                f"range [{float(o.min()):.3f}, {float(o.max()):.3f}] std {float(o.std()):.3f}"
            )
    return results


def check(out: Path) -> None:
    import tomllib

    import onnxruntime as ort
    from tokenizers import Tokenizer

    print(f"onnxruntime {ort.__version__}")
    _check_analytic(out, ort)

    for pkg_name in ("presenter", "foley", "foley-stream"):
        pkg = out / pkg_name
        with open(pkg / "model.toml", "rb") as fh:
            m = tomllib.load(fh)
        _validate_manifest(pkg, m)
        for g in m["graph"]:
            _check_graph_io(pkg / g["file"], g["inputs"], g["outputs"])
        print(f"  {pkg_name}/model.toml: valid")

    # presenter: frames consistent across encoder -> denoiser -> decoder
    p = PRESENTER
    pkg = out / "presenter"
    m = tomllib.loads((pkg / "model.toml").read_text())
    n_frames = p["context"] + p["chunk"] + p["lookahead"]
    for batch in (1, 3):
        r = _run_package(pkg, m, ort, batch, {"samples": n_frames * FRAME_SAMPLES, "frames": n_frames})
        fr = r[("decoder.onnx", "frames")]
        assert fr.min() >= 0.0 and fr.max() <= 1.0
    # decoder with chunk_frames motion frames
    sess = ort.InferenceSession(str(pkg / "decoder.onnx"), providers=["CPUExecutionProvider"])
    (fr,) = sess.run(None, {"motion": np.zeros((p["chunk"], 6), np.float32),
                            "reference_image": np.full((64, 64, 3), 0.5, np.float32)})  # fmt: skip
    assert fr.shape == (p["chunk"], 64, 64, 3) and np.allclose(fr, 0.5)
    png = (pkg / "avatars" / "default.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (64, 64)

    # foley
    pkg = out / "foley"
    m = tomllib.loads((pkg / "model.toml").read_text())
    tok = Tokenizer.from_file(str(pkg / "tokenizer.json"))
    assert tok.get_vocab_size() == len(VOCAB)
    enc = tok.encode("Metal door SLAM, footsteps on wood")
    print(f"  tokenizer: {enc.tokens} -> {enc.ids}")
    assert enc.tokens == ["[CLS]", "metal", "door", "[UNK]", "[UNK]", "footsteps", "on", "wood", "[SEP]"]
    emb = onnx.numpy_helper.to_array(next(i for i in onnx.load(str(pkg / "text_encoder.onnx")).graph.initializer))
    assert emb.shape[0] == tok.get_vocab_size()
    for batch in (1, 3):
        syms = {"seq": 9, "samples": WAVE_SAMPLES, "sync": {"n": FOLEY["sync"]["frames"]},
                "semantic": {"n": FOLEY["semantic"]["frames"]}}  # fmt: skip
        r = _run_package(pkg, m, ort, batch, syms)
        assert np.max(np.abs(r[("decoder.onnx", "waveform")])) <= 0.5
    pkg = out / "foley-stream"
    m = tomllib.loads((pkg / "model.toml").read_text())
    for batch in (1, 3):
        syms = {"seq": 9, "samples": 9600, "sync": {"n": 17}, "semantic": {"n": 5}}
        r = _run_package(pkg, m, ort, batch, syms)
        assert r[("decoder.onnx", "waveform")].shape == (batch, STREAM["hop_samples"])
    pkg = out / "foley"
    # video encoders with a single frame (n = 1) still work
    for name in ("video_sync.onnx", "video_semantic.onnx"):
        sess = ort.InferenceSession(str(pkg / name), providers=["CPUExecutionProvider"])
        shp = sess.get_inputs()[0].shape
        (o,) = sess.run(None, {"frames": np.full((2, 1, 3, shp[3], shp[4]), 0.5, np.float32)})
        assert o.shape == (2, 1, 8)

    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    onnx_total = sum(f.stat().st_size for f in out.rglob("*.onnx"))
    print(f"  total size {total} bytes (onnx {onnx_total})")
    assert total < 2 * 1024 * 1024
    print("all checks passed")


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--check"}
    if unknown or len(args) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    repo_root = Path(__file__).resolve().parent.parent.parent
    out = Path(args[0]) if args else repo_root / "models" / "fixtures"
    generate(out)
    print(f"wrote fixtures to {out}")
    if "--check" in flags:
        check(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
