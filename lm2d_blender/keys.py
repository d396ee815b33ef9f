"""Writing a generation result onto an armature as a take: a new Action on its own NLA track.

Rotations. SMPL local rotations R are expressed in joint frames that are all world-aligned at
rest. A pose bone's rotation q is expressed in the bone's own rest frame B (bone.matrix_local),
relative to its parent. Blender composes pose(b) = pose(parent) · rest(parent)⁻¹ · rest(b) · q,
so choosing q = B⁻¹·R·B gives pose rotation G_parent·R·B = G·B: the SMPL global rotation G
applied to the rest bone, and heads land exactly where SMPL forward kinematics puts the joints.

Root. The pelvis `location` is in its rest frame too: head = rest head + B·location, so
location = B⁻¹·(root_translation − rest head) puts the pelvis at root_translation (the file's
pelvis position; rest pelvis is at the origin).

Takes and the user's animation. Every take is a new Action (existing actions are never edited)
on a new NLA track on top of the others; nothing is muted or soloed, so earlier takes stay one
click away in the NLA editor. The take also becomes the active action (so the Dope Sheet and
Graph Editor show its keys; it evaluates to the same pose as its strip) unless the user has an
active action of their own: that one is left assigned and untouched, and since the active action
is evaluated on top of the NLA, it keeps overriding the channels it animates (callers report it).
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy_extras import anim_utils

from .armature import missing_bones
from .rotation import continuous_signs, inverse, multiply, slerp
from .result_file import lyric_segments, result_skeleton, section_segments
from .sections_track import show_sections
from .skeleton import Skeleton
from .takes import TAKE_FPS_PROP, TAKE_PROP, TAKE_SOURCE_PROP, TAKE_START_PROP
from .timeline import scene_fps, seconds_to_frame

LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def resample(root_translation: np.ndarray, quaternions: np.ndarray, source_fps: float, target_fps: float):
    """Resample (T, 3) positions linearly and (T, J, 4) rotations by slerp to cover the same
    seconds at target_fps: round(T·target/source) frames. Unchanged when the rates agree."""
    if abs(source_fps - target_fps) < 1e-6:
        return np.asarray(root_translation, np.float64), np.asarray(quaternions, np.float64)
    frames = len(root_translation)
    count = max(int(round(frames * target_fps / source_fps)), 1)
    position = np.minimum(np.arange(count) * (source_fps / target_fps), frames - 1)
    before = np.minimum(np.floor(position).astype(np.int64), frames - 2)
    fraction = position - before
    root = np.asarray(root_translation, np.float64)
    quats = np.asarray(quaternions, np.float64)
    root = root[before] + (root[before + 1] - root[before]) * fraction[:, None]
    return root, slerp(quats[before], quats[before + 1], fraction[:, None])


def bone_space_channels(armature_obj, skeleton: Skeleton, root_translation, local_quaternions):
    """Pose-bone quaternions (T, J, 4), signs continuous over time, and pelvis locations (T, 3)."""
    bones = armature_obj.data.bones
    rest = np.array([bones[name].matrix_local.to_quaternion() for name in skeleton.joint_names])
    quats = local_quaternions / np.linalg.norm(local_quaternions, axis=-1, keepdims=True)
    quats = continuous_signs(multiply(multiply(inverse(rest), quats), rest))
    root_bone = bones[skeleton.joint_names[0]]
    rest_rotation = np.array(root_bone.matrix_local.to_3x3())
    # Row vectors: v @ B is Bᵀ·v = B⁻¹·v for the orthonormal rest rotation B.
    locations = (root_translation - np.array(root_bone.head_local)) @ rest_rotation
    return quats, locations


def fcurve_maker(action, slot_name: str):
    """f(data_path, index, group) -> new F-curve on a fresh action. Layered actions (Blender 5.0+,
    where Action.fcurves is gone) get a slot and a channelbag; earlier versions use action.fcurves,
    which in 4.4/4.5 is Blender's compatibility layer and creates the layer, strip and slot itself."""
    if hasattr(action, "slots") and hasattr(anim_utils, "action_ensure_channelbag_for_slot"):
        slot = action.slots.new(id_type='OBJECT', name=slot_name)
        fcurves = anim_utils.action_ensure_channelbag_for_slot(action, slot).fcurves
        return lambda path, index, group: fcurves.new(path, index=index, group_name=group)
    return lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)


def take_slot(action):
    """The take's only slot on slotted-action Blender (4.4+), None before."""
    slots = getattr(action, "slots", None)
    return slots[0] if slots else None


def set_linear_keys(fcurve, frames: np.ndarray, values: np.ndarray) -> None:
    """All keys at once (keyframe_points.add + foreach_set): tens of times faster than keyframe_insert."""
    points = fcurve.keyframe_points
    points.add(len(frames))
    co = np.empty((len(frames), 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    points.foreach_set("co", co.ravel())
    points.foreach_set("interpolation", np.full(len(frames), LINEAR, dtype=np.int32))
    fcurve.update()


def next_take_number() -> int:
    return 1 + max((int(action[TAKE_PROP]) for action in bpy.data.actions if TAKE_PROP in action), default=0)


def add_nla_track(armature_obj, action, slot, start_frame: int):
    animation = armature_obj.animation_data or armature_obj.animation_data_create()
    track = animation.nla_tracks.new()  # appended last: on top, evaluated after earlier takes
    track.name = action.name
    strip = track.strips.new(action.name, int(start_frame), action)
    if slot is not None:
        strip.action_slot = slot
    return animation, track, strip


def show_take(animation, action, slot) -> None:
    """Make the take the active action unless the user has an action of their own assigned."""
    current = animation.action
    if current is not None and TAKE_PROP not in current:
        return
    animation.action = action
    if slot is not None:
        animation.action_slot = slot


def add_lyric_markers(scene, segments, start_frame: int, fps: float) -> None:
    """One timeline marker per lyric line at its start; a line already marked there is skipped."""
    for segment in segments:
        frame = seconds_to_frame(segment["start"], fps, start_frame)
        text = segment["text"]
        if any(marker.frame == frame and text.startswith(marker.name) for marker in scene.timeline_markers):
            continue
        scene.timeline_markers.new(text, frame=frame)


def write_take(armature_obj, result, scene, name: str | None = None, start_frame: int = 1,
               source: str | None = None):
    """Key a result (result_file.read_result's arrays, checked there) onto `armature_obj` as a new
    take starting at `start_frame`, resampled to the scene's frame rate. Sets the scene frame range to the take and
    adds lyric and section markers (and the sections' text strips). `source`: the result file's path, kept on the action so the take can be
    edited later. Returns (action, nla_track, nla_strip). Raises ValueError on a result that
    does not fit the armature."""
    skeleton = result_skeleton(result)
    missing = missing_bones(armature_obj, skeleton)
    if missing:
        raise ValueError(f"'{armature_obj.name}' has no bone(s) {', '.join(missing[:5])}"
                         f"{' …' if len(missing) > 5 else ''}: a take needs the SMPL bone names")
    fps = scene_fps(scene)
    root, quats = resample(result["root_translation"], result["local_quaternions"], float(result["fps"]), fps)
    quats, locations = bone_space_channels(armature_obj, skeleton, root, quats)
    frames = start_frame + np.arange(len(root), dtype=np.float64)

    number = next_take_number()
    action = bpy.data.actions.new(name or f"LM2D take {number}")
    action[TAKE_PROP] = number
    action[TAKE_START_PROP] = int(start_frame)
    action[TAKE_FPS_PROP] = fps
    if source is not None:
        action[TAKE_SOURCE_PROP] = source
    new_fcurve = fcurve_maker(action, armature_obj.name)
    for joint, bone_name in enumerate(skeleton.joint_names):
        armature_obj.pose.bones[bone_name].rotation_mode = 'QUATERNION'
        path = f'pose.bones["{bpy.utils.escape_identifier(bone_name)}"]'
        for index in range(4):
            set_linear_keys(new_fcurve(f"{path}.rotation_quaternion", index, bone_name), frames, quats[:, joint, index])
        if joint == 0:
            for index in range(3):
                set_linear_keys(new_fcurve(f"{path}.location", index, bone_name), frames, locations[:, index])

    slot = take_slot(action)
    animation, track, strip = add_nla_track(armature_obj, action, slot, start_frame)
    show_take(animation, action, slot)
    scene.frame_start = int(start_frame)
    scene.frame_end = int(start_frame) + len(frames) - 1
    add_lyric_markers(scene, lyric_segments(result), int(start_frame), fps)
    show_sections(scene, section_segments(result), int(start_frame), fps)
    return action, track, strip
