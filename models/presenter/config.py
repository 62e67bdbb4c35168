"""The presenter model's fixed numbers, shared by every script (no torch here: the evaluation
runs in the face-landmark environment, which has none)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RATE = 16_000
FPS = 25
HOP = RATE // FPS  # 640 samples per video frame
SIZE = 512  # output frames are SIZE x SIZE RGB

# Chunking (in video frames). chunk + lookahead of audio must arrive before a chunk can be made,
# so together they set the live latency floor: 7 frames = 280 ms, under the 400 ms first-frame bar
# with room for the chunk's own compute.
CHUNK = 5
CONTEXT = 4  # previous frames the denoiser sees (previous_motion) and the audio window starts at
LOOKAHEAD = 2  # lips move before the sound: the encoder hears 80 ms ahead
# The model is trained to continue the previous chunk's motion, so the runtime eases nothing at
# chunk seams: measured, a frame-to-frame change across a seam is 0.95 of one inside a chunk.
# Easing all CONTEXT frames, the contract's default, slows every chunk's start (a 5 Hz pulse:
# 0.24), and easing one frame still shows (0.47).
SEAM = 0
WINDOW = CONTEXT + CHUNK + LOOKAHEAD
WINDOW_SAMPLES = WINDOW * HOP

# Motion: one row per frame; zeros are the rest pose (the runtime's previous_motion before the
# first chunk). Units are the renderer's (see render.py); the diffusion model works on
# motion / MOTION_SCALE so that every dimension has roughly unit spread.
MOTION = ["open", "spread", "blink", "brow", "yaw", "pitch", "roll", "tx", "ty"]
MOTION_SCALE = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]

# Audio features: log-mel in the graph.
N_FFT = 512
MEL_HOP = 160  # 100 Hz mel frames, four per video frame
N_MELS = 40
EPS = 1e-5

# Canonical face placement in the SIZE x SIZE frame: every avatar is aligned so that its eye
# centres and mouth centre land here (align.py), and the renderer's regions are built around it.
EYE_LEFT = (212.0, 205.0)  # image left (the subject's right eye)
EYE_RIGHT = (300.0, 205.0)
MOUTH = (256.0, 290.0)

AVATARS = {"astronaut": "avatars/astronaut.png", "grace-hopper": "avatars/grace-hopper.png"}
DEFAULT_AVATAR = "astronaut"
