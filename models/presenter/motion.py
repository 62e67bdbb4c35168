"""Training motion for the presenter: the clip's speech (espeak-ng, speech.py) laid out with pauses,
its mouth targets, and the stochastic idle motion a person shows around them (blinks, brow raises,
head sway). The diffusion model learns this whole distribution: lips from the audio, blinks and
head motion from the noise. numpy only (the evaluation runs it without torch)."""

from dataclasses import dataclass

import numpy as np

import config
import speech

IDX = {name: i for i, name in enumerate(config.MOTION)}

# Clip layout: utterances separated by pauses, starting and ending in silence.
CLIP_S = 16.0
PAUSE_S = (0.3, 2.2)
RATE_WPM = (110, 240)
PITCH = (20, 80)
AMPLITUDE = (50, 170)  # espeak volume; 100 is normal
GAIN_DB = (-16.0, 6.0)  # after synthesis: from quiet to shouted levels
# Louder speech opens the mouth wider: open *= (linear gain) ** exponent, clipped.
GAIN_FACTOR = (0.7, 0.3, 1.4)
# speech.py's visemes put the median speaking frame at open ≈ 0.12, a barely parted mouth; real
# speakers part their lips about twice as far (inner-lip gap ≈ 5% of the face height).
OPEN_GAIN = 1.8

# Blinks: people blink every 2-10 s, more often while talking; here every 3.2 s on average;
# one blink is ~240 ms.
BLINK_INTERVAL_S = (1.2, 3.2)  # min, mean: min + an exponential (mean - min)
BLINK_SHAPE = [0.45, 1.0, 1.0, 0.65, 0.3, 0.1]
# Brow raises during speech, about one per 4 s of speech.
BROW_RATE_HZ = 0.25
# Head sway: smoothed noise per dimension (renderer units), stronger while speaking.
HEAD_STD = {"yaw": 0.5, "pitch": 0.4, "roll": 0.35, "tx": 0.3, "ty": 0.25}
HEAD_TAU_S = 0.4
SPEAKING_BOOST = 1.5


@dataclass
class Clip:
    audio: np.ndarray  # float32 [frames * HOP] at 16 kHz
    motion: np.ndarray  # float32 [frames, len(MOTION)] renderer units
    speaking: np.ndarray  # bool [frames]: inside an utterance (pauses within it included)


def speech_clip(rng: np.random.Generator, voices: list[str], seconds: float = CLIP_S) -> Clip:
    """Utterances in random voices, rates and loudness, separated by pauses, with their mouth
    targets; every utterance padded to whole frames so audio and motion stay aligned."""
    total = int(seconds * config.FPS)
    audio, mouth, speaking = [], [], []
    frames = 0

    def pause(n):
        audio.append(np.zeros(n * config.HOP, np.float32))
        mouth.append(np.zeros((n, 2), np.float32))
        speaking.append(np.zeros(n, bool))

    while frames < total:
        n = int(rng.uniform(*PAUSE_S) * config.FPS)
        pause(n)
        frames += n
        u = speech.synthesize(
            speech.random_text(rng),
            voices[rng.integers(len(voices))],
            int(rng.integers(*RATE_WPM)),
            int(rng.integers(*PITCH)),
            int(rng.integers(*AMPLITUDE)),
        )
        gain_db = rng.uniform(*GAIN_DB)
        samples = np.clip(u.samples * 10 ** (gain_db / 20), -1, 1)
        n = u.n_frames
        padded = np.zeros(n * config.HOP, np.float32)
        padded[: len(samples)] = samples
        targets = speech.mouth_targets(u.phonemes, n, padded)
        # Shouting opens the mouth wider overall, quiet speech less.
        exponent, lo, hi = GAIN_FACTOR
        targets[:, 0] *= OPEN_GAIN * np.clip(10 ** (exponent * gain_db / 20), lo, hi)
        audio.append(padded)
        mouth.append(targets)
        speaking.append(np.ones(n, bool))
        frames += n
    pause(int(PAUSE_S[0] * config.FPS) + 1)
    audio, mouth, speaking = np.concatenate(audio), np.concatenate(mouth), np.concatenate(speaking)
    motion = np.zeros((len(mouth), len(config.MOTION)), np.float32)
    motion[:, IDX["open"]] = mouth[:, 0]
    motion[:, IDX["spread"]] = mouth[:, 1]
    idle(rng, motion, speaking)
    return Clip(audio.astype(np.float32), motion, speaking)


def smooth_noise(rng: np.random.Generator, n: int, tau_s: float) -> np.ndarray:
    """Unit-variance noise low-passed twice with time constant tau (a gentle, wandering curve)."""
    a = np.exp(-1.0 / (tau_s * config.FPS))
    x = rng.standard_normal(n + 200)
    for _ in range(2):
        y = np.empty_like(x)
        acc = 0.0
        for i, v in enumerate(x):
            acc = a * acc + (1 - a) * v
            y[i] = acc
        x = y
    x = x[200:]
    return x / (x.std() + 1e-8)


def idle(rng: np.random.Generator, motion: np.ndarray, speaking: np.ndarray) -> None:
    """Adds blinks, brow raises and head sway to `motion` in place. Everything eases in from the
    rest pose over the first second, as the runtime starts a stream from the rest pose."""
    n = len(motion)
    t = rng.uniform(0.3, 3.0)
    while True:
        start = int(t * config.FPS)
        if start + len(BLINK_SHAPE) > n:
            break
        motion[start : start + len(BLINK_SHAPE), IDX["blink"]] = BLINK_SHAPE
        t += BLINK_INTERVAL_S[0] + rng.exponential(BLINK_INTERVAL_S[1] - BLINK_INTERVAL_S[0])
    for i in np.flatnonzero(speaking & (rng.random(n) < BROW_RATE_HZ / config.FPS)):
        amp = rng.uniform(0.4, 0.9)
        rise, hold, fall = 5, int(rng.integers(6, 20)), 10
        shape = np.concatenate([np.linspace(0, 1, rise), np.ones(hold), np.linspace(1, 0, fall)])
        end = min(n, i + len(shape))
        motion[i:end, IDX["brow"]] = np.maximum(motion[i:end, IDX["brow"]], amp * shape[: end - i])
    energy = np.convolve(speaking.astype(float), np.ones(25) / 25, mode="same")
    boost = 1 + (SPEAKING_BOOST - 1) * energy
    ease = np.clip(np.arange(n) / config.FPS, 0, 1)
    for name, std in HEAD_STD.items():
        motion[:, IDX[name]] = std * smooth_noise(rng, n, HEAD_TAU_S) * boost * ease
