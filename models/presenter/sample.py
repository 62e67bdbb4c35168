"""Samples motion from the training checkpoint the way miragegen drives the exported graphs
(chunks, previous-motion tail, eased seam, Euler steps), without GStreamer: a quick check of what
the model learned, against the clip's target motion.
  python models/presenter/sample.py [--clips 4] [--steps 8]"""

import argparse

import numpy as np
import torch

import config
import motion
import speech
from export import STEPS, load

SEED = 9_000_000  # evaluate.py's validation clips


def sample_clip(encoder, denoiser, audio: np.ndarray, n: int, steps: int, seed: int = 0) -> np.ndarray:
    """Motion [n, 9] in renderer units for `audio` (16 kHz), chunk by chunk."""
    scale = np.array(config.MOTION_SCALE, np.float32)
    pre = config.CONTEXT * config.HOP
    padded = np.zeros(pre + (n + config.CHUNK + config.LOOKAHEAD) * config.HOP, np.float32)
    padded[pre : pre + len(audio)] = audio
    prev = torch.zeros(1, config.CONTEXT, len(config.MOTION))
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for k in range(-(-n // config.CHUNK)):
            start = k * config.CHUNK * config.HOP
            window = torch.from_numpy(padded[start : start + config.WINDOW_SAMPLES])[None]
            features = encoder(window)
            x = torch.randn(1, config.CHUNK, len(config.MOTION), generator=gen)
            for i in range(steps):
                t = torch.full((1,), i / steps)
                x = x + denoiser(x, t, features, prev) / steps
            if k > 0:  # the runtime's seam easing out of the previous chunk's last frame
                last = prev[:, -1:]
                w = torch.arange(1, config.SEAM + 1, dtype=torch.float32)[None, :, None] / (config.SEAM + 1)
                x[:, : config.SEAM] = w * x[:, : config.SEAM] + (1 - w) * last
            out.append(x[0])
            prev = torch.cat([prev, x], dim=1)[:, -config.CONTEXT :]
    return torch.cat(out).numpy()[:n] * scale


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--seconds", type=float, default=20.0)
    a = p.parse_args()
    encoder, denoiser = load()
    idx = {name: i for i, name in enumerate(config.MOTION)}
    for i in range(a.clips):
        clip = motion.speech_clip(np.random.default_rng(SEED + i), speech.VAL_VOICES, a.seconds)
        n = len(clip.motion)
        m = sample_clip(encoder, denoiser, clip.audio, n, a.steps, seed=i)
        rms = speech.frame_rms(clip.audio, n)
        silent = clip.motion[:, 0] < 0.02
        blinks = np.sum(np.diff((m[:, idx["blink"]] > 0.5).astype(int)) == 1)
        print(f"clip {i}: open~target r={np.corrcoef(m[:, 0], clip.motion[:, 0])[0, 1]:.3f}, "
              f"open~rms r={np.corrcoef(m[:, 0], rms)[0, 1]:.3f} (target~rms {np.corrcoef(clip.motion[:, 0], rms)[0, 1]:.3f}), "
              f"open in silence {np.abs(m[silent, 0]).mean():.3f}, blinks {blinks} in {n / config.FPS:.0f} s, "
              f"head std {m[:, idx['yaw']:].std(0).round(2).tolist()} (target {clip.motion[:, idx['yaw']:].std(0).round(2).tolist()})")


if __name__ == "__main__":
    main()
