#!/usr/bin/env python3
"""Write an NVIDIA Triton model repository for a model package: one model per graph.

Usage:
    python3 models/tools/triton_repo.py PACKAGE_DIR OUT_DIR [--backend onnxruntime|python]
        [--max-batch 8] [--queue-delay-us 2000] [--instances 1] [--gpu] [--tensorrt CACHE_DIR]

Each graph becomes the model the elements ask for with `inference-server=`: named by the
graph's `server_model` in `model.toml`, or `<package name>.<graph file stem>`. The model's
inputs and outputs are read from the ONNX graph itself (names, element types, shapes with -1 for
symbolic dimensions).

--backend onnxruntime (default): what a production server runs. Triton's `onnxruntime` backend
    loads `1/model.onnx`; `--gpu` puts the instances on GPUs and `--tensorrt CACHE_DIR` adds
    TensorRT as the execution accelerator with an engine cache in CACHE_DIR (FP32, so the output
    matches in-process runs within float tolerance).
--backend python: the same repository for servers without the onnxruntime backend (the
    `tritonserver` that the `nvidia-pytriton` wheel carries, used by this project's tests): a
    small `model.py` runs `1/model.onnx` with the `onnxruntime` Python package on CPU.

The denoiser is called once per sampling step by every stream, so it gets Triton's dynamic
batcher (`max_batch_size` = --max-batch, `dynamic_batching` with --queue-delay-us): requests
from many elements, processes and machines are run as one batch on the server. Its batch
dimension is the graph's dimension 0 (the guidance branches of one request); the other graphs
run one request at a time (`max_batch_size: 0`).

Needs the `onnx` and `tomllib` modules (the project's setup installs `onnx`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tomllib
from pathlib import Path

import onnx

TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
}

# The python backend's model: runs the graph with onnxruntime on CPU. With max_batch_size > 0
# Triton hands it several requests at once; they are concatenated on dimension 0, run as one
# batch, and split back, which is what the onnxruntime backend does natively.
MODEL_PY = '''\
"""Runs 1/model.onnx with onnxruntime on CPU (written by models/tools/triton_repo.py)."""
import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.batching = json.loads(args["model_config"]).get("max_batch_size", 0) > 0

    def execute(self, requests):
        feeds = [{n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in self.inputs}
                 for r in requests]
        if self.batching and len(feeds) > 1:
            sizes = [f[self.inputs[0]].shape[0] for f in feeds]
            batch = {n: np.concatenate([f[n] for f in feeds]) for n in self.inputs}
            outs = self.session.run(self.outputs, batch)
            cuts = np.cumsum(sizes)[:-1]
            per_request = zip(*[np.split(o, cuts) for o in outs])
        else:
            per_request = (self.session.run(self.outputs, f) for f in feeds)
        return [pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor(n, np.ascontiguousarray(o))
                                    for n, o in zip(self.outputs, outs)])
                for outs in per_request]
'''


def dims(value_info) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]


def tensor_entries(values, drop_batch: bool) -> str:
    lines = []
    for v in values:
        t = v.type.tensor_type.elem_type
        if t not in TYPES:
            sys.exit(f"{v.name}: element type {onnx.TensorProto.DataType.Name(t)} has no Triton type here")
        d = dims(v)[1:] if drop_batch else dims(v)
        if not d:
            # A tensor that is only the batch ([batch], e.g. the timestep): Triton wants dims, so
            # it travels as [batch, 1] and is reshaped to [batch] for the graph. The runtime
            # sends it that way when the server reports the extra 1.
            lines.append(f'  {{ name: "{v.name}" data_type: {TYPES[t]} dims: [ 1 ] reshape: {{ shape: [ ] }} }}')
            continue
        lines.append(f'  {{ name: "{v.name}" data_type: {TYPES[t]} dims: [ {", ".join(map(str, d))} ] }}')
    return ",\n".join(lines)


def config(name: str, model: onnx.ModelProto, role: str, args) -> str:
    batching = role == "denoiser" and args.max_batch > 0
    if batching:
        for v in list(model.graph.input) + list(model.graph.output):
            first = dims(v)[:1]
            if first and first != [-1]:
                sys.exit(f"{name}: {v.name} has a fixed dimension 0; the denoiser's must be the batch")
    graph_inputs = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in graph_inputs]
    backend = args.backend
    out = [f'name: "{name}"', f'backend: "{backend}"', f"max_batch_size: {args.max_batch if batching else 0}"]
    out.append("input [\n" + tensor_entries(inputs, batching) + "\n]")
    out.append("output [\n" + tensor_entries(model.graph.output, batching) + "\n]")
    if batching:
        out.append(f"dynamic_batching {{ max_queue_delay_microseconds: {args.queue_delay_us} }}")
    kind = "KIND_GPU" if args.gpu and backend == "onnxruntime" else "KIND_CPU"
    out.append(f"instance_group [ {{ kind: {kind} count: {args.instances} }} ]")
    if args.tensorrt and backend == "onnxruntime":
        out.append(
            "optimization { execution_accelerators { gpu_execution_accelerator: [ {\n"
            '  name: "tensorrt"\n'
            '  parameters { key: "precision_mode" value: "FP32" }\n'
            '  parameters { key: "trt_engine_cache_enable" value: "1" }\n'
            f'  parameters {{ key: "trt_engine_cache_path" value: "{args.tensorrt}" }}\n'
            "} ] } }"
        )
    return "\n".join(out) + "\n"


def default_name(package: str, file: str) -> str:
    # The runtime's rule (diffusion-runtime/src/package/validate.rs): <package>.<file stem>,
    # characters a repository cannot hold replaced by "_".
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{package}.{Path(file).stem}").lstrip(".")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("package", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--backend", choices=("onnxruntime", "python"), default="onnxruntime")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--queue-delay-us", type=int, default=2000)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--tensorrt", metavar="CACHE_DIR")
    args = p.parse_args()

    manifest = tomllib.loads((args.package / "model.toml").read_text())
    package = manifest["package"]["name"]
    for g in manifest["graph"]:
        name = g.get("server_model") or default_name(package, g["file"])
        model = onnx.load(str(args.package / g["file"]), load_external_data=False)
        d = args.out / name
        (d / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.package / g["file"], d / "1" / "model.onnx")
        (d / "config.pbtxt").write_text(config(name, model, g["role"], args))
        if args.backend == "python":
            (d / "1" / "model.py").write_text(MODEL_PY)
        print(f"{d}: {g['role']} {g['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
