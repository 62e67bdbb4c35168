#!/usr/bin/env python3
"""Look-invariant video encoders. The streaming model keeps the windowed package's encoders
frozen, and those were trained on the plain look only: on the held-out sketch look their
features are shifted clip by clip (README), and the streaming denoiser reads such features far
less well than the plain ones. Here a student copy of each encoder learns to give, for a scene
under the varied look (textured and cluttered backgrounds, several shapes and sizes, camera
motion and zoom, light changes, compression, lower resolutions and frame rates), the features
the package's encoder gives for the same events drawn plainly (`scenes.paired`), and for the
plain drawing its own features still; the denoiser keeps the feature space it was trained in.
The sketch look is never rendered for training; `measure` renders it for held-out seeds only.
With `--styles`, the drawings are also restyled as no scene renderer draws them (grey, inverted,
channels swapped, tone curves, posterised, blurred, sharpened: `styles.py`; none an edge map).

    python models/foley/invariant.py render --pairs 1200   # .cache/pairs.npz, ~8 min on 2 cores
    python models/foley/invariant.py train --minutes 10    # .cache/invariant.pt (resumable)
    python models/foley/invariant.py train --minutes 15 --encoders sync --styles --out .cache/invariant-styles.pt
    python models/foley/invariant.py measure               # 200 held-out pairs: varied and sketch
    python models/foley/invariant.py graft --checkpoint /tmp/run-E.pt --out /tmp/inv.pt   # a single sync encoder's snapshot
    python models/foley/invariant.py train --minutes 15 --encoders sync \
        --edges-from .cache/sync-colour-edges.pt --out .cache/invariant-edges.pt
"""

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

import snapshot  # noqa: E402
from config import CACHE, WINDOW_S, WINDOWED  # noqa: E402
from stream import SYNC_N, fused, sync_input_of  # noqa: E402
from model import VideoEncoder  # noqa: E402
from prepare import PAIRS, SINGLE, shrink  # noqa: E402
from styles import styled  # noqa: E402
from train_stream import package_weights  # noqa: E402

PAIRS_NPZ = CACHE / "pairs.npz"
CKPT = CACHE / "invariant.pt"
TRAIN_SEED = 30_000_000  # scene seeds of the training pairs (prepare.py, evaluate.py use others)
HELD_SEED = 31_000_000  # held-out pairs, for `measure` only
ENCODERS = {"sync": True, "semantic": False}  # name → sees motion (model.VideoEncoder)


def kinds(n):
    return [(SINGLE + PAIRS)[i % (len(SINGLE) + len(PAIRS))] for i in range(n)]


def render_one(job):
    seed, kind, held_out = job
    return [shrink(f) for f in scenes.paired(seed, WINDOW_S, kind, held_out)]


def render(seed0, n, held_out=False):
    """n pairs [n, 2, 100, 32, 32, 3] uint8: (plain drawing, varied or sketch)."""
    jobs = [(seed0 + i, k, held_out) for i, k in enumerate(kinds(n))]
    with Pool(2) as pool:
        return np.stack([np.stack(p) for p in pool.imap(render_one, jobs, chunksize=8)])


def tensor(frames):
    """uint8 [B, n, 32, 32, 3] → float [B, n, 3, 32, 32] in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255.0


def semantic_frames(x):
    return x[:, ::5]  # the semantic rate (5 fps) from 25 fps


def teachers():
    w = package_weights(WINDOWED)
    out = {}
    for name, motion in ENCODERS.items():
        enc = VideoEncoder(motion)
        enc.load_state_dict(w[f"video_{name}"])
        out[name] = enc.eval().requires_grad_(False)
    return out


def features(enc, name, x):
    return enc(semantic_frames(x) if name == "semantic" else x)


def change(f):
    return f[:, 1:] - f[:, :-1]


def distance(f, target, spread, spread_d, weight, salient):
    """Squared distance in units of the features' spread, each frame weighted 1 + salient × its
    target's change (relative to the span's mean change): a contact's frames weigh more."""
    d = ((f - target) / spread) ** 2
    if salient:
        s = (change(target) / spread_d).pow(2).mean(-1)
        s = torch.cat([s[:, :1], s], dim=1)  # frame t's change from t - 1
        d = d * (1 + salient * s / s.mean(dim=1, keepdim=True))[..., None]
    d = d.mean()
    return d + weight * (((change(f) - change(target)) / spread_d) ** 2).mean() if weight else d


def students(path=CKPT, edges_from=None):
    """The students, resumed from `path` or starting as the package's encoders; with
    `edges_from` the sync student starts as pretrain_sync.py --edges's encoder (edges, not
    colours, as its input: the teacher's weights do not fit it)."""
    out = {}
    ck = torch.load(path) if path.exists() else None
    t = teachers()
    for name, motion in ENCODERS.items():
        if ck:
            state = ck[name]
        elif edges_from and name == "sync":
            state = torch.load(edges_from)["sync"]
        else:
            state = t[name].state_dict()
        enc = VideoEncoder(motion, edges=VideoEncoder.edges_of(state))
        enc.load_state_dict(state)
        out[name] = enc
    return out, ck


def batched(fn, x, size=16):
    with torch.no_grad():
        return torch.cat([fn(x[i: i + size]) for i in range(0, len(x), size)])


def cmd_render(a):
    t = time.time()
    pairs = render(TRAIN_SEED, a.pairs)
    PAIRS_NPZ.parent.mkdir(exist_ok=True)
    np.savez(PAIRS_NPZ, pairs=pairs)
    print(f"wrote {PAIRS_NPZ}: {len(pairs)} pairs in {(time.time() - t) / 60:.1f} min")


def cmd_train(a):
    torch.set_num_threads(2)
    pairs = np.load(PAIRS_NPZ)["pairs"]
    teach = teachers()
    # Channels weigh alike: their spread over the package's features of the plain drawings.
    some = pairs[:64, 0]
    names = a.encoders.split(",")
    plain_f = {n: batched(lambda x, n=n: features(teach[n], n, tensor(x)), some) for n in names}
    spread = {n: f.std(dim=(0, 1), keepdim=True) for n, f in plain_f.items()}
    # The same for the features' frame-to-frame change, which is where a contact shows.
    spread_d = {n: change(f).std(dim=(0, 1), keepdim=True) for n, f in plain_f.items()}
    stud, ck = students(a.out, a.edges_from)
    params = [p for n in names for p in stud[n].parameters()]
    opt = torch.optim.Adam(params, lr=a.lr)
    step, spent = 0, 0.0
    if ck:
        opt.load_state_dict(ck["opt"])
        step, spent = ck["step"], ck["seconds"]
        print(f"resumed at step {step} ({spent / 60:.1f} min)")
    rng = np.random.default_rng(step)
    start = last = time.time()
    n = pairs.shape[2]
    log = []

    def save():
        torch.save({**{n: e.state_dict() for n, e in stud.items()}, "opt": opt.state_dict(), "step": step,
                    "seconds": spent + time.time() - start}, a.out)

    while time.time() - start < a.minutes * 60:
        # A streaming step's span of frames (stream.SYNC_N) from random clips and positions, the
        # targets the package's features of the same span (its edges as the runtime's).
        b = rng.integers(len(pairs), size=a.batch)
        first = int(rng.integers(0, n - SYNC_N + 1))
        plain, other = (tensor(pairs[b, i, first: first + SYNC_N]) for i in (0, 1))
        if a.styles:
            # Half the batch: the plain drawing restyled (the varied one too, in the other half).
            half = a.batch // 2
            other = torch.cat([styled(plain[:half], rng), styled(other[half:], rng)])
        loss, parts = 0.0, []
        for name in names:
            enc = stud[name]
            with torch.no_grad():
                target = features(teach[name], name, plain)
            # The varied drawing towards the plain one's features, the plain one kept where it was.
            # A contact is a few frames of a span, so its features' change is matched as well:
            # the plain term alone lets the student blur what the denoiser reads an onset from.
            far, near = (distance(features(enc, name, x), target, spread[name], spread_d[name], a.change, a.salient)
                         for x in (other, plain))
            loss = loss + far + near
            parts += [far.item(), near.item()]
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        log.append(parts)
        if step % 50 == 0:
            m = np.mean(log, axis=0)
            log = []
            line = "; ".join(f"{n} varied {m[2 * i]:.3f} plain {m[2 * i + 1]:.3f}" for i, n in enumerate(names))
            print(f"step {step}: {line} ({(spent + time.time() - start) / 60:.1f} min)", flush=True)
        if time.time() - last > 120:
            save()
            last = time.time()
    save()
    print(f"wrote {a.out} at step {step}")


def at_contacts(f, target, var, share=0.05):
    """At the frames where the target changes most (the top `share`: a contact's) against the
    rest: the squared distance (in units of var) and the features' change there relative to the
    target's (below 1: the contact's transient flattened, what the denoiser reads an onset from)."""
    dt, df = change(target), change(f)
    salience = (dt ** 2 / dt.var(dim=(0, 1), keepdim=True)).mean(-1)
    top = salience > torch.quantile(salience.flatten(), 1 - share)
    err = (((f - target) ** 2) / var).mean(-1)[:, 1:]  # frame t + 1 is where change t lands
    ratio = (df.norm(dim=-1)[top] / dt.norm(dim=-1)[top]).mean()
    return err[top].mean().item(), err[~top].mean().item(), ratio.item()


def cmd_measure(a):
    """Relative squared distance of each encoder's features of the varied (and sketch) drawing
    from the package's features of the plain drawing of the same events, over held-out pairs
    (per channel, in units of the plain features' variance), with a bootstrap interval; and the
    same at contact frames against the rest (at_contacts)."""
    torch.set_num_threads(2)
    teach = teachers()
    stud, ck = students(a.checkpoint)
    print(f"student: {a.checkpoint} (step {ck['step'] if ck else 0})")
    rng = np.random.default_rng(0)
    for look, held in (("varied", False), ("sketch", True)):
        pairs = render(HELD_SEED, a.pairs, held)
        for n in a.encoders.split(","):
            target = batched(lambda x: features(teach[n], n, tensor(x)), pairs[:, 0])
            var = target.var(dim=(0, 1), keepdim=True)
            row, contacts = [], []
            # The package's own plain features are the target (distance 0): not measured.
            for who, what, enc, i in (("package", look, teach[n], 1), ("student", "plain", stud[n], 0),
                                      ("student", look, stud[n], 1)):
                f = batched(lambda x, enc=enc: features(enc, n, tensor(x)), pairs[:, i])
                d = (((f - target) ** 2) / var).mean(dim=(1, 2)).numpy()  # per clip
                boot = [d[rng.integers(len(d), size=len(d))].mean() for _ in range(1000)]
                row.append(f"{who} {what} {d.mean():.3f} [{np.percentile(boot, 2.5):.3f}, "
                           f"{np.percentile(boot, 97.5):.3f}]")
                contacts.append("{} {} {:.2f} / {:.2f}, change x{:.2f}".format(who, what, *at_contacts(f, target, var)))
            print(f"{n:8s} {look:6s}: " + "; ".join(row), flush=True)
            print(f"{'':8s} {'':6s}  at contacts / elsewhere: " + "; ".join(contacts), flush=True)


def cmd_graft(a):
    """A streaming checkpoint or snapshot with the student encoders in place of its own, in
    snapshot form (train_stream.py --from-snapshot, diagnose_stream.py and export_stream.py
    read it)."""
    ck = torch.load(a.checkpoint)
    if fused(sync_input_of(ck["ema"])):
        raise SystemExit(f"{a.checkpoint}: a fused sync encoder (run K and later); graft into a snapshot with one, "
                         "e.g. run E's (git show bfb4528:models/foley/snapshots/foley-stream.pt)")
    stud, sk = students(a.student)
    state = dict(ck["ema"])
    for n, enc in stud.items():
        for k, v in enc.state_dict().items():
            assert f"{n}.{k}" in state, k
            state[f"{n}.{k}"] = v
    params = {k for k, v in state.items() if v.is_floating_point() and not k.endswith(("freqs", "mask"))}
    note = f"video encoders from {a.student.name} (invariant.py, step {sk['step']})"
    torch.save(snapshot.pack("ema", state, params, ck.get("runs", []) + [note], step=ck["step"],
                             seconds=ck["seconds"]), a.out)
    print(f"wrote {a.out}: {a.checkpoint} with {note}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--pairs", type=int, default=1200)
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, default=10)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--out", type=Path, default=CKPT, help="the students' checkpoint (resumed if there)")
    t.add_argument("--encoders", default="sync,semantic", help="which students learn (the others stay the package's)")
    t.add_argument("--styles", action="store_true", help="also restyle the drawings (styled())")
    t.add_argument("--change", type=float, default=0.0, help="weight of the features' frame-to-frame change")
    t.add_argument("--salient", type=float, default=0.0, help="extra weight of frames whose target changes")
    t.add_argument("--edges-from", type=Path,
                   help="the sync student starts as this pretrain_sync.py --edges encoder (a new --out)")
    m = sub.add_parser("measure")
    m.add_argument("--pairs", type=int, default=200)
    m.add_argument("--checkpoint", type=Path, default=CKPT)
    m.add_argument("--encoders", default="sync,semantic")
    g = sub.add_parser("graft")
    g.add_argument("--checkpoint", type=Path, required=True)
    g.add_argument("--student", type=Path, default=CKPT)
    g.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    {"render": cmd_render, "train": cmd_train, "measure": cmd_measure, "graft": cmd_graft}[a.cmd](a)


if __name__ == "__main__":
    main()
