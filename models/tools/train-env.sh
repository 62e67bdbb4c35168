#!/usr/bin/env bash
# A Python environment for training and exporting the bundled models: PyTorch (CPU use; the
# package index's build is the CUDA one, installed without triton, ~4.4 GB), onnx, onnxscript,
# onnxruntime and numpy, in ~/.local/share/gst-generative/train-venv. Idempotent.
#   models/tools/train-env.sh && ~/.local/share/gst-generative/train-venv/bin/python ...
set -euo pipefail
venv=${TRAIN_VENV:-$HOME/.local/share/gst-generative/train-venv}
torch_version=2.11.0
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, onnx, onnxscript, tokenizers" 2>/dev/null; then
  echo "training environment ready: $venv"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
# torch and the wheels it depends on, minus triton (only used to compile GPU kernels).
"$venv/bin/pip" download -q -d "$wheels" "torch==$torch_version"
rm -f "$wheels"/triton-*.whl
"$venv/bin/pip" install -q --no-deps "$wheels"/*.whl
"$venv/bin/pip" install -q "numpy<3" "onnx==1.23.2" "onnxscript==0.7.*" "onnxruntime==1.31.1" "tokenizers==0.23.3"
"$venv/bin/python" -c "import torch, onnx; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
echo "training environment ready: $venv"
