"""Foot lock: a foot that the dance puts down stays where it was put down.

A network's dance slides its planted feet a little (the windows are denoised as a whole, and
nothing in the loss pins a foot to one spot), which reads as skating and which EDGE's physical
foot-contact score (PFC) punishes. Animation tools clean this up the same way for mocap:

1. contacts: per foot, the frames where the ankle or the toe is near its floor height and moves
   slower than CONTACT_SPEED horizontally; one-frame gaps are closed, blips shorter than
   MIN_CONTACT_FRAMES dropped;
2. pins: during each contact the foot is shifted horizontally so that its planted point (the
   ankle or the toe, whichever slides less: a pivot turns on the ball of the foot) stays at its
   median spot; the shift eases in and out over BLEND_FRAMES either side, so a step still lifts
   and lands where the dance put it;
3. the leg reaches the shifted ankle by two-bone IK from the unchanged hip, bending in the leg's
   own plane; the foot keeps its orientation, heights are never changed.

Only the hip, knee and ankle rotations change; the pelvis, the upper body and the timing are the
network's. Frames in `hold` (an edit's kept frames) are never changed, and the lock fades in
over BLEND_FRAMES away from them.
"""
from __future__ import annotations

import numpy as np
import torch

from lm2d.motion.kinematics import forward_kinematics_with_rotations
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import PARENTS

# (hip, knee, ankle, toe) joints of each leg
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))
CONTACT_SPEED = 0.3          # m/s horizontally: EDGE's contact threshold (0.01 m per frame at 30 FPS)
FLOOR_MARGIN = 0.05          # m above the joint's floor height (its 5th percentile over the dance)
FLOOR_PERCENTILE = 5
MIN_CONTACT_FRAMES = 4
BLEND_FRAMES = 4


def lock_feet(motion: Motion, hold: np.ndarray | None = None) -> Motion:
    """The motion with its planted feet pinned (see the module's docstring). hold: (T,) bool,
    frames to leave exactly as they are. Motions under MIN_CONTACT_FRAMES frames come back as
    they are."""
    if motion.n_frames < MIN_CONTACT_FRAMES:
        return motion
    joints, global_rotations = (t.numpy() for t in forward_kinematics_with_rotations(
        torch.from_numpy(motion.root_translation).double(), torch.from_numpy(motion.local_rotmats).double()))
    freedom = _freedom(hold, motion.n_frames)
    local = motion.local_rotmats.astype(np.float64).copy()
    for hip, knee, ankle, toe in LEGS:
        shift = _pin_shift(joints[:, ankle], joints[:, toe], motion.fps) * freedom[:, None]
        moved = np.flatnonzero(np.abs(shift).max(axis=1) > 1e-6)
        if moved.size == 0:
            continue
        target = joints[moved, ankle].copy()
        target[:, :2] += shift[moved]
        hip_rotation, knee_rotation = _two_bone_ik(
            joints[moved, hip], joints[moved, knee], joints[moved, ankle], target,
            global_rotations[moved, hip], global_rotations[moved, knee])
        parent = global_rotations[moved, PARENTS[hip]]
        local[moved, hip] = _transpose(parent) @ hip_rotation
        local[moved, knee] = _transpose(hip_rotation) @ knee_rotation
        local[moved, ankle] = _transpose(knee_rotation) @ global_rotations[moved, ankle]   # foot keeps its turn
    return Motion(motion.root_translation, local.astype(np.float32), motion.fps)


def foot_contacts(ankle: np.ndarray, toe: np.ndarray, fps: float) -> np.ndarray:
    """(T,) bool: the foot is planted (the module docstring's rule 1), from its ankle and toe
    positions (T, 3), Z-up."""
    planted = np.zeros(len(ankle), dtype=bool)
    for point in (ankle, toe):
        floor = np.percentile(point[:, 2], FLOOR_PERCENTILE)
        planted |= (point[:, 2] < floor + FLOOR_MARGIN) & (_horizontal_speed(point, fps) < CONTACT_SPEED)
    return _drop_short(_close_gaps(planted, 1), MIN_CONTACT_FRAMES)


def contact_spans(planted: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] frames of each run of True."""
    edges = np.diff(np.concatenate([[0], planted.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _pin_shift(ankle: np.ndarray, toe: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) horizontal shift of the foot that holds each contact's planted point still."""
    frames = len(ankle)
    shift = np.zeros((frames, 2))
    weight = np.zeros(frames)
    for first, last in contact_spans(foot_contacts(ankle, toe, fps)):
        span = slice(first, last + 1)
        pivot = min((ankle, toe), key=lambda p: np.abs(np.diff(p[span, :2], axis=0)).sum())[span, :2]
        pin = np.median(pivot, axis=0)
        shift[span] = pin - pivot
        weight[span] = 1.0
        # Ease in before the contact and out after it, from the contact's first and last shift.
        for edge, frames_away in ((first, np.arange(BLEND_FRAMES, 0, -1)), (last, np.arange(1, BLEND_FRAMES + 1))):
            index = edge - frames_away if edge == first else edge + frames_away
            inside = (index >= 0) & (index < frames)
            index, ease = index[inside], _smoothstep(1 - frames_away[inside] / (BLEND_FRAMES + 1))
            free = weight[index] < 1.0     # never ease over another contact's own frames
            shift[index[free]] += ease[free, None] * (pin - pivot[0 if edge == first else -1])
    return shift


def _two_bone_ik(hip, knee, ankle, target, hip_rotation, knee_rotation):
    """Global hip and knee rotations (N, 3, 3) that put the ankle on `target` (clamped to the
    leg's reach), the knee staying in the plane of hip, knee and target (the leg's own bend)."""
    thigh = np.linalg.norm(knee - hip, axis=1)
    shin = np.linalg.norm(ankle - knee, axis=1)
    to_target = target - hip
    distance = np.clip(np.linalg.norm(to_target, axis=1), np.abs(thigh - shin) + 1e-4, thigh + shin - 1e-4)
    along = _unit(to_target)
    # The bend direction: the original knee's offset across the hip-target line, or, for a
    # straight leg, the knee's forward axis (-Y in the rest pose) across it.
    bend = knee - hip - along * np.einsum("ij,ij->i", knee - hip, along)[:, None]
    forward = -hip_rotation[:, :, 1]
    forward = forward - along * np.einsum("ij,ij->i", forward, along)[:, None]
    bend = np.where((np.linalg.norm(bend, axis=1) > 0.01)[:, None], bend, forward)
    bend = _unit(bend)
    cos_hip = np.clip((thigh ** 2 + distance ** 2 - shin ** 2) / (2 * thigh * distance), -1.0, 1.0)
    new_knee = hip + thigh[:, None] * (cos_hip[:, None] * along + np.sqrt(1 - cos_hip ** 2)[:, None] * bend)
    new_ankle = hip + distance[:, None] * along
    swing_thigh = _rotation_between(knee - hip, new_knee - hip)
    new_hip_rotation = swing_thigh @ hip_rotation
    turned_shin = np.einsum("nij,nj->ni", swing_thigh, ankle - knee)
    new_knee_rotation = _rotation_between(turned_shin, new_ankle - new_knee) @ swing_thigh @ knee_rotation
    return new_hip_rotation, new_knee_rotation


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) shortest rotations taking directions a to b (Rodrigues)."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    cos = np.einsum("ij,ij->i", a, b)
    skew = np.zeros((len(a), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    skew -= _transpose(skew)
    return np.eye(3) + skew + skew @ skew / (1.0 + np.maximum(cos, -1 + 1e-9))[:, None, None]


def _freedom(hold: np.ndarray | None, frames: int) -> np.ndarray:
    """(T,) 0 on held frames, rising to 1 over BLEND_FRAMES away from them."""
    if hold is None or not np.any(hold):
        return np.ones(frames)
    held = np.flatnonzero(hold)
    nearest = np.abs(np.arange(frames)[:, None] - held[None, :]).min(axis=1)
    return np.clip(nearest / (BLEND_FRAMES + 1), 0.0, 1.0)


def _horizontal_speed(point: np.ndarray, fps: float) -> np.ndarray:
    return np.linalg.norm(np.gradient(point[:, :2], axis=0), axis=1) * fps


def _close_gaps(mask: np.ndarray, longest: int) -> np.ndarray:
    out = mask.copy()
    for first, last in contact_spans(~mask):
        if first > 0 and last < len(mask) - 1 and last - first + 1 <= longest:
            out[first:last + 1] = True
    return out


def _drop_short(mask: np.ndarray, shortest: int) -> np.ndarray:
    out = mask.copy()
    for first, last in contact_spans(mask):
        if last - first + 1 < shortest:
            out[first:last + 1] = False
    return out


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * (3 - 2 * u)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _transpose(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)
