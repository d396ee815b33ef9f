"""Geometric motion features (32-dim) for FID_g: the boolean pose/motion relations of Müller et
al. (2005) as the AIST++ API (`aist_plusplus/features/manual.py`, used by Bailando as
`manual_new`) defines them. Each relation is evaluated on frames 1..T-1 (those with a previous
frame) and the feature is the fraction of frames where it holds.

Axis mapping: the reference is y-up ("y_unit", and "y_min" = the lowest joint's height); here
the up vector is +Z and the floor is the lowest joint's z. Every relation is built from
differences, dot and cross products of points, which a rotation about X preserves, so the
features equal the reference's on the same motion stored y-up.

Two quirks of the reference are kept so numbers stay comparable (docs/METRICS.md):
- its `f_move(j1, j2, j3, j4)` measures the velocity of j3 (not j4) relative to j1 along j1->j2;
  the table below lists the three joints it uses;
- its velocities divide 60-FPS displacements by 1/120 s, i.e. measure twice the physical speed.
  `SPEED_FACTOR` keeps that, so the thresholds test the same physical speeds at 30 FPS.
"""
from __future__ import annotations

import numpy as np

from lm2d.motion.skeleton import JOINT_NAMES

NUM_GEOMETRIC_FEATURES = 32
SPEED_FACTOR = 2.0

# Body proportions from the SMPL rest joints the reference hard-codes (metres, y-up).
_LEFT_SHOULDER = np.array([1.99113488e-01, 2.36807942e-01, -1.80702247e-02])
_LEFT_ELBOW = np.array([4.54445392e-01, 2.21158922e-01, -4.10167128e-02])
_RIGHT_SHOULDER = np.array([-1.91692337e-01, 2.36928746e-01, -1.23055102e-02])
_LEFT_HIP = np.array([5.64076714e-02, -3.23069185e-01, 1.09197125e-02])
_RIGHT_HIP = np.array([-6.24834076e-02, -3.31302464e-01, 1.50412619e-02])
HUMERUS = float(np.linalg.norm(_LEFT_SHOULDER - _LEFT_ELBOW))
SHOULDER_WIDTH = float(np.linalg.norm(_LEFT_SHOULDER - _RIGHT_SHOULDER))
HIP_WIDTH = float(np.linalg.norm(_LEFT_HIP - _RIGHT_HIP))

# (kind, points, threshold or (low, high) degrees), in the reference's order. Points are SMPL
# joint names (AIST++'s root/belly/spine/chest/toes/inshoulder = pelvis/spine1/spine2/spine3/
# foot/collar) or "origin", "up", "down", "floor".
#   plane  (a, b, c, p): signed distance of p from the plane through a, b, c (normal (c-a)x(b-a))
#   nplane (n1, n2, a, p): signed distance of p from the plane through a with normal n2 - n1
#   angle  (j1, j2, k1, k2): angle between j2 - j1 and k2 - k1 strictly inside (low, high)
#   move   (j1, j2, p): velocity of p relative to j1 along j1 -> j2
#   nmove  (j1, j2, j3, p): velocity of p relative to j1 along (j3 - j1) x (j2 - j1)
#   fast   (p,): speed of p
RELATIONS: tuple[tuple[str, tuple[str, ...], object], ...] = (
    ("nmove", ("neck", "right_hip", "left_hip", "right_wrist"), 1.8 * HUMERUS),
    ("nmove", ("neck", "left_hip", "right_hip", "left_wrist"), 1.8 * HUMERUS),
    ("nplane", ("spine3", "neck", "neck", "right_wrist"), 0.2 * HUMERUS),
    ("nplane", ("spine3", "neck", "neck", "left_wrist"), 0.2 * HUMERUS),
    ("move", ("spine1", "spine3", "spine3"), 1.8 * HUMERUS),         # reference also names right_wrist
    ("move", ("spine1", "spine3", "spine3"), 1.8 * HUMERUS),         # reference also names left_wrist
    ("angle", ("right_elbow", "right_shoulder", "right_elbow", "right_wrist"), (0.0, 110.0)),
    ("angle", ("left_elbow", "left_shoulder", "left_elbow", "left_wrist"), (0.0, 110.0)),
    ("nplane", ("left_shoulder", "right_shoulder", "left_wrist", "right_wrist"), 2.5 * SHOULDER_WIDTH),
    ("move", ("left_wrist", "right_wrist", "right_wrist"), 1.4 * HUMERUS),
    ("move", ("right_wrist", "pelvis", "left_wrist"), 1.4 * HUMERUS),
    ("move", ("left_wrist", "pelvis", "right_wrist"), 1.4 * HUMERUS),
    ("fast", ("right_wrist",), 2.5 * HUMERUS),
    ("fast", ("left_wrist",), 2.5 * HUMERUS),
    ("plane", ("pelvis", "left_hip", "left_foot", "right_ankle"), 0.38 * HUMERUS),
    ("plane", ("pelvis", "right_hip", "right_foot", "left_ankle"), 0.38 * HUMERUS),
    ("nplane", ("origin", "up", "floor", "right_ankle"), 1.2 * HUMERUS),
    ("nplane", ("origin", "up", "floor", "left_ankle"), 1.2 * HUMERUS),
    ("nplane", ("left_hip", "right_hip", "left_ankle", "right_ankle"), 2.1 * HIP_WIDTH),
    ("angle", ("right_knee", "right_hip", "right_knee", "right_ankle"), (0.0, 110.0)),
    ("angle", ("left_knee", "left_hip", "left_knee", "left_ankle"), (0.0, 110.0)),
    ("fast", ("right_ankle",), 2.5 * HUMERUS),
    ("fast", ("left_ankle",), 2.5 * HUMERUS),
    ("angle", ("neck", "pelvis", "right_shoulder", "right_elbow"), (25.0, 180.0)),
    ("angle", ("neck", "pelvis", "left_shoulder", "left_elbow"), (25.0, 180.0)),
    ("angle", ("neck", "pelvis", "right_hip", "right_knee"), (50.0, 180.0)),
    ("angle", ("neck", "pelvis", "left_hip", "left_knee"), (50.0, 180.0)),
    ("plane", ("right_ankle", "neck", "left_ankle", "pelvis"), 0.5 * HUMERUS),
    ("angle", ("neck", "pelvis", "origin", "up"), (70.0, 110.0)),
    ("nplane", ("origin", "down", "floor", "right_wrist"), -1.2 * HUMERUS),
    ("nplane", ("origin", "down", "floor", "left_wrist"), -1.2 * HUMERUS),
    ("fast", ("pelvis",), 2.3 * HUMERUS),
)
_JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
_UP = np.array([0.0, 0.0, 1.0])


def _point(name: str, frames: np.ndarray) -> np.ndarray:
    """(F, 3) positions of a named joint or reference point in each frame of (F, J, 3)."""
    if name == "origin":
        return np.zeros((len(frames), 3))
    if name in ("up", "down"):
        return np.broadcast_to(_UP if name == "up" else -_UP, (len(frames), 3))
    if name == "floor":  # the lowest joint's height, under the origin
        floor = np.zeros((len(frames), 3))
        floor[:, 2] = frames[..., 2].min(axis=1)
        return floor
    return frames[:, _JOINT_INDEX[name]]


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("fi,fi->f", a, b)


def _along(vector: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Component of vector along direction (NaN where the direction is zero: the relation fails)."""
    return _dot(vector, direction) / np.linalg.norm(direction, axis=-1)


def _relation(kind: str, names: tuple[str, ...], bound, current: np.ndarray, previous: np.ndarray,
              speed_scale: float) -> np.ndarray:
    """(F,) bool: the relation on each frame (current) given the frame before it (previous)."""
    now = [_point(n, current) for n in names]
    if kind == "plane":
        a, b, c, p = now
        return _along(p - a, np.cross(c - a, b - a)) > bound
    if kind == "nplane":
        n1, n2, a, p = now
        return _along(p - a, n2 - n1) > bound
    if kind == "angle":
        j1, j2, k1, k2 = now
        cosine = _dot(j2 - j1, k2 - k1) / (np.linalg.norm(j2 - j1, axis=-1) * np.linalg.norm(k2 - k1, axis=-1))
        angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
        return (angle > bound[0]) & (angle < bound[1])
    before = [_point(n, previous) for n in names]
    if kind == "fast":
        return np.linalg.norm(now[0] - before[0], axis=-1) * speed_scale > bound
    relative_step = (now[-1] - now[0]) - (before[-1] - before[0])
    if kind == "move":
        direction = now[1] - now[0]
    elif kind == "nmove":
        direction = np.cross(now[2] - now[0], now[1] - now[0])
    else:
        raise ValueError(f"unknown relation kind {kind!r}")
    return _along(relative_step, direction) * speed_scale > bound


def geometric_features(joints: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """(32,) float32: fraction of frames 1..T-1 on which each relation holds."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (len(JOINT_NAMES), 3):
        raise ValueError(f"expected joints of shape (T, 24, 3), got {joints.shape}")
    if len(joints) < 2:
        raise ValueError(f"geometric features need at least 2 frames, got {len(joints)}")
    current, previous = joints[1:], joints[:-1]
    speed_scale = SPEED_FACTOR * fps
    with np.errstate(invalid="ignore", divide="ignore"):  # degenerate directions -> NaN -> False
        table = [_relation(kind, names, bound, current, previous, speed_scale)
                 for kind, names, bound in RELATIONS]
    return np.mean(np.stack(table, axis=1), axis=0).astype(np.float32)
