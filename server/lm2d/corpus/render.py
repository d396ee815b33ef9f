"""Rendering a DancePlan (rig.py) to a Motion: feet and airborne arcs, the pelvis over the
weighted feet, the upper body by two-bone IK on its arm targets (with groove and arcs added and
gestures slerped over it), the legs by two-bone IK onto the feet, and grounding."""
from __future__ import annotations

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform

from lm2d.corpus.rig import (ARM, FOREARM, GROOVE_DROP, GROOVE_HEAD, GROOVE_HIP_LEAN, GROOVE_HIP_TWIST, GROOVE_SPINE,
                             ANKLE_HEIGHT, GRAVITY, HEAD, HEAD_SLICE, HOME, LEFT_ARM_SLICE, LEG, LIFT_FIRST, NECK, REST,
                             RIGHT_ARM_SLICE, SHIN, SIDES, SPINE, SPINE_SLICE, STAND_HEIGHT, THIGH, TOE_FROM_ANKLE,
                             UPPER_ARM, DancePlan, euler_xyz, rotate_xy, rotvec_matrix)
from lm2d.motion.ik import smoothstep, two_bone_ik
from lm2d.motion.representation import FPS, Motion
from lm2d.motion.rotation import matrix_to_quaternion, quaternion_to_matrix, slerp, to_numpy
from lm2d.motion.skeleton import FOOT_JOINTS, NUM_JOINTS, PARENTS


def _global_transforms(local: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations (T, 24, 3, 3) and joint positions (T, 24, 3) by smplx's rigid transform."""
    rotmats = torch.from_numpy(local)
    rest = torch.from_numpy(REST).expand(len(local), NUM_JOINTS, 3)
    posed, transforms = batch_rigid_transform(rotmats, rest, torch.tensor(PARENTS))
    return transforms[..., :3, :3].numpy(), posed.numpy() + (root - REST[0])[:, None, :]


def _render_feet(plan: DancePlan, times: np.ndarray, side: str):
    """Per frame: ankle xy, height above the plant, yaw, toe point (rad) of one foot."""
    start_xy, start_yaw = plan.origin + HOME[side], 0.0
    xy = np.broadcast_to(start_xy, (len(times), 2)).copy()
    yaw = np.full(len(times), start_yaw)
    height = np.zeros(len(times))
    point = np.zeros(len(times))
    previous_xy, previous_yaw = start_xy, start_yaw
    for step in sorted(plan.steps[side], key=lambda s: s.lift):
        swing = (times >= step.lift) & (times < step.land)
        s = (times[swing] - step.lift) / (step.land - step.lift)
        # The foot rises before it travels and is set down from above: nothing slides on the floor.
        travel = np.clip((s - LIFT_FIRST) / (1.0 - 2 * LIFT_FIRST), 0.0, 1.0)
        ease = smoothstep(travel)[:, None]
        target_xy = np.asarray(step.xy)
        xy[swing] = (previous_xy + ease * (target_xy - previous_xy)
                     + (np.sin(np.pi * travel) ** 2)[:, None] * np.asarray(step.apex))
        yaw[swing] = previous_yaw + ease[:, 0] * (step.yaw - previous_yaw)
        height[swing] = step.height * np.sin(np.pi * s) ** 2
        point[swing] = step.toe_point * np.sin(np.pi * travel) ** 2
        after = times >= step.land
        xy[after], yaw[after] = target_xy, step.yaw
        previous_xy, previous_yaw = target_xy, step.yaw
    return xy, height, yaw, point


def _airborne_height(plan: DancePlan, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ballistic height of the whole body (h = g t (T - t) / 2) and the airborne mask."""
    height = np.zeros(len(times))
    mask = np.zeros(len(times), bool)
    for takeoff, land in plan.airborne:
        inside = (times > takeoff) & (times < land)
        t = times[inside] - takeoff
        height[inside] = 0.5 * GRAVITY * t * (land - takeoff - t)
        mask |= inside
    return height, mask


def _overlay_weights(plan: DancePlan, times: np.ndarray) -> np.ndarray:
    weights = np.zeros((len(times), 3))
    for start, end, ramp, limbs in plan.gesture_weights:
        ramp = min(ramp, 0.5 * (end - start))
        rise = smoothstep((times - start) / max(ramp, 1e-6))
        fall = smoothstep((end - times) / max(ramp, 1e-6))
        weights = np.maximum(weights, np.minimum(rise, fall)[:, None] * np.asarray(limbs))
    return weights


def _upper_locals(pose: np.ndarray, pelvis_pos: np.ndarray, pelvis_rot: np.ndarray) -> np.ndarray:
    """Local rotations (T, 24, 3, 3) of the pelvis, spine, neck, head and arms for per-frame
    UpperPose vectors (T, 23); the legs are left at rest."""
    local = np.broadcast_to(np.eye(3), (len(pose), NUM_JOINTS, 3, 3)).copy()
    local[:, 0] = pelvis_rot
    spine = pose[:, SPINE_SLICE] / len(SPINE)
    for joint in SPINE:
        local[:, joint] = euler_xyz(spine[:, 0], spine[:, 1], spine[:, 2])
    nod, turn = pose[:, HEAD_SLICE].T
    local[:, NECK] = euler_xyz(0.4 * nod, np.zeros_like(nod), 0.4 * turn)
    local[:, HEAD] = euler_xyz(0.6 * nod, np.zeros_like(nod), 0.6 * turn)
    globals_, positions = _global_transforms(local, pelvis_pos)
    chest = globals_[:, SPINE[-1]]
    for side, part in (("L", LEFT_ARM_SLICE), ("R", RIGHT_ARM_SLICE)):
        collar, shoulder, elbow, wrist, _ = ARM[side]
        values = pose[:, part]
        target = positions[:, shoulder] + np.einsum("tij,tj->ti", chest, values[:, 0:3])
        pole = np.einsum("tij,tj->ti", chest, values[:, 3:6])
        g_shoulder, g_elbow, _ = two_bone_ik(
            positions[:, shoulder], target, pole, UPPER_ARM[side], FOREARM[side],
            REST[elbow] - REST[shoulder], REST[wrist] - REST[elbow], np.array([0.0, 1.0, 0.0]))
        local[:, shoulder] = np.swapaxes(globals_[:, collar], -1, -2) @ g_shoulder
        local[:, elbow] = np.swapaxes(g_shoulder, -1, -2) @ g_elbow
        local[:, wrist] = rotvec_matrix(values[:, 6:9])
    return local


def _arc_offsets(plan: DancePlan, times: np.ndarray) -> np.ndarray:
    """Sum of the plan's arcs at each time: sin² bumps, so the path bows without new pauses."""
    offsets = np.zeros((len(times), len(plan.upper.initial)))
    for start, end, offset in plan.arcs:
        inside = (times > start) & (times < end)
        offsets[inside] += np.sin(np.pi * (times[inside] - start) / (end - start))[:, None] ** 2 * offset
    return offsets


def _slerp_joints(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-frame slerp between rotation matrices (T, J, 3, 3) with weights (T,)."""
    qa = matrix_to_quaternion(torch.from_numpy(a))
    qb = matrix_to_quaternion(torch.from_numpy(b))
    w = torch.from_numpy(np.broadcast_to(weight[:, None], a.shape[:2]).copy())
    return to_numpy(quaternion_to_matrix(slerp(qa, qb, w)), np.float64)


def render(plan: DancePlan, n_frames: int, fps: float = FPS) -> tuple[Motion, np.ndarray]:
    """The planned dance as a Motion of exactly n_frames, and the airborne-frame mask."""
    times = np.arange(n_frames) / fps
    feet = {side: _render_feet(plan, times, side) for side in SIDES}
    air, airborne = _airborne_height(plan, times)
    ankles, foot_rots = _ankle_targets(feet, air)
    groove = plan.groove.sample(times)
    pelvis, pelvis_rot, roll = _pelvis(plan, times, feet, air, groove)
    pelvis[:, 2] = np.minimum(pelvis[:, 2], _highest_reachable_pelvis(pelvis, pelvis_rot, ankles))
    local = _upper_body(plan, times, pelvis, pelvis_rot, roll, groove)
    for side in SIDES:
        hip, knee, ankle, _ = LEG[side]
        hip_pos = pelvis + np.einsum("tij,j->ti", pelvis_rot, REST[hip])
        forward = np.einsum("tij,j->ti", foot_rots[side], np.array([0.0, -1.0, 0.0]))   # knees over toes
        g_hip, g_knee, _ = two_bone_ik(hip_pos, ankles[side], forward, THIGH[side], SHIN[side],
                                       REST[knee] - REST[hip], REST[ankle] - REST[knee],
                                       np.array([0.0, -1.0, 0.0]))
        local[:, hip] = np.swapaxes(pelvis_rot, -1, -2) @ g_hip
        local[:, knee] = np.swapaxes(g_hip, -1, -2) @ g_knee
        local[:, ankle] = np.swapaxes(g_knee, -1, -2) @ foot_rots[side]
    motion = Motion(pelvis.astype(np.float32), local.astype(np.float32), fps)
    return ground(motion, airborne), airborne


def _ankle_targets(feet: dict, air: np.ndarray) -> tuple[dict, dict]:
    """Per side: ankle positions (T, 3) and foot rotations (T, 3, 3). A planted foot is flat
    with its toe joint on the floor."""
    ankles, foot_rots = {}, {}
    for side in SIDES:
        xy, lift, yaw, point = feet[side]
        foot_rots[side] = euler_xyz(point, np.zeros_like(point), yaw)
        # Pointing the toes swings them down about the ankle: raise the ankle so they clear the floor.
        toe = TOE_FROM_ANKLE[side]
        toe_drop = np.maximum(0.0, -(toe[1] * np.sin(point) + toe[2] * np.cos(point)) + toe[2])
        ankles[side] = np.concatenate([xy, (ANKLE_HEIGHT + lift + toe_drop + air)[:, None]], axis=1)
    return ankles, foot_rots


def _pelvis(plan: DancePlan, times: np.ndarray, feet: dict, air: np.ndarray, groove: np.ndarray):
    """Pelvis position over the weighted feet, turned with the dance and rolled down towards
    the free leg; returns (positions, rotations, roll angles)."""
    weight, drop, twist, lean, shift = plan.pelvis.sample(times).T
    drop = drop + groove[:, GROOVE_DROP]
    twist = twist + groove[:, GROOVE_HIP_TWIST]
    lean = lean + groove[:, GROOVE_HIP_LEAN]
    facing = plan.facing.sample(times)[:, 0]
    position = np.zeros((len(times), 3))
    position[:, :2] = ((1 - weight)[:, None] * feet["L"][0] + weight[:, None] * feet["R"][0]
                       + rotate_xy(facing, np.stack([np.zeros_like(shift), -shift], -1)))
    position[:, 2] = STAND_HEIGHT - drop + air
    roll = 0.12 * (weight - 0.5)
    return position, euler_xyz(lean, roll, facing + twist), roll


def _upper_body(plan: DancePlan, times: np.ndarray, pelvis: np.ndarray, pelvis_rot: np.ndarray,
                roll: np.ndarray, groove: np.ndarray) -> np.ndarray:
    """Local rotations from the base upper-body track (with its groove and arcs), with gestures
    slerped over it per limb. The lower spine counters the pelvis roll so the chest stays level."""
    def solve(pose: np.ndarray) -> np.ndarray:
        pose[:, SPINE_SLICE.start + 1] -= roll
        return _upper_locals(pose, pelvis, pelvis_rot)

    base = plan.upper.sample(times) + _arc_offsets(plan, times)
    base[:, SPINE_SLICE] += groove[:, GROOVE_SPINE]
    base[:, HEAD_SLICE] += groove[:, GROOVE_HEAD]
    local = solve(base)
    limb_weights = _overlay_weights(plan, times)
    if limb_weights.any():
        gesture = solve(plan.gesture_upper.sample(times))
        groups = (list(ARM["L"]), list(ARM["R"]), [*SPINE, NECK, HEAD])
        for group, limb_weight in zip(groups, limb_weights.T):
            local[:, group] = _slerp_joints(local[:, group], gesture[:, group], limb_weight)
    return local


def _highest_reachable_pelvis(pelvis: np.ndarray, pelvis_rot: np.ndarray, ankles: dict) -> np.ndarray:
    """Per frame, the highest pelvis at which both legs still reach their ankle targets."""
    limit = np.full(len(pelvis), np.inf)
    for side in SIDES:
        hip_offset = np.einsum("tij,j->ti", pelvis_rot, REST[LEG[side][0]])
        reach = 0.995 * (THIGH[side] + SHIN[side])
        horizontal = np.linalg.norm(pelvis[:, :2] + hip_offset[:, :2] - ankles[side][:, :2], axis=-1)
        vertical = np.sqrt(np.maximum(reach ** 2 - horizontal ** 2, 0.0))
        limit = np.minimum(limit, ankles[side][:, 2] + vertical - hip_offset[:, 2])
    return limit


def ground(motion: Motion, airborne: np.ndarray) -> Motion:
    """Shifts the root so the lowest foot joint touches z = 0 on every frame not in the air."""
    joints = motion.joints()
    lowest = joints[:, list(FOOT_JOINTS), 2].min(axis=1)
    root = motion.root_translation.copy()
    root[~airborne, 2] -= lowest[~airborne]
    return Motion(root, motion.local_rotmats, motion.fps)
