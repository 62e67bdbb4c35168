#!/usr/bin/env python3
"""Renders the foley training set: procedural scenes (data/scenes.py, the "varied" look unless
--look plain) with train-split sounds, video area-averaged to the encoders' 32×32 (what v2agen's
converter hands them), every source's track kept apart (for negative audio guidance), captions
per source. With --stats, also the latent's per-band statistics (latents/mel48.json, committed:
every graph bakes them in, so rewriting them means retraining everything).

    python models/foley/prepare.py --singles 3000 --pairs 1500      # ~20 min on 2 cores
"""

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

from config import CACHE, CLASSES, HERE, SAMPLES, SYNC_SIZE, WINDOW_S  # noqa: E402

# Drops twice as often as the other kinds: their impacts are what the sync bar measures.
SINGLE = ["drop", *scenes.KINDS]
PAIRS = ["+".join(p) for p in scenes.PAIRS]


def shrink(frames, size=SYNC_SIZE):
    """[T, 96, 96, 3] uint8 → [T, size, size, 3] uint8 by area averaging (the encoders' 32×32;
    resolution_gate.py compares other sizes)."""
    f = scenes.SIZE // size
    t = len(frames)
    x = frames.reshape(t, size, f, size, f, 3).astype(np.float32).mean((2, 4))
    return np.round(x).astype(np.uint8)


def encoder_frames(frames):
    """A render's frames [T, 96, 96, 3] uint8 as the encoders take them, shrunk: a torch tensor
    [T, 3, 32, 32] in [0, 1]."""
    import torch  # only the tools that feed a model call this; the rendering does not need torch
    return torch.from_numpy(shrink(frames)).permute(0, 3, 1, 2).float() / 255.0


def work(job):
    seed, kinds, split, look = job
    lib = scenes.Library(split)
    rng = np.random.default_rng(seed)
    out = []
    for kind in kinds:
        clip = scenes.render(rng, lib, WINDOW_S, kind, look)
        tracks = np.zeros((2, SAMPLES), np.float16)
        classes = np.full(2, -1, np.int8)
        captions = ["", ""]
        for i, part in enumerate(clip["parts"]):
            tracks[i] = clip["tracks"][part["track"]][:SAMPLES]
            classes[i] = CLASSES.index(part["class"]) if part["class"] else -1
            captions[i] = part["caption"]
        out.append((shrink(clip["frames"]), tracks, classes, captions, kind))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--singles", type=int, default=3000)
    ap.add_argument("--pairs", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=CACHE / "dataset.npz")
    ap.add_argument("--look", default="varied", choices=["plain", "varied"],
                    help="varied: many backgrounds, shapes, cameras, lights (the streaming model); "
                         "plain: the first model's one look")
    ap.add_argument("--kinds", nargs="+", choices=list(scenes.KINDS),
                    help="the single-source scenes' kinds, in turn (default: drops twice as often as each other "
                         "kind)")
    ap.add_argument("--stats", action="store_true",
                    help="also rewrite latents/mel48.json (every graph bakes it in: retrain all)")
    a = ap.parse_args()
    single = a.kinds or SINGLE
    kinds = [single[i % len(single)] for i in range(a.singles)] + \
        [PAIRS[i % len(PAIRS)] for i in range(a.pairs)]
    jobs = [(a.seed * 100_000 + i, kinds[i: i + 50], "train", a.look) for i in range(0, len(kinds), 50)]
    clips = []
    with Pool(2) as pool:
        for n, part in enumerate(pool.imap(work, jobs)):
            clips += part
            print(f"{len(clips)}/{len(kinds)} clips", flush=True)
    frames = np.stack([c[0] for c in clips])
    tracks = np.stack([c[1] for c in clips])
    classes = np.stack([c[2] for c in clips])
    captions = np.array([c[3] for c in clips])
    kind = np.array([c[4] for c in clips])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, frames=frames, tracks=tracks, classes=classes, captions=captions, kind=kind)
    print(f"wrote {a.out}: {len(clips)} clips")
    if not a.stats:
        return
    # Per-band statistics of the log-mel latent over the training mixes.
    import torch
    from common import N_MELS, Frontend, band_stats
    front = Frontend({"mean": [0.0] * N_MELS, "std": [1.0] * N_MELS})
    stats = band_stats(front, torch.tensor(tracks[:800].astype(np.float32).sum(1)))
    (HERE / "latents" / "mel48.json").write_text(json.dumps(stats, indent=1) + "\n")
    print("wrote latents/mel48.json")


if __name__ == "__main__":
    main()
