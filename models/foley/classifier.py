#!/usr/bin/env python3
"""The evaluation's sound classifier: which of the scene classes (common.CLASSES) a 4 s clip
contains (multi-label), from real recordings mixed 1-2 at a time at random times, levels and
bounce patterns. It judges the model, so it never hears generated audio.

The judge is trained on every recording of the scene classes (both splits) and checked on the
true soundtracks of rendered scenes of both splits (it must name their class). How far such a
classifier generalises beyond the recordings it heard is measured by a twin trained on the train
split only and tested on the held-out files: with 2-6 recordings per class it recognises the
recordings' timbres more than a material in general (figures in the README), so the prompt
metric asks whether the generated sound has the prompted class's timbre.

    python models/foley/classifier.py      # trains both (~6 min), prints their accuracies
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

from common import Frontend, latent_stats  # noqa: E402
from config import CACHE, CLASSES, N_MELS, RATE, SAMPLES  # noqa: E402

CKPT = CACHE / "classifier.pt"
STEADY = {"engine", "rain"}  # loop over the whole clip, like the scenes do
STEPS = 1500


def library(split):
    """The recordings of the scene classes in one split (the scenes' own split rules)."""
    sounds = scenes.Library(split).sounds
    return {c: sounds.get(c, []) for c in CLASSES}


def example(rng, lib, classes):
    """A 4 s mix of real recordings: steady classes looped over the clip; an event class either
    at 1-3 random times or as a bouncing object (like the drop scenes: each hit softer and
    sooner than the one before); a random level and a faint noise floor."""
    wave = np.zeros(SAMPLES, np.float32)
    for c in classes:
        s = lib[c][rng.integers(len(lib[c]))]
        gain = rng.uniform(0.2, 1.0)
        if c in STEADY:
            start = rng.integers(max(1, len(s) - SAMPLES))
            wave += gain * np.resize(s[start:], SAMPLES)
            continue
        if rng.random() < 0.5:
            at, gap, keep = rng.integers(SAMPLES // 2), rng.uniform(0.2, 0.9) * RATE, rng.uniform(0.3, 0.8)
            times = []
            while at < SAMPLES - 1600 and gain * keep ** len(times) > 0.05 and len(times) < 6:
                times.append(int(at))
                at, gap = at + gap, gap * keep
            gains = [gain * keep ** k for k in range(len(times))]
        else:
            times = [rng.integers(SAMPLES - 1600) for _ in range(rng.integers(1, 4))]
            gains = [gain] * len(times)
        for at, g in zip(times, gains):
            n = min(len(s), SAMPLES - at)
            wave[at: at + n] += g * s[:n]
    wave *= rng.uniform(0.3, 2.0)
    return wave + rng.uniform(0, 3e-3) * rng.standard_normal(SAMPLES).astype(np.float32)


class Classifier(nn.Module):
    """Log-mel (the model's own frontend) → three dilated convolutions over time (300 ms of
    context: an attack and its decay) → attention and max pooling over the clip → class logits."""

    def __init__(self):
        super().__init__()
        self.front = Frontend(latent_stats())
        self.conv = nn.Sequential(
            nn.Conv1d(N_MELS, 96, 3, padding=1), nn.GELU(),
            nn.Conv1d(96, 96, 3, padding=2, dilation=2), nn.GELU(),
            nn.Conv1d(96, 96, 3, padding=4, dilation=4), nn.GELU())
        self.attend = nn.Conv1d(96, 1, 1)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * 96, len(CLASSES)))

    def forward(self, wave):
        with torch.no_grad():
            z = self.front(wave)
        h = self.conv(z)
        w = torch.softmax(self.attend(h), dim=2)
        return self.head(torch.cat([(h * w).sum(2), h.amax(2)], dim=1))

    def probs(self, wave):
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(wave, np.float32)[:SAMPLES])
            x = torch.nn.functional.pad(x, (0, SAMPLES - len(x)))[None]
            return torch.sigmoid(self(x))[0].numpy()


def batch(rng, lib, n):
    waves, labels = [], []
    for _ in range(n):
        k = 1 if rng.random() < 0.6 else 2
        classes = list(rng.choice(len(CLASSES), k, replace=False))
        y = np.zeros(len(CLASSES), np.float32)
        y[classes] = 1
        waves.append(example(rng, lib, [CLASSES[c] for c in classes]))
        labels.append(y)
    return torch.tensor(np.stack(waves)), torch.tensor(np.stack(labels))


def load():
    m = Classifier()
    m.load_state_dict(torch.load(CKPT))
    m.eval()
    return m


def fit(lib, steps=STEPS):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = Classifier()
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    for step in range(steps):
        x, y = batch(rng, lib, 32)
        loss = nn.functional.binary_cross_entropy_with_logits(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    m.eval()
    return m


def scene_accuracy(m, split, seed, per_kind=(("drop", 32), ("vehicle", 8), ("splash", 8),
                                            ("rain", 8), ("thunder", 8))):
    """Top-1 accuracy on the true soundtracks of rendered single-source scenes (the real
    recordings of one split, placed as the scenes place them), per class: {class: (right, n)}."""
    rng = np.random.default_rng(seed)
    lib = scenes.Library(split)
    out = {}
    for kind, n in per_kind:
        for _ in range(n):
            clip = scenes.render(rng, lib, SAMPLES / RATE, kind)
            cls = clip["parts"][0]["class"]
            if cls is None:  # a drop too gentle to make a sound
                continue
            r = out.setdefault(cls, [0, 0])
            r[0] += CLASSES[int(np.argmax(m.probs(clip["audio"])))] == cls
            r[1] += 1
    return out


def report(name, acc):
    right, n = sum(r for r, _ in acc.values()), sum(n for _, n in acc.values())
    per = ", ".join(f"{c} {r}/{k}" for c, (r, k) in acc.items())
    print(f"{name}: {right}/{n} ({per})", flush=True)
    return right / max(1, n)


def main():
    torch.set_num_threads(2)
    train, held = library("train"), library("heldout")
    m = fit(train)
    # Held-out recordings: single sounds (top class) and pairs (both labels above 0.5).
    hr = np.random.default_rng(1)
    correct = total = 0
    for c in range(len(CLASSES)):
        for _ in range(25):
            p = m.probs(example(hr, held, [CLASSES[c]]))
            correct += int(np.argmax(p) == c)
            total += 1
    single = correct / total
    x, y = batch(hr, held, 200)
    with torch.no_grad():
        pred = torch.sigmoid(m(x)) > 0.5
    multi = (pred == y.bool()).float().mean().item()
    print(f"twin trained on the train split, on held-out recordings: top-1 accuracy {single:.3f} "
          f"(single sounds), label accuracy {multi:.3f} (1-2 sounds)")
    twin_scenes = report("twin on held-out scenes' true audio", scene_accuracy(m, "heldout", 2))
    judge = fit({c: train[c] + held[c] for c in CLASSES})
    torch.save(judge.state_dict(), CKPT)
    judged = {split: report(f"judge on {split} scenes' true audio", scene_accuracy(judge, split, 3))
              for split in ("train", "heldout")}
    (CACHE / "classifier.json").write_text(json.dumps(
        {"twin_top1": single, "twin_labels": multi, "twin_scenes": twin_scenes,
         "judge_scenes": judged}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
