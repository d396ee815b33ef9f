"""The SMPL skeleton lm2d uses everywhere: 24 joints, Z-up, metres, pelvis at the origin.

The rest pose is the T-pose given in docs/REFERENCE (summed from EDGE's per-joint offsets,
y-up). It is converted once, here, to Z-up: every other module sees Z-up only. Identity local
rotations put the body in this rest pose standing along +Z, facing -Y (SMPL faces +Z in its
own y-up frame; +90 degrees about X sends +Z to -Y).
"""
from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = len(JOINT_NAMES)
# Joint i of a mirrored body is joint MIRROR[i] of the original (left_* <-> right_*).
MIRROR = tuple(JOINT_NAMES.index(name.replace("left_", "#").replace("right_", "left_").replace("#", "right_"))
               for name in JOINT_NAMES)


def mirrored_joints(joints: np.ndarray) -> np.ndarray:
    """(..., 24, 3) joint positions reflected left to right (x negated, left and right swapped)."""
    return joints[..., list(MIRROR), :] * np.array([-1.0, 1.0, 1.0], dtype=joints.dtype)


# Parent of each joint; every parent comes before its children (forward kinematics relies on it).
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

# Rest-pose joint positions relative to the pelvis, metres, y-up (SMPL's own frame).
REST_POSITIONS_Y_UP = np.array([
    [0.000, 0.000, 0.000],      # pelvis
    [0.059, -0.082, -0.018],    # left_hip
    [-0.060, -0.091, -0.014],   # right_hip
    [0.004, 0.124, -0.038],     # spine1
    [0.102, -0.469, -0.010],    # left_knee
    [-0.104, -0.474, -0.018],   # right_knee
    [0.009, 0.262, -0.012],     # spine2
    [0.087, -0.896, -0.047],    # left_ankle
    [-0.085, -0.894, -0.053],   # right_ankle
    [0.007, 0.318, -0.009],     # spine3
    [0.128, -0.956, 0.075],     # left_foot
    [-0.119, -0.956, 0.077],    # right_foot
    [-0.007, 0.530, -0.042],    # neck
    [0.078, 0.432, -0.028],     # left_collar
    [-0.076, 0.431, -0.032],    # right_collar
    [0.003, 0.619, 0.008],      # head
    [0.201, 0.478, -0.047],     # left_shoulder
    [-0.190, 0.478, -0.041],    # right_shoulder
    [0.457, 0.462, -0.070],     # left_elbow
    [-0.450, 0.463, -0.072],    # right_elbow
    [0.722, 0.475, -0.077],     # left_wrist
    [-0.719, 0.470, -0.078],    # right_wrist
    [0.809, 0.464, -0.093],     # left_hand
    [-0.808, 0.462, -0.088],    # right_hand
], dtype=np.float64)

# +90 degrees about X: y-up vectors to Z-up (y -> z, z -> -y).
Y_UP_TO_Z_UP = np.array([
    [1.0, 0.0, 0.0],
    [0.0, 0.0, -1.0],
    [0.0, 1.0, 0.0],
])

FOOT_JOINTS: tuple[int, ...] = (7, 8, 10, 11)   # ankles and feet: EDGE's contact joints
LOWER_BODY_JOINTS: tuple[int, ...] = (0, 1, 2, 4, 5, 7, 8, 10, 11)
UPPER_BODY_JOINTS: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in LOWER_BODY_JOINTS)


def rest_positions() -> np.ndarray:
    """(24, 3) float32 rest joint positions, Z-up, metres, pelvis at the origin."""
    return (REST_POSITIONS_Y_UP @ Y_UP_TO_Z_UP.T).astype(np.float32)


def rest_offsets() -> np.ndarray:
    """(24, 3) float32 offset of each joint from its parent in the Z-up rest pose (pelvis: 0)."""
    rest = rest_positions()
    offsets = rest.copy()
    offsets[1:] -= rest[list(PARENTS[1:])]
    return offsets


def children(joint: int) -> tuple[int, ...]:
    """Direct children of a joint, in joint order."""
    return tuple(j for j, parent in enumerate(PARENTS) if parent == joint)
