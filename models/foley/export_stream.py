#!/usr/bin/env python3
"""Exports the streaming foley model (train_stream.py's EMA weights, the vocoder) as a schema-1
streaming package: [timing] hop_ms / context_ms / lookahead_ms, `previous_latent` on the
denoiser and the decoder. The prompt encoder and tokenizer are copied from models/foley/.

    python models/foley/export_stream.py --out /tmp/foley-stream
"""

import argparse
import json
import shutil
from pathlib import Path

import torch

import vocoder
from common import latent_channels
from config import (CACHE, FEAT, HERE, RATE, SEMANTIC_FPS, SEMANTIC_SIZE, SYNC_FPS, SYNC_SIZE, TEXT_DIM,
                    VOCODER_REFINE_STEPS)
from export import export, manifest
from stream import (CONTEXT_MS, CTX, HOP_F, HOP_MS, HOP_SAMPLES, LOOKAHEAD_MS, NOISE_SCALE, SEMANTIC_N,
                    SYNC_N, StreamDecoder, from_checkpoint)


class ZeroContext(torch.nn.Module):
    """A denoiser that reads silence (all-zero normalised frames are what a stream starts with) as
    its previous latent; the input stays, so the manifest is the package's."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, t, text, sync, semantic, audio, prev):
        return self.inner(x, t, text, sync, semantic, audio, prev * 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, default=CACHE / "foley-stream.pt")
    ap.add_argument("--coarse-only", action="store_true",
                    help="a nested latent's package whose decoder ignores the detail channels (a diagnosis: "
                         "how the detail latent's vocoder decodes the coarse latent alone)")
    ap.add_argument("--zero-context", action="store_true",
                    help="a package whose denoiser reads silence as its previous latent (a diagnosis: what "
                         "its own past makes it continue; the decoder still reads the past)")
    ap.add_argument("--vocoder-variant", help="the latent's vocoder of this variant (vocoder.py --variant), e.g. gta")
    ap.add_argument("--refine-steps", type=int, default=VOCODER_REFINE_STEPS,
                    help="Griffin-Lim steps after a vocoder with a MelBase (vocoder.HopGriffinLim); "
                         "the 48-band vocoder has none")
    a = ap.parse_args()
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    # A model in a candidate latent (train_stream.py --latent) carries its latent; its vocoder is
    # that latent's (vocoder.py --latent).
    model, stats = from_checkpoint(a.checkpoint)
    channels = latent_channels(stats)
    if (err := model.denoiser.step_error()) > 1e-5:
        raise SystemExit(f"the denoiser's step differs from its span by {err:.1e} of its peak (stream.py)")
    with torch.no_grad():
        dyn = {"frames": {0: "batch", 1: "n"}, "features": {0: "batch", 1: "n"}}
        export(model.sync, (torch.rand(1, SYNC_N, 3, SYNC_SIZE, SYNC_SIZE),), out / "video_sync.onnx",
               ["frames"], ["features"], dyn)
        export(model.semantic, (torch.rand(1, SEMANTIC_N, 3, SEMANTIC_SIZE, SEMANTIC_SIZE),),
               out / "video_semantic.onnx", ["frames"], ["features"], dyn)
        export(model.audio, (torch.zeros(1, (CTX + HOP_F) * 320),), out / "audio_encoder.onnx", ["waveform"],
               ["features"], {"waveform": {0: "batch", 1: "samples"}, "features": {0: "batch"}})
        args = (torch.randn(2, channels, HOP_F), torch.rand(2), torch.randn(2, TEXT_DIM),
                torch.randn(2, SYNC_N, FEAT), torch.randn(2, SEMANTIC_N, FEAT), torch.randn(2, FEAT),
                torch.randn(2, channels, CTX))
        names = ["x", "t", "text", "sync", "semantic", "audio", "prev"]
        denoiser = ZeroContext(model.denoiser) if a.zero_context else model.denoiser
        export(denoiser, args, out / "denoiser.onnx", names, ["velocity"],
               {k: {0: "batch"} for k in names + ["velocity"]})
        voc = vocoder.load(vocoder.Latent(stats, a.vocoder_variant))
        if a.coarse_only:
            if not isinstance(voc, vocoder.Unnested):
                raise SystemExit("--coarse-only: the model's latent is not a nested one")
            voc.coarse_only = True
        if a.refine_steps and voc.base is None:
            raise SystemExit("--refine-steps: the vocoder reads no bands to refine towards (the 48-band one)")
        export(StreamDecoder(voc, stats, refine=a.refine_steps),
               (torch.randn(1, channels, HOP_F), torch.randn(1, channels, CTX)),
               out / "decoder.onnx", ["latent", "prev"], ["waveform"],
               {"latent": {0: "batch"}, "prev": {0: "batch"}, "waveform": {0: "batch"}})
        print(f"decoder: {a.refine_steps} Griffin-Lim steps after the vocoder")
    if "name" in stats:  # what the package's latent is, for evaluate.py's decoder metric
        (out / "latent_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    for f in ("text_encoder.onnx", "tokenizer.json"):
        if (out / f).resolve() != (HERE / f).resolve():  # --out models/foley: already there
            shutil.copy(HERE / f, out / f)
    (out / "model.toml").write_text(manifest(
        timing=f"hop_ms = {HOP_MS}\ncontext_ms = {CONTEXT_MS}\nlookahead_ms = {LOOKAHEAD_MS}", frames=HOP_F,
        sync_frames=SYNC_N, semantic_frames=SEMANTIC_N, samples=HOP_SAMPLES, context=CTX,
        made_by="train_stream.py and export_stream.py", version="0.2.0", kind="streaming ",
        name="foley", role="The bundled foley model, streaming", noise_scale=NOISE_SCALE, channels=channels))
    print(f"wrote {out / 'model.toml'} (rate {RATE}, sync {SYNC_FPS} fps, semantic {SEMANTIC_FPS} fps)")


if __name__ == "__main__":
    main()
