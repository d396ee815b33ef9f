"""Math the add-on and the server both need, written twice because the add-on cannot import lm2d
(no torch in Blender): each add-on numpy version must agree with the server's on the same input.
A change to either side that the other does not follow fails here."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from lm2d import limits as server_limits
from lm2d.motion import ik as server_ik
from lm2d.motion import rotation as server
from lm2d.motion.representation import Motion, resample as server_resample
from lm2d.validate import motion as server_result_checks
from lm2d_blender import result_file as addon_result_file
from lm2d_blender import rotation as addon
from lm2d_blender.keys import resample as addon_resample
from lm2d_blender.retarget_solve import two_bone_ik as addon_two_bone_ik

RNG = np.random.default_rng(3)


def random_quaternions(*shape) -> np.ndarray:
    q = RNG.standard_normal((*shape, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def same_rotation(a: np.ndarray, b: np.ndarray) -> bool:
    """q and -q are the same rotation."""
    return bool(np.all(np.abs(np.abs(np.sum(a * b, axis=-1)) - 1.0) < 1e-9))


def test_quaternion_matrix_conversions_agree():
    q = random_quaternions(200)
    matrices = addon.quaternion_to_matrix(q)
    np.testing.assert_allclose(matrices, server.quaternion_to_matrix(torch.from_numpy(q)).numpy(), atol=1e-12)
    back_addon = addon.matrix_to_quaternion(matrices)
    back_server = server.matrix_to_quaternion(torch.from_numpy(matrices)).numpy()
    assert same_rotation(back_addon, q) and same_rotation(back_server, q)
    np.testing.assert_allclose(back_addon, back_server, atol=1e-9)     # both give w >= 0


def test_products_slerp_and_sign_continuity_agree():
    a, b = random_quaternions(50), random_quaternions(50)
    t = RNG.uniform(0, 1, 50)
    np.testing.assert_allclose(addon.multiply(a, b), server.quaternion_multiply(torch.from_numpy(a),
                                                                               torch.from_numpy(b)).numpy(), atol=1e-12)
    np.testing.assert_allclose(addon.slerp(a, b, t), server.slerp(torch.from_numpy(a), torch.from_numpy(b),
                                                                  torch.from_numpy(t)).numpy(), atol=1e-12)
    flipping = random_quaternions(40, 3) * np.where(RNG.uniform(size=(40, 3, 1)) < 0.5, -1.0, 1.0)
    np.testing.assert_array_equal(addon.continuous_signs(flipping),
                                  server.quaternion_make_continuous(torch.from_numpy(flipping)).numpy())


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "YXZ"])
def test_euler_angles_agree_with_blenders_order_reversed_on_the_server(order):
    """The add-on reads Blender's Euler modes ('XYZ': X applied first, R = Rz·Ry·Rx); the server's
    euler_to_matrix(angles, 'ZYX') composes left to right, R = Rz·Ry·Rx: the same rotation."""
    angles = RNG.uniform(-np.pi, np.pi, (30, 3))
    axes = ["XYZ".index(letter) for letter in order]
    expected = server.euler_to_matrix(torch.from_numpy(angles[:, axes[::-1]]), order[::-1]).numpy()
    np.testing.assert_allclose(addon.euler_to_matrix(angles, order), expected, atol=1e-12)


@pytest.mark.parametrize("source_fps,target_fps", [(30.0, 24.0), (24.0, 30.0), (60.0, 25.0)])
def test_resampling_a_take_agrees_with_the_servers(source_fps, target_fps):
    """Both read the motion at frames i·source/target, root linearly and rotations by slerp. The
    add-on covers the take's seconds (round(T·target/source) frames, the last one held); the
    server stops on the last source frame: they agree on every frame both have."""
    frames = 90
    rotmats = addon.quaternion_to_matrix(random_quaternions(frames, 24))
    root = np.cumsum(RNG.normal(0, 0.01, (frames, 3)), axis=0)
    resampled = server_resample(Motion(root, rotmats, source_fps), target_fps)
    root_addon, quats_addon = addon_resample(root, addon.matrix_to_quaternion(rotmats), source_fps, target_fps)
    both = min(len(root_addon), resampled.n_frames)
    assert abs(len(root_addon) - resampled.n_frames) <= 2 and both > 0.9 * len(root_addon)
    np.testing.assert_allclose(root_addon[:both], resampled.root_translation[:both], atol=1e-6)
    np.testing.assert_allclose(addon.quaternion_to_matrix(quats_addon[:both]), resampled.local_rotmats[:both],
                               atol=1e-5)


def test_two_bone_ik_puts_knee_and_ankle_where_the_servers_does():
    """The retarget's leg IK (add-on) and the server's (lm2d.motion.ik: corpus rig, foot lock) solve the same triangle: for a
    reachable goal and the same bend direction, knee and ankle land on the same points."""
    count = 64
    hip = RNG.normal(0, 0.1, (count, 3))
    thigh, shin = np.array([0.0, 0.0, -0.4]), np.array([0.0, 0.02, -0.38])
    l1, l2 = np.linalg.norm(thigh), np.linalg.norm(shin)
    direction = RNG.normal(size=(count, 3)) * [0.3, 0.3, 1.0] - [0, 0, 2.0]
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    goal = hip + RNG.uniform(0.3, 0.7, (count, 1)) * (l1 + l2) * direction
    upper, lower = addon.quaternion_to_matrix(random_quaternions(count)), addon.quaternion_to_matrix(random_quaternions(count))

    new_upper, new_lower = addon_two_bone_ik(hip, goal, upper, lower, thigh, shin)
    knee = hip + new_upper @ thigh
    ankle = knee + new_lower @ shin
    # The add-on bends towards where its thigh pointed before: give the server's IK that as its pole.
    # Its upper bone's world rotation carries the rest thigh direction onto the solved one.
    down, forward = np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0])
    g_upper, _g_lower, end = server_ik.two_bone_ik(hip, goal, upper @ thigh, l1, l2, down, down, forward)
    np.testing.assert_allclose(ankle, goal, atol=1e-9)
    np.testing.assert_allclose(end, goal, atol=1e-9)
    np.testing.assert_allclose(knee, hip + l1 * g_upper @ down, atol=1e-9)


# --- issue 17: the add-on's copies of the result-file bounds and of the atomic writer ---

def test_the_addon_copies_lm2ds_bounds():
    """The drift test: lm2d_blender/result_file.py cannot import lm2d, so it copies these."""
    for name in ("MIN_FPS", "MAX_FPS", "MAX_SONG_SECONDS", "MAX_FRAMES", "MIN_RESULT_FRAMES",
                 "MAX_NPZ_MEMBER_BYTES", "MAX_LYRIC_LINES", "MAX_TEXT_CHARS"):
        assert getattr(addon_result_file, name) == getattr(server_limits, name), name
    for name in ("MAX_NPZ_MEMBERS", "QUATERNION_NORM_TOLERANCE"):
        assert getattr(addon_result_file, name) == getattr(server_result_checks, name), name
    for fps in (1.0, 24.0, 29.97, 120.0, 1000.0):
        assert addon_result_file.max_frames(fps) == server_result_checks.max_frames(fps)


def test_the_addons_atomic_writer_behaves_like_lm2ds(tmp_path):
    """The drift test for lm2d_blender/atomic_file.py, the add-on's copy of lm2d.safe_write."""
    import lm2d.safe_write as ours
    import lm2d_blender.atomic_file as addon

    assert addon.TEMP_PREFIX == ours.TEMP_PREFIX and addon.current_umask() == ours.current_umask()
    previous = os.umask(0o027)
    try:
        for name, write in (("addon.json", addon.write_text), ("lm2d.json", ours.write_text)):
            write(tmp_path / name, "one")
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o640
            os.chmod(tmp_path / name, 0o604)
            write(tmp_path / name, "two")
            assert (tmp_path / name).read_text() == "two" and (tmp_path / name).stat().st_mode & 0o777 == 0o604
            with pytest.raises(TypeError):
                write(tmp_path / name, b"not text")
            assert (tmp_path / name).read_text() == "two"
    finally:
        os.umask(previous)
    assert sorted(item.name for item in tmp_path.iterdir()) == ["addon.json", "lm2d.json"]


def test_the_cli_help_names_the_beat_accent_default():
    """The commands' help is written before lm2d.motion (torch) is imported, so it states the default."""
    from lm2d.cli import build_parser
    from lm2d.motion.retime import DEFAULT_STRENGTH

    parser = build_parser()
    commands = next(a for a in parser._actions if a.choices and "generate" in a.choices).choices
    for name in ("generate", "evaluate"):
        accent = next(a for a in commands[name]._actions if "--beat-accent" in a.option_strings)
        assert f"default {DEFAULT_STRENGTH:g}" in accent.help, name
