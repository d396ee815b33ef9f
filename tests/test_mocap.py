"""`lm2d import-mocap`: BVH and FBX captures retargeted onto the SMPL skeleton through Blender.

Round trips: a motion written as BVH by lm2d's own writer — on the SMPL skeleton, or renamed to
Mixamo's bone names with its arms in an A-pose rest — imports back to the same joint positions
within a millimetre (the rest alignment must undo the A-pose exactly). The real CMU 55_01 dance
imports with its turning, knee bends and lean intact and its feet on the floor.
"""
from __future__ import annotations

import numpy as np
import pytest

from lm2d.cli import main as lm2d_main
from lm2d.evaluation.body_usage import body_usage
from lm2d.mocap import import_mocap, place_on_floor
from lm2d.motion.bvh import write_bvh
from lm2d.motion.io import load_motion, load_result_npz
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import JOINT_NAMES, PARENTS, rest_offsets

TOLERANCE_M = 1e-3
MIXAMO_NAMES = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
    **{f"{side}_{smpl}": f"{Side}{mixamo}" for side, Side in (("left", "Left"), ("right", "Right"))
       for smpl, mixamo in (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"),
                            ("collar", "Shoulder"), ("shoulder", "Arm"), ("elbow", "ForeArm"),
                            ("wrist", "Hand"), ("hand", "HandIndex1"))},
}
A_POSE_DEGREES = 40.0
ARM_JOINTS = {"left": (16, 18, 20, 22), "right": (17, 19, 21, 23)}   # shoulder, elbow, wrist, hand


@pytest.fixture(scope="module")
def sample(shared_data) -> Motion:
    """A real SMPL capture at 30 FPS, already on the floor (import places every capture there)."""
    return place_on_floor(load_motion(shared_data / "motion" / "smpl_sample_127f.pkl"))


def rotation_about(axis, degrees: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def a_posed(motion: Motion) -> tuple[Motion, np.ndarray]:
    """The same world motion on a rig whose rest has the arms turned down by A_POSE_DEGREES at the
    shoulders: (local rotations for that rig, its rest offsets). A joint j of a turned segment has
    global rotation G_j·A⁻¹ so that G_j·A⁻¹·(A·offset) is the joint's true offset."""
    offsets = rest_offsets().astype(np.float64)
    turn = {}
    for side, sign in (("left", -1.0), ("right", 1.0)):
        shoulder, *rest = ARM_JOINTS[side]
        a = rotation_about((0.0, 1.0, 0.0), sign * A_POSE_DEGREES)     # arm along ±X swings down
        for joint in rest:
            offsets[joint] = a @ offsets[joint]
        for joint in (shoulder, *rest):
            turn[joint] = a
    local = motion.local_rotmats.astype(np.float64)
    glob = np.empty_like(local)
    for joint, parent in enumerate(PARENTS):
        glob[:, joint] = local[:, joint] if parent < 0 else glob[:, parent] @ local[:, joint]
    turned = glob.copy()
    for joint, a in turn.items():
        turned[:, joint] = glob[:, joint] @ a.T
    new_local = turned.copy()
    for joint, parent in enumerate(PARENTS):
        if parent >= 0:
            new_local[:, joint] = np.swapaxes(turned[:, parent], -1, -2) @ turned[:, joint]
    return Motion(motion.root_translation, new_local, motion.fps), offsets


def test_lm2d_bvh_round_trip_gives_back_the_joints(sample, tmp_path, capsys):
    capture = tmp_path / "sample.bvh"
    write_bvh(sample, capture)
    out = tmp_path / "clip.npz"
    assert lm2d_main(["import-mocap", str(capture), "-o", str(out)]) == 0
    assert "24 bones mapped" in capsys.readouterr().out
    imported, _ = load_result_npz(out)
    assert imported.fps == 30.0 and imported.n_frames == sample.n_frames
    error = np.linalg.norm(imported.joints() - sample.joints(), axis=-1)
    assert error.max() < TOLERANCE_M, error.max()


def test_mixamo_names_and_an_a_pose_rest_import_to_the_same_joints(sample, tmp_path):
    motion, offsets = a_posed(sample)
    names = [f"mixamorig:{MIXAMO_NAMES[name]}" for name in JOINT_NAMES]
    capture = tmp_path / "mixamo_a_pose.bvh"
    write_bvh(motion, capture, names=names, offsets=offsets)
    imported = import_mocap(capture)
    # Mixamo's HandIndex1 is a finger, not SMPL's hand end: every other joint is mapped.
    assert {smpl for _, smpl in imported.bone_map} == set(JOINT_NAMES) - {"left_hand", "right_hand"}
    error = np.linalg.norm(imported.motion.joints() - sample.joints(), axis=-1)
    body = [j for j in range(24) if j not in (22, 23)]
    assert error[:, body].max() < TOLERANCE_M, error[:, body].max()
    # The hand ends hang off the wrists at the rest angle: a few millimetres of twist at most.
    assert error[:, [22, 23]].max() < 0.01, error[:, [22, 23]].max()


def test_fbx_in_centimetres_on_a_turned_object(sample, tmp_path):
    """A Mixamo-named rig saved from Blender as FBX: centimetre bones under a 0.01-scaled object turned
    1 rad about Z. An armature-only FBX has no bind pose, so Blender's importer takes the exported
    frame (the first) as the rest: that first frame must not be mistaken for a T-pose frame, and the
    posed rest costs the rest alignment (which assumes an upright rest) a few centimetres."""
    import bpy

    motion, offsets = a_posed(sample)
    capture, fbx = tmp_path / "mixamo.bvh", tmp_path / "mixamo.fbx"
    write_bvh(motion, capture, names=[f"mixamorig:{MIXAMO_NAMES[name]}" for name in JOINT_NAMES], offsets=offsets)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 30
    assert bpy.ops.import_anim.bvh(filepath=str(capture), global_scale=100.0) == {'FINISHED'}
    rig = bpy.context.scene.objects[0]
    rig.scale, rig.rotation_euler = (0.01, 0.01, 0.01), (0.0, 0.0, 1.0)
    assert bpy.ops.export_scene.fbx(filepath=str(fbx), bake_anim=True, add_leaf_bones=False,
                                    bake_anim_simplify_factor=0.0) == {'FINISHED'}
    imported = import_mocap(fbx)
    assert imported.rest_frames == 0 and imported.source_frames == sample.n_frames
    turn = rotation_about((0.0, 0.0, 1.0), np.degrees(1.0))
    expected = place_on_floor(Motion(sample.root_translation @ turn.T.astype(np.float32),
                                     np.concatenate([turn[None, None] @ sample.local_rotmats[:, :1],
                                                     sample.local_rotmats[:, 1:]], axis=1), 30.0))
    error = np.linalg.norm(imported.motion.joints() - expected.joints(), axis=-1)
    assert error.max() < 0.04, error.max()


def test_resampled_cut_and_written_as_bvh(sample, tmp_path):
    capture, clip = tmp_path / "sample.bvh", tmp_path / "clip15.bvh"
    write_bvh(sample, capture)
    assert lm2d_main(["import-mocap", str(capture), "--fps", "15", "--start", "0.5", "--end", "1.5",
                      "-o", str(clip)]) == 0
    imported = import_mocap(clip, fps=15.0)        # the clip lm2d wrote, read back
    # At 15 FPS, seconds [0.5, 1.5) are frames 8..22: the sample's 30 FPS frames 16, 18, ... 44.
    expected = place_on_floor(Motion(sample.root_translation[16:45:2], sample.local_rotmats[16:45:2], 15.0))
    assert imported.source_fps == 15.0 and imported.source_frames == 15 == imported.motion.n_frames
    error = np.linalg.norm(imported.motion.joints() - expected.joints(), axis=-1)
    assert error.max() < TOLERANCE_M


def test_cmu_dance_imports_as_a_dance_on_the_floor(shared_data, tmp_path, capsys):
    out = tmp_path / "cmu_55_01.npz"
    assert lm2d_main(["import-mocap", str(shared_data / "motion" / "cmu_55_01_dance.fbx"), "-o", str(out)]) == 0
    # Frame 1 of the file is the rig's T-pose; the dance starts at frame 2.
    assert ("1807 frames at 120 FPS (its first 1 frame(s), the bare rest pose, given the first captured "
            "pose); 23 bones mapped") in capsys.readouterr().out
    motion, _ = load_result_npz(out)
    assert motion.fps == 30.0 and motion.n_frames == 452          # every 4th of 1807 frames
    joints = motion.joints()
    lowest_foot = joints[:, [7, 8, 10, 11], 2].min(axis=1)
    assert np.percentile(lowest_foot, 10) == pytest.approx(0.0, abs=1e-4)
    # The capture's own toe heights vary by a few cm from step to step: few frames dip below.
    assert lowest_foot.min() > -0.05 and np.mean(lowest_foot < -0.02) < 0.05
    assert np.abs(joints[0, 0, :2]).max() < 1e-5                  # starts above the origin
    usage = body_usage(joints, motion.fps)
    # The CMU rig's own statistics over the same frames (its T-pose frame left out), measured with
    # ../shared/tools/dance_stats.py on its bone heads: angles and rates do not depend on the
    # skeleton's proportions, so they carry over.
    assert usage["hip_yaw_rate"] == pytest.approx(130.4, abs=2.0)
    assert usage["knee_flexion_p95"] == pytest.approx(56.2, abs=2.0)
    assert usage["legs_arms_ratio"] == pytest.approx(0.58, abs=0.05)
    # Lengths divide by the body height, and SMPL's head joint stands 1.97 leg lengths above the
    # ankle, the CMU rig's (at the skull base) 1.66: the same dance measures 0.84x the CMU rig's
    # wrist 0.97, travel 0.366 heights/s and jerk 119.
    ratio = 1.66 / 1.97
    assert usage["wrist_speed"] == pytest.approx(0.97 * ratio, rel=0.1)
    assert usage["floor_travel"] == pytest.approx(0.366 * ratio, rel=0.1)
    assert usage["jerk"] == pytest.approx(119.0 * ratio, rel=0.1)


def test_bad_captures_are_one_line_errors(sample, tmp_path, capsys):
    def error_line(*args) -> str:
        assert lm2d_main(["import-mocap", *map(str, args)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1
        return lines[0]

    assert "unknown motion capture format '.txt'" in error_line(tmp_path / "x.txt", "-o", tmp_path / "x.npz")
    assert "not found" in error_line(tmp_path / "missing.bvh", "-o", tmp_path / "x.npz")
    assert "use .npz or .bvh" in error_line(tmp_path / "x.bvh", "-o", tmp_path / "x.fbx")
    broken = tmp_path / "broken.fbx"
    broken.write_bytes(b"Kaydara FBX Binary  \x00\x1a\x00" + bytes(range(256)) * 4)
    line = error_line(broken, "-o", tmp_path / "x.npz")
    assert line.startswith(f"error: {broken}: Blender could not import it")
    robot = tmp_path / "robot.bvh"
    still = Motion(np.zeros((3, 3)), np.broadcast_to(np.eye(3), (3, 24, 3, 3)), 30.0)
    write_bvh(still, robot, names=[f"link{j}" for j in range(24)])
    line = error_line(robot, "-o", tmp_path / "x.npz")
    assert f"{robot}: Blender could not import it" in line and "no bone recognised as pelvis" in line
    assert "0 <= start < end" in error_line(robot, "--start", "2", "--end", "1", "-o", tmp_path / "x.npz")
    dance = tmp_path / "dance.bvh"
    write_bvh(sample, dance)
    line = error_line(dance, "--start", "5", "-o", tmp_path / "x.npz")
    assert f"{dance}: the span 5..end s is not inside the capture's 2.13 s" in line
    assert not (tmp_path / "x.npz").exists()
