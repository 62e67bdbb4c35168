#!/usr/bin/env python3
"""Stage 1 of the foley model: the audio codec, a convolutional autoencoder between 16 kHz
waveform and a compact latent (16 channels at 50 Hz, 320 samples per step) that the
flow-matching denoiser will work in. Its decoder becomes the package's `decoder` graph.

Trained on mixtures of the train split of the sound library (data/sounds.py): 1-3 sounds at
random offsets and gains plus silence, with a multi-resolution STFT loss (spectral convergence
and log magnitude) and a light L2 pull on the latent so that it stays near unit scale for the
denoiser. Resumable: a checkpoint is written every `--save-every` steps and picked up again.

    ~/.local/share/gst-generative/train-venv/bin/python models/foley/train_codec.py \
        --minutes 20          # wall-clock budget; run again to continue
    ... train_codec.py --evaluate   # log-spectral distance on held-out recordings
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

RATE = 16_000
HOP = 320  # samples per latent step: 50 Hz
LATENT = 16
SEGMENT = RATE  # 1 s training crops
HERE = Path(__file__).resolve().parent
SOUNDS = HERE / ".cache" / "sounds"
CKPT = HERE / ".cache" / "codec.pt"


def load_library(split):
    meta = json.loads((SOUNDS / "library.json").read_text())
    out = []
    for s in meta["sounds"]:
        audio = np.fromfile(SOUNDS / f"{s['id']}.f32", dtype="<f4")
        held = s.get("heldout_from_sample")
        if held is not None:
            audio = audio[held:] if split == "heldout" else audio[:held]
        elif s["split"] != split:
            continue
        out.append(audio)
    return out


def batch(rng, sounds, n):
    x = np.zeros((n, SEGMENT), np.float32)
    for b in range(n):
        for _ in range(rng.integers(1, 4)):
            s = sounds[rng.integers(len(sounds))]
            start = rng.integers(-SEGMENT // 2, max(1, len(s) - SEGMENT // 2))
            src = s[max(0, start): max(0, start) + SEGMENT]
            at = max(0, -start) if start < 0 else 0
            take = min(len(src), SEGMENT - at)
            x[b, at: at + take] += rng.uniform(0.1, 1.0) * src[:take]
    return torch.from_numpy(np.clip(x, -1, 1))


class Residual(nn.Module):
    def __init__(self, ch, dilation):
        super().__init__()
        self.body = nn.Sequential(nn.ELU(), nn.Conv1d(ch, ch, 3, padding=dilation, dilation=dilation),
                                  nn.ELU(), nn.Conv1d(ch, ch, 1))

    def forward(self, x):
        return x + self.body(x)


class Codec(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        strides = [4, 4, 4, 5]  # 320
        enc, ch = [nn.Conv1d(1, width // 4, 7, padding=3), nn.ELU()], width // 4
        for s in strides:
            nxt = min(width * 2, ch * 2)
            enc += [Residual(ch, 1), Residual(ch, 3),
                    nn.Conv1d(ch, nxt, 2 * s, stride=s, padding=s // 2 + s % 2), nn.ELU()]
            ch = nxt
        enc += [nn.Conv1d(ch, LATENT, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv1d(LATENT, ch, 3, padding=1), nn.ELU()]
        for s in reversed(strides):
            nxt = max(width // 4, ch // 2)
            dec += [nn.ConvTranspose1d(ch, nxt, 2 * s, stride=s, padding=s // 2, output_padding=s % 2),
                    Residual(nxt, 1), Residual(nxt, 3), nn.ELU()]
            ch = nxt
        dec += [nn.Conv1d(ch, 1, 7, padding=3), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)

    def encode(self, wave):  # [b, n] -> [b, LATENT, n / HOP]
        return self.encoder(wave[:, None, :])[..., : wave.shape[-1] // HOP]

    def decode(self, latent):  # [b, LATENT, t] -> [b, t * HOP]
        return self.decoder(latent)[:, 0, : latent.shape[-1] * HOP]


def stft_loss(y, x):
    loss = 0.0
    for n_fft in (256, 512, 1024):
        win = torch.hann_window(n_fft)
        sy = torch.stft(y, n_fft, n_fft // 4, window=win, return_complex=True).abs() + 1e-3
        sx = torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True).abs() + 1e-3
        loss = loss + torch.norm(sx - sy) / torch.norm(sx) + (sx.log() - sy.log()).abs().mean()
    return loss / 3


def log_spectral_distance(y, x, n_fft=512, range_db=60.0):
    """dB RMS difference of power spectra per frame, averaged over the frames of `x` within
    `range_db` of its loudest (silent stretches say nothing about a codec); power below that
    range is floored in both spectra. Lower is better."""
    win = torch.hann_window(n_fft)
    py = torch.stft(y, n_fft, n_fft // 4, window=win, return_complex=True).abs() ** 2
    px = torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True).abs() ** 2
    floor = px.max() * 10 ** (-range_db / 10)
    d = 10 * (px.clamp_min(floor).log10() - py.clamp_min(floor).log10())
    per_frame = d.pow(2).mean(dim=-2).sqrt()
    energy = px.sum(dim=-2)
    keep = energy >= energy.max() * 10 ** (-range_db / 10)
    return per_frame[keep].mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--evaluate", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = Codec()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    step = 0
    if CKPT.exists():
        state = torch.load(CKPT)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        print(f"resumed at step {step}")
    if a.evaluate:
        model.eval()
        with torch.no_grad():
            lsd = []
            for s in load_library("heldout"):
                n = (len(s) // HOP) * HOP
                if n < HOP * 8:
                    continue
                x = torch.from_numpy(s[:n])[None]
                lsd.append(log_spectral_distance(model.decode(model.encode(x)), x))
        print(f"held-out log-spectral distance: {np.mean(lsd):.2f} dB over {len(lsd)} recordings")
        return
    sounds = load_library("train")
    rng = np.random.default_rng(step)
    params = sum(p.numel() for p in model.parameters())
    print(f"codec: {params / 1e6:.2f} M parameters, {len(sounds)} training sounds")
    deadline = time.time() + a.minutes * 60
    while time.time() < deadline:
        x = batch(rng, sounds, a.batch)
        z = model.encode(x)
        y = model.decode(z)
        loss = stft_loss(y, x) + 0.1 * (y - x).abs().mean() + 1e-3 * z.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 20 == 0:
            print(f"step {step}: loss {loss.item():.4f}, latent rms {z.pow(2).mean().sqrt().item():.2f}")
        if step % a.save_every == 0:
            CKPT.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, CKPT)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, CKPT)
    print(f"saved step {step} to {CKPT}")


if __name__ == "__main__":
    main()
