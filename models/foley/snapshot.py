#!/usr/bin/env python3
"""Keeps a training run that spans sessions in git. A new machine starts without models/*/.cache,
so a checkpoint kept only there is lost with the machine (run 13 of the streaming model, 7 hours
of training, was). A snapshot is the checkpoint without the optimiser's state and with its
weights in float16 (a quarter of the size; buffers stay float32): the streaming model's EMA
weights (~4 MB) or the vocoder's weights, with the step, the time trained and a line per run.

Every script that reads a checkpoint reads a snapshot as it is (`export_stream.py --checkpoint`,
`diagnose_stream.py --checkpoint`, `vocoder.load()` when its checkpoint is missing), and the
training scripts resume from one with a fresh optimiser (`train_stream.py --from-snapshot`, which
warms its learning rate up again; `vocoder.py train` when its checkpoint is missing, at its
constant learning rate as always).

    python models/foley/snapshot.py stream --note "run 1: 40 min, --onset-weight 15 ..."
    python models/foley/snapshot.py stream --checkpoint CKPT --out models/foley/snapshots/foley-stream-candidate.pt --note "..."
    python models/foley/snapshot.py stream --checkpoint CKPT --history-from snapshots/foley-stream-contacts.pt --out ... --note "..."
    python models/foley/snapshot.py stream --checkpoint CKPT --coarse-from OTHER --out /tmp/hybrid.pt --note "..."
    python models/foley/snapshot.py stream --checkpoint CKPT --average OTHER [OTHER ...] --out /tmp/soup.pt --note "..."
    python models/foley/snapshot.py vocoder --note "70 min"
    python models/foley/snapshot.py vocoder --latent models/foley/latents/nestedmel128x2.json --variant hedge --note "..."
"""

import argparse
from pathlib import Path

import torch

from config import CACHE, HERE

SNAPSHOTS = HERE / "snapshots"
STREAM = SNAPSHOTS / "foley-stream.pt"


def slim(state, params):
    """state's parameters (the names in params) as float16, the rest as they are."""
    return {k: v.half() if k in params and v.is_floating_point() else v for k, v in state.items()}


def pack(key, state, params, runs, **fields):
    """The snapshot of weights `state` under `key` ("ema" or "model"): its parameters slimmed,
    the checkpoint's `fields` (step, time trained, ...) and the run lines."""
    return {key: slim(state, params), **fields, "runs": runs}


def averaged(state, others, error):
    """The mean of `state` and `others` (weights of one architecture) in each floating tensor, in
    float32 and back to `state`'s type; the other tensors (counters) are `state`'s."""
    out = {}
    for k, v in state.items():
        if any(k not in o or o[k].shape != v.shape for o in others):
            error(f"--average: {k} is not in every checkpoint with the shape {tuple(v.shape)}")
        out[k] = (sum(o[k].float() for o in others) + v.float()).div(len(others) + 1).to(v.dtype) \
            if v.is_floating_point() else v
    return out


def runs(path):
    """The run lines of an existing snapshot (a snapshot's history goes on in the next)."""
    return torch.load(path)["runs"] if path.exists() else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["stream", "vocoder"])
    ap.add_argument("--checkpoint", type=Path, help="default: the training script's own")
    ap.add_argument("--latent", type=Path, help="vocoder: a candidate latent's stats (latents/NAME.json)")
    ap.add_argument("--variant", help="vocoder: another vocoder of the latent (vocoder.py --variant)")
    ap.add_argument("--note", required=True, help="what this run was (flags, minutes), kept in the snapshot")
    ap.add_argument("--out", type=Path,
                    help="stream: a candidate's own snapshot (e.g. snapshots/foley-stream-candidate.pt), so that the "
                         "shipped model's, which the bundled package is exported from, stays")
    ap.add_argument("--coarse-from", type=Path, metavar="CHECKPOINT",
                    help="stream, with --out: a hybrid whose coarse denoiser (denoiser.coarse.*, stream.BranchedDenoiser) "
                         "is this checkpoint's and the rest --checkpoint's, to tell which branch a change is in")
    ap.add_argument("--average", type=Path, nargs="+", metavar="CHECKPOINT",
                    help="stream, with --out: the mean of --checkpoint's EMA weights and these checkpoints' (every "
                         "floating tensor; a weight average, or 'soup', of rounds from one starting point)")
    ap.add_argument("--history-from", type=Path, metavar="SNAPSHOT",
                    help="stream: a new snapshot's run lines start with this snapshot's (default: the shipped "
                         "snapshot of its latent), e.g. snapshots/foley-stream-contacts.pt for a round from it")
    a = ap.parse_args()
    if a.history_from and (a.what != "stream" or not a.history_from.exists()):
        ap.error(f"--history-from {a.history_from}: an existing stream snapshot, for a stream snapshot")
    if (a.coarse_from or a.average) and (a.what != "stream" or not a.out):
        ap.error("--coarse-from and --average make a stream candidate: give stream and --out (the shipped snapshot stays)")
    if a.what == "stream":
        from common import latent_stats
        from stream import loaded
        ckpt, key = a.checkpoint or CACHE / "foley-stream.pt", "ema"
        # A model in a candidate latent (train_stream.py --latent) keeps its latent, and its own
        # snapshot: the shipped model's stays.
        stats = torch.load(ckpt).get("latent") or latent_stats()
        shipped = STREAM if "name" not in stats else SNAPSHOTS / f"foley-stream-{stats['name']}.pt"
        out = a.out or shipped
        # A new candidate's history starts with the runs of the snapshot it continues: the shipped
        # one of its latent unless --history-from names another (a round from a candidate).
        history = runs(out) if out.exists() else runs(a.history_from or shipped)
        model = lambda state: loaded(stats, state)  # noqa: E731  (as deep as its weights, their sync input and branch)
        keep = ("step", "seconds", "latent")
    else:
        import vocoder
        latent = vocoder.Latent(vocoder.latent_stats(a.latent) if a.latent else None, a.variant)
        ckpt, out, key = a.checkpoint or latent.checkpoint, latent.snapshot, "model"
        history = runs(out)
        model = lambda state: latent.vocoder(state)  # noqa: E731
        keep = ("step", "spent", "lookahead")
    ck = torch.load(ckpt)
    if a.coarse_from:
        other = torch.load(a.coarse_from)["ema"]
        coarse = [k for k in ck[key] if k.startswith("denoiser.coarse.")]
        if not coarse or any(k not in other or other[k].shape != ck[key][k].shape for k in coarse):
            ap.error(f"--coarse-from {a.coarse_from}: no coarse denoiser of the same shapes as {ckpt}'s")
        ck[key] = {**ck[key], **{k: other[k].to(ck[key][k].dtype) for k in coarse}}
        a.note = f"{a.note} (hybrid: denoiser.coarse.* from {a.coarse_from})"
    if a.average:
        others = [torch.load(p).get("ema") for p in a.average]
        if any(o is None for o in others):
            ap.error("--average: every checkpoint must be a streaming model's (training checkpoint or snapshot: EMA weights)")
        ck[key] = averaged(ck[key], others, ap.error)
        a.note = f"{a.note} (average of {ckpt} and {', '.join(map(str, a.average))})"
    params = {k for k, _ in model(ck[key]).named_parameters()}
    snap = pack(key, ck[key], params, history + [f"step {ck['step']}: {a.note}"],
                **{k: ck[k] for k in keep if k in ck})
    out.parent.mkdir(exist_ok=True)
    torch.save(snap, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, step {ck['step']}); runs:")
    for line in snap["runs"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
