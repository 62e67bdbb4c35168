"""What the foley model's scripts share: the audio representation (log-mel latent at 50 Hz and the
Griffin-Lim decoder that inverts it, both as torch modules that export to standard ONNX ops), the
window, the sound classes and the prompt encoder.

The latent is deliberately not learned: 48 log-mel bands at 50 Hz, normalised per band. A learned
codec trained here for 14 minutes reached 8.25 dB log-spectral distance (README); this one is
exact up to the mel smoothing and the phase reconstruction, costs no training, and keeps every
latent frame 20 ms long, so an impact's onset can only move by the decoder's frame."""

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from config import EPS, FRAMES, GL_ITERS, HERE, HOP, N_FFT, N_MELS, PAD, RATE, SAMPLES


def mel_filters(bands=N_MELS):
    """Triangular mel filters (HTK scale), [bands, N_FFT // 2 + 1], each band normalised to sum 1."""
    def hz_to_mel(f):
        return 2595 * np.log10(1 + f / 700)

    def mel_to_hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    bins = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(30), hz_to_mel(RATE / 2), bands + 2))
    fb = np.zeros((bands, len(bins)))
    for m in range(bands):
        lo, mid, hi = edges[m: m + 3]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        fb[m] = np.maximum(0, np.minimum(up, down))
        # Bands narrower than a bin would be empty: give them their nearest bin.
        if fb[m].sum() == 0:
            fb[m, np.argmin(abs(bins - mid))] = 1
        fb[m] /= fb[m].sum()
    return fb.astype(np.float32)


def stft_basis():
    """Windowed DFT basis as conv weights: [2 * bins, 1, N_FFT] (real parts, then imaginary)."""
    n = np.arange(N_FFT)
    k = np.arange(N_FFT // 2 + 1)[:, None]
    win = np.hanning(N_FFT + 1)[:-1]  # periodic Hann
    ang = 2 * np.pi * k * n / N_FFT
    basis = np.concatenate([np.cos(ang) * win, -np.sin(ang) * win])
    return torch.tensor(basis[:, None, :], dtype=torch.float32), win


class Stft(torch.nn.Module):
    """Waveform [B, S] → complex spectrum as (re, im) [B, bins, S / HOP] each: a strided Conv."""

    def __init__(self):
        super().__init__()
        basis, _ = stft_basis()
        self.register_buffer("basis", basis)

    def forward(self, wave):
        x = F.pad(wave[:, None, :], (PAD, PAD))
        spec = F.conv1d(x, self.basis, stride=HOP)
        bins = N_FFT // 2 + 1
        return spec[:, :bins], spec[:, bins:]


class Frontend(torch.nn.Module):
    """Waveform [B, S] → normalised log-mel latent [B, channels, S / (2 HOP)]. Which latent is
    the stats' (`latent_stats`): `bands` log-mel bands per STFT frame, and the two STFT frames of
    a latent frame averaged (`pooled`: the shipped latent, 48 channels) or stacked (2 · bands);
    or a nested latent (`nest`), both latents' frontends in one."""

    def __init__(self, stats):
        super().__init__()
        self.stft = Stft()
        self.stats = stats
        if "coarse" in stats:  # a nested latent: its two latents and the map between them
            self.coarse, self.detail = Frontend(stats["coarse"]), Frontend(stats["detail"])
            map_, scale = nesting(stats)
            self.register_buffer("map", map_)
            self.register_buffer("scale", scale)
            return
        self.pooled = stats.get("pooled", True)
        self.register_buffer("fb", torch.tensor(mel_filters(stats.get("bands", N_MELS))))
        self.register_buffer("mu", torch.tensor(stats["mean"], dtype=torch.float32)[:, None])
        self.register_buffer("sigma", torch.tensor(stats["std"], dtype=torch.float32)[:, None])

    def log_mel(self, wave):
        re, im = self.stft(wave)
        power = re * re + im * im
        mel = torch.matmul(self.fb, power)  # [B, bands, frames]
        if self.pooled:
            mel = 0.5 * (mel[..., 0::2] + mel[..., 1::2])  # 50 Hz
        else:
            mel = torch.cat([mel[..., 0::2], mel[..., 1::2]], dim=1)
        return torch.log(mel + EPS)

    def level(self, wave):
        """The latent's channels that carry its level (latent_parts' first): a nested latent's
        coarse ones, else all."""
        return self.coarse(wave) if "coarse" in self.stats else self(wave)

    def forward(self, wave):
        if "coarse" in self.stats:
            return nest(self.coarse(wave), self.detail(wave), self.map, self.scale)
        return (self.log_mel(wave) - self.mu) / self.sigma


class GriffinLimDecoder(torch.nn.Module):
    """Normalised log-mel latent [B, N_MELS, LATENT_FRAMES] → waveform [B, SAMPLES].

    Magnitudes from the mel bands by the filters' pseudo-inverse, then fast Griffin-Lim
    (Perraudin et al. 2013, momentum 0.99) unrolled for GL_ITERS iterations with a fixed start
    phase, so the graph is deterministic and made only of Conv, ConvTranspose and elementwise ops."""

    def __init__(self, stats, iters=GL_ITERS):
        super().__init__()
        self.iters = iters
        self.stft = Stft()  # the frontend's transform; its basis also synthesises (ConvTranspose)
        _, win = stft_basis()
        # The DFT basis covers half the bins: inner bins count twice in the inverse, all / N.
        scale = torch.full((N_FFT // 2 + 1, 1), 2.0 / N_FFT)
        scale[0] = scale[-1] = 1.0 / N_FFT
        self.register_buffer("scale", scale)
        fb = mel_filters()
        self.register_buffer("pinv", torch.tensor(np.linalg.pinv(fb), dtype=torch.float32))
        self.register_buffer("mu", torch.tensor(stats["mean"], dtype=torch.float32)[:, None])
        self.register_buffer("sigma", torch.tensor(stats["std"], dtype=torch.float32)[:, None])
        # Overlap-added squared window for FRAMES frames (the iSTFT's normalisation), cropped.
        wss = np.zeros((FRAMES - 1) * HOP + N_FFT)
        for f in range(FRAMES):
            wss[f * HOP: f * HOP + N_FFT] += win ** 2
        wss = wss[PAD: PAD + SAMPLES]
        self.register_buffer("inv_wss", torch.tensor(1.0 / np.maximum(wss, 1e-3), dtype=torch.float32))
        g = torch.Generator().manual_seed(0)
        phase = torch.rand(N_FFT // 2 + 1, FRAMES, generator=g) * 2 * math.pi
        self.register_buffer("re0", torch.cos(phase))
        self.register_buffer("im0", torch.sin(phase))

    def magnitude(self, z):
        mel = torch.exp(z * self.sigma + self.mu) - EPS
        mel = F.interpolate(mel, scale_factor=2.0, mode="linear", align_corners=False)
        power = torch.clamp(torch.matmul(self.pinv, torch.clamp(mel, min=0.0)), min=0.0)
        return torch.sqrt(power + 1e-10)

    def istft(self, re, im):
        spec = torch.cat([re * self.scale, im * self.scale], dim=1)
        x = F.conv_transpose1d(spec, self.stft.basis, stride=HOP)[:, 0]
        return x[:, PAD: PAD + SAMPLES] * self.inv_wss

    def forward(self, z):
        mag = self.magnitude(z)
        re, im = mag * self.re0, mag * self.im0
        prev_re, prev_im = torch.zeros_like(re), torch.zeros_like(im)
        for _ in range(self.iters):
            wave = self.istft(re, im)
            sre, sim = self.stft(wave)
            # Momentum on the projected spectrum, then back onto the target magnitudes.
            are, aim = sre + 0.99 * (sre - prev_re), sim + 0.99 * (sim - prev_im)
            prev_re, prev_im = sre, sim
            norm = torch.rsqrt(are * are + aim * aim + 1e-12)
            re, im = mag * are * norm, mag * aim * norm
        return self.istft(re, im)


def latent_stats(path=None):
    """A latent's per-channel normalisation (`mean`, `std`) and what latent it is (`name`,
    `bands`, `pooled`; Frontend). Default: the 48 pooled bands (`latents/mel48.json`, which
    predates those keys), the latent the analysis models read whatever latent a package
    generates in (the classifier, the audio encoder, the sync pretraining, the windowed model).
    Others: `latents/NAME.json`, written by latent_study.py. A nested latent (`coarse`,
    `detail`, `map`; `nest`) holds a coarse latent exactly and, beside it, what a richer detail
    latent adds to it: a model trained in the coarse one carries over to it unchanged
    (relatent.py), and the detail latent's vocoder decodes it (vocoder.Unnested)."""
    return json.loads(Path(path or HERE / "latents" / "mel48.json").read_text())


def band_stats(front, mixes):
    """Per-channel mean and std (at least 0.5) of `front`'s log-mel over waveforms [N, S]."""
    with torch.no_grad():
        lm = front.log_mel(mixes)
    lm = lm.permute(1, 0, 2).reshape(lm.shape[1], -1)
    return {"mean": lm.mean(1).tolist(), "std": lm.std(1).clamp(min=0.5).tolist()}


def latent_channels(stats):
    """Channels per latent frame of the latent of `stats`."""
    if "coarse" in stats:
        return latent_channels(stats["coarse"]) + latent_channels(stats["detail"])
    return len(stats["mean"])


def latent_parts(stats):
    """The channel ranges a training loss weighs as equals: a nested latent's coarse and detail
    channels (without it its 256 small detail channels would outweigh the 48 coarse ones, which
    carry the level and so the onsets), else all of them. The first is the one the level is read
    from (train.latent_rise)."""
    if "coarse" in stats:
        cc = latent_channels(stats["coarse"])
        return [slice(0, cc), slice(cc, latent_channels(stats))]
    return [slice(0, latent_channels(stats))]


def nest(coarse, detail, map_, scale):
    """A nested latent [B, Cc + Cd, T] from its two latents' (coarse [B, Cc, T], detail [B, Cd,
    T]): the coarse as it is, then what of the detail latent the coarse does not predict through
    `map_` [Cd, Cc] (a ridge regression, latent_study.py nested), divided by its spread `scale`
    [Cd, 1]. Normalised like every latent channel: unscaled, the detail (1.7 % of the detail
    latent's energy) would be buried under the flow's unit noise until the last step, and a
    velocity error would reach the sound five times as large. The inverse is `unnest`."""
    return torch.cat([coarse, (detail - torch.einsum("dc,bct->bdt", map_, coarse)) / scale], dim=1)


def unnest(z, map_, scale):
    """The detail latent [B, Cd, T] of a nested latent z [B, Cc + Cd, T] (`nest`): exact."""
    coarse = z[:, : map_.shape[1]]
    return z[:, map_.shape[1]:] * scale + torch.einsum("dc,bct->bdt", map_, coarse)


def nesting(stats):
    """A nested latent's map and scale (`nest`) as tensors."""
    return (torch.tensor(stats["map"], dtype=torch.float32),
            torch.tensor(stats["scale"], dtype=torch.float32)[:, None])


def silent_latent(frames, stats=None):
    """The normalised latent of silence, [1, channels, frames]: log(EPS) in every band. Not zero:
    zero is each band's mean level."""
    stats = stats or latent_stats()
    if "coarse" in stats:
        return nest(silent_latent(frames, stats["coarse"]), silent_latent(frames, stats["detail"]), *nesting(stats))
    mu = torch.tensor(stats["mean"], dtype=torch.float32)[:, None]
    sigma = torch.tensor(stats["std"], dtype=torch.float32)[:, None]
    return ((math.log(EPS) - mu) / sigma).expand(len(stats["mean"]), frames)[None]


class PromptEncoder:
    """all-MiniLM-L6-v2 exactly as the runtime runs it: tokenizer.json with special tokens, the
    int8 graph, mean pooling over the mask, L2 normalisation."""

    def __init__(self):
        import onnxruntime as ort
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(str(HERE / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.sess = ort.InferenceSession(str(HERE / "text_encoder.onnx"), opts)
        self.cache = {}

    def __call__(self, text):
        if text not in self.cache:
            enc = self.tok.encode(text, add_special_tokens=True)
            ids = np.array([enc.ids[:256] or [0]], np.int64)
            mask = np.array([enc.attention_mask[:256] or [0]], np.int64)
            h = self.sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                      "token_type_ids": np.zeros_like(ids)})[0][0]
            m = mask[0].astype(np.float32)[:, None]
            v = (h * m).sum(0) / max(m.sum(), 1.0)
            self.cache[text] = (v / max(np.linalg.norm(v), 1e-12)).astype(np.float32)
        return self.cache[text]


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
