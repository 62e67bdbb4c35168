#!/usr/bin/env python3
"""Procedural training scenes for the foley model: short clips whose visual events carry their
recorded sounds at the exact event times (sounds from data/sounds.py).

Scene kinds (the issue's visual vocabulary):
- drop:    an object falls and bounces on the floor; every contact is an impact of the scene's
           material (metal, wood, bounce, crash) at the contact sample, louder for faster hits;
- vehicle: a vehicle crosses the frame with varying speed; an engine sound whose loudness
           follows the speed;
- splash:  an object falls into water; a splash at the entry frame;
- rain:    streaks of rain whose density sets the loudness of the rain sound;
- thunder: a flash lights the sky, thunder follows after a short delay.
Sizes, colours, backgrounds, speeds, camera shake and pixel noise vary per clip, so that a model
learns events rather than pixels. Each clip also has a template caption naming what is heard,
and its sound split into one track per source (for negative audio guidance training).

    python3 models/foley/data/scenes.py --count 8 --out /tmp/scenes --preview   # writes clips
"""

import argparse
import json
from pathlib import Path

import numpy as np

RATE = 16_000
FPS = 25
# The plain look's sky for rain and thunder, darkened so that a flash shows (the varied look's
# backgrounds are not darkened).
SKY_DIM = {"rain": 0.6, "thunder": 0.3}
SIZE = 96
LIB = Path(__file__).resolve().parent.parent / ".cache" / "sounds"

MATERIALS = {
    "impact_metal": ["metal", "a metal object", "a steel plate", "a metal can"],
    "impact_wood": ["wood", "a wooden block", "a wooden box", "a plank"],
    "bounce": ["rubber", "a rubber ball", "a bouncy ball", "a ball"],
    "crash": ["glass", "a glass object", "a bottle", "a fragile vase"],
}
CAPTIONS = {
    "drop": ["{thing} falls and hits the floor", "{thing} bouncing on the ground",
             "the thud of {thing} landing", "{mat} impact sounds"],
    "vehicle": ["an engine revving as a vehicle passes", "a car engine", "a motor speeding up and slowing down",
                "a vehicle driving by"],
    "splash": ["something splashes into water", "a splash", "an object dropped into a pond",
               "water splashing"],
    "rain": ["rain falling", "a rain shower", "heavy rain", "light rain on the ground"],
    "thunder": ["thunder after a flash of lightning", "a thunderclap", "a storm with thunder",
                "lightning and rolling thunder"],
}


class Library:
    def __init__(self, split, root=LIB):
        meta = json.loads((root / "library.json").read_text())
        self.sounds = {}
        for s in meta["sounds"]:
            audio = np.fromfile(root / f"{s['id']}.f32", dtype="<f4")
            held = s.get("heldout_from_sample")
            if held is not None:  # one long recording: split by time
                audio = audio[held:] if split == "heldout" else audio[:held]
            elif s["split"] != split:
                continue
            self.sounds.setdefault(s["class"], []).append(audio)

    def pick(self, rng, cls):
        return self.sounds[cls][rng.integers(len(self.sounds[cls]))]


class Silence:
    """Stands in for the library when only the pictures are wanted (the demo: v2agen makes the
    sound), so that rendering needs none of the downloaded recordings."""

    def pick(self, rng, cls):
        return np.zeros(1600, np.float32)


def place(track, sound, at, gain):
    end = min(len(track), at + len(sound))
    if at < end:
        track[at:end] += gain * sound[: end - at]


def looped(sound, n, rng):
    """`n` samples of a sound looped from a random offset, with short crossfades at the joins."""
    out = np.zeros(n, np.float32)
    pos, start = 0, int(rng.integers(max(1, len(sound) // 2)))
    fade = min(400, len(sound) // 4)
    while pos < n:
        piece = sound[start:].copy()
        start = 0
        if fade and pos:
            piece[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        take = min(len(piece), n - pos)
        out[pos: pos + take] += piece[:take]
        pos += max(1, take - fade)
    return out


def canvas(rng, t):
    """Background per frame: a vertical gradient in random colours plus floor."""
    top, bottom = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    grad = np.linspace(0, 1, SIZE)[:, None, None]
    bg = (top * (1 - grad) + bottom * grad)[None].repeat(t, 0)
    return np.broadcast_to(bg, (t, SIZE, SIZE, 3)).copy()


def disc(frame, cx, cy, r, colour):
    y, x = np.ogrid[:SIZE, :SIZE]
    frame[(x - cx) ** 2 + (y - cy) ** 2 <= r * r] = colour


def blob(frame, cx, cy, r, colour, shape="disc"):
    """A filled object of radius `r`: a disc, a square, a triangle or a diamond."""
    if shape == "disc":
        disc(frame, cx, cy, r, colour)
        return
    y, x = np.ogrid[:SIZE, :SIZE]
    dx, dy = x - cx, y - cy
    if shape == "square":
        inside = (np.abs(dx) <= r) & (np.abs(dy) <= r)
    elif shape == "diamond":
        inside = np.abs(dx) + np.abs(dy) <= 1.3 * r
    else:  # triangle, flat side down
        inside = (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    frame[inside] = colour


def rect(frame, x0, y0, x1, y1, colour):
    x0, x1 = int(max(0, x0)), int(min(SIZE, x1))
    y0, y1 = int(max(0, y0)), int(min(SIZE, y1))
    if x0 < x1 and y0 < y1:
        frame[y0:y1, x0:x1] = colour


def drop(rng, lib, seconds, frames=None, cls=None, shape="disc", floor=None, delay=0.0, r=None):
    t = int(seconds * FPS)
    frames = canvas(rng, t) if frames is None else frames
    cls = list(MATERIALS)[rng.integers(len(MATERIALS))] if cls is None else cls
    floor = int(rng.uniform(0.7, 0.9) * SIZE) if floor is None else floor
    r = rng.uniform(3, 10) if r is None else r
    colour = rng.uniform(0, 1, 3)
    x, y = rng.uniform(r, SIZE - r), rng.uniform(r, floor * 0.4)
    vx, vy = rng.uniform(-20, 20), 0.0
    g, restitution = rng.uniform(150, 400), {"bounce": 0.75, "impact_metal": 0.45,
                                             "impact_wood": 0.35, "crash": 0.0}[cls]
    audio = np.zeros(int(seconds * RATE), np.float32)
    events = []
    dt = 1.0 / (FPS * 16)  # physics at 16 substeps per frame: contacts to 2.5 ms
    # `time` is the object's own (it starts falling `delay` seconds into the clip).
    time, stopped = 0.0, False
    for f in range(t):
        while time < (f + 1) / FPS - delay:
            time += dt
            if stopped:
                continue
            vy += g * dt
            x, y = x + vx * dt, y + vy * dt
            if x < r or x > SIZE - r:
                vx = -vx
            if y >= floor - r:
                y = floor - r
                speed = vy
                if speed > 15:
                    at = int((time + delay) * RATE)
                    gain = min(1.0, speed / 150)
                    place(audio, lib.pick(rng, cls), at, gain)
                    events.append({"time": time + delay, "class": cls, "gain": gain})
                vy = -vy * restitution
                if abs(vy) < 15 or cls == "crash":
                    stopped = True
        rect(frames[f], 0, floor, SIZE, SIZE, colour * 0.3)
        if f / FPS >= delay:
            blob(frames[f], x, y, r, colour, shape)
    thing = MATERIALS[cls][1 + rng.integers(3)]
    caption = CAPTIONS["drop"][rng.integers(4)].format(thing=thing, mat=MATERIALS[cls][0])
    return frames, {"impacts": audio}, events, caption


def vehicle(rng, lib, seconds, frames=None):
    t = int(seconds * FPS)
    frames = canvas(rng, t) if frames is None else frames
    n = len(frames)
    speed = np.clip(np.cumsum(rng.normal(0, 8, n)) + rng.uniform(20, 60), 5, 120)
    x = -20 + np.cumsum(speed) / FPS
    road = int(rng.uniform(0.6, 0.85) * SIZE)
    body = rng.uniform(0, 1, 3)
    engine = looped(lib.pick(rng, "engine"), int(seconds * RATE), rng)
    # Loudness follows speed (per sample, interpolated from the per-frame speed).
    env = np.interp(np.arange(len(engine)) / RATE, np.arange(n) / FPS, speed / 120)
    audio = (engine * env).astype(np.float32)
    for f in range(n):
        rect(frames[f], 0, road, SIZE, SIZE, body * 0.2)
        xx = x[f] % (SIZE + 40) - 20
        rect(frames[f], xx, road - 12, xx + 24, road - 3, body)
        disc(frames[f], xx + 5, road - 3, 3, (0.1, 0.1, 0.1))
        disc(frames[f], xx + 19, road - 3, 3, (0.1, 0.1, 0.1))
    return frames, {"engine": audio}, [{"speed": speed.tolist()}], CAPTIONS["vehicle"][rng.integers(4)]


def splash(rng, lib, seconds, frames=None):
    t = int(seconds * FPS)
    frames = canvas(rng, t) if frames is None else frames
    water = int(rng.uniform(0.6, 0.8) * SIZE)
    wcol = np.array([0.1, 0.3, rng.uniform(0.5, 0.9)])
    r, colour = rng.uniform(3, 8), rng.uniform(0, 1, 3)
    x, y, vy, g = rng.uniform(10, SIZE - 10), rng.uniform(0, 20), 0.0, rng.uniform(150, 400)
    audio = np.zeros(int(seconds * RATE), np.float32)
    events, entered = [], False
    for f in range(t):
        for _ in range(16):
            vy += g / (FPS * 16)
            y += vy / (FPS * 16)
            time = (f + _ / 16) / FPS
            if not entered and y >= water:
                entered = True
                place(audio, lib.pick(rng, "splash"), int(time * RATE), min(1.0, vy / 150))
                events.append({"time": time, "class": "splash"})
                vy *= 0.2
        rect(frames[f], 0, water, SIZE, SIZE, wcol)
        disc(frames[f], x, y, r, colour if y < water else colour * 0.5 + wcol * 0.5)
    return frames, {"splash": audio}, events, CAPTIONS["splash"][rng.integers(4)]


def rain(rng, lib, seconds, frames=None):
    t = int(seconds * FPS)
    frames = canvas(rng, t) * SKY_DIM["rain"] if frames is None else frames
    density = rng.uniform(0.1, 1.0)
    drops = rng.uniform(0, SIZE, (int(200 * density), 2))
    for f in range(t):
        drops[:, 1] = (drops[:, 1] + 6) % SIZE
        for dx, dy in drops.astype(int):
            frames[f, dy: dy + 4, dx] = 0.85
    audio = density * looped(lib.pick(rng, "rain"), int(seconds * RATE), rng)
    return frames, {"rain": audio.astype(np.float32)}, [{"density": density}], CAPTIONS["rain"][rng.integers(4)]


def thunder(rng, lib, seconds, frames=None):
    t = int(seconds * FPS)
    frames = canvas(rng, t) * SKY_DIM["thunder"] if frames is None else frames
    flash = rng.uniform(0.2, seconds * 0.4)
    delay = rng.uniform(0.1, 1.5)
    audio = np.zeros(int(seconds * RATE), np.float32)
    place(audio, lib.pick(rng, "thunder"), int((flash + delay) * RATE), rng.uniform(0.5, 1.0))
    for f in range(t):
        since = f / FPS - flash
        if 0 <= since < 0.2:
            frames[f] = np.clip(frames[f] + 0.7 * (1 - since / 0.2), 0, 1)
    return frames, {"thunder": audio}, [{"flash": flash, "time": flash + delay, "class": "thunder"}], \
        CAPTIONS["thunder"][rng.integers(4)]


KINDS = {"drop": drop, "vehicle": vehicle, "splash": splash, "rain": rain, "thunder": thunder}


# Two-source scenes (for negative audio guidance): an ambience drawn first, an event on top.
PAIRS = [("rain", "drop"), ("rain", "vehicle"), ("thunder", "drop"), ("thunder", "splash"),
         ("rain", "splash"), ("vehicle", "drop")]


# --------------------------------------------------------------------------------------------
# Looks. "plain" is the scenes above as they were first trained and evaluated (same random draws
# for the same seed). "varied" is what training sees now: the same events under many looks.
# "sketch" is held out: never rendered for training, only to measure how the model generalises.
# --------------------------------------------------------------------------------------------

LOOKS = ("plain", "varied", "sketch")
SHAPES = ("disc", "square", "triangle", "diamond")


def value_noise(rng, cells):
    """A smooth random field in [0, 1], SIZE×SIZE: a cells×cells grid, bilinearly upsampled."""
    grid = rng.uniform(0, 1, (cells + 1, cells + 1))
    u = np.linspace(0, cells, SIZE)
    i = np.minimum(u.astype(int), cells - 1)
    f = u - i
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]  # [SIZE, cells + 1]
    return rows[:, i] * (1 - f)[None] + rows[:, i + 1] * f[None]


def canvas_varied(rng, t):
    """A background with texture and clutter: a gradient, a noise texture or stripes at a random
    angle, and (often) static shapes standing around, all in random colours."""
    frames = canvas(rng, t)
    style = rng.uniform()
    if style > 0.25:
        tex = value_noise(rng, int(rng.integers(3, 16)))
        if rng.uniform() < 0.3:
            a = rng.uniform(0, np.pi)
            y, x = np.mgrid[:SIZE, :SIZE]
            tex = 0.5 + 0.5 * np.sin((x * np.cos(a) + y * np.sin(a)) * rng.uniform(0.2, 1.2))
        tint = rng.uniform(0, 1, 3)
        mix = rng.uniform(0.2, 0.7)
        frames = frames * (1 - mix) + mix * tex[None, :, :, None] * tint
    if style > 0.6:
        still = np.zeros((SIZE, SIZE, 3))
        mask = np.zeros((SIZE, SIZE, 3), bool)
        for _ in range(int(rng.integers(2, 9))):
            c = rng.uniform(0, 1, 3)
            layer = np.full((SIZE, SIZE, 3), np.nan)
            blob(layer, rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(3, 18), c,
                 SHAPES[rng.integers(len(SHAPES))])
            hit = ~np.isnan(layer)
            still[hit], mask[hit] = layer[hit], True
        frames = np.where(mask[None], still[None], frames)
    return frames


def drops(rng, lib, seconds, frames):
    """One to three objects of one material falling one after another onto one floor, in any of
    the shapes and a wider range of sizes: denser impacts than a single drop."""
    t = int(seconds * FPS)
    frames = canvas_varied(rng, t) if frames is None else frames
    cls = list(MATERIALS)[rng.integers(len(MATERIALS))]
    floor = int(rng.uniform(0.65, 0.92) * SIZE)
    audio, events, caption = np.zeros(int(seconds * RATE), np.float32), [], None
    for k in range(int(rng.integers(1, 4))):
        delay = 0.0 if k == 0 else rng.uniform(0.2, seconds * 0.6)
        _, tr, ev, cap = drop(rng, lib, seconds, frames, cls=cls, floor=floor, delay=delay,
                              shape=SHAPES[rng.integers(len(SHAPES))], r=rng.uniform(2, 14))
        audio += tr["impacts"]
        events += ev
        caption = caption or cap
    events.sort(key=lambda e: e["time"])
    return frames, {"impacts": audio}, events, caption


def camera(rng, frames):
    """A camera that pans and zooms smoothly (a smoothed random walk and a zoom ramp), sampled
    bilinearly; the borders show the scene stretched, as a crop of a wider shot would."""
    t = len(frames)
    zoom = 1 + rng.uniform(0, 0.4) * np.linspace(*(rng.permutation([0.0, 1.0])), t)
    walk = np.cumsum(rng.normal(0, 1, (t, 2)), axis=0)
    walk = walk / max(1e-6, np.abs(walk).max()) * rng.uniform(0, 8)
    y, x = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    out = np.empty_like(frames)
    c = (SIZE - 1) / 2
    for f in range(t):
        sy = np.clip((y - c) / zoom[f] + c + walk[f, 0], 0, SIZE - 1.001)
        sx = np.clip((x - c) / zoom[f] + c + walk[f, 1], 0, SIZE - 1.001)
        y0, x0 = sy.astype(int), sx.astype(int)
        fy, fx = (sy - y0)[..., None], (sx - x0)[..., None]
        im = frames[f]
        out[f] = (im[y0, x0] * (1 - fy) * (1 - fx) + im[y0 + 1, x0] * fy * (1 - fx)
                  + im[y0, x0 + 1] * (1 - fy) * fx + im[y0 + 1, x0 + 1] * fy * fx)
    return out


def lighting(rng, frames):
    """Light that changes: a slow swell, a light switched on or off, a colour cast."""
    t = len(frames)
    time = np.arange(t) / FPS
    kind = rng.integers(3)
    if kind == 0:
        gain = 1 + rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * time / rng.uniform(1, 4) + rng.uniform(0, 6))
    elif kind == 1:
        gain = np.where(time < rng.uniform(0.5, len(frames) / FPS - 0.5), 1.0, rng.uniform(0.5, 1.5))
    else:
        gain = np.linspace(1, rng.uniform(0.5, 1.5), t)
    cast = rng.uniform(0.8, 1.2, 3)
    return np.clip(frames * gain[:, None, None, None] * cast, 0, 1)


def _dct8():
    k, n = np.mgrid[:8, :8]
    d = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    d[0] /= np.sqrt(2)
    return d


def compress(rng, frames):
    """JPEG-like 8×8 block DCT quantisation, coarser for finer detail: blocking and ringing."""
    d = _dct8()
    q = rng.uniform(0.02, 0.12) * (1 + np.add.outer(np.arange(8), np.arange(8)))
    t = len(frames)
    b = frames.reshape(t, SIZE // 8, 8, SIZE // 8, 8, 3)
    coef = np.einsum("ij,tajbkc,lk->taiblc", d, b, d)
    coef = np.round(coef / q[None, None, :, None, :, None]) * q[None, None, :, None, :, None]
    back = np.einsum("ij,taiblc,lk->tajbkc", d, coef, d)
    return np.clip(back.reshape(frames.shape), 0, 1)


def resolution(rng, frames):
    """A source smaller than the frame: area-averaged down by 2 or 3, then shown blocky."""
    f = int(rng.choice([2, 3, 4])) if SIZE % 4 == 0 else 2
    f = f if SIZE % f == 0 else 2
    t = len(frames)
    small = frames.reshape(t, SIZE // f, f, SIZE // f, f, 3).mean((2, 4))
    return small.repeat(f, axis=1).repeat(f, axis=2)


def frame_rate(rng, frames):
    """A source at a lower frame rate (12.5, 15 or 24 fps) shown at 25: each frame held until the
    next source frame (the sounds keep their exact times)."""
    fps = float(rng.choice([12.5, 15.0, 24.0]))
    t = len(frames)
    shown = np.floor(np.floor(np.arange(t) / FPS * fps) / fps * FPS + 1e-6).astype(int)
    return frames[np.clip(shown, 0, t - 1)]


def sketch(frames, rng):
    """The held-out look: the scene as a line drawing, its edges in dark ink on textured paper,
    with a faint wash of its brightness (so a flash still lights the paper)."""
    lum = frames @ np.array([0.299, 0.587, 0.114])
    gy = np.abs(np.diff(lum, axis=1, prepend=lum[:, :1]))
    gx = np.abs(np.diff(lum, axis=2, prepend=lum[:, :, :1]))
    ink = np.clip((gx + gy) * 6, 0, 1)
    # A pen stroke about 2 px wide: the edge map dilated by one pixel down and right.
    ink = np.maximum(ink, np.maximum(np.roll(ink, 1, axis=1), np.roll(ink, 1, axis=2)))[..., None]
    paper = (0.9 + 0.06 * value_noise(rng, 24))[None, :, :, None] * np.array([1.0, 0.97, 0.9])
    wash = 0.75 + 0.25 * lum[..., None]
    return np.clip(paper * wash * (1 - ink) + ink * np.array([0.1, 0.12, 0.25]), 0, 1)


def shaken(rng, frames):
    """A hand-held camera's slow wander, in place: a smoothed random walk of up to a few pixels,
    not per-frame jitter, which no camera has."""
    walk = np.cumsum(rng.normal(0, 1, (len(frames) + 8, 2)), axis=0)
    walk = np.stack([np.convolve(walk[:, k], np.ones(8) / 8, "valid")[: len(frames)] for k in range(2)], 1)
    walk -= walk.mean(0)
    shake = np.round(walk * rng.uniform(0.5, 3) / max(1e-6, np.abs(walk).max())).astype(int)
    for f in range(len(frames)):
        frames[f] = np.roll(frames[f], tuple(shake[f]), axis=(0, 1))


def effects(rng, frames):
    """The varied look's camera, light, resolution, compression and frame-rate effects, each
    applied to a share of the clips."""
    for p, effect in ((0.4, camera), (0.4, lighting), (0.25, resolution), (0.3, compress),
                      (0.25, frame_rate)):
        if rng.uniform() < p:
            frames = effect(rng, frames)
    return frames


def paired(seed, seconds=4.0, kind=None, held_out=False):
    """The same events drawn twice (pictures only): on a gradient background as the plain look
    draws them, and under the varied look (textured, cluttered backgrounds and the effects), for
    an encoder that should read both alike (invariant.py). Drawing an object consumes no random
    draws, so two generators from one seed draw the same objects onto either background; the
    backgrounds, shake and effects draw from generators of their own. With `held_out`, the
    sketch look of the first instead of the varied one (to measure only, never to train)."""
    bg = np.random.default_rng([seed, 1])
    kind = kind or list(KINDS)[bg.integers(len(KINDS))]
    t = int(seconds * FPS)

    def drawn(frames):
        rng = np.random.default_rng([seed, 0])
        for part in kind.split("+"):
            frames = (drops if part == "drop" else KINDS[part])(rng, Silence(), seconds, frames)[0]
        shake = np.random.default_rng([seed, 2])
        if shake.uniform() < 0.5:
            shaken(shake, frames)
        return frames

    plain = drawn(canvas(bg, t) * SKY_DIM.get(kind.split("+")[0], 1.0))
    if held_out:
        out = [plain, sketch(plain, np.random.default_rng([seed, 3]))]
    else:
        out = [plain, effects(np.random.default_rng([seed, 4]), drawn(canvas_varied(bg, t)))]
    noise = np.random.default_rng([seed, 5])
    return [(np.clip(f + noise.normal(0, noise.uniform(0, 0.04), f.shape), 0, 1) * 255).astype(np.uint8)
            for f in out]


def render(rng, lib, seconds=4.0, kind=None, look="plain"):
    """One clip; `kind` is a scene kind or "a+b" for two sources in one scene. `look`: "plain"
    (the first training look; the evaluation's scenes), "varied" (training: many backgrounds,
    shapes, several objects, camera motion and zoom, light changes, compression, lower
    resolutions and frame rates) or "sketch" (held out: a line drawing of a plain scene)."""
    assert look in LOOKS, look
    kind = kind or list(KINDS)[rng.integers(len(KINDS))]
    frames, tracks, events, caption, parts = None, {}, [], [], []
    if look == "varied":
        frames = canvas_varied(rng, int(seconds * FPS))
    for part in kind.split("+"):
        make = drops if (look == "varied" and part == "drop") else KINDS[part]
        frames, t, e, c = make(rng, lib, seconds, frames)
        tracks.update(t)
        events += e
        caption.append(c)
        (name,) = t
        # The library class heard on this track (a drop's material is in its impact events).
        cls = name if name != "impacts" else (e[0]["class"] if e else None)
        parts.append({"track": name, "caption": c, "class": cls})
    caption = " and ".join(caption)
    # Camera shake (half the clips; `shaken`) and sensor noise.
    if rng.uniform() < 0.5:
        shaken(rng, frames)
    if look == "varied":
        frames = effects(rng, frames)
    if look == "sketch":
        frames = sketch(frames, rng)  # drawn from the clean picture: noise is not a line
    frames = np.clip(frames + rng.normal(0, rng.uniform(0, 0.04), frames.shape), 0, 1)
    mix = sum(tracks.values())
    return {
        "kind": kind,
        "frames": (frames * 255).astype(np.uint8),
        "tracks": {k: v.astype(np.float32) for k, v in tracks.items()},
        "audio": np.clip(mix, -1, 1).astype(np.float32),
        "events": events,
        "caption": caption,
        "parts": parts,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--split", default="train", choices=["train", "heldout"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--preview", action="store_true", help="also write an MP4 per clip (GStreamer)")
    ap.add_argument("--pairs", action="store_true", help="two-source scenes only")
    ap.add_argument("--kind", choices=list(KINDS) + ["+".join(p) for p in PAIRS], help="one kind of scene only")
    ap.add_argument("--look", choices=LOOKS, default="plain")
    ap.add_argument("--no-sounds", action="store_true",
                    help="pictures only (no recordings needed); previews are video-only MP4s")
    a = ap.parse_args()
    lib = Silence() if a.no_sounds else Library(a.split)
    a.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for i in range(a.count):
        kinds = [a.kind] if a.kind else ["+".join(p) for p in PAIRS] if a.pairs else list(KINDS)
        clip = render(rng, lib, a.seconds, kinds[i % len(kinds)], a.look)
        np.savez_compressed(a.out / f"clip{i:04d}.npz", frames=clip["frames"], audio=clip["audio"],
                            **{f"track_{k}": v for k, v in clip["tracks"].items()})
        (a.out / f"clip{i:04d}.json").write_text(json.dumps(
            {"kind": clip["kind"], "caption": clip["caption"], "events": clip["events"]}))
        if a.preview:
            preview(clip, a.out / f"clip{i:04d}.mp4", audio=not a.no_sounds)
        print(f"clip{i:04d}: {clip['kind']:8s} {clip['caption']!r}, {len(clip['events'])} events")


def preview(clip, path, audio=True):
    """Frames (and audio) to an MP4 through GStreamer (raw files read by filesrc)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        v, au = Path(d) / "v.raw", Path(d) / "a.raw"
        clip["frames"].tofile(v)
        clip["audio"].tofile(au)
        n = len(clip["frames"])
        subprocess.run(
            f"gst-launch-1.0 -q -e filesrc location={v} blocksize={SIZE * SIZE * 3} ! "
            f"rawvideoparse width={SIZE} height={SIZE} format=rgb framerate={FPS}/1 ! videoconvert ! "
            f"x264enc ! queue ! mp4mux name=m ! filesink location={path} "
            + (f"filesrc location={au} ! rawaudioparse format=pcm pcm-format=f32le sample-rate={RATE} "
               f"num-channels=1 ! audioconvert ! voaacenc ! queue ! m." if audio else ""),
            shell=True, check=True)
        assert n > 0


if __name__ == "__main__":
    main()
