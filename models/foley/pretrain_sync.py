#!/usr/bin/env python3
"""Stage 1 of the foley model: the sync video encoder alone, trained to predict from the frames
how sharply the soundtrack rises at each frame (the onset strength of the scene's full mix), as
MMAudio's sync features come from a network trained for audio-visual synchrony (Synchformer)
before the flow model uses them. Joint training with the flow loss alone left the encoder blind
to contacts: an impact is a few frames of a window and barely moves that loss. Resumable
(.cache/sync.pt); train.py starts from its weights.

    python models/foley/pretrain_sync.py --minutes 8
    python models/foley/pretrain_sync.py --minutes 12 --edges luma     # run I's edge input
    python models/foley/pretrain_sync.py --minutes 12 --edges colour   # run J's
    python models/foley/pretrain_sync.py --minutes 30 --steps 2000 --out models/foley/.cache/sync-three-sets.pt \
        --data models/foley/.cache/{dataset,dataset-plain2,dataset-plaindrops3}.npz
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import Frontend, latent_stats
from config import CACHE, SYNC_SIZE
from model import FrameCnn, OnsetHead, VideoEncoder
from train import join, onset_strength

CKPT = CACHE / "sync.pt"
# What an edge input (model.VideoEncoder.EDGE_MIX) is called in cache files (.cache/sync-<name>.pt,
# the gate's gate<size>-<name>.pt) and in resolution_gate.py --inputs; the brightness edges came
# first and kept the plain name.
EDGE_NAMES = {"luma": "edges", "colour": "colour-edges"}


def resumed(ckpt, size=SYNC_SIZE, still=True, width=FrameCnn.WIDTH, edges=False, magnify=0.0, head=None):
    """The sync encoder at `size` (`still`, `width`, `edges`, `magnify`: model.VideoEncoder), its
    onset head (model.OnsetHead unless `head` is given), their optimiser and the step count,
    resumed from `ckpt` when it exists."""
    enc = VideoEncoder(motion=True, size=size, still=still, width=width, edges=edges, magnify=magnify)
    head = OnsetHead() if head is None else head
    opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=1e-3)
    step = 0
    if ckpt.exists():
        ck = torch.load(ckpt)
        enc.load_state_dict(ck["sync"])
        head.load_state_dict(ck["onset"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
    return enc, head, opt, step


def save(ckpt, enc, head, opt, step):
    torch.save({"sync": enc.state_dict(), "onset": head.state_dict(),
                "opt": opt.state_dict(), "step": step}, ckpt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=8)
    ap.add_argument("--steps", type=int,
                    help="stop at this step (resumed steps count) if the minutes have not run out first: the "
                         "gate's encoders were best near 2,000 steps, a count a busy machine reaches late")
    ap.add_argument("--edges", choices=list(VideoEncoder.EDGE_MIX),
                    help="edges as the input (model.VideoEncoder): .cache/sync-edges.pt (luma, run I) "
                         "or sync-colour-edges.pt")
    ap.add_argument("--data", type=Path, nargs="+", default=[CACHE / "dataset.npz"],
                    help="the training set(s) (prepare.py); the first's last clips are held out whatever "
                         "follows, so encoders trained on more sets are scored on the same clips")
    ap.add_argument("--out", type=Path, help="the checkpoint (default .cache/sync.pt, or sync-<edges>.pt)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    sets = [np.load(p) for p in a.data]
    frames = torch.from_numpy(join([d["frames"] for d in sets]))
    front = Frontend(latent_stats())
    onset, sizes = [], []
    for d in sets:
        tracks = d["tracks"]  # once: an npz member is read whole at every access
        with torch.no_grad():
            for i in range(0, len(tracks), 256):
                onset.append(onset_strength(front, torch.from_numpy(tracks[i: i + 256]).float().sum(1)))
        sizes.append(len(tracks))
    onset = torch.cat(onset)
    n_val = 200
    val = np.arange(sizes[0] - n_val, sizes[0])
    train = np.setdiff1d(np.arange(len(frames)), val)
    ckpt = a.out or (CKPT.with_name(f"sync-{EDGE_NAMES[a.edges]}.pt") if a.edges else CKPT)
    enc, head, opt, step = resumed(ckpt, edges=a.edges)
    rng = np.random.default_rng(step)
    start = time.time()
    print(f"{len(train)} training clips from {len(sets)} set(s), {n_val} held out; {ckpt}", flush=True)

    def clip(idx):
        return frames[idx].permute(0, 1, 4, 2, 3).float() / 255.0

    while time.time() - start < a.minutes * 60 and (a.steps is None or step < a.steps):
        b = train[rng.integers(len(train), size=16)]
        loss = torch.mean((head(enc(clip(b))) - onset[b]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            with torch.no_grad():
                vl = torch.mean((head(enc(clip(val))) - onset[val]) ** 2).item()
            var = onset[val].var().item()
            print(f"step {step} train {loss.item():.4f} held-out {vl:.4f} "
                  f"(explained {1 - vl / var:.1%})", flush=True)
            save(ckpt, enc, head, opt, step)
    if step % 100:
        save(ckpt, enc, head, opt, step)


if __name__ == "__main__":
    main()
