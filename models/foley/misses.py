#!/usr/bin/env python3
"""Which contacts a package misses, on the validation drop scenes (never the evaluation ones):
for every audible contact (evaluate.audible), whether an onset of the package's soundtrack falls
on it, with its rise in band energy over the 30 ms before it (evaluate.band_db) and its level
under the clip's loudest frame, in the true audio and in the generated one, its order in the
scene and its gap to the contact before; then the found and the missed compared. A contact the
true audio's own onset detector misses (a rise under 12 dB, or quieter than 35 dB under the top)
is one the metric's ceiling (evaluate.py's "true audio" F1) misses too. With --trace, each missed
contact's band energy every 20 ms from 400 ms before it to 120 ms after, true and generated, in
dB under each soundtrack's loudest frame: a ring, a floor or an attack smeared ahead of the contact.
With --checkpoint (the package's streaming checkpoint or snapshot), what its video encoder sees at
each contact: its training-only onset head (train_stream.py's auxiliary loss, not in a package) at
the contact's frame, beside the true audio's onset strength there (what the head is trained to
read), each as a share of its clip's largest.

    $py models/foley/misses.py --model models/foley [--scenes 48] [--look plain] [--trace] \
        [--checkpoint models/foley/snapshots/foley-stream-contacts.pt]
"""

import argparse

import numpy as np

import evaluate as ev
from config import FPS, HOP, RATE, SAMPLES, WINDOW_S
from evaluate import scenes


def rise_and_depth(db, t):
    """(rise at contact t as evaluate.audible measures it, the level after it under the clip's
    loudest frame), in dB. An audible contact has both sides inside the clip."""
    rise, level = ev.rise_at(db, t)
    return rise, db.max() - level


def trace(db, gdb, t, before=40, after=14):
    """Lines of the band energies db and gdb (HOP frames, 10 ms) around contact t, every other frame."""
    k = int(round(t * RATE / HOP))
    idx = range(max(0, k - before), min(k + after, len(db), len(gdb)), 2)
    row = lambda name, v: f"  {name:>9} " + " ".join(f"{max(v[j] - v.max(), -99):5.0f}" for j in idx)  # noqa: E731
    return [f"  {'ms':>9} " + " ".join(f"{(j - k) * 1000 * HOP // RATE:5d}" for j in idx), row("true", db), row("generated", gdb)]


class Evidence:
    """A streaming checkpoint's sync encoder and onset head over whole clips (the encoders are
    temporal convolutions, so a clip reads as a stream's spans do), and the true onset strength."""

    def __init__(self, checkpoint):
        from common import Frontend
        from stream import from_checkpoint
        self.model, stats = from_checkpoint(checkpoint)
        self.front = Frontend(stats)

    def __call__(self, clip, contacts):
        """(onset head, true onset strength) at each contact (the larger over ±1 video frame), as
        shares of the clip's largest."""
        import torch
        from prepare import encoder_frames
        from train import onset_strength
        frames = encoder_frames(clip["frames"])[None]
        audio = torch.from_numpy(clip["audio"][:SAMPLES].astype(np.float32))[None]
        with torch.no_grad():
            head = self.model.onset(self.model.sync(frames))[0].numpy()
            true = onset_strength(self.front, audio)[0].numpy()
        at = lambda v, t: v[max(0, round(t * FPS) - 1): round(t * FPS) + 2].max() / v.max()  # noqa: E731
        return [(at(head, t), at(true, t)) for t in contacts]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--scenes", type=int, default=48)
    ap.add_argument("--look", default="plain")
    ap.add_argument("--trace", action="store_true", help="each missed contact's band energy around it")
    ap.add_argument("--checkpoint", help="the package's streaming checkpoint: its video encoder's reading at each contact")
    a = ap.parse_args()
    rng = np.random.default_rng(ev.VALIDATION_SEED)
    lib = scenes.Library("heldout")
    evidence = Evidence(a.checkpoint) if a.checkpoint else None
    # order, gap, true rise, true depth, generated rise, generated depth, found, truth finds, head, true strength
    rows = []
    for i in range(a.scenes):
        clip = scenes.render(rng, lib, WINDOW_S, "drop", a.look)
        contacts = ev.impact_times(clip)
        audio, _ = ev.run_v2agen(clip["frames"], a.model, prompt=clip["caption"], seed=i)
        pred, truth_onsets = ev.onsets(audio), ev.onsets(clip["audio"])
        db, gdb = ev.band_db(clip["audio"]), ev.band_db(audio)
        heard = ev.audible(clip["audio"], contacts)
        seen = evidence(clip, heard) if evidence else [(np.nan, np.nan)] * len(heard)
        for t, read in zip(heard, seen):
            order = contacts.index(t)
            gap = t - contacts[order - 1] if order else float("nan")
            row = (order, gap, *rise_and_depth(db, t), *rise_and_depth(gdb, t),
                   ev.near(t, pred), ev.near(t, truth_onsets), *read)
            rows.append(row)
            if not row[6]:
                print(f"scene {i} contact {order} (gap {gap:.2f} s): true rise {row[2]:.1f} dB, {row[3]:.1f} dB "
                      f"under the top; generated rise {row[4]:.1f} dB, {row[5]:.1f} under; "
                      f"the true audio's detector {'finds' if row[7] else 'misses'} it"
                      + (f"; onset head {row[8]:.2f} of its top, true strength {row[9]:.2f}" if evidence else ""),
                      flush=True)
                if a.trace:
                    print("\n".join(trace(db, gdb, t)), flush=True)
    r = np.array(rows, dtype=float)
    for name, s in (("found", r[r[:, 6] == 1]), ("missed", r[r[:, 6] == 0])):
        if len(s):
            print(f"{name}: {len(s)} contacts, {int((s[:, 0] == 0).sum())} of them a scene's first; median gap to "
                  f"the contact before {np.nanmedian(s[:, 1]):.2f} s; median rise true {np.median(s[:, 2]):.1f} dB, "
                  f"generated {np.median(s[:, 4]):.1f} dB; median under the top true {np.median(s[:, 3]):.1f} dB, "
                  f"generated {np.median(s[:, 5]):.1f} dB; the true audio's detector finds {int(s[:, 7].sum())}"
                  + (f"; onset head median {np.median(s[:, 8]):.2f} of its top, true strength {np.median(s[:, 9]):.2f}"
                     f" (later contacts {np.median(s[s[:, 0] > 0, 8]):.2f}, {np.median(s[s[:, 0] > 0, 9]):.2f})"
                     if evidence else ""))


if __name__ == "__main__":
    main()
