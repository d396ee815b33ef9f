"""The take writer and the SMPL armature, in real bpy: keys, exact poses, resampling, NLA, lyrics.

Expected poses come from an independent numpy/scipy forward kinematics of the same result, and
once from a file written by the server side (lm2d.motion.io.save_result_npz)."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from bpy_extras import anim_utils
from scipy.spatial.transform import Rotation, Slerp

from lm2d_blender.armature import armature_skeleton, bone_tails, create_smpl_armature
from lm2d_blender.keys import write_take
from lm2d_blender.takes import TAKE_PROP
from lm2d_blender.result_file import ResultFileError, read_result
from lm2d_blender.skeleton import shipped_skeleton

MILLIMETRE = 1e-3


# --- building results in the test: smooth random motion and numpy forward kinematics ---------

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


# --- reading the scene back ---------------------------------------------------------------

@pytest.fixture()
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    return scene


def new_armature(name="Dancer"):
    return create_smpl_armature(bpy.context, name, *shipped_skeleton())


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


# --- the armature -------------------------------------------------------------------------

def test_armature_has_the_smpl_bones_hierarchy_and_rest_pose(scene):
    skeleton = shipped_skeleton()
    obj = new_armature()
    bones = obj.data.bones
    assert sorted(bone.name for bone in bones) == sorted(skeleton.joint_names)
    for j, name in enumerate(skeleton.joint_names):
        bone, parent = bones[name], skeleton.parents[j]
        assert (bone.parent.name if bone.parent else None) == (skeleton.joint_names[parent] if parent >= 0 else None)
        np.testing.assert_allclose(bone.head_local, skeleton.rest_positions[j], atol=1e-6)
        assert obj.pose.bones[name].rotation_mode == 'QUATERNION'
    # tails: at the chain's main child (midline child for the pelvis and spine3), leaves continue their parent's line
    np.testing.assert_allclose(bones["pelvis"].tail_local, skeleton.rest_positions[3], atol=1e-6)
    np.testing.assert_allclose(bones["spine3"].tail_local, skeleton.rest_positions[12], atol=1e-6)
    np.testing.assert_allclose(bones["left_knee"].tail_local, skeleton.rest_positions[7], atol=1e-6)
    for leaf in ("head", "left_hand", "right_foot"):
        j = skeleton.joint_names.index(leaf)
        along_parent = skeleton.rest_positions[j] - skeleton.rest_positions[skeleton.parents[j]]
        direction = np.array(bones[leaf].tail_local - bones[leaf].head_local)
        assert np.dot(direction, along_parent) / (np.linalg.norm(direction) * np.linalg.norm(along_parent)) > 0.999
        assert bones[leaf].length < 0.2
    np.testing.assert_allclose(bone_tails(skeleton)[0], skeleton.rest_positions[3])
    stored = armature_skeleton(obj)
    assert stored.joint_names == skeleton.joint_names and stored.parents == skeleton.parents
    np.testing.assert_allclose(stored.rest_positions, skeleton.rest_positions)


# --- keys and poses -------------------------------------------------------------------------

def test_take_keys_every_frame_of_every_bone_linearly(scene):
    obj = new_armature()
    action, track, strip = write_take(obj, make_result(frames=40), scene)
    fcurves = take_fcurves(obj, action)
    assert len(fcurves) == 24 * 4 + 3
    paths = {(fc.data_path, fc.array_index) for fc in fcurves}
    for name in shipped_skeleton().joint_names:
        assert {(f'pose.bones["{name}"].rotation_quaternion', i) for i in range(4)} <= paths
    assert {('pose.bones["pelvis"].location', i) for i in range(3)} <= paths
    for fcurve in fcurves:
        np.testing.assert_array_equal(keys_of(fcurve)[:, 0], np.arange(1, 41))
        assert {point.interpolation for point in fcurve.keyframe_points} == {'LINEAR'}
    assert (scene.frame_start, scene.frame_end) == (1, 40)
    assert strip.frame_start == 1 and strip.frame_end == 40


def test_pose_at_every_frame_equals_the_files_joint_positions(scene):
    result = make_result(frames=40, seed=1)
    obj = new_armature()
    write_take(obj, result, scene)
    for k in range(40):
        error = np.abs(posed_heads(obj, 1 + k) - result["joint_positions"][k]).max()
        assert error < MILLIMETRE, f"frame {k}: {error * 1000:.3f} mm"


def test_quaternion_signs_are_continuous_even_when_the_file_flips_them(scene):
    result = make_result(frames=60, seed=2)
    flipped = result["local_quaternions"].copy()
    rng = np.random.default_rng(0)
    flipped[rng.random(flipped.shape[:2]) < 0.3] *= -1.0   # same rotations, jumping signs
    result["local_quaternions"] = flipped
    obj = new_armature()
    action, _, _ = write_take(obj, result, scene)
    fcurves = take_fcurves(obj, action)
    for name in shipped_skeleton().joint_names:
        path = f'pose.bones["{name}"].rotation_quaternion'
        q = np.stack([keys_of(fcurves.find(path, index=i))[:, 1] for i in range(4)], axis=1)
        assert (np.sum(q[1:] * q[:-1], axis=1) > 0).all(), name
    spinning = np.stack([keys_of(fcurves.find('pose.bones["left_shoulder"].rotation_quaternion', index=i))[:, 1]
                         for i in range(4)], axis=1)
    assert spinning[0] @ spinning[-1] < 0   # more than a full turn: the sign really had to travel
    for k in (0, 29, 59):
        assert np.abs(posed_heads(obj, 1 + k) - result["joint_positions"][k]).max() < MILLIMETRE


def test_a_24_fps_scene_gets_the_same_seconds_resampled(scene):
    scene.render.fps = 24
    frames = 45
    result = make_result(frames=frames, seed=3)
    obj = new_armature()
    action, _, strip = write_take(obj, result, scene)
    count = round(frames * 24 / 30)
    assert (scene.frame_start, scene.frame_end) == (1, count)
    assert len(take_fcurves(obj, action)[0].keyframe_points) == count

    # Independent expectation: scipy slerp of each joint and linear root at t = k/24, then FK.
    skeleton = shipped_skeleton()
    source_times = np.arange(frames) / 30.0
    target_times = np.minimum(np.arange(count) / 24.0, source_times[-1])
    quats = result["local_quaternions"].astype(np.float64)
    rotmats = np.stack([Slerp(source_times, Rotation.from_quat(quats[:, j][:, [1, 2, 3, 0]]))(target_times).as_matrix()
                        for j in range(24)], axis=1)
    root = np.stack([np.interp(target_times, source_times, result["root_translation"][:, i]) for i in range(3)], 1)
    expected = smpl_fk(root, rotmats, skeleton.parents, skeleton.rest_positions)
    for k in range(count):
        error = np.abs(posed_heads(obj, 1 + k) - expected[k]).max()
        assert error < MILLIMETRE, f"24-fps frame {k}: {error * 1000:.3f} mm"


def test_a_server_written_result_file_loads_exactly(scene, tmp_path):
    """The contract between the two sides: lm2d writes the file, the add-on keys it."""
    from lm2d.motion.io import save_result_npz
    from lm2d.motion.representation import Motion

    source = make_result(frames=30, seed=4)
    path = tmp_path / "take.npz"
    save_result_npz(Motion.from_quaternions(source["root_translation"], source["local_quaternions"]),
                    path, lyric_lines=[(0.2, 0.6, "hello there"), (0.6, 0.9, "again")])
    result = read_result(path)
    obj = create_smpl_armature(bpy.context, "FromServer", result["joint_names"], result["parents"],
                               result["rest_positions"])
    write_take(obj, result, scene)
    for k in (0, 14, 29):
        assert np.abs(posed_heads(obj, 1 + k) - result["joint_positions"][k]).max() < MILLIMETRE
    assert [(m.name, m.frame) for m in scene.timeline_markers] == [("hello there", 7), ("again", 19)]


# --- takes, NLA and the user's own animation -------------------------------------------------

def test_takes_stack_on_new_nla_tracks_and_become_active(scene):
    obj = new_armature()
    first, first_track, _ = write_take(obj, make_result(frames=12, seed=5), scene)
    second, second_track, second_strip = write_take(obj, make_result(frames=20, seed=6), scene, start_frame=5)
    assert (first.name, second.name) == ("LM2D take 1", "LM2D take 2")
    assert (first[TAKE_PROP], second[TAKE_PROP]) == (1, 2)
    tracks = obj.animation_data.nla_tracks
    assert [track.name for track in tracks] == ["LM2D take 1", "LM2D take 2"]  # newest on top
    assert not any(track.mute or track.is_solo for track in tracks)
    assert second_strip.action == second and second_strip.action_slot == second.slots[0]
    assert second_strip.frame_start == 5 and (scene.frame_start, scene.frame_end) == (5, 24)
    assert obj.animation_data.action == second and obj.animation_data.action_slot == second.slots[0]
    assert first_track.strips[0].action == first   # the earlier take is still there, unchanged
    assert len(take_fcurves(obj, first)[0].keyframe_points) == 12


def test_an_existing_user_action_is_left_untouched(scene):
    obj = new_armature()
    pelvis = obj.pose.bones["pelvis"]
    for frame, height in ((1, 0.0), (10, 0.3)):
        pelvis.location = (0.0, height, 0.0)
        pelvis.keyframe_insert("location", frame=frame)
    user_action = obj.animation_data.action
    user_action.name = "My walk"
    before = {(fc.data_path, fc.array_index): keys_of(fc).copy() for fc in take_fcurves(obj, user_action)}

    take, track, _ = write_take(obj, make_result(frames=15, seed=7), scene)
    assert obj.animation_data.action == user_action          # still the active action
    assert take != user_action and track.strips[0].action == take
    after = {(fc.data_path, fc.array_index): keys_of(fc) for fc in take_fcurves(obj, user_action)}
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    assert TAKE_PROP not in user_action


def test_lyric_lines_become_timeline_markers_once(scene):
    lyrics = [(0.0, 0.5, "first line"), (0.5, 1.2, "second line")]
    result = make_result(frames=40, seed=8, lyrics=lyrics)
    obj = new_armature()
    write_take(obj, result, scene, start_frame=11)
    write_take(obj, result, scene, start_frame=11)   # a second take of the same song adds no duplicates
    assert sorted((m.frame, m.name) for m in scene.timeline_markers) == [(11, "first line"), (26, "second line")]


def test_a_result_that_does_not_fit_is_refused_with_its_name(scene, tmp_path):
    result = make_result(frames=10)
    broken = dict(result, local_quaternions=result["local_quaternions"][:, :23])
    with pytest.raises(ResultFileError, match=r"broken\.npz: 'local_quaternions' has shape \(10, 23, 4\)"):
        read_result(save_result(tmp_path / "broken.npz", broken))
    missing = {key: value for key, value in result.items() if key != "fps"}
    with pytest.raises(ResultFileError, match=r"missing\.npz: missing key\(s\) fps"):
        read_result(save_result(tmp_path / "missing.npz", missing))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ResultFileError, match=r"text\.npz: not a readable \.npz"):
        read_result(tmp_path / "text.npz")
    renamed = dict(result, joint_names=np.array(["hips"] + list(result["joint_names"][1:])))
    obj = new_armature()
    with pytest.raises(ValueError, match="has no bone\\(s\\) hips"):
        write_take(obj, renamed, scene)
    assert not bpy.data.actions   # nothing half-written
