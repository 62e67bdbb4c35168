"""The presenter's renderer (the package's `decoder` graph): motion rows + the aligned portrait →
512×512 RGB frames.

It animates the portrait by warping it, like Ditto's renderer, but with an analytic warp instead
of a learned one: each motion dimension moves a region laid out around the canonical face
(config.EYE_LEFT/EYE_RIGHT/MOUTH, where align.py puts every avatar's face), and one bilinear
GridSample (4-D, which ONNX Runtime's CPU and CUDA providers both implement) pulls the portrait
through the combined field. The mouth interior (dark cavity, upper teeth) is painted between the
parted lips, since no warp of a closed mouth can show it.

Displacements are forward (where a point of the portrait moves to); sampling uses the backward
map q = p − D(p), which is accurate for the small, smooth displacements here. Units: pixels of
the 512 frame; the face height H (forehead to chin) scales every region.
"""

import json
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import config

CAVITY_FADE = 0.2  # the cavity fades in over the first fifth of the jaw's travel (lips parting)
# Openings up to this stay shut: sampled motion hovers a few hundredths around the rest pose in
# silence, and the steep start of the jaw curve would turn that into parted lips.
JAW_DEAD_ZONE = 0.04


def template() -> dict[str, np.ndarray]:
    """Canonical face points: the mean of the bundled avatars' aligned landmarks."""
    with open(config.HERE / "avatars" / "landmarks.json") as f:
        table = json.load(f)
    p = np.mean([np.array(v) for v in table.values()], axis=0)
    eyes = [
        dict(centre=p[[o, i]].mean(0), half=np.linalg.norm(p[o] - p[i]) / 2, upper=p[u][1], lower=p[lo][1])
        for o, i, u, lo in ((33, 133, 159, 145), (263, 362, 386, 374))
    ]
    return dict(
        top=p[10], chin=p[152], lip_up_in=p[13], lip_low_in=p[14], lip_up_out=p[0],
        corners=p[[61, 291]], nose=p[1], brows=p[[105, 334]], eyes=eyes,
    )


class Renderer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        t = template()
        self.h = float(np.linalg.norm(t["top"] - t["chin"]))
        h = self.h
        self.mouth = t["lip_up_in"] * 0.5 + t["lip_low_in"] * 0.5
        self.mouth_half = float(np.linalg.norm(t["corners"][0] - t["corners"][1]) / 2)
        self.lip_up_in = float(t["lip_up_in"][1])
        self.lip_low_in = float(t["lip_low_in"][1])
        self.lip_up_out = float(t["lip_up_out"][1])
        self.chin = float(t["chin"][1])
        self.nose = t["nose"]
        self.brows = t["brows"]
        self.eyes = t["eyes"]
        self.pivot = (float(self.mouth[0]), self.chin + 0.35 * h)  # the neck: the head turns on it
        self.head_centre = (float(self.mouth[0]), float(t["top"][1] + 0.35 * h))
        # Region sizes and motion gains, in face heights. The jaw saturates: its drop is
        # jaw_drop · tanh((open − JAW_DEAD_ZONE) / jaw_knee), so small openings show and loud open
        # vowels stop at the jaw's limit instead of growing without bound.
        self.jaw_drop = 0.12 * h
        self.jaw_knee = 0.3
        self.lip_lift = 0.02 * h  # at the jaw's limit
        self.spread_shift = 0.035 * h
        self.brow_lift = 0.035 * h
        self.roll_rad = 0.06
        self.yaw_shift = 0.05 * h
        self.pitch_shift = 0.04 * h
        self.shift = 0.03 * h
        ys, xs = torch.meshgrid(
            torch.arange(config.SIZE, dtype=torch.float32) + 0.5,
            torch.arange(config.SIZE, dtype=torch.float32) + 0.5,
            indexing="ij",
        )
        # The warp field is smooth, so it is computed on a half-resolution grid (pixel centres of
        # 2×2 blocks) and upsampled: a quarter of the arithmetic for the same frames.
        fys, fxs = ys[::2, ::2] + 0.5, xs[::2, ::2] + 0.5
        # The mouth box: lips plus the widest opening, plus room for the head's movement.
        margin = 0.16 * h
        self.box = (
            int(self.mouth[0] - self.mouth_half - margin),
            int(self.lip_up_in - 0.05 * h - margin),
            int(self.mouth[0] + self.mouth_half + margin) + 1,
            int(self.lip_low_in + self.jaw_drop + margin) + 1,
        )
        self.register_buffer("xs", xs)
        self.register_buffer("ys", ys)
        # Nothing moves outside the head mask, so only the head's box is warped (about 40% of the
        # frame; GridSample is most of the decoder's time) and the rest is the portrait as is.
        support = torch.nonzero(self._head_mask(fxs, fys) > 0)
        (r0, c0), (r1, c1) = support.min(0).values.tolist(), (support.max(0).values + 1).tolist()
        self.head_box = (2 * c0, 2 * r0, 2 * c1, 2 * r1)
        fxs, fys = fxs[r0:r1, c0:c1], fys[r0:r1, c0:c1]
        x0, y0, x1, y1 = self.box
        hx0, hy0, hx1, hy1 = self.head_box
        assert hx0 <= x0 and hy0 <= y0 and x1 <= hx1 and y1 <= hy1, "mouth box outside the head"
        self.register_buffer("fxs", fxs)
        self.register_buffer("fys", fys)
        # The head's regions are broad, so they are computed once on the field grid; the face's
        # (jaw, lips, lids) have sharp edges and are computed per frame where the head moved
        # the face to (forward).
        self.register_buffer("head_mask", self._head_mask(fxs, fys))
        self.register_buffer("parallax", self._parallax(fxs, fys))

    @staticmethod
    def _gauss(xs, ys, c, sx, sy):
        return torch.exp(-0.5 * (((xs - float(c[0])) / sx) ** 2 + ((ys - float(c[1])) / sy) ** 2))

    @staticmethod
    def _smoothstep(x):
        x = x.clamp(0, 1)
        return x * x * (3 - 2 * x)

    def _parallax(self, xs, ys):
        """Extra yaw/pitch shift around the nose, which is nearer the camera than the ears."""
        return self._gauss(xs, ys, self.nose, 0.25 * self.h, 0.25 * self.h)

    def _head_shift(self, xs, ys, head_mask, parallax, cos, sin, m):
        """Forward displacement of the head at (xs, ys): a rotation about the neck and a shift,
        more around the nose for yaw and pitch, all faded out over the body."""
        px, py = self.pivot
        rx, ry = xs - px, ys - py
        turn = 1.0 + parallax
        hx = cos * rx - sin * ry + px - xs + m[:, 7] * self.shift + m[:, 4] * self.yaw_shift * turn
        hy = sin * rx + cos * ry + py - ys + m[:, 8] * self.shift + m[:, 5] * self.pitch_shift * turn
        return hx * head_mask, hy * head_mask

    def _head_mask(self, xs, ys):
        """1 over the head, 0 over the body and the far background, smooth in between."""
        cx, cy = self.head_centre
        r = torch.sqrt(((xs - cx) / (0.55 * self.h)) ** 2 + ((ys - cy) / (0.68 * self.h)) ** 2)
        return self._smoothstep((1.35 - r) / 0.4)

    def _jaw_region(self, xs, ys):
        """Everything below the lip line that moves with the jaw: lower lip, chin, jaw; fading
        sideways past the mouth and down the neck."""
        mid = 0.5 * (self.lip_up_in + self.lip_low_in)
        below = torch.sigmoid((ys - mid) / 1.2)
        dx = xs - float(self.mouth[0])
        side = torch.exp(-0.5 * (dx / (0.3 * self.h)) ** 4)
        # At the lip line the corners stay nearly put (the lips stretch around them); the chin
        # below moves as one piece.
        near_lips = torch.exp(-0.5 * ((ys - mid) / (0.12 * self.h)) ** 2)
        corners = torch.exp(-0.5 * (dx / (0.7 * self.mouth_half)) ** 2)
        side = side * (1.0 - near_lips * (1.0 - corners))
        neck = torch.where(
            ys < self.chin, torch.ones_like(ys), torch.exp(-0.5 * ((ys - self.chin) / (0.12 * self.h)) ** 2)
        )
        return below * side * neck

    def _lip_region(self, xs, ys):
        """The upper lip, which lifts a little as the mouth opens."""
        mid = 0.5 * (self.lip_up_in + self.lip_low_in)
        above = torch.sigmoid((mid - ys) / 1.2)
        near = torch.exp(-0.5 * ((ys - self.lip_up_out) / (0.05 * self.h)) ** 2)
        side = torch.exp(-0.5 * ((xs - float(self.mouth[0])) / (1.1 * self.mouth_half)) ** 2)
        return above * near * side

    def _spread_region(self, xs, ys):
        """Horizontal stretch of the lips: +1 at the right corner, −1 at the left."""
        u = ((xs - float(self.mouth[0])) / self.mouth_half).clamp(-1.3, 1.3)
        around = torch.exp(-0.5 * ((ys - float(self.mouth[1])) / (0.07 * self.h)) ** 2)
        return torch.sin(u * (math.pi / 2.6)) * around

    def _brow_region(self, xs, ys):
        lids = min(e["upper"] for e in self.eyes)
        above_eyes = torch.sigmoid((lids - 0.03 * self.h - ys) / 2.0)
        brows = sum(self._gauss(xs, ys, b, 0.12 * self.h, 0.06 * self.h) for b in self.brows)
        return brows * above_eyes

    def _lid_region(self, xs, ys):
        """How far (in lid gaps) the upper lid's skin is pulled down at each pixel when the eyes
        close: a ramp above the lid, the whole gap between the lids, nothing below them."""
        out = torch.zeros_like(xs)
        for e in self.eyes:
            gap = e["lower"] - e["upper"]
            ramp = ((ys - (e["upper"] - gap)) / gap).clamp(0, 1)
            stop = torch.sigmoid((e["lower"] + 0.5 - ys) / 0.6)
            across = torch.exp(-0.5 * ((xs - float(e["centre"][0])) / (1.05 * e["half"])) ** 6)
            out = out + ramp * stop * across * gap
        return out

    def _interior(self, cx, top, bottom, spread, jaw):
        """Alpha [F, 1, h, w] and colour [F, 3, h, w] over the head's box: the mouth cavity, a lens
        between the parted lips, upper teeth in its top third, darker towards the throat.
        Computed in a box around the mouth (the only place it can be) and padded."""
        x0, y0, x1, y1 = self.box
        xs = self.xs[y0:y1, x0:x1][None]
        ys = self.ys[y0:y1, x0:x1][None]
        half_w = (0.74 * self.mouth_half * (1.0 + 0.2 * spread))[:, None, None]
        u = (xs - cx[:, None, None]) / half_w
        centre = (0.5 * (top + bottom))[:, None, None]
        half_h = (0.5 * (bottom - top))[:, None, None].clamp(min=0.0)
        # Signed distance (pixels, positive inside) to the lens |y − centre| = half_h (1 − u²).
        lens = half_h * (1.0 - u * u).clamp(min=0.0) ** 0.7 - (ys - centre).abs()
        sides = (1.0 - u.abs()) * half_w
        alpha = torch.sigmoid(lens / 0.7) * torch.sigmoid(sides / 0.7)
        alpha = alpha * self._smoothstep(jaw / CAVITY_FADE)[:, None, None]
        depth = ((ys - top[:, None, None]) / (2.0 * half_h).clamp(min=1.0)).clamp(0, 1)
        teeth = torch.sigmoid((0.32 - depth) * 30.0) * (1.0 - u.abs() ** 3).clamp(0, 1)
        teeth = teeth[:, None]
        dark = torch.tensor([0.30, 0.09, 0.10]).view(1, 3, 1, 1) * (1.0 - 0.65 * depth[:, None])
        white = torch.tensor([0.90, 0.87, 0.82]).view(1, 3, 1, 1)
        inside = dark * (1.0 - teeth) + white * teeth
        hx0, hy0, hx1, hy1 = self.head_box
        pads = (x0 - hx0, hx1 - x1, y0 - hy0, hy1 - y1)
        return F.pad(alpha[:, None], pads), F.pad(inside, pads)

    def forward(self, motion: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """motion [frames, 9] in renderer units (config.MOTION order), image [512, 512, 3] RGB in
        [0, 1] → frames [frames, 512, 512, 3] uint8."""
        m = motion[:, :, None, None]  # [F, 9, 1, 1]
        jaw = torch.tanh((m[:, 0] - JAW_DEAD_ZONE).clamp(min=0.0) / self.jaw_knee)  # 0..1 of its travel
        spread, blink, brow = m[:, 1], m[:, 2].clamp(0.0, 1.0), m[:, 3]
        xs, ys = self.fxs, self.fys
        a = m[:, 6] * self.roll_rad
        cos, sin = torch.cos(a), torch.sin(a)

        # Head: undone first (output pixel → the portrait point the head moved there) ...
        hx, hy = self._head_shift(xs, ys, self.head_mask, self.parallax, cos, sin, m)
        qx, qy = xs - hx, ys - hy
        # ... then the face's own motion, in the portrait's coordinates.
        dy = jaw * (self.jaw_drop * self._jaw_region(qx, qy) - self.lip_lift * self._lip_region(qx, qy))
        dy = dy - brow * self.brow_lift * self._brow_region(qx, qy) + blink * self._lid_region(qx, qy)
        dx = spread * self.spread_shift * self._spread_region(qx, qy)
        qx = qx - dx
        qy = qy - dy

        grid = torch.stack([qx, qy], dim=1) * (2.0 / config.SIZE) - 1.0
        grid = F.interpolate(grid, scale_factor=2.0, mode="bilinear", align_corners=False)
        # All frames' grids stacked into one tall grid over the one portrait: no copy of the
        # portrait per frame. The result is [3, frames, box height, box width].
        frames, _, bh, bw = grid.shape
        grid = grid.permute(0, 2, 3, 1).reshape(1, frames * bh, bw, 2)
        src = image.permute(2, 0, 1)[None]
        warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        warped = warped.reshape(3, frames, bh, bw)

        # Mouth interior between the parted lips, moved with the head like the mouth is.
        mx, my = (torch.tensor(float(v)) for v in self.mouth)
        shift_x, shift_y = self._head_shift(
            mx, my, self._head_mask(mx, my), self._parallax(mx, my), cos, sin, m
        )
        cx, shift_y = mx + shift_x[:, 0, 0], shift_y[:, 0, 0]
        o = jaw[:, 0, 0]
        top = self.lip_up_in - o * self.lip_lift + shift_y
        bottom = self.lip_low_in + o * self.jaw_drop * 0.92 + shift_y
        alpha, inside = self._interior(cx, top, bottom, spread[:, 0, 0], o)
        alpha, inside = alpha.transpose(0, 1), inside.transpose(0, 1)  # channels first, like warped
        head = self._bytes(warped * (1.0 - alpha) + inside * alpha)

        # The head's box into the untouched portrait, assembled in bytes (a quarter of the
        # memory traffic of floats), then to [frames, height, width, 3].
        x0, y0, x1, y1 = self.head_box
        still = self._bytes(image.permute(2, 0, 1)[:, None]).expand(-1, frames, -1, -1)
        middle = torch.cat([still[:, :, y0:y1, :x0], head, still[:, :, y0:y1, x1:]], dim=3)
        out = torch.cat([still[:, :, :y0], middle, still[:, :, y1:]], dim=2)
        return out.permute(1, 2, 3, 0)

    @staticmethod
    def _bytes(x: torch.Tensor) -> torch.Tensor:
        return (x.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
