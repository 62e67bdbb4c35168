"""mediapipe 0.10.14's face mesh (Apache-2.0, models bundled in the wheel, runs offline): the
landmarks align.py and evaluate.py measure faces with."""

import os
import warnings

import numpy as np

# Landmark indices of mediapipe's 468-point face mesh.
TOP, CHIN = 10, 152
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
MOUTH_CORNERS = (61, 291)
# Eyes as (outer corner, inner corner, upper lid, lower lid), image left first.
EYES = ((33, 133, 159, 145), (263, 362, 386, 374))


def mesh(video: bool = False):
    """A face mesh; `video` tracks the face from frame to frame instead of detecting it anew."""
    # Late, and quietened: mediapipe's C++ logging and protobuf's deprecation warnings are noise
    # in the evaluation's output.
    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", category=UserWarning, module="google.protobuf")
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(
        static_image_mode=not video, max_num_faces=1, refine_landmarks=True
    )


def landmarks(mesh, rgb: np.ndarray) -> np.ndarray | None:
    """[468, 2] landmark pixels of the first face in an RGB uint8 image, or None."""
    found = mesh.process(np.ascontiguousarray(rgb)).multi_face_landmarks
    if not found:
        return None
    h, w = rgb.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in found[0].landmark])


def anchors(points: np.ndarray) -> np.ndarray:
    """Eye centres (image left, right) and mouth centre: the points alignment fits."""
    eyes = [points[[outer, inner]].mean(0) for outer, inner, _, _ in EYES]
    mouth = points[[LIP_UPPER_INNER, LIP_LOWER_INNER, *MOUTH_CORNERS]].mean(0)
    return np.array([*eyes, mouth])


def face_height(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[TOP] - points[CHIN]))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip distance over face height."""
    gap = np.linalg.norm(points[LIP_UPPER_INNER] - points[LIP_LOWER_INNER])
    return float(gap / face_height(points))


def eye_openness(points: np.ndarray) -> float:
    """Mean eye aspect ratio (lid distance over eye width) of both eyes."""
    ratios = [
        np.linalg.norm(points[up] - points[low]) / np.linalg.norm(points[o] - points[i])
        for o, i, up, low in EYES
    ]
    return float(np.mean(ratios))
