#!/usr/bin/env python3
"""Would a sharper sync input read the contacts the streaming model misses? The contacts it
misses are mostly later bounces, a pixel or two of travel in the 32×32 frames v2agen hands the
sync encoder (README, "Where the evaluation scenes lose against the validation ones"). This gate
answers that before any retrain: it renders one set of training clips (the varied look,
prepare.py's mix of kinds) and one set of validation drop scenes (plain and sketch looks,
evaluate.py's validation seeds, the held-out sound split), area-averages the same 96×96 renders
to each size in --sizes, pretrains the sync encoder with its onset head on each
(pretrain_sync.py's objective, the same steps for every size), and scores the head's peaks
against the true contacts at ±50 ms (evaluate.py's matching): precision, recall on first
contacts and on later ones, F1 with a bootstrap interval. The threshold is chosen per size on
the plain look (the best F1) and kept for the sketch look; the true audio's onset strength
through the same peak picking is the ceiling. `--inputs still motion` compares, at each size,
the input as shipped with the motion alone (model.VideoEncoder(still=False)) or with the
brightness or colour edges in place of the colours (`edges`, `colour-edges`) or its frame
differences magnified (`magnified`: a soft sign, so that a late bounce's small travel shows as
plainly as a large one), `--widths` the encoder's capacity
(model.FrameCnn). Resumable: the renders and every size's, input's and
width's encoder are cached (.cache/gate*; move gate.npz away to render again with other
--clips or --sizes). `--targets contacts` pretrains on what the renderer knows instead of what the
soundtrack shows: 1 at the video frame of each contact (evaluate.impact_times of the clip's
events), 0 elsewhere, so a late, soft bounce counts as much as the first loud one, where the
onset strength (as shipped) weighs it by how sharply the mix rises.

    python models/foley/resolution_gate.py --clips 2000 --steps 1500     # ~40 min on 2 cores
    python models/foley/resolution_gate.py --clips 1500 --steps 600 --sizes 32 --inputs still motion
    python models/foley/resolution_gate.py --clips 1500 --steps 600 --sizes 32 --inputs still magnified
    python models/foley/resolution_gate.py --clips 1500 --steps 600 --sizes 32 --targets onset contacts
    python models/foley/resolution_gate.py --sizes 32 --encoders .cache/sync-a.pt .cache/sync-b.pt   # pretrain_sync.py's
"""

import argparse
import copy
import itertools
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import evaluate as ev
from common import Frontend, latent_stats
from config import CACHE, FEAT, FPS, SAMPLES, SYNC_SIZE, WINDOW_S
from model import FrameCnn, VideoEncoder
from prepare import PAIRS, SINGLE, scenes, shrink
from pretrain_sync import EDGE_NAMES, resumed, save
from stream import from_checkpoint, sync_input_of
from train import onset_strength

DATA = CACHE / "gate.npz"
N_VAL = 200  # the last training clips, held out for the explained variance (pretrain_sync.py)


def render_train(job):
    seed, kinds, sizes = job
    lib, rng = scenes.Library("train"), np.random.default_rng(seed)
    out = []
    for kind in kinds:
        clip = scenes.render(rng, lib, WINDOW_S, kind, "varied")
        mix = sum(clip["tracks"].values())[:SAMPLES].astype(np.float16)
        out.append(([shrink(clip["frames"], s) for s in sizes], mix, ev.impact_times(clip)))
    return out


def render(clips, scenes_per_look, sizes):
    kinds = [SINGLE[i % len(SINGLE)] for i in range(clips * 2 // 3)]
    kinds += [PAIRS[i % len(PAIRS)] for i in range(clips - len(kinds))]
    jobs = [(9_000_000 + i, kinds[i: i + 50], sizes) for i in range(0, clips, 50)]
    train = []
    with Pool(2) as pool:
        for part in pool.imap(render_train, jobs):
            train += part
            print(f"{len(train)}/{clips} training clips", flush=True)
    out = {f"train{s}": np.stack([c[0][k] for c in train]) for k, s in enumerate(sizes)}
    out["mix"] = np.stack([c[1] for c in train])
    out["train_contacts"] = np.empty(len(train), dtype=object)
    out["train_contacts"][:] = [c[2] for c in train]
    # Validation: drop scenes, each drawn in the plain and the sketch look with the same events.
    lib, rng = scenes.Library("heldout"), np.random.default_rng(ev.VALIDATION_SEED)
    contacts, heard, audio = [], [], []
    val = {(look, s): [] for look in ("plain", "sketch") for s in sizes}
    for i in range(scenes_per_look):
        state = copy.deepcopy(rng)
        clip = scenes.render(rng, lib, WINDOW_S, "drop", "plain")
        sketch = scenes.render(state, lib, WINDOW_S, "drop", "sketch")
        contacts.append(ev.impact_times(clip))
        heard.append(ev.audible(clip["audio"], contacts[-1]))
        audio.append(clip["audio"])
        for s in sizes:
            val["plain", s].append(shrink(clip["frames"], s))
            val["sketch", s].append(shrink(sketch["frames"], s))
    for (look, s), v in val.items():
        out[f"{look}{s}"] = np.stack(v)
    out["val_audio"] = np.stack(audio)
    for key, times in (("contacts", contacts), ("heard", heard)):
        out[key] = np.empty(len(times), dtype=object)
        out[key][:] = times
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez(DATA, **out)


def contact_frames(contacts, frames):
    """[clips, frames]: 1 at the video frame each contact falls in (onset_strength's frame f holds
    the audio from f / FPS on), 0 elsewhere."""
    out = torch.zeros(len(contacts), frames)
    for i, times in enumerate(contacts):
        for t in times:
            if int(t * FPS) < frames:
                out[i, int(t * FPS)] = 1.0
    return out


def as_input(frames):
    return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255.0


class SpanHead(nn.Module):
    """An onset head that reads each frame's features with `back` frames before it and `ahead`
    after (a small convolution, 32 channels, then one), as a streaming model's denoiser reads
    the context and the lookahead around a hop, where model.OnsetHead reads one frame: does
    the trajectory either side of a late, low bounce tell its contact, where the frame alone
    does not?"""

    def __init__(self, back, ahead):
        super().__init__()
        self.back, self.ahead = back, ahead
        self.net = nn.Sequential(nn.Conv1d(FEAT, 32, back + ahead + 1), nn.GELU(), nn.Conv1d(32, 1, 1))

    def forward(self, sync):
        x = F.pad(sync.transpose(1, 2), (self.back, self.ahead))
        return self.net(x)[:, 0]


def reader(enc, head):
    """An encoder and its onset head, evaluated: frames [N, n, h, w, 3] uint8 → per-frame onset
    strength [N, n], 32 clips at a time."""
    enc.eval()
    return lambda x: torch.cat([head(enc(as_input(x[i: i + 32]))) for i in range(0, len(x), 32)])


def pretrain(size, frames, onset, steps, still=True, width=FrameCnn.WIDTH, edges=False, magnify=0.0,
             init_seed=None, span=None, target="onset"):
    """pretrain_sync.py's loop at one size, to a fixed step count (resumable). The shipped
    input and width keep the cache name they had before the other variants existed; `init_seed`
    seeds the encoder's initial weights (unseeded by default, as before it existed); `span`
    (back, ahead) reads the features through a SpanHead; `onset` is the per-frame target, named
    by `target`."""
    variant = (f"-{EDGE_NAMES[edges]}" if edges else "") + ("" if still else "-motion") \
        + ("" if width == FrameCnn.WIDTH else f"-w{width}") + (f"-magnified{magnify:g}" if magnify else "") \
        + ("" if span is None else f"-span{span[0]}-{span[1]}") + ("" if target == "onset" else f"-{target}") \
        + ("" if init_seed is None else f"-init{init_seed}")
    ckpt = CACHE / f"gate{size}{variant}.pt"
    if init_seed is not None:
        torch.manual_seed(init_seed)
    enc, head, opt, step = resumed(ckpt, size, still, width, edges, magnify, None if span is None else SpanHead(*span))
    rng = np.random.default_rng([size, step])
    n = len(frames) - min(N_VAL, len(frames) // 5)
    start = time.time()
    while step < steps:
        b = rng.integers(n, size=16)
        loss = torch.mean((head(enc(as_input(frames[b]))) - onset[b]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 250 == 0 or step == steps:
            with torch.no_grad():
                vl = np.mean([torch.mean((head(enc(as_input(frames[i: i + 50]))) - onset[i: i + 50]) ** 2).item()
                              for i in range(n, len(frames), 50)])
            print(f"  {size}×{size} step {step} train {loss.item():.4f} held-out {vl:.4f} (explained "
                  f"{1 - vl / onset[n:].var().item():.1%}; {(time.time() - start) / 60:.1f} min)", flush=True)
            save(ckpt, enc, head, opt, step)
    return reader(enc, head)


def trained(path, error):
    """A pretrain_sync.py checkpoint's encoder and onset head (its input read from its weights),
    or a train_stream.py checkpoint's or snapshot's, as pretrain returns them: frames →
    per-frame onset strength."""
    if not path.exists():
        error(f"--encoders {path}: no such checkpoint")
    ck = torch.load(path)
    if "ema" in ck:
        # A streaming model's (train_stream.py checkpoint or snapshot): its sync encoder as the
        # denoiser reads it (a fused one's base, edges and mix) and the onset head trained on it,
        # so that a graft is scored against the model it replaces, not against a bare encoder.
        model, _ = from_checkpoint(path)
        print(f"  {path}: a streaming model's sync encoder ({sync_input_of(ck['ema']) or 'colours'}) and onset head, "
              f"step {ck['step']}", flush=True)
        return reader(model.sync, model.onset)
    if not {"sync", "onset"} <= set(ck):
        error(f"--encoders {path}: not a pretrain_sync.py checkpoint (no sync encoder and onset head)")
    enc, head, _, step = resumed(path, edges=VideoEncoder.edges_of(ck["sync"]))
    print(f"  {path}: step {step}", flush=True)
    return reader(enc, head)


def peaks(strength, threshold, offset):
    """Peak times (s) of a per-frame onset strength: local maxima at or above the threshold, at
    least 100 ms apart (evaluate.onsets' spacing)."""
    out, last = [], -1.0
    for f in range(1, len(strength) - 1):
        t = f / FPS + offset
        if strength[f] >= threshold and strength[f] >= strength[f - 1] and strength[f] >= strength[f + 1] \
                and t - last > 0.1:
            out.append(t)
            last = t
    return out


def score(strength, contacts, heard, threshold, offset):
    """Per-scene evaluate.match counts, and the audible first / later contacts found."""
    per_scene, first, later = [], [0, 0], [0, 0]
    for s, c, h in zip(strength, contacts, heard):
        found = peaks(s, threshold, offset)
        per_scene.append(ev.match(found, list(c), list(h)))
        for t in h:
            hit = any(abs(t - u) <= ev.TOLERANCE for u in found)
            bucket = first if len(c) and t == c[0] else later
            bucket[0] += hit
            bucket[1] += 1
    return np.array(per_scene), first, later


def best(strength, contacts, heard, offsets):
    """The threshold (and time offset) of the best F1 over a grid of the strength's quantiles."""
    grid = np.quantile(strength, np.linspace(0.80, 0.995, 40))
    return max(((ev.f1(score(strength, contacts, heard, th, o)[0].sum(0)), th, o) for th in grid for o in offsets))


def report(name, strength_by_look, contacts, heard, offsets):
    """Prints each look's scores; returns the time offset chosen and each look's per-scene counts."""
    f1, th, off = best(strength_by_look["plain"], contacts, heard, offsets)
    counts = {}
    for look, strength in strength_by_look.items():
        m, first, later = score(strength, contacts, heard, th, off)
        counts[look] = m
        c = m.sum(0)
        lo, hi = ev.bootstrap_f1(m)
        print(f"{name:>12} {look:>6}: F1 {ev.f1(c):.3f} [{lo:.3f}, {hi:.3f}]  precision {c[0] / max(1, c[1]):.2f}  "
              f"recall {c[2] / max(1, c[3]):.2f}  first contacts {first[0]}/{first[1]}  "
              f"later {later[0]}/{later[1]} ({later[0] / max(1, later[1]):.2f})", flush=True)
    return off, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=2000, help="training clips (varied look)")
    ap.add_argument("--scenes", type=int, default=128, help="validation drop scenes per look")
    ap.add_argument("--steps", type=int, default=1500, help="pretraining steps per size (batch 16)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 48])
    ap.add_argument("--inputs", nargs="+",
                    choices=["still", "motion", "magnified", *EDGE_NAMES.values(),
                             *(f"{v}-magnified" for v in EDGE_NAMES.values())],
                    default=["still"],
                    help="the sync encoder's input: the still frame and its motion (as shipped), "
                         "the motion alone, scaled by each clip's spread, the still frame and its motion "
                         "through tanh(--magnify × difference), or the frames' brightness "
                         "or colour edges and their motion (model.VideoEncoder), those too magnified")
    ap.add_argument("--span-head", type=int, nargs=2, metavar=("BACK", "AHEAD"),
                    help="each encoder twice: with the onset head on the frame alone, and with one reading "
                         "BACK frames before each frame and AHEAD after (SpanHead)")
    ap.add_argument("--init-seed", type=int,
                    help="seed of every encoder's initial weights (a second draw of a comparison)")
    ap.add_argument("--magnify", type=float, default=8.0,
                    help="the `magnified` input's gain (model.VideoEncoder.differences)")
    ap.add_argument("--targets", nargs="+", choices=["onset", "contacts"], default=["onset"],
                    help="what the onset head is trained to read: the mix's onset strength (as shipped) or "
                         "the renderer's contact frames (contact_frames)")
    ap.add_argument("--widths", type=int, nargs="+", default=[FrameCnn.WIDTH],
                    help="the sync encoder's first convolution's channels (model.FrameCnn.WIDTH ships)")
    ap.add_argument("--encoders", type=Path, nargs="+", metavar="CHECKPOINT",
                    help="score these pretrain_sync.py checkpoints (encoder and onset head as trained, e.g. on "
                         "more clips: pretrain_sync.py --data), or train_stream.py checkpoints or snapshots (their "
                         "sync encoder as the denoiser reads it, and their onset head), on the validation scenes "
                         "instead of pretraining the gate's own; the first is the one the others are paired with")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if not DATA.exists():
        render(a.clips, a.scenes, a.sizes)
    d = np.load(DATA, allow_pickle=True)
    if "contacts" in a.targets and "train_contacts" not in d:
        ap.error(f"{DATA} was rendered before the training clips' contacts were kept: move it away to render again")
    contacts, heard = list(d["contacts"]), list(d["heard"])
    front = Frontend(latent_stats())
    with torch.no_grad():
        onset = torch.cat([onset_strength(front, torch.from_numpy(d["mix"][i: i + 256]).float())
                           for i in range(0, len(d["mix"]), 256)])
    # The ceiling: the true audio's onset strength, through the same peak picking. It also fixes
    # the time a frame's peak stands for (the frame's start, middle or end).
    with torch.no_grad():
        truth = onset_strength(front, torch.from_numpy(d["val_audio"])).numpy()
    offset, _ = report("true audio", {"plain": truth}, contacts, heard, [0.0, 0.5 / FPS, 1.0 / FPS])
    goals = {"onset": onset}
    if "contacts" in a.targets:
        goals["contacts"] = contact_frames(d["train_contacts"], onset.shape[1])
    scored = {}
    for path in a.encoders or []:
        head = trained(path, ap.error)
        with torch.no_grad():
            strength = {look: head(d[f"{look}{SYNC_SIZE}"]).numpy() for look in ("plain", "sketch")}
        scored[path.stem] = report(path.stem, strength, contacts, heard, [offset])[1]
    spans = [None] + ([tuple(a.span_head)] if a.span_head else [])
    # With --encoders the checkpoints named are scored instead of the gate's own.
    variants = [] if a.encoders else itertools.product(a.sizes, a.inputs, a.widths, spans, a.targets)
    for size, inputs, width, span, target in variants:
        edges = {v: k for k, v in EDGE_NAMES.items()}.get(inputs.removesuffix("-magnified"), False)
        head = pretrain(size, d[f"train{size}"], goals[target], a.steps, inputs != "motion", width, edges,
                        a.magnify if inputs.endswith("magnified") else 0.0, a.init_seed, span, target)
        with torch.no_grad():
            strength = {look: head(d[f"{look}{size}"]).numpy() for look in ("plain", "sketch")}
        name = f"{size} {inputs} w{width}" + (f" span {span[0]}-{span[1]}" if span else "") \
            + ("" if target == "onset" else f" {target}")
        scored[name] = report(name, strength, contacts, heard, [offset])[1]
    # Every encoder against the first, over the same scenes (the encoders' own inits differ from
    # run to run, so the unpaired intervals above overlap more than a paired difference does).
    first = next(iter(scored))
    for name, counts in list(scored.items())[1:]:
        for look in counts:
            diff, lo, hi = ev.paired_bootstrap_f1(scored[first][look], counts[look])
            print(f"{name:>24} {look:>6}: F1 {diff:+.3f} [{lo:+.3f}, {hi:+.3f}] against {first}")


if __name__ == "__main__":
    main()
