# Sourced by scripts and pipelines that need the local test Triton server (the tritonserver that
# scripts/setup.sh unpacks: CPU, python backend). triton_start REPO LOG starts it on free loopback
# ports and waits (at most 60 s) until it listens, setting TRITON_URL and TRITON_PID;
# triton_stop ends it. Needs scripts/common.sh sourced first.
# shellcheck shell=bash

triton_start() {
  local repo=$1 log=$2 grpc http metrics
  read -r grpc http metrics < <("$DATA_HOME/gst-generative/venv/bin/python" -c '
import socket
ports = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()
print(*ports)')
  # The python backend runs its models with the first Python on PATH: the environment setup
  # made for it (numpy 1.26, onnxruntime).
  PATH="$TRITON_DIR/venv/bin:$PATH" LD_LIBRARY_PATH="$TRITON_DIR/nvidia_pytriton.libs" \
    "$TRITON_DIR/pytriton/tritonserver/bin/tritonserver" --model-repository="$repo" \
    --backend-directory="$TRITON_DIR/pytriton/tritonserver/backends" \
    --grpc-address=127.0.0.1 --http-address=127.0.0.1 --grpc-port="$grpc" --http-port="$http" \
    --metrics-port="$metrics" --allow-metrics=false >"$log" 2>&1 &
  TRITON_PID=$!
  for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$grpc") 2>/dev/null; then
      TRITON_URL="grpc://127.0.0.1:$grpc"
      return 0
    fi
    kill -0 "$TRITON_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "tritonserver did not start; its log:" >&2
  cat "$log" >&2
  triton_stop
  return 1
}

triton_stop() {
  if [ -n "${TRITON_PID:-}" ]; then
    kill "$TRITON_PID" 2>/dev/null || true
    wait "$TRITON_PID" 2>/dev/null || true
    TRITON_PID=""
  fi
}
