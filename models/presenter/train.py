"""Trains the presenter's audio encoder and denoiser with flow matching on .cache/dataset.npz
(prepare.py). Resumable: it continues .cache/presenter.pt for --minutes more of wall time.
  python models/presenter/train.py --minutes 30"""

import argparse
import time

import numpy as np
import torch

import config
from model import PAD, AudioEncoder, Denoiser

BATCH = 256
LR = 1e-3
EMA = 0.999
START_SHARE = 0.05  # share of windows that begin at a clip's start (the runtime's first chunk)
# Loss weight per motion dimension: the lips are what the viewer checks; blinks are rare events
# that an unweighted loss smears into half-closed eyes.
WEIGHTS = torch.tensor([4.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
CHECKPOINT = config.CACHE / "presenter.pt"
PER_FRAME = config.HOP // config.MEL_HOP
MEL_FRAMES = config.WINDOW * PER_FRAME
EDGE = -(-PAD // config.MEL_HOP)  # frames at each end that reach past the window: 2
MEL_BLOCK = 20_000


class Windows:
    """Random training windows: CONTEXT frames of previous motion, the CHUNK to generate and the
    audio of CONTEXT + CHUNK + LOOKAHEAD frames. Clips are padded with CONTEXT frames of rest and
    silence in front (what the runtime feeds before a stream's first chunk) and LOOKAHEAD behind."""

    def __init__(self, path) -> None:
        with np.load(path) as npz:  # each key access would read the array again
            data = {key: npz[key] for key in npz.files}
        scale = np.array(config.MOTION_SCALE, np.float32)
        audio, motion, starts, begins = [], [], [], []
        at = 0
        src_a = src_m = 0
        for n in data["frames"]:
            a = data["audio"][src_a : src_a + n * config.HOP]
            m = data["motion"][src_m : src_m + n] / scale
            src_a += n * config.HOP
            src_m += n
            pre, post = config.CONTEXT, config.LOOKAHEAD
            audio.append(np.pad(a, (pre * config.HOP, post * config.HOP)))
            motion.append(np.pad(m, ((pre, post), (0, 0))))
            # window start s (padded frames): chunk = [s + CONTEXT, s + CONTEXT + CHUNK)
            starts.append(at + np.arange(0, n - config.CHUNK + 1))
            begins.append(at)
            at += pre + n + post
        self.audio = torch.from_numpy(np.concatenate(audio))
        self.motion = torch.from_numpy(np.concatenate(motion))
        self.starts = torch.from_numpy(np.concatenate(starts))
        self.begins = torch.from_numpy(np.array(begins))
        self.samples = torch.arange(config.WINDOW_SAMPLES)
        self.frames = torch.arange(config.WINDOW)
        self.mels = torch.arange(MEL_FRAMES)

    def stream_logmel(self, encoder: AudioEncoder) -> None:
        """The log-mel of the whole training audio, computed once (the STFT is most of a step's
        cost). Window frame j is stream frame 4s + j wherever it lies inside the window; the
        frames that reach past the window's edges are recomputed per window (window_logmel)."""
        padded = torch.nn.functional.pad(self.audio, (PAD, PAD))
        total = len(self.audio) // config.MEL_HOP
        out = []
        with torch.no_grad():
            for f0 in range(0, total, MEL_BLOCK):
                n = min(MEL_BLOCK, total - f0)
                x = padded[f0 * config.MEL_HOP : (f0 + n - 1) * config.MEL_HOP + config.N_FFT]
                out.append(encoder.logmel_padded(x[None])[0])
        self.logmel = torch.cat(out, dim=1).T.contiguous()  # [mel frames, N_MELS]

    def batch(self, n: int, gen: torch.Generator):
        s = self.starts[torch.randint(len(self.starts), (n,), generator=gen)]
        first = torch.rand(n, generator=gen) < START_SHARE
        s = torch.where(first, self.begins[torch.randint(len(self.begins), (n,), generator=gen)], s)
        audio = self.audio[s[:, None] * config.HOP + self.samples]
        logmel = self.logmel[s[:, None] * PER_FRAME + self.mels].transpose(1, 2)
        motion = self.motion[s[:, None] + self.frames]
        prev = motion[:, : config.CONTEXT]
        target = motion[:, config.CONTEXT : config.CONTEXT + config.CHUNK]
        return audio, logmel, prev, target


def window_logmel(encoder: AudioEncoder, audio: torch.Tensor, logmel: torch.Tensor) -> torch.Tensor:
    """Replaces the edge frames of stream log-mel windows by the window's own (zeros beyond its
    edges, as the exported encoder sees them): the result equals encoder.logmel(audio)."""
    x = torch.nn.functional.pad(audio, (PAD, PAD))
    head = encoder.logmel_padded(x[:, : (EDGE - 1) * config.MEL_HOP + config.N_FFT])
    tail = encoder.logmel_padded(x[:, (MEL_FRAMES - EDGE) * config.MEL_HOP :])
    return torch.cat([head, logmel[:, :, EDGE:-EDGE], tail], dim=2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    data = Windows(config.CACHE / "dataset.npz")
    encoder, denoiser = AudioEncoder(), Denoiser()
    data.stream_logmel(encoder)
    params = list(encoder.parameters()) + list(denoiser.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=1e-4)
    ema = [p.detach().clone() for p in params]
    step, gen = 0, torch.Generator().manual_seed(a.seed)
    if CHECKPOINT.exists():
        ck = torch.load(CHECKPOINT)
        encoder.load_state_dict(ck["encoder"])
        denoiser.load_state_dict(ck["denoiser"])
        opt.load_state_dict(ck["opt"])
        ema = ck["ema"]
        step = ck["step"]
        gen.set_state(ck["gen"])
        print(f"resuming at step {step}")
    print(f"{sum(p.numel() for p in params)} parameters, {len(data.starts)} windows")
    end = time.time() + a.minutes * 60
    last_save, losses = time.time(), []
    while time.time() < end:
        audio, logmel, prev, x1 = data.batch(BATCH, gen)
        x0 = torch.randn(x1.shape, generator=gen)
        t = torch.rand(BATCH, generator=gen)
        xt = t[:, None, None] * x1 + (1 - t[:, None, None]) * x0
        features = encoder.features(window_logmel(encoder, audio, logmel))
        v = denoiser(xt, t, features, prev)
        loss = (((v - (x1 - x0)) ** 2).mean((0, 1)) * WEIGHTS).sum() / WEIGHTS.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for e, q in zip(ema, params):
                e.lerp_(q.detach(), 1 - EMA)
        losses.append(loss.item())
        step += 1
        if step % 200 == 0:
            print(f"step {step} loss {np.mean(losses):.4f}", flush=True)
            losses = []
        if time.time() - last_save > 120 or time.time() >= end:
            save(encoder, denoiser, opt, ema, step, gen)
            last_save = time.time()
    save(encoder, denoiser, opt, ema, step, gen)


def save(encoder, denoiser, opt, ema, step, gen) -> None:
    torch.save(
        dict(encoder=encoder.state_dict(), denoiser=denoiser.state_dict(), opt=opt.state_dict(),
             ema=ema, step=step, gen=gen.get_state()),
        CHECKPOINT,
    )


if __name__ == "__main__":
    main()
