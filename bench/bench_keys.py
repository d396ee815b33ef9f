"""Writing a 3-minute take (5400 frames × 24 bones at 30 fps) into Blender: the add-on's
foreach_set writer against a keyframe_insert loop. The loop grows about quadratically with the
take's length (each insert also re-walks the growing F-curve), and a full 5400-frame loop takes
minutes, so it is timed on two shorter spans and extrapolated to 5400 frames with the curve
a·n + b·n² through them (labelled as such)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
from scipy.spatial.transform import Rotation

from lm2d.motion.io import save_result_npz
from lm2d.motion.representation import Motion
from lm2d_blender.armature import create_smpl_armature
from lm2d_blender.keys import bone_space_channels, write_take
from lm2d_blender.result_file import read_result, result_skeleton

FRAMES = 5400                 # 3 minutes at 30 fps
LOOP_SPANS = (300, 1350)      # frames the keyframe_insert loop is timed on


def dance(frames: int, seed: int = 0) -> Motion:
    """Smooth random joint rotations (sums of sinusoids) and a wandering pelvis."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None] / 30.0
    axis_angle = 0.6 * np.sin(t * rng.uniform(1, 6, (1, 24, 3)) + rng.uniform(0, 2 * np.pi, (1, 24, 3)))
    quats = Rotation.from_rotvec(axis_angle.reshape(-1, 3)).as_quat()[:, [3, 0, 1, 2]].reshape(frames, 24, 4)
    root = np.column_stack([np.sin(t[:, 0, 0] / 3), np.cos(t[:, 0, 0] / 4), 0.9 + 0.05 * np.sin(4 * t[:, 0, 0])])
    return Motion.from_quaternions(root, quats)


def fresh_armature(result):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    return scene, create_smpl_armature(bpy.context, "Bench", *result_skeleton(result))


def time_keyframe_insert_loop(result, frames: int) -> float:
    """The naive way: set each pose bone and call keyframe_insert, frame by frame."""
    scene, armature = fresh_armature(result)
    skeleton = result_skeleton(result)
    quats, locations = bone_space_channels(armature, skeleton, result["root_translation"][:frames],
                                           result["local_quaternions"][:frames])
    pose_bones = [armature.pose.bones[name] for name in skeleton.joint_names]
    start = time.perf_counter()
    for frame in range(frames):
        for joint, pose_bone in enumerate(pose_bones):
            pose_bone.rotation_quaternion = quats[frame, joint]
            pose_bone.keyframe_insert("rotation_quaternion", frame=frame + 1, group=pose_bone.name)
        pose_bones[0].location = locations[frame]
        pose_bones[0].keyframe_insert("location", frame=frame + 1, group=pose_bones[0].name)
    return time.perf_counter() - start


def run() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "take.npz"
        save_result_npz(dance(FRAMES), path)
        start = time.perf_counter()
        result = read_result(path)
        read_seconds = time.perf_counter() - start

    scene, armature = fresh_armature(result)
    start = time.perf_counter()
    write_take(armature, result, scene)
    write_seconds = time.perf_counter() - start
    keys = FRAMES * (24 * 4 + 3)

    short, long = LOOP_SPANS
    short_seconds, long_seconds = (time_keyframe_insert_loop(result, span) for span in LOOP_SPANS)
    linear, quadratic = np.linalg.solve([[short, short ** 2], [long, long ** 2]], [short_seconds, long_seconds])
    full_seconds = linear * FRAMES + quadratic * FRAMES ** 2
    return [
        ("result file read + checked (5400 frames)", f"{read_seconds * 1000:.0f} ms"),
        ("write_take, 5400 frames × 24 bones (keyframe_points.add + foreach_set)",
         f"{write_seconds:.2f} s ({keys:,} keys)"),
        (f"keyframe_insert loop, {short} frames × 24 bones", f"{short_seconds:.2f} s"),
        (f"keyframe_insert loop, {long} frames × 24 bones", f"{long_seconds:.1f} s"),
        ("keyframe_insert loop, 5400 frames (EXTRAPOLATED: a·n + b·n² through the two spans)",
         f"{full_seconds:.0f} s"),
        ("speed-up of write_take over the loop at 5400 frames (extrapolated)", f"{full_seconds / write_seconds:.0f}×"),
    ]


if __name__ == "__main__":
    for measurement, value in run():
        print(f"{measurement}: {value}")
