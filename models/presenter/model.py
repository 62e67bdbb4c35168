"""The presenter's learned graphs: the audio encoder (waveform → per-frame features, log-mel in
the graph) and the denoiser (one flow-matching step over a chunk of motion, conditioned on the
audio around it and on the previous chunk's tail)."""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import config

FEAT = 64  # audio feature width
WIDTH = 128  # denoiser channels
MOTION_DIM = len(config.MOTION)
PAD = (config.N_FFT - config.MEL_HOP) // 2  # so that samples / MEL_HOP frames cover the window


def mel_filters() -> np.ndarray:
    """Triangular mel filters (HTK scale), [N_MELS, N_FFT // 2 + 1], each band summing to 1."""
    def hz_to_mel(f):
        return 2595 * np.log10(1 + f / 700)

    bins = np.linspace(0, config.RATE / 2, config.N_FFT // 2 + 1)
    mels = np.linspace(hz_to_mel(60), hz_to_mel(7600), config.N_MELS + 2)
    edges = 700 * (10 ** (mels / 2595) - 1)
    fb = np.zeros((config.N_MELS, len(bins)))
    for m in range(config.N_MELS):
        lo, mid, hi = edges[m : m + 3]
        fb[m] = np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
        if fb[m].sum() == 0:  # a band narrower than a bin takes its nearest bin
            fb[m, np.argmin(abs(bins - mid))] = 1
        fb[m] /= fb[m].sum()
    return fb.astype(np.float32)


class AudioEncoder(nn.Module):
    """audio [B, samples] (16 kHz) → features [B, samples / HOP, FEAT] at 25 Hz."""

    def __init__(self) -> None:
        super().__init__()
        n = np.arange(config.N_FFT)
        k = np.arange(config.N_FFT // 2 + 1)[:, None]
        win = np.hanning(config.N_FFT + 1)[:-1]
        ang = 2 * np.pi * k * n / config.N_FFT
        basis = np.concatenate([np.cos(ang) * win, -np.sin(ang) * win])[:, None, :]
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.float32))
        self.register_buffer("mel", torch.from_numpy(mel_filters()))
        per_frame = config.HOP // config.MEL_HOP  # mel frames per video frame
        self.net = nn.Sequential(
            nn.Conv1d(config.N_MELS, 96, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(96, 96, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(96, 96, per_frame, stride=per_frame),
            nn.GELU(),
            nn.Conv1d(96, FEAT, 3, padding=1),
        )

    def logmel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, samples] → [B, N_MELS, samples / MEL_HOP]: frame j covers the samples from
        j·MEL_HOP − PAD, zeros outside the window."""
        return self.logmel_padded(F.pad(audio, (PAD, PAD)))

    def logmel_padded(self, x: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(x[:, None], self.basis, stride=config.MEL_HOP)
        bins = config.N_FFT // 2 + 1
        power = spec[:, :bins] ** 2 + spec[:, bins:] ** 2
        # log10 of mel power, shifted so that speech sits around 0 and silence near -3
        return (torch.log10(torch.einsum("mk,bkt->bmt", self.mel, power) + config.EPS) + 2.0) / 2.0

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.features(self.logmel(audio))

    def features(self, logmel: torch.Tensor) -> torch.Tensor:
        return self.net(logmel).transpose(1, 2)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t[:, None] * 1000.0 * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class Block(nn.Module):
    def __init__(self, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(WIDTH, WIDTH, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(WIDTH, WIDTH, 3, padding=1)
        self.film = nn.Linear(WIDTH, 2 * WIDTH)
        self.norm = nn.GroupNorm(8, WIDTH)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        y = self.norm(h) * (1 + scale) + shift
        y = self.conv2(F.gelu(self.conv1(F.gelu(y))))
        return h + y


class Denoiser(nn.Module):
    """One flow-matching step. The chunk sits in an 11-frame sequence: the previous chunk's tail
    (CONTEXT frames), the noisy chunk (CHUNK), and the lookahead (no motion yet), each frame with
    its audio features and a one-hot of which of the three it is."""

    def __init__(self) -> None:
        super().__init__()
        role = torch.zeros(config.WINDOW, 3)
        role[: config.CONTEXT, 0] = 1
        role[config.CONTEXT : config.CONTEXT + config.CHUNK, 1] = 1
        role[config.CONTEXT + config.CHUNK :, 2] = 1
        self.register_buffer("role", role.T[None])
        self.inp = nn.Conv1d(MOTION_DIM + 3 + FEAT, WIDTH, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.GELU(), nn.Linear(WIDTH, WIDTH))
        self.blocks = nn.ModuleList(Block(d) for d in (1, 2, 4, 1, 2, 4))
        self.out = nn.Conv1d(WIDTH, MOTION_DIM, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, audio, prev):
        """x [B, CHUNK, 9], t [B] in [0, 1), audio [B, WINDOW, FEAT], prev [B, CONTEXT, 9] →
        velocity [B, CHUNK, 9]."""
        b = x.shape[0]
        ahead = torch.zeros(b, config.LOOKAHEAD, MOTION_DIM, dtype=x.dtype)
        motion = torch.cat([prev, x, ahead], dim=1).transpose(1, 2)
        h = torch.cat([motion, self.role.expand(b, -1, -1), audio.transpose(1, 2)], dim=1)
        h = self.inp(h)
        emb = self.time(timestep_embedding(t, WIDTH))
        for block in self.blocks:
            h = block(h, emb)
        v = self.out(F.gelu(h))
        return v[:, :, config.CONTEXT : config.CONTEXT + config.CHUNK].transpose(1, 2)
