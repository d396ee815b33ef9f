"""Body-usage statistics: how much of the body a dance uses, on world joint positions (T, 24, 3),
Z-up metres, SMPL joint order. Every length is divided by the body height, so a child's capture
and an adult's compare. Definitions and the choices behind them: docs/METRICS.md.

The statistics are defined at 30 FPS (speeds change little with the rate, jerk a lot): a motion
at another rate is first resampled to 30 FPS by linear interpolation of the positions.
"""
from __future__ import annotations

import numpy as np

RATE = 30.0                  # frames per second the statistics are defined at
SKULL = 0.1                  # metres from the SMPL head joint to the top of the skull
HEIGHT_PERCENTILE = 90       # of head-joint height above the lower ankle, over frames
UP = 2                       # Z-up

PELVIS, LEFT_HIP, RIGHT_HIP, NECK, HEAD = 0, 1, 2, 12, 15
KNEES, ANKLES, ELBOWS, WRISTS = (4, 5), (7, 8), (18, 19), (20, 21)

# Field name -> unit, in the order reports show them.
FIELDS: dict[str, str] = {
    "wrist_speed": "heights/s",       # wrists relative to the pelvis
    "head_speed": "heights/s",        # head relative to the pelvis
    "pelvis_speed": "heights/s",      # pelvis in the world
    "trunk_tilt_p95": "degrees",      # pelvis->neck from vertical, 95th percentile
    "hip_yaw_rate": "degrees/s",      # turning of the hip line about the vertical
    "pelvis_height_std": "heights",   # std of the pelvis height
    "floor_travel": "heights/s",      # horizontal pelvis path length per second
    "jerk": "heights/s^3",            # mean third-derivative magnitude over all joints
    "knee_flexion_p95": "degrees",    # 180 - hip-knee-ankle angle, 95th percentile (both knees)
    "knee_flexion_std": "degrees",
    "legs_arms_ratio": "",            # (knee + ankle speed) / (wrist + elbow speed), pelvis-relative
}
FIELD_NAMES: tuple[str, ...] = tuple(FIELDS)
MIN_FRAMES = 4               # jerk needs a third difference


def body_height(joints: np.ndarray) -> float:
    """Metres: 90th percentile over frames of the head joint's height above the lower ankle,
    plus SKULL. A percentile rather than the maximum so a jump or a stretched-up frame does
    not set the scale, and not the median so crouched grooves do not shrink it."""
    lower_ankle = joints[:, list(ANKLES), UP].min(axis=1)
    return float(np.percentile(joints[:, HEAD, UP] - lower_ankle, HEIGHT_PERCENTILE) + SKULL)


def resample_positions(joints: np.ndarray, fps: float, rate: float = RATE) -> np.ndarray:
    """Linear interpolation of every coordinate onto a `rate` grid from t=0 to the last frame."""
    if abs(fps - rate) < 1e-9:
        return joints
    source = np.arange(len(joints)) / fps
    target = np.arange(0.0, source[-1] + 1e-9, 1.0 / rate)
    flat = joints.reshape(len(joints), -1)
    out = np.stack([np.interp(target, source, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(target), *joints.shape[1:])


def body_usage(joints: np.ndarray, fps: float = RATE) -> dict[str, float]:
    """Every FIELDS statistic of one motion (T, 24, 3), Z-up metres, at `fps`."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (24, 3):
        raise ValueError(f"expected joint positions (T, 24, 3), got {joints.shape}")
    joints = resample_positions(joints, float(fps))
    if len(joints) < MIN_FRAMES:
        raise ValueError(f"body usage needs at least {MIN_FRAMES} frames at {RATE:g} FPS, got {len(joints)}")
    height = body_height(joints)
    scaled = joints / height
    relative = scaled - scaled[:, PELVIS:PELVIS + 1]

    def mean_speed(positions: np.ndarray, group: tuple[int, ...]) -> float:
        return float(np.linalg.norm(np.diff(positions[:, list(group)], axis=0), axis=-1).mean() * RATE)

    knee = knee_flexion(joints)
    legs = mean_speed(relative, KNEES) + mean_speed(relative, ANKLES)
    arms = mean_speed(relative, WRISTS) + mean_speed(relative, ELBOWS)
    pelvis_floor = scaled[:, PELVIS, :UP]
    seconds = (len(joints) - 1) / RATE
    third = np.diff(scaled, n=3, axis=0) * RATE ** 3
    return {
        "wrist_speed": mean_speed(relative, WRISTS),
        "head_speed": mean_speed(relative, (HEAD,)),
        "pelvis_speed": mean_speed(scaled, (PELVIS,)),
        "trunk_tilt_p95": float(np.percentile(trunk_tilt(joints), 95)),
        "hip_yaw_rate": float(np.degrees(np.abs(np.diff(hip_yaw(joints))).mean()) * RATE),
        "pelvis_height_std": float(scaled[:, PELVIS, UP].std()),
        "floor_travel": float(np.linalg.norm(np.diff(pelvis_floor, axis=0), axis=-1).sum() / seconds),
        "jerk": float(np.linalg.norm(third, axis=-1).mean()),
        "knee_flexion_p95": float(np.percentile(knee, 95)),
        "knee_flexion_std": float(knee.std()),
        "legs_arms_ratio": legs / arms if arms > 0 else float("nan"),
    }


def trunk_tilt(joints: np.ndarray) -> np.ndarray:
    """(T,) degrees between the pelvis->neck vector and the vertical."""
    trunk = joints[:, NECK] - joints[:, PELVIS]
    cosine = trunk[:, UP] / np.maximum(np.linalg.norm(trunk, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def hip_yaw(joints: np.ndarray) -> np.ndarray:
    """(T,) radians, unwrapped: heading of the left-hip->right-hip vector on the floor plane."""
    hips = joints[:, RIGHT_HIP] - joints[:, LEFT_HIP]
    return np.unwrap(np.arctan2(hips[:, 1], hips[:, 0]))


def knee_flexion(joints: np.ndarray) -> np.ndarray:
    """(2T,) degrees, both legs: 180 minus the hip-knee-ankle angle (0 = straight leg)."""
    angles = []
    for hip, knee, ankle in ((LEFT_HIP, KNEES[0], ANKLES[0]), (RIGHT_HIP, KNEES[1], ANKLES[1])):
        thigh, shin = joints[:, hip] - joints[:, knee], joints[:, ankle] - joints[:, knee]
        cosine = (thigh * shin).sum(-1) / np.maximum(np.linalg.norm(thigh, axis=-1) * np.linalg.norm(shin, axis=-1), 1e-12)
        angles.append(180.0 - np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
    return np.concatenate(angles)


def mean_body_usage(motions, fps: float = RATE) -> dict[str, float]:
    """Mean of each statistic over several motions (e.g. one per song)."""
    values = [body_usage(m, fps) for m in motions]
    return {name: float(np.nanmean([v[name] for v in values])) for name in FIELD_NAMES}
