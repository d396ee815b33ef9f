"""Two-bone inverse kinematics and the easing curve that the choreographer's renderer, the foot
lock and the video fit share (numpy, any leading batch shape)."""
from __future__ import annotations

import numpy as np


def smoothstep(s: np.ndarray) -> np.ndarray:
    """Ease in and out: 0 -> 1 with zero slope at both ends."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frame with first axis a and second axis b made orthogonal to a."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - (b * a).sum(-1, keepdims=True) * a
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float, lower: float,
                rest_upper: np.ndarray, rest_lower: np.ndarray, rest_pole: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global rotations of the upper and lower bone so the chain from `root` ends at `target`
    (or as close as it reaches) with its middle joint bent towards `pole`. rest_* are the
    bones' rest directions and the rest-pose direction the middle joint bends towards.
    Returns (G_upper, G_lower, reached end position)."""
    to_target = target - root
    distance = np.linalg.norm(to_target, axis=-1, keepdims=True)
    direction = to_target / np.maximum(distance, 1e-9)
    reach = np.clip(distance, abs(upper - lower) + 1e-3, (upper + lower) * 0.9995)
    bend = pole - (pole * direction).sum(-1, keepdims=True) * direction
    bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    cos_hip = np.clip((upper ** 2 + reach ** 2 - lower ** 2) / (2 * upper * reach), -1.0, 1.0)
    middle = root + upper * (cos_hip * direction + np.sqrt(1 - cos_hip ** 2) * bend)
    end = root + reach * direction
    upper_dir = (middle - root) / upper
    lower_dir = (end - middle) / np.linalg.norm(end - middle, axis=-1, keepdims=True)
    rest_upper_frame = _frame(rest_upper, rest_pole)
    rest_lower_frame = _frame(rest_lower, rest_pole)
    g_upper = _frame(upper_dir, bend) @ np.swapaxes(rest_upper_frame, -1, -2)
    g_lower = _frame(lower_dir, bend) @ np.swapaxes(rest_lower_frame, -1, -2)
    return g_upper, g_lower, end
