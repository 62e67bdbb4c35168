#!/usr/bin/env python3
"""Trains the streaming foley model (stream.py) by flow matching on the rendered scenes
(prepare.py), hop by hop: each example is one hop of a clip at a random position, with the
clean latent of the audio before it as context (silence before the clip starts, as the graphs
read the runtime's zeros at a stream start) and the video from the context's start to the
lookahead's end (the first or last frame where that is outside the clip, as v2agen gives).
Targets, prompts and the existing-audio condition as in train.py; half the examples denoise a
longer stretch reaching back into the context (`infill`); with --own-context a share of the
contexts end in the model's own sample (`own_context`), as every context in a stream does;
with --rollouts a share of them is a stretch of the model's own multi-hop stream of the clip
(rollouts.py), which drifts as a single sample does not, and with --after-contact a share of
those starts in the half second after a contact, where a ring must end (after_contacts), with
--close-pairs a share holds a later contact of a close pair (close_pairs), with --quiet-before
a share lies in the silence before the recording's first sound (quiet_before), with --runaway
a share starts where the model's own stream sounds on over the recording's silence (sounding_on), and
with --decay-weight the hop frames whose recording lies under the context's end weigh more
(decay_weight), with --decay-by-group without taking weight from the rows that start a stream
(by_group).
Resumable (.cache/foley-stream.pt; on a new machine from the snapshot in git, --from-snapshot).

It starts from a trained windowed package (`--init`, default models/foley-windowed as train.py and
export.py make it): the video and audio encoders and the denoiser's conditioning and blocks are
the same modules, so they carry over; the denoiser's input takes the noisy hop where the
windowed one took the window (the clean context and the mask start at zero) and the pooled
semantic FiLM starts fresh. A first run from scratch (the sync encoder from pretrain_sync.py)
reached sync F1 0.41 in 19 minutes; the windowed model needed 89 minutes to reach 0.86.

    python models/foley/train_stream.py --minutes 50
"""

import argparse
from pathlib import Path

import numpy as np
import torch

import snapshot
from common import Frontend, latent_channels, latent_parts, latent_stats, silent_latent
from config import CACHE, HERE, LATENT_FRAMES, SAMPLES, WINDOWED
from model import Denoiser, FusedSync, VideoEncoder, zero_linear
from stream import (AHEAD, CTX, HOP_F, LEAD, SEMANTIC_N, SYNC_N, StreamFoley, blocks_of, branch_of, branched, deepened,
                    fused, sync_input_of, sample, weights)
from styles import styled
from train import SYNC, Data, fit, latent_rise, noised, onset_strength

CKPT = CACHE / "foley-stream.pt"
PER_LATENT = SAMPLES // LATENT_FRAMES  # 320 samples per latent frame
START_SHARE = 0.25  # examples whose hop starts within the first context (a stream's start)
ROLLOUT_SHARE = 0.25  # with --rollouts, the share of each batch whose context is a rollout's
AFTER_CONTACT_F = 30  # latent frames (0.6 s) after a contact in which --after-contact starts rollout hops
# --close-pairs: a later contact 3 to 15 video frames (0.12-0.6 s) after one before it, the gaps of the
# plain look's misses (misses.py); a later contact is a peak of at least a quarter of the clip's
# largest onset (bounces fade), the one before it of at least half, as after_contacts takes.
CLOSE_GAP = (3, 15)
SILENT_TOL = 0.05  # mean latent distance from silence under which a frame is silent (quiet_before)
# --runaway: a rollout frame sounds when its coarse channels lie this far from silence on average
# (the model's own quiet frames sit 0.02-0.5 from it, never within SILENT_TOL), over the last
# RUNAWAY_TAIL context frames before the hop.
RUNAWAY_LEVEL = 1.0
RUNAWAY_TAIL = 4


def hop_starts(rng, size, start_share=START_SHARE):
    """Latent frame of each example's hop: on a video frame (even), 25% within the first
    context, the rest anywhere with a full context (and the lead within the clip)."""
    last = LATENT_FRAMES - HOP_F - LEAD
    early = rng.integers(0, CTX // 2, size) * 2
    late = rng.integers(CTX // 2, last // 2 + 1, size) * 2
    return np.where(rng.random(size) < start_share, early, late)


def even_between(lo, hi, rng):
    """A hop start drawn evenly from lo, lo + 2, ... up to hi (hops start on a video frame)."""
    return lo + 2 * rng.integers((hi - lo) // 2 + 1)


def after_contacts(hs, pick, onset, rng, within=AFTER_CONTACT_F):
    """Hop starts `hs` with the `pick`ed examples' moved to 2 to `within` latent frames (even)
    after one of their clip's onsets (a video frame whose onset strength is at least half the
    clip's largest), at least a hop in. A rollout's ring after a contact, which the recording has
    ended, is what these rows hold as context: drawn anywhere, few hops start in the half second
    after a contact, where the streaming packages still ring about 20 dB over the recording and a
    second contact's attack must rise over the ring (the misses of runs R2 and R3)."""
    hs = hs.copy()
    last = LATENT_FRAMES - HOP_F - LEAD
    for j in np.flatnonzero(pick):
        strength = onset[j].numpy()
        if strength.max() <= 0:
            continue
        f = rng.choice(np.flatnonzero(strength >= 0.5 * strength.max()))
        h = 2 * f + 2 * rng.integers(1, within // 2 + 1)
        hs[j] = min(max(h, HOP_F), last - last % 2)
    return hs


def close_pairs(hs, pick, onset, rng, gap=CLOSE_GAP):
    """Hop starts `hs` with the `pick`ed examples' hops moved to hold a later contact of a close
    pair (CLOSE_GAP) with a latent frame or more of the hop before its rise, and the contact
    before it in their context; an example whose clip holds no such pair keeps its hop. What the plain look misses
    (misses.py, run R2b: 15 of 124 contacts, all later ones, 0.12-0.63 s after the one before) is
    such a contact sounded under the ring of the one before: in a rollout row the context is that
    ring, and drawn anywhere or after any contact few hops hold a second contact's attack."""
    hs = hs.copy()
    last = LATENT_FRAMES - HOP_F - LEAD
    for j in np.flatnonzero(pick):
        s = onset[j].numpy()
        peak = (s[1:-1] >= s[:-2]) & (s[1:-1] > s[2:])
        later = np.flatnonzero(peak & (s[1:-1] >= 0.25 * s.max())) + 1
        first = np.flatnonzero(s >= 0.5 * s.max())
        pairs = [(f1, f2) for f2 in later for f1 in first if gap[0] <= f2 - f1 <= gap[1]] if s.max() > 0 else []
        if not pairs:
            continue
        f1, f2 = pairs[rng.integers(len(pairs))]
        lo, hi = max(2 * f1 + 2, 2 * f2 - HOP_F + 2, HOP_F), min(2 * f2 - 2, last - last % 2)
        if lo <= hi:
            hs[j] = even_between(lo, hi, rng)
    return hs


def silent_frames(x, silent):
    """[B, F]: the latent frames of x [B, C, F] within SILENT_TOL of the `silent` latent [C] (mean
    distance over the channels), where the recording is silent."""
    return (x - silent[None, :, None]).abs().mean(1) <= SILENT_TOL


def quiet_before(hs, pick, x, silent, rng):
    """Hop starts `hs` with the `pick`ed examples' hops moved to end before their target's first
    sound (the first latent frame of `x` [B, C, F] off the `silent` latent [C]), a hop in or later;
    an example without room for a whole hop there keeps its hop. The rounds after run R2b that
    weighted rows towards contacts (after_contacts, close_pairs) sounded before a thunder's flash
    in 3 to 9 of 14 validation scenes where R2b is silent (false_sounds.py); drawn anywhere, few
    rollout rows lie there. (The first contact by onset strength will not do: before it a steady
    sound or a soft start may already sound, 30 of 101 such hops in a check.)"""
    hs = hs.copy()
    sounding = ~silent_frames(x, silent)
    for j in np.flatnonzero(pick):
        on = np.flatnonzero(sounding[j].numpy())
        hi = (int(on[0]) if len(on) else x.shape[2]) - HOP_F
        if hi >= HOP_F:
            hs[j] = even_between(HOP_F, hi, rng)
    return hs


def sounding_on(rolls, data, front, silent):
    """Per rollout, the hop starts (even, a hop in or later) where the model's own stream sounds
    on over a silent recording: the rollout's coarse channels at a sound's level (RUNAWAY_LEVEL)
    over the context's last RUNAWAY_TAIL frames, the recording silent (silent_frames, as
    quiet_before reads it) over them and over three quarters of the hop. The drop scenes that sound on after
    their events (false_sounds.py --between: about 1 in 12 above -20 dB) are such a stream; in
    run R2b's rollouts 59 of 208 clips with a silent stretch sound over most of it, and drawn
    anywhere a rollout row rarely starts its hop there."""
    coarse = latent_channels(front.stats["coarse"]) if "coarse" in front.stats else len(silent)
    last = LATENT_FRAMES - HOP_F - LEAD
    out = []
    for first in range(0, len(rolls.idx), 32):
        idx = rolls.idx[first: first + 32]
        with torch.no_grad():
            x = front(torch.stack([data.tracks[int(i)].float().sum(0) for i in idx]))[:, :, LEAD:]
        quiet = silent_frames(x, silent)
        own = rolls.latents[first: first + len(idx), :coarse, : x.shape[2]].float()
        loud = (own - silent[None, :coarse, None]).abs().mean(1) > RUNAWAY_LEVEL
        for q, o in zip(quiet.numpy(), loud.numpy()):
            out.append(np.array([h for h in range(HOP_F, last - last % 2 + 1, 2)
                                 if o[h - RUNAWAY_TAIL: h].all() and q[h - RUNAWAY_TAIL: h].all()
                                 and q[h: h + HOP_F].mean() >= 0.75], dtype=np.int64))
    return out


def span_frames(frames, h):
    """The video frames (25 fps) a step at hop start `h` sees: from the context's start to the
    lookahead's end, clamped to the clip. frames [100, ...] → [SYNC_N, ...], and the in-clip mask."""
    first = h // 2 - CTX // 2
    idx = np.arange(first, first + SYNC_N)
    return frames[np.clip(idx, 0, len(frames) - 1)], (idx >= 0) & (idx < len(frames))


def stream_batch(data, rng, size, front, start_share=START_SHARE, styles=0.0, rolls=None, roll_share=0.0,
                 after_contact=0.0, close=0.0, quiet=0.0, runaway=0.0, sounding=None):
    b = data.batch(rng, size)
    # The last `n_roll` examples: clips the model streamed itself (rollouts.py), their context
    # its own rollout, their target the clip's whole soundtrack under the prompt it was streamed with.
    n_roll = int(round(size * roll_share)) if rolls is not None else 0
    picked = rng.integers(len(rolls.idx), size=n_roll) if n_roll else []
    # --runaway: a share of the rollout rows from the rollouts whose own stream sounds on over
    # silence, their hop started there (sounding_on; last, so it takes rows from the others).
    runaway_rows = []
    if runaway and n_roll:
        have = [r for r, starts in enumerate(sounding) if len(starts)]
        runaway_rows = np.flatnonzero(rng.random(n_roll) < runaway)
        picked[runaway_rows] = rng.choice(have, size=len(runaway_rows))
    rolled = torch.zeros(size, dtype=torch.bool)
    for j, r in zip(range(size - n_roll, size), picked):
        rolled[j] = True
        i = int(rolls.idx[r])
        b["sync"][j] = data.frames_of([i])[0]
        b["text"][j] = data.embed[rolls.texts[r]]
        b["target"][j] = b["all"][j] = data.tracks[i].float().sum(0)
        b["cond"][j], b["has_cond"][j] = 0.0, 0.0
    if styles:
        # A share of the clips in a picture style no renderer draws (styles.py), over all frames
        # (not a rollout's: it was streamed from the frames as drawn).
        pick = torch.from_numpy(np.flatnonzero((rng.random(size) < styles) & ~rolled.numpy()))
        if len(pick):
            b["sync"][pick] = styled(b["sync"][pick], rng)
    with torch.no_grad():
        # The latent LEAD frames ahead of the audio (stream.py): frame f is the audio's f + LEAD.
        x = front(b["target"])[:, :, LEAD:]  # [B, N_MELS, 200 - LEAD]
        onset = onset_strength(front, b["all"])  # [B, 100]
    # A rollout's context holds at least a hop of its own.
    hs = hop_starts(rng, size, start_share)
    hs = np.where(rolled.numpy(), np.maximum(hs, HOP_F), hs)
    if after_contact:
        hs = after_contacts(hs, rolled.numpy() & (rng.random(size) < after_contact), onset, rng)
    if close:
        hs = close_pairs(hs, rolled.numpy() & (rng.random(size) < close), onset, rng)
    silence = silent_latent(1, front.stats)  # [1, C, 1]
    if quiet:
        hs = quiet_before(hs, rolled.numpy() & (rng.random(size) < quiet), x, silence[0, :, 0], rng)
    for k in runaway_rows:
        hs[size - n_roll + k] = rng.choice(sounding[picked[k]])
    n_mels = x.shape[1]
    ctx = torch.zeros(size, n_mels, CTX)
    x1 = torch.zeros(size, n_mels, HOP_F)
    real = torch.zeros(size, dtype=torch.long)  # context frames within the clip
    sync, onset_span, onset_mask, cond = [], [], [], []
    span_samples = (CTX + HOP_F) * PER_LATENT
    for i, h in enumerate(hs):
        lo = max(0, h - CTX)
        ctx[i, :, CTX - (h - lo):] = x[i, :, lo:h]
        real[i] = h - lo
        x1[i] = x[i, :, h: h + HOP_F]
        f, inside = span_frames(b["sync"][i], h)
        sync.append(f)
        o, _ = span_frames(onset[i], h)
        onset_span.append(o)
        onset_mask.append(torch.tensor(inside, dtype=torch.float32))
        # The existing audio over the context and the hop (silence before the clip).
        c = torch.zeros(span_samples)
        end = (h + HOP_F) * PER_LATENT
        start = end - span_samples
        c[max(0, -start):] = b["cond"][i, max(0, start): end]
        cond.append(c)
    # Before the clip starts the context is silence, as the graphs read the runtime's zeros there.
    ctx = torch.where(in_clip(real), ctx, silence)
    # A rollout's context: its own latent over the same in-clip frames.
    own_ctx = ctx.clone() if n_roll else ctx
    for j, r in zip(range(size - n_roll, size), picked):
        lo = max(0, hs[j] - CTX)
        own_ctx[j, :, CTX - (hs[j] - lo):] = rolls.latents[r, :, lo:hs[j]].float()
    sync = torch.stack(sync)
    # The semantic encoder's 5 fps: every fifth frame of the span from its start.
    semantic = sync[:, ::5][:, :SEMANTIC_N]
    return {"x1": x1, "ctx": own_ctx, "true_ctx": ctx, "rolled": rolled,
            "real": real, "sync": sync, "semantic": semantic, "text": b["text"],
            "cond": torch.stack(cond), "has_cond": b["has_cond"], "onset": torch.stack(onset_span),
            "onset_mask": torch.stack(onset_mask)}


def package_weights(package):
    """A windowed package's trained weights by graph, as torch state dicts: the exporter keeps
    parameter names, except the GroupNorms' affine pairs, which become anonymous Mul/Add
    constants in block order (then the output norm)."""
    import onnx
    from onnx import numpy_helper
    out = {}
    for graph in ("denoiser", "video_sync", "video_semantic", "audio_encoder"):
        inits = onnx.load(str(package / f"{graph}.onnx")).graph.initializer
        named = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in inits}
        state = {k: v for k, v in named.items() if not k.startswith("onnx::")}
        if graph == "denoiser":
            norms = sorted((k for k in named if k.startswith(("onnx::Mul_", "onnx::Add_")) and named[k].shape == (128, 1)),
                           key=lambda k: int(k.rsplit("_", 1)[1]))
            slots = [f"blocks.{i}.norm" for i in range(10)] + ["out_norm"]
            assert len(norms) == 2 * len(slots), f"{len(norms)} GroupNorm constants in {graph}.onnx"
            for slot, (w, b) in zip(slots, zip(norms[0::2], norms[1::2])):
                state[f"{slot}.weight"], state[f"{slot}.bias"] = named[w][:, 0], named[b][:, 0]
        out[graph] = state
    return out


def init_from_package(model, package):
    """The windowed package's encoders and denoiser into the streaming model (module docstring)."""
    w = package_weights(package)
    model.sync.load_state_dict(w["video_sync"])
    model.semantic.load_state_dict(w["video_semantic"])
    model.audio.net.load_state_dict({k[4:]: v for k, v in w["audio_encoder"].items() if k.startswith("net.")})
    model.audio.fc.load_state_dict({k[3:]: v for k, v in w["audio_encoder"].items() if k.startswith("fc.")})
    den = {k: v for k, v in w["denoiser"].items() if not k.startswith(("inp.", "semantic."))}
    missing, unexpected = model.denoiser.load_state_dict(den, strict=False)
    assert not unexpected, unexpected
    # freqs and mask: constants of the module, not trained
    assert all(k.startswith(("inp.", "semantic.", "freqs", "mask")) for k in missing), missing
    with torch.no_grad():
        model.denoiser.inp.weight.zero_()
        model.denoiser.inp.weight[:, : w["denoiser"]["inp.weight"].shape[1]] = w["denoiser"]["inp.weight"]
        model.denoiser.inp.bias.copy_(w["denoiser"]["inp.bias"])


def fit_onset_head(model, data, front, rng, batches=16):
    """The training-only onset head (not in a package) by least squares on the package's sync
    features, so that its auxiliary loss starts small instead of pulling the encoder about."""
    feats, targets = [], []
    with torch.no_grad():
        for _ in range(batches):
            s = stream_batch(data, rng, 16, front)
            keep = s["onset_mask"].flatten() > 0
            feats.append(model.sync(s["sync"]).flatten(0, 1)[keep])
            targets.append(s["onset"].flatten()[keep])
        x = torch.cat(feats)
        x = torch.cat([x, torch.ones(len(x), 1)], dim=1)
        sol = torch.linalg.lstsq(x, torch.cat(targets)[:, None]).solution[:, 0]
        model.onset.fc.weight.copy_(sol[None, :-1])
        model.onset.fc.bias.copy_(sol[-1:])
        err = ((x @ sol - torch.cat(targets)) ** 2).mean().item()
    print(f"onset head fitted: mean squared error {err:.4f} (target variance {torch.cat(targets).var().item():.4f})")


def infill(s, gen, share):
    """The span's target, noisy region and clean context for one training step. A stream step
    denoises the hop after a clean context; in `share` of the examples the noisy region reaches
    back over a random part of the (in-clip) context too, as the windowed model denoised whole
    windows: the loss then covers up to nine times the frames for the same compute, and the
    skill it trains (sound on the video's contacts, continuing what came before) is the same.
    Half of the other contexts are corrupted with noise, so that the model continues imperfect
    audio as well as the true one; contexts the model generated itself (`own_context`) are
    kept as they are, with the true audio as the target after them."""
    ctx, x1, own = s["ctx"], s["x1"], s["own"]
    b = x1.shape[0]
    target = torch.cat([s["true_ctx"], x1], dim=2)  # [B, N_MELS, CTX + HOP_F]
    longer = (torch.rand(b, generator=gen) < share) & ~own
    back = (torch.rand(b, generator=gen) * (s["real"] + 1).float()).long() * longer
    region = hop_region(CTX - back, CTX + HOP_F)
    corrupt = (torch.rand(b, generator=gen) < 0.5).float() * torch.rand(b, generator=gen) * 0.3 * ~own
    noise = torch.randn(ctx.shape, generator=gen) * in_clip(s["real"])
    clean = (ctx + corrupt[:, None, None] * noise) * (1 - region[:, :, :CTX])
    return target, region, torch.cat([clean, torch.zeros_like(x1)], dim=2)


def in_clip(real):
    """[B, 1, CTX]: the context frames within the clip (the last `real` of them)."""
    return (torch.arange(CTX)[None] >= (CTX - real)[:, None])[:, None]


def hop_region(first, end):
    """[B, 1, end]: 1 from frame first[b] on."""
    return (torch.arange(end)[None] >= first[:, None]).float()[:, None]


def own_context(ema, s, sync, semantic, empty, gen, share, steps=4, noise_scale=1.0):
    """In `share` of the examples, the context's last frames (a random stretch of one hop up to
    all of its in-clip frames) become the model's own sample of them, made as v2agen makes them
    (after the true context before them, the same video, `steps` guided Euler steps from noise of
    deviation `noise_scale` with the EMA weights, which are what a package exports). A stream's
    context is what the model generated, and its own sound held at a level from hop to hop is
    what buried later contacts (diagnose_stream.py): the target after such a context is still
    the true audio."""
    b = s["ctx"].shape[0]
    k = torch.minimum(s["real"], HOP_F + (torch.rand(b, generator=gen) * (CTX - HOP_F + 1)).long())
    # A rollout's context (stream_batch) is the model's own already: sampled anew it would end
    # as the truth does after a true past.
    own = (torch.rand(b, generator=gen) < share) & (k > 0) & ~s["rolled"]
    out = {**s, "own": own | s["rolled"]}
    if not own.any():
        return out
    i = own.nonzero()[:, 0]
    n = len(i)
    region = hop_region(CTX - k[i], CTX + HOP_F + AHEAD) * (torch.arange(CTX + HOP_F + AHEAD) < CTX)
    clean = torch.cat([s["ctx"][i], torch.zeros(n, s["ctx"].shape[1], HOP_F + AHEAD)], dim=2) * (1 - region)
    text = torch.cat([s["text"][i], empty.expand(n, -1)])  # guided against the empty prompt
    with torch.no_grad():
        # Both guidance branches in one batch, their inputs doubled once for all the steps.
        twice = lambda z: z.repeat(2, *[1] * (z.dim() - 1))  # noqa: E731
        audio = twice(ema.audio(s["cond"][i]) * s["has_cond"][i])
        region2, clean2, sync2, semantic2 = twice(region), twice(clean), twice(sync[i]), twice(semantic[i])

        def velocity(x, t):
            v = ema.denoiser.span(twice(x) * region2, clean2, region2, torch.full((2 * n,), t), text,
                                  sync2, semantic2, audio)
            return v[:n], v[n:]

        x = sample(velocity, noise_scale * torch.randn(clean.shape, generator=gen), steps)
    mine = torch.where(region[:, :, :CTX] > 0, x[:, :, :CTX], s["ctx"][i])
    out["ctx"] = s["ctx"].index_copy(0, i, mine)
    return out


def hop_start_weight(own, boundary, ramp):
    """[B, 1, CTX + HOP_F]: the loss weight of the hop's first frames (1 elsewhere). After a true
    context they continue it and weigh `boundary` (the first three). After the model's own
    context with `ramp` > 0 they rise from 0 over `ramp` frames: the target after an own context
    is the true audio, which does not continue it, and weighted fully the hop's first frames
    learnt to jump from the context's level to the truth's, which is the seam (run 10: 12 of its
    14 onsets on no contact fell in a hop's first 40 ms, diagnose_stream.py); down-weighted, they
    learn from the true contexts, where the truth continues the context."""
    w = torch.ones(own.shape[0], 1, CTX + HOP_F)
    w[:, :, CTX: CTX + 3] = boundary
    if ramp > 0:
        w[own, :, CTX:] = torch.clamp(torch.arange(HOP_F, dtype=torch.float32) / ramp, max=1.0)
    return w


def decay_weight(target, ctx, strength, within_row=False):
    """[B, 1, CTX + HOP_F]: 1 in the context; in the hop 1 + `strength` times how far the frame's
    true level (the mean of the level channels `target` [B, C, CTX + HOP_F] holds) lies under the
    level of the context's last two frames (`ctx` [B, C, CTX], what the model is given: its own
    in a rollout row). After a contact the recording decays within a few hundred ms, and the
    packages hold the context's ring 8-12 dB over it for the next half second, so that a second
    contact rises by barely the onset detector's 12 dB (the plain-look misses of runs R2, R3,
    R2b): a ring that holds the context's level is the error these frames weigh. With
    `within_row` the hop's weights are divided by their mean, so that a row weighs about as much as
    without them: unnormalised, the rollout rows, where the drops are, outweigh the rows that start
    a stream from silence (by_group)."""
    w = torch.ones(target.shape[0], 1, target.shape[2])
    if strength > 0:
        end = ctx[:, :, -2:].mean(dim=(1, 2))
        drop = torch.relu(end[:, None] - target[:, :, CTX:].mean(dim=1))
        w[:, 0, CTX:] += strength * drop
        if within_row:
            w[:, 0, CTX:] /= w[:, 0, CTX:].mean(dim=1, keepdim=True)
    return w


def by_group(weight, before, start):
    """`weight` [B, 1, T] with each group of rows (those whose context starts before the clip,
    `start` [B], and the rest) scaled to the total it had `before` the decay weight. The flow loss
    divides by the batch's total weight, so that the decay weight, large where a rollout row's
    context rings over a decaying recording, takes its share from the rows that start a stream
    from silence (31 % of the loss's weight without it, 21 % at strength 8), where the model
    learns to stay silent before an event: from run R, which sounded before a thunder's flash,
    runs T and T8 went on doing so where R2b's round, without the weight, stopped it. Within a
    group the weight still moves to the rows and frames that decay under their context, which
    normalising each row alone (--decay-within-row, run T8n) undid with the gain. Measured from R
    rebuilt (run W against run T8r, the weight alone): it changes neither, so the share is not
    what keeps R's sound before the flash."""
    out = weight.clone()
    for g in (start, ~start):
        if g.any():
            out[g] = weight[g] * (before[g].sum() / weight[g].sum().clamp(min=1e-12))
    return out


def weakened(f, gen, strength):
    """Video features f [B, n, FEAT] made weaker and noisier per example: their deviation from
    the batch's per-channel mean scaled by U(1 - strength, 1), plus Gaussian noise of U(0, strength)
    times the per-channel spread. A look the encoders were not trained on reads as features that
    deviate less and less cleanly at a contact; trained on weakened features, the denoiser learns
    to act on weak evidence too, whatever the look (none is rendered for it)."""
    if strength <= 0:
        return f
    b = f.shape[0]
    mean, spread = f.mean(dim=(0, 1), keepdim=True), f.std(dim=(0, 1), keepdim=True)
    gain = 1 - strength * torch.rand(b, 1, 1, generator=gen)
    noise = strength * torch.rand(b, 1, 1, generator=gen) * spread * torch.randn(f.shape, generator=gen)
    return mean + gain * (f - mean) + noise


def sync_features(model, frames, gen, drop_base):
    """The sync features; with a fused sync encoder (model.FusedSync) and drop_base > 0, that share
    of the examples has the base encoder's features replaced by their batch mean (what `weakened`
    gives at full strength: no evidence), so that the denoiser learns to read the edges alone too,
    as it must where the base reads a look badly."""
    if drop_base <= 0:
        return model.sync(frames)
    base, added = model.sync.parts(frames)
    drop = (torch.rand(base.shape[0], 1, 1, generator=gen) < drop_base).float()
    base = drop * base.mean(dim=(0, 1), keepdim=True) + (1 - drop) * base
    return base + added


def velocity_loss(model, ema, s, gen, a, empty, parts):
    sync = weakened(sync_features(model, s["sync"], gen, a.drop_base), gen, a.feature_noise)
    semantic = weakened(model.semantic(s["semantic"]), gen, a.feature_noise)
    s = own_context(ema, s, sync.detach(), semantic.detach(), empty, gen, a.own_context, a.own_steps, a.own_noise)
    target, region, clean = infill(s, gen, a.infill)
    x0, t, xt = noised(target, gen)
    ahead = torch.zeros(target.shape[0], target.shape[1], AHEAD)
    pad = lambda z: torch.cat([z, ahead[:, : z.shape[1]]], dim=2)  # noqa: E731
    audio = model.audio(s["cond"]) * s["has_cond"]
    v = model.denoiser.span(pad(xt * region), pad(clean), pad(region), t, s["text"], sync, semantic,
                            audio)[:, :, : CTX + HOP_F]
    # Onsets weigh more, as in train.py (a rise counts from the frame before, clean or not), the
    # rise read from the latent's level channels; each part of the latent weighs alike.
    rise = latent_rise(target[:, parts[0]])
    weight = 1.0 + a.onset_weight * torch.nn.functional.max_pool1d(rise[:, None], 3, 1, 1)[:, 0]
    weight = weight[:, None] * region * hop_start_weight(s["own"], a.boundary, a.own_ramp)
    decayed = weight * decay_weight(target[:, parts[0]], s["ctx"][:, parts[0]], a.decay_weight, a.decay_within_row)
    weight = by_group(decayed, weight, s["real"] < CTX) if a.decay_by_group else decayed
    sq = weight * (v - (target - x0)) ** 2
    flow = sum(torch.sum(sq[:, p]) / (torch.sum(weight) * (p.stop - p.start)) for p in parts) / len(parts)
    # The onset head's error, optionally weighted up where the true onset is strong: a contact is
    # one or two frames of a hop, and a later contact the encoder misses barely moves the mean.
    mask = s["onset_mask"] * (1.0 + a.head_onset_weight * s["onset"])
    err = (model.onset(sync) - s["onset"]) ** 2 * mask
    aux = err.sum() / mask.sum().clamp(min=1)
    return flow + 20.0 * aux, flow, aux


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=50)
    ap.add_argument("--keep-every", type=float, default=0.0, metavar="MINUTES",
                    help="also keep the EMA weights every so often (.cache/foley-stream-saves/), to choose on "
                         "the validation scenes (diagnose_stream.py --checkpoint)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--data", type=Path, nargs="+", default=[CACHE / "dataset.npz"],
                    help="the training set(s) (prepare.py); with more than one, the first's clips keep their "
                         "indices, which --rollouts names")
    ap.add_argument("--checkpoint", type=Path, default=CKPT)
    ap.add_argument("--start-share", type=float, default=START_SHARE,
                    help="share of hops within a stream's first context")
    ap.add_argument("--boundary", type=float, default=1.0,
                    help="loss weight of the hop's first three frames (continuing the context)")
    ap.add_argument("--infill", type=float, default=0.5,
                    help="share of examples whose noisy region reaches back into the context")
    ap.add_argument("--onset-weight", type=float, default=5.0,
                    help="extra flow-loss weight per unit of the latent's rise (train.py's 5)")
    ap.add_argument("--head-onset-weight", type=float, default=0.0,
                    help="extra weight of the onset head's error per unit of the true onset strength (0: "
                         "every frame alike)")
    ap.add_argument("--own-context", type=float, default=0.0,
                    help="share of examples whose context's last frames the model samples itself")
    ap.add_argument("--own-steps", type=int, default=4,
                    help="Euler steps of the own contexts' samples (the package samples with config.STEPS)")
    ap.add_argument("--own-noise", type=float, default=1.0,
                    help="starting noise's deviation of the own contexts' samples (the package's: stream.NOISE_SCALE)")
    ap.add_argument("--rollouts", type=Path, metavar="NPZ",
                    help="the model's own rollouts of training clips (rollouts.py) to draw contexts from")
    ap.add_argument("--rollout-share", type=float,
                    help=f"with --rollouts: share of each batch whose context is a rollout's (default {ROLLOUT_SHARE})")
    ap.add_argument("--after-contact", type=float, default=0.0,
                    help="with --rollouts: share of the rollout rows whose hop starts within 0.6 s after a "
                         "contact (after_contacts)")
    ap.add_argument("--close-pairs", type=float, default=0.0, metavar="P",
                    help="share of rollout rows whose hop holds a close pair's later contact (close_pairs)")
    ap.add_argument("--quiet-before", type=float, default=0.0, metavar="P",
                    help="share of rollout rows whose hop lies before the target's first sound, in its "
                         "silence (quiet_before; after --after-contact and --close-pairs, so it takes rows from them)")
    ap.add_argument("--runaway", type=float, default=0.0, metavar="P",
                    help="share of rollout rows drawn from where the rollout sounds on over the recording's "
                         "silence, the hop started there (sounding_on; last, so it takes rows from the others)")
    ap.add_argument("--decay-weight", type=float, default=0.0,
                    help="extra flow-loss weight of a hop frame per unit its true level lies under the "
                         "context's end (decay_weight), 0 for none")
    ap.add_argument("--decay-within-row", action="store_true",
                    help="with --decay-weight: each row's hop weights divided by their mean (decay_weight)")
    ap.add_argument("--decay-by-group", action="store_true",
                    help="with --decay-weight: the rows that start a stream and the rest each keep their share "
                         "of the loss's weight (by_group)")
    ap.add_argument("--own-ramp", type=int, default=0,
                    help="hop frames over which the loss after an own context rises from 0 (hop_start_weight)")
    ap.add_argument("--feature-noise", type=float, default=0.0,
                    help="strength of the video features' weakening (weakened), 0 for none")
    ap.add_argument("--freeze-video", action="store_true",
                    help="keep the video encoders as they start (--init's, or the checkpoint's), untrained (a model "
                         "with a detail branch keeps them so anyway unless --train-video)")
    ap.add_argument("--train-video", action="store_true",
                    help="with a detail branch (whose model trains the branch alone), the video encoders train too")
    ap.add_argument("--train-only", metavar="MODULES",
                    help="train only these of the model's modules (comma-separated: sync, semantic, audio, denoiser, "
                         "onset); the rest stays as it starts, e.g. 'sync,onset' fits the sync encoder to what the "
                         "trained denoiser reads (with a detail branch too: it overrides the branch's own rule)")
    ap.add_argument("--styles", type=float, default=0.0,
                    help="share of clips restyled as no scene renderer draws them (styles.py)")
    ap.add_argument("--blocks", type=int, default=None,
                    help=f"the denoiser's residual blocks (default: the resumed weights', else "
                         f"{Denoiser.BLOCKS}); above a snapshot's, its stack is deepened")
    ap.add_argument("--init", type=Path, default=WINDOWED,
                    help="windowed package to start from; 'none' starts from pretrain_sync.py's encoder")
    ap.add_argument("--from-snapshot", type=Path, nargs="?", const=snapshot.STREAM,
                    help="when the checkpoint is missing, resume from this snapshot (snapshot.py; "
                         f"without a path {snapshot.STREAM.relative_to(HERE.parent.parent)})")
    ap.add_argument("--sync-from", type=Path, metavar="CHECKPOINT",
                    help="with --from-snapshot: pretrain_sync.py's sync encoder and onset head in place "
                         "of the snapshot's (e.g. .cache/sync-colour-edges.pt)")
    ap.add_argument("--fuse-from", type=Path, metavar="CHECKPOINT",
                    help="with --from-snapshot: a fused sync encoder (model.FusedSync), the snapshot's as its base "
                         "and pretrain_sync.py's colour-edge encoder (.cache/sync-colour-edges.pt) added through a "
                         "mix that starts at zero")
    ap.add_argument("--base-from", type=Path, metavar="CHECKPOINT",
                    help="with --from-snapshot whose sync encoder is fused: its base (the colours' encoder) replaced "
                         "by pretrain_sync.py's (e.g. one pretrained on more clips, --data); the edge encoder and "
                         "the mix stay, and the denoiser learns to read the new base")
    ap.add_argument("--add-from", type=Path, metavar="CHECKPOINT",
                    help="with --from-snapshot whose sync encoder is fused: pretrain_sync.py's colour encoder added "
                         "beside its base and edges through a mix of its own that starts at zero, so that training "
                         "starts exactly from the snapshot (--base-from swaps the base instead: run G, README)")
    ap.add_argument("--drop-base", type=float, default=0.0,
                    help="with a fused sync encoder: share of examples without the base's features (sync_features)")
    ap.add_argument("--detail-branch", type=int, nargs=2, metavar=("WIDTH", "BLOCKS"),
                    help="with --latent (a nested latent holding the snapshot's): the snapshot's denoiser kept "
                         "for the coarse channels and frozen with everything else, and a detail branch of its own "
                         "(stream.BranchedDenoiser) trained for the detail channels")
    ap.add_argument("--train-coarse", action="store_true",
                    help="with a detail branch: its coarse denoiser trains too (frozen otherwise)")
    ap.add_argument("--latent", type=Path,
                    help="with --from-snapshot: a candidate latent (latents/NAME.json, latent_study.py) to carry the "
                         "snapshot over to (relatent.py); a checkpoint goes on in the latent it was trained in")
    a = ap.parse_args()
    if (a.after_contact or a.close_pairs or a.quiet_before or a.runaway or a.rollout_share is not None) \
            and not a.rollouts:
        ap.error("--after-contact, --close-pairs, --quiet-before, --runaway and --rollout-share are about rollout rows: "
                 "they need --rollouts")
    if (a.decay_within_row or a.decay_by_group) and not a.decay_weight:
        ap.error("--decay-within-row and --decay-by-group normalise the decay weight: give --decay-weight")
    if a.rollout_share is None:
        a.rollout_share = ROLLOUT_SHARE
    ckpt = a.checkpoint
    torch.set_num_threads(2)
    data = Data(*a.data)
    ck = torch.load(ckpt) if ckpt.exists() else torch.load(a.from_snapshot) if a.from_snapshot else None
    # The latent: a checkpoint's or snapshot's own (kept in it when it is not the shipped one).
    stats = ck["latent"] if ck and "latent" in ck else latent_stats()
    if a.latent and not ckpt.exists():
        if not a.from_snapshot:
            ap.error("--latent carries a snapshot over to another latent: give --from-snapshot")
        from relatent import relatent
        new = latent_stats(a.latent)
        if new == stats:
            ap.error(f"--latent {a.latent}: the snapshot is in that latent already")
        if a.detail_branch:
            if new.get("coarse") != stats:
                ap.error(f"--detail-branch: {a.latent} is not a nested latent holding the snapshot's")
            ck["ema"] = branched(ck["ema"], new, tuple(a.detail_branch))
            print(f"detail branch {a.detail_branch[0]} wide, {a.detail_branch[1]} blocks, beside the snapshot's denoiser")
        else:
            ck["ema"] = relatent(ck["ema"], stats, new, data.tracks[:200].float().sum(1))
        stats = ck["latent"] = new
        print(f"denoiser carried over to the latent {a.latent} ({latent_channels(new)} channels)")
    if a.sync_from and not ckpt.exists():
        if not a.from_snapshot:
            ap.error("--sync-from replaces a snapshot's sync encoder: give --from-snapshot")
        # The snapshot's sync encoder and onset head replaced by pretrain_sync.py's (another
        # input, e.g. --edges); the denoiser then learns to read the new features.
        sync = torch.load(a.sync_from)
        ck["ema"] = {k: v for k, v in ck["ema"].items() if not k.startswith(("sync.", "onset."))}
        ck["ema"].update({f"sync.{k}": v for k, v in sync["sync"].items()})
        ck["ema"].update({f"onset.{k}": v for k, v in sync["onset"].items()})
        print(f"sync encoder from {a.sync_from} (step {sync['step']} of pretrain_sync.py)")
    if a.fuse_from and not ckpt.exists():
        if not a.from_snapshot or a.sync_from:
            ap.error("--fuse-from adds to a snapshot's sync encoder: give --from-snapshot, not --sync-from")
        if (reads := sync_input_of(ck["ema"])) is not False:
            ap.error(f"--fuse-from: the snapshot's sync encoder reads {reads}, not the colours")
        edges = torch.load(a.fuse_from)
        if VideoEncoder.edges_of(edges["sync"]) != "colour":
            ap.error(f"--fuse-from {a.fuse_from}: not a colour-edge encoder (pretrain_sync.py --edges colour)")
        # The two encoders loaded into a FusedSync as it is built (its mix as it starts).
        pair = FusedSync()
        pair.base.load_state_dict({k[5:]: v for k, v in ck["ema"].items() if k.startswith("sync.")})
        pair.edges.load_state_dict(edges["sync"])
        ck["ema"] = {k: v for k, v in ck["ema"].items() if not k.startswith("sync.")}
        ck["ema"].update({f"sync.{k}": v for k, v in pair.state_dict().items()})
        print(f"sync encoder fused: the snapshot's and {a.fuse_from}'s (step {edges['step']} of pretrain_sync.py)")
    if a.base_from and a.add_from:
        ap.error("--base-from swaps the base, --add-from adds an encoder beside it: give one")
    if (a.base_from or a.add_from) and not ckpt.exists():
        flag, path = ("--base-from", a.base_from) if a.base_from else ("--add-from", a.add_from)
        if not a.from_snapshot or a.sync_from or a.fuse_from:
            ap.error(f"{flag} changes a snapshot's fused sync encoder: give --from-snapshot alone")
        if sync_input_of(ck["ema"]) != "fused":
            ap.error(f"{flag}: the snapshot's sync encoder is not a fused one of two encoders (model.FusedSync)")
        base = torch.load(path)
        if "sync" not in base or VideoEncoder.edges_of(base["sync"]) is not False:
            ap.error(f"{flag} {path}: not a pretrain_sync.py encoder of the colours (no --edges)")
    if a.add_from and not ckpt.exists():
        # The snapshot as it is, the encoder beside it and its mix at zero (model.FusedSync): the
        # model begins exactly as the snapshot, whose denoiser keeps its reading of the base.
        ck["ema"] = dict(ck["ema"])
        ck["ema"].update({f"sync.extra.{k}": v for k, v in base["sync"].items()})
        ck["ema"].update({f"sync.extra_mix.{k}": v for k, v in zero_linear().state_dict().items()})
        print(f"sync encoder added beside the base from {a.add_from} (step {base['step']} of pretrain_sync.py)")
    if a.base_from and not ckpt.exists():
        # Only the base's weights: the gate found an encoder pretrained with the plain look far
        # better at reading contacts (README), but the denoiser, the mix and the onset head were
        # trained on the old base's features. A branched model's rule trains its denoiser alone;
        # `--train-only denoiser,onset` trains the mix too (it trains whenever the sync encoder
        # is frozen), as run K's graft of the edge encoder did.
        ck["ema"] = {k: v for k, v in ck["ema"].items() if not k.startswith("sync.base.")}
        ck["ema"].update({f"sync.base.{k}": v for k, v in base["sync"].items()})
        print(f"sync encoder's base from {a.base_from} (step {base['step']} of pretrain_sync.py)")
    if a.drop_base and not fused(sync_input_of(ck["ema"] if ck else {})):
        ap.error("--drop-base needs a fused sync encoder (--fuse-from, or a checkpoint trained with it)")
    blocks = blocks_of(ck["ema"]) if ck else Denoiser.BLOCKS
    depth = a.blocks or blocks
    if depth < blocks or (ckpt.exists() and depth != blocks):
        ap.error(f"--blocks {depth}: the weights resumed have {blocks} (a snapshot can be deepened, "
                 "a checkpoint resumes as it is)")
    sync_input = sync_input_of(ck["ema"]) if ck else False
    branch = branch_of(ck["ema"]) if ck else None
    model, ema = StreamFoley(stats, depth, sync_input, branch), StreamFoley(stats, depth, sync_input, branch)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    step, trained_s, warm_from = 0, 0.0, 0
    if ckpt.exists():
        model.load_state_dict(weights(ck["model"]))
        ema.load_state_dict(weights(ck["ema"]))
        opt.load_state_dict(ck["opt"])
        step, trained_s = ck["step"], ck["seconds"]
        print(f"resumed at step {step} ({trained_s / 60:.1f} min trained)")
    elif a.from_snapshot:
        # The EMA weights only: the model goes on from them with a fresh optimiser, warmed up again
        # (with --blocks above the snapshot's, deepened: the same output until the new blocks learn).
        state = deepened(ck["ema"], stats, depth) if depth > blocks else weights(ck["ema"])
        model.load_state_dict(state)
        ema.load_state_dict(state)
        step, trained_s, warm_from = ck["step"], ck["seconds"], ck["step"]
        print(f"resumed from the snapshot {a.from_snapshot} at step {step} ({trained_s / 60:.1f} min trained); "
              "its runs:\n  " + "\n  ".join(ck["runs"]))
    elif str(a.init) != "none":
        init_from_package(model, a.init)
        fit_onset_head(model, data, Frontend(stats), np.random.default_rng(1))
        print(f"encoders and denoiser from the windowed package {a.init}")
        ema.load_state_dict(model.state_dict())
    else:
        if SYNC.exists():
            sync = torch.load(SYNC)
            model.sync.load_state_dict(sync["sync"])
            model.onset.load_state_dict(sync["onset"])
            print(f"sync encoder from {SYNC.name} (step {sync['step']} of pretrain_sync.py)")
        ema.load_state_dict(model.state_dict())
    # Modules kept as they start. --freeze-video: the encoders (the windowed package's from --init,
    # or those of the checkpoint or snapshot, e.g. invariant.py's grafted in). Trained on in the
    # streaming model they drifted (weights moved by 1.5 times their norm) while its held-out look
    # stayed near 0.5; frozen, a step costs less and they cannot learn the training looks by heart.
    # --train-only names the modules that train instead (it overrides --freeze-video).
    modules = {n for n, _ in model.named_children()}
    frozen = {"sync", "semantic"} if a.freeze_video else set()
    if a.train_only:
        keep = set(a.train_only.split(","))
        if not keep <= modules:
            ap.error(f"--train-only {a.train_only}: the model's modules are {', '.join(sorted(modules))}")
        frozen = modules - keep
    for m in (model, ema):
        for name, child in m.named_children():
            if name in frozen:
                child.requires_grad_(False)
        if "sync" in frozen and fused(sync_input):
            for mix in m.sync.mixes():  # the fusion is what a frozen fused encoder learns
                mix.requires_grad_(True)
        if branch and not a.train_only:  # only the detail branch learns: the coarse velocity, and the
            m.requires_grad_(False)      # onsets, stay as they were
            m.denoiser.detail.requires_grad_(True)
            if a.train_coarse:
                m.denoiser.coarse.requires_grad_(True)
            if a.train_video:  # the sync encoder (a fused one's both parts and its mix) and the semantic one
                m.sync.requires_grad_(True)
                m.semantic.requires_grad_(True)
    if a.train_coarse and a.train_only:
        ap.error("--train-coarse with --train-only: name the modules that train in --train-only alone")
    if a.train_coarse and not branch:
        ap.error("--train-coarse: the model has no detail branch (its whole denoiser trains anyway)")
    if a.train_video and (not branch or a.freeze_video or a.train_only):
        ap.error("--train-video is for a model with a detail branch, without --freeze-video or --train-only "
                 "(a model without a branch trains its video encoders unless --freeze-video)")
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters "
          f"({sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6:.2f} M training); hop {HOP_F}, "
          f"context {CTX}, lookahead {AHEAD} latent frames", flush=True)
    front = Frontend(stats)
    rng = np.random.default_rng(step)
    gen = torch.Generator().manual_seed(step)
    rolls = None
    if a.rollouts:
        from rollouts import Rollouts
        rolls = Rollouts(a.rollouts, data)
        if rolls.latents.shape[1] != latent_channels(stats):
            ap.error(f"--rollouts {a.rollouts}: {rolls.latents.shape[1]} channels, the model's latent "
                     f"{latent_channels(stats)}")
    sounding = None
    if a.runaway:
        sounding = sounding_on(rolls, data, front, silent_latent(1, stats)[0, :, 0])
        held = sum(len(h) > 0 for h in sounding)
        if not held:
            ap.error(f"--runaway: none of the {len(sounding)} rollouts in {a.rollouts} sounds on over silence")
        print(f"--runaway: {held} of {len(sounding)} rollouts sound on over silence "
              f"({sum(len(h) for h in sounding)} hop starts)", flush=True)
    fit(model, ema, opt, ckpt, a.minutes, a.lr,
        lambda _: velocity_loss(model, ema, stream_batch(data, rng, a.batch, front, a.start_share, a.styles,
                                                         rolls, a.rollout_share, a.after_contact, a.close_pairs,
                                                         a.quiet_before, a.runaway, sounding),
                                gen, a, data.embed[""], latent_parts(stats)),
        step, trained_s, warm_from, a.keep_every, {"latent": stats} if stats != latent_stats() else None)


if __name__ == "__main__":
    main()
