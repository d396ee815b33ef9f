"""Motion capture (BVH, FBX) onto the SMPL skeleton, in Blender: the reading half of `lm2d import-mocap`.

Blender's own importers read the file; the add-on's retargeting (retarget.py: name-based bone
map, rest alignment by world bone directions, scale from leg length, two-bone IK onto the source's
ankles) solves an SMPL armature's pose from it, the reverse of the add-on's SMPL → rig retarget.
That pose is handed back as SMPL local rotations (each joint's world rotation relative to its
parent's, identity = lm2d's rest pose) and pelvis positions, at the capture's own frame rate; the
lm2d server places it on the floor and resamples it (lm2d.mocap).

Background use (`lm2d import-mocap` spawns this in a Python that has bpy):
    python -c "import sys; from lm2d_blender.mocap_import import main; sys.exit(main())" IN.fbx OUT.npz
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import bpy
import numpy as np

from .armature import create_smpl_armature
from .bone_maps import auto_map, classify
from .retarget import armature_rest, armature_rig, sample_pose_basis, take_frames
from .retarget_solve import forward_kinematics, solve_target_motion
from .rotation import rotation_part
from .skeleton import shipped_skeleton

FORMATS = (".bvh", ".fbx")
REST_TOLERANCE = 1e-4    # pose-bone basis entries this close to identity: the bone is at rest
JUMP_FRACTION = 0.3      # of the rig's size: further than any joint moves in one captured frame
# Without these the body cannot be placed: pelvis, legs to the ankles, arms to the wrists, head.
REQUIRED_PARTS = ("pelvis", "head", *(f"{side}_{part}" for side in ("left", "right")
                                      for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")))


def import_capture(path: str) -> tuple[object, float]:
    """Read a BVH or FBX file into an empty scene. Returns (its animated armature, frames per second)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown motion capture format {suffix or '(no extension)'!r}: use .bvh or .fbx")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if suffix == ".bvh":
        # Y-up BVH (the convention, lm2d's own included) into Blender's Z-up; one Blender frame per BVH frame.
        bpy.ops.import_anim.bvh(filepath=path, axis_forward='-Z', axis_up='Y', rotate_mode='NATIVE',
                                use_fps_scale=False, update_scene_fps=False, update_scene_duration=True)
        fps = bvh_frame_rate(path)
    else:
        bpy.ops.import_scene.fbx(filepath=path)
        render = bpy.context.scene.render
        fps = render.fps / render.fps_base
    armatures = [obj for obj in bpy.context.scene.objects if obj.type == 'ARMATURE'
                 and obj.animation_data is not None and obj.animation_data.action is not None]
    if not armatures:
        raise ValueError(f"{path}: no animated armature in the file")
    # Several (a character and a prop rig): the one with the most bones is the body.
    return max(armatures, key=lambda obj: len(obj.data.bones)), fps


def bvh_frame_rate(path: str) -> float:
    """1 / Frame Time from the file itself (Blender's scene rate is an integer), snapped to a whole rate
    within rounding."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        match = re.search(r"Frame Time:\s*([0-9.eE+-]+)", handle.read())
    frame_time = float(match.group(1)) if match else 0.0
    if not frame_time > 0:
        raise ValueError(f"{path}: no positive 'Frame Time' in the BVH header")
    # Frame Time is printed with a few decimals (0.03333333): 30.000003 FPS means 30.
    fps = 1.0 / frame_time
    return float(round(fps)) if abs(fps - round(fps)) < 1e-5 * fps else fps


def bone_pairs(source_obj, smpl_obj) -> list[tuple[str, str]]:
    """(source bone, SMPL joint) pairs from the bone names; ValueError naming what is missing."""
    parts = classify(armature_rig(source_obj))
    missing = [part for part in REQUIRED_PARTS if part not in parts]
    if missing:
        raise ValueError(f"the armature '{source_obj.name}' has no bone recognised as {', '.join(missing)} "
                         f"(bone names: {', '.join(b.name for b in list(source_obj.data.bones)[:12])} …)")
    return auto_map(armature_rig(source_obj), armature_rig(smpl_obj))


def leading_rest_frames(basis: np.ndarray, heads: np.ndarray) -> int:
    """How many first frames hold a T-pose the capture then leaves in one jump: converters key the
    rig's rest pose at frame 1 (CMU's FBX files do) and the dancer appears in the first captured pose
    a frame later, a jump no body makes (it would add 20 to the clip's jerk and 7°/s to its hip yaw
    rate). Such frames have every pose-bone basis at identity (`basis` (T, B, 4, 4)) and some bone
    head (`heads` (T, B, 3)) moves over JUMP_FRACTION of the rig's size into the next frame. A first
    frame that is merely the rig's rest (an FBX whose bind pose is its first frame) moves on smoothly."""
    at_rest = np.all(np.abs(basis - np.eye(4)) < REST_TOLERANCE, axis=(1, 2, 3))
    moving = np.flatnonzero(~at_rest)
    if not len(moving) or moving[0] == 0:
        return 0
    first = int(moving[0])
    size = np.ptp(heads[first - 1], axis=0).max()
    jump = np.linalg.norm(heads[first] - heads[first - 1], axis=-1).max()
    return first if jump > JUMP_FRACTION * size else 0


def smpl_motion(source_obj, smpl_obj, pairs) -> tuple[np.ndarray, np.ndarray, int]:
    """SMPL pelvis positions (T, 3) and local rotations (T, 24, 3, 3), world Z-up, in the capture's
    units scaled to the SMPL skeleton (retarget.solve_target_motion's leg-length scale), and how many
    leading rest-pose frames were replaced by the first captured pose."""
    action = source_obj.animation_data.action
    source, target = armature_rest(source_obj), armature_rest(smpl_obj)
    source_basis = sample_pose_basis(source_obj, action, source.rig, take_frames(action))
    source_pose = forward_kinematics(source.rest, source.rig.parents, source_basis)
    held = leading_rest_frames(source_basis, source_pose[..., :3, 3])
    source_pose[:held] = source_pose[held]        # time 0 stays the capture's time 0
    frames = len(source_pose)
    solved = solve_target_motion(source, source_pose, target, pairs, plant_feet=True)
    basis = np.broadcast_to(np.eye(4), (frames, len(target.rig.names), 4, 4)).copy()
    basis[:, solved.bones] = solved.basis
    pose = target.world @ forward_kinematics(target.rest, target.rig.parents, basis)
    # A bone's world rotation is G·B (keys.py): G, the SMPL global rotation, is that times B⁻¹.
    rest_rotation = rotation_part(target.rest_world)
    global_rotation = rotation_part(pose) @ np.swapaxes(rest_rotation, -1, -2)
    joints = shipped_skeleton()
    order = [target.rig.names.index(name) for name in joints.joint_names]
    global_rotation = global_rotation[:, order]
    local = global_rotation.copy()
    for joint, parent in enumerate(joints.parents):
        if parent >= 0:
            local[:, joint] = np.swapaxes(global_rotation[:, parent], -1, -2) @ global_rotation[:, joint]
    return pose[:, order[0], :3, 3], local, held


def capture_to_smpl(path: str, output: str) -> tuple[int, float, list[tuple[str, str]]]:
    """Write the capture's SMPL motion to `output` (.npz: root_translation, local_rotmats, fps,
    rest_frames, bone_map). Returns (frames, fps, bone pairs)."""
    source_obj, fps = import_capture(path)
    joints = shipped_skeleton()
    smpl_obj = create_smpl_armature(bpy.context, "SMPL", joints.joint_names, joints.parents, joints.rest_positions)
    pairs = bone_pairs(source_obj, smpl_obj)
    root, local, held = smpl_motion(source_obj, smpl_obj, pairs)
    np.savez(output, root_translation=root, local_rotmats=local, fps=np.float64(fps), rest_frames=held,
             bone_map=np.array(pairs, dtype=str).reshape(-1, 2), source_armature=np.array(source_obj.name))
    return len(root), fps, pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lm2d_blender.mocap_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", help="a motion capture file (.bvh or .fbx)")
    parser.add_argument("output", help="the .npz to write (SMPL local rotations and pelvis positions)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.isfile(args.capture):
        print(f"error: {args.capture}: no such file", file=sys.stderr)
        return 2
    try:
        frames, fps, pairs = capture_to_smpl(args.capture, args.output)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.capture}: {frames} frames at {fps:g} FPS, {len(pairs)} bones mapped")
    return 0
