#!/usr/bin/env python3
"""Builds the foley model's sound library from the unpacked Debian packages (data/fetch.sh).

Every sound is decoded to 16 kHz mono float32 (Freedoom's DMX lumps directly, Ogg files through
GStreamer), trimmed of leading/trailing silence and peak-normalised; its class, source, license
and copyright are recorded from the packages' machine-readable copyright files. Each class is
split by file into train and held-out sounds (classes with one long recording are split by time
instead), so that evaluation uses recordings the model never heard.

    python3 models/foley/data/sounds.py            # writes models/foley/.cache/sounds/
"""

import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RATE = 16_000
HERE = Path(__file__).resolve().parent.parent
ROOT = HERE / ".cache" / "root"
OUT = HERE / ".cache" / "sounds"
STK = "usr/share/games/supertuxkart/data/sfx"
FDT = "usr/share/sounds/freedesktop/stereo"
WAD = "usr/share/games/doom/freedoom2.wad"

# class -> sources: ("stk", file) | ("freedesktop", file) | ("freedoom", lump).
# Classes follow the visual vocabulary of the procedural scenes (impacts by material, bounce,
# crash, engine, splash, rain, thunder, explosion, water, birds, bell).
CLASSES = {
    "impact_metal": [("stk", "metal_clang.ogg"), ("stk", "anvil.ogg"), ("stk", "hammer.ogg"),
                     ("freedoom", "DSMETAL"), ("freedoom", "DSPSTOP"), ("freedoom", "DSSWTCHN")],
    "impact_wood": [("freedoom", "DSDORCLS"), ("freedoom", "DSBDCLS"), ("freedoom", "DSDBCLS"),
                    ("freedoom", "DSPUNCH"), ("freedoom", "DSSTNMOV"), ("freedoom", "DSDBOPN")],
    "bounce": [("stk", "ball_bounce.ogg"), ("stk", "boing.ogg"), ("stk", "jump.ogg"),
               ("stk", "plunger.ogg")],
    "crash": [("stk", "crash.ogg"), ("stk", "crash2.ogg"), ("stk", "crash3.ogg"),
              ("stk", "break.ogg")],
    "engine": [("stk", "engine_large.ogg"), ("stk", "engine_small.ogg"), ("stk", "car_accel.ogg"),
               ("stk", "car_revup.ogg"), ("stk", "machine_sound.ogg"), ("freedoom", "DSSAWIDL")],
    "splash": [("stk", "splash.ogg"), ("stk", "plopp.ogg"), ("freedoom", "DSSLOP"),
               ("stk", "goo.ogg")],
    "rain": [("stk", "rain.ogg")],
    "thunder": [("stk", "thunder.ogg")],
    "explosion": [("stk", "explosion.ogg"), ("freedoom", "DSBAREXP"), ("freedoom", "DSRXPLOD"),
                  ("freedoom", "DSFIRXPL")],
    "water": [("stk", "river_loop.ogg"), ("stk", "waterfall_loop_2.ogg")],
    "birds": [("stk", "exotic-birds.ogg"), ("stk", "exotic-birds_2.ogg")],
    "bell": [("freedesktop", "bell.oga"), ("freedesktop", "complete.oga"),
             ("freedesktop", "alarm-clock-elapsed.oga")],
}


def dep5(path):
    """Files patterns -> (license, copyright) from a Debian machine-readable copyright file."""
    stanzas, cur, key = [], {}, None
    for line in path.read_text(errors="replace").splitlines() + [""]:
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            cur[key] = value.strip()
    out = []
    for s in stanzas:
        if "Files" in s and "License" in s:
            for pattern in s["Files"].split():
                out.append((pattern, s["License"].splitlines()[0], s.get("Copyright", "").strip()))
    return out


def license_of(table, relpath):
    """The last matching stanza wins, as in DEP-5."""
    import fnmatch
    found = ("unknown", "")
    for pattern, lic, copyright_ in table:
        if fnmatch.fnmatch(relpath, pattern):
            found = (lic, copyright_)
    return found


def decode_with_gstreamer(path):
    with tempfile.NamedTemporaryFile(suffix=".f32") as raw:
        subprocess.run(
            ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin", "!",
             "audioconvert", "!", "audioresample", "!",
             f"audio/x-raw,format=F32LE,rate={RATE},channels=1", "!",
             "filesink", f"location={raw.name}"],
            check=True)
        return np.fromfile(raw.name, dtype="<f4")


def freedoom_lumps(wad):
    data = wad.read_bytes()
    _, count, offset = struct.unpack("<4sii", data[:12])
    lumps = {}
    for i in range(count):
        pos, size, name = struct.unpack("<ii8s", data[offset + 16 * i: offset + 16 * i + 16])
        lumps[name.rstrip(b"\0").decode()] = data[pos: pos + size]
    return lumps


def decode_dmx(lump):
    """DMX sound lump: format 3, rate, sample count (incl. 16 pad bytes each side), u8 PCM."""
    fmt, rate, count = struct.unpack("<HHI", lump[:8])
    if fmt != 3 or rate == 0 or count < 32 or 8 + count > len(lump):
        raise ValueError("not a DMX sound")
    pcm = (np.frombuffer(lump[8 + 16: 8 + count - 16], dtype=np.uint8).astype(np.float32) - 128) / 128
    # Band-limited resampling through GStreamer, like every other source.
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        import wave
        with wave.open(wav.name, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
        return decode_with_gstreamer(wav.name)


def trim_and_normalise(x, floor_db=-50.0):
    if len(x) == 0 or np.max(np.abs(x)) == 0:
        return x
    x = x / np.max(np.abs(x))
    loud = np.nonzero(np.abs(x) > 10 ** (floor_db / 20))[0]
    x = x[loud[0]: loud[-1] + 1]
    return (0.9 * x).astype(np.float32)


def main():
    if not ROOT.is_dir():
        sys.exit(f"{ROOT} missing: run models/foley/data/fetch.sh first")
    tables = {
        "stk": dep5(ROOT / "usr/share/doc/supertuxkart-data/copyright"),
        "freedesktop": dep5(ROOT / "usr/share/doc/sound-theme-freedesktop/copyright"),
    }
    lumps = freedoom_lumps(ROOT / WAD)
    OUT.mkdir(parents=True, exist_ok=True)
    library = []
    for cls, sources in CLASSES.items():
        for k, (pkg, name) in enumerate(sources):
            if pkg == "freedoom":
                audio = decode_dmx(lumps[name])
                lic, cr = "BSD-3-Clause", "Freedoom contributors (freedoom 0.12.1)"
                origin = f"freedoom2.wad:{name}"
            else:
                rel = f"data/sfx/{name}" if pkg == "stk" else f"stereo/{name}"
                path = ROOT / (STK if pkg == "stk" else FDT) / name
                audio = decode_with_gstreamer(path)
                lic, cr = license_of(tables[pkg], rel)
                origin = f"{'supertuxkart-data' if pkg == 'stk' else 'sound-theme-freedesktop'}:{rel}"
            audio = trim_and_normalise(audio)
            sid = f"{cls}-{re.sub(r'[^a-z0-9]+', '_', name.lower().rsplit('.', 1)[0])}"
            audio.tofile(OUT / f"{sid}.f32")
            # Held out: every third file of a class (the last one for two-file classes); a class
            # with one recording is split by time (its last 25 % held out).
            split = "heldout" if (len(sources) > 1 and k % 3 == 2) or (len(sources) == 2 and k == 1) else "train"
            entry = {"id": sid, "class": cls, "source": origin, "license": lic,
                     "copyright": cr, "samples": int(len(audio)), "split": split}
            if len(sources) == 1:
                entry["split"] = "train"
                entry["heldout_from_sample"] = int(len(audio) * 3 // 4)
            library.append(entry)
            print(f"{sid:32s} {len(audio) / RATE:6.2f} s  {entry['split']:8s} {lic}")
    (OUT / "library.json").write_text(json.dumps({"rate": RATE, "sounds": library}, indent=1))
    print(f"{len(library)} sounds in {OUT}")


if __name__ == "__main__":
    main()
