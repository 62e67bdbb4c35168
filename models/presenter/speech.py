"""Speech for the talking-head model: espeak-ng audio with per-phoneme timings, and the mouth
targets (how open, how spread) that a face should show on each 25 fps video frame.

espeak-ng is driven through ctypes on libespeak-ng.so.1 (there is no CLI on the machines). It
synthesises at 22050 Hz and reports each phoneme's start (in ms, with its IPA name) in the event
list of its synth callback; the audio is resampled here to 16 kHz.

Phoneme list convention: `Utterance.phonemes` covers the whole audio without gaps, from 0 to the
last sample. Pauses (leading/trailing silence, the pauses espeak makes at commas and full stops)
are explicit entries named "_" (PAUSE). Everything else is espeak's IPA name of the phoneme, e.g.
"ə", "aɪ", "tʃ", "ɑːɹ" (stress marks never appear there; length marks "ː", rarely ":", do).

Not thread-safe: espeak itself keeps global state, and so does the engine here (one synthesis at a
time per process). Calling `synthesize` many times in one process is fine.

Run `python speech.py` for the self-check (phoneme timings against the audio, open/RMS correlation).
"""

import ctypes
import math
import os
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000                      # output sample rate, Hz
FPS = 25                          # video frame rate of the mouth targets
SAMPLES_PER_FRAME = RATE // FPS   # 640: frame i covers samples [640 i, 640 (i + 1))
PAUSE = "_"                       # phoneme name of a pause in Utterance.phonemes

HERE = Path(__file__).resolve().parent
WORDS_FILE = HERE / "words.txt"

# ---- voices -----------------------------------------------------------------------------------
# A voice is "<language>+<variant>". The variant (files in espeak-ng-data/voices/!v) sets the
# speaker: pitch, formants, breathiness; the language sets the accent. Validation speakers are the
# variants in VAL_VARIANTS, which appear in no training voice.
ACCENTS = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc"]
# The klatt* variants share the default speaker (they change the synthesiser), so they all train.
TRAIN_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "klatt", "klatt2",
                  "klatt3", "whisper", "whisperf"]
VAL_VARIANTS = ["m6", "m8", "f4", "f5"]   # two male, two female
VAL_ACCENTS = ["en", "en-us"]
assert not set(TRAIN_VARIANTS) & set(VAL_VARIANTS)


def _voice(accent, variant):
    return f"{accent}+{variant}" if variant else accent


TRAIN_VOICES = [_voice(a, v) for v in TRAIN_VARIANTS for a in ACCENTS]
VAL_VOICES = [_voice(a, v) for v in VAL_VARIANTS for a in VAL_ACCENTS]

# ---- text -------------------------------------------------------------------------------------
SENTENCES = (1, 3)          # sentences per text, inclusive
WORDS_PER_SENTENCE = (3, 14)
COMMA_PROB = 0.12           # chance of a comma after a word (never after the last one)

# ---- mouth targets ----------------------------------------------------------------------------
ANTICIPATION_S = 0.03   # the mouth reaches a phoneme's shape this long before its acoustic centre
PAUSE_RAMP_S = 0.06     # in a pause, the mouth is back at rest this long after it starts ...
                        # ... and starts to leave rest this long before it ends
SMOOTH_SIGMA_S = 0.02   # Gaussian smoothing of the interpolated tracks
GRID_HZ = 1000          # the tracks are built at 1 ms resolution, then averaged per video frame
LOUDNESS_EXPONENT = 0.8         # open *= (frame RMS / speech level) ** this, clipped to:
LOUDNESS_CLIP = (0.4, 1.5)
ACTIVE_FRACTION = 0.1   # frames above this fraction of the loudest one define the speech level
SILENCE_GATE = (0.03, 0.15)     # RMS / speech level: open fades from 0 (below) to full (above)

# Viseme targets (open, spread) of the phoneme symbols, after stripping stress, length and
# diacritics. open: 0 lips closed .. 1 wide open; spread: -1 rounded .. +1 spread. None means
# "transparent": the symbol leaves that channel to its neighbours (e.g. the lips of /t/ take the
# shape of the surrounding vowels, /h/ takes the jaw of the next vowel).
VISEMES = {
    # bilabials: full closure
    "p": (0.0, 0.0), "b": (0.0, 0.0), "m": (0.0, 0.0),
    # labiodentals: lower lip to the upper teeth
    "f": (0.1, None), "v": (0.1, None),
    # dentals, alveolars, postalveolars
    "θ": (0.2, None), "ð": (0.2, None),
    "s": (0.12, 0.3), "z": (0.12, 0.3),
    "ʃ": (0.18, -0.5), "ʒ": (0.18, -0.5), "tʃ": (0.15, -0.5), "dʒ": (0.15, -0.5),
    "t": (0.22, None), "d": (0.22, None), "n": (0.22, None), "l": (0.28, None),
    "ɾ": (0.25, None), "ɹ": (0.25, -0.35), "r": (0.25, -0.2), "ɬ": (0.25, None),
    # palatal, velar, glottal
    "j": (0.2, 0.6), "k": (0.28, None), "ɡ": (0.28, None), "g": (0.28, None),
    "ŋ": (0.28, None), "x": (0.3, None), "h": (None, None), "ʔ": (None, None),
    # labial-velars: rounded, nearly closed
    "w": (0.12, -0.9), "ʍ": (0.12, -0.9),
    # front vowels: spread
    "i": (0.25, 0.9), "ɪ": (0.32, 0.6), "e": (0.45, 0.6), "ɛ": (0.55, 0.4), "æ": (0.8, 0.35),
    "ᵻ": (0.3, 0.4),
    # central and open vowels
    "a": (0.9, 0.1), "ɑ": (1.0, 0.0), "ɐ": (0.6, 0.0), "ʌ": (0.7, 0.0), "ə": (0.4, 0.0),
    "ɜ": (0.45, 0.0), "ɚ": (0.4, -0.3),
    # back and rounded vowels
    "ɒ": (0.85, -0.3), "ɔ": (0.6, -0.6), "o": (0.45, -0.7), "ʊ": (0.3, -0.6), "u": (0.25, -0.9),
    "ʉ": (0.28, -0.7), "ɵ": (0.35, -0.4), "y": (0.25, -0.7), "ø": (0.4, -0.5),
}
REST = (0.0, 0.0)
UNKNOWN = (0.3, None)   # a symbol missing from VISEMES: a medium-small consonant-like opening
# Characters that carry no mouth shape of their own: stress, length, syllable marks, and the
# modifier letters espeak appends (palatalisation ʲ, aspiration ʰ, ...).
IGNORED = set("ˈˌːˑ:.ʲʰʷˠˤ")


@dataclass
class Utterance:
    samples: np.ndarray                        # float32 mono at RATE, in [-1, 1]
    phonemes: list[tuple[float, float, str]]   # (start s, end s, IPA or PAUSE), consecutive

    @property
    def n_frames(self) -> int:
        return frame_count(len(self.samples))


def frame_count(n_samples: int) -> int:
    """Video frames needed to cover n_samples (the last one may be partial)."""
    return -(-n_samples // SAMPLES_PER_FRAME)


# ---- text -------------------------------------------------------------------------------------

_words = None


def _vocabulary():
    global _words
    if _words is None:
        _words = [w for w in WORDS_FILE.read_text().split() if w]
    return _words


def random_text(rng: np.random.Generator) -> str:
    """1-3 random sentences of 3-14 words from words.txt, with commas and full stops (espeak
    pauses at both). The words are random, so the sentences are grammatical only by chance."""
    words = _vocabulary()
    sentences = []
    for _ in range(rng.integers(SENTENCES[0], SENTENCES[1] + 1)):
        n = rng.integers(WORDS_PER_SENTENCE[0], WORDS_PER_SENTENCE[1] + 1)
        picked = [words[i] for i in rng.integers(0, len(words), n)]
        commas = rng.random(n) < COMMA_PROB
        parts = [w + ("," if c and k < n - 1 else "") for k, (w, c) in enumerate(zip(picked, commas))]
        sentence = " ".join(parts)
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
    return " ".join(sentences)


# ---- espeak-ng --------------------------------------------------------------------------------

LIBRARY = "libespeak-ng.so.1"
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_PHONEME_IPA = 0x0002
EVENT_LIST_TERMINATED = 0
EVENT_PHONEME = 7
POS_CHARACTER = 1
CHARS_UTF8 = 1
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h (API revision 12, espeak-ng 1.51)."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


class _Espeak:
    """The initialised library, plus the audio and phoneme events of the synthesis in progress."""

    def __init__(self):
        lib = ctypes.CDLL(LIBRARY)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        self.lib = lib
        self.rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                          INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA)
        if self.rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        data = ctypes.c_char_p()
        lib.espeak_Info(ctypes.byref(data))
        self.variants_dir = Path(os.fsdecode(data.value)) / "voices" / "!v"
        # ctypes frees a callback object that Python no longer references: keep it on self.
        self._callback = _SynthCallback(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)
        self._chunks = []
        self._events = []

    def _on_synth(self, wav, n, events):
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == EVENT_PHONEME:
                # char[8], zero-terminated unless the name fills it; a cut UTF-8 tail is dropped.
                name = e.id.string.decode("utf-8", "ignore")
                self._events.append((e.audio_position / 1000, name))
            i += 1
        return 0

    def set_voice(self, voice: str):
        # espeak silently falls back to the default speaker for an unknown variant: refuse it here.
        _, _, variant = voice.partition("+")
        if variant and not (self.variants_dir / variant).is_file():
            raise ValueError(f"no espeak voice variant {variant!r} in {self.variants_dir}")
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak does not know the voice {voice!r}")

    def synth(self, text: str) -> tuple[np.ndarray, list[tuple[float, str]]]:
        """int16 audio at self.rate, and the phoneme events (start s, IPA; "" for a pause)."""
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        err = self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if err != 0 or self.lib.espeak_Synchronize() != 0:
            raise RuntimeError(f"espeak_Synth failed ({err})")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio, self._events


_engine = None


def _espeak() -> _Espeak:
    global _engine
    if _engine is None:
        _engine = _Espeak()
    return _engine


# ---- synthesis --------------------------------------------------------------------------------

def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by FFT: keep the spectrum below both Nyquists, with a short
    raised-cosine roll-off before the cut to limit ringing. The signal is treated as periodic;
    speech starts and ends in near-silence, so the wrap-around is inaudible."""
    if len(x) == 0:
        return np.zeros(0)
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    n_out = round(len(x) * up / down)
    # Zero-pad to a multiple of `down` so that the output length is an exact integer.
    padded = np.pad(x.astype(np.float64), (0, -len(x) % down))
    m = len(padded) * up // down
    spec = np.fft.rfft(padded)
    keep = min(len(spec), m // 2 + 1)
    band = np.arange(keep) / (keep - 1)   # 0 .. 1 = the lower Nyquist
    rolloff_start = 0.9
    taper = np.where(band < rolloff_start, 1.0,
                     0.5 + 0.5 * np.cos(np.pi * (band - rolloff_start) / (1 - rolloff_start)))
    y = np.fft.irfft(spec[:keep] * taper, m) * (m / len(padded))
    return y[:n_out]


def _phoneme_intervals(events, duration):
    """Phoneme start events → consecutive (start, end, name) covering [0, duration]; espeak's
    pause events (empty name) and any leading silence become PAUSE, adjacent pauses are merged,
    zero-length entries dropped."""
    events = [(min(max(t, 0.0), duration), name or PAUSE) for t, name in events]
    if not events or events[0][0] > 0:
        events.insert(0, (0.0, PAUSE))
    ends = [t for t, _ in events[1:]] + [duration]
    out = []
    for (start, name), end in zip(events, ends):
        if end <= start:
            continue
        if out and name == PAUSE and out[-1][2] == PAUSE:
            out[-1] = (out[-1][0], end, PAUSE)
        else:
            out.append((start, end, name))
    return out


def synthesize(text: str, voice: str, rate_wpm: int, pitch: int, amplitude: int,
               pitch_range: int = 50) -> Utterance:
    """Speak `text` with an espeak voice ("en+f3", see TRAIN_VOICES / VAL_VOICES).

    rate_wpm: words per minute (espeak accepts 80-450, 175 is normal); pitch: base pitch 0-100
    (50 = the voice's own); amplitude: volume 0-200 (100 = normal; loud voices may clip);
    pitch_range: intonation range 0-100 (50 = normal, 0 = monotone)."""
    es = _espeak()
    es.set_voice(voice)
    for param, value in ((PARAM_RATE, rate_wpm), (PARAM_VOLUME, amplitude),
                         (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range)):
        es.lib.espeak_SetParameter(param, int(value), 0)
    audio, events = es.synth(text)
    samples = resample(audio / 32768.0, es.rate, RATE)
    # Same duration as the 22050 Hz audio up to half an output sample, so the timings carry over.
    phonemes = _phoneme_intervals(events, len(audio) / es.rate)
    return Utterance(np.clip(samples, -1.0, 1.0).astype(np.float32), phonemes)


# ---- mouth targets ----------------------------------------------------------------------------

def _symbols(ipa: str) -> list[str]:
    """An IPA phoneme name → its viseme symbols: affricates as one, other sequences (diphthongs,
    r-coloured vowels, syllabic "əl") one per base letter, marks and diacritics dropped."""
    base = "".join(c for c in ipa if c not in IGNORED and not unicodedata.combining(c))
    if not base:
        return []
    if base in VISEMES:
        return [base]
    return list(base)


def _keyframes(phonemes):
    """(time, open, spread) targets; open or spread is None where the symbol is transparent."""
    keys = []
    for start, end, name in phonemes:
        dur = end - start
        if name == PAUSE:
            # Rest for the whole pause, but leave the mouth time to close and to open again.
            if dur > 2 * PAUSE_RAMP_S:
                keys += [(start + PAUSE_RAMP_S, *REST), (end - PAUSE_RAMP_S, *REST)]
            else:
                keys.append((start + dur / 2, *REST))
            continue
        symbols = _symbols(name)
        # A sequence spreads its targets evenly over the phoneme: "aɪ" opens, then closes to /ɪ/.
        for k, sym in enumerate(symbols):
            keys.append((start + dur * (k + 0.5) / len(symbols), *VISEMES.get(sym, UNKNOWN)))
    return [(t - ANTICIPATION_S, o, s) for t, o, s in keys]


def _cosine_track(times, values, grid):
    """Cosine (ease-in-out) interpolation between keyframes, held constant beyond both ends."""
    times, values = np.asarray(times), np.asarray(values)
    if len(times) == 0:
        return np.zeros_like(grid)
    if len(times) == 1:
        return np.full_like(grid, values[0])
    i = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, len(times) - 2)
    span = np.maximum(times[i + 1] - times[i], 1e-9)
    u = np.clip((grid - times[i]) / span, 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * u)
    return values[i] + (values[i + 1] - values[i]) * w


def _gaussian_smooth(x, sigma):
    """Gaussian smoothing of x (sigma in samples), edges extended."""
    radius = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return np.convolve(np.pad(x, radius, mode="edge"), k / k.sum(), mode="valid")


def viseme_tracks(phonemes, n_frames: int) -> np.ndarray:
    """[n_frames, 2] (open, spread) from the phonemes alone, before the loudness scaling."""
    out = np.zeros((n_frames, 2), np.float32)
    if n_frames == 0:
        return out
    per_frame = GRID_HZ // FPS
    grid = (np.arange(n_frames * per_frame) + 0.5) / GRID_HZ
    keys = sorted(_keyframes(phonemes), key=lambda k: k[0])
    for ch in range(2):
        pts = [(k[0], k[1 + ch]) for k in keys if k[1 + ch] is not None]
        track = _cosine_track([t for t, _ in pts], [v for _, v in pts], grid)
        track = _gaussian_smooth(track, SMOOTH_SIGMA_S * GRID_HZ)
        out[:, ch] = track.reshape(n_frames, per_frame).mean(axis=1)
    return out


def frame_rms(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS of each video frame's 640 samples (zero beyond the end of the audio)."""
    x = np.zeros(n_frames * SAMPLES_PER_FRAME, np.float64)
    n = min(len(samples), len(x))
    x[:n] = samples[:n]
    return np.sqrt((x.reshape(n_frames, SAMPLES_PER_FRAME) ** 2).mean(axis=1))


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def loudness_factor(rms: np.ndarray) -> np.ndarray:
    """Per-frame multiplier of `open`: louder than the utterance's typical speech level opens more,
    quieter less (bounded), and frames near silence fade to 0."""
    if rms.size == 0 or rms.max() <= 0:
        return np.zeros_like(rms)
    level = np.median(rms[rms > ACTIVE_FRACTION * rms.max()])
    rel = rms / level
    scale = np.clip(rel ** LOUDNESS_EXPONENT, *LOUDNESS_CLIP)
    gate = _smoothstep((rel - SILENCE_GATE[0]) / (SILENCE_GATE[1] - SILENCE_GATE[0]))
    return scale * gate


def mouth_targets(phonemes, n_frames: int, samples: np.ndarray) -> np.ndarray:
    """[n_frames, 2] float32 at FPS: column 0 open (0 closed .. ~1 wide open, up to 1.3 when
    loud), column 1 spread (-1 rounded .. +1 spread). Frame i covers samples [640 i, 640 (i+1))."""
    out = viseme_tracks(phonemes, n_frames)
    out[:, 0] *= loudness_factor(frame_rms(samples, n_frames))
    return out


# ---- self-check -------------------------------------------------------------------------------

def _lagged_correlation(a, b, lag):
    """Pearson correlation of a[t] and b[t + lag]."""
    if lag < 0:
        a, b = a[-lag:], b[:lag]
    elif lag > 0:
        a, b = a[:-lag], b[lag:]
    return float(np.corrcoef(a, b)[0, 1])


def _speech_end(samples, threshold=0.01):
    """Time of the last sample above threshold × peak."""
    loud = np.nonzero(np.abs(samples) > threshold * np.abs(samples).max())[0]
    return (loud[-1] + 1) / RATE


def _main():
    rng = np.random.default_rng(0)
    texts = [random_text(rng) for _ in range(3)]
    lags = list(range(-3, 4))
    t0 = time.perf_counter()
    es = _espeak()
    print(f"espeak initialised in {(time.perf_counter() - t0) * 1000:.0f} ms")
    for voice in TRAIN_VOICES + VAL_VOICES:
        es.set_voice(voice)
    print(f"{len(TRAIN_VOICES)} train and {len(VAL_VOICES)} val voices exist")
    for voice in ("en+f3", "en-us+m6"):
        assert voice in TRAIN_VOICES or voice in VAL_VOICES
        t0 = time.perf_counter()
        utts = [synthesize(t, voice, rate_wpm=175, pitch=50, amplitude=100) for t in texts]
        per_synth = (time.perf_counter() - t0) / len(texts)
        audio_s = sum(len(u.samples) for u in utts) / RATE / len(texts)
        split = "train" if voice in TRAIN_VOICES else "val"
        print(f"\n== {voice} ({split}): {per_synth * 1000:.1f} ms per synthesis "
              f"({audio_s:.2f} s of audio each)")
        rms_all, open_all, plain_all = [], [], []
        for text, u in zip(texts, utts):
            n = u.n_frames
            rms = frame_rms(u.samples, n)
            mouth = mouth_targets(u.phonemes, n, u.samples)
            rms_all.append(rms)
            open_all.append(mouth[:, 0])
            plain_all.append(viseme_tracks(u.phonemes, n)[:, 0])
            last_speech = [p for p in u.phonemes if p[2] != PAUSE][-1][1]
            audio_end = _speech_end(u.samples)
            quiet = rms < SILENCE_GATE[0] * np.median(rms[rms > ACTIVE_FRACTION * rms.max()])
            print(f"{len(u.samples) / RATE:.2f} s, {len(u.phonemes)} phonemes; last one ends "
                  f"{u.phonemes[-1][1]:.3f} s; last speech phoneme ends {last_speech:.3f} s, "
                  f"audio energy ends {audio_end:.3f} s; max open on {quiet.sum()} silent "
                  f"frames {mouth[quiet, 0].max(initial=0):.3f}")
            assert abs(u.phonemes[-1][1] - len(u.samples) / RATE) < 0.1
            assert abs(last_speech - audio_end) < 0.1, "phoneme timings do not match the audio"
        rms, op, plain = map(np.concatenate, (rms_all, open_all, plain_all))
        for label, track in (("open", op), ("open before loudness", plain)):
            corr = [_lagged_correlation(rms, track, lag) for lag in lags]
            print(f"corr(RMS[t], {label}[t+lag]) lag -3..3: "
                  + " ".join(f"{c:+.3f}" for c in corr)
                  + f"  peak at lag {lags[int(np.argmax(corr))]}")
    print(f"\nphonemes of {texts[0]!r} ({voice}):")
    for start, end, name in utts[0].phonemes:
        print(f"  {start:6.3f} {end:6.3f} {name}")


if __name__ == "__main__":
    _main()
