"""write_bvh checked against Blender 5.0's own BVH importer (default axes and scale): the
imported armature's joint heads must land where lm2d's forward kinematics puts them."""
from __future__ import annotations

import math

import bpy
import numpy as np
import torch

from lm2d.motion import rotation as rot
from lm2d.motion.bvh import write_bvh
from lm2d.motion.io import load_motion
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import JOINT_NAMES, Y_UP_TO_Z_UP

TOLERANCE_M = 0.01


def import_with_blender(path) -> tuple[bpy.types.Object, np.ndarray]:
    """Import a BVH into an empty scene with the importer's defaults; return the armature and
    its joint heads in world space, (frames, 24, 3), for every keyed frame."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.import_anim.bvh(filepath=str(path)) == {"FINISHED"}
    armature = bpy.context.object
    first, last = (int(round(f)) for f in armature.animation_data.action.frame_range)
    scene = bpy.context.scene
    heads = []
    for frame in range(first, last + 1):
        scene.frame_set(frame)
        bones = armature.pose.bones
        heads.append([tuple(armature.matrix_world @ bones[name].head) for name in JOINT_NAMES])
    return armature, np.array(heads)


def assert_blender_matches_fk(motion: Motion, path) -> float:
    write_bvh(motion, path)
    armature, heads = import_with_blender(path)
    assert sorted(bone.name for bone in armature.pose.bones) == sorted(JOINT_NAMES)
    assert heads.shape == (motion.n_frames, 24, 3)
    error = float(np.linalg.norm(heads - motion.joints(), axis=-1).max())
    assert error < TOLERANCE_M, f"max joint error {error * 100:.3f} cm"
    return error


def test_sample_motion_survives_blender_import(shared_data, tmp_path):
    motion = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")
    error = assert_blender_matches_fk(motion, tmp_path / "sample.bvh")
    # The joints are written to 1e-6 m / 1e-6 degrees; Blender computes in float32.
    assert error < 1e-4


def test_extreme_rotations_survive_blender_import(tmp_path):
    """Random rotations of every joint, plus frames exactly at the ZXY gimbal lock (X = +-90
    degrees in the BVH's Y-up frame) and whole turns of the root, at 24 FPS."""
    frames = 40
    g = torch.Generator().manual_seed(0)
    rotmats = rot.quaternion_to_matrix(torch.randn(frames, 24, 4, generator=g, dtype=torch.float64))
    c = torch.from_numpy(Y_UP_TO_Z_UP)
    for frame in range(0, frames, 4):
        angles = torch.rand(24, 3, generator=g, dtype=torch.float64) * 2 * math.pi - math.pi
        angles[:, 1] = math.copysign(math.pi / 2, frame % 8 - 3.5)
        rotmats[frame] = c @ rot.euler_to_matrix(angles, "ZXY") @ c.T      # the lock in BVH axes
    yaw = torch.linspace(0, 4 * math.pi, frames, dtype=torch.float64)
    rotmats[:, 0] = rot.axis_angle_to_matrix(yaw[:, None] * torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    translation = torch.randn(frames, 3, generator=g).numpy()
    motion = Motion(translation, rotmats.numpy(), fps=24)
    assert_blender_matches_fk(motion, tmp_path / "extreme.bvh")
    assert "Frame Time: 0.04166667" in (tmp_path / "extreme.bvh").read_text()
