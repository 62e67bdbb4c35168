"""Real recorded speech for the evaluation (never for training: the presenter trains on espeak-ng
only): Asterisk's English prompts (Debian `asterisk-core-sounds-en-wav`, CC-BY-SA-3.0; one
speaker, Allison Smith, 8 kHz), upsampled to 16 kHz, at random levels from quiet to loud,
separated by pauses.
"""

from dataclasses import dataclass
from pathlib import Path
import wave

import numpy as np

import config

# The -wav package's own folder: the `en` link to it comes from asterisk-core-sounds-en, which
# the -wav package only recommends (setup installs without recommends).
PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
GAIN_DB = (-18.0, 4.0)  # quiet to loud passages, against the recordings' own level
PAUSE_S = (0.4, 2.0)


@dataclass
class Clip:
    audio: np.ndarray  # float32 mono at config.RATE
    files: list[str]


def prompts() -> list[Path]:
    files = sorted(PROMPTS.rglob("*.wav"))
    if not files:
        raise SystemExit(f"no recorded prompts in {PROMPTS}: apt-get install asterisk-core-sounds-en-wav")
    return files


def read(path: Path) -> np.ndarray:
    """A 16-bit mono WAV as float32 at config.RATE (band-limited upsampling by zero-padding the
    spectrum)."""
    with wave.open(str(path)) as w:
        rate, n = w.getframerate(), w.getnframes()
        x = np.frombuffer(w.readframes(n), np.int16).astype(np.float32) / 32768
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels()).mean(1)
    if rate == config.RATE:
        return x
    m = int(round(len(x) * config.RATE / rate))
    spectrum = np.fft.rfft(x)
    out = np.zeros(m // 2 + 1, complex)
    k = min(len(spectrum), len(out))
    out[:k] = spectrum[:k]
    return (np.fft.irfft(out, m) * (m / len(x))).astype(np.float32)


def recorded_clip(rng: np.random.Generator, seconds: float) -> Clip:
    """Random prompts at random levels with pauses between, `seconds` long or a little more."""
    files = prompts()
    audio, used, total = [], [], 0
    while total < seconds * config.RATE:
        pause = np.zeros(int(rng.uniform(*PAUSE_S) * config.RATE), np.float32)
        path = files[rng.integers(len(files))]
        x = read(path) * 10 ** (rng.uniform(*GAIN_DB) / 20)
        audio += [pause, np.clip(x, -1, 1)]
        used.append(path.name)
        total += len(pause) + len(x)
    audio.append(np.zeros(int(PAUSE_S[0] * config.RATE), np.float32))
    return Clip(np.concatenate(audio), used)
