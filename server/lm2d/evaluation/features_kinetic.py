"""Kinetic motion features (72-dim), as the AIST++ API / Bailando compute them for FID_k.

Per joint, in joint order: mean horizontal kinetic energy, mean vertical kinetic energy and mean
energy expenditure (acceleration magnitude), each over frames 1..T-1, with velocities and
accelerations averaged over a sliding window of +-2 frames that is cut at the sequence ends.
The reference works on y-up data (horizontal = x, z); ours is Z-up (horizontal = x, y; vertical =
z): the same quantities, since the conversion is a rotation about X. Unit masses, as there.
"""
from __future__ import annotations

import numpy as np

SLIDING_WINDOW = 2
NUM_KINETIC_FEATURES = 72
UP_AXIS = 2


def _window_bounds(num_frames: int, last: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For frames i = 1..T-1: the first and last step index k in [max(1, i-w), min(last, i+w)]."""
    frames = np.arange(1, num_frames)
    return np.maximum(1, frames - window), np.minimum(last, frames + window)


def windowed_velocity(joints: np.ndarray, fps: float, window: int = SLIDING_WINDOW) -> np.ndarray:
    """(T-1, J, 3): mean of the steps p[k] - p[k-1] over the window around each frame i >= 1, per
    second. The sum of steps telescopes to p[last] - p[first - 1]."""
    first, last = _window_bounds(len(joints), len(joints) - 1, window)
    count = (last - first + 1)[:, None, None]
    return (joints[last] - joints[first - 1]) / count * fps


def windowed_acceleration(joints: np.ndarray, fps: float, window: int = SLIDING_WINDOW) -> np.ndarray:
    """(T-1, J, 3): mean of the second differences p[k+1] - 2 p[k] + p[k-1] over the window around
    each frame i >= 1 (k <= T-2), per second squared; the sum telescopes to the difference of the
    last and first steps."""
    first, last = _window_bounds(len(joints), len(joints) - 2, window)
    count = (last - first + 1)[:, None, None]
    end_step = joints[last + 1] - joints[last]
    start_step = joints[first] - joints[first - 1]
    return (end_step - start_step) / count * fps ** 2


def kinetic_features(joints: np.ndarray, fps: float = 30.0, window: int = SLIDING_WINDOW) -> np.ndarray:
    """(72,) float32: [horizontal energy, vertical energy, energy expenditure] for each of 24 joints."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"expected joints of shape (T, J, 3), got {joints.shape}")
    if len(joints) < 3:
        raise ValueError(f"kinetic features need at least 3 frames, got {len(joints)}")
    velocity = windowed_velocity(joints, fps, window)
    horizontal = np.mean(np.sum(np.delete(velocity, UP_AXIS, axis=-1) ** 2, axis=-1), axis=0)
    vertical = np.mean(velocity[..., UP_AXIS] ** 2, axis=0)
    expenditure = np.mean(np.linalg.norm(windowed_acceleration(joints, fps, window), axis=-1), axis=0)
    return np.stack([horizontal, vertical, expenditure], axis=-1).reshape(-1).astype(np.float32)
