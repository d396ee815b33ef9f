"""Foot lock: a foot that the dance puts down stays where it was put down.

A network's dance slides its planted feet a little (the windows are denoised as a whole, and
nothing in the loss pins a foot to one spot), which reads as skating and which EDGE's physical
foot-contact score (PFC) punishes, and it drifts a few centimetres through the floor and above it
(model v4's demo: the lowest toe from 18 cm under the floor to 0.4 cm over it, median 1.5 cm
under), which a preview shows as a figure hovering over its shadow. Animation tools clean this up
the same way for mocap:

0. the floor: the whole body is moved up or down, frame by frame, so that the lower toe stands on
   the floor (z = 0), as the corpus's dancer always does, but in a jump: where the lower toe is
   more than JUMP_HEIGHT above its level over AIR_WINDOW either side (a running median), both
   feet are off the floor and keep that height over it;
1. contacts: per foot, the frames where the ankle or the toe is near its floor height and moves
   slower than CONTACT_SPEED horizontally, and lasting while the foot stays down and level and
   slides slower than RELEASE_SPEED (hysteresis); breaks of up to MAX_GAP_FRAMES with the foot
   kept flat on the floor are closed, blips shorter than MIN_CONTACT_FRAMES dropped;
2. pins: during each contact the foot is shifted horizontally so that its planted point (the
   ankle or the toe, whichever slides less: a pivot turns on the ball of the foot) stays at its
   median spot, for as long as the leg can reach that spot (else the contact is split); the shift
   eases in and out over BLEND_FRAMES either side, so a step still lifts and lands where the
   dance put it;
3. the leg reaches the shifted ankle by two-bone IK from the unchanged hip, bending in the leg's
   own plane; the foot keeps its orientation, heights are never changed.

Only the pelvis height and the hip, knee and ankle rotations change; the pelvis's path on the
floor, the upper body and the timing are the network's. Frames in `hold` (an edit's kept frames) are never changed, and the lock fades in
over BLEND_FRAMES away from them.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d, median_filter

from lm2d.motion.ik import smoothstep, two_bone_ik
from lm2d.motion.kinematics import forward_kinematics_with_rotations
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import PARENTS, rest_positions

# (hip, knee, ankle, toe) joints of each leg
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))
CONTACT_SPEED = 0.3          # m/s horizontally: EDGE's contact threshold (0.01 m per frame at 30 FPS)
RELEASE_SPEED = 1.5          # m/s: a planted foot sliding faster than this is taken to be stepping
LIFT_SPEED = 0.25            # m/s vertically: a foot rising or landing faster than this is stepping
DETECTION_SMOOTHING = 2.0    # frames (Gaussian sigma) of smoothing before contacts are judged
FLOOR_MARGIN = 0.05          # m above the joint's floor height (its 5th percentile over the dance)
FLOOR_PERCENTILE = 5
MIN_CONTACT_FRAMES = 4
MAX_GAP_FRAMES = 4           # a break in contact this short is a slip, not a step (a step takes 6+ frames)
BLEND_FRAMES = 4
REACH = 0.995                # of the leg's length: how far from the hip a planted foot may stay
KNEE_FORWARD = np.array([0.0, -1.0, 0.0])   # where a rest-pose knee bends (the body faces -Y)
AIR_WINDOW = 0.5             # seconds either side: the level a jump rises from (a running median)
JUMP_HEIGHT = 0.03           # m: the lower toe this far over that level is a jump
FLOOR_SMOOTHING = 1.0        # frames (Gaussian sigma) of the body's vertical correction


def lock_feet(motion: Motion, hold: np.ndarray | None = None) -> Motion:
    """The motion with its planted feet pinned (see the module's docstring). hold: (T,) bool,
    frames to leave exactly as they are. Motions under MIN_CONTACT_FRAMES frames come back as
    they are."""
    if motion.n_frames < MIN_CONTACT_FRAMES:
        return motion
    joints, global_rotations = (t.numpy().astype(np.float64) for t in forward_kinematics_with_rotations(
        torch.from_numpy(motion.root_translation), torch.from_numpy(motion.local_rotmats)))
    rest = rest_positions()
    freedom = _freedom(hold, motion.n_frames)
    lift = floor_correction(joints[:, [toe for *_, toe in LEGS], 2], motion.fps) * freedom
    joints[..., 2] += lift[:, None]
    root = motion.root_translation.astype(np.float64).copy()
    root[:, 2] += lift
    local = motion.local_rotmats.astype(np.float64).copy()
    for hip, knee, ankle, toe in LEGS:
        thigh, shin = rest[knee] - rest[hip], rest[ankle] - rest[knee]
        reach = REACH * (np.linalg.norm(thigh) + np.linalg.norm(shin))
        shift = _pin_shift(joints[:, ankle], joints[:, toe], joints[:, hip], reach, motion.fps) * freedom[:, None]
        moved = np.flatnonzero(np.abs(shift).max(axis=1) > 1e-6)
        if moved.size == 0:
            continue
        target = joints[moved, ankle].copy()
        target[:, :2] += shift[moved]
        # The knee keeps bending the way it bent; the thigh's forward axis breaks the tie of a straight leg.
        parent_rotation = global_rotations[moved, PARENTS[hip]]
        bend = joints[moved, knee] - joints[moved, hip] + 0.01 * global_rotations[moved, hip] @ KNEE_FORWARD
        hip_rotation, knee_rotation, _ = two_bone_ik(joints[moved, hip], target, bend, np.linalg.norm(thigh),
                                                     np.linalg.norm(shin), thigh, shin, KNEE_FORWARD)
        local[moved, hip] = _transpose(parent_rotation) @ hip_rotation
        local[moved, knee] = _transpose(hip_rotation) @ knee_rotation
        local[moved, ankle] = _transpose(knee_rotation) @ global_rotations[moved, ankle]   # the foot keeps its turn
    return Motion(root.astype(motion.root_translation.dtype), local.astype(np.float32), motion.fps)


def floor_correction(toe_heights: np.ndarray, fps: float) -> np.ndarray:
    """(T,) metres to raise the body by so that the lower of the (T, 2) toe heights stands on the
    floor, or keeps a jump's height over it (the module docstring's rule 0)."""
    lowest = toe_heights.min(axis=1)
    level = median_filter(lowest, size=2 * max(1, round(AIR_WINDOW * fps)) + 1, mode="nearest")
    above = lowest - level
    airborne = np.where(above > JUMP_HEIGHT, above, 0.0)
    return gaussian_filter1d(airborne - lowest, FLOOR_SMOOTHING, mode="nearest")


def foot_contacts(ankle: np.ndarray, toe: np.ndarray, fps: float) -> np.ndarray:
    """(T,) bool: the foot is planted (the module docstring's rule 1), from its ankle and toe
    positions (T, 3), Z-up."""
    still = np.zeros(len(ankle), dtype=bool)
    gliding = np.zeros(len(ankle), dtype=bool)
    lift = np.full(len(ankle), np.inf)          # the lower of ankle and toe above its floor
    for point in (ankle, toe):
        above = point[:, 2] - np.percentile(point[:, 2], FLOOR_PERCENTILE)
        down = above < FLOOR_MARGIN
        # Horizontal speed on the path smoothed over a few frames: a one-step network's
        # frame-to-frame jitter would otherwise hide a planted foot behind its noise. Heights and
        # the lift stay raw, so a quick low step still breaks the contact.
        speed = _horizontal_speed(gaussian_filter1d(point, DETECTION_SMOOTHING, axis=0, mode="nearest"), fps)
        level = np.abs(np.gradient(point[:, 2])) * fps < LIFT_SPEED
        still |= down & (speed < CONTACT_SPEED)
        gliding |= down & level & (speed < RELEASE_SPEED)
        lift = np.minimum(lift, above)
    # Hysteresis: a contact starts where the foot is down and still, and lasts while it stays down
    # and level, sliding slower than RELEASE_SPEED: a network's planted foot drifts faster than a
    # still one, while a step, however low, lifts the foot.
    planted = np.zeros(len(ankle), dtype=bool)
    for start, end in contact_spans(gliding | still):
        if still[start:end].any():
            planted[start:end] = True
    # A short break with the foot kept flat on the floor is a slip inside one contact, not a step.
    for start, end in contact_spans(~planted):
        if 0 < start and end < len(planted) and end - start <= MAX_GAP_FRAMES \
                and lift[start:end].max() < FLOOR_MARGIN / 2:
            planted[start:end] = True
    return _drop_short(planted, MIN_CONTACT_FRAMES)


def contact_spans(planted: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True, as slices: planted[start:end] is the run."""
    edges = np.diff(np.concatenate([[0], planted.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _pin_shift(ankle: np.ndarray, toe: np.ndarray, hip: np.ndarray, reach: float, fps: float) -> np.ndarray:
    """(T, 2) horizontal shift of the foot that holds each contact's planted point still."""
    frames = len(ankle)
    pins = _pins(ankle, toe, hip, reach, fps)
    shift = np.zeros((frames, 2))
    for start, end, pin, pivot in pins:
        shift[start:end] = pin - pivot
    planted = np.zeros(frames, dtype=bool)
    for start, end, _, _ in pins:
        planted[start:end] = True
    # Ease in before each contact and out after it, from the contact's first and last shift,
    # never over another contact's own frames.
    away = np.arange(1, BLEND_FRAMES + 1)
    for start, end, pin, pivot in pins:
        for index, edge_shift in ((start - away, pin - pivot[0]), (end - 1 + away, pin - pivot[-1])):
            inside = (index >= 0) & (index < frames)
            free = inside.copy()
            free[inside] = ~planted[index[inside]]
            ease = smoothstep(1 - away[free] / (BLEND_FRAMES + 1))
            shift[index[free]] += ease[:, None] * edge_shift
    return shift


def _pins(ankle, toe, hip, reach: float, fps: float) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(start, end, pinned spot (2,), the pivot's own path (n, 2)) of each contact. A foot stays
    planted only while the leg can reach its spot: a contact is split where the hip has moved
    too far from it (else the foot would be dragged along at full stretch)."""
    pins = []
    pending = contact_spans(foot_contacts(ankle, toe, fps))
    while pending:
        start, end = pending.pop()
        span = slice(start, end)
        # The planted point is whichever of ankle and toe slides less (a pivot turns on the ball).
        pivot = min((ankle, toe), key=lambda p: np.abs(np.diff(p[span, :2], axis=0)).sum())[span, :2]
        pin = np.median(pivot, axis=0)
        target = ankle[span].copy()
        target[:, :2] += pin - pivot
        reachable = np.linalg.norm(target - hip[span], axis=1) <= reach
        if reachable.all():
            pins.append((start, end, pin, pivot))
            continue
        pending += [(start + a, start + b) for a, b in contact_spans(reachable) if b - a >= MIN_CONTACT_FRAMES]
    return sorted(pins, key=lambda pin: pin[0])


def _freedom(hold: np.ndarray | None, frames: int) -> np.ndarray:
    """(T,) 0 on held frames, rising to 1 over BLEND_FRAMES away from them."""
    if hold is None or not np.any(hold):
        return np.ones(frames)
    held = np.flatnonzero(hold)
    frame = np.arange(frames)
    after = np.searchsorted(held, frame).clip(max=len(held) - 1)      # the held frames either side
    before = (after - 1).clip(min=0)
    nearest = np.minimum(np.abs(frame - held[after]), np.abs(frame - held[before]))
    return np.clip(nearest / (BLEND_FRAMES + 1), 0.0, 1.0)


def _horizontal_speed(point: np.ndarray, fps: float) -> np.ndarray:
    return np.linalg.norm(np.gradient(point[:, :2], axis=0), axis=1) * fps


def _drop_short(mask: np.ndarray, shortest: int) -> np.ndarray:
    out = mask.copy()
    for start, end in contact_spans(mask):
        if end - start < shortest:
            out[start:end] = False
    return out


def _transpose(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)
