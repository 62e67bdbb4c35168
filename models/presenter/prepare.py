"""Renders the presenter's training set: speech clips from the training voices with their motion
(motion.py), into .cache/dataset.npz. Deterministic for a given --seed.
  python models/presenter/prepare.py [--clips 320] [--seed 0]"""

import argparse
import time

import numpy as np

import config
import motion
import speech


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=320)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    start = time.time()
    clips = [motion.speech_clip(rng, speech.TRAIN_VOICES) for _ in range(a.clips)]
    frames = np.array([len(c.motion) for c in clips])
    config.CACHE.mkdir(exist_ok=True)
    np.savez(
        config.CACHE / "dataset.npz",
        audio=np.concatenate([c.audio for c in clips]),
        motion=np.concatenate([c.motion for c in clips]),
        frames=frames,
    )
    print(f"{a.clips} clips, {frames.sum() / config.FPS / 60:.1f} min, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
