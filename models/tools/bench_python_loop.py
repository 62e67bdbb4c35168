#!/usr/bin/env python3
"""The runtime benchmark's work, driven the way these models are usually run: a plain Python
loop over `onnxruntime.InferenceSession`s with numpy in between.

Usage:
    python3 models/tools/bench_python_loop.py PACKAGE_DIR [--iters N] [--warmup N] [--steps N]
                                               [--branches 1|2|3] [--provider cpu|cuda|tensorrt]

It reads the package's `model.toml`, opens one session per graph with ONNX Runtime's default
options (the runtime's differ in one: idle threads block instead of spinning), and times what
`cargo bench -p diffusion-runtime --bench package` times for the same package: per window (video-to-audio) the video encoders, the audio
encoder when a third branch needs it, `steps` denoiser calls with the guidance branches batched
in one call, the sampler update in numpy, and the decoder; per chunk (audio-to-video) the audio
encoder, the denoiser loop and the renderer. A streaming video-to-audio package's unit is a
hop: the encoders over its context, hop and lookahead, the denoiser and decoder fed the latent
before the hop (`previous_latent`; zeros here, as at a stream's start). Prompts are encoded
once before timing, as the runtime's prompt cache does after the first window. It prints the
same figure names as the Rust benchmark, so `scripts/bench-realsize.sh` can put both in one
table.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.float32, "int64": np.int64, "uint8": np.uint8}


def providers(name: str) -> list:
    return {
        "cpu": ["CPUExecutionProvider"],
        "cuda": ["CUDAExecutionProvider"],
        "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
    }[name]


class Graph:
    def __init__(self, ort, pkg: Path, spec: dict, provider: str):
        self.spec = spec
        self.session = ort.InferenceSession(str(pkg / spec["file"]), providers=providers(provider))
        got = self.session.get_providers()[0]
        want = providers(provider)[0]
        if got != want:
            sys.exit(f"{spec['file']}: asked for {want}, ONNX Runtime gave {got}")
        self.by_slot = {t["slot"]: t for t in spec.get("inputs", []) + spec.get("outputs", [])}

    def name(self, slot: str) -> str | None:
        t = self.by_slot.get(slot)
        return t["name"] if t else None

    def fixed(self, slot: str, axis: int) -> int:
        return int(self.by_slot[slot]["shape"][axis])

    def run(self, inputs: dict, out_slot: str) -> np.ndarray:
        feed = {self.name(slot): v for slot, v in inputs.items() if self.name(slot)}
        return self.session.run([self.name(out_slot)], feed)[0]


def noise(rng, shape, scale=1.0, offset=0.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def cosine_abar(train_steps: int) -> np.ndarray:
    s = 0.008
    f = np.cos((np.arange(train_steps + 1) / train_steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    return np.cumprod(1 - betas)


def linear_abar(train_steps: int, start: float, end: float) -> np.ndarray:
    return np.cumprod(1 - np.linspace(start, end, train_steps))


class Loop:
    """One package's graphs and the sampler loop over them."""

    def __init__(self, ort, pkg: Path, args):
        self.m = tomllib.loads((pkg / "model.toml").read_text())
        self.graphs = [Graph(ort, pkg, g, args.provider) for g in self.m["graph"]]
        self.role = lambda r: [g for g in self.graphs if g.spec["role"] == r]
        self.den = self.role("denoiser")[0]
        s = self.m["sampler"]
        self.steps = args.steps or s["steps"]
        self.rng = np.random.default_rng(0)
        scale, neg = s.get("guidance_scale", 1.0), s.get("negative_audio_scale", 0.0)
        self.v2a = self.m["package"]["task"] == "video-to-audio"
        self.stream = self.v2a and "hop_ms" in self.m["timing"]
        if args.branches:
            self.branches = args.branches
            scale = scale if scale != 1.0 else 4.0
            neg = neg if neg != 0.0 else 0.5
        else:
            has_audio = self.v2a and bool(self.role("audio_encoder")) and neg != 0.0
            self.branches = 3 if has_audio else 2 if scale != 1.0 else 1
        self.scale, self.neg = scale, neg
        self.latent_shape = [1] + list(self.m["latent"]["shape"])
        if self.v2a:
            self.prompts = [self.encode_text("metal impact on wood"), self.encode_text("")]

    def encode_text(self, prompt: str) -> np.ndarray:
        enc = self.role("text_encoder")[0]
        # Token ids stand in for the tokenizer (microseconds, outside the timed loop anyway).
        n = 2 + len(prompt.split())
        ids = (np.arange(n, dtype=np.int64) % 5 + 1).reshape(1, n)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        out = enc.run(feed, "embedding")
        if enc.spec.get("pooling", "none") == "mean":
            out = out.mean(axis=1)
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def window(self) -> tuple[float, list[float]]:
        """One window or chunk end to end; returns (total seconds, per denoiser call seconds)."""
        rng = self.rng
        if self.v2a:
            t = self.m["timing"]
            # The video a window sees; a streaming step's: its context, hop and lookahead.
            window_ms = t["context_ms"] + t["hop_ms"] + t["lookahead_ms"] if self.stream else t["window_ms"]
            video = {}
            for enc in self.role("video_encoder"):
                num, _, den = str(enc.spec["fps"]).partition("/")
                n = int(window_ms * int(num) // (1000 * int(den or 1)))
                frames = noise(rng, (1, n, 3, enc.spec["height"], enc.spec["width"]), 0.2, 0.5).clip(0, 1)
                video[enc] = frames
            # The existing audio negative guidance hears: a streaming step's context and hop.
            heard_ms = t["context_ms"] + t["hop_ms"] if self.stream else window_ms
            samples = heard_ms * self.m["audio"]["rate"] // 1000
            track = noise(rng, (1, samples), 0.1) if self.branches == 3 else None
        else:
            t = self.m["timing"]
            num, _, den = str(self.m["video"]["fps"]).partition("/")
            fps = int(num) / int(den or 1)
            frames = t["context_frames"] + t["chunk_frames"] + t.get("lookahead_frames", 0)
            wave = noise(rng, (1, round(frames * self.m["audio"]["rate"] / fps)), 0.1)
        x = noise(rng, self.latent_shape)
        start = time.perf_counter()
        conds: list[dict] = []
        if self.v2a:
            common = {f"video:{enc.spec['name']}": enc.run({"frames": f}, "features") for enc, f in video.items()}
            dim = self.den.fixed("audio", -1) if self.den.name("audio") else None
            silent = np.zeros((1, dim), np.float32) if dim else None
            if self.stream:
                common["previous_latent"] = self.previous()
            c = dict(common, text=self.prompts[0], audio=silent)
            conds.append(c)
            if self.branches >= 2:
                conds.append(dict(common, text=self.prompts[1], audio=silent))
            if self.branches >= 3:
                neg = self.role("audio_encoder")[0].run({"waveform": track}, "features")
                conds.append(dict(common, text=self.prompts[0], audio=neg))
        else:
            feats = self.role("audio_encoder")[0].run({"audio": wave}, "features")
            ctx = self.m["timing"]["context_frames"]
            prev = np.zeros((1, ctx, self.latent_shape[-1]), np.float32)
            conds.append({"audio_features": feats, "previous_motion": prev})
        b = len(conds)
        batched = {k: np.concatenate([c[k] for c in conds]) for k in conds[0] if conds[0][k] is not None}
        if self.den.name("branch"):
            batched["branch"] = np.arange(b, dtype=np.int64)
        calls = []
        x = self.sample(x, batched, b, calls)
        if self.v2a:
            # The decoder reads the same latent before the hop as the denoiser (the contract's context).
            dec = {"latent": x, "previous_latent": common["previous_latent"]} if self.stream else {"latent": x}
            self.role("decoder")[0].run(dec, "waveform")
        else:
            s = self.m["video"]["width"]
            portrait = np.full((s, s, 3), 0.5, np.float32)
            self.role("decoder")[0].run({"motion": x[0], "reference_image": portrait}, "frames")
        return time.perf_counter() - start, calls

    def previous(self) -> np.ndarray:
        """A streaming step's latent before its hop: zeros, as the runtime gives at a stream's start."""
        return np.zeros((1, self.latent_shape[1], self.den.fixed("previous_latent", -1)), np.float32)

    def predict(self, x, t, batched, b, calls) -> np.ndarray:
        xb = np.concatenate([x] * b)
        ts = self.den.by_slot["timestep"]
        tb = np.full((b,) if ts["shape"] else (), t, DTYPES[ts["dtype"]])
        c0 = time.perf_counter()
        pred = self.den.run(dict(batched, latent=xb, timestep=tb), "prediction")
        calls.append(time.perf_counter() - c0)
        out = pred[0:1]
        if b >= 2:
            out = pred[1:2] + self.scale * (pred[0:1] - pred[1:2])
        if b >= 3:
            out = out + self.neg * (pred[0:1] - pred[2:3])
        return out

    def sample(self, x, batched, b, calls) -> np.ndarray:
        s = self.m["sampler"]
        if s["kind"] == "flow-euler":
            shift = s.get("time_shift", 1.0)
            ts = np.linspace(0.0, 1.0, self.steps + 1)
            ts = shift * ts / (1 + (shift - 1) * ts)
            for i in range(self.steps):
                v = self.predict(x, ts[i], batched, b, calls)
                x = (x + (ts[i + 1] - ts[i]) * v).astype(np.float32)
            return x
        train = s["train_steps"]
        abar = (cosine_abar(train) if s.get("beta_schedule") == "cosine"
                else linear_abar(train, s.get("beta_start", 1e-4), s.get("beta_end", 0.02)))
        times = np.linspace(train - 1, 0, self.steps).round().astype(np.int64)
        for i, t in enumerate(times):
            a = abar[t]
            a_next = abar[times[i + 1]] if i + 1 < len(times) else 1.0
            p = self.predict(x, t, batched, b, calls)
            if s["prediction"] == "x0":
                x0, eps = p, (x - math.sqrt(a) * p) / math.sqrt(1 - a)
            elif s["prediction"] == "eps":
                x0, eps = (x - math.sqrt(1 - a) * p) / math.sqrt(a), p
            else:  # v
                x0 = math.sqrt(a) * x - math.sqrt(1 - a) * p
                eps = math.sqrt(1 - a) * x + math.sqrt(a) * p
            x = (math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps).astype(np.float32)
        return x


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("package", type=Path)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int)
    p.add_argument("--branches", type=int, choices=(1, 2, 3))
    p.add_argument("--provider", default="cpu", choices=("cpu", "cuda", "tensorrt"))
    args = p.parse_args()
    import onnxruntime as ort

    loop = Loop(ort, args.package, args)
    for _ in range(args.warmup):
        loop.window()
    runs = [loop.window() for _ in range(max(1, args.iters))]
    total = statistics.median(r[0] for r in runs) * 1e3
    step = statistics.median(statistics.median(r[1]) for r in runs) * 1e3
    unit = "hop" if loop.stream else "window" if loop.v2a else "chunk"
    print(f"package            {loop.m['package']['name']} ({args.package})")
    print(f"onnx runtime       {ort.__version__} (Python) on {args.provider}, {len(runs)} iterations (median)")
    print(f"steps              {loop.steps} × {loop.branches} guidance branch(es)")
    print(f"denoiser per step  {step:.3f} ms")
    print(f"end-to-end {unit:<7} {total:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
