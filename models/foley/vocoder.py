#!/usr/bin/env python3
"""The foley package's trained vocoder: the normalised log-mel latent (48 bands, 50 Hz) back to
16 kHz audio, replacing the Griffin-Lim decoder (common.py), which leaves a broadband floor
between events and dulls attacks.

Vocos-style (Siuzdak 2023): no upsampling convolutions; a stack of ConvNeXt blocks at the
latent's own rate predicts, for each latent frame, the two STFT frames (512-point, hop 160) it
covers as log-magnitude and phase, and a fixed inverse STFT (ConvTranspose with the DFT basis)
makes the waveform. It is causal (left-padded convolutions, each synthesis window starting at
its frame), so a streaming package can decode hop by hop with the latent before the hop as
context and get exactly the samples a whole decode would: no seam at a hop boundary.

It looks LOOKAHEAD latent frames ahead: its output is the audio DELAY samples before the latent
frame it is at (trained so). Without it, a synthesis window that starts before an attack must
keep that attack out of its first samples while its latent frame barely shows it: the first
version, strictly causal, rang in 10-20 ms before each attack, 60-80 dB down; with one frame of
lookahead that ring is 30 dB lower. A streaming model whose latent runs LOOKAHEAD frames ahead
of its audio (stream.py) hides the lag inside its video lookahead.

Trained without an adversary, on magnitude losses at four STFT resolutions, the log-mel itself
and the energy envelope: small and fast enough to run in every window and hop.

Data: every recording the project may use: the sound library's train split and the sound-effect
files it does not use (supertuxkart, Freedoom, freedesktop), and recorded speech (KLettres,
~20 languages). Held out: the library's held-out recordings (the ones the Griffin-Lim figure
was measured on) and every tenth KLettres file.

    py=~/.local/share/gst-generative/train-venv/bin/python
    $py models/foley/vocoder.py corpus            # ~2 min: .cache/vocoder/{train,heldout}.npz
    $py models/foley/vocoder.py train --minutes 70   # resumable (.cache/vocoder/vocoder.pt)
    $py models/foley/vocoder.py evaluate          # LSD on held-out recordings, vs Griffin-Lim
    $py models/foley/vocoder.py export            # decoder.onnx of the windowed package
    $py models/foley/vocoder.py picture           # docs/vocoder.png

Every command takes `--latent latents/NAME.json` to work on a candidate latent instead of the
shipped one (latent_study.py): its own checkpoint (.cache/vocoder/vocoder-NAME.pt) and snapshot
(snapshots/vocoder-NAME.pt). `train --absolute` turns a vocoder to absolute phase
(phase_advance: a steady sound becomes a steady tone, not a comb at the latent's frame rate),
`train --grow B H` adds blocks and a head hidden layer (both start as the same function),
`train --validation` keeps the validation recordings (validation_files) out, and `validate`
scores them: settings are compared there, never on the held-out recordings. `validate` and
`evaluate --stream STEPS` (and `picture`) decode hop by hop as a streaming package does, with
STEPS Griffin-Lim steps after the vocoder (HopGriffinLim; 0: none). `train --detail-dropout P`
and `--hedge P` (a nested latent's detail zeroed, latents blurred in time, in a share P of the
examples) teach a vocoder to decode what the streaming model generates (the bundled package's is
`--variant hedge`).
"""

import argparse
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import snapshot
from common import (Frontend, GriffinLimDecoder, latent_channels, latent_stats, log_spectral_distance, nesting,
                    silent_latent, stft_basis, unnest)
from config import CACHE, EPS, HOP, N_FFT, N_MELS, RATE, VOCODER_LOOKAHEAD, VOCODER_PHASE_PERIOD

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import sounds  # noqa: E402

DIR = CACHE / "vocoder"
BINS = N_FFT // 2 + 1
CROP = 64  # latent frames per training example (1.28 s)
WIDTH, BLOCKS = 128, 4
LOOKAHEAD = VOCODER_LOOKAHEAD  # latent frames the output lags the latent by
DELAY = LOOKAHEAD * 2 * HOP  # 320 samples (20 ms)


class Latent:
    """Which latent a vocoder decodes, by its stats (common.latent_stats): the shipped one or a
    candidate (latents/NAME.json, latent_study.py), each with its own checkpoint and snapshot.
    A `variant` (`--variant`, e.g. "gta") is another vocoder of the same latent, with its own
    checkpoint and snapshot, whose training starts from the plain one's weights (`base`)."""

    def __init__(self, stats=None, variant=None):
        self.stats = stats or latent_stats()
        name = self.stats.get("name")
        self.shipped = name is None
        # A nested latent (common.nest) is decoded by its detail latent's vocoder: its weights.
        self.detail = Latent(self.stats["detail"], variant) if "coarse" in self.stats else None
        self.base = Latent(stats) if variant else None
        suffix = ("" if name is None else f"-{name}") + (f"-{variant}" if variant else "")
        self.checkpoint = self.detail.checkpoint if self.detail else DIR / f"vocoder{suffix}.pt"
        self.snapshot = self.detail.snapshot if self.detail else snapshot.SNAPSHOTS / f"vocoder{suffix}.pt"
        self.channels = latent_channels(self.stats)

    def vocoder(self, state=None, grow=(0, 0), absolute=False):
        """A vocoder for this latent, shaped like `state` (its blocks, its head's hidden layer,
        its phase reference) and untrained, or grown by `grow` = (blocks, head hidden width)
        more, or turned to `absolute` phase: a candidate's predicts over MelBase. A nested
        latent's is its detail latent's (the network its checkpoint holds; `load` puts it behind
        `Unnested`)."""
        if self.detail:
            return self.detail.vocoder(state, grow, absolute)
        blocks, hidden, was_absolute = Vocoder.shape_of(state) if state else (BLOCKS, 0, False)
        return Vocoder(blocks=blocks + grow[0], hidden=hidden + grow[1], channels=self.channels,
                       base=None if self.shipped else self.stats, absolute=was_absolute or absolute)


SHIPPED = Latent()
CHECKPOINT = SHIPPED.checkpoint


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


def causal(x, k):
    """Left padding for a kernel of `k`: a frame sees itself and the frames before it."""
    return F.pad(x, (k - 1, 0))


class ConvNeXt(nn.Module):
    """Causal depthwise conv (k = 7), LayerNorm over channels, pointwise MLP, layer scale,
    residual."""

    def __init__(self, width):
        super().__init__()
        self.dw = nn.Conv1d(width, width, 7, groups=width)
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 2 * width)
        self.down = nn.Linear(2 * width, width)
        self.scale = nn.Parameter(torch.full((width,), 0.1))

    def forward(self, x):
        y = self.dw(causal(x, 7)).transpose(1, 2)
        y = self.down(F.gelu(self.up(self.norm(y))))
        return x + (self.scale * y).transpose(1, 2)


class Istft(nn.Module):
    """(re, im) [B, BINS, 2T] → waveform [B, 2T · HOP], causally: STFT frame g's window covers
    samples [g·HOP, g·HOP + N_FFT), so a sample only gets frames at or before its own, and a
    stream decoded hop by hop (with the latent before the hop as context) is the same as one
    decoded whole: no seam. The window's overlap-added square is divided out."""

    def __init__(self):
        super().__init__()
        basis, win = stft_basis()
        self.register_buffer("basis", basis)
        scale = torch.full((BINS, 1), 2.0 / N_FFT)
        scale[0] = scale[-1] = 1.0 / N_FFT
        self.register_buffer("scale", scale)
        self.win = win

    def window_sum_square(self, frames):
        """The windows' overlap-added square over `frames` frames' samples, (frames − 1) · HOP +
        N_FFT long."""
        wss = np.zeros((frames - 1) * HOP + N_FFT)
        for f in range(frames):
            wss[f * HOP: f * HOP + N_FFT] += self.win ** 2
        return wss

    def inv_wss(self, frames):
        wss = self.window_sum_square(frames)[: frames * HOP]
        return torch.tensor(1.0 / np.maximum(wss, 1e-3), dtype=torch.float32)

    def forward(self, re, im, inv_wss):
        spec = torch.cat([re * self.scale, im * self.scale], dim=1)
        x = F.conv_transpose1d(spec, self.basis, stride=HOP)[:, 0]
        return x[:, : re.shape[-1] * HOP] * inv_wss


class MelBase(nn.Module):
    """The log-magnitudes [B, BINS, 2T] that latent z [B, channels, T] gives each STFT frame the
    vocoder makes, read straight off its mel bands (the filters' pseudo-inverse, as Griffin-Lim
    reads them). A vocoder with a base predicts a correction to it: the base carries every band
    of a latent wider than the vocoder (256 channels through 128), which its convolutions alone
    lost (the first mel128x2 vocoder scored what the 48-band one did). The vocoder's STFT frames
    2f and 2f + 1 are the latent's STFT frames 2f − 1 and 2f (its output lags by DELAY, its
    windows start at their frame: checked against the recordings, this shift matches best)."""

    def __init__(self, stats):
        super().__init__()
        from common import mel_filters
        self.bands, self.pooled = stats.get("bands", N_MELS), stats.get("pooled", True)
        self.register_buffer("pinv", torch.linalg.pinv(torch.tensor(mel_filters(self.bands))))
        self.register_buffer("mu", torch.tensor(stats["mean"], dtype=torch.float32)[:, None])
        self.register_buffer("sigma", torch.tensor(stats["std"], dtype=torch.float32)[:, None])

    def forward(self, z):
        mel = torch.clamp(torch.exp(z * self.sigma + self.mu) - EPS, min=0.0)
        first, second = (mel, mel) if self.pooled else (mel[:, : self.bands], mel[:, self.bands:])
        before = F.pad(second, (1, 0))[:, :, :-1]  # frame 2f − 1: the second of frame f − 1
        frames = torch.stack([before, first], dim=-1).flatten(2)  # [B, bands, 2T]
        return 0.5 * torch.log(torch.clamp(torch.matmul(self.pinv, frames), min=1e-10))


PHASE_PERIOD = VOCODER_PHASE_PERIOD  # latent frames (200 ms): the stream's hop (stream.StreamDecoder checks)


def phase_advance():
    """[BINS, 2 · PHASE_PERIOD]: for STFT frame g (mod the period) and bin k, the phase a
    sinusoid at the bin's frequency, on a 5 Hz grid (the period's), has advanced by g's
    start. A vocoder with absolute phase adds it to the phase it predicts, so that a constant
    prediction over frames is a steady tone. Without it a steady sound's frames, alike in the
    latent, get alike frame-local phases, and the frames' overlap-add repeats every latent frame:
    a steady 1234 Hz tone came out as a comb of 50 Hz harmonics (1200, 1250, 1300 Hz) with
    nothing at 1234 Hz. The grid's 5 Hz (not the bins' 31.25 Hz) makes the advance repeat every
    PHASE_PERIOD latent frames, so a stream decoding hop by hop (its calls start at multiples
    of it) rotates each frame as a whole decode does."""
    period = 2 * PHASE_PERIOD * HOP  # samples
    k = np.arange(BINS)[:, None]
    g = np.arange(2 * PHASE_PERIOD)[None]
    cycles = np.round(k * period / N_FFT)  # the bin's frequency in whole cycles per period
    return torch.tensor(2 * np.pi * ((cycles * g * HOP / period) % 1.0), dtype=torch.float32)


class Vocoder(nn.Module):
    """Normalised log-mel latent [B, channels, T] (50 Hz) → waveform [B, T · 2 · HOP]. Causal:
    the samples of latent frame f depend on frames ≤ f only (`receptive`: 31 frames). With
    `base` (the latent's stats), its log-magnitudes are a correction to MelBase's."""

    def __init__(self, width=WIDTH, blocks=BLOCKS, channels=N_MELS, base=None, hidden=0, absolute=False):
        super().__init__()
        self.base = MelBase(base) if base else None
        self.inp = nn.Conv1d(channels, width, 7)
        self.norm = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(ConvNeXt(width) for _ in range(blocks))
        self.out_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 2 * 2 * BINS)  # two STFT frames: log-magnitude and phase
        # A hidden layer beside the linear head (`hidden` wide): the head reads `width` features
        # for 2 × 514 magnitudes and phases per latent frame.
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 2 * 2 * BINS)) if hidden else None
        self.istft = Istft()
        self.lengths = {}
        if absolute:
            self.register_buffer("advance", phase_advance())

    @staticmethod
    def shape_of(state):
        """(blocks, head hidden width, absolute phase) of a Vocoder state dict."""
        blocks = sum(1 for k in state if k.startswith("blocks.") and k.endswith(".dw.weight"))
        return blocks, state["mlp.0.weight"].shape[0] if "mlp.0.weight" in state else 0, "advance" in state

    def grown_from(self, state):
        """Loads a smaller vocoder's weights so that this one computes the same function: its
        extra blocks start with zero layer scale (identity), its head's hidden layer with zero
        output; training goes on from there (the smaller one's plateau, not from scratch)."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        old_blocks, old_hidden, _ = self.shape_of(state)
        assert old_hidden == 0 or not any(k.startswith("mlp.") for k in missing), "the head's hidden layer grows only from none"
        with torch.no_grad():
            for b in self.blocks[old_blocks:]:
                b.scale.zero_()
            if self.mlp is not None and old_hidden == 0:
                self.mlp[2].weight.zero_()
                self.mlp[2].bias.zero_()
        return self

    @property
    def receptive(self):
        """Latent frames a frame's samples depend on, itself included."""
        return 1 + sum(c.kernel_size[0] - 1 for c in (self.inp, *(b.dw for b in self.blocks)))

    def spectrum(self, z, keep=None, start=0):
        """(re, im) [B, BINS, 2T] of the STFT frames of z's frames, or of its last `keep`; z's
        first frame is `start` (mod PHASE_PERIOD) frames into the stream (absolute phase)."""
        h = self.inp(causal(z, 7))
        h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        for b in self.blocks:
            h = b(h)
        if keep is not None:
            h = h[:, :, -keep:]
        h = self.out_norm(h.transpose(1, 2))
        y = self.head(h) if self.mlp is None else self.head(h) + self.mlp(h)  # [B, T, 4 · BINS]
        bsz, t = y.shape[0], y.shape[1]
        y = y.reshape(bsz, t * 2, 2 * BINS).transpose(1, 2)  # [B, 2 · BINS, 2T]
        logmag, phase = y[:, :BINS], y[:, BINS:]
        if hasattr(self, "advance"):
            # z's first frame is `start` frames past a multiple of PHASE_PERIOD; the kept
            # frames are its last.
            frames = 2 * start + 2 * z.shape[-1]
            reps = -(-frames // self.advance.shape[-1])
            phase = phase + self.advance.repeat(1, reps)[:, frames - phase.shape[-1]: frames]
        if self.base is not None:
            logmag = logmag + self.base_log(z, keep)
        mag = torch.exp(torch.clamp(logmag, max=8.0))
        return mag * torch.cos(phase), mag * torch.sin(phase)

    def base_log(self, z, keep=None):
        """The log-magnitudes [B, BINS, 2T] MelBase reads off z's frames, or its last `keep`
        (kept frames need the latent frame before them, not the whole context)."""
        return self.base(z) if keep is None else self.base(z[:, :, -keep - 1:])[:, :, 2:]

    def target(self, z, keep=None):
        """HopGriffinLim's target: `base_log`'s magnitudes."""
        return torch.exp(self.base_log(z, keep))

    def forward(self, z, inv_wss=None, keep=None, start=0):
        """The waveform of z's frames, or of its last `keep` frames (whose first samples lack
        the windows of the frames before: a caller keeps what comes after them); z's first
        frame is `start` frames into the stream."""
        re, im = self.spectrum(z, keep, start)
        if inv_wss is None:
            frames = re.shape[-1]
            if frames not in self.lengths:
                self.lengths[frames] = self.istft.inv_wss(frames)
            inv_wss = self.lengths[frames].to(z.device)
        return self.istft(re, im, inv_wss)


class Unnested(nn.Module):
    """A nested latent's vocoder (common.nest): its detail latent (common.unnest, exact) through
    that latent's vocoder, `inner`. Takes and gives what a Vocoder does."""

    def __init__(self, inner, stats, coarse_only=False):
        super().__init__()
        self.inner = inner
        # A diagnosis (export_stream.py --coarse-only): the detail channels ignored, the detail
        # latent as the coarse one predicts it.
        self.coarse_only = coarse_only
        map_, scale = nesting(stats)
        self.register_buffer("map", map_)
        self.register_buffer("scale", scale)

    @property
    def receptive(self):
        return self.inner.receptive

    @property
    def istft(self):
        return self.inner.istft

    def unnested(self, z):
        """The detail latent the inner vocoder decodes from nested latent z."""
        if self.coarse_only:
            z = torch.cat([z[:, : self.map.shape[1]], torch.zeros_like(z[:, self.map.shape[1]:])], dim=1)
        return unnest(z, self.map, self.scale)

    @property
    def base(self):
        return self.inner.base

    def spectrum(self, z, keep=None, start=0):
        return self.inner.spectrum(self.unnested(z), keep, start)

    def target(self, z, keep=None):
        return self.inner.target(self.unnested(z), keep)

    def forward(self, z, inv_wss=None, keep=None, start=0):
        return self.inner(self.unnested(z), inv_wss, keep, start)


SPILL_FRAMES = -(-(N_FFT - HOP) // HOP)  # STFT frames before a hop whose windows reach into it (3)


class HopGriffinLim(nn.Module):
    """Fast Griffin-Lim steps (Perraudin et al. 2013, momentum 0.99) over one hop's STFT frames:
    (re, im) [B, BINS, F], the vocoder's spectra of the F frames that reach into the hop
    (SPILL_FRAMES before it, then the hop's own), and the target magnitudes `mag` (MelBase: the
    latent's bands read straight, which the vocoder's own magnitudes are not, since they were
    trained through its inverse STFT and not to be consistent) → the hop's samples.

    A frame-parallel vocoder gives each frame a phase of its own and cannot make overlapping
    frames agree; the steps do. A stream cannot revise what it has played, and a frame's window
    spans a hop boundary, so the SPILL_FRAMES that straddle each boundary (the hop's first
    `SPILL_FRAMES` and its last) keep the vocoder's spectra: both calls that play a part of such
    a frame recompute the same spectrum from the latent, every frame keeps one spectrum over its
    whole window, and the decoder needs nothing but the latent (refining them too, with the
    played samples held as real-time iterative spectrogram inversion does, played a frame's
    first samples from one spectrum and its last from another: a seam at every hop). With no
    steps it is the vocoder's own output."""

    def __init__(self, steps, frames, momentum=0.99):
        super().__init__()
        self.steps, self.momentum, self.frames = steps, momentum, frames
        # The inverse STFT's windowed DFT basis and one-sided weights, as matrices: [2 · BINS,
        # N_FFT] (real parts, then imaginary).
        istft = Istft()
        basis = istft.basis[:, 0]
        self.register_buffer("analysis", basis.T.contiguous())
        self.register_buffer("synthesis_basis", basis * torch.cat([istft.scale, istft.scale]))
        wss = istft.window_sum_square(frames)
        # Past the hop's end only its own frames cover the samples (the next hop's are not known
        # yet): the least-squares estimate from them, which the steps' analysis reads.
        self.register_buffer("inv_wss", torch.tensor(1.0 / np.maximum(wss, 1e-6), dtype=torch.float32))
        self.parts = -(-N_FFT // HOP)  # a window spans 4 hops' worth of samples (the last in part)
        self.free = frames - 2 * SPILL_FRAMES  # the frames the steps change
        self.length = (frames - 1) * HOP + N_FFT

    def frame(self, y, frames):
        """[B, S] → [B, frames, N_FFT], frame g from sample g · HOP: `parts` strided views of
        whole hops side by side (reshapes, no gather)."""
        y = F.pad(y, (0, (frames + self.parts - 1) * HOP - y.shape[1]))
        # (-1, not the batch's size: a constant shape, no shape arithmetic in the graph)
        views = [y[:, j * HOP: (j + frames) * HOP].reshape(-1, frames, HOP) for j in range(self.parts)]
        return torch.cat(views, dim=2)[:, :, :N_FFT]

    def overlap_add(self, frames):
        """[B, frames, N_FFT] → [B, (frames − 1) · HOP + N_FFT], the inverse of `frame`'s layout."""
        f = frames.shape[1]
        frames = F.pad(frames, (0, self.parts * HOP - N_FFT))
        y = 0
        for j in range(self.parts):
            y = y + F.pad(frames[:, :, j * HOP: (j + 1) * HOP], (0, 0, j, self.parts - 1 - j))
        return y.reshape(-1, (f + self.parts - 1) * HOP)[:, : (f - 1) * HOP + N_FFT]

    def synthesis(self, spec):
        return self.overlap_add(torch.matmul(spec, self.synthesis_basis))

    def forward(self, re, im, mag):
        spec = torch.cat([re, im], dim=1).transpose(1, 2)  # [B, frames, 2 · BINS]
        first, last = SPILL_FRAMES, SPILL_FRAMES + self.free
        # The kept frames' share of the samples, once; the free frames' is added at each step.
        fixed = F.pad(spec[:, :first], (0, 0, 0, self.frames - first)) + F.pad(spec[:, last:], (0, 0, last, 0))
        fixed, start = self.synthesis(fixed), first * HOP
        pad = (start, self.length - start - (self.free - 1) * HOP - N_FFT)

        def signal(free):
            return (fixed + F.pad(self.synthesis(free), pad)) * self.inv_wss

        y = t = signal(spec[:, first:last])
        mag = mag.transpose(1, 2)[:, first:last]
        for n in range(self.steps):
            # The free frames' windows start at the hop: the samples before it are not read.
            s = torch.matmul(self.frame(y[:, start:], self.free), self.analysis)
            sr, si = s[:, :, :BINS], s[:, :, BINS:]
            gain = mag / torch.sqrt(sr * sr + si * si + 1e-10)
            before, t = t, signal(torch.cat([sr * gain, si * gain], dim=2))
            y = t if n == 0 else t + self.momentum * (t - before)
        # The last projection, not its extrapolation by the momentum, which is not the signal of
        # any spectra.
        return t[:, start: self.frames * HOP]


def decode(model, z, latent=SHIPPED):
    """The audio of latent z [B, channels, T] aligned with it: silence appended for the
    lookahead, the delay dropped."""
    pad = silent_latent(LOOKAHEAD, latent.stats).expand(z.shape[0], -1, -1)
    return model(torch.cat([z, pad], dim=2))[:, DELAY:]


class Exported(nn.Module):
    """The decoder graph for a fixed number of latent frames (the window's): the window-sum
    normalisation is a constant of the graph."""

    def __init__(self, vocoder, frames):
        super().__init__()
        self.vocoder = vocoder
        self.register_buffer("inv_wss", vocoder.istft.inv_wss(2 * (frames + LOOKAHEAD)))
        self.register_buffer("pad", silent_latent(LOOKAHEAD))

    def forward(self, z):
        pad = self.pad.expand(z.shape[0], -1, -1)
        return self.vocoder(torch.cat([z, pad], dim=2), self.inv_wss)[:, DELAY:]


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------


def corpus():
    """Decodes every usable recording to 16 kHz mono (peak-normalised, silence trimmed) and
    writes the train and held-out sets as concatenations with their file boundaries."""
    import scenes
    root = sounds.ROOT
    if not root.is_dir():
        sys.exit(f"{root} missing: run models/foley/data/fetch.sh first")
    train, heldout = [], []
    # The sound library: its own split (held-out files are what the decoder figure is
    # measured on; single-recording classes are split by time).
    for split, out in (("train", train), ("heldout", heldout)):
        for cls, items in scenes.Library(split).sounds.items():
            out += [("library", cls, a) for a in items]
    used_stk = {n for srcs in sounds.CLASSES.values() for p, n in srcs if p == "stk"}
    used_fdt = {n for srcs in sounds.CLASSES.values() for p, n in srcs if p == "freedesktop"}
    used_doom = {n for srcs in sounds.CLASSES.values() for p, n in srcs if p == "freedoom"}
    for path in sorted((root / sounds.STK).glob("*.ogg")):
        if path.name not in used_stk:
            train.append(("supertuxkart", path.name, sounds.decode_with_gstreamer(path)))
    for path in sorted((root / sounds.FDT).glob("*.oga")):
        if path.name not in used_fdt:
            train.append(("freedesktop", path.name, sounds.decode_with_gstreamer(path)))
    for name, lump in sorted(sounds.freedoom_lumps(root / sounds.WAD).items()):
        if name.startswith("DS") and name not in used_doom:
            try:
                train.append(("freedoom", name, sounds.decode_dmx(lump)))
            except (ValueError, struct.error):
                pass  # not a DMX sound (PC speaker lumps, empty markers)
    speech = sorted((root / "usr/share/klettres").rglob("*.ogg"))
    broken = 0
    for k, path in enumerate(speech):
        try:
            audio = sounds.decode_with_gstreamer(path)
        except subprocess.CalledProcessError:
            broken += 1  # a few files GStreamer's Ogg demuxer refuses
            continue
        (heldout if k % 10 == 9 else train).append(("klettres", str(path.relative_to(root)), audio))
        if k % 200 == 0:
            print(f"speech {k}/{len(speech)}", flush=True)
    print(f"speech: {len(speech) - broken} files decoded, {broken} refused by the decoder")
    DIR.mkdir(parents=True, exist_ok=True)
    for name, items in (("train", train), ("heldout", heldout)):
        items = [(s, n, sounds.trim_and_normalise(a)) for s, n, a in items]
        items = [(s, n, a) for s, n, a in items if len(a) >= RATE // 10]
        audio = np.concatenate([a for _, _, a in items]).astype(np.float32)
        bounds = np.cumsum([0] + [len(a) for _, _, a in items])
        np.savez(DIR / f"{name}.npz", audio=audio, bounds=bounds,
                 source=np.array([s for s, _, _ in items]), name=np.array([n for _, n, _ in items]))
        minutes = len(audio) / RATE / 60
        kinds = {s: sum(1 for x, _, _ in items if x == s) for s in {s for s, _, _ in items}}
        print(f"{name}: {len(items)} recordings, {minutes:.1f} min {kinds}")


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def stft_mag(x, n_fft):
    win = torch.hann_window(n_fft)
    return torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True).abs()


def envelope(x, n=40):
    """Log energy in 2.5 ms steps: where an attack starts and how steeply."""
    e = F.avg_pool1d(x[:, None] ** 2, n, n)[:, 0]
    return torch.log(e + 1e-7)


def spectral_distance(y, x, n_fft=512, range_db=60.0):
    """common.log_spectral_distance as a loss, per example of a batch: the dB RMS difference of
    the power spectra per frame, over the frames within `range_db` of the example's loudest,
    power below that range floored in both."""
    win = torch.hann_window(n_fft)
    py = torch.stft(y, n_fft, n_fft // 4, window=win, return_complex=True).abs() ** 2
    px = torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True).abs() ** 2
    floor = px.amax(dim=(1, 2), keepdim=True) * 10 ** (-range_db / 10) + 1e-12
    d = 10 * (torch.log10(torch.maximum(px, floor)) - torch.log10(torch.maximum(py, floor)))
    per_frame = torch.sqrt(d.pow(2).mean(dim=1) + 1e-4)
    energy = px.sum(dim=1)
    keep = (energy >= energy.amax(dim=1, keepdim=True) * 10 ** (-range_db / 10)).float()
    return ((per_frame * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1)).mean()


def loss_fn(y, x, front, lsd_weight=0.0):
    """Log-magnitude L1 and spectral convergence at four resolutions (the 128-point one sees an
    attack to 8 ms), the log-mel L1, and the log energy envelope at 2.5 ms: magnitude losses at
    coarse resolutions alone let attacks smear over a frame, which the onset detector (and a
    listener) hears as soft or late. With `lsd_weight`, also the bar's own distance
    (`spectral_distance`), which floors what is 60 dB down where the log L1 does not."""
    total = lsd_weight * spectral_distance(y, x) if lsd_weight else 0.0
    for n in (128, 256, 512, 1024):
        my, mx = stft_mag(y, n), stft_mag(x, n)
        total = total + F.l1_loss(torch.log(my + 1e-5), torch.log(mx + 1e-5))
        total = total + torch.norm(mx - my) / (torch.norm(mx) + 1e-7)
    total = total + F.l1_loss(front.log_mel(y), front.log_mel(x))
    total = total + 0.5 * F.l1_loss(envelope(y), envelope(x))
    return total


def validation_files(source):
    """Indices of the validation recordings in the training corpus: every tenth sound effect
    (19 of 190). A run with `--validation` trains without them, and `vocoder.py validate`
    scores on them: settings are chosen there, never on the held-out recordings."""
    effects = np.nonzero(source != "klettres")[0]
    return effects[4::10]


def batches(audio, bounds, speech, batch, rng, skip=()):
    """Random crops of CROP latent frames, at a random level (−24..0 dB), mostly not silent;
    half from sound effects, half from speech (which has 9 files in 10); never from `skip`."""
    n = CROP * 2 * HOP
    allowed = np.ones(len(speech), bool)
    allowed[list(skip)] = False
    groups = [np.nonzero(~speech & allowed)[0], np.nonzero(speech & allowed)[0]]
    while True:
        out = np.zeros((batch, n), np.float32)
        for i in range(batch):
            for _ in range(8):
                group = groups[i % 2]
                k = group[rng.integers(len(group))]
                lo, hi = bounds[k], bounds[k + 1]
                start = rng.integers(lo, max(lo + 1, hi - n // 2))
                piece = audio[start: min(start + n, hi)]
                if np.abs(piece).max() > 0.05:
                    break
            out[i, : len(piece)] = piece * 10 ** (rng.uniform(-24, 0) / 20)
        yield torch.tensor(out)


def hedged(z, share, rng, most=0.4):
    """A share of latents [B, C, T] blurred in time by a random three-tap kernel (each
    neighbour's weight up to `most`): the hedge a flow sampler leaves on an attack whose frame it
    is unsure of, a level partly in the frame before and after. A vocoder trained to render the
    recording from it learns to sharpen the hedged attack, as the 48-band vocoder learnt to guess
    an attack's shape inside a frame."""
    b = z.shape[0]
    w = torch.tensor(rng.uniform(0, most, (b, 2)) * (rng.random((b, 1)) < share), dtype=z.dtype, device=z.device)
    before = torch.cat([z[..., :1], z[..., :-1]], dim=-1)
    after = torch.cat([z[..., 1:], z[..., -1:]], dim=-1)
    a, c = w[:, 0, None, None], w[:, 1, None, None]
    return (1 - a - c) * z + a * before + c * after


WARMUP = 300  # steps of a fresh optimiser's rising rate: Adam's first steps are lr-sized on every weight


def gta_batches(latent, batch, rng, path):
    """Random crops of CROP frames of the ground-truth-aligned pairs (gta.py): the streaming
    model's generated latent (its first channels the shipped latent's) and the audio it stands
    for. A streaming latent runs LOOKAHEAD frames ahead of its audio, as far as the vocoder's
    output lags its input: the vocoder's output over a crop is the crop's audio itself."""
    data = np.load(path)
    z, audio = data["latents"][:, : latent.channels], data["audio"]
    if z.shape[1] != latent.channels:
        raise SystemExit(f"{path.name} holds {z.shape[1]} latent channels, the latent has {latent.channels}")
    n = CROP * 2 * HOP
    while True:
        k = rng.integers(len(z), size=batch)
        c = rng.integers(z.shape[2] - CROP + 1, size=batch)
        yield (torch.tensor(np.stack([z[i, :, f: f + CROP] for i, f in zip(k, c)])),
               torch.tensor(np.stack([audio[i, f * n // CROP: f * n // CROP + n] for i, f in zip(k, c)])))


def train(minutes, batch, lr, latent=SHIPPED, lsd_weight=0.0, grow=(0, 0), validation=False, absolute=False,
          gta_share=0.0, gta_data=None, detail_dropout=0.0, hedge=0.0):
    torch.set_num_threads(2)
    decoded = latent  # the latent a package decodes (the pairs', the dropout's)
    if latent.detail:  # a nested latent's vocoder is its detail latent's, trained there
        print(f"training the vocoder of the detail latent {latent.detail.stats['name']}")
        latent = latent.detail
    data = np.load(DIR / "train.npz")
    audio, bounds = data["audio"], data["bounds"]
    speech = data["source"] == "klettres"
    front = Frontend(latent.stats)
    step, spent, ck, resume = 0, 0.0, None, False
    if latent.checkpoint.exists():
        ck, resume = torch.load(latent.checkpoint), True
    elif latent.snapshot.exists():  # a new machine: the weights kept in git, a fresh optimiser
        ck = torch.load(latent.snapshot)
        print(f"starting from the snapshot {latent.snapshot.name}")
    elif latent.base:  # a variant's first run: the plain vocoder's weights
        base = latent.base.checkpoint if latent.base.checkpoint.exists() else latent.base.snapshot
        ck = {k: v for k, v in torch.load(base).items() if k != "opt"}
        print(f"starting the variant from {base.name}")
    model = latent.vocoder(ck["model"] if ck else None, grow, absolute)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    fresh = True
    if ck is not None:
        step, spent = ck["step"], ck["spent"]
        if any(grow) or (absolute and "advance" not in ck["model"]):
            model.grown_from(ck["model"])
            print(f"grown by {grow[0]} blocks and a {grow[1]}-wide head layer, absolute phase {absolute}, "
                  f"from step {step} ({spent / 60:.1f} min)")
        else:
            model.load_state_dict(ck["model"])
            if resume and ck.get("lookahead", 0) == LOOKAHEAD:
                opt.load_state_dict(ck["opt"])
                fresh = False
                print(f"resuming at step {step} ({spent / 60:.1f} min)")
            elif resume:  # the strictly causal first version: its weights are a good start
                step = 0
                print(f"starting from a checkpoint with lookahead {ck.get('lookahead', 0)} ({spent / 60:.1f} min)")
    blocks, hidden, absolute = Vocoder.shape_of(model.state_dict())
    print(f"vocoder: {blocks} blocks, head hidden {hidden}, absolute phase {absolute}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, receptive {model.receptive} frames")
    skip = validation_files(data["source"]) if validation else ()
    rng = np.random.default_rng(step)
    start, last, first = time.time(), time.time(), step
    running = []
    # A share of each batch from the ground-truth-aligned pairs, decoded as a package decodes them.
    aligned = round(batch * gta_share)
    wrapped = Unnested(model, decoded.stats) if decoded.detail else model
    if aligned:
        gta = gta_batches(decoded, aligned, rng, gta_data)
        print(f"{aligned} of {batch} examples per batch ground-truth-aligned")
    if detail_dropout:
        # A nested latent's recordings with their detail channels zeroed in a share of the
        # examples: the vocoder then also decodes the coarse latent alone (the detail as the coarse
        # latent predicts it), as the 48-band vocoder does.
        if not decoded.detail:
            raise SystemExit("--detail-dropout: the latent is not a nested one")
        nested_front, coarse = Frontend(decoded.stats), latent_channels(decoded.stats["coarse"])
    for x in batches(audio, bounds, speech, batch - aligned, rng, skip):
        for g in opt.param_groups:  # this run's rate (a resumed optimiser's kept the first run's)
            g["lr"] = lr * min(1.0, (step - first + 1) / WARMUP) if fresh else lr
        with torch.no_grad():
            if detail_dropout:
                z = nested_front(x)
                keep = torch.tensor(rng.random((z.shape[0], 1, 1)) >= detail_dropout, dtype=torch.float32)
                z = torch.cat([z[:, :coarse], z[:, coarse:] * keep], dim=1)
            else:
                z = front(x)
            if hedge:
                z = hedged(z, hedge, rng)
        y = wrapped(z) if detail_dropout else model(z)
        loss = loss_fn(y[:, DELAY:], x[:, :-DELAY], front, lsd_weight)
        if aligned:
            gz, gx = next(gta)
            share = aligned / batch
            loss = (1 - share) * loss + share * loss_fn(wrapped(gz), gx, front, lsd_weight)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running.append(loss.item())
        now = time.time()
        if now - last > 60 or now - start > minutes * 60:
            spent += now - last
            last = now
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "spent": spent, "lookahead": LOOKAHEAD}, latent.checkpoint)
            print(f"step {step} loss {np.mean(running[-100:]):.3f} ({spent / 60:.1f} min)", flush=True)
        if now - start > minutes * 60:
            break


def load(latent=SHIPPED):
    """The trained vocoder: its checkpoint, or on a machine without one the snapshot in git."""
    path = latent.checkpoint if latent.checkpoint.exists() else latent.snapshot
    state = torch.load(path)["model"]
    model = latent.vocoder(state)
    model.load_state_dict(state)
    return (Unnested(model, latent.stats) if latent.detail else model).eval()


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def first_frames(data, k, frames):
    """Recording k of a corpus (train.npz, heldout.npz) as the decoder sees it: its first
    `frames` latent frames, zero-padded."""
    n = frames * 2 * HOP
    a = data["audio"][data["bounds"][k]: data["bounds"][k + 1]][:n]
    w = np.zeros(n, np.float32)
    w[: len(a)] = a
    return w


def heldout_clips(frames):
    """Held-out recordings as the decoder sees them (first_frames), by source."""
    data = np.load(DIR / "heldout.npz")
    clips = {}
    for k in range(len(data["bounds"]) - 1):
        clips.setdefault(str(data["source"][k]), []).append(first_frames(data, k, frames))
    return clips


def interval(v, rng):
    """Mean and 95 % bootstrap interval over recordings."""
    boot = [rng.choice(v, len(v)).mean() for _ in range(2000)]
    return v.mean(), *np.percentile(boot, [2.5, 97.5])


def streamed(voc, z, latent, refine=0):
    """The audio of latent z [1, channels, T] aligned with it, decoded hop by hop as a streaming
    package's decoder does (stream.StreamDecoder, with `refine` Griffin-Lim steps): zeros as
    the context before the first hop, silence after the end."""
    from stream import CTX, HOP_F, StreamDecoder
    dec = StreamDecoder(voc, latent.stats, refine=refine)
    z = torch.cat([torch.zeros(1, latent.channels, CTX), z, silent_latent(LOOKAHEAD + HOP_F, latent.stats)], 2)
    out = [dec(z[:, :, h: h + HOP_F], z[:, :, h - CTX: h]) for h in range(CTX, z.shape[2] - HOP_F + 1, HOP_F)]
    return torch.cat(out, 1)[:, DELAY:]


def decoded(voc, z, latent, stream):
    """Whole (`stream` None) or streamed with `stream` Griffin-Lim steps, as long as z's audio."""
    y = decode(voc, z, latent) if stream is None else streamed(voc, z, latent, stream)
    return y[0, : z.shape[-1] * 2 * HOP]


def validate(frames=200, latent=SHIPPED, stream=None):
    """The log-spectral distance on the validation recordings (validation_files: sound effects
    from the training corpus that a `--validation` run never trained on), the first `frames`
    latent frames of each, decoded whole or `stream`ed: where settings are compared."""
    data = np.load(DIR / "train.npz")
    front, voc = Frontend(latent.stats), load(latent)
    v = []
    for k in validation_files(data["source"]):
        x = torch.tensor(first_frames(data, k, frames))[None]
        with torch.no_grad():
            v.append(log_spectral_distance(decoded(voc, front(x), latent, stream), x[0]))
    mean, lo, hi = interval(np.array(v), np.random.default_rng(0))
    how = "whole" if stream is None else f"streamed, {stream} Griffin-Lim steps"
    print(f"validation effects LSD {mean:.2f} dB [{lo:.2f}, {hi:.2f}] over {len(v)} recordings ({how})")


def evaluate(frames=200, latent=SHIPPED, stream=None):
    """Log-spectral distance (common.log_spectral_distance) of encode → decode on held-out
    recordings, the vocoder against Griffin-Lim (the shipped latent's only), with a bootstrap
    interval over recordings."""
    front = Frontend(latent.stats)
    voc, gl = load(latent), GriffinLimDecoder(latent.stats) if latent.shipped else None
    rng = np.random.default_rng(0)
    for source, clips in heldout_clips(frames).items():
        rows = {"vocoder": [], "griffin-lim": []}
        for w in clips:
            x = torch.tensor(w)[None]
            with torch.no_grad():
                z = front(x)
                rows["vocoder"].append(log_spectral_distance(decoded(voc, z, latent, stream), x[0]))
                if frames == 200 and latent.shipped:
                    rows["griffin-lim"].append(log_spectral_distance(gl(z)[0], x[0]))
        for name, v in rows.items():
            if not v:
                continue
            mean, lo, hi = interval(np.array(v), rng)
            print(f"{source:10s} {name:12s} LSD {mean:.2f} dB [{lo:.2f}, {hi:.2f}] over {len(v)} recordings")


def streaming_check(latent=SHIPPED):
    """Causality in practice: a held-out clip decoded whole and decoded hop by hop as the
    streaming package's decoder does (`streamed`: the context's last frames and the hop) give
    the same samples."""
    voc, front = load(latent), Frontend(latent.stats)
    w = next(iter(heldout_clips(200).values()))[0]
    with torch.no_grad():
        z = front(torch.tensor(w)[None])
        whole, hops = decoded(voc, z, latent, None), decoded(voc, z, latent, 0)
    # The whole decode starts from nothing; the hop decode from silence: compare after the
    # receptive field.
    skip = 40 * 2 * HOP
    diff = (whole[skip:] - hops[skip:]).abs().max().item()
    print(f"hop-by-hop decode vs whole: max difference {diff:.2e} (peak {whole.abs().max().item():.2f})")
    return diff


def tones(latent=SHIPPED, frequencies=(440.0, 1234.0, 3000.0)):
    """Steady sine tones (4 s, −10 dB) encoded and decoded: the decoded second and third seconds'
    strongest spectral peaks (at least 20 Hz apart) and the level at the tone itself against
    the strongest. A vocoder whose phase repeats with the latent's frames answers a steady tone
    with a comb at its frame rate (phase_advance)."""
    front, voc = Frontend(latent.stats), load(latent)
    n = 200 * 2 * HOP
    t = np.arange(n) / RATE
    for f in frequencies:
        x = torch.tensor(0.3 * np.sin(2 * np.pi * f * t), dtype=torch.float32)[None]
        with torch.no_grad():
            y = decode(voc, front(x), latent)[0].numpy()
        seg = y[RATE: 3 * RATE]
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
        freqs = np.fft.rfftfreq(len(seg), 1 / RATE)
        peaks = []
        for i in np.argsort(spec)[::-1]:
            if all(abs(freqs[i] - q) > 20 for q in peaks):
                peaks.append(freqs[i])
            if len(peaks) == 4:
                break
        at = 20 * np.log10(spec[np.argmin(np.abs(freqs - f))] / spec.max() + 1e-12)
        print(f"tone {f:6.0f} Hz: strongest peaks {', '.join(f'{q:.0f}' for q in peaks)} Hz; "
              f"at the tone {at:6.1f} dB re the strongest")


def picture(path, latent=SHIPPED, stream=None):
    """docs/vocoder.png: for held-out recordings (four sound effects, two spoken letters), the
    spectrogram of the recording, of its latent decoded by Griffin-Lim and by the vocoder, top
    to bottom; the first 1.3 s of each. With a candidate `latent`, a fourth row: its own
    vocoder from its own latent, whole or `stream`ed (`decoded`)."""
    from pictures import colour, spectrogram, write_png
    front = Frontend(latent_stats())
    voc, gl = load(), GriffinLimDecoder(latent_stats())
    other = None if latent.shipped else (Frontend(latent.stats), load(latent))
    clips = heldout_clips(200)
    picks = clips["library"][:4] + clips["klettres"][:2]
    columns = []
    for w in picks:
        x = torch.tensor(w)[None]
        with torch.no_grad():
            z = front(x)
            rows = [w, gl(z)[0].numpy(), decode(voc, z)[0].numpy()]
            if other:
                rows.append(decoded(other[1], other[0](x), latent, stream).numpy())
        # The first 1.3 s: the held-out recordings are short, the rest of a window is silence.
        spec = [colour(spectrogram(r)[:, :160]) for r in rows]
        gap = np.full((4, spec[0].shape[1], 3), 255, np.uint8)
        columns.append(np.concatenate([part for r in spec for part in (r, gap)][:-1], 0))
        columns.append(np.full((columns[-1].shape[0], 6, 3), 255, np.uint8))
    write_png(path, np.concatenate(columns[:-1], 1))
    print(f"wrote {path}")


def export_window(out):
    """The windowed package's decoder.onnx: the vocoder on the window's latent frames."""
    from config import LATENT_FRAMES
    from export import export
    with torch.no_grad():
        export(Exported(load(), LATENT_FRAMES), (torch.randn(1, N_MELS, LATENT_FRAMES),), out / "decoder.onnx",
               ["latent"], ["waveform"], {"latent": {0: "batch"}, "waveform": {0: "batch"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["corpus", "train", "validate", "evaluate", "tones", "export", "picture"])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lsd-weight", type=float, default=0.0, help="train: weight of the bar's own distance in the loss")
    ap.add_argument("--grow", type=int, nargs=2, default=(0, 0), metavar=("BLOCKS", "HIDDEN"),
                    help="train: add blocks and a head hidden layer to the checkpoint's vocoder (same function at first)")
    ap.add_argument("--absolute", action="store_true",
                    help="train: turn the checkpoint's vocoder to absolute phase (phase_advance)")
    ap.add_argument("--validation", action="store_true", help="train: keep the validation recordings out (`validate` scores them)")
    ap.add_argument("--latent", type=Path, help="a candidate latent's stats (latents/NAME.json); default the shipped one")
    ap.add_argument("--variant", help="another vocoder of the latent (its own checkpoint and snapshot, -VARIANT)")
    ap.add_argument("--gta-share", type=float, default=0.0,
                    help="train: the share of each batch from the ground-truth-aligned pairs (gta.py)")
    ap.add_argument("--gta-data", type=Path, default=DIR / "gta.npz", help="train: gta.py's pairs")
    ap.add_argument("--detail-dropout", type=float, default=0.0,
                    help="train, a nested latent: the share of recordings whose detail channels are zeroed")
    ap.add_argument("--hedge", type=float, default=0.0,
                    help="train: the share of latents blurred in time (`hedged`), as generated attacks are")
    ap.add_argument("--stream", type=int, metavar="STEPS",
                    help="validate, evaluate, picture: decode hop by hop as a streaming package does, with STEPS "
                         "Griffin-Lim steps (0: none); default whole")
    ap.add_argument("--picture", type=Path, default=Path(__file__).resolve().parent / "docs" / "vocoder.png")
    a = ap.parse_args()
    latent = Latent(latent_stats(a.latent) if a.latent else None, a.variant)
    if a.command == "corpus":
        corpus()
    elif a.command == "train":
        train(a.minutes, a.batch, a.lr, latent, a.lsd_weight, tuple(a.grow), a.validation, a.absolute,
              a.gta_share, a.gta_data, a.detail_dropout, a.hedge)
    elif a.command == "validate":
        validate(latent=latent, stream=a.stream)
    elif a.command == "tones":
        tones(latent)
    elif a.command == "export":
        export_window(a.out)
    elif a.command == "picture":
        picture(a.picture, latent, a.stream)
    else:
        evaluate(latent=latent, stream=a.stream)
        streaming_check(latent)


if __name__ == "__main__":
    main()
