"""Results and scenes for the add-on's tests, in real bpy: result files in the documented format
(smooth random motion with numpy forward kinematics), takes of the SMPL dancer, a mocap rig, and
reading poses and keys back from what Blender evaluates."""
from __future__ import annotations

import bpy
import numpy as np
from bpy_extras import anim_utils
from scipy.spatial.transform import Rotation

from lm2d_blender.armature import create_smpl_armature
from lm2d_blender.keys import write_take
from lm2d_blender.result_file import result_skeleton
from lm2d_blender.skeleton import shipped_skeleton


def smpl_fk(root_translation, rotmats, parents, rest):
    """World joint positions: global_j = global_parent · local_j, joint_j = joint_parent +
    global_parent · (rest_j − rest_parent); the root translation is the pelvis position."""
    frames, joints = rotmats.shape[:2]
    global_rot = np.empty((frames, joints, 3, 3))
    positions = np.empty((frames, joints, 3))
    for j, parent in enumerate(parents):
        if parent < 0:
            global_rot[:, j], positions[:, j] = rotmats[:, j], root_translation
        else:
            global_rot[:, j] = global_rot[:, parent] @ rotmats[:, j]
            positions[:, j] = positions[:, parent] + global_rot[:, parent] @ (rest[j] - rest[parent])
    return positions


def smooth_motion(frames: int, seed: int, fps: float = 30.0):
    """Root positions (T, 3), local quaternions (T, 24, 4) (w, x, y, z) and matrices: sums of
    sinusoids, plus one joint spinning through more than a full turn (its quaternion changes sign)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None] / fps
    axis_angle = 0.7 * np.sin(t * rng.uniform(2, 8, (1, 24, 3)) + rng.uniform(0, 2 * np.pi, (1, 24, 3)))
    axis_angle[:, 16] = np.array([0.0, 0.0, 1.0]) * (2.6 * np.pi * t[:, 0] / t[-1, 0])  # left_shoulder spins
    root = np.column_stack([0.4 * np.sin(2 * t[:, 0, 0]), 0.3 * np.cos(3 * t[:, 0, 0]),
                            0.9 + 0.05 * np.sin(9 * t[:, 0, 0])])
    rotations = Rotation.from_rotvec(axis_angle.reshape(-1, 3))
    quats = rotations.as_quat()[:, [3, 0, 1, 2]].reshape(frames, 24, 4)
    return root, quats, rotations.as_matrix().reshape(frames, 24, 3, 3)


def make_result(frames: int = 40, seed: int = 0, fps: float = 30.0, lyrics=None) -> dict:
    """A result dict in the documented format, with continuous quaternion signs."""
    skeleton = shipped_skeleton()
    root, quats, rotmats = smooth_motion(frames, seed, fps)
    for t in range(1, frames):  # continuous signs, as the format promises
        quats[t] *= np.where(np.sum(quats[t] * quats[t - 1], axis=-1) < 0, -1.0, 1.0)[:, None]
    result = {
        "fps": np.float64(fps),
        "joint_names": np.array(skeleton.joint_names),
        "parents": np.array(skeleton.parents),
        "rest_positions": skeleton.rest_positions.astype(np.float32),
        "root_translation": root.astype(np.float32),
        "local_quaternions": quats.astype(np.float32),
        "joint_positions": smpl_fk(root, rotmats, skeleton.parents, skeleton.rest_positions).astype(np.float32),
    }
    if lyrics:
        result["lyric_lines"] = np.array([text for _, _, text in lyrics])
        result["lyric_starts"] = np.array([start for start, _, _ in lyrics])
        result["lyric_ends"] = np.array([end for _, end, _ in lyrics])
    return result


def save_result(path, result) -> str:
    np.savez(path, **result)
    return str(path)


def take_fcurves(obj, action):
    return anim_utils.action_get_channelbag_for_slot(action, action.slots[0]).fcurves


def keys_of(fcurve) -> np.ndarray:
    co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def posed_heads(obj, frame: int) -> np.ndarray:
    """(24, 3) world head positions in SMPL joint order (Blender orders bones its own way)."""
    bpy.context.scene.frame_set(frame)
    return np.array([obj.matrix_world @ obj.pose.bones[name].head for name in shipped_skeleton().joint_names])


def evaluated_heads(obj, names, frames) -> np.ndarray:
    """(T, J, 3) world positions of the bones' heads in the pose Blender evaluates at each frame."""
    scene = bpy.context.scene
    heads = np.empty((len(frames), len(names), 3))
    for i, frame in enumerate(frames):
        scene.frame_set(int(frame))
        heads[i] = [obj.matrix_world @ obj.pose.bones[name].head for name in names]
    return heads


def smpl_take(result):
    """The SMPL dancer with `result` as its take, in the current scene at the result's 30 FPS."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    dancer = create_smpl_armature(bpy.context, "SMPL", *result_skeleton(result))
    write_take(dancer, result, scene)
    return dancer


def import_cmu_rig(shared_data):
    assert bpy.ops.import_scene.fbx(filepath=str(shared_data / "motion" / "cmu_55_01_dance.fbx")) == {'FINISHED'}
    return next(obj for obj in bpy.data.objects if obj.type == 'ARMATURE')


def new_armature(name="Dancer"):
    return create_smpl_armature(bpy.context, name, *shipped_skeleton())


def evaluated_world_vertices(obj) -> np.ndarray:
    """(V, 3) world positions of a mesh's vertices as Blender evaluates them (armature deform included)."""
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    co = np.empty(3 * len(evaluated.data.vertices))
    evaluated.data.vertices.foreach_get("co", co)
    matrix = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
