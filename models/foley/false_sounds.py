#!/usr/bin/env python3
"""Sound where the picture has none: in thunder scenes, the generated audio's level between 0.2 s
and the flash (nothing in the picture sounds there; the true audio is silent) relative to the
loudest 100 ms of the thunder, for packages through `v2agen` on the same scenes (validation
seeds from 8,500,000; scenes whose flash comes before 0.5 s are skipped). The sync figures count
only drop scenes' onsets and do not see such a sound.

With `--between`, the floor between events instead: in drop scenes, the frames where the true
soundtrack is silent (energy above 1 kHz more than 60 dB under its loudest 10 ms, the onset
detector's silence) and not from 50 ms before a contact to 0.5 s after it, the generated level there under
the generated clip's loudest frame (the same band), each scene's median; over scenes, the median,
the scenes where it is above -20 dB (the sound went on after its event) and the quietest tenth
(the scenes where the model leaves silence: a decoder's floor; about -115 dB is band_db's own floor,
digital silence).

With `--steady`, the other side of it, a model that ends sounds must not cut steady ones: in rain
and vehicle scenes, of the frames where the true soundtrack goes on (within 20 dB of its median,
after the first 0.4 s), the share where the generated level falls more than 20 dB under its own
median there (a dropout); over scenes, the median share and the scenes above 10 %; and
evaluate.py's seam measure on those soundtracks (the drop scenes' seams do not see a steady
sound drawn anew at every hop).

    python models/foley/false_sounds.py --scenes 48 --against /tmp/foley-E
    python models/foley/false_sounds.py --between --scenes 48 --against /tmp/foley-E [--against ...]
    python models/foley/false_sounds.py --steady --scenes 24 --against /tmp/foley-E
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

from config import HERE, RATE, WINDOW_S  # noqa: E402
from evaluate import (AUDIBLE_DB, HOP, VALIDATION_SEED, band_db, impact_times, package_hop, run_v2agen,  # noqa: E402
                      seam_metric)

SEED = VALIDATION_SEED + 500_000  # validation scenes (never the evaluation's), apart from the sync metric's


def level_db(x):
    return 10 * np.log10(np.mean(x ** 2) + 1e-12)


def before_flash(audio, event):
    """dB of the audio from 0.2 s to the flash, relative to the thunder's loudest 100 ms."""
    t0, w = int(event["time"] * RATE), RATE // 10
    loud = max(level_db(audio[j:j + w]) for j in range(t0, min(len(audio) - w, t0 + RATE), RATE // 50))
    return level_db(audio[int(0.2 * RATE):int(event["flash"] * RATE)]) - loud


def quiet_frames(clip, least=0.2):
    """band_db's frames of the true soundtrack that are silent and not from 50 ms before a contact
    to 0.5 s after it, or None if they are under `least` seconds (too few to read a level)."""
    db = band_db(clip["audio"])
    t = np.arange(len(db)) * HOP / RATE
    quiet = db < db.max() - AUDIBLE_DB
    for c in impact_times(clip):
        quiet &= ~((t >= c - 0.05) & (t < c + 0.5))
    return quiet if quiet.sum() * HOP >= least * RATE else None


def between_events(audio, quiet):
    """The median level of the generated audio over the `quiet` frames, under its loudest frame."""
    db = band_db(audio)[: len(quiet)]
    return np.median(db[quiet[: len(db)]]) - db.max()


def dropouts(audio, clip, start=0.4, drop=20.0):
    """The share of the frames where the true soundtrack goes on (steady's docstring at the top)
    in which the generated level is more than `drop` dB under its median over those frames."""
    true_db, db = band_db(clip["audio"]), band_db(audio)
    n = min(len(true_db), len(db))
    true_db, db = true_db[:n], db[:n]
    on = (true_db > np.median(true_db) - drop) & (np.arange(n) * HOP >= start * RATE)
    return float(np.mean(db[on] < np.median(db[on]) - drop)) if on.any() else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=48)
    ap.add_argument("--model", type=Path, default=HERE)
    ap.add_argument("--against", type=Path, action="append", default=[],
                    help="another package on the same scenes (repeatable)")
    ap.add_argument("--between", action="store_true", help="the floor between events in drop scenes")
    ap.add_argument("--steady", action="store_true", help="dropouts in steady sounds (rain, vehicle scenes)")
    a = ap.parse_args()
    lib = scenes.Library("heldout")
    rows = {p: [] for p in [a.model, *a.against]}
    if a.between:
        return floor(a.scenes, lib, rows)
    if a.steady:
        return steady(a.scenes, lib, rows)
    for i in range(a.scenes):
        clip = scenes.render(np.random.default_rng(SEED + i), lib, WINDOW_S, "thunder")
        event = clip["events"][0]
        if event["flash"] < 0.5:
            continue
        for pkg, r in rows.items():
            r.append(before_flash(run_v2agen(clip["frames"], str(pkg), prompt=clip["caption"], seed=i)[0], event))
        print(f"scene {i}: flash {event['flash']:.2f} s; " + ", ".join(f"{p}: {r[-1]:.1f} dB" for p, r in rows.items()),
              flush=True)
    for pkg, r in rows.items():
        r = np.array(r)
        print(f"{pkg}: before the flash, median {np.median(r):.1f} dB under the thunder; "
              f"above -20 dB in {np.sum(r > -20)} of {len(r)} scenes, above -40 dB in {np.sum(r > -40)}")


def floor(count, lib, rows):
    for i in range(count):
        clip = scenes.render(np.random.default_rng(SEED + i), lib, WINDOW_S, "drop")
        quiet = quiet_frames(clip)
        if quiet is None:
            continue
        for pkg, r in rows.items():
            r.append(between_events(run_v2agen(clip["frames"], str(pkg), prompt=clip["caption"], seed=i)[0], quiet))
        print(f"scene {i}: " + ", ".join(f"{p}: {r[-1]:.1f} dB" for p, r in rows.items()), flush=True)
    for pkg, r in rows.items():
        r = np.array(r)
        print(f"{pkg}: between events, median {np.median(r):.1f} dB under the loudest frame; above -20 dB (the "
              f"sound goes on) in {np.sum(r > -20)} of {len(r)} scenes; the quietest tenth {np.percentile(r, 10):.1f} dB "
              f"(the floor where it leaves silence)")


def steady(count, lib, rows):
    audios = {p: [] for p in rows}
    for i in range(count):
        kind = ("rain", "vehicle")[i % 2]
        clip = scenes.render(np.random.default_rng(SEED + i), lib, WINDOW_S, kind)
        for pkg, r in rows.items():
            audios[pkg].append(run_v2agen(clip["frames"], str(pkg), prompt=clip["caption"], seed=i)[0])
            r.append(dropouts(audios[pkg][-1], clip))
        print(f"scene {i} ({kind}): " + ", ".join(f"{p}: {r[-1]:.1%}" for p, r in rows.items()), flush=True)
    for pkg, r in rows.items():
        r = np.array(r)
        print(f"{pkg}: steady sounds, dropouts in {np.median(r):.1%} of their frames (median), "
              f"{np.mean(r):.1%} (mean); above 10 % in {np.sum(r > 0.1)} of {len(r)} scenes")
        hop = package_hop(pkg)
        if hop:
            m = seam_metric(audios[pkg], hop)
            print(f"  seams: sample step {m['step_boundary_max']:.3f} max at hop boundaries, {m['step_inside_max']:.3f} "
                  f"inside; spectral flux excess at boundaries {m['flux_excess']:+.3f} "
                  f"[{m['flux_excess_interval'][0]:+.3f}, {m['flux_excess_interval'][1]:+.3f}] dB")


if __name__ == "__main__":
    main()
