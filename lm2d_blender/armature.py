"""The SMPL armature: 24 bones with SMPL names, hierarchy and rest pose (Z-up), plus a mannequin body.

Bones have their heads at the joints and roll 0. Rotations still transfer exactly whatever the
roll: keys.py conjugates each SMPL local rotation by the bone's own rest rotation (see there).
The body is the add-on's own mannequin (mannequin.py), or the real SMPL mesh from the user's own
licensed model files (smpl_body.py, from `lm2d smpl-body`), which the add-on never ships or needs."""
from __future__ import annotations

from contextlib import contextmanager

import bpy
import numpy as np

from .skeleton import Skeleton

SKELETON_PROP = "lm2d_skeleton"      # on the Armature data: the skeleton as JSON
PREVIEW_PROP = "lm2d_preview_of"     # on mannequin objects: the armature's name
LEAF_LENGTH_FRACTION = 0.5           # leaf bone length, as a fraction of the joint's offset from its parent
MIN_LEAF_LENGTH = 0.08               # metres; keeps hands, feet and head grabbable in the viewport
MIN_BONE_LENGTH = 1e-4               # Blender deletes zero-length bones when leaving edit mode


def main_child(skeleton: Skeleton, joint: int) -> int | None:
    """The child that continues the chain: the one nearest the body's midline (SMPL's x is lateral),
    so the pelvis points at spine1 rather than a hip, and spine3 at the neck rather than a collar."""
    children = skeleton.children(joint)
    if not children:
        return None
    return min(children, key=lambda child: abs(skeleton.rest_positions[child][0]))


def bone_tails(skeleton: Skeleton) -> np.ndarray:
    """(J, 3) tail per joint: at the main child; leaves (and degenerate bones) continue along the
    offset from their parent, shorter."""
    rest = skeleton.rest_positions
    tails = np.empty_like(rest)
    for joint, parent in enumerate(skeleton.parents):
        child = main_child(skeleton, joint)
        if child is not None and np.linalg.norm(rest[child] - rest[joint]) > MIN_BONE_LENGTH:
            tails[joint] = rest[child]
            continue
        offset = rest[joint] - rest[parent] if parent >= 0 else np.zeros(3)
        length = np.linalg.norm(offset)
        direction = offset / length if length > MIN_BONE_LENGTH else np.array([0.0, 0.0, 1.0])
        tails[joint] = rest[joint] + direction * max(LEAF_LENGTH_FRACTION * length, MIN_LEAF_LENGTH)
    return tails


@contextmanager
def _edit_mode(context, obj):
    view_layer = context.view_layer
    previous_active = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    try:
        yield obj.data.edit_bones
    finally:
        bpy.ops.object.mode_set(mode='OBJECT')
        view_layer.objects.active = previous_active


def create_smpl_armature(context, name: str, joint_names, parents, rest_positions):
    """Create and link (into context.collection) an armature object with one bone per joint.
    Needs Object Mode. Returns the new object, which keeps the skeleton as a custom property."""
    if context.mode != 'OBJECT':
        raise RuntimeError("creating an armature needs Object Mode")
    skeleton = Skeleton.from_arrays(joint_names, parents, rest_positions)
    data = bpy.data.armatures.new(name)
    data[SKELETON_PROP] = skeleton.to_json()
    obj = bpy.data.objects.new(name, data)
    context.collection.objects.link(obj)
    tails = bone_tails(skeleton)
    with _edit_mode(context, obj) as edit_bones:
        for joint, bone_name in enumerate(skeleton.joint_names):
            bone = edit_bones.new(bone_name)
            bone.head = skeleton.rest_positions[joint]
            bone.tail = tails[joint]
            bone.roll = 0.0
            if skeleton.parents[joint] >= 0:
                bone.parent = edit_bones[skeleton.parents[joint]]
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = 'QUATERNION'
    return obj


def armature_skeleton(obj) -> Skeleton | None:
    """The skeleton stored on an LM2D armature, None for any other object."""
    if obj is None or obj.type != 'ARMATURE' or SKELETON_PROP not in obj.data:
        return None
    return Skeleton.from_json(obj.data[SKELETON_PROP])


def missing_bones(obj, skeleton: Skeleton) -> list[str]:
    """Joint names the object has no pose bone for (all of them when it is not an armature)."""
    if obj is None or obj.type != 'ARMATURE':
        return list(skeleton.joint_names)
    return [name for name in skeleton.joint_names if name not in obj.pose.bones]


def armature_for_take(context, skeleton: Skeleton, target: str):
    """Where a take goes. target 'ACTIVE': the active object when it has a bone for every joint,
    otherwise a new armature; 'NEW': always a new armature (with a mannequin body, at the 3D cursor)."""
    active = context.active_object
    if target == 'ACTIVE' and not missing_bones(active, skeleton):
        return active
    return new_dancer(context, skeleton)


def new_dancer(context, skeleton: Skeleton, preview_mesh: bool = True):
    """A new SMPL armature at the 3D cursor, selected and active, with a body by default (the
    mannequin, or the SMPL body the preferences name; shown or hidden as the Mannequin toggle says)."""
    from .body import body_shown, build_body   # body.py imports this module

    obj = create_smpl_armature(context, "LM2D Dancer", *skeleton)
    obj.location = context.scene.cursor.location
    if preview_mesh:
        hidden = not body_shown(context.scene)
        for body in build_body(context, obj):
            body.hide_viewport = body.hide_render = hidden
    for other in context.selected_objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj
