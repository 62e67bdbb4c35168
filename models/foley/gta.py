#!/usr/bin/env python3
"""Ground-truth-aligned latents for the vocoder (as Tacotron 2 and HiFi-GAN fine-tune theirs):
the streaming model's own latents for fresh scenes, generated hop by hop as v2agen generates
them (diagnose_stream.streamed: its sampler defaults, its own latent as each hop's context),
each beside the scene's true soundtrack. A vocoder trained only on the latents of recordings
meets, inside a package, latents the denoiser made: attacks hedged over a frame or two, floors
smoother. Run N showed the richer latent's vocoder loses sync exactly there (README, "A detail
branch, and where the drop really is"); `vocoder.py train --gta-share` mixes these pairs into
its batches.

Scenes: the sound library's train split (never its held-out recordings, which the evaluation's
scenes use), the training look ("varied") and the first look ("plain") alternately, never the
held-out look ("sketch"); scene seeds from GTA_SEED, apart from the training set's
(prepare.py), the validation's and the evaluation's. One prompt in seven is empty.

    $py models/foley/gta.py --clips 600     # ~27 min on 2 cores; resumable (.cache/vocoder/gta.npz)
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

from common import Frontend, PromptEncoder, latent_channels  # noqa: E402
from config import CACHE, SAMPLES, WINDOW_S  # noqa: E402
from diagnose_stream import streamed, true_latent  # noqa: E402
from prepare import PAIRS, SINGLE, encoder_frames  # noqa: E402
from stream import from_checkpoint  # noqa: E402
from vocoder import DIR  # noqa: E402

GTA_SEED = 9_000_000
KINDS = SINGLE + PAIRS
LOOKS = ("varied", "plain")


def scene(i, lib, enc):
    """Scene i: its two encoders' frames (a batch of one), its prompt's embedding and its soundtrack."""
    rng = np.random.default_rng(GTA_SEED + i)
    clip = scenes.render(rng, lib, WINDOW_S, KINDS[i % len(KINDS)], LOOKS[i % 2])
    frames = encoder_frames(clip["frames"])
    caption = "" if i % 7 == 3 else clip["caption"]
    return (frames[None], frames[None]), torch.from_numpy(enc(caption))[None], clip["audio"][:SAMPLES].astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=400)
    ap.add_argument("--out", type=Path, default=DIR / "gta.npz")
    ap.add_argument("--from-step", type=int, default=0,
                    help="start each hop at this Euler step from the true latent noised to its time (0: from noise, "
                         "as v2agen does)")
    ap.add_argument("--checkpoint", type=Path, default=CACHE / "foley-stream-n.pt",
                    help="the streaming model (default: run N, the shipped model's coarse latent and a detail branch)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    model, stats = from_checkpoint(a.checkpoint)
    front = Frontend(stats)
    enc, lib = PromptEncoder(), scenes.Library("train")
    latents, audio = [], []
    if a.out.exists():  # resume: the clips already made
        done = np.load(a.out)
        latents, audio = list(done["latents"]), list(done["audio"])
    start = time.time()
    empty = torch.from_numpy(enc(""))[None]
    for i in range(len(latents), a.clips):
        frames, text, track = scene(i, lib, enc)
        with torch.no_grad():
            z = streamed(model, frames, text, empty, true_latent(front, track), "own", torch.Generator().manual_seed(i),
                         channels=latent_channels(stats), first=a.from_step)
        latents.append(z[0].numpy())
        audio.append(track)
        if (i + 1) % 20 == 0 or i + 1 == a.clips:
            np.savez(a.out, latents=np.stack(latents), audio=np.stack(audio))
            print(f"{i + 1}/{a.clips} clips ({(time.time() - start) / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
