#!/usr/bin/env python3
"""The evaluation's sound classifier: which of the scene classes (common.CLASSES) a 4 s clip
contains (multi-label), from real recordings mixed 1-2 at a time at random times and gains. It
judges the model, so it never hears generated audio.

The judge is trained on every recording of the scene classes (both splits). How far such a
classifier generalises beyond the recordings it heard is measured by a twin trained on the train
split only and tested on the held-out files: with 2-6 recordings per class it recognises the
recordings' timbres more than a material in general (figures in the README), so the prompt
metric asks whether the generated sound has the prompted class's timbre.

    python models/foley/classifier.py      # trains both (~2 min), prints the twin's accuracy
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
from config import CACHE, CLASSES, SAMPLES  # noqa: E402

CKPT = CACHE / "classifier.pt"
STEADY = {"engine", "rain"}  # loop over the whole clip, like the scenes do


def library(split):
    """The recordings of the scene classes in one split (the scenes' own split rules)."""
    sounds = scenes.Library(split).sounds
    return {c: sounds.get(c, []) for c in CLASSES}


def example(rng, lib, classes):
    wave = np.zeros(SAMPLES, np.float32)
    for c in classes:
        s = lib[c][rng.integers(len(lib[c]))]
        gain = rng.uniform(0.2, 1.0)
        if c in STEADY:
            start = rng.integers(max(1, len(s) - SAMPLES))
            piece = np.resize(s[start:], SAMPLES)
            wave += gain * piece
        else:
            for _ in range(rng.integers(1, 4)):
                at = rng.integers(SAMPLES - 1600)
                n = min(len(s), SAMPLES - at)
                wave[at: at + n] += gain * s[:n]
    return wave


class Features(nn.Module):
    """Per band: mean, spread and peak of the log-mel over the audible frames, plus loudness."""

    def __init__(self):
        super().__init__()
        self.front = Frontend(latent_stats())

    def forward(self, wave):
        z = self.front(wave)  # [B, bands, frames]
        energy = z.mean(1, keepdim=True)
        w = (energy > energy.amax(2, keepdim=True) - 3.0).float()  # the loudest frames
        mean = (z * w).sum(2) / w.sum(2)
        spread = torch.sqrt(((z - mean[..., None]) ** 2 * w).sum(2) / w.sum(2) + 1e-6)
        return torch.cat([mean, spread, z.amax(2), w.mean(2)], dim=1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Features()
        self.net = nn.Sequential(nn.Linear(48 * 3 + 1, 128), nn.GELU(), nn.Dropout(0.2),
                                 nn.Linear(128, len(CLASSES)))

    def forward(self, wave):
        return self.net(self.features(wave))

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


def fit(lib, steps=600):
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
    judge = fit({c: train[c] + held[c] for c in CLASSES})
    torch.save(judge.state_dict(), CKPT)
    (CACHE / "classifier.json").write_text(json.dumps({"twin_top1": single, "twin_labels": multi}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
