"""Physical Foot Contact score (EDGE, Tseng et al. 2023), on joint positions (T, 24, 3), Z-up.

EDGE's eval_pfc.py works on z-up joints too (its `up_dir = 2`), so its axes carry over unchanged:
horizontal = (x, y), vertical = z. Per frame: the root's acceleration (vertical part clamped to
>= 0, so free fall is not penalised) normalised by its maximum over the sequence, times the
smaller horizontal speed of the left ankle/foot, times that of the right ankle/foot. The sequence
score is the mean over frames; EDGE reports the mean over sequences x 10^4. Lower is better.
"""
from __future__ import annotations

import numpy as np

PFC_SCALE = 1e4
LEFT_FOOT_JOINTS = (7, 10)     # left ankle, left foot (toe)
RIGHT_FOOT_JOINTS = (8, 11)    # right ankle, right foot
UP_AXIS = 2


def physical_foot_contact(joints: np.ndarray, fps: float = 30.0) -> float:
    """PFC of one sequence, already x 10^4 (so the mean over songs is EDGE's number)."""
    joints = np.asarray(joints, dtype=np.float64)
    if len(joints) < 3:
        raise ValueError(f"PFC needs at least 3 frames, got {len(joints)}")
    dt = 1.0 / fps
    root = joints[:, 0]
    root_acceleration = np.diff(root, n=2, axis=0) / dt ** 2          # (T-2, 3)
    root_acceleration[:, UP_AXIS] = np.maximum(root_acceleration[:, UP_AXIS], 0.0)
    magnitude = np.linalg.norm(root_acceleration, axis=-1)
    peak = magnitude.max()
    # EDGE divides by the peak unguarded; a root that never accelerates has no implausible
    # contact to penalise, so it scores 0 instead of 0/0.
    weight = magnitude / peak if peak > 0 else np.zeros_like(magnitude)

    # Horizontal per-frame displacement (not divided by dt), frames 1..T-2 -> 2..T-1, as EDGE.
    step = joints[2:, :, :UP_AXIS] - joints[1:-1, :, :UP_AXIS]
    speed = np.linalg.norm(step, axis=-1)                               # (T-2, 24)
    left = speed[:, list(LEFT_FOOT_JOINTS)].min(axis=1)
    right = speed[:, list(RIGHT_FOOT_JOINTS)].min(axis=1)
    return float(np.mean(left * right * weight) * PFC_SCALE)
