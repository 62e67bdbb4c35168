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
"""

import argparse
import time

import numpy as np
import torch

from common import Frontend, latent_stats
from config import CACHE, SYNC_SIZE
from model import FrameCnn, OnsetHead, VideoEncoder
from train import onset_strength

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
    ap.add_argument("--edges", choices=list(VideoEncoder.EDGE_MIX),
                    help="edges as the input (model.VideoEncoder): .cache/sync-edges.pt (luma, run I) "
                         "or sync-colour-edges.pt")
    a = ap.parse_args()
    torch.set_num_threads(2)
    d = np.load(CACHE / "dataset.npz")
    frames = torch.from_numpy(d["frames"])
    front = Frontend(latent_stats())
    onset = []
    with torch.no_grad():
        for i in range(0, len(frames), 256):
            onset.append(onset_strength(front, torch.from_numpy(d["tracks"][i: i + 256]).float().sum(1)))
    onset = torch.cat(onset)
    n_val = 200
    val = slice(len(frames) - n_val, None)
    ckpt = CKPT.with_name(f"sync-{EDGE_NAMES[a.edges]}.pt") if a.edges else CKPT
    enc, head, opt, step = resumed(ckpt, edges=a.edges)
    rng = np.random.default_rng(step)
    start = time.time()

    def clip(idx):
        return frames[idx].permute(0, 1, 4, 2, 3).float() / 255.0

    while time.time() - start < a.minutes * 60:
        b = rng.integers(len(frames) - n_val, size=16)
        loss = torch.mean((head(enc(clip(b))) - onset[b]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            with torch.no_grad():
                vi = np.arange(len(frames))[val]
                vl = torch.mean((head(enc(clip(vi))) - onset[vi]) ** 2).item()
            var = onset[val].var().item()
            print(f"step {step} train {loss.item():.4f} held-out {vl:.4f} "
                  f"(explained {1 - vl / var:.1%})", flush=True)
            save(ckpt, enc, head, opt, step)


if __name__ == "__main__":
    main()
