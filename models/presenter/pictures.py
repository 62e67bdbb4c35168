"""Contact sheets for the README from evaluate.py's saved frames (--frames-out): consecutive frames
across chunk boundaries (every CHUNK-th frame starts a chunk; a seam would show there), cropped to
the face, and one full frame.
  python models/presenter/pictures.py FRAMES.npy [FRAMES2.npy ...] --out docs/contact-sheet.png"""

import argparse

import cv2
import numpy as np

import config

CROP = (slice(120, 420), slice(106, 406))  # the face and the head's surroundings
PER_ROW = 12


def row(frames: np.ndarray, start: int) -> np.ndarray:
    tiles = []
    for i in range(start, start + PER_ROW):
        tile = np.ascontiguousarray(frames[i][CROP])
        colour = (255, 80, 80) if i % config.CHUNK == 0 else (255, 255, 255)
        cv2.putText(tile, str(i), (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
        tiles.append(cv2.resize(tile, (150, 150), interpolation=cv2.INTER_AREA))
    return np.concatenate(tiles, axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("frames", nargs="+")
    p.add_argument("--start", type=int, default=48, help="first frame of each row")
    p.add_argument("--out", default=str(config.HERE / "docs" / "contact-sheet.png"))
    a = p.parse_args()
    rows = [row(np.load(f, mmap_mode="r"), a.start) for f in a.frames]
    sheet = np.concatenate(rows, axis=0)
    cv2.imwrite(a.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {a.out} ({sheet.shape[1]}x{sheet.shape[0]}); chunk starts numbered in red")


if __name__ == "__main__":
    main()
