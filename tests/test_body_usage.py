"""Body-usage statistics (lm2d.evaluation.body_usage) on constructed motions with known answers,
and a cross-check against the independent ../shared/tools/dance_stats.py on a real capture."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lm2d.evaluation.body_usage import FIELD_NAMES, FIELDS, body_height, body_usage, mean_body_usage
from lm2d.motion.skeleton import rest_positions

FPS = 30.0
# Rest pose: head joint 0.619 m above the pelvis, lower (left) ankle 0.896 m below it; + 0.1 m skull.
REST_HEIGHT = 0.619 + 0.896 + 0.1


def figure(frames: int) -> np.ndarray:
    """The rest pose standing on the floor, repeated."""
    pose = rest_positions().astype(np.float64)
    pose[:, 2] -= pose[[7, 8], 2].min()
    return np.repeat(pose[None], frames, axis=0)


def rotation_z(angles: np.ndarray) -> np.ndarray:
    c, s = np.cos(angles), np.sin(angles)
    out = np.zeros((len(angles), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1], out[:, 2, 2] = c, -s, s, c, 1.0
    return out


def rotation_x(angles: np.ndarray) -> np.ndarray:
    c, s = np.cos(angles), np.sin(angles)
    out = np.zeros((len(angles), 3, 3))
    out[:, 0, 0], out[:, 1, 1], out[:, 1, 2], out[:, 2, 1], out[:, 2, 2] = 1.0, c, -s, s, c
    return out


def rotate_about_pelvis(joints: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    pelvis = joints[:, :1]
    return np.einsum("tij,tkj->tki", rotations, joints - pelvis) + pelvis


def test_fields_and_units_are_declared():
    usage = body_usage(figure(10))
    assert tuple(usage) == FIELD_NAMES == tuple(FIELDS)
    assert FIELDS["hip_yaw_rate"] == "degrees/s" and FIELDS["wrist_speed"] == "heights/s"


def test_standing_still_uses_no_body():
    usage = body_usage(figure(60))
    for name in ("wrist_speed", "head_speed", "pelvis_speed", "hip_yaw_rate", "pelvis_height_std",
                 "floor_travel", "jerk"):
        assert usage[name] == pytest.approx(0.0, abs=1e-9), name
    assert usage["knee_flexion_std"] < 0.2     # the rest pose's two knees differ by 0.3°
    assert body_height(figure(5)) == pytest.approx(REST_HEIGHT, abs=1e-6)


def test_spinning_figure_measures_its_yaw_rate_and_arm_speed():
    degrees_per_second = 90.0
    angles = np.radians(degrees_per_second) * np.arange(121) / FPS
    joints = rotate_about_pelvis(figure(121), rotation_z(angles))
    usage = body_usage(joints)
    assert usage["hip_yaw_rate"] == pytest.approx(degrees_per_second, rel=1e-6)
    # A wrist at horizontal radius r moves a chord 2 r sin(dθ/2) per frame about the pelvis.
    rest = figure(1)[0]
    step = np.radians(degrees_per_second) / FPS
    radius = np.linalg.norm(rest[[20, 21], :2] - rest[0, :2], axis=1).mean()
    assert usage["wrist_speed"] == pytest.approx(2 * radius * np.sin(step / 2) * FPS / REST_HEIGHT, rel=1e-6)
    assert usage["pelvis_speed"] == pytest.approx(0.0, abs=1e-12)
    assert usage["floor_travel"] == pytest.approx(0.0, abs=1e-12)


def test_turning_the_other_way_past_a_half_turn_unwraps():
    angles = -np.radians(200.0) * np.arange(91) / FPS      # 200°/s clockwise: crosses ±180° twice
    usage = body_usage(rotate_about_pelvis(figure(91), rotation_z(angles)))
    assert usage["hip_yaw_rate"] == pytest.approx(200.0, rel=1e-6)


def test_walking_figure_travels_at_its_speed():
    metres_per_second = 1.2
    joints = figure(91)
    joints[:, :, 0] += metres_per_second * np.arange(91)[:, None] / FPS
    usage = body_usage(joints)
    assert usage["floor_travel"] == pytest.approx(metres_per_second / REST_HEIGHT, rel=1e-6)
    assert usage["pelvis_speed"] == pytest.approx(metres_per_second / REST_HEIGHT, rel=1e-6)
    assert usage["wrist_speed"] == pytest.approx(0.0, abs=1e-9)
    assert usage["jerk"] == pytest.approx(0.0, abs=1e-6)


def test_constant_jerk_is_measured_exactly():
    jerk = 6.0                                           # m/s³: x(t) = jerk t³ / 6
    seconds = np.arange(40) / FPS
    joints = figure(40)
    joints[:, :, 1] += jerk * seconds[:, None] ** 3 / 6
    assert body_usage(joints)["jerk"] == pytest.approx(jerk / REST_HEIGHT, rel=1e-6)


def test_leaning_trunk_measures_its_tilt():
    joints = figure(101)
    joints[:, 12, :2] = joints[:, 0, :2]                 # neck straight above the pelvis
    tilt = np.linspace(0.0, 40.0, 101)                   # degrees; its 95th percentile is 38
    usage = body_usage(rotate_about_pelvis(joints, rotation_x(np.radians(tilt))))
    assert usage["trunk_tilt_p95"] == pytest.approx(38.0, rel=1e-6)


def test_bobbing_pelvis_height_std():
    amplitude = 0.05
    joints = figure(120)
    joints[:, :, 2] += amplitude * np.sin(2 * np.pi * np.arange(120) / 30)[:, None]   # 4 whole periods
    usage = body_usage(joints)
    assert usage["pelvis_height_std"] == pytest.approx(amplitude / np.sqrt(2) / REST_HEIGHT, rel=1e-6)


def test_knee_flexion_of_a_bending_leg():
    joints = figure(101)
    flexion = np.linspace(0.0, 90.0, 101)
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        joints[:, knee, :2] = joints[:, hip, :2]         # straight vertical thigh
        shin = np.linalg.norm(joints[0, ankle] - joints[0, knee])
        bend = np.radians(flexion)
        joints[:, ankle] = joints[:, knee] + shin * np.stack(
            [np.zeros_like(bend), np.sin(bend), -np.cos(bend)], axis=1)
    usage = body_usage(joints)
    assert usage["knee_flexion_p95"] == pytest.approx(85.5, rel=1e-6)
    assert usage["knee_flexion_std"] == pytest.approx(flexion.std(), rel=1e-6)


def test_legs_arms_ratio():
    joints = figure(31)
    steps = np.arange(31)[:, None] / FPS
    joints[:, [4, 5, 7, 8], 0] += 0.3 * steps            # legs at 0.3 m/s, arms at 0.9 m/s
    joints[:, [18, 19, 20, 21], 1] += 0.9 * steps
    assert body_usage(joints)["legs_arms_ratio"] == pytest.approx(1 / 3, rel=1e-6)


def test_other_frame_rates_are_resampled_to_30():
    degrees_per_second, frames = 60.0, 481
    angles = np.radians(degrees_per_second) * np.arange(frames) / 120.0
    usage = body_usage(rotate_about_pelvis(figure(frames), rotation_z(angles)), fps=120.0)
    assert usage["hip_yaw_rate"] == pytest.approx(degrees_per_second, rel=1e-6)


def test_bad_shapes_and_short_motions_are_refused():
    with pytest.raises(ValueError, match="T, 24, 3"):
        body_usage(np.zeros((10, 22, 3)))
    with pytest.raises(ValueError, match="at least 4 frames"):
        body_usage(figure(3))


def test_mean_over_motions():
    slow = rotate_about_pelvis(figure(61), rotation_z(np.radians(30.0) * np.arange(61) / FPS))
    fast = rotate_about_pelvis(figure(61), rotation_z(np.radians(90.0) * np.arange(61) / FPS))
    assert mean_body_usage([slow, fast])["hip_yaw_rate"] == pytest.approx(60.0, rel=1e-6)


def test_agrees_with_the_shared_dance_stats_tool(shared_data, tmp_path):
    """The independent reference implementation, on a real SMPL capture written as a result file."""
    from lm2d.motion.io import load_motion, save_result_npz

    motion = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")
    result = tmp_path / "sample.npz"
    save_result_npz(motion, result)
    tool = shared_data.parent / "tools" / "dance_stats.py"
    table = subprocess.run([sys.executable, str(tool), str(result)], capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()
    theirs = dict(zip([c.strip() for c in table[0].strip("|").split("|")],
                      [c.strip() for c in table[2].strip("|").split("|")]))
    ours = body_usage(motion.joints(), motion.fps)
    names = {"wrist v": "wrist_speed", "head v": "head_speed", "pelvis v": "pelvis_speed",
             "legs/arms": "legs_arms_ratio", "pelvis z std": "pelvis_height_std",
             "knee flex p95": "knee_flexion_p95", "knee flex std": "knee_flexion_std",
             "trunk tilt p95": "trunk_tilt_p95", "yaw rate deg/s": "hip_yaw_rate", "jerk": "jerk"}
    for their_name, our_name in names.items():   # the tool prints 3 significant digits
        assert ours[our_name] == pytest.approx(float(theirs[their_name]), rel=6e-3), our_name
    # Travel: the tool divides the path by T frames' duration, this module by the T-1 intervals'.
    frames = motion.n_frames
    assert ours["floor_travel"] * (frames - 1) / frames == pytest.approx(float(theirs["travel h/s"]), rel=6e-3)
