#!/usr/bin/env python3
"""The streaming model's own rollouts of training clips, as contexts to train on
(train_stream.py --rollouts). A stream's context is what the model generated over many hops,
and there the model goes on sounding after an event: with its own past a glass crash lasts the
clip at the crash's level, with the true past it ends (diagnose_stream.py --context own /
teacher). `own_context` in train_stream.py gives the model its own sample of the context made
in one piece after the true audio, which ends as the truth does, so the drift hop after hop is
never among the contexts it learns from. These are: each clip of the training set streamed hop
by hop as v2agen streams it (stream.sample's defaults, the package's noise scale, its own latent
as each hop's context, the clip's whole caption or, one clip in seven, none; no existing audio),
all clips of a batch at once. Training then continues such a context towards the true audio.

    $py models/foley/rollouts.py --clips 480 --checkpoint models/foley/snapshots/foley-stream-nestedmel128x2.pt
      # resumable (.cache/rollouts.npz); the clip indices come from --seed
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import PromptEncoder, latent_channels
from config import CACHE
from diagnose_stream import streamed
from stream import from_checkpoint
from train import Data

OUT = CACHE / "rollouts.npz"
EMPTY_EVERY = 7  # one clip in seven streamed without a prompt, as gta.py


def caption_of(data, i):
    """Clip i's whole caption: its sources' captions joined as Data.batch joins them."""
    return " and ".join(c for c in data.captions[i] if c)


def rolled(model, frames, text, empty, gen, channels):
    """The latents [B, channels, LATENT_FRAMES] of B clips streamed hop by hop together as v2agen
    streams them (diagnose_stream.streamed with its own latent as each hop's context, no existing
    audio): frames [B, 100, 3, 32, 32] in [0, 1] (both encoders' input, as in training), text [B, TEXT_DIM]."""
    return streamed(model, (frames, frames), text, empty, None, "own", gen, channels=channels)


class Rollouts:
    """A rollout cache for training: clip indices into the training set, the prompt each was
    streamed with, and the latents (float16)."""

    def __init__(self, path, data):
        d = np.load(path)
        self.idx, self.texts = d["idx"], [str(t) for t in d["texts"]]
        self.latents = torch.from_numpy(d["latents"])
        if self.idx.max() >= data.n:
            raise SystemExit(f"{path}: rollouts of clips the training set ({data.n} clips) does not have")
        for t in self.texts:
            if t not in data.embed:
                raise SystemExit(f"{path}: the prompt {t!r} is not one of the training set's")
        print(f"{len(self.idx)} rollouts from {path}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=480)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--checkpoint", type=Path, required=True, help="the streaming model (its EMA weights)")
    ap.add_argument("--data", type=Path, default=CACHE / "dataset.npz")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    torch.set_num_threads(2)
    data = Data(a.data)
    model, stats = from_checkpoint(a.checkpoint)
    enc = PromptEncoder()
    empty = torch.from_numpy(enc(""))[None]
    order = np.random.default_rng(a.seed).permutation(data.n)[: a.clips]
    done = {"idx": [], "texts": [], "latents": []}
    if a.out.exists():  # resume: the batches already made
        d = np.load(a.out)
        if not np.array_equal(d["idx"], order[: len(d["idx"])]):
            raise SystemExit(f"{a.out}: made with another --seed or training set; move it away")
        done = {"idx": list(d["idx"]), "texts": list(d["texts"]), "latents": list(d["latents"])}
    start = time.time()
    for first in range(len(done["idx"]), a.clips, a.batch):
        idx = order[first: first + a.batch]
        texts = ["" if (first + j) % EMPTY_EVERY == EMPTY_EVERY - 1 else caption_of(data, i) for j, i in enumerate(idx)]
        frames = data.frames_of(idx)
        with torch.no_grad():
            z = rolled(model, frames, torch.stack([data.embed[t] for t in texts]), empty,
                       torch.Generator().manual_seed(a.seed * 1_000_003 + first), latent_channels(stats))
        done["idx"] += list(idx)
        done["texts"] += texts
        done["latents"] += list(z.half().numpy())
        np.savez(a.out, idx=np.array(done["idx"]), texts=np.array(done["texts"]), latents=np.stack(done["latents"]))
        print(f"{len(done['idx'])}/{a.clips} clips ({(time.time() - start) / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
