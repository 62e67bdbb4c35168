#!/usr/bin/env python3
"""Which latent could a decoder reach the vocoder bar from (log-spectral distance ≤ 4.0 dB on
held-out sound effects)? Today's latent (48 log-mel bands averaged over two STFT frames, 50 Hz)
cannot: its trained vocoder scores 5.12 dB, and even with the recording's own phase its
magnitudes score 3.44 dB, with the noise textures far above the bar (README, "A trained
vocoder").

For each candidate latent, all at the same 50 Hz (so the denoiser's sequence stays as long and
its speed as measured), this measures encode → decode on the vocoder's held-out recordings,
`common.log_spectral_distance`, mean and 95 % bootstrap interval over recordings:

- `true phase`: the latent's magnitudes with the recording's own phase. A bound for any decoder
  that gets the magnitudes right and the phase wrong, not a decoder.
- `griffin-lim`: fast Griffin-Lim (momentum 0.99, ITERS iterations) from the latent's
  magnitudes: what a phase-blind decoder reaches without training (the trained vocoder beat
  32-iteration Griffin-Lim by 0.44 dB on today's latent).

Candidates: today's latent; the two STFT frames of each latent frame kept apart (no pooling) at
48, 64, 80, 96 and 128 mel bands; pooled at 80, 96 and 128 bands; and every STFT bin (257 per frame, two frames per latent frame).
Channels per latent frame: the bands, twice that when not pooled, 514 for every bin.

    py=~/.local/share/gst-generative/train-venv/bin/python
    $py models/foley/vocoder.py corpus          # once: .cache/vocoder/heldout.npz
    $py models/foley/latent_study.py            # ~2 min on 2 cores
    $py models/foley/latent_study.py stats --bands 128 --stacked   # latents/mel128x2.json
    $py models/foley/latent_study.py nested --detail mel128x2      # latents/nestedmel128x2.json
    $py models/foley/latent_study.py sync       # ~1 min: validation scenes' recordings through each vocoder

`stats` writes a candidate's definition and normalisation (`common.latent_stats`), over the same
training mixes as the shipped latent's (`prepare.py`), for `vocoder.py --latent`. `nested` writes
a latent that holds the shipped one as it is and, beside it, what a candidate adds to it
(`common.nest`: the candidate minus its ridge prediction from the shipped latent, normalised): it decodes
exactly as the candidate does (its vocoder), and a streaming model trained in the shipped latent
carries over to it unchanged (relatent.py), where a carry-over to the candidate itself lost most
of the model's sync (run L, README).
"""

import argparse
import json

import numpy as np
import torch

from common import Frontend, band_stats, latent_channels, latent_stats, log_spectral_distance, mel_filters
from config import CACHE, HERE, HOP, N_FFT
from vocoder import heldout_clips, interval

ITERS = 100
WIN = torch.hann_window(N_FFT)
# name: (mel bands or None for every bin, pool the two STFT frames of a latent frame)
CANDIDATES = {
    "mel48, pooled (today)": (48, True),
    "mel48 x 2 frames": (48, False),
    "mel80, pooled": (80, True),
    "mel64 x 2 frames": (64, False),
    "mel80 x 2 frames": (80, False),
    "mel96 x 2 frames": (96, False),
    "mel96, pooled": (96, True),
    "mel128, pooled": (128, True),
    "mel128 x 2 frames": (128, False),
    "all 257 bins x 2 frames": (None, False),
}


def stft(x):
    return torch.stft(x, N_FFT, HOP, window=WIN, return_complex=True)


def istft(spec, length):
    return torch.istft(spec, N_FFT, HOP, window=WIN, length=length)


def latent_magnitude(power, bands, pool):
    """The magnitudes a decoder could at best read off the latent: the power through the bands
    (and the pooling), back to bins by the filters' pseudo-inverse, as `GriffinLimDecoder`
    does."""
    if bands is None:
        return torch.sqrt(power)
    fb = torch.tensor(mel_filters(bands))
    mel = fb @ power
    if pool:
        frames = mel.shape[-1] // 2 * 2
        pooled = 0.5 * (mel[..., 0:frames:2] + mel[..., 1:frames:2])
        mel = torch.repeat_interleave(pooled, 2, dim=-1)
        mel = torch.cat([mel, power.new_zeros(bands, power.shape[-1] - frames)], dim=-1)
    pinv = torch.linalg.pinv(fb)
    return torch.sqrt((pinv @ mel).clamp_min(0))


def griffin_lim(mag, length, iters=ITERS):
    g = torch.Generator().manual_seed(0)
    phase = torch.rand(mag.shape, generator=g) * 2 * np.pi
    spec = mag * torch.exp(1j * phase)
    prev = torch.zeros_like(spec)
    for _ in range(iters):
        proj = stft(istft(spec, length))
        acc = proj + 0.99 * (proj - prev)
        prev = proj
        spec = mag * acc / (acc.abs() + 1e-12)
    return istft(spec, length)


def write_stats(bands, stacked):
    """latents/melBANDS[x2].json: the candidate's definition and per-channel normalisation over
    the first 800 training mixes, as prepare.py computes the shipped latent's."""
    name = f"mel{bands}" + ("x2" if stacked else "")
    spec = {"name": name, "bands": bands, "pooled": not stacked}
    front = Frontend({**spec, "mean": [0.0] * bands * (1 + stacked), "std": [1.0] * bands * (1 + stacked)})
    tracks = np.load(CACHE / "dataset.npz")["tracks"][:800]
    stats = {**spec, **band_stats(front, torch.tensor(tracks.astype(np.float32).sum(1)))}
    out = HERE / "latents" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(stats, indent=1) + "\n")
    print(f"wrote {out}: {len(stats['mean'])} channels")


def write_nested(detail):
    """latents/nestedNAME.json: the shipped latent (coarse) nested with latent NAME (detail,
    latents/NAME.json): common.nest, the map from coarse to detail fitted by ridge regression
    (relatent.ridge) over the same 800 training mixes as the stats. A streaming model trained in
    the shipped latent carries over to it exactly (relatent.py) and has only the detail to learn;
    NAME's vocoder decodes it."""
    from relatent import columns, explained, ridge
    coarse, fine = latent_stats(), latent_stats(HERE / "latents" / f"{detail}.json")
    tracks = torch.tensor(np.load(CACHE / "dataset.npz")["tracks"][:800].astype(np.float32).sum(1))
    zc, zd = columns(coarse, tracks), columns(fine, tracks)
    map_ = ridge(zc, zd)
    # Six significant digits: the map is part of the latent's definition, and the JSON stays small.
    map_ = torch.tensor([[float(f"{v:.6g}") for v in row] for row in map_.tolist()])
    # Each detail channel's spread, floored (as band_stats floors a band's) so that a channel the
    # coarse latent predicts almost exactly is not blown up from rounding noise.
    scale = (zd - map_ @ zc).std(1).clamp(min=0.02)
    stats = {"name": f"nested{detail}", "coarse": coarse, "detail": fine, "map": map_.tolist(),
             "scale": [float(f"{v:.6g}") for v in scale.tolist()]}
    out = HERE / "latents" / f"nested{detail}.json"
    out.write_text(json.dumps(stats) + "\n")
    print(f"wrote {out}: {latent_channels(stats)} channels; the coarse latent predicts "
          f"{explained(map_, zc, zd):.3f} of the detail latent's energy")


def resynthesised_sync(names, count=48):
    """Onset F1 (evaluate.py's detector, ±50 ms) of the validation scenes' true soundtracks (48
    drop scenes, seeds from evaluate.VALIDATION_SEED, both looks) as they are and encoded to each
    latent of `names` and decoded by its vocoder: what a latent and its vocoder cost the sync bar
    before any denoiser does."""
    import sys
    sys.path.insert(0, str(HERE / "data"))
    import evaluate
    import scenes
    import vocoder
    from config import WINDOW_S
    latents = {n: vocoder.Latent(latent_stats(HERE / "latents" / f"{n}.json")) for n in names}
    decoders = {n: (Frontend(lat.stats), vocoder.load(lat), lat) for n, lat in latents.items()}
    lib = scenes.Library("heldout")
    for look in ("plain", "sketch"):
        rng = np.random.default_rng(evaluate.VALIDATION_SEED)
        totals = {k: np.zeros(4) for k in ("recordings", *decoders)}
        for _ in range(count):
            clip = scenes.render(rng, lib, WINDOW_S, "drop", look)
            contacts = evaluate.impact_times(clip)
            heard = evaluate.audible(clip["audio"], contacts)
            x = torch.tensor(clip["audio"], dtype=torch.float32)[None]
            audios = {"recordings": clip["audio"]}
            for n, (front, voc, lat) in decoders.items():
                with torch.no_grad():
                    audios[n] = vocoder.decode(voc, front(x), lat)[0].numpy()[: x.shape[1]]
            for k, audio in audios.items():
                totals[k] += evaluate.match(evaluate.onsets(audio), contacts, heard)
        print(f"{look}: " + ", ".join(f"{k} {evaluate.f1(v):.3f}" for k, v in totals.items()), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", choices=["measure", "stats", "nested", "sync"], default="measure")
    ap.add_argument("--frames", type=int, default=200, help="latent frames per recording (4 s)")
    ap.add_argument("--speech", type=int, default=30, help="held-out speech files to use (of 182)")
    ap.add_argument("--bands", type=int, default=128, help="stats: mel bands per STFT frame")
    ap.add_argument("--stacked", action="store_true", help="stats: the two STFT frames stacked, not pooled")
    ap.add_argument("--detail", default="mel128x2", help="nested: the detail latent (latents/NAME.json)")
    ap.add_argument("--latents", nargs="+", default=["mel48", "mel128x2"],
                    help="sync: the latents (latents/NAME.json) whose vocoders resynthesise the scenes")
    args = ap.parse_args()
    if args.command == "stats":
        return write_stats(args.bands, args.stacked)
    if args.command == "nested":
        return write_nested(args.detail)
    if args.command == "sync":
        return resynthesised_sync(args.latents)
    clips = heldout_clips(args.frames)
    clips["klettres"] = clips.get("klettres", [])[: args.speech]
    rng = np.random.default_rng(0)
    for source, waves in clips.items():
        for name, (bands, pool) in CANDIDATES.items():
            rows = {"true phase": [], "griffin-lim": []}
            for w in waves:
                x = torch.tensor(w)
                spec = stft(x)
                mag = latent_magnitude(spec.abs() ** 2, bands, pool)
                true = istft(mag * torch.exp(1j * spec.angle()), len(x))
                rows["true phase"].append(log_spectral_distance(true, x))
                rows["griffin-lim"].append(log_spectral_distance(griffin_lim(mag, len(x)), x))
            for kind, v in rows.items():
                mean, lo, hi = interval(np.array(v), rng)
                print(f"{source:9s} {name:26s} {kind:11s} LSD {mean:.2f} dB [{lo:.2f}, {hi:.2f}]"
                      f" over {len(v)}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
