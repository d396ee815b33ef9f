"""Retargeting a take from one armature (the SMPL dancer) onto any humanoid rig, baked into a new take.

Method: world-space rotation deltas with a per-bone rest alignment, all frames at once in numpy.
1. The source pose comes from the take's own keys (sampled per frame) through numpy forward
   kinematics on the source's rest matrices, so no frame_set per frame (a 3-minute take would
   spend seconds there) and no constraints or helper objects in the scene.
2. Each mapped target bone b follows the world rotation delta of its source bone(s) s:
       target_world(t) = D(t) · A_b · target_rest_world,  D(t) = source_world(t) · source_rest_world⁻¹
   (several sources: the chordal mean of their deltas). A_b aligns the rests: it carries the
   target's rest directions from b to its mapped child joints onto the source's (Kabsch over all
   children, the shortest arc for one, the parent's alignment for none), so an A-pose rig follows a
   T-pose source with its arms where the source's are, and bone rolls never matter. The root bone
   (pelvis) is aligned by heading only: every rig's rest stands upright, and rigs disagree by tens
   of degrees about where the hip joints sit around the hips bone's head (CMU's in front of it,
   SMPL's behind), which a full alignment would read as a pitched pelvis.
3. Root motion: the midpoint of the target's hip joints follows the source's about the target
   object's origin as the source's does about its own, scaled by the ratio of leg lengths
   (hip-knee-ankle at rest; without mapped legs, the top mapped bone and hip heights). Both origins
   are taken to be on the floor: Blender's rig convention and the floor of LM2D takes. The hip
   joints, not the root bone's head, are matched because rigs put the hips bone's head anywhere
   between the waist and below the hip joints.
4. Legs (plant_feet, the default): with different thigh/shin proportions, copied leg rotations put
   the feet elsewhere than the (scaled) source's and planted feet slide. A two-bone IK per leg turns
   thigh and shin as little as possible so the ankle lands on the scaled source ankle, bending in
   the plane the copied leg bends in; the foot keeps its copied world rotation.
5. Local rotations follow from each target bone's parent chain (numpy FK over the target rest
   matrices). The keyed set is the mapped bones plus every ancestor of one (keyed at rest), so the
   take evaluates to exactly this pose whatever lower NLA tracks hold. Bones are assumed to inherit
   their parents' rotation and scale normally, and bones outside the keyed set (fingers, face) keep
   whatever else animates them.
The new action goes on the target the way keys.py puts a take on the SMPL dancer: a new NLA track
on top, and the active action unless the user has one of their own (that one is never touched)."""
from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np
from bpy_extras import anim_utils
from mathutils import Matrix

from .bone_maps import Rig
from .keys import add_nla_track, fcurve_maker, next_take_number, set_linear_keys, show_take, take_slot
from .retarget_solve import (ArmatureRest, TargetMotion, ancestors_and_self, forward_kinematics,
                             solve_target_motion)
from .rotation import compose, continuous_signs, euler_to_matrix, matrix_to_quaternion, quaternion_to_matrix
from .takes import TAKE_AUDIO_PROP, TAKE_FPS_PROP, TAKE_PROP, TAKE_START_PROP, current_take

RETARGET_SOURCE_PROP = "lm2d_retargeted_from"   # on retargeted takes: "armature / action" they came from


def armature_rig(obj) -> Rig:
    return Rig.from_pairs((bone.name, bone.parent.name if bone.parent else None) for bone in obj.data.bones)


def armature_rest(obj) -> ArmatureRest:
    rig = armature_rig(obj)
    rest = np.array([np.array(obj.data.bones[name].matrix_local) for name in rig.names])
    return ArmatureRest(rig, rest, np.array(obj.matrix_world))


# --- the source pose from a take's keys --------------------------------------------------------

def source_take(obj):
    """The take to retarget from an armature: its LM2D take (takes.current_take),
    else its active action. None when it has neither."""
    take = current_take(obj)
    if take is None and obj.animation_data is not None:
        take = obj.animation_data.action
    return take


def take_frames(action) -> np.ndarray:
    first, last = action.frame_range
    return np.arange(int(round(first)), int(round(last)) + 1, dtype=np.float64)


def _action_fcurves(obj, action) -> dict:
    """(data_path, index) -> F-curve of `action` for `obj`: the slot the object uses the action
    with (active or on an NLA strip), else the action's first slot; Action.fcurves before 4.4."""
    if not hasattr(action, "slots"):
        return {(fc.data_path, fc.array_index): fc for fc in action.fcurves}
    slot = None
    animation = obj.animation_data
    if animation is not None:
        if animation.action == action:
            slot = animation.action_slot
        for track in animation.nla_tracks:
            for strip in track.strips:
                if slot is None and strip.action == action:
                    slot = strip.action_slot
    slot = slot or (action.slots[0] if len(action.slots) else None)
    channelbag = slot and anim_utils.action_get_channelbag_for_slot(action, slot)
    return {(fc.data_path, fc.array_index): fc for fc in channelbag.fcurves} if channelbag else {}


def sample_fcurve(fcurve, frames: np.ndarray) -> np.ndarray:
    points = fcurve.keyframe_points
    co = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get("co", co)
    co = co.reshape(-1, 2)
    if len(co) == len(frames) and not fcurve.modifiers and np.allclose(co[:, 0], frames):
        return co[:, 1].astype(np.float64)   # a key on every frame (LM2D takes): the keys are the samples
    return np.array([fcurve.evaluate(frame) for frame in frames])


def _sample_channel(fcurves: dict, path: str, current, frames: np.ndarray) -> np.ndarray:
    """(T, len(current)): the channel's keys, or its current value where it has no F-curve."""
    return np.stack([sample_fcurve(fcurves[(path, i)], frames) if (path, i) in fcurves
                     else np.full(len(frames), float(value)) for i, value in enumerate(current)], axis=-1)


def sample_pose_basis(obj, action, rig: Rig, frames: np.ndarray) -> np.ndarray:
    """(T, B, 4, 4) pose-bone basis matrices (location, rotation in the bone's mode, scale) that
    `action` keys on `obj`'s bones at `frames`."""
    fcurves = _action_fcurves(obj, action)
    basis = np.empty((len(frames), len(rig.names), 4, 4))
    for b, name in enumerate(rig.names):
        pose_bone = obj.pose.bones[name]
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        mode = pose_bone.rotation_mode
        if mode == 'QUATERNION':
            q = _sample_channel(fcurves, f"{path}.rotation_quaternion", pose_bone.rotation_quaternion, frames)
            rotation = quaternion_to_matrix(q)
        elif mode == 'AXIS_ANGLE':
            angle_axis = _sample_channel(fcurves, f"{path}.rotation_axis_angle", pose_bone.rotation_axis_angle, frames)
            half = angle_axis[:, :1] / 2
            axis = angle_axis[:, 1:] / np.maximum(np.linalg.norm(angle_axis[:, 1:], axis=-1, keepdims=True), 1e-12)
            rotation = quaternion_to_matrix(np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1))
        else:
            angles = _sample_channel(fcurves, f"{path}.rotation_euler", pose_bone.rotation_euler, frames)
            rotation = euler_to_matrix(angles, mode)
        location = _sample_channel(fcurves, f"{path}.location", pose_bone.location, frames)
        scale = _sample_channel(fcurves, f"{path}.scale", pose_bone.scale, frames)
        basis[:, b] = compose(location, rotation, scale)
    return basis


def check_pairs(source_obj, target_obj, pairs) -> None:
    """Raise ValueError unless every pair names a bone of each armature."""
    if not pairs:
        raise ValueError(f"the bone map of '{target_obj.name}' is empty: map bones first (Auto-Map)")
    for obj, names, role in ((source_obj, [s for s, _ in pairs], "source"),
                             (target_obj, [t for _, t in pairs], "target")):
        missing = sorted({name for name in names if name not in obj.data.bones})
        if missing:
            raise ValueError(f"{role} armature '{obj.name}' has no bone(s) {', '.join(missing[:5])}"
                             f"{' …' if len(missing) > 5 else ''}")


def constrained_bones(target_obj, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Bones of the keyed set (mapped bones and their ancestors) that active constraints move. The
    solve assumes plain parenting, so under such bones the pose differs from the source's: Rigify's
    generated rigs, whose controls hang from constrained MCH- bones, are the common case."""
    rig = armature_rig(target_obj)
    keyed = {a for _, name in pairs if name in rig.names for a in ancestors_and_self(rig, rig.names.index(name))}
    return [rig.names[b] for b in sorted(keyed)
            if any(c.enabled and c.influence > 0 for c in target_obj.pose.bones[rig.names[b]].constraints)]


def _rotation_channels(pose_bone, rotations: np.ndarray) -> tuple[str, np.ndarray]:
    """(data path suffix, (T, n) values) for (T, 3, 3) rotations in the pose bone's rotation mode."""
    mode = pose_bone.rotation_mode
    if mode in ('QUATERNION', 'AXIS_ANGLE'):
        q = continuous_signs(matrix_to_quaternion(rotations))
        if mode == 'QUATERNION':
            return "rotation_quaternion", q
        angle = 2.0 * np.arctan2(np.linalg.norm(q[:, 1:], axis=-1), q[:, 0])
        axis = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=-1, keepdims=True), 1e-12)
        axis[np.linalg.norm(q[:, 1:], axis=-1) < 1e-12] = (0.0, 1.0, 0.0)   # Blender's default axis
        return "rotation_axis_angle", np.column_stack([angle, axis])
    eulers, previous = [], None
    for rotation in rotations:   # mathutils keeps each Euler nearest the previous one (no flips)
        matrix = Matrix(rotation.tolist())
        previous = matrix.to_euler(mode, previous) if previous else matrix.to_euler(mode)
        eulers.append(tuple(previous))
    return "rotation_euler", np.array(eulers)


def bake_take(target_obj, motion: TargetMotion, target: ArmatureRest, frames: np.ndarray, name: str):
    """A new action keying `motion` on the target at `frames` (one key per frame, linear)."""
    action = bpy.data.actions.new(name)
    new_fcurve = fcurve_maker(action, target_obj.name)
    for k, bone in enumerate(motion.bones):
        bone_name = target.rig.names[bone]
        pose_bone = target_obj.pose.bones[bone_name]
        path = f'pose.bones["{bpy.utils.escape_identifier(bone_name)}"]'
        channel, values = _rotation_channels(pose_bone, motion.basis[:, k, :3, :3])
        for index in range(values.shape[1]):
            set_linear_keys(new_fcurve(f"{path}.{channel}", index, bone_name), frames, values[:, index])
        if bone == motion.root:
            for index in range(3):
                set_linear_keys(new_fcurve(f"{path}.location", index, bone_name), frames,
                                motion.basis[:, k, index, 3])
    return action


def retarget_take(source_obj, target_obj, pairs: Sequence[tuple[str, str]], action=None, name: str | None = None,
                  plant_feet: bool = True):
    """Retarget `action` (default: source_take(source_obj)) of the source armature onto the target
    under `pairs` of (source bone, target bone) names (plant_feet: see solve_target_motion). Returns
    (action, nla_track, nla_strip) of the new take. Raises ValueError on an unusable map or a source
    without a take."""
    action = action or source_take(source_obj)
    if action is None:
        raise ValueError(f"'{source_obj.name}' has no take to retarget")
    if target_obj == source_obj:
        raise ValueError("the source and target armatures are the same object")
    pairs = list(pairs)
    check_pairs(source_obj, target_obj, pairs)
    source, target = armature_rest(source_obj), armature_rest(target_obj)
    frames = take_frames(action)
    source_pose = forward_kinematics(source.rest, source.rig.parents,
                                     sample_pose_basis(source_obj, action, source.rig, frames))
    motion = solve_target_motion(source, source_pose, target, pairs, plant_feet)

    new_action = bake_take(target_obj, motion, target, frames, name or f"{action.name} → {target_obj.name}")
    new_action[TAKE_PROP] = next_take_number()
    new_action[TAKE_START_PROP] = action.get(TAKE_START_PROP, int(frames[0]))
    new_action[RETARGET_SOURCE_PROP] = f"{source_obj.name} / {action.name}"
    for prop in (TAKE_FPS_PROP, TAKE_AUDIO_PROP):   # the result file (TAKE_SOURCE_PROP) keys SMPL bones: not kept
        if prop in action:
            new_action[prop] = action[prop]
    slot = take_slot(new_action)
    animation, track, strip = add_nla_track(target_obj, new_action, slot, int(frames[0]))
    show_take(animation, new_action, slot)
    return new_action, track, strip
