"""The camera the video was shot with, as far as the fit needs it: a level pinhole camera whose
angle of view across the picture's longer side is given (default: a phone's), centred."""
from __future__ import annotations

import math

import numpy as np

from lm2d.video.landmarks import INDEX, Landmarks

DEFAULT_FIELD_OF_VIEW = 50.0     # degrees across the frame's longer side (phones: 50-70)


def image_targets(landmarks: Landmarks, markers_of) -> np.ndarray:
    """(N, M, 2) pixels from the picture's centre (right, down) of each marker's landmark(s)."""
    image = np.stack([landmarks.image[:, [INDEX[n] for n in names]].mean(axis=1) for names in markers_of], axis=1)
    return (image - 0.5) * np.array([landmarks.width, landmarks.height])


def camera_focal(landmarks: Landmarks, field_of_view: float) -> float:
    """Focal length in pixels for a horizontal-or-vertical field of view across the longer side."""
    return 0.5 * max(landmarks.width, landmarks.height) / math.tan(math.radians(field_of_view) / 2)


def pelvis_path(landmarks: Landmarks, markers_of, markers: np.ndarray, confidence: np.ndarray,
                field_of_view: float = DEFAULT_FIELD_OF_VIEW) -> np.ndarray:
    """(N, 3) pelvis positions in the camera's level frame (x right, y away, z up) such that the
    markers (N, M, 3), relative to the pelvis, project onto their image landmarks (`markers_of`:
    each marker's landmark names), each weighted by its confidence (N, M).

    Projection: u = cx + f (x + Tx) / (y + Ty), v = cy - f (z + Tz) / (y + Ty), which is linear in
    T once multiplied out; each marker's two rows are weighted by its visibility."""
    f = camera_focal(landmarks, field_of_view)
    u, v = image_targets(landmarks, markers_of).transpose(2, 0, 1)
    weight = np.sqrt(confidence)
    x, y, z = markers[..., 0], markers[..., 1], markers[..., 2]
    zeros = np.zeros_like(u)
    # f Tx - u Ty = u y - f x ;  f Tz + v Ty = -v y - f z
    rows = np.concatenate([np.stack([np.full_like(u, f), -u, zeros], -1),
                           np.stack([zeros, v, np.full_like(u, f)], -1)], axis=1)      # (N, 2M, 3)
    rhs = np.concatenate([u * y - f * x, -v * y - f * z], axis=1)                      # (N, 2M)
    w = np.concatenate([weight, weight], axis=1)
    a = rows * w[..., None]
    b = rhs * w
    return np.linalg.solve(np.einsum("nki,nkj->nij", a, a), np.einsum("nki,nk->ni", a, b))


