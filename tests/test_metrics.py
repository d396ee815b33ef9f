"""Sanity checks of the evaluation metrics (issue 5): fast, no model needed."""
from __future__ import annotations

import numpy as np
import pytest

from lm2d.evaluation.beat_align import beat_alignment_score, kinetic_velocity, motion_beats
from lm2d.evaluation.features_geometric import NUM_GEOMETRIC_FEATURES, RELATIONS, geometric_features
from lm2d.evaluation.features_kinetic import NUM_KINETIC_FEATURES, kinetic_features
from lm2d.evaluation.fid import diversity, fid_and_diversity, frechet_distance
from lm2d.evaluation.foot_contact import physical_foot_contact
from lm2d.motion.io import load_motion
from lm2d.motion.skeleton import JOINT_NAMES, rest_positions

FPS = 30.0
BEAT_PERIOD = 15            # frames: 120 BPM at 30 FPS
STANDING_HEIGHT = 0.95      # pelvis height that puts the rest pose's feet near the floor


@pytest.fixture(scope="module")
def real_joints(shared_data) -> np.ndarray:
    return load_motion(shared_data / "motion" / "smpl_sample_127f.pkl").joints().astype(np.float64)


def standing(frames: int) -> np.ndarray:
    pose = rest_positions().astype(np.float64)
    pose[:, 2] += STANDING_HEIGHT
    return np.repeat(pose[None], frames, axis=0)


JOINT_AMPLITUDES = np.random.default_rng(1).uniform(0.005, 0.02, size=24)   # metres per unit speed


def motion_with_step_speeds(speeds: np.ndarray) -> np.ndarray:
    """Rest pose whose joints each travel a fixed direction, joint j moving speeds[k] x
    JOINT_AMPLITUDES[j] from frame k to k+1: the kinetic velocity is speeds x their mean."""
    directions = np.random.default_rng(2).normal(size=(24, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    travelled = np.concatenate([[0.0], np.cumsum(speeds)])
    return standing(len(speeds) + 1) + travelled[:, None, None] * JOINT_AMPLITUDES[:, None] * directions


# --- beat alignment ----------------------------------------------------------------------------

def beat_locked_motion(frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A motion whose speed is zero exactly on every beat, and those beats (away from the ends)."""
    steps = np.arange(frames - 1)
    joints = motion_with_step_speeds(1.0 - np.cos(2 * np.pi * steps / BEAT_PERIOD))
    beats = np.arange(BEAT_PERIOD, frames - BEAT_PERIOD, BEAT_PERIOD)
    return joints, beats


def test_kinetic_velocity_is_the_mean_joint_displacement():
    speeds = np.abs(np.sin(np.arange(20.0)))
    velocity = kinetic_velocity(motion_with_step_speeds(speeds))
    np.testing.assert_allclose(velocity, speeds * JOINT_AMPLITUDES.mean(), atol=1e-12)


def test_motion_with_minima_on_the_beats_scores_one():
    joints, beats = beat_locked_motion(300)
    assert set(beats) <= set(motion_beats(joints))
    assert beat_alignment_score(joints, beats) == pytest.approx(1.0, abs=1e-12)


def test_same_motion_off_the_beats_scores_lower():
    joints, beats = beat_locked_motion(300)
    slightly_off = beat_alignment_score(joints, beats + 2)
    half_a_beat_off = beat_alignment_score(joints, beats + BEAT_PERIOD // 2)
    assert slightly_off == pytest.approx(np.exp(-4 / 18), abs=1e-9)
    assert half_a_beat_off < slightly_off < 1.0


def test_beat_alignment_edge_cases():
    still = standing(100)
    assert beat_alignment_score(still, [30, 60]) == 0.0        # no motion beat at all
    assert np.isnan(beat_alignment_score(still, [150]))         # no music beat inside the motion


# --- physical foot contact --------------------------------------------------------------------

def test_pfc_of_a_static_standing_pose_is_zero():
    assert physical_foot_contact(standing(60)) == 0.0


def test_pfc_of_planted_feet_under_a_swaying_pelvis_is_zero():
    joints = standing(90)
    t = np.arange(90) / FPS
    joints[:, [0, 3, 6, 9, 12, 15], 0] += 0.05 * np.sin(2 * np.pi * t)[:, None]   # torso sways
    assert physical_foot_contact(joints) == 0.0


def test_pfc_of_sliding_feet_with_acceleration_is_positive():
    joints = standing(90)
    t = np.arange(90) / FPS
    joints[..., 0] += 0.5 * 1.5 * t[:, None] ** 2          # whole body slides, accelerating
    assert physical_foot_contact(joints) > 0.0


# --- FID and diversity --------------------------------------------------------------------------

def crops(joints: np.ndarray, length: int = 30) -> list[np.ndarray]:
    return [joints[start:start + length] for start in range(0, len(joints) - length + 1)]


def test_fid_of_a_set_against_itself_is_zero(real_joints):
    features = np.stack([kinetic_features(c) for c in crops(real_joints)])
    assert abs(fid_and_diversity(features, features)["fid"]) < 1e-6
    geometric = np.stack([geometric_features(c) for c in crops(real_joints)])
    assert abs(fid_and_diversity(geometric, geometric)["fid"]) < 1e-6


def test_fid_grows_with_noise_on_the_motion(real_joints):
    real = np.stack([kinetic_features(c) for c in crops(real_joints)])
    rng = np.random.default_rng(0)
    noise = rng.normal(size=real_joints.shape)
    fids = []
    for level in (0.002, 0.01, 0.05):                     # metres of jitter per joint and frame
        noisy = real_joints + level * noise
        generated = np.stack([kinetic_features(c) for c in crops(noisy)])
        fids.append(fid_and_diversity(real, generated)["fid"])
    assert 0 < fids[0] < fids[1] < fids[2]


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    b = rng.normal(size=(4000, 3)) * 2.0 + 1.0
    # (1,1,1) mean shift: 3; covariances I and 4I: 3 + 12 - 2 * 3 * 2 = 3.
    assert frechet_distance(a, b) == pytest.approx(6.0, abs=0.3)


def test_diversity_of_identical_samples_is_zero():
    sample = np.random.default_rng(0).normal(size=72)
    assert diversity(np.stack([sample] * 5)) == 0.0
    assert diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


# --- motion features ----------------------------------------------------------------------------

def reference_kinetic_features(joints: np.ndarray, fps: float, window: int = 2) -> np.ndarray:
    """AIST++'s per-frame loops (features/kinetic.py, utils.py) transcribed for Z-up, for checking."""
    dt, frames = 1.0 / fps, len(joints)
    out = []
    for joint in range(joints.shape[1]):
        horizontal = vertical = expenditure = 0.0
        for i in range(1, frames):
            steps = [joints[i + j, joint] - joints[i + j - 1, joint]
                     for j in range(-window, window + 1) if i + j - 1 >= 0 and i + j < frames]
            velocity = np.mean(steps, axis=0) / dt
            horizontal += np.sum(velocity[:2] ** 2)
            vertical += velocity[2] ** 2
            accelerations = [(joints[i + j + 1, joint] - 2 * joints[i + j, joint] + joints[i + j - 1, joint]) / dt ** 2
                             for j in range(-window, window + 1) if i + j - 1 >= 0 and i + j + 1 < frames]
            expenditure += np.linalg.norm(np.mean(accelerations, axis=0))
        out += [horizontal / (frames - 1), vertical / (frames - 1), expenditure / (frames - 1)]
    return np.array(out)


def test_kinetic_features_of_a_real_motion(real_joints):
    features = kinetic_features(real_joints, FPS)
    assert features.shape == (NUM_KINETIC_FEATURES,) == (72,)
    np.testing.assert_allclose(features, reference_kinetic_features(real_joints, FPS), rtol=1e-5)


def test_geometric_features_of_a_real_motion(real_joints):
    features = geometric_features(real_joints, FPS)
    assert features.shape == (NUM_GEOMETRIC_FEATURES,) == (32,) == (len(RELATIONS),)
    assert np.all((features >= 0) & (features <= 1)) and 0 < features.sum() < 32


def yaw_and_shift(joints: np.ndarray, angle: float, shift: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return joints @ rotation.T + shift


def test_features_do_not_depend_on_where_the_dancer_stands_or_faces(real_joints):
    moved = yaw_and_shift(real_joints, 1.1, np.array([3.0, -2.0, 0.5]))
    np.testing.assert_allclose(kinetic_features(moved), kinetic_features(real_joints), rtol=1e-4)
    np.testing.assert_array_equal(geometric_features(moved), geometric_features(real_joints))


def relation_index(kind: str, *names: str) -> int:
    return next(i for i, (k, n, _) in enumerate(RELATIONS) if k == kind and n[:len(names)] == names)


def test_geometric_relations_on_constructed_poses():
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    still = standing(10)
    features = geometric_features(still)
    moving = [i for i, (kind, _, _) in enumerate(RELATIONS) if kind in ("move", "nmove", "fast")]
    assert np.all(features[moving] == 0)                  # nothing moves
    elbow = relation_index("angle", "right_elbow")
    assert features[elbow] == 0                           # T-pose: straight arm (180 degrees)

    bent = still.copy()
    upper_arm = bent[0, index["right_elbow"]] - bent[0, index["right_shoulder"]]
    forearm = np.linalg.norm(bent[0, index["right_wrist"]] - bent[0, index["right_elbow"]])
    bent[:, index["right_wrist"]] = bent[:, index["right_elbow"]] + [0.0, 0.0, forearm]   # forearm up
    assert abs(np.dot(upper_arm, [0.0, 0.0, 1.0])) < 0.05      # upper arm is horizontal: 90 degrees
    assert geometric_features(bent)[elbow] == 1

    upright = relation_index("angle", "neck", "pelvis", "origin")
    quarter_turn_about_x = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    lying = still @ quarter_turn_about_x.T
    assert features[upright] == 0 and geometric_features(lying)[upright] == 1
