"""The SMPL motion core: rotations, skeleton, forward kinematics, motion vectors, loaders, CLI."""
from __future__ import annotations

import argparse
import math
import pickle

import numpy as np
import pytest
import torch

from lm2d.commands import convert
from lm2d.errors import LM2DError
from lm2d.motion import rotation as rot
from lm2d.motion.io import load_motion, load_result_npz, save_result_npz, smpl_to_motion
from lm2d.motion.kinematics import foot_contacts, forward_kinematics
from lm2d.motion.representation import (MOTION_DIM, Motion, motion_vector_to_parts,
                                        parts_to_motion_vector, resample)
from lm2d.motion.skeleton import (FOOT_JOINTS, JOINT_NAMES, LOWER_BODY_JOINTS, PARENTS,
                                  REST_POSITIONS_Y_UP, UPPER_BODY_JOINTS, Y_UP_TO_Z_UP,
                                  rest_offsets, rest_positions)

SAMPLE = "motion/smpl_sample_127f.pkl"
DTYPES = (torch.float32, torch.float64)


def random_rotvecs(n: int, angles: torch.Tensor, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    axes = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    return (axes * angles.reshape(n, 1)).to(dtype)


def random_rotmats(shape: tuple, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return rot.quaternion_to_matrix(torch.randn(*shape, 4, generator=g, dtype=torch.float64)).to(dtype)


ANGLE_RANGES = {
    "random": lambda g, n: torch.rand(n, generator=g, dtype=torch.float64) * (math.pi - 1e-3),
    "near_zero": lambda g, n: torch.rand(n, generator=g, dtype=torch.float64) * 1e-6,
    "zero": lambda g, n: torch.zeros(n, dtype=torch.float64),
    "near_pi": lambda g, n: math.pi - 1e-6 - torch.rand(n, generator=g, dtype=torch.float64) * 1e-3,
}


# --- rotations ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("angles", sorted(ANGLE_RANGES))
def test_axis_angle_round_trips(dtype, angles):
    n = 2000
    aa = random_rotvecs(n, ANGLE_RANGES[angles](torch.Generator().manual_seed(1), n), dtype=dtype)
    matrix = rot.axis_angle_to_matrix(aa)
    assert matrix.dtype == dtype
    assert (rot.matrix_to_axis_angle(matrix) - aa).abs().max() < 1e-5
    quaternion = rot.axis_angle_to_quaternion(aa)
    assert (rot.quaternion_to_axis_angle(quaternion) - aa).abs().max() < 1e-5
    # Two independent paths to the matrix agree.
    assert (rot.quaternion_to_matrix(quaternion) - matrix).abs().max() < 1e-5


def test_half_turn_recovers_the_rotation():
    """At exactly pi, +axis and -axis are the same rotation: compare matrices."""
    aa = random_rotvecs(500, torch.full((500,), math.pi), seed=2)
    back = rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(aa))
    assert torch.allclose(back.norm(dim=-1), torch.full((500,), math.pi, dtype=torch.float64), atol=1e-7)
    assert (rot.axis_angle_to_matrix(back) - rot.axis_angle_to_matrix(aa)).abs().max() < 1e-6


def test_known_rotation_and_batch_shapes():
    quarter_turn_z = torch.tensor([0.0, 0.0, math.pi / 2])
    matrix = rot.axis_angle_to_matrix(quarter_turn_z)
    assert torch.allclose(matrix @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    quaternion = rot.matrix_to_quaternion(matrix)
    assert torch.allclose(quaternion, torch.tensor([math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)]), atol=1e-6)
    batch = random_rotmats((2, 3, 5))
    assert rot.matrix_to_axis_angle(batch).shape == (2, 3, 5, 3)
    assert rot.matrix_to_quaternion(batch).shape == (2, 3, 5, 4)
    assert rot.matrix_to_rotation_6d(batch).shape == (2, 3, 5, 6)
    assert rot.matrix_to_euler(batch, "ZXY").shape == (2, 3, 5, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_quaternion_and_6d_round_trips(dtype):
    matrix = random_rotmats((4000,), seed=3, dtype=dtype)
    assert (rot.quaternion_to_matrix(rot.matrix_to_quaternion(matrix)) - matrix).abs().max() < 1e-5
    six = rot.matrix_to_rotation_6d(matrix)
    assert torch.equal(six[:, :3], matrix[:, :, 0]) and torch.equal(six[:, 3:], matrix[:, :, 1])
    assert (rot.rotation_6d_to_matrix(six) - matrix).abs().max() < 1e-5


def test_6d_of_any_input_is_a_rotation():
    noisy = torch.randn(1000, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    matrix = rot.rotation_6d_to_matrix(noisy)
    identity = torch.eye(3, dtype=torch.float64).expand_as(matrix)
    assert (matrix.transpose(-1, -2) @ matrix - identity).abs().max() < 1e-12
    assert torch.allclose(torch.linalg.det(matrix), torch.ones(1000, dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_including_gimbal_lock(dtype, order):
    matrix = random_rotmats((2000,), seed=5, dtype=dtype)
    assert (rot.euler_to_matrix(rot.matrix_to_euler(matrix, order), order) - matrix).abs().max() < 1e-5
    g = torch.Generator().manual_seed(6)
    angles = (torch.rand(300, 3, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    angles[:, 1] = torch.sign(angles[:, 1]) * (math.pi / 2 - torch.logspace(-9, -2, 300, dtype=torch.float64))
    angles[:20, 1] = math.pi / 2
    locked = rot.euler_to_matrix(angles, order).to(dtype)
    assert (rot.euler_to_matrix(rot.matrix_to_euler(locked, order), order) - locked).abs().max() < 1e-5
    # Away from the lock the angles themselves come back.
    angles = (torch.rand(300, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([3.1, 1.5, 3.1])
    back = rot.matrix_to_euler(rot.euler_to_matrix(angles.to(dtype), order), order)
    assert (back - angles.to(dtype)).abs().max() < 1e-5


def test_euler_order_matches_the_bvh_convention():
    angles = torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64)
    expected = (rot.axis_angle_to_matrix(torch.tensor([0, 0, 0.3], dtype=torch.float64))
                @ rot.axis_angle_to_matrix(torch.tensor([-0.7, 0, 0], dtype=torch.float64))
                @ rot.axis_angle_to_matrix(torch.tensor([0, 1.1, 0], dtype=torch.float64)))
    assert torch.allclose(rot.euler_to_matrix(angles, "ZXY"), expected, atol=1e-7)


def test_quaternion_continuity():
    g = torch.Generator().manual_seed(7)
    # A smooth path through rotations, then random sign flips per frame and joint.
    aa = torch.linspace(0, 6 * math.pi, 200, dtype=torch.float64)[:, None, None] * torch.tensor([[[0.0, 0.6, 0.8]]])
    aa = aa.expand(200, 3, 3)
    q = rot.axis_angle_to_quaternion(aa)
    flipped = q * torch.where(torch.rand(200, 3, 1, generator=g) < 0.5, -1.0, 1.0).double()
    continuous = rot.quaternion_make_continuous(flipped, dim=0)
    assert ((continuous[1:] * continuous[:-1]).sum(-1) >= 0).all()
    assert torch.allclose(rot.quaternion_to_matrix(continuous), rot.quaternion_to_matrix(q), atol=1e-12)
    # Another time axis gives the same answer.
    assert torch.equal(rot.quaternion_make_continuous(flipped.transpose(0, 1), dim=1), continuous.transpose(0, 1))


def test_slerp():
    q0 = rot.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 0.2], dtype=torch.float64))
    q1 = rot.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 1.4], dtype=torch.float64))
    for t, angle in ((0.0, 0.2), (0.25, 0.5), (1.0, 1.4)):
        assert torch.allclose(rot.quaternion_to_axis_angle(rot.slerp(q0, q1, t)),
                              torch.tensor([0.0, 0.0, angle], dtype=torch.float64), atol=1e-12)
    # The shorter arc even when q1 is given with the other sign; identical inputs stay put.
    assert torch.allclose(rot.slerp(q0, -q1, 0.25), rot.slerp(q0, q1, 0.25), atol=1e-12)
    assert torch.allclose(rot.slerp(q0, q0, 0.3), q0, atol=1e-12)
    batch = rot.slerp(q0.expand(5, 4), q1.expand(5, 4), torch.linspace(0, 1, 5, dtype=torch.float64))
    assert torch.allclose(rot.quaternion_to_axis_angle(batch)[:, 2], torch.linspace(0.2, 1.4, 5, dtype=torch.float64))


# --- skeleton and forward kinematics ------------------------------------------------------

def test_skeleton_tables():
    assert len(JOINT_NAMES) == len(PARENTS) == 24 and PARENTS[0] == -1
    assert all(0 <= p < j for j, p in enumerate(PARENTS) if j)
    assert sorted(LOWER_BODY_JOINTS + UPPER_BODY_JOINTS) == list(range(24))
    assert set(FOOT_JOINTS) <= set(LOWER_BODY_JOINTS)
    rest = rest_positions()
    assert rest.dtype == np.float32 and rest.shape == (24, 3) and not rest[0].any()
    name = JOINT_NAMES.index
    # Z-up, left at +X, facing -Y (toes ahead of the ankles).
    assert rest[name("head"), 2] > 0.5 and rest[name("left_ankle"), 2] < -0.8
    assert rest[name("left_hip"), 0] > 0 > rest[name("right_hip"), 0]
    assert rest[name("left_foot"), 1] < rest[name("left_ankle"), 1]
    assert np.allclose(rest, REST_POSITIONS_Y_UP @ Y_UP_TO_Z_UP.T, atol=1e-7)
    offsets = rest_offsets()
    assert np.allclose(offsets[name("left_knee")], rest[name("left_knee")] - rest[name("left_hip")])


def test_fk_of_identity_rotations_is_the_rest_pose():
    identity = torch.eye(3).expand(7, 24, 3, 3)
    joints = forward_kinematics(torch.zeros(7, 3), identity)
    assert (joints - torch.from_numpy(rest_positions())).abs().max() < 1e-6
    moved = forward_kinematics(torch.tensor([1.0, 2.0, 3.0]), torch.eye(3).expand(24, 3, 3))
    assert (moved - torch.from_numpy(rest_positions()) - torch.tensor([1.0, 2.0, 3.0])).abs().max() < 1e-6


def test_fk_matches_a_hand_computed_chain():
    """Pelvis turned 90 degrees about Z, left hip 90 degrees about X: pelvis -> hip -> knee."""
    rest = rest_positions().astype(np.float64)
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    translation = np.array([0.5, -0.25, 1.0])
    hip_offset, knee_offset = rest[1] - rest[0], rest[4] - rest[1]
    expected_hip = translation + rz @ hip_offset
    expected_knee = expected_hip + rz @ rx @ knee_offset

    rotmats = torch.eye(3, dtype=torch.float64).repeat(24, 1, 1)
    rotmats[0], rotmats[1] = torch.from_numpy(rz), torch.from_numpy(rx)
    joints = forward_kinematics(torch.from_numpy(translation), rotmats).numpy()
    np.testing.assert_allclose(joints[0], translation, atol=1e-7)
    np.testing.assert_allclose(joints[1], expected_hip, atol=1e-7)
    np.testing.assert_allclose(joints[4], expected_knee, atol=1e-7)
    # The right leg, untouched locally, only follows the pelvis.
    np.testing.assert_allclose(joints[5], translation + rz @ rest[5], atol=1e-7)


def test_fk_is_batched_and_differentiable():
    rotmats = random_rotmats((2, 3, 24), seed=8).requires_grad_()
    joints = forward_kinematics(torch.zeros(2, 3, 3, dtype=torch.float64), rotmats)
    assert joints.shape == (2, 3, 24, 3)
    joints.sum().backward()
    assert rotmats.grad is not None and rotmats.grad.abs().sum() > 0
    single = forward_kinematics(torch.zeros(3, dtype=torch.float64), rotmats[1, 2].detach())
    assert torch.allclose(single, joints[1, 2].detach())


def test_foot_contacts():
    """Still for 5 frames, then the whole body slides 2 cm a frame along X."""
    frames = 10
    translation = torch.zeros(frames, 3)
    translation[5:, 0] = 0.02 * torch.arange(1, 6)
    joints = forward_kinematics(translation, torch.eye(3).expand(frames, 24, 3, 3))
    contacts = foot_contacts(joints)
    assert contacts.shape == (frames, 4) and contacts.dtype == torch.bool
    assert contacts[:5].all() and not contacts[5:].any()
    # Frame 0 copies frame 1, which measures frame 0 -> 1.
    sliding_from_start = foot_contacts(joints.flip(0))
    assert torch.equal(sliding_from_start[0], sliding_from_start[1])
    assert foot_contacts(joints, threshold=0.03).all()


# --- the motion vector and Motion ---------------------------------------------------------

def random_motion(frames: int = 20, seed: int = 9, fps: float = 30.0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    rotmats = random_rotmats((frames, 24), seed=seed, dtype=torch.float32)
    return Motion(torch.randn(frames, 3, generator=g).numpy(), rotmats.numpy(), fps)


def test_motion_vector_layout_and_round_trip():
    motion = random_motion()
    vector = motion.to_vector()
    assert MOTION_DIM == 147 and vector.shape == (20, 147) and vector.dtype == np.float32
    np.testing.assert_array_equal(vector[:, :3], motion.root_translation)
    np.testing.assert_array_equal(vector[:, 3:6], motion.local_rotmats[:, 0, :, 0])     # column 0 of the pelvis
    np.testing.assert_array_equal(vector[:, 6:9], motion.local_rotmats[:, 0, :, 1])     # column 1
    back = Motion.from_vector(vector, fps=motion.fps)
    np.testing.assert_allclose(back.local_rotmats, motion.local_rotmats, atol=1e-6)
    np.testing.assert_allclose(Motion.from_vector(torch.from_numpy(vector)).joints(), motion.joints(), atol=1e-5)


def test_motion_vector_torch_level_on_batches():
    x = parts_to_motion_vector(torch.randn(2, 5, 3), random_rotmats((2, 5, 24), dtype=torch.float32))
    assert x.shape == (2, 5, 147)
    trans, rotmats = motion_vector_to_parts(x + 0.01 * torch.randn_like(x))   # model outputs are noisy
    assert trans.shape == (2, 5, 3) and rotmats.shape == (2, 5, 24, 3, 3)
    assert torch.allclose(torch.linalg.det(rotmats), torch.ones(2, 5, 24), atol=1e-5)
    with pytest.raises(ValueError):
        motion_vector_to_parts(torch.zeros(4, 146))


def test_motion_quaternions_are_continuous():
    motion = random_motion(frames=50)
    q = motion.quaternions()
    assert q.shape == (50, 24, 4)
    assert ((q[1:] * q[:-1]).sum(-1) >= 0).all()
    np.testing.assert_allclose(Motion.from_quaternions(motion.root_translation, q).local_rotmats,
                               motion.local_rotmats, atol=1e-6)


def test_resample():
    motion = random_motion(frames=21, fps=60.0)
    halved = resample(motion, 30)
    assert halved.n_frames == 11 and halved.fps == 30
    np.testing.assert_array_equal(halved.local_rotmats, motion.local_rotmats[::2])
    assert resample(random_motion(frames=128, fps=60.0), 30).n_frames == 64

    # Upsampling keeps the original frames and puts slerp/lerp midpoints between them.
    aa = torch.zeros(4, 24, 3, dtype=torch.float64)
    aa[:, 3, 2] = torch.tensor([0.0, 0.4, 0.8, 1.2])
    smooth = Motion(np.arange(12, dtype=np.float32).reshape(4, 3), rot.axis_angle_to_matrix(aa).numpy(), 30)
    doubled = resample(smooth, 60)
    assert doubled.n_frames == 7
    np.testing.assert_allclose(doubled.root_translation[1], [1.5, 2.5, 3.5])
    np.testing.assert_allclose(rot.matrix_to_axis_angle(torch.from_numpy(doubled.local_rotmats[1, 3])),
                               [0, 0, 0.2], atol=1e-6)
    np.testing.assert_allclose(doubled.local_rotmats[::2], smooth.local_rotmats, atol=1e-6)
    # A non-integer ratio (30 -> 24) covers the same span.
    assert resample(random_motion(frames=31), 24).n_frames == 25



def test_a_one_frame_motion_is_read_as_that_frame_held():
    from lm2d.motion.representation import sample_at

    still = random_motion(frames=1)
    for frames in ([0.0], [0.0, 0.5, 3.0]):    # one output frame once came back without its time axis
        held = sample_at(still, frames)
        assert held.n_frames == len(frames)
        np.testing.assert_array_equal(held.local_rotmats, np.repeat(still.local_rotmats, len(frames), axis=0))

# --- loaders ------------------------------------------------------------------------------

def test_aist_sample_converts_y_up_to_z_up(shared_data):
    """FK of the converted (Z-up skeleton) motion equals C @ FK of the original y-up data."""
    with open(shared_data / SAMPLE, "rb") as f:
        raw = pickle.load(f)
    motion = load_motion(shared_data / SAMPLE, fps=None)
    assert motion.n_frames == 127 and motion.fps == 60
    y_up_rotmats = rot.axis_angle_to_matrix(torch.from_numpy(raw["smpl_poses"]).reshape(-1, 24, 3))
    y_up_joints = forward_kinematics(torch.from_numpy(raw["smpl_trans"]).double(), y_up_rotmats,
                                     rest=torch.from_numpy(REST_POSITIONS_Y_UP)).numpy()
    np.testing.assert_allclose(motion.joints(), y_up_joints @ Y_UP_TO_Z_UP.T, atol=1e-5)
    # The dancer stands along +Z: the head well above the ankles on every frame.
    joints = motion.joints()
    assert (joints[:, 15, 2] - joints[:, [7, 8], 2].max(1) > 1.0).all()


def test_aist_frame_rate_and_scaling(shared_data, tmp_path):
    at_30 = load_motion(shared_data / SAMPLE)
    assert at_30.n_frames == 64 and at_30.fps == 30
    full = load_motion(shared_data / SAMPLE, fps=None)
    np.testing.assert_array_equal(at_30.local_rotmats, full.local_rotmats[::2])
    as_30 = load_motion(shared_data / SAMPLE, source_fps=30)
    assert as_30.n_frames == 127
    with open(shared_data / SAMPLE, "rb") as f:
        raw = pickle.load(f)
    scaled = {"smpl_poses": raw["smpl_poses"], "smpl_trans": raw["smpl_trans"] * 90.0,
              "smpl_scaling": np.array([90.0], dtype=np.float32), "smpl_loss": np.float32(1.59)}
    (tmp_path / "scaled.pkl").write_bytes(pickle.dumps(scaled))
    np.testing.assert_allclose(load_motion(tmp_path / "scaled.pkl").root_translation, at_30.root_translation, atol=1e-5)


def test_amass_npz_is_already_z_up(shared_data, tmp_path):
    """An AMASS-style SMPL-H file: 156 pose values, Z-up world, y-up body model."""
    with open(shared_data / SAMPLE, "rb") as f:
        raw = pickle.load(f)
    n = len(raw["smpl_poses"])
    poses = np.zeros((n, 156))
    poses[:, :66] = raw["smpl_poses"][:, :66]
    poses[:, 66:] = 0.3      # SMPL-H hand joints: not SMPL's joints 22, 23
    trans = raw["smpl_trans"].astype(np.float64) @ Y_UP_TO_Z_UP.T
    np.savez(tmp_path / "amass.npz", poses=poses, trans=trans, mocap_framerate=np.array(120.0), betas=np.zeros(16))
    motion = load_motion(tmp_path / "amass.npz", fps=None)
    assert motion.fps == 120 and motion.n_frames == n
    body = np.zeros((n, 24, 3))
    body.reshape(n, 72)[:, :66] = poses[:, :66]
    expected = forward_kinematics(torch.from_numpy(trans), rot.axis_angle_to_matrix(torch.from_numpy(body)),
                                  rest=torch.from_numpy(REST_POSITIONS_Y_UP)).numpy()
    np.testing.assert_allclose(motion.joints(), expected, atol=1e-5)
    assert load_motion(tmp_path / "amass.npz").n_frames == len(range(0, n, 4))


def test_smpl_to_motion_conjugates_children():
    """Children's axis-angle vectors turn by C; the root (y-up world) too."""
    aa = np.zeros((1, 24, 3))
    aa[0, 4] = [0.5, 0.0, 0.0]      # left knee about SMPL's x axis (the same axis after +90 about X)
    aa[0, 7] = [0.0, 0.5, 0.0]      # left ankle about SMPL's y (up) -> Z-up's z
    motion = smpl_to_motion(aa, np.zeros((1, 3)), 30, y_up=True)
    got = rot.matrix_to_axis_angle(torch.from_numpy(motion.local_rotmats[0]).double()).numpy()
    np.testing.assert_allclose(got[4], [0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(got[7], [0, 0, 0.5], atol=1e-6)


def _write_pickle(path, obj):
    path.write_bytes(pickle.dumps(obj))
    return path


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("make, message", [
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_trans": np.zeros((4, 3))}), "missing key 'smpl_poses'"),
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_poses": np.zeros((4, 70)), "smpl_trans": np.zeros((4, 3))}),
     "'smpl_poses' has shape (4, 70)"),
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_poses": np.zeros((4, 72)), "smpl_trans": np.zeros((3, 3))}),
     "'smpl_trans' has shape (3, 3), expected (4, 3)"),
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_poses": np.full((4, 72), np.nan), "smpl_trans": np.zeros((4, 3))}),
     "'smpl_poses' contains NaN"),
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_poses": np.zeros((0, 72)), "smpl_trans": np.zeros((0, 3))}),
     "frames >= 1"),
    (lambda p: _write_pickle(p / "m.pkl", [1, 2, 3]), "expected a dict"),
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_poses": _RunsCode()}), "refusing to load builtins.print"),
    (lambda p: _write_pickle(p / "m.pkl", {"smpl_poses": np.zeros((4, 72)), "smpl_trans": np.zeros((4, 3)),
                                           "smpl_scaling": np.array([0.0])}), "'smpl_scaling' must be one positive"),
    (lambda p: (p / "m.pkl").write_text("hello, I am text") and p / "m.pkl", "not a readable AIST++ pickle"),
    (lambda p: (p / "m.npz").write_bytes(b"PK\x03\x04 broken zip") and p / "m.npz", "not a readable .npz"),
    (lambda p: np.savez(p / "m.npz", something=np.zeros(3)) or p / "m.npz", "not a motion .npz"),
    (lambda p: np.savez(p / "m.npz", poses=np.zeros((5, 72)), trans=np.zeros((5, 3))) or p / "m.npz",
     "no 'mocap_framerate'"),
    (lambda p: np.savez(p / "m.npz", poses=np.zeros((5, 30)), trans=np.zeros((5, 3))) or p / "m.npz",
     "'poses' must be (frames, 72)"),
    (lambda p: np.savez(p / "m.npz", root_translation=np.zeros((5, 3)),
                        local_quaternions=np.zeros((5, 24, 4))) or p / "m.npz", "zero-length quaternions"),
    (lambda p: (p / "m.fbx").write_bytes(b"x") and p / "m.fbx", "unknown motion format '.fbx'"),
    (lambda p: p / "missing.pkl", "motion file not found"),
])
def test_loaders_reject_bad_files(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(LM2DError) as err:
        load_motion(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert "must never run" not in capsys.readouterr().out


def test_result_npz_round_trip(tmp_path):
    motion = random_motion(frames=40)
    lyrics = [(0.5, 2.0, "So we run"), (2.25, 4.0, "into the night")]
    path = tmp_path / "out" / "result.npz"
    save_result_npz(motion, path, lyric_lines=lyrics)
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.npz"]    # no temporary left

    with np.load(path, allow_pickle=False) as npz:     # what the add-on does: plain numpy
        assert float(npz["fps"]) == 30.0
        assert tuple(npz["joint_names"]) == JOINT_NAMES and tuple(npz["parents"]) == PARENTS
        assert npz["rest_positions"].dtype == np.float32
        np.testing.assert_array_equal(npz["rest_positions"], rest_positions())
        assert npz["local_quaternions"].shape == (40, 24, 4) and npz["local_quaternions"].dtype == np.float32
        q = npz["local_quaternions"]
        assert ((q[1:] * q[:-1]).sum(-1) >= 0).all()
        np.testing.assert_allclose(npz["joint_positions"], motion.joints(), atol=1e-6)
        assert list(npz["lyric_lines"]) == ["So we run", "into the night"]

    back, back_lyrics = load_result_npz(path)
    assert back_lyrics == lyrics and back.fps == 30
    np.testing.assert_array_equal(back.root_translation, motion.root_translation)
    np.testing.assert_allclose(back.local_rotmats, motion.local_rotmats, atol=1e-6)
    np.testing.assert_allclose(load_motion(path).joints(), motion.joints(), atol=1e-5)

    save_result_npz(motion, path)   # overwrite, no lyrics
    assert load_result_npz(path)[1] == []


# --- the convert command ------------------------------------------------------------------

def run_convert(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    convert.add_arguments(parser)
    return convert.run(parser.parse_args([str(a) for a in argv]))


def test_convert_command(shared_data, tmp_path, capsys):
    assert run_convert(shared_data / SAMPLE, "-o", tmp_path / "s.npz") == 0
    assert "64 frames at 30 FPS" in capsys.readouterr().out
    assert run_convert(tmp_path / "s.npz", "-o", tmp_path / "s.bvh", "--fps", "24") == 0
    text = (tmp_path / "s.bvh").read_text()
    assert text.startswith("HIERARCHY\nROOT pelvis") and "Frames: 51\nFrame Time: 0.04166667" in text
    assert text.count("JOINT ") == 23
    with pytest.raises(LM2DError, match="unknown output format '.txt'"):
        run_convert(shared_data / SAMPLE, "-o", tmp_path / "s.txt")


def test_motion_and_music_share_one_frame_rate():
    from lm2d import features
    from lm2d.motion import representation

    assert representation.FPS == features.FPS == features.SAMPLE_RATE / features.HOP_LENGTH
