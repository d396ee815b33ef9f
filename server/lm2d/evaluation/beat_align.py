"""Beat Alignment Score (Bailando, Li et al. 2022), on joint positions (T, 24, 3) at 30 FPS.

Kinetic velocity is the mean over joints of each joint's per-frame displacement; after a
Gaussian smoothing (sigma 5 frames) its strict local minima are the motion beats. Every music
beat scores exp(-d^2 / (2 * 3^2)), d the distance in frames to the nearest motion beat; the score
is the mean over music beats. Index k of the kinetic velocity is the step from frame k to k+1, and
music beats are compared with it directly, as Bailando does. See docs/METRICS.md.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

SMOOTHING_SIGMA_FRAMES = 5.0
BEAT_TOLERANCE_FRAMES = 3.0


def kinetic_velocity(joints: np.ndarray) -> np.ndarray:
    """(T-1,) mean over joints of the distance each joint moves from frame k to k+1 (metres)."""
    joints = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=1)


def smoothed_kinetic_velocity(joints: np.ndarray, sigma: float = SMOOTHING_SIGMA_FRAMES) -> np.ndarray:
    # scipy's default 'reflect' boundary, as Bailando's gaussian_filter call uses.
    return gaussian_filter1d(kinetic_velocity(joints), sigma)


def motion_beats(joints: np.ndarray, sigma: float = SMOOTHING_SIGMA_FRAMES) -> np.ndarray:
    """Frame indices of the strict local minima of the smoothed kinetic velocity."""
    return argrelextrema(smoothed_kinetic_velocity(joints, sigma), np.less)[0]


def beat_times_to_frames(beat_times: np.ndarray, fps: float) -> np.ndarray:
    """Beat times in seconds to the nearest frame index."""
    return np.rint(np.asarray(beat_times, dtype=np.float64) * fps).astype(np.int64)


def beat_alignment_score(joints: np.ndarray, music_beat_frames: np.ndarray,
                         sigma: float = SMOOTHING_SIGMA_FRAMES) -> float:
    """Mean over music beats (inside the motion) of exp(-d^2 / 18). NaN when no music beat falls
    inside the motion (the score is undefined there); 0 when the motion has no beat at all (a
    still body aligns with nothing)."""
    joints = np.asarray(joints)
    beats = np.asarray(music_beat_frames, dtype=np.int64)
    beats = beats[(beats >= 0) & (beats < len(joints) - 1)]
    if beats.size == 0:
        return float("nan")
    dance = motion_beats(joints, sigma)
    if dance.size == 0:
        return 0.0
    nearest = np.min(np.abs(beats[:, None] - dance[None, :]), axis=1)
    return float(np.mean(np.exp(-(nearest.astype(np.float64) ** 2) / (2 * BEAT_TOLERANCE_FRAMES ** 2))))
