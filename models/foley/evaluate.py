#!/usr/bin/env python3
"""Measures the foley package through the element (gst-launch-1.0 … v2agen …) on held-out
procedural scenes: scenes rendered with the held-out recordings and seeds never used in training.

Metrics (the issue's bars):
- sync: onsets detected in the generated audio of drop scenes vs the true contact times, F1 at
  ±50 ms (bar ≥ 0.8); the same detector on the scenes' true audio is printed as its own check;
- prompts: drop scenes prompted with each material; the classifier (classifier.py, trained on
  real recordings only) must name the prompted material (bar ≥ 80%);
- negative prompt: two-source scenes generated with an empty prompt, with and without a negative
  prompt naming the ambience; the ambience's classifier probability must fall ≥ 50% (relative);
- negative audio guidance: on two-source scenes, track 1 = the ambience (prompted), track 2
  generated unprompted with and without track 1 on audio_sink; how often track 2 contains the
  ambience's class must at least halve;
- decoder: log-spectral distance of encode → decode (the package's decoder.onnx) on the held-out
  recordings;
- speed: the element's own inference time per window or hop (v2agen/window messages), mean and
  worst, with two and three guidance branches;
- live (only when asked, `--only live`): the sync scenes played as a live camera through v2agen
  to a clock-synced sink (tests/benches/live_foley.rs): the reported latency, the delay from each
  impact's frame to its onset's rendering at the sink, and how late any buffer was rendered.
- seams (streaming packages, with sync): the sample step and spectral flux at hop boundaries
  against inside hops.

    python models/foley/evaluate.py                    # full run, writes .cache/evaluation.json
    python models/foley/evaluate.py --quick            # CI: sync on the 96 sync scenes, against the bar
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

from config import CACHE, CLASSES, HERE, HOP, OVERLAP_MS, RATE, SAMPLES, VOCODER_LOOKAHEAD, WINDOW_S  # noqa: E402

SEED = 7_000_000  # scene seeds far from training's (the evaluation)
VALIDATION_SEED = 8_000_000  # other held-out scenes, for choosing checkpoints (README)
TOLERANCE = 0.05
AUDIBLE_DB = 60  # the onset detector's range below the clip's loudest frame
SYNC_BAR = {"plain": 0.85, "sketch": 0.8}  # issue 16's, on the evaluation scenes
# CI (--quick) holds the plain bar itself on the 96 scenes it is stated on: there the bundled
# package measures 0.887, about ten onsets over it, where another CPU's rounding moves a few; on
# its first 48 (CI's set until run A) it measures 0.856, one onset over, too close for CI.
QUICK_FLOOR = SYNC_BAR["plain"]
QUICK_SCENES = 96


EXTRA = ""  # --set: element properties for every run (trying other scales or steps)
LOOK = "plain"  # --look: the evaluation scenes' look; "sketch" is never rendered for training


def run_v2agen(frames, model, prompt="", negative="", existing=None, seed=0, extra=""):
    """Generated soundtrack (f32 mono) and the element's per-window inference times (ms)."""
    with tempfile.TemporaryDirectory() as d:
        v, a, e = Path(d) / "v.raw", Path(d) / "a.raw", Path(d) / "e.raw"
        frames.tofile(v)
        h, w = frames.shape[1:3]
        # One argv entry per token: gst-launch-1.0 escapes the spaces inside each one itself.
        # (An empty property value would swallow the next token, so empty prompts are left out.)
        gen = ["v2agen", "name=g", f"model={model}", f"seed={seed}", *shlex.split(f"{EXTRA} {extra}")]
        gen += [f"prompt={prompt}"] if prompt else []
        gen += [f"negative-prompt={negative}"] if negative else []
        pipe = ["filesrc", f"location={v}", f"blocksize={h * w * 3}", "!", "rawvideoparse",
                f"width={w}", f"height={h}", "format=rgb", f"framerate={scenes.FPS}/1", "!",
                *gen, "!", "fakesink", "g.audio_src", "!", "filesink", f"location={a}"]
        if existing is not None:
            existing.astype(np.float32).tofile(e)
            pipe += ["filesrc", f"location={e}", "!", "rawaudioparse", "format=pcm",
                     "pcm-format=f32le", f"sample-rate={RATE}", "num-channels=1", "!", "g.audio_sink"]
        r = subprocess.run(["gst-launch-1.0", "-m", *pipe], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0 or not a.exists():
            raise RuntimeError(f"v2agen failed: {r.stdout[-800:]}{r.stderr[-800:]}")
        ms = [float(x) for x in re.findall(r"inference-ms=\(double\)([0-9.e+-]+)", r.stdout)]
        return np.fromfile(a, dtype="<f4"), ms


def band_db(audio):
    """Energy above 1 kHz per 10 ms frame, in dB: impacts' attacks are broadband, while the
    ringing of earlier impacts and engine rumble sit mostly below."""
    win = np.hanning(512)
    pad = np.pad(audio, (256, 256))
    n = len(audio) // HOP
    frames = np.stack([pad[i * HOP: i * HOP + 512] * win for i in range(n)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return 10 * np.log10(power[:, 32:].sum(1) + 1e-9)


def band_rise(db):
    """The rise of band_db's energy over 20 ms (two frames), 0 where it falls."""
    return np.maximum(0, db[2:] - db[:-2])


def onsets(audio):
    """Onset times (s): peaks of the rise in band energy over 20 ms of at least 12 dB, within
    35 dB of the clip's loudest frame, at least 100 ms apart. Energy more than AUDIBLE_DB below
    the loudest frame counts as silence: the scenes' silences are digital zeros, and a faint
    ramp into an attack (a decoder's pre-echo 60-80 dB down, which nobody hears) would otherwise
    put the largest rise where the level is still far below the 35 dB gate, and the attack
    would go uncounted."""
    db = band_db(audio)
    top = db.max()
    db = np.maximum(db, top - AUDIBLE_DB)
    rise = band_rise(db)
    out, last = [], -1.0
    for i in range(1, len(rise) - 1):
        t = (i + 1) * HOP / RATE
        if rise[i] >= 12 and rise[i] >= rise[i - 1] and rise[i] >= rise[i + 1] \
                and db[i + 2] > top - 35 and t - last > 0.1:
            out.append(t)
            last = t
    return out


def rise_at(db, t):
    """(the rise of band energy `db` at time t: the loudest of the 30 ms after it over the mean of
    the 30 ms before, that loudest level) in dB; None where either side is outside the clip."""
    i = int(round(t * RATE / HOP))
    before, after = db[max(0, i - 3): i], db[i: i + 4]
    if not (len(before) and len(after)):
        return None
    return after.max() - before.mean(), after.max()


def audible(audio, contacts):
    """The contacts whose sound is an onset in the true audio: band energy in the 30 ms after the
    contact at least 6 dB above the 30 ms before it (a soft bounce under the ringing of the
    previous one is a contact no listener or detector can hear)."""
    db = band_db(audio)
    return [t for t in contacts if (r := rise_at(db, t)) is not None and r[0] >= 6]


def near(t, ts, tol=TOLERANCE):
    """Whether any of the times `ts` falls within `tol` of t: an onset on a contact, or a contact
    with an onset on it."""
    return any(abs(t - u) <= tol for u in ts)


def match(pred, contacts, audible_contacts, tol=TOLERANCE):
    """(onsets near any contact, onsets, audible contacts with an onset near, audible contacts):
    precision counts an onset right if it falls on any contact; recall is over the audible ones."""
    return (sum(near(p, contacts, tol) for p in pred), len(pred),
            sum(near(c, pred, tol) for c in audible_contacts), len(audible_contacts))


def resamples(count, n=2000):
    """`n` draws of `count` scenes with replacement (seeded: every call draws the same)."""
    rng = np.random.default_rng(0)
    return [rng.integers(count, size=count) for _ in range(n)]


def bootstrap_f1(per_scene, n=2000):
    """95 % interval of the F1 over scenes resampled with replacement."""
    m = np.array(per_scene)
    stats = [f1(m[i].sum(0)) for i in resamples(len(m), n)]
    return tuple(np.percentile(stats, [2.5, 97.5]))


def paired_bootstrap_f1(a, b, n=2000):
    """F1(b) − F1(a) over the same scenes (per-scene match counts each) and its 95 % interval,
    the scenes resampled together."""
    a, b = np.array(a), np.array(b)
    diffs = [f1(b[i].sum(0)) - f1(a[i].sum(0)) for i in resamples(len(a), n)]
    return (f1(b.sum(0)) - f1(a.sum(0)), *np.percentile(diffs, [2.5, 97.5]))


def f1(counts):
    prec = counts[0] / counts[1] if counts[1] else 0.0
    rec = counts[2] / counts[3] if counts[3] else 1.0
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def impact_times(clip):
    """Contact times that start an impact sound, the first of any within 60 ms of each other."""
    out = []
    for ev in clip["events"]:
        if ev.get("class") in ("impact_metal", "impact_wood", "bounce", "crash"):
            if not out or ev["time"] - out[-1] > 0.06:
                out.append(ev["time"])
    return out


GENERATED = []  # the sync scenes' soundtracks, for the seam metric


def sync_metric(model, lib, count, log, per_scene=None):
    rng = np.random.default_rng(SEED)
    totals, truth_totals = np.zeros(4), np.zeros(4)
    for i in range(count):
        clip = scenes.render(rng, lib, WINDOW_S, "drop", LOOK)
        contacts = impact_times(clip)
        heard = audible(clip["audio"], contacts)
        audio, _ = run_v2agen(clip["frames"], model, prompt=clip["caption"], seed=i)
        GENERATED.append(audio)
        m = match(onsets(audio), contacts, heard)
        if per_scene is not None:
            per_scene.append(m)
        totals += m
        truth_totals += match(onsets(clip["audio"]), contacts, heard)
        log(f"  drop {i}: {clip['caption']!r}: {m[2]}/{m[3]} audible contacts found, "
            f"{m[0]}/{m[1]} onsets on a contact")
    return f1(totals), f1(truth_totals)


def package_hop(model):
    """A streaming package's hop in samples (None for a windowed one)."""
    import tomllib
    timing = tomllib.loads((Path(model) / "model.toml").read_text())["timing"]
    return timing["hop_ms"] * RATE // 1000 if "hop_ms" in timing else None


def seam_metric(audios, hop):
    """Hop boundaries against the inside of hops, over generated soundtracks: the mean and the
    largest absolute sample step, and the spectral flux (positive change of the 10 ms log
    spectrum, dB per bin) of the frames that straddle a boundary against all others. A seam would
    show as larger steps or flux at the boundaries; the flux's excess at boundaries (boundary
    minus inside, per soundtrack) comes with a bootstrap interval over the soundtracks.
    The flux is measured on the spectrum floored AUDIBLE_DB below the soundtrack's loudest bin,
    as the onset detector floors its band: what changes further down is inaudible under the
    sound, and a log spectrum without a floor counts the changing texture of a -80 dB noise
    floor between events as much as an attack (reported too, as `flux_excess_unfloored`)."""
    step_b, step_i, flux = [], [], {"": ([], []), "_unfloored": ([], [])}
    win = np.hanning(320)
    for a in audios:
        d = np.abs(np.diff(a))
        at = np.arange(hop - 1, len(d), hop)
        mask = np.zeros(len(d), bool)
        mask[at] = True
        step_b.append(d[mask])
        step_i.append(d[~mask])
        n = (len(a) - 320) // HOP
        db = 20 * np.log10(np.abs(np.fft.rfft(np.stack([a[i * HOP: i * HOP + 320] * win for i in range(n)]),
                                              axis=1)) + 1e-4)
        # Frame i + 1 starts at (i + 1)·HOP and spans 320 samples: it straddles a boundary when
        # one falls inside it.
        starts = (np.arange(1, n)) * HOP
        straddle = np.array([((s // hop + 1) * hop) < s + 320 for s in starts])
        for key, spec in (("", np.maximum(db, db.max() - AUDIBLE_DB)), ("_unfloored", db)):
            f = np.maximum(0, spec[1:] - spec[:-1]).mean(1)
            flux[key][0].append(f[straddle])
            flux[key][1].append(f[~straddle])
    cat = np.concatenate
    out = {"step_boundary_mean": float(cat(step_b).mean()), "step_inside_mean": float(cat(step_i).mean()),
           "step_boundary_max": float(cat(step_b).max()), "step_inside_max": float(cat(step_i).max())}
    for key, (fb, fi) in flux.items():
        # The same resampled soundtracks for both keys (resamples is seeded), not one generator
        # drawn on from the first key's draws into the second's.
        excess = np.array([b.mean() - i.mean() for b, i in zip(fb, fi)])
        draws = [excess[i].mean() for i in resamples(len(excess))]
        out[f"flux_boundary{key}"], out[f"flux_inside{key}"] = float(cat(fb).mean()), float(cat(fi).mean())
        out[f"flux_excess{key}"] = float(excess.mean())
        out[f"flux_excess{key}_interval"] = [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]
    return out


MATERIAL_PROMPTS = {c: f"{scenes.MATERIALS[c][1]} falls and hits the floor" for c in scenes.MATERIALS}


def prompt_metric(model, lib, clf, count, log):
    rng = np.random.default_rng(SEED + 1)
    hits, total, confusion = 0, 0, {}
    for i in range(count):
        clip = scenes.render(rng, lib, WINDOW_S, "drop", LOOK)
        for cls, prompt in MATERIAL_PROMPTS.items():
            audio, _ = run_v2agen(clip["frames"], model, prompt=prompt, seed=i)
            got = CLASSES[int(np.argmax(clf.probs(audio)))]
            hits += got == cls
            total += 1
            confusion.setdefault(cls, []).append(got)
    for cls, got in confusion.items():
        log(f"  prompted {cls}: heard {', '.join(got)}")
    return hits / total


NEGATIVE = {"rain": "rain", "thunder": "thunder", "engine": "an engine"}


def two_source(rng, lib):
    kind = "+".join(scenes.PAIRS[rng.integers(len(scenes.PAIRS))])
    return scenes.render(rng, lib, WINDOW_S, kind, LOOK)


def negative_prompt_metric(model, lib, clf, count, log):
    rng = np.random.default_rng(SEED + 2)
    base, neg = [], []
    for i in range(count):
        clip = two_source(rng, lib)
        amb = clip["parts"][0]["class"]
        k = CLASSES.index(amb)
        a, _ = run_v2agen(clip["frames"], model, seed=i)
        b, _ = run_v2agen(clip["frames"], model, negative=NEGATIVE[amb], seed=i)
        base.append(clf.probs(a)[k])
        neg.append(clf.probs(b)[k])
        log(f"  {clip['kind']}: p({amb}) {base[-1]:.2f} -> {neg[-1]:.2f} with negative prompt {NEGATIVE[amb]!r}")
    return 1 - np.mean(neg) / max(np.mean(base), 1e-9), float(np.mean(base)), float(np.mean(neg))


def nag_metric(model, lib, clf, count, log):
    rng = np.random.default_rng(SEED + 3)
    without, with_, p_without, p_with = 0, 0, [], []
    for i in range(count):
        clip = two_source(rng, lib)
        first = clip["parts"][0]
        k = CLASSES.index(first["class"])
        track1, _ = run_v2agen(clip["frames"], model, prompt=first["caption"], seed=i)
        # Track 2 unprompted: the pictures alone decide, so without guidance it holds the
        # ambience as often as the model hears it in the pictures (prompted with the event
        # alone, it never does, and the test could not tell guidance from no guidance).
        a, _ = run_v2agen(clip["frames"], model, seed=100 + i)
        b, _ = run_v2agen(clip["frames"], model, seed=100 + i, existing=track1)
        pa, pb = clf.probs(a)[k], clf.probs(b)[k]
        without += pa > 0.5
        with_ += pb > 0.5
        p_without.append(pa)
        p_with.append(pb)
        log(f"  {clip['kind']}: track 2 unprompted: p({first['class']}) {pa:.2f} without, "
            f"{pb:.2f} with track 1 on audio_sink")
    log(f"  mean probability of track 1's class in track 2: {np.mean(p_without):.3f} without, "
        f"{np.mean(p_with):.3f} with")
    return without / count, with_ / count


def speed_metric(model, lib, log):
    """The element's own inference time per step (v2agen/window messages: a window, or a hop of
    a streaming package) on a 15 s scene, with two guidance branches (a prompt) and with three
    (plus an existing soundtrack): mean and worst, in ms and as a real-time factor (over the new
    audio a step adds)."""
    rng = np.random.default_rng(SEED + 4)
    clip = scenes.render(rng, lib, 15.0, "rain+drop", LOOK)
    hop = package_hop(model)
    new_s = hop / RATE if hop else WINDOW_S - OVERLAP_MS / 1000  # a window adds its hop
    out = {"step_s": new_s}
    for name, existing in (("cfg", None), ("cfg+nag", clip["tracks"]["rain"])):
        _, ms = run_v2agen(clip["frames"], model, prompt=clip["caption"], existing=existing)
        ms = ms[1:]  # the first step also builds ONNX Runtime's per-shape caches
        out[name], out[f"{name}_worst"] = float(np.mean(ms)), float(np.max(ms))
        log(f"  {name}: {len(ms)} steps, {np.mean(ms):.1f} ms mean (RTF {np.mean(ms) / 1000 / new_s:.3f}), "
            f"{np.max(ms):.1f} ms worst ({np.max(ms) / 1000 / new_s:.3f}) per {new_s * 1000:.0f} ms of new audio")
    return out


def live_metric(model, lib, count, log):
    """End to end in a live pipeline (tests/benches/live_foley.rs): each evaluation drop scene's
    frames pushed as a live camera does, the soundtrack rendered by a clock-synced sink. Per
    impact whose onset the soundtrack has (±50 ms): the delay from its frame's running time to
    the rendering of its onset at the sink; per buffer, how late the sink rendered it against its
    deadline (running time + the reported latency; 0 when on time)."""
    root = HERE.parent.parent
    # Built once; its executable then runs once per scene (not cargo each time).
    built = subprocess.run(["cargo", "bench", "-q", "--locked", "-p", "gst-generative-tests", "--bench", "live_foley",
                            "--no-run", "--message-format=json"], cwd=root, check=True, capture_output=True, text=True)
    bench = next(m["executable"] for m in map(json.loads, built.stdout.splitlines())
                 if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "live_foley" and m["executable"])
    rng = np.random.default_rng(SEED)
    delays, lateness, latency = [], [], None
    totals = np.zeros(4)
    for i in range(count):
        clip = scenes.render(rng, lib, WINDOW_S, "drop", LOOK)
        contacts = impact_times(clip)
        heard = audible(clip["audio"], contacts)
        with tempfile.TemporaryDirectory() as d:
            v, out = Path(d) / "v.rgb", Path(d) / "live"
            clip["frames"].tofile(v)
            h, w = clip["frames"].shape[1:3]
            r = subprocess.run([bench, str(Path(model).resolve()), str(v), str(w), str(h), str(out),
                                "--prompt", clip["caption"]], cwd=root, capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise RuntimeError(f"live_foley failed: {r.stdout[-800:]}{r.stderr[-800:]}")
            latency = int(re.search(r"latency (\d+) ns", r.stdout).group(1)) / 1e9
            audio = np.fromfile(str(out) + ".f32", dtype="<f4")
            rows = np.loadtxt(str(out) + ".tsv", dtype=np.int64, ndmin=2)
        running, rendered, samples = rows[:, 0] / 1e9, rows[:, 1] / 1e9, rows[:, 2]
        starts = np.concatenate([[0], np.cumsum(samples)])
        late = np.maximum(0.0, rendered - (running + latency))
        lateness.append(late)
        found = onsets(audio)
        totals += match(found, contacts, heard)
        for c in heard:
            on = [o for o in found if near(o, [c])]
            if not on:
                continue
            k = int(round(min(on, key=lambda o: abs(o - c)) * RATE))  # onset sample
            b = min(np.searchsorted(starts, k, side="right") - 1, len(rows) - 1)
            played = rendered[b] + (k - starts[b]) / RATE
            delays.append(played - c)  # the contact frame's running time is its time in the clip
        log(f"  live {i}: {len(rows)} buffers, lateness {1000 * late[0]:.1f} ms for the first (ONNX Runtime's "
            f"first runs), worst {1000 * late[1:].max():.1f} ms after it")
    delays = np.array(delays)
    return {"latency_s": latency, "delay_median_s": float(np.median(delays)), "delay_worst_s": float(delays.max()),
            "delay_best_s": float(delays.min()), "events": int(len(delays)),
            "lateness_first_worst_s": float(max(x[0] for x in lateness)),
            "lateness_worst_s": float(max(x[1:].max() for x in lateness)),
            "buffers": sum(len(x) for x in lateness), "live_sync_f1": f1(totals)}


def decode(sess, z):
    """A latent [1, N_MELS, frames] through a package's decoder graph: whole (a windowed
    package), or hop by hop with the context before each hop (a streaming one, as v2agen runs
    it: zeros before the first hop)."""
    ins = {i.name: i.shape for i in sess.get_inputs()}
    if len(ins) == 1:
        return sess.run(["waveform"], {"latent": z})[0][0]
    hop, ctx = ins["latent"][2], ins["prev"][2]
    z = np.concatenate([np.zeros((1, z.shape[1], ctx), np.float32), z], axis=2)
    out = [sess.run(["waveform"], {"latent": z[:, :, k: k + hop], "prev": z[:, :, k - ctx: k]})[0][0]
           for k in range(ctx, z.shape[2] - hop + 1, hop)]
    return np.concatenate(out)


def decoder_metric(model):
    import onnxruntime as ort
    import torch
    from common import Frontend, latent_stats, log_spectral_distance
    from classifier import library
    sess = ort.InferenceSession(str(Path(model) / "decoder.onnx"))
    # The package's latent: its own latent_stats.json (export_stream.py writes one for a
    # candidate latent), else the shipped one.
    own = Path(model) / "latent_stats.json"
    front = Frontend(latent_stats(own if own.exists() else None))
    # A streaming package's decoder lags its latent by the vocoder's lookahead (its model's
    # latent runs that far ahead of the audio, stream.py): the recording's own latent goes in,
    # the lag comes off the output. (Shifting the latent ahead instead dropped each recording's
    # first frame, the attack of these recordings, which start at their onset: a decoder the
    # model feeds has that frame in the hop before. It read 5.78 dB for the bundled package,
    # where the Python decode of the same vocoder reads 5.27.)
    hop = package_hop(model)
    lag = VOCODER_LOOKAHEAD * 2 * HOP if hop else 0
    tail = hop or 0  # a whole hop more, which covers the lag
    out = []
    for sounds in library("heldout").values():
        for s in sounds:
            w = np.zeros(SAMPLES, np.float32)
            w[: min(len(s), SAMPLES)] = s[:SAMPLES]
            with torch.no_grad():
                z = front(torch.tensor(np.pad(w, (0, tail)))[None]).numpy()
            y = decode(sess, z)[lag: lag + SAMPLES]
            out.append(log_spectral_distance(torch.tensor(y), torch.tensor(w)))
    return float(np.mean(out)), len(out)


def main():
    global EXTRA, SEED, LOOK
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(HERE))
    ap.add_argument("--scenes", type=int, default=24, help="scenes per metric")
    ap.add_argument("--quick", action="store_true", help=f"sync only, on {QUICK_SCENES} scenes (CI)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset: sync,prompt,negative,nag,decoder,speed,live (live: not by default)")
    ap.add_argument("--seed", type=int, default=SEED,
                    help=f"scene seed base: {SEED} evaluates, {VALIDATION_SEED} validates (choosing checkpoints)")
    ap.add_argument("--set", default="", help='element properties for every run, e.g. "guidance-scale=2 steps=12"')
    ap.add_argument("--look", default="plain", choices=["plain", "sketch"],
                    help="the scenes' look: sketch is the held-out look (data/scenes.py), never trained on")
    a = ap.parse_args()
    EXTRA, SEED, LOOK = a.set, a.seed, a.look
    log = lambda s: print(s, flush=True)  # noqa: E731
    lib = scenes.Library("heldout")
    results = {}
    if a.quick:
        f, truth = sync_metric(a.model, lib, QUICK_SCENES, log)
        print(f"sync F1 (±50 ms) {f:.3f} on {QUICK_SCENES} scenes (true audio: {truth:.3f}); "
              f"the issue's bar ≥ {QUICK_FLOOR}")
        return 0 if f >= QUICK_FLOOR else 1
    only = set(a.only.split(",")) if a.only else {"sync", "prompt", "negative", "nag", "decoder", "speed"}
    clf = None
    if only & {"prompt", "negative", "nag"}:
        import torch
        torch.set_num_threads(2)
        from classifier import load
        clf = load()
    if "decoder" in only:
        lsd, n = decoder_metric(a.model)
        results["decoder_lsd_db"] = lsd
        log(f"decoder: log-spectral distance {lsd:.2f} dB over {n} held-out recordings")
    if "sync" in only:
        per_scene = []
        f, truth = sync_metric(a.model, lib, a.scenes, log, per_scene)
        lo, hi = bootstrap_f1(per_scene)
        key = "sync_f1" if LOOK == "plain" else f"sync_f1_{LOOK}"
        results[key], results[f"{key}_true_audio"], results[f"{key}_interval"] = f, truth, [lo, hi]
        log(f"sync ({LOOK} look): onset F1 (±50 ms) {f:.3f} [{lo:.3f}, {hi:.3f}] (true audio {truth:.3f}); "
            f"bar ≥ {SYNC_BAR[LOOK]}")
        hop = package_hop(a.model)
        if hop:
            seams = seam_metric(GENERATED, hop)
            results["seams"] = seams
            log("seams: sample step at hop boundaries {step_boundary_mean:.4f} mean / {step_boundary_max:.3f} max, "
                "inside hops {step_inside_mean:.4f} / {step_inside_max:.3f}; spectral flux {flux_boundary:.3f} dB "
                "at boundaries, {flux_inside:.3f} inside (excess {flux_excess:+.3f} [{lo:+.3f}, {hi:+.3f}]; "
                "without the audible floor {flux_excess_unfloored:+.3f} [{ulo:+.3f}, {uhi:+.3f}])"
                .format(**seams, lo=seams["flux_excess_interval"][0], hi=seams["flux_excess_interval"][1],
                        ulo=seams["flux_excess_unfloored_interval"][0], uhi=seams["flux_excess_unfloored_interval"][1]))
    if "prompt" in only:
        acc = prompt_metric(a.model, lib, clf, max(1, a.scenes // 4), log)
        results["prompt_accuracy"] = acc
        log(f"prompts: prompted material heard {acc:.3f}; bar ≥ 0.8")
    if "negative" in only:
        drop, pb, pn = negative_prompt_metric(a.model, lib, clf, a.scenes, log)
        results["negative_prompt_drop"] = drop
        log(f"negative prompt: ambience probability {pb:.3f} -> {pn:.3f} ({drop:.1%} lower); bar ≥ 50%")
    if "nag" in only:
        wo, w = nag_metric(a.model, lib, clf, a.scenes, log)
        results["nag_rate_without"], results["nag_rate_with"] = wo, w
        log(f"negative audio guidance: track 2 contains track 1's class {wo:.3f} without, {w:.3f} with; "
            f"bar: with ≤ half of without")
    if "speed" in only:
        sp = speed_metric(a.model, lib, log)
        results["step_ms"] = sp
        new = sp["step_s"]
        log(f"speed: {sp['cfg']:.1f} ms mean per step of {new * 1000:.0f} ms (RTF {sp['cfg'] / 1000 / new:.3f}, "
            f"worst {sp['cfg_worst'] / 1000 / new:.3f}) with 2 branches; {sp['cfg+nag']:.1f} ms "
            f"(RTF {sp['cfg+nag'] / 1000 / new:.3f}, worst {sp['cfg+nag_worst'] / 1000 / new:.3f}) with 3")
    if "live" in only:
        lv = live_metric(a.model, lib, a.scenes, log)
        results["live"] = lv
        log(f"live: reported latency {lv['latency_s'] * 1000:.0f} ms; impact frame → onset rendered at the "
            f"sink {lv['delay_median_s'] * 1000:.0f} ms median, {lv['delay_best_s'] * 1000:.0f}-"
            f"{lv['delay_worst_s'] * 1000:.0f} ms over {lv['events']} impacts; buffers rendered after their deadline "
            f"by at most {lv['lateness_worst_s'] * 1000:.1f} ms ({lv['buffers']} buffers; a stream's first: "
            f"{lv['lateness_first_worst_s'] * 1000:.1f} ms); live sync F1 {lv['live_sync_f1']:.3f}")
    out = CACHE / "evaluation.json"
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev.update(results)
    out.write_text(json.dumps(prev, indent=1, default=float))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GST_DEBUG", "0")
    sys.exit(main())
