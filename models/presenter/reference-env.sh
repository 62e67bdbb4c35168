#!/usr/bin/env bash
# The environment reference.py builds the reference encoder in: tflite2onnx (converts mediapipe
# 0.10.14's face detector, read from its wheel, to ONNX), onnx, onnxruntime (checks the graph
# and measures the keypoints on the bundled avatars) and Pillow, pinned. In
# ~/.local/share/gst-generative/reference-venv (or $REFERENCE_VENV). Idempotent. Only for
# rebuilding reference_encoder.onnx: nothing runs Python at run time.
#   models/presenter/reference-env.sh && ~/.local/share/gst-generative/reference-venv/bin/python models/presenter/reference.py
set -euo pipefail
venv=${REFERENCE_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/gst-generative/reference-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import tflite2onnx, onnx, onnxruntime, PIL" 2>/dev/null; then
  echo "reference environment ready: $venv"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q "tflite2onnx==0.4.1" "tflite==2.18.0" "flatbuffers==25.12.19" \
  "onnx==1.23.2" "onnxruntime==1.31.1" "numpy==2.4.6" "protobuf==7.36.2" "pillow==13.0.0"
echo "reference environment ready: $venv"
