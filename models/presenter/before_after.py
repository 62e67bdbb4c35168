"""Before/after contact sheet of the renderer for the README: the same motion (same speech,
seed and model) rendered by two decoder graphs, frames saved by `evaluate.py --frames-out`. For
each avatar, the mouth at its closed, middle and widest frames (chosen by the face mesh's
inner-lip opening on the second run's frames) and the whole face at the widest, before | after.

  python models/presenter/before_after.py OLD.npy NEW.npy [OLD2.npy NEW2.npy ...] --labels a b
      --out docs/mouth-before-after.jpg
"""

import argparse

import cv2
import numpy as np

import face

MOUTH = (slice(236, 346), slice(181, 331))  # around the canonical mouth, room for the jaw
FACE = (slice(110, 430), slice(96, 416))


def pick(frames: np.ndarray) -> list[int]:
    """Indices of the closed, middle and widest mouth (inner-lip opening over face height)."""
    mesh = face.mesh()
    opening = []
    for f in frames:
        points = face.landmarks(mesh, f)
        opening.append(face.mouth_opening(points) if points is not None else np.nan)
    opening = np.array(opening)
    speaking = np.where(opening > np.nanpercentile(opening, 40))[0]
    middle = speaking[np.argmin(np.abs(opening[speaking] - np.nanmedian(opening[speaking])))]
    return [int(np.nanargmin(opening)), int(middle), int(np.nanargmax(opening))]


def tiles(frames: np.ndarray, picks: list[int]) -> np.ndarray:
    crops = [cv2.resize(np.ascontiguousarray(frames[i][MOUTH]), (225, 165), interpolation=cv2.INTER_CUBIC)
             for i in picks]
    whole = cv2.resize(np.ascontiguousarray(frames[picks[-1]][FACE]), (165, 165), interpolation=cv2.INTER_AREA)
    return np.concatenate([*crops, whole], axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs", nargs="+", help="OLD.npy NEW.npy per avatar")
    p.add_argument("--labels", nargs="+", default=[])
    p.add_argument("--out", required=True)
    a = p.parse_args()
    rows = []
    for k in range(0, len(a.pairs), 2):
        old, new = np.load(a.pairs[k], mmap_mode="r"), np.load(a.pairs[k + 1], mmap_mode="r")
        picks = pick(new)
        gap = np.full((165, 12, 3), 255, np.uint8)
        row = np.concatenate([tiles(old, picks), gap, tiles(new, picks)], axis=1)
        label = a.labels[k // 2] if k // 2 < len(a.labels) else ""
        cv2.putText(row, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        print(f"{a.pairs[k + 1]}: closed, middle, widest frames {picks}")
        rows.append(row)
        rows.append(np.full((8, row.shape[1], 3), 255, np.uint8))
    sheet = np.concatenate(rows[:-1], axis=0)
    cv2.imwrite(a.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {a.out} ({sheet.shape[1]}x{sheet.shape[0]}): before (left) | after (right)")


if __name__ == "__main__":
    main()
