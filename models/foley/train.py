#!/usr/bin/env python3
"""Trains the foley model (model.py) by flow matching on the rendered scenes (prepare.py).
Resumable: the checkpoint (.cache/foley.pt) holds the weights, their EMA, the optimiser and the
step; every run adds --minutes of training.

Each example is one clip and a subset of its sources as the target, so that the prompt decides
which of the visible sources is heard:
- the caption names the sources in the target (dropped 15% of the time: classifier-free
  guidance);
- 30% of the time one target source's own track is the "existing audio" condition and the caption
  leaves it out: the audio path learns "this sound is in the result", which is what negative
  audio guidance subtracts (runtime: u(∅) + α(u(c) − u(∅)) + β(u(c) − u(c, existing))).

    python models/foley/train.py --minutes 50
"""

import argparse
import time

import numpy as np
import torch

from common import Frontend, PromptEncoder, latent_stats
from config import CACHE, SEMANTIC_FPS, SYNC_FPS
from model import Foley
from snapshot import pack

CKPT = CACHE / "foley.pt"
SYNC = CACHE / "sync.pt"  # pretrain_sync.py


def join(parts):
    """One array of several sets' (no copy for one set: a training set is gigabytes)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class Data:
    """The rendered training clips of one training set (prepare.py), or of several one after
    another: the first set's clips keep their indices (a rollout cache, rollouts.py, names them)."""

    def __init__(self, *paths):
        sets = [np.load(p) for p in paths]
        self.frames = torch.from_numpy(join([d["frames"] for d in sets]))  # [N, 100, 32, 32, 3] uint8
        self.tracks = torch.from_numpy(join([d["tracks"] for d in sets]))  # [N, 2, S] f16
        self.classes = join([d["classes"] for d in sets])
        self.captions = join([d["captions"] for d in sets])
        self.n = len(self.frames)
        enc = PromptEncoder()
        self.embed = {}
        for caps, cls in zip(self.captions, self.classes):
            parts = [c for c, k in zip(caps, cls) if k >= 0 or c]
            for text in ["", *parts, " and ".join(parts)]:
                if text not in self.embed:
                    self.embed[text] = torch.from_numpy(enc(text))
        print(f"{self.n} clips, {len(self.embed)} captions", flush=True)

    def frames_of(self, idx):
        """Clips idx's frames as the encoders take them: [B, 100, 3, 32, 32] in [0, 1]."""
        return self.frames[idx].permute(0, 1, 4, 2, 3).float() / 255.0

    def batch(self, rng, size):
        idx = rng.integers(self.n, size=size)
        texts, targets, conds, has = [], [], [], []
        for i in idx:
            present = [j for j in range(2) if self.captions[i][j]]
            subset = present if len(present) == 1 or rng.random() < 0.5 else [present[rng.integers(2)]]
            k = subset[rng.integers(len(subset))] if rng.random() < 0.3 else None
            text = " and ".join(self.captions[i][j] for j in subset if j != k)
            texts.append("" if rng.random() < 0.15 else text)
            targets.append(self.tracks[i, subset].float().sum(0))
            conds.append(self.tracks[i, k].float() if k is not None else torch.zeros_like(targets[-1]))
            has.append(k is not None)
        frames = self.frames_of(idx)
        return {
            "sync": frames,
            "semantic": frames[:, :: SYNC_FPS // SEMANTIC_FPS],
            "text": torch.stack([self.embed[t] for t in texts]),
            "target": torch.stack(targets),
            "cond": torch.stack(conds),
            "all": self.tracks[idx].float().sum(1),
            "has_cond": torch.tensor(has, dtype=torch.float32)[:, None],
        }


def latent_rise(z):
    """How sharply the sound rises at each latent frame: the positive change of the mean
    normalised log-mel from the frame before (0 at the first). [B, latent frames]"""
    e = z.mean(dim=1)
    rise = torch.relu(e[:, 1:] - e[:, :-1])
    return torch.cat([torch.zeros_like(rise[:, :1]), rise], dim=1)


def onset_strength(front, wave):
    """latent_rise per video frame (the larger of each frame's two latent frames). [B, frames]"""
    rise = latent_rise(front.level(wave))
    return rise.reshape(rise.shape[0], -1, 2).amax(dim=2)


def noised(x1, gen):
    """Noise x0, times t and the point xt on the straight path from x0 to the data x1: half
    the times uniform, half logit-normal (more weight on the middle of the path)."""
    x0 = torch.randn(x1.shape, generator=gen)
    u = torch.rand(x1.shape[0], generator=gen)
    ln = torch.sigmoid(torch.randn(x1.shape[0], generator=gen))
    t = torch.where(torch.rand(x1.shape[0], generator=gen) < 0.5, u, ln)
    return x0, t, t[:, None, None] * x1 + (1 - t[:, None, None]) * x0


def velocity_loss(model, front, b, gen):
    with torch.no_grad():
        x1 = front(b["target"])
        onset = onset_strength(front, b["all"])
    x0, t, xt = noised(x1, gen)
    audio = model.audio(b["cond"]) * b["has_cond"]
    sync = model.sync(b["sync"])
    v = model.denoiser(xt, t, b["text"], sync, model.semantic(b["semantic"]), audio)
    # Frames around the target's own onsets weigh more: an impact is a few frames of a window,
    # and where it lands is what sync means. Onset strength at the latent rate, spread over the
    # frame before and after (the silence just before an impact matters as much as its attack).
    weight = 1.0 + 5.0 * torch.nn.functional.max_pool1d(latent_rise(x1)[:, None], 3, 1, 1)[:, 0]
    flow = torch.mean(weight[:, None] * (v - (x1 - x0)) ** 2) / torch.mean(weight)
    aux = torch.mean((model.onset(sync) - onset) ** 2)
    # Onsets are sparse: most frames have none, so their squared error is small; weighted up.
    return flow + 20.0 * aux, flow, aux


def fit(model, ema, opt, ckpt, minutes, lr, step_loss, step=0, trained_s=0.0, warm_from=0, keep_every=0.0,
        fields=None):
    """The training loop both forms share: warm-up (over 300 steps from `warm_from`, the step a
    fresh optimiser started at), clipping, the EMA, a log line every 50 steps, a checkpoint every
    2 minutes and at the end. `step_loss(step)` returns (loss, flow, aux). With `keep_every`
    (minutes), the EMA weights are also kept every so often as snapshots (snapshot.py's form) in
    `<ckpt>-saves/step<N>.pt`, to choose among on the validation scenes: a long run's last
    weights are not always its best (the streaming model's own-context training swings by 0.07
    F1 over an hour). `fields` go into every checkpoint and kept save as they are (the latent's
    stats of a model in a candidate latent)."""
    fields = fields or {}
    start = last_save = last_keep = time.time()
    losses = []

    def save():
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "step": step, "seconds": trained_s + time.time() - start, **fields}, ckpt)

    def keep():
        saves = ckpt.parent / f"{ckpt.stem}-saves"
        saves.mkdir(exist_ok=True)
        params = {k for k, _ in ema.named_parameters()}
        torch.save(pack("ema", ema.state_dict(), params, [], step=step,
                        seconds=trained_s + time.time() - start, **fields), saves / f"step{step}.pt")

    while time.time() - start < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1 - warm_from) / 300)
        loss, flow, aux = step_loss(step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm, alpha=1 - decay)
        step += 1
        losses.append((flow.item(), aux.item()))
        if step % 50 == 0:
            el = trained_s + time.time() - start
            fl, ax = np.mean(losses, axis=0)
            print(f"step {step} flow {fl:.4f} onset {ax:.4f} ({el / 60:.1f} min)", flush=True)
            losses = []
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
        if keep_every and time.time() - last_keep > keep_every * 60:
            keep()
            last_keep = time.time()
    save()
    print(f"saved {ckpt} at step {step}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(2)
    stats = latent_stats()
    data = Data(CACHE / "dataset.npz")
    model = Foley(stats)
    ema = Foley(stats)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    step, trained_s = 0, 0.0
    missing = [k for k in model.state_dict()]
    if CKPT.exists():
        ck = torch.load(CKPT)
        # Parameters whose module was added or reshaped since the checkpoint start from their
        # initialisation (zero-initialised ones change nothing), with a fresh optimiser.
        own = model.state_dict()
        state = {k: v for k, v in ck["model"].items() if k in own and own[k].shape == v.shape}
        missing = model.load_state_dict(state, strict=False).missing_keys
        ema.load_state_dict({k: v for k, v in ck["ema"].items() if k in state}, strict=False)
        if not missing:
            opt.load_state_dict(ck["opt"])
        step, trained_s = ck["step"], ck["seconds"]
        print(f"resumed at step {step} ({trained_s / 60:.1f} min trained)")
    fresh = set(missing)  # not from the checkpoint: the EMA starts from the model's values
    if any(k.startswith("sync.") for k in missing) and SYNC.exists():
        sync = torch.load(SYNC)
        model.sync.load_state_dict(sync["sync"])
        model.onset.load_state_dict(sync["onset"])
        missing = [k for k in missing if not k.startswith(("sync.", "onset."))]
        print(f"sync encoder from {SYNC.name} (step {sync['step']} of pretrain_sync.py)")
    if missing:
        print(f"initialised: {', '.join(sorted({k.rsplit('.', 2)[0] for k in missing}))}")
    for k, v in model.state_dict().items():
        if k in fresh:
            ema.state_dict()[k].copy_(v)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params / 1e6:.2f} M parameters", flush=True)
    front = Frontend(stats)
    rng = np.random.default_rng(step)
    gen = torch.Generator().manual_seed(step)
    fit(model, ema, opt, CKPT, a.minutes, a.lr,
        lambda _: velocity_loss(model, front, data.batch(rng, a.batch), gen), step, trained_s)


if __name__ == "__main__":
    main()
