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
CHEEK_PULL = 0.15  # the lower cheeks drop this much of the jaw's travel
# Openings up to this stay shut: sampled motion hovers a few hundredths around the rest pose in
# silence, and the steep start of the jaw curve would turn that into parted lips.
JAW_DEAD_ZONE = 0.04


def _sq(x: torch.Tensor) -> torch.Tensor:
    """x², as a multiplication: ONNX Runtime's Pow (what `**` exports to) costs several times more
    per element, and the warp field evaluates these on every pixel of every frame."""
    return x * x


def template() -> dict[str, np.ndarray]:
    """Canonical face points: the mean of the bundled avatars' aligned landmarks."""
    with open(config.HERE / "avatars" / "landmarks.json") as f:
        table = json.load(f)
    p = np.mean([np.array(v) for v in table.values()], axis=0)
    eyes = [
        dict(centre=p[[o, i]].mean(0), half=np.linalg.norm(p[o] - p[i]) / 2, upper=p[u][1], lower=p[lo][1])
        for o, i, u, lo in ((33, 133, 159, 145), (263, 362, 386, 374))
    ]
    # The inner lip line, corner to corner: upper and lower inner contours, averaged.
    upper_in = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
    lower_in = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
    return dict(
        top=p[10], chin=p[152], lip_up_in=p[13], lip_low_in=p[14], lip_up_out=p[0],
        lip_low_out=p[17], corners=p[[61, 291]], inner_corners=p[[78, 308]],
        lip_line=(p[upper_in] + p[lower_in]) / 2, nose=p[1], brows=p[[105, 334]], eyes=eyes,
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
        self.lip_low_out = float(t["lip_low_out"][1])
        self.chin = float(t["chin"][1])
        # The lip line y(x) as a quadratic in u = (x − centre) / half width between the inner
        # corners (a smile's corners sit higher): the jaw splits the face exactly there, so both
        # lips move whole and keep their thickness, and the opening is exactly the gap between them.
        ic = t["inner_corners"]
        self.open_cx = float(ic[:, 0].mean())
        self.open_half = float(abs(ic[1, 0] - ic[0, 0]) / 2)
        line = t["lip_line"]
        u = (line[:, 0] - self.open_cx) / self.open_half
        self.line_coef = [float(c) for c in np.polyfit(u, line[:, 1], 2)[::-1]]  # c0 + c1 u + c2 u²
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
        # Nothing moves outside the head mask, so only the head's box is warped (294×364, 41% of
        # the frame; GridSample is half the decoder's time) and the rest is the portrait as is.
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
        return torch.exp(-0.5 * (_sq((xs - float(c[0])) / sx) + _sq((ys - float(c[1])) / sy)))

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
        """1 over the head, 0 over the body and the far background, smooth in between. The fade
        runs over 0.3 of the radius, not wider: the mask's support is the box every frame warps,
        and 0.4 made it 17 % larger (and the decoder as much slower) for a stretch of the
        background around the head that looks the same at 3σ head motion."""
        cx, cy = self.head_centre
        r = torch.sqrt(_sq((xs - cx) / (0.55 * self.h)) + _sq((ys - cy) / (0.68 * self.h)))
        return self._smoothstep((1.25 - r) / 0.3)

    def _line(self, xs):
        """The lip line's y at xs (the quadratic fit, flat beyond the corners), and u across the
        mouth (−1 and 1 at the inner corners)."""
        u = (xs - self.open_cx) / self.open_half
        uc = u.clamp(-1.2, 1.2)
        c0, c1, c2 = self.line_coef
        return c0 + c1 * uc + c2 * uc * uc, u

    @staticmethod
    def _opening(u):
        """How far the lips part along the mouth, 1 at the middle, 0 at the inner corners."""
        a = (1.0 - u * u).clamp(min=0.0)
        root = torch.sqrt(a)
        return root * torch.sqrt(root)  # a ** 0.75

    def _below(self, ys, line, u):
        """1 below the lip line, 0 above: a sharp split between the lips (they part there),
        a gentle one beside the mouth (skin, which stretches)."""
        soft = 0.6 + 0.1 * self.h * self._smoothstep((u.abs() - 0.9) / 0.6)
        return torch.sigmoid((ys - line) / soft)

    def _jaw_region(self, xs, ys):
        """Everything below the lip line that moves with the jaw: the lower lip whole (as much as
        the opening profile says at its column), the chin and jaw as one piece; fading sideways
        past the mouth and down the neck."""
        line, u = self._line(xs)
        below = self._below(ys, line, u)
        dx = xs - float(self.mouth[0])
        broad = torch.exp(-0.5 * _sq(_sq(dx / (0.3 * self.h))))
        # Along the lips the lower lip follows the opening profile (the corners stay); over a
        # lip's thickness below the line it still does, so the lip moves whole; further down the
        # chin moves as one piece. Beside the corners the skin follows the jaw partly.
        near_lips = self._smoothstep(1.0 - (ys - line - (self.lip_low_out - self.lip_low_in)) / (0.2 * self.h))
        profile = torch.maximum(self._opening(u), 0.5 * self._smoothstep((u.abs() - 1.0) / 1.2))
        side = broad * (1.0 - near_lips * (1.0 - profile))
        neck = torch.where(
            ys < self.chin, torch.ones_like(ys), torch.exp(-0.5 * _sq((ys - self.chin) / (0.12 * self.h)))
        )
        return below * side * neck

    def _lip_region(self, xs, ys):
        """The upper lip, which lifts a little as the mouth opens: whole over its thickness,
        fading towards the nose."""
        line, u = self._line(xs)
        above = 1.0 - self._below(ys, line, u)
        thick = self.lip_up_in - self.lip_up_out
        fade = self._smoothstep(1.0 - (line - ys - thick) / (0.06 * self.h))
        return above * fade * self._opening(u * 0.9)

    def _cheek_region(self, xs, ys):
        """The lower cheeks beside the mouth, which the open jaw pulls down a little."""
        line, _ = self._line(xs)
        dx = (xs - float(self.mouth[0])).abs()
        return torch.exp(-0.5 * (_sq((dx - 1.5 * self.mouth_half) / (0.22 * self.h))
                                 + _sq((ys - line + 0.05 * self.h) / (0.12 * self.h))))

    def _spread_region(self, xs, ys):
        """Horizontal stretch of the lips: +1 at the right corner, −1 at the left."""
        u = ((xs - float(self.mouth[0])) / self.mouth_half).clamp(-1.3, 1.3)
        around = torch.exp(-0.5 * _sq((ys - float(self.mouth[1])) / (0.07 * self.h)))
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
            d2 = _sq((xs - float(e["centre"][0])) / (1.05 * e["half"]))
            across = torch.exp(-0.5 * d2 * d2 * d2)
            out = out + ramp * stop * across * gap
        return out

    def _interior(self, shift_x, shift_y, lift, drop, spread, jaw, lip):
        """Alpha [F, 1, h, w] and colour [F, 3, h, w] over the mouth box: what shows between the
        parted lips. The gap is exactly where the lips moved apart (the lip line, the upper lip
        lifted by `lift`, the lower lip lowered by `drop`, both [F] in pixels at the middle, along
        the opening profile), with soft edges. Inside, back to front: the cavity, shaded from the
        lips' own colour `lip` [3] (reddish near the lips, dark towards the throat); the tongue on
        wide openings; lower teeth on the widest; upper teeth, whose visible height grows with the
        opening, with gaps between them and the upper lip's shadow. Computed in a box around the
        mouth, the only place it can be."""
        x0, y0, x1, y1 = self.box
        xs = self.xs[y0:y1, x0:x1][None] - shift_x[:, None, None]
        ys = self.ys[y0:y1, x0:x1][None] - shift_y[:, None, None]
        # The warp's own profiles, where the lip spread moved the mouth.
        xs = xs - spread[:, None, None] * self.spread_shift * self._spread_region(xs, ys)
        line, u = self._line(xs)
        top = line - lift[:, None, None] * self._opening(0.9 * u)
        bottom = line + drop[:, None, None] * self._opening(u)
        gap = (bottom - top).clamp(min=1e-3)
        alpha = torch.sigmoid((ys - top) / 0.7) * torch.sigmoid((bottom - ys) / 0.7)
        # Nothing where the lips do not part (beside the corners, or barely open).
        alpha = alpha * self._smoothstep(gap / 1.5) * self._smoothstep(jaw / CAVITY_FADE)[:, None, None]
        v = ((ys - top) / gap).clamp(0, 1)  # 0 at the upper lip, 1 at the lower
        lip = lip.view(1, 3, 1, 1)
        # Cavity: the lips' colour, redder and darker: lighter near the lips, darkest in the
        # middle and the back.
        depth = ((1.0 - (2.0 * v - 1.0).abs()) * (1.0 - _sq(u.clamp(-1.0, 1.0))))[:, None]
        red = lip * torch.tensor([1.0, 0.55, 0.55]).view(1, 3, 1, 1)
        colour = red * (0.55 - 0.45 * depth) + 0.01
        # Tongue: a rounded hump rising from the lower lip on wide openings.
        grow = lambda lo, hi: self._smoothstep((jaw - lo) / (hi - lo))[:, None, None]  # noqa: E731
        tongue_top = bottom - 0.38 * gap * grow(0.35, 0.8) * torch.sqrt((1.0 - _sq(u / 0.75)).clamp(min=0.0))
        tongue = (torch.sigmoid((ys - tongue_top) / 0.8) * (tongue_top < bottom - 0.5))[:, None]
        tongue_shade = (0.85 + 0.25 * ((tongue_top - ys) / (0.4 * gap)).clamp(-1, 0))[:, None]
        colour = colour * (1 - tongue) + (lip * 0.78 + torch.tensor([0.10, 0.03, 0.04]).view(1, 3, 1, 1)) \
            * tongue_shade * tongue
        # Teeth: per-tooth columns (narrower towards the corners), a dark seam between them, a
        # rounded biting edge, in shadow towards the corners and under the upper lip.
        k = (xs - self.open_cx) / (0.24 * self.open_half) * (1.0 + 0.3 * u * u)
        seam = torch.exp(-0.5 * _sq((k - torch.round(k)) / 0.05))
        edge = 0.1 * _sq(2.0 * (k - torch.floor(k)) - 1.0)  # rounded tooth ends
        white = torch.tensor([0.92, 0.89, 0.82]).view(1, 3, 1, 1)
        side_shade = (1.0 - 0.45 * _sq(u.clamp(-1.0, 1.0)))[:, None]
        upper_h = (0.36 * gap).clamp(max=0.045 * self.h) * (1.0 - edge)
        t = (ys - top) / upper_h.clamp(min=1e-3)
        upper = (torch.sigmoid((upper_h - (ys - top)) / 0.6) * (u.abs() < 0.85))[:, None]
        upper_shade = (0.72 + 0.26 * t.clamp(0, 1))[:, None] * side_shade * (1.0 - 0.25 * seam[:, None])
        lower_h = 0.16 * gap * grow(0.75, 1.0) * (1.0 - edge)
        lower = (torch.sigmoid((ys - (bottom - lower_h)) / 0.6) * (lower_h > 0.5) * (u.abs() < 0.55))[:, None]
        lower_shade = 0.55 * side_shade * (1.0 - 0.25 * seam[:, None])
        # The lower teeth are in the lower lip's shadow: warmer and darker.
        colour = colour * (1 - lower) + (0.65 * white * lower_shade + 0.35 * red * 0.5) * lower
        colour = colour * (1 - upper) + white * upper_shade * upper
        return alpha[:, None], colour

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
        # ... then the face's own motion, in the portrait's coordinates: the lips spread or round
        # first, and the mouth opens where its corners went.
        dx = spread * self.spread_shift * self._spread_region(qx, qy)
        qx = qx - dx
        dy = jaw * (self.jaw_drop * (self._jaw_region(qx, qy) + CHEEK_PULL * self._cheek_region(qx, qy))
                    - self.lip_lift * self._lip_region(qx, qy))
        dy = dy - brow * self.brow_lift * self._brow_region(qx, qy) + blink * self._lid_region(qx, qy)
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
        o = jaw[:, 0, 0]
        # The lips' own colour, from the portrait's lower lip: the mouth inside is shaded from it.
        lx, ly = int(self.mouth[0]), int(0.5 * (self.lip_low_in + self.lip_low_out))
        lip = image[ly - 2 : ly + 3, lx - 6 : lx + 7].reshape(-1, 3).mean(0)
        alpha, inside = self._interior(
            shift_x[:, 0, 0], shift_y[:, 0, 0], o * self.lip_lift, o * self.jaw_drop, spread[:, 0, 0], o, lip
        )
        # Blended in the mouth box only, the rest of the head as warped; then everything in bytes
        # (a quarter of the memory traffic of floats) and channels last, the frames' layout.
        x0, y0, x1, y1 = self.box
        hx0, hy0, hx1, hy1 = self.head_box
        mx0, my0, mx1, my1 = x0 - hx0, y0 - hy0, x1 - hx0, y1 - hy0
        alpha, inside = alpha.transpose(0, 1), inside.transpose(0, 1)  # channels first, like warped
        mouth = warped[:, :, my0:my1, mx0:mx1]
        mouth = self._bytes(mouth * (1.0 - alpha) + inside * alpha)
        head = self._bytes(warped)
        band = torch.cat([head[:, :, my0:my1, :mx0], mouth, head[:, :, my0:my1, mx1:]], dim=3)
        head = torch.cat([head[:, :, :my0], band, head[:, :, my1:]], dim=2).permute(1, 2, 3, 0)

        # The head's box into the untouched portrait.
        still = self._bytes(image)[None].expand(frames, -1, -1, -1)
        middle = torch.cat([still[:, hy0:hy1, :hx0], head, still[:, hy0:hy1, hx1:]], dim=2)
        return torch.cat([still[:, :hy0], middle, still[:, hy1:]], dim=1)

    @staticmethod
    def _bytes(x: torch.Tensor) -> torch.Tensor:
        return (x.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
