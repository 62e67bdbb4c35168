#!/usr/bin/env python3
"""Why the streaming model misses contacts: it samples a checkpoint in torch as v2agen samples a
package (8 Euler steps, time shift 12, α = 1.5 against the empty prompt, its noise scale, 200 ms hops, the causal
vocoder), on the validation drop scenes, with a chosen context, and prints onset precision,
recall and F1 (evaluate.py's detector and matching), where the missed contacts fall within the
hop, how far found onsets are from their contacts, and the level where the true audio is silent
(false_sounds.py --between's measure; sound going on after its event). `--windowed` samples the windowed package
(models/foley-windowed or --package) the same way, whole 4 s windows, as the reference.

Contexts: `own` (what v2agen does: the latent it generated), `teacher` (the true audio's latent),
`zero` (every hop as at a stream start), `last:N` (its own, only the last N frames kept).
Guidance variants: what the unconditional branch sees (`--weak-gain`: sync features with less of
their change over time; `--uncond-context silence`), or a third branch against weakened sync
features (`--video-guidance`).

    python models/foley/diagnose_stream.py --checkpoint models/foley/.cache/foley-stream.pt --context own
    python models/foley/diagnose_stream.py --checkpoint models/foley/snapshots/foley-stream-contacts.pt \
        --vocoder-variant hedge      # the bundled model, in its own (nested) latent
    python models/foley/diagnose_stream.py --windowed
"""

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

import evaluate as ev  # noqa: E402
import vocoder  # noqa: E402
from common import Frontend, GriffinLimDecoder, PromptEncoder, latent_channels, latent_stats, silent_latent  # noqa: E402
from config import CACHE, FEAT, GUIDANCE, LATENT_FRAMES, N_MELS, STEPS, WINDOW_S, WINDOWED  # noqa: E402
from prepare import encoder_frames  # noqa: E402
from stream import (AHEAD, CTX, HOP_F, HOP_MS, LATENT_MS, LEAD, NOISE_SCALE, SEMANTIC_N, flow_time,  # noqa: E402
                    from_checkpoint, sample)
from false_sounds import between_events, quiet_frames  # noqa: E402
from train_stream import package_weights, span_frames  # noqa: E402


def weak_sync(sync, gain):
    """Sync features [B, n, FEAT] with their deviation from their mean over the n frames scaled by
    `gain`: the timing evidence made fainter (0: none left), train_stream.weakened without its noise."""
    if gain == 1.0:
        return sync
    mean = sync.mean(dim=1, keepdim=True)
    return mean + gain * (sync - mean)


def true_latent(front, audio):
    """The latent of waveform `audio` [S] as a streaming latent: LEAD frames ahead of the audio
    (stream.py), its last frame repeated to the clip's length. [1, C, LATENT_FRAMES]"""
    z = front(torch.as_tensor(audio)[None])[:, :, LEAD:]
    return torch.cat([z, z[:, :, -1:].expand(-1, -1, LEAD)], dim=2)


def streamed(model, frames, text, empty, true, context, gen, steps=STEPS, alpha=GUIDANCE, ahead=AHEAD,
             weak_gain=1.0, video_guidance=0.0, uncond_context="same", method="euler", noise_scale=NOISE_SCALE,
             channels=N_MELS, first=0):
    """The latents [B, channels, LATENT_FRAMES] of B clips streamed hop by hop together (frames:
    the sync encoder's and the semantic encoder's renderings of the scenes, each [B, n, 3, 32, 32]
    in [0, 1]; text [B, TEXT_DIM], empty [1, TEXT_DIM]). With `ahead` < AHEAD latent frames
    the video past the hop's end + `ahead` is frozen at its last frame before: how much the
    contacts found owe to the lookahead. With `weak_gain` < 1 the guidance's negative side sees
    the sync features weakened (weak_sync): with `video_guidance` 0 in the unconditional branch
    (still two branches), else in a third branch, u(∅) + α(u(c) − u(∅)) + γ(u(c) − u(c, weak)).
    With `uncond_context` "silence" the unconditional branch sees silence as its previous latent
    (a stream's start). A model in a nested latent (common.nest) takes its `channels`. With
    `first` > 0 each hop starts at Euler step `first` from the true latent (`true` [B, channels,
    LATENT_FRAMES], LEAD frames ahead of the audio) noised to that step's time: the model's own
    rendering of the true sound. Also the rollouts train_stream.py learns from (rollouts.py)."""
    sync_frames, sem_frames = frames
    n = sync_frames.shape[0]
    hist = torch.zeros(n, channels, CTX)
    seen = (CTX + HOP_F + ahead) // 2  # video frames (25 fps, two latent frames each) kept

    def span_of(f, h):
        span = torch.stack([span_frames(clip, h)[0] for clip in f])
        span[:, seen:] = span[:, seen - 1: seen]
        return span

    for k in range(LATENT_FRAMES // HOP_F):
        h = k * HOP_F
        sync = model.sync(span_of(sync_frames, h))
        sem = model.semantic(span_of(sem_frames, h)[:, ::5][:, :SEMANTIC_N])
        if context == "teacher":
            # The true latent after CTX zero frames (a stream's start): the CTX frames before h.
            ctx = torch.cat([torch.zeros(n, channels, CTX), true], dim=2)[:, :, h: h + CTX]
        elif context == "zero":
            ctx = torch.zeros(n, channels, CTX)
        else:
            ctx = hist[:, :, -CTX:].clone()
            if context.startswith("last:"):
                ctx[:, :, : CTX - int(context[5:])] = 0

        # The branches one after another in one batch: conditional, unconditional (, weakened).
        if video_guidance == 0:
            texts, syncs = torch.cat([text, empty.expand(n, -1)]), torch.cat([sync, weak_sync(sync, weak_gain)])
        else:
            texts = torch.cat([text, empty.expand(n, -1), text])
            syncs = torch.cat([sync, sync, weak_sync(sync, weak_gain)])
        b = texts.shape[0] // n
        ctxs = ctx.repeat(b, 1, 1)
        if uncond_context == "silence":
            ctxs[n: 2 * n] = 0  # all-zero frames: silence (stream.silence_before_stream)
        sems = sem.repeat(b, 1, 1)

        def velocity(x, t, ctxs=ctxs, sems=sems, texts=texts, syncs=syncs, b=b):
            v = model.denoiser(x.repeat(b, 1, 1), torch.full((b * n,), t), texts, syncs, sems,
                               torch.zeros(b * n, FEAT), ctxs)
            if b == 3:  # sample() forms v_u + α(v_c − v_u); fold γ(v_c − v_w) into v_c
                return v[:n] + video_guidance / alpha * (v[:n] - v[2 * n:]), v[n: 2 * n]
            return v[:n], v[n:]

        noise = noise_scale * torch.randn((n, channels, HOP_F), generator=gen)
        if first:
            t = flow_time(first, steps)
            noise = t * true[:, :, h: h + HOP_F] + (1 - t) * noise
        hist = torch.cat([hist, sample(velocity, noise, steps, alpha, method, first)], dim=2)
    return hist[:, :, CTX:]


def windowed_model(package):
    from model import Foley
    w = package_weights(package)
    m = Foley(latent_stats())
    m.sync.load_state_dict(w["video_sync"])
    m.semantic.load_state_dict(w["video_semantic"])
    m.denoiser.load_state_dict(w["denoiser"], strict=False)  # freqs: a constant
    return m.eval()


def windowed(model, frames, text, empty, gen, steps=STEPS, alpha=GUIDANCE):
    sync_frames, sem_frames = frames  # as in streamed
    sync, sem = model.sync(sync_frames[None]), model.semantic(sem_frames[None, ::5])

    def velocity(x, t):
        v = model.denoiser(x.expand(2, -1, -1), torch.full((2,), t), torch.cat([text, empty]),
                           sync.expand(2, -1, -1), sem.expand(2, -1, -1), torch.zeros(2, 64))
        return v[:1], v[1:]

    return sample(velocity, torch.randn((1, N_MELS, LATENT_FRAMES), generator=gen), steps, alpha)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=CACHE / "foley-stream.pt")
    ap.add_argument("--context", default="own", help="own, teacher, zero or last:N")
    ap.add_argument("--windowed", action="store_true", help="the windowed package instead")
    ap.add_argument("--package", type=Path, default=WINDOWED)
    ap.add_argument("--scenes", type=int, default=32)
    ap.add_argument("--look", default="plain")
    ap.add_argument("--sync-look", default=None,
                    help="render the sync encoder's frames in this look instead (the same scene's events): "
                         "which encoder's reading of --look costs the F1")
    ap.add_argument("--semantic-look", default=None, help="the same for the semantic encoder")
    ap.add_argument("--steps", type=int, default=STEPS, help="Euler steps (the package's default)")
    ap.add_argument("--sampler", default="euler", choices=["euler", "heun"],
                    help="heun: steps / 2 Heun steps, the same model calls")
    ap.add_argument("--alpha", type=float, default=GUIDANCE, help="guidance against the empty prompt")
    ap.add_argument("--noise-scale", type=float, default=NOISE_SCALE,
                    help="the starting noise's standard deviation (the package's sampler.noise_scale)")
    ap.add_argument("--ahead-ms", type=int, default=AHEAD * LATENT_MS,
                    help="video lookahead the streaming model gets (the rest frozen), up to the layout's")
    ap.add_argument("--weak-gain", type=float, default=1.0,
                    help="the guidance's negative side sees the sync features with their deviation from "
                         "their mean scaled by this (see --video-guidance; 1, the default: as v2agen)")
    ap.add_argument("--video-guidance", type=float, default=0.0,
                    help="0: the unconditional branch sees the weakened features; γ > 0: a third branch, "
                         "+ γ(u(c) − u(c, weak))")
    ap.add_argument("--uncond-context", default="same", choices=["same", "silence"],
                    help="silence: the unconditional branch's previous latent is silence")
    ap.add_argument("--decoder", default="vocoder", choices=["vocoder", "gl"],
                    help="gl: Griffin-Lim (the windowed package's decoder; no vocoder needed; the "
                         "windowed model scores the same with either)")
    ap.add_argument("--vocoder-variant", default=None,
                    help="the vocoder variant to decode with (the bundled package's: hedge), as export_stream.py takes it")
    a = ap.parse_args()
    torch.set_num_threads(2)
    # A checkpoint's own latent (a nested one since run N), decoded by that latent's vocoder.
    model, stats = (windowed_model(a.package), latent_stats()) if a.windowed else from_checkpoint(a.checkpoint)
    front, enc, silence = Frontend(stats), PromptEncoder(), silent_latent(1, stats)
    voc = GriffinLimDecoder(stats) if a.decoder == "gl" else vocoder.load(vocoder.Latent(stats, a.vocoder_variant))
    lib = scenes.Library("heldout")
    rng = np.random.default_rng(ev.VALIDATION_SEED)
    totals, missed, heard_all, offsets, false, why = np.zeros(4), [], [], [], [], []
    between = {}  # a scene's class → the level between its events (false_sounds.between_events)
    as_input = lambda c: encoder_frames(c["frames"])  # noqa: E731
    for i in range(a.scenes):
        state = copy.deepcopy(rng)  # the same scene in another look: the looks draw their events alike
        clip = scenes.render(rng, lib, WINDOW_S, "drop", a.look)
        contacts = ev.impact_times(clip)
        heard = ev.audible(clip["audio"], contacts)
        drawn = {a.look: as_input(clip)}
        for look in {a.sync_look, a.semantic_look} - {None, a.look}:
            drawn[look] = as_input(scenes.render(copy.deepcopy(state), lib, WINDOW_S, "drop", look))
        frames = (drawn[a.sync_look or a.look], drawn[a.semantic_look or a.look])
        gen = torch.Generator().manual_seed(i)
        with torch.no_grad():
            text, empty = (torch.from_numpy(enc(c))[None] for c in (clip["caption"], ""))
            if a.windowed:
                z = windowed(model, frames, text, empty, gen, a.steps, a.alpha)
                lead = 0
            else:
                z = streamed(model, tuple(f[None] for f in frames), text, empty, true_latent(front, clip["audio"]),
                             a.context, gen, a.steps, a.alpha, a.ahead_ms // LATENT_MS, a.weak_gain, a.video_guidance,
                             a.uncond_context, a.sampler, a.noise_scale, latent_channels(stats))
                lead = LEAD
            if a.decoder == "gl":
                # Griffin-Lim has no lag: a streaming latent's frame f is the audio's f + LEAD.
                z = torch.cat([silence.expand(-1, -1, lead), z], dim=2)[:, :, :LATENT_FRAMES]
                audio = voc(z)[0].numpy()
            else:
                # The vocoder's output lags its latent by LEAD frames; a streaming latent runs that far ahead.
                z = torch.cat([z, z[:, :, -1:].expand(-1, -1, LEAD - lead)], dim=2)
                audio = voc(z)[0].numpy()[(LEAD - lead) * 320:][: len(clip["audio"])]
        found = ev.onsets(audio)
        totals += ev.match(found, contacts, heard)
        quiet = quiet_frames(clip)
        if quiet is not None:
            between.setdefault(clip["events"][0]["class"], []).append(between_events(audio, quiet))
        heard_all += heard
        scene_missed = [c for c in heard if not any(abs(c - t) <= ev.TOLERANCE for t in found)]
        missed += scene_missed
        false += [t for t in found if not any(abs(c - t) <= ev.TOLERANCE for c in contacts)]
        db, true_db = ev.band_db(audio), ev.band_db(clip["audio"])
        for c in scene_missed:
            i = int(c * ev.RATE / ev.HOP)  # band_db's frame
            near = db[max(0, i - 5): i + 6]
            rise = ev.band_rise(near).max() if len(near) > 2 else 0.0
            before = slice(max(0, i - 10), max(1, i - 2))
            why.append((db.max() - db[before].mean(), rise, true_db.max() - true_db[before].mean()))
        for c in heard:
            near = [t - c for t in found if abs(t - c) <= 0.15]
            if near:
                offsets.append(min(near, key=abs))
    what = f"windowed {a.package}" if a.windowed else f"{a.checkpoint.name}, context {a.context}"
    what += f", {a.decoder}, {a.steps} calls ({a.sampler}), α {a.alpha}" + ("" if a.windowed else
                                                                            f", noise scale {a.noise_scale}, lookahead {a.ahead_ms} ms")
    if not a.windowed and a.weak_gain != 1.0:
        what += (f", weak sync (gain {a.weak_gain}) " + ("in the unconditional branch" if a.video_guidance == 0
                 else f"in a third branch, γ {a.video_guidance}"))
    if not a.windowed and a.uncond_context == "silence":
        what += ", silence as the unconditional branch's context"
    what += "".join(f", {enc} from the {look} look" for enc, look in (("sync", a.sync_look), ("semantic", a.semantic_look))
                    if look)
    print(f"{what}: F1 {ev.f1(totals):.3f}, precision {totals[0] / max(1, totals[1]):.3f}, "
          f"recall {totals[2] / max(1, totals[3]):.3f} ({a.scenes} validation scenes, {a.look})")
    bins = np.arange(0, HOP_MS + 1, HOP_MS // 5)
    phase = lambda ts: np.histogram((np.array(ts) * 1000) % HOP_MS, bins=bins)[0]  # noqa: E731
    print(f"  missed {len(missed)} of {len(heard_all)} audible contacts; by position in the hop "
          f"({bins.tolist()} ms): missed {phase(missed).tolist()}, all {phase(heard_all).tolist()}")
    # The audio's hop boundaries are at multiples of HOP_MS: onsets piling up there are seams.
    print(f"  {len(false)} onsets on no contact; by position in the hop: {phase(false).tolist()}")
    if why:
        # A missed contact after loud sound was buried (its rise under the detector's 12 dB); after
        # quiet, nothing was generated for it.
        below, rise, true_below = np.array(why).T
        print(f"  missed contacts: level over the 80 ms before them {np.median(below):.0f} dB below the clip's "
              f"loudest (median; {np.sum(below < 35)} of {len(below)} within 35 dB; the true audio "
              f"{np.median(true_below):.0f} dB below its loudest), largest 20 ms rise within ±50 ms "
              f"{np.median(rise):.1f} dB (median)")
    if offsets:
        print(f"  nearest onset within 150 ms of {len(offsets)} contacts: median "
              f"{np.median(offsets) * 1000:+.0f} ms")
    # Sound going on after its event (false_sounds.py --between): each class's median.
    print("  level where the true audio is silent, under the clip's loudest frame: " + ", ".join(
        f"{c} {np.median(v):.0f} dB ({len(v)})" for c, v in sorted(between.items())))


if __name__ == "__main__":
    main()
