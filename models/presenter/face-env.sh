#!/usr/bin/env bash
# The face-landmark environment the presenter's evaluation and avatar alignment run in:
# mediapipe 0.10.14 (Apache-2.0; the last release whose wheel bundles the face detector and face
# mesh models, so it runs offline) with the numpy<2 / protobuf<5 it was built against, installed
# --no-deps because its declared dependencies (jax, opencv-contrib, sounddevice) are not used here.
# In ~/.local/share/gst-generative/face-venv (or $FACE_VENV). Idempotent.
#   models/presenter/face-env.sh && ~/.local/share/gst-generative/face-venv/bin/python ...
set -euo pipefail
venv=${FACE_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/gst-generative/face-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import mediapipe, cv2" 2>/dev/null; then
  echo "face-landmark environment ready: $venv"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q "numpy==1.26.4" "protobuf==4.25.9" "absl-py==2.5.1" "attrs==26.1.0" \
  "flatbuffers==25.12.19" "opencv-python-headless==4.10.0.84" "matplotlib==3.9.4"
"$venv/bin/pip" install -q --no-deps "mediapipe==0.10.14"
"$venv/bin/python" -c "import mediapipe as mp; mp.solutions.face_mesh.FaceMesh(refine_landmarks=True)" 2>/dev/null
echo "face-landmark environment ready: $venv"
