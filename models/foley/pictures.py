#!/usr/bin/env python3
"""Spectrogram pictures for the README: for held-out scenes, the true soundtrack (real
recordings placed at the true event times) above the soundtrack v2agen generated from the
pictures alone (prompted with the scene's caption). Writes docs/spectrograms-stream.png for the
bundled streaming package, docs/spectrograms.png for the windowed one (PNG written with zlib: no
plotting library needed).

    python models/foley/pictures.py
    python models/foley/pictures.py --windowed   # models/foley-windowed
    python models/foley/pictures.py --looks      # docs/looks.png: the scenes' looks
    python models/foley/pictures.py --noise-scales  # docs/noise-scale.png: the sampler's noise scale
"""

import re
import shutil
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import scenes  # noqa: E402

from config import HERE, RATE, WINDOW_S, WINDOWED  # noqa: E402
from evaluate import SEED, run_v2agen  # noqa: E402


def spectrogram(audio, n_fft=512, hop=128, height=128):
    win = np.hanning(n_fft)
    frames = [audio[i: i + n_fft] * win for i in range(0, len(audio) - n_fft, hop)]
    p = np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2
    db = 10 * np.log10(p + 1e-10)
    db = np.clip((db - (db.max() - 70)) / 70, 0, 1)
    # Mel-like vertical axis: more rows for low frequencies.
    rows = (np.geomspace(1, n_fft // 2, height) - 1).astype(int)
    return db[:, rows].T[::-1]


def colour(x):
    """Grey values in [0, 1] → RGB (dark blue → yellow)."""
    r = np.clip(1.5 * x - 0.2, 0, 1)
    g = np.clip(1.2 * x - 0.1, 0, 1) ** 1.5
    b = np.clip(0.6 - abs(x - 0.3) * 1.5, 0, 1) + 0.2 * (1 - x)
    return (np.stack([r, g, np.clip(b, 0, 1)], -1) * 255).astype(np.uint8)


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def held_out_clips():
    """The pictures' five held-out scenes: a drop, a vehicle, a splash, thunder, rain with a drop."""
    lib = scenes.Library("heldout")
    rng = np.random.default_rng(SEED + 10)
    return [scenes.render(rng, lib, WINDOW_S, kind) for kind in ["drop", "vehicle", "splash", "thunder", "rain+drop"]]


def generated(clips, package, hop=128):
    """Spectrograms of what v2agen generates for each clip with `package`, prompted by its caption."""
    gens = [run_v2agen(c["frames"], str(package), prompt=c["caption"], seed=i)[0] for i, c in enumerate(clips)]
    return [spectrogram(g[: len(c["audio"])], hop=hop) for g, c in zip(gens, clips)]


def sheet(rows):
    """rows: lists of spectrograms, one per clip; the clips side by side, each with its rows
    stacked top to bottom."""
    tiles = [np.concatenate(sum([[r[i], np.ones((4, r[i].shape[1]))] for r in rows], [])[:-1], 0)
             for i in range(len(rows[0]))]
    gap = np.ones((tiles[0].shape[0], 6))
    return colour(np.concatenate(sum([[t, gap] for t in tiles], [])[:-1], 1))


def main(package=HERE, name="spectrograms-stream.png"):
    clips = held_out_clips()
    rows = [[spectrogram(c["audio"]) for c in clips], generated(clips, package)]
    for c in clips:
        print(f"{c['kind']}: {c['caption']!r}")
    out = HERE / "docs" / name
    out.parent.mkdir(exist_ok=True)
    write_png(out, sheet(rows))
    print(f"wrote {out} ({RATE // 2} Hz top, {WINDOW_S} s per tile; top row real, bottom generated)")


def noise_scales(scales=(1.0, 0.6, 0.2)):
    """docs/noise-scale.png: the same held-out scenes as spectrograms-stream.png, the true
    soundtrack on top, then the bundled package's with its manifest's sampler.noise_scale set to
    each of `scales` in turn (copies in a temporary folder; half the time resolution)."""
    clips = held_out_clips()
    rows = [[spectrogram(c["audio"], hop=256) for c in clips]]
    with tempfile.TemporaryDirectory() as d:
        for s in scales:
            package = Path(d) / f"foley-{s}"
            shutil.copytree(HERE, package, ignore=shutil.ignore_patterns(".cache", "__pycache__", "docs", "snapshots", "data", "*.py", "*.md"))
            toml = package / "model.toml"
            toml.write_text(re.sub(r"(?m)^noise_scale = .*$", f"noise_scale = {s}", toml.read_text()))
            rows.append(generated(clips, package, hop=256))
            print(f"noise scale {s}: done")
    out = HERE / "docs" / "noise-scale.png"
    write_png(out, sheet(rows))
    print(f"wrote {out} (top the true soundtrack, then noise scale {', '.join(map(str, scales))})")


def looks():
    """docs/looks.png: one frame of each scene kind, in rows: the plain look (the first
    training set and the evaluation), two rows of the varied training look, and the held-out
    sketch look (never trained on). Pictures only: no recordings needed."""
    kinds = ["drop", "drop", "vehicle", "splash", "rain", "thunder", "rain+drop", "drop"]
    rows = []
    for r, look in enumerate(("plain", "varied", "varied", "sketch")):
        row = []
        for i, kind in enumerate(kinds):
            clip = scenes.render(np.random.default_rng(300 + i + 10 * r), scenes.Silence(), WINDOW_S, kind, look)
            flash = [e["flash"] for e in clip["events"] if "flash" in e]
            frame = clip["frames"][int(flash[0] * scenes.FPS) + 1 if flash else 30]
            row.append(np.pad(frame, ((2, 2), (2, 2), (0, 0)), constant_values=255))
        rows.append(np.concatenate(row, 1))
    out = HERE / "docs" / "looks.png"
    write_png(out, np.concatenate(rows, 0))
    print(f"wrote {out}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--looks"]:
        looks()
    elif sys.argv[1:] == ["--noise-scales"]:
        noise_scales()
    elif sys.argv[1:] == ["--windowed"]:
        main(WINDOWED, "spectrograms.png")
    else:
        main()
