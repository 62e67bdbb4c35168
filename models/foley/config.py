"""The foley model's fixed numbers, shared by every script (no torch here: the CI's evaluation
check runs without it)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
# The windowed package (train.py, export.py): offline, 4 s windows; the streaming model starts
# from it (train_stream.py --init). models/foley itself is the bundled streaming package.
WINDOWED = HERE.parent / "foley-windowed"
RATE = 16_000
FPS = 25
WINDOW_S = 4
OVERLAP_MS = 500
SAMPLES = RATE * WINDOW_S
N_FFT = 512
HOP = 160  # STFT hop (10 ms); the latent pools two frames (20 ms, 50 Hz)
FRAMES = SAMPLES // HOP  # 400 STFT frames per window
LATENT_FRAMES = FRAMES // 2  # 200
N_MELS = 48
PAD = (N_FFT - HOP) // 2  # so that SAMPLES / HOP frames cover the window exactly
EPS = 1e-5
SYNC_FPS, SYNC_SIZE = 25, 32
SEMANTIC_FPS, SEMANTIC_SIZE = 5, 32
FEAT = 64  # width of video and audio features
TEXT_DIM = 384
GL_ITERS = 32
# The vocoder's lookahead in latent frames (vocoder.py): its output lags its input by this many
# frames, so the streaming model's latent runs this far ahead of the audio (stream.py).
VOCODER_LOOKAHEAD = 1
# Latent frames over which a vocoder with absolute phase repeats its phase reference
# (vocoder.phase_advance): the streaming layout's hop, so each hop starts the period.
VOCODER_PHASE_PERIOD = 10
# Griffin-Lim steps a streaming decoder takes after a vocoder that reads its latent's bands
# (vocoder.HopGriffinLim; export_stream.py --refine-steps).
VOCODER_REFINE_STEPS = 0

# Sound classes the scenes use (library classes; see data/sounds.py).
CLASSES = ["impact_metal", "impact_wood", "bounce", "crash", "engine", "splash", "rain", "thunder"]

# Sampler defaults the packages declare (export.py) and the torch sampler uses (stream.sample),
# chosen by measurement through v2agen on validation scenes (README, "Sampler defaults"): one
# long first step (to t = 0.63 at shift 12) and seven near the data end sharpen the impacts'
# attacks; stronger classifier-free guidance follows the prompt no better and smears them.
STEPS = 8
TIME_SHIFT = 12.0
GUIDANCE = 1.5
NEGATIVE_AUDIO = 1.0
