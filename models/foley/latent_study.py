#!/usr/bin/env python3
"""Which latent could a decoder reach the vocoder bar from (log-spectral distance ≤ 4.0 dB on
held-out sound effects)? Today's latent (48 log-mel bands averaged over two STFT frames, 50 Hz)
cannot: its trained vocoder scores 5.12 dB, and even with the recording's own phase its
magnitudes score 3.44 dB, with the noise textures far above the bar (README, "A trained
vocoder").

For each candidate latent, all at the same 50 Hz (so the denoiser's sequence stays as long and
its speed as measured), this measures encode → decode on the vocoder's held-out recordings,
`common.log_spectral_distance`, mean and 95 % bootstrap interval over recordings:

- `true phase`: the latent's magnitudes with the recording's own phase. A bound for any decoder
  that gets the magnitudes right and the phase wrong, not a decoder.
- `griffin-lim`: fast Griffin-Lim (momentum 0.99, ITERS iterations) from the latent's
  magnitudes: what a phase-blind decoder reaches without training (the trained vocoder beat
  32-iteration Griffin-Lim by 0.44 dB on today's latent).

Candidates: today's latent; the two STFT frames of each latent frame kept apart (no pooling) at
48, 64, 80, 96 and 128 mel bands; pooled at 80, 96 and 128 bands; and every STFT bin (257 per frame, two frames per latent frame).
Channels per latent frame: the bands, twice that when not pooled, 514 for every bin.

    py=~/.local/share/gst-generative/train-venv/bin/python
    $py models/foley/vocoder.py corpus          # once: .cache/vocoder/heldout.npz
    $py models/foley/latent_study.py            # ~2 min on 2 cores
    $py models/foley/latent_study.py stats --bands 128 --stacked   # latents/mel128x2.json

`stats` writes a candidate's definition and normalisation (`common.latent_stats`), over the same
training mixes as the shipped latent's (`prepare.py`), for `vocoder.py --latent`.
"""

import argparse
import json

import numpy as np
import torch

from common import Frontend, band_stats, log_spectral_distance, mel_filters
from config import CACHE, HERE, HOP, N_FFT
from vocoder import heldout_clips, interval

ITERS = 100
WIN = torch.hann_window(N_FFT)
# name: (mel bands or None for every bin, pool the two STFT frames of a latent frame)
CANDIDATES = {
    "mel48, pooled (today)": (48, True),
    "mel48 x 2 frames": (48, False),
    "mel80, pooled": (80, True),
    "mel64 x 2 frames": (64, False),
    "mel80 x 2 frames": (80, False),
    "mel96 x 2 frames": (96, False),
    "mel96, pooled": (96, True),
    "mel128, pooled": (128, True),
    "mel128 x 2 frames": (128, False),
    "all 257 bins x 2 frames": (None, False),
}


def stft(x):
    return torch.stft(x, N_FFT, HOP, window=WIN, return_complex=True)


def istft(spec, length):
    return torch.istft(spec, N_FFT, HOP, window=WIN, length=length)


def latent_magnitude(power, bands, pool):
    """The magnitudes a decoder could at best read off the latent: the power through the bands
    (and the pooling), back to bins by the filters' pseudo-inverse, as `GriffinLimDecoder`
    does."""
    if bands is None:
        return torch.sqrt(power)
    fb = torch.tensor(mel_filters(bands))
    mel = fb @ power
    if pool:
        frames = mel.shape[-1] // 2 * 2
        pooled = 0.5 * (mel[..., 0:frames:2] + mel[..., 1:frames:2])
        mel = torch.repeat_interleave(pooled, 2, dim=-1)
        mel = torch.cat([mel, power.new_zeros(bands, power.shape[-1] - frames)], dim=-1)
    pinv = torch.linalg.pinv(fb)
    return torch.sqrt((pinv @ mel).clamp_min(0))


def griffin_lim(mag, length, iters=ITERS):
    g = torch.Generator().manual_seed(0)
    phase = torch.rand(mag.shape, generator=g) * 2 * np.pi
    spec = mag * torch.exp(1j * phase)
    prev = torch.zeros_like(spec)
    for _ in range(iters):
        proj = stft(istft(spec, length))
        acc = proj + 0.99 * (proj - prev)
        prev = proj
        spec = mag * acc / (acc.abs() + 1e-12)
    return istft(spec, length)


def write_stats(bands, stacked):
    """latents/melBANDS[x2].json: the candidate's definition and per-channel normalisation over
    the first 800 training mixes, as prepare.py computes the shipped latent's."""
    name = f"mel{bands}" + ("x2" if stacked else "")
    spec = {"name": name, "bands": bands, "pooled": not stacked}
    front = Frontend({**spec, "mean": [0.0] * bands * (1 + stacked), "std": [1.0] * bands * (1 + stacked)})
    tracks = np.load(CACHE / "dataset.npz")["tracks"][:800]
    stats = {**spec, **band_stats(front, torch.tensor(tracks.astype(np.float32).sum(1)))}
    out = HERE / "latents" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(stats, indent=1) + "\n")
    print(f"wrote {out}: {len(stats['mean'])} channels")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", choices=["measure", "stats"], default="measure")
    ap.add_argument("--frames", type=int, default=200, help="latent frames per recording (4 s)")
    ap.add_argument("--speech", type=int, default=30, help="held-out speech files to use (of 182)")
    ap.add_argument("--bands", type=int, default=128, help="stats: mel bands per STFT frame")
    ap.add_argument("--stacked", action="store_true", help="stats: the two STFT frames stacked, not pooled")
    args = ap.parse_args()
    if args.command == "stats":
        return write_stats(args.bands, args.stacked)
    clips = heldout_clips(args.frames)
    clips["klettres"] = clips.get("klettres", [])[: args.speech]
    rng = np.random.default_rng(0)
    for source, waves in clips.items():
        for name, (bands, pool) in CANDIDATES.items():
            rows = {"true phase": [], "griffin-lim": []}
            for w in waves:
                x = torch.tensor(w)
                spec = stft(x)
                mag = latent_magnitude(spec.abs() ** 2, bands, pool)
                true = istft(mag * torch.exp(1j * spec.angle()), len(x))
                rows["true phase"].append(log_spectral_distance(true, x))
                rows["griffin-lim"].append(log_spectral_distance(griffin_lim(mag, len(x)), x))
            for kind, v in rows.items():
                mean, lo, hi = interval(np.array(v), rng)
                print(f"{source:9s} {name:26s} {kind:11s} LSD {mean:.2f} dB [{lo:.2f}, {hi:.2f}]"
                      f" over {len(v)}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
