#!/usr/bin/env python3
"""Exports the streaming foley model (train_stream.py's EMA weights, the vocoder) as a schema-1
streaming package: [timing] hop_ms / context_ms / lookahead_ms, `previous_latent` on the
denoiser and the decoder. The prompt encoder and tokenizer are copied from models/foley/.

    python models/foley/export_stream.py --out /tmp/foley-stream
"""

import argparse
import shutil
from pathlib import Path

import torch

import vocoder
from common import latent_stats
from config import CACHE, FEAT, HERE, N_MELS, RATE, SEMANTIC_FPS, SEMANTIC_SIZE, SYNC_FPS, SYNC_SIZE, TEXT_DIM
from export import export
from stream import (CONTEXT_MS, CTX, HOP_F, HOP_MS, HOP_SAMPLES, LOOKAHEAD_MS, SEMANTIC_N, SYNC_N,
                    StreamDecoder, StreamFoley)


def manifest() -> str:
    head = (HERE / "model.toml").read_text()
    graphs = head[head.index("[[graph]]"):]
    top = head[: head.index("[[graph]]")]
    top = top.replace("[timing]\nwindow_ms = 4000\noverlap_ms = 500\n",
                      f"[timing]\nhop_ms = {HOP_MS}\ncontext_ms = {CONTEXT_MS}\nlookahead_ms = {LOOKAHEAD_MS}\n")
    top = top.replace("shape = [48, 200]", f"shape = [{N_MELS}, {HOP_F}]")
    den = graphs[graphs.index('role = "denoiser"') - len("[[graph]]\n"):graphs.index('role = "decoder"') - len("[[graph]]\n")]
    dec = graphs[graphs.index('role = "decoder"') - len("[[graph]]\n"):graphs.index('role = "audio_encoder"') - len("[[graph]]\n")]
    new_den = f"""[[graph]]
role = "denoiser"
file = "denoiser.onnx"
inputs = [
  {{ slot = "latent", name = "x", dtype = "float32", shape = ["batch", {N_MELS}, {HOP_F}] }},
  {{ slot = "timestep", name = "t", dtype = "float32", shape = ["batch"] }},
  {{ slot = "text", name = "text", dtype = "float32", shape = ["batch", {TEXT_DIM}] }},
  {{ slot = "video:sync", name = "sync", dtype = "float32", shape = ["batch", {SYNC_N}, {FEAT}] }},
  {{ slot = "video:semantic", name = "semantic", dtype = "float32", shape = ["batch", {SEMANTIC_N}, {FEAT}] }},
  {{ slot = "audio", name = "audio", dtype = "float32", shape = ["batch", {FEAT}] }},
  {{ slot = "previous_latent", name = "prev", dtype = "float32", shape = ["batch", {N_MELS}, {CTX}] }},
]
outputs = [
  {{ slot = "prediction", name = "velocity", dtype = "float32", shape = ["batch", {N_MELS}, {HOP_F}] }},
]

"""
    new_dec = f"""[[graph]]
role = "decoder"
file = "decoder.onnx"
inputs = [
  {{ slot = "latent", name = "latent", dtype = "float32", shape = ["batch", {N_MELS}, {HOP_F}] }},
  {{ slot = "previous_latent", name = "prev", dtype = "float32", shape = ["batch", {N_MELS}, {CTX}] }},
]
outputs = [
  {{ slot = "waveform", name = "waveform", dtype = "float32", shape = ["batch", {HOP_SAMPLES}] }},
]

"""
    return top + graphs.replace(den, new_den).replace(dec, new_dec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, default=CACHE / "foley-stream.pt")
    a = ap.parse_args()
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    model = StreamFoley(latent_stats())
    model.load_state_dict(torch.load(a.checkpoint)["ema"])
    model.eval()
    with torch.no_grad():
        dyn = {"frames": {0: "batch", 1: "n"}, "features": {0: "batch", 1: "n"}}
        export(model.sync, (torch.rand(1, SYNC_N, 3, SYNC_SIZE, SYNC_SIZE),), out / "video_sync.onnx",
               ["frames"], ["features"], dyn)
        export(model.semantic, (torch.rand(1, SEMANTIC_N, 3, SEMANTIC_SIZE, SEMANTIC_SIZE),),
               out / "video_semantic.onnx", ["frames"], ["features"], dyn)
        export(model.audio, (torch.zeros(1, (CTX + HOP_F) * 320),), out / "audio_encoder.onnx", ["waveform"],
               ["features"], {"waveform": {0: "batch", 1: "samples"}, "features": {0: "batch"}})
        args = (torch.randn(2, N_MELS, HOP_F), torch.rand(2), torch.randn(2, TEXT_DIM),
                torch.randn(2, SYNC_N, FEAT), torch.randn(2, SEMANTIC_N, FEAT), torch.randn(2, FEAT),
                torch.randn(2, N_MELS, CTX))
        names = ["x", "t", "text", "sync", "semantic", "audio", "prev"]
        export(model.denoiser, args, out / "denoiser.onnx", names, ["velocity"],
               {k: {0: "batch"} for k in names + ["velocity"]})
        export(StreamDecoder(vocoder.load()), (torch.randn(1, N_MELS, HOP_F), torch.randn(1, N_MELS, CTX)),
               out / "decoder.onnx", ["latent", "prev"], ["waveform"],
               {"latent": {0: "batch"}, "prev": {0: "batch"}, "waveform": {0: "batch"}})
    for f in ("text_encoder.onnx", "tokenizer.json"):
        shutil.copy(HERE / f, out / f)
    (out / "model.toml").write_text(manifest())
    print(f"wrote {out / 'model.toml'} (rate {RATE}, sync {SYNC_FPS} fps, semantic {SEMANTIC_FPS} fps)")


if __name__ == "__main__":
    main()
