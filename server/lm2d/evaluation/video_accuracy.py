"""How well a motion recovered from video matches the truth (numpy only; docs/METRICS.md).

PA-MPJPE: per frame, the estimate's body joints are aligned to the truth's by the best
similarity transform (Procrustes: rotation, translation, scale), then the mean Euclidean joint
error is taken; the score is its mean over frames, in metres.
Foot skating: the mean horizontal speed of a foot joint while it is on the floor, in m/s.
"""
from __future__ import annotations

import numpy as np

# Pelvis, hips, knees, ankles, neck, head, shoulders, elbows, wrists (SMPL indices).
BODY_JOINTS = (0, 1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21)
FOOT_JOINTS = (7, 8, 10, 11)          # ankles and toes
FLOOR_MARGIN = 0.03                   # metres above the floor that still count as standing on it
FLOOR_PERCENTILE = 2.0                # the floor: this percentile of each foot joint's height


def procrustes_align(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """`estimate` (T, J, 3) moved onto `truth` (T, J, 3) frame by frame by the similarity transform
    (rotation without reflection, uniform scale, translation) that minimises the squared error."""
    estimate = np.asarray(estimate, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if estimate.shape != truth.shape or estimate.ndim != 3 or estimate.shape[-1] != 3:
        raise ValueError(f"need two (T, J, 3) arrays of one shape, got {estimate.shape} and {truth.shape}")
    mu_e, mu_t = estimate.mean(axis=1, keepdims=True), truth.mean(axis=1, keepdims=True)
    e, t = estimate - mu_e, truth - mu_t
    covariance = np.einsum("tji,tjk->tik", t, e)                  # (T, 3, 3): sum_j t_j e_j^T
    u, s, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(u @ vt))                          # no reflections
    d = np.ones_like(s)
    d[:, -1] = sign
    rotation = u @ (d[:, :, None] * vt)
    variance = np.einsum("tji,tji->t", e, e)
    scale = np.einsum("ti,ti->t", s, d) / np.maximum(variance, 1e-12)
    return scale[:, None, None] * np.einsum("tik,tjk->tji", rotation, e) + mu_t


def pa_mpjpe(estimate: np.ndarray, truth: np.ndarray, joints=BODY_JOINTS) -> float:
    """Mean per-joint position error after per-frame Procrustes alignment, metres, over
    `joints` of two (T, 24, 3) joint-position arrays of the same length."""
    estimate = np.asarray(estimate, dtype=np.float64)[:, list(joints)]
    truth = np.asarray(truth, dtype=np.float64)[:, list(joints)]
    aligned = procrustes_align(estimate, truth)
    return float(np.linalg.norm(aligned - truth, axis=-1).mean())


def foot_skating(joints: np.ndarray, fps: float = 30.0) -> float:
    """Mean horizontal speed (m/s) of the ankle and toe joints over the frames where each is on the
    floor (within FLOOR_MARGIN of its own lowest height in the clip, Z-up). 0 when none touches."""
    joints = np.asarray(joints, dtype=np.float64)
    feet = joints[:, list(FOOT_JOINTS)]                            # (T, 4, 3)
    if len(feet) < 2:
        return 0.0
    floor = np.percentile(feet[..., 2], FLOOR_PERCENTILE, axis=0)  # (4,)
    step = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1) * fps   # (T-1, 4)
    on_floor = (feet[1:, :, 2] < floor + FLOOR_MARGIN) & (feet[:-1, :, 2] < floor + FLOOR_MARGIN)
    return float(step[on_floor].mean()) if on_floor.any() else 0.0
