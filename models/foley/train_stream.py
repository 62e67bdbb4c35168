#!/usr/bin/env python3
"""Trains the streaming foley model (stream.py) by flow matching on the rendered scenes
(prepare.py), hop by hop: each example is one hop of a clip at a random position, with the
clean latent of the audio before it as context (zeros before the clip starts, as the runtime
gives at a stream start) and the video from the context's start to the lookahead's end (the
first or last frame where that is outside the clip, as v2agen gives). Targets, prompts and the
existing-audio condition as in train.py. Half the contexts are corrupted with noise, so that
the model continues its own imperfect audio as well as the true one. Resumable
(.cache/foley-stream.pt); starts the sync encoder from pretrain_sync.py's.

    python models/foley/train_stream.py --minutes 50
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from common import Frontend, latent_stats
from config import CACHE, LATENT_FRAMES, SAMPLES
from stream import AHEAD, CTX, HOP_F, SEMANTIC_N, SYNC_N, StreamFoley
from train import SYNC, Data, fit, latent_rise, noised, onset_strength

CKPT = CACHE / "foley-stream.pt"
PER_LATENT = SAMPLES // LATENT_FRAMES  # 320 samples per latent frame
START_SHARE = 0.25  # examples whose hop starts within the first context (a stream's start)


def hop_starts(rng, size):
    """Latent frame of each example's hop: on a video frame (even), 25% within the first
    context, the rest anywhere with a full context."""
    last = LATENT_FRAMES - HOP_F
    early = rng.integers(0, CTX // 2, size) * 2
    late = rng.integers(CTX // 2, last // 2 + 1, size) * 2
    return np.where(rng.random(size) < START_SHARE, early, late)


def span_frames(frames, h):
    """The video frames (25 fps) a step at hop start `h` sees: from the context's start to the
    lookahead's end, clamped to the clip. frames [100, ...] → [SYNC_N, ...], and the in-clip mask."""
    first = h // 2 - CTX // 2
    idx = np.arange(first, first + SYNC_N)
    return frames[np.clip(idx, 0, len(frames) - 1)], (idx >= 0) & (idx < len(frames))


def stream_batch(data, rng, size, front):
    b = data.batch(rng, size)
    hs = hop_starts(rng, size)
    with torch.no_grad():
        x = front(b["target"])  # [B, N_MELS, 200]
        onset = onset_strength(front, b["all"])  # [B, 100]
    n_mels = x.shape[1]
    ctx = torch.zeros(size, n_mels, CTX)
    x1 = torch.zeros(size, n_mels, HOP_F)
    sync, onset_span, onset_mask, cond = [], [], [], []
    span_samples = (CTX + HOP_F) * PER_LATENT
    for i, h in enumerate(hs):
        lo = max(0, h - CTX)
        ctx[i, :, CTX - (h - lo):] = x[i, :, lo:h]
        x1[i] = x[i, :, h: h + HOP_F]
        f, inside = span_frames(b["sync"][i], h)
        sync.append(f)
        o, _ = span_frames(onset[i], h)
        onset_span.append(o)
        onset_mask.append(torch.tensor(inside, dtype=torch.float32))
        # The existing audio over the context and the hop (silence before the clip).
        c = torch.zeros(span_samples)
        end = (h + HOP_F) * PER_LATENT
        start = end - span_samples
        c[max(0, -start):] = b["cond"][i, max(0, start): end]
        cond.append(c)
    sync = torch.stack(sync)
    # The semantic encoder's 5 fps: every fifth frame of the span from its start.
    semantic = sync[:, ::5][:, :SEMANTIC_N]
    corrupt = (torch.rand(size) < 0.5).float() * torch.rand(size) * 0.3
    ctx = ctx + corrupt[:, None, None] * torch.randn_like(ctx) * (ctx != 0)
    return {"x1": x1, "ctx": ctx, "sync": sync, "semantic": semantic, "text": b["text"],
            "cond": torch.stack(cond), "has_cond": b["has_cond"], "onset": torch.stack(onset_span),
            "onset_mask": torch.stack(onset_mask)}


def velocity_loss(model, s, gen):
    x1 = s["x1"]
    x0, t, xt = noised(x1, gen)
    audio = model.audio(s["cond"]) * s["has_cond"]
    sync = model.sync(s["sync"])
    v = model.denoiser(xt, t, s["text"], sync, model.semantic(s["semantic"]), audio, s["ctx"])
    # Onsets weigh more, as in train.py; the rise into the hop's first frame counts from the
    # context's last frame.
    rise = latent_rise(torch.cat([s["ctx"][:, :, -1:], x1], dim=2))[:, 1:]
    weight = 1.0 + 5.0 * torch.nn.functional.max_pool1d(rise[:, None], 3, 1, 1)[:, 0]
    flow = torch.mean(weight[:, None] * (v - (x1 - x0)) ** 2) / torch.mean(weight)
    err = (model.onset(sync) - s["onset"]) ** 2 * s["onset_mask"]
    aux = err.sum() / s["onset_mask"].sum().clamp(min=1)
    return flow + 20.0 * aux, flow, aux


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--data", type=Path, default=CACHE / "dataset.npz")
    ap.add_argument("--checkpoint", type=Path, default=CKPT)
    a = ap.parse_args()
    ckpt = a.checkpoint
    torch.set_num_threads(2)
    stats = latent_stats()
    data = Data(a.data)
    model, ema = StreamFoley(stats), StreamFoley(stats)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    step, trained_s = 0, 0.0
    if ckpt.exists():
        ck = torch.load(ckpt)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, trained_s = ck["step"], ck["seconds"]
        print(f"resumed at step {step} ({trained_s / 60:.1f} min trained)")
    else:
        if SYNC.exists():
            sync = torch.load(SYNC)
            model.sync.load_state_dict(sync["sync"])
            model.onset.load_state_dict(sync["onset"])
            print(f"sync encoder from {SYNC.name} (step {sync['step']} of pretrain_sync.py)")
        ema.load_state_dict(model.state_dict())
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; hop {HOP_F}, "
          f"context {CTX}, lookahead {AHEAD} latent frames", flush=True)
    front = Frontend(stats)
    rng = np.random.default_rng(step)
    gen = torch.Generator().manual_seed(step)
    fit(model, ema, opt, ckpt, a.minutes, a.lr,
        lambda _: velocity_loss(model, stream_batch(data, rng, a.batch, front), gen), step, trained_s)


if __name__ == "__main__":
    main()
