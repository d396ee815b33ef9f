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


# --- semantic matching ----------------------------------------------------------------------------

GESTURE_LINES = ("reach up to the sky", "get down low to the floor", "hands on my heart for love",
                 "wave hello wave goodbye", "spin around and turn", "jump jump jump",
                 "fly like a bird with wings", "clap clap clap your hands")
LINE_SECONDS = 5.0
CORPUS_SONGS = (   # (split, music, start second, lyric line order)
    ("train", "Kevin_MacLeod_-_Vibe_Ace.ogg", 0.0, (0, 1, 2, 3)),
    ("train", "Karissa_Hobbs_-_Lets_Go_Fishin.ogg", 10.0, (4, 5, 6, 7)),
    ("train", "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", 20.0, (1, 3, 5, 7)),
    ("test", "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_string_orchestra.ogg", 5.0, (6, 4, 2, 0)),
    ("test", "Karissa_Hobbs_-_Lets_Go_Fishin.ogg", 60.0, (3, 7, 1, 5)),
)


def lrc(lines: list[str]) -> str:
    stamp = lambda t: f"[{int(t // 60):02d}:{t % 60:05.2f}]"  # noqa: E731
    return "".join(f"{stamp(i * LINE_SECONDS + 0.3)}{text}\n" for i, text in enumerate(lines)) + \
        stamp(len(lines) * LINE_SECONDS - 0.1) + "\n"


@pytest.fixture(scope="module")
def gesture_corpus(tmp_path_factory, shared_data, cache_root):
    """A dataset (docs/DATASET.md layout) where the dance answers the lyrics: real music clips,
    LRC lines full of gesture words, and lm2d.corpus's choreographer dancing to both."""
    import soundfile as sf

    from lm2d.corpus.choreographer import choreograph
    from lm2d.features import extract_features
    from lm2d.lyrics import load_lyrics
    from lm2d.song import Song
    from lm2d.motion.io import save_result_npz

    root = tmp_path_factory.mktemp("gesture_corpus")
    seconds = 4 * LINE_SECONDS
    for index, (split, music, start, order) in enumerate(CORPUS_SONGS):
        folder = root / split / f"song{index}"
        folder.mkdir(parents=True)
        info = sf.info(shared_data / "music" / music)
        samples, rate = sf.read(shared_data / "music" / music, start=int(start * info.samplerate),
                                frames=int(seconds * info.samplerate), dtype="float32")
        sf.write(folder / "audio.wav", samples, rate)
        (folder / "lyrics.lrc").write_text(lrc([GESTURE_LINES[i] for i in order]))
        features = extract_features(folder / "audio.wav")
        lyrics = load_lyrics(folder / "lyrics.lrc", Song(folder / "audio.wav"))
        motion = choreograph(features.beat_times, features.duration, lyrics, seed=index, n_frames=features.n_frames)
        save_result_npz(motion, folder / "motion.npz")
    return root


def test_lyric_windows_take_the_lines_sung_in_them():
    from lm2d.evaluation.matcher import active_lyric, lyric_windows

    lines = [(0.3, 5.2, "first line"), (5.3, 9.0, "second line"), (9.5, 9.8, "")]
    assert active_lyric(lines, 0.0, 5.0) == "first line"
    assert active_lyric(lines, 2.5, 7.5) == "first line second line"      # half of each line inside
    assert active_lyric(lines, 9.0, 14.0) == ""
    assert lyric_windows(lines, n_frames=420, stride=150) == [(0, "first line"), (150, "second line")]


def test_time_shuffling_moves_every_window_within_its_song():
    from lm2d.evaluation.matcher import MatcherExamples, shuffled_in_time

    windows = np.arange(7, dtype=np.float32)[:, None, None, None] * np.ones((7, 150, 24, 3), np.float32)
    shuffled = shuffled_in_time(MatcherExamples(windows, list("abcdefg")), [4, 3], seed=0)
    order = shuffled.windows[:, 0, 0, 0].astype(int)
    assert sorted(order[:4]) == [0, 1, 2, 3] and sorted(order[4:]) == [4, 5, 6]
    assert np.all(order != np.arange(7)) and shuffled.texts == list("abcdefg")


def test_matcher_round_trips_through_safetensors_and_json(tmp_path):
    import torch

    from lm2d.errors import LM2DError
    from lm2d.evaluation.matcher import MatcherConfig, SemanticMatcher, load_matcher, save_matcher

    torch.manual_seed(0)
    matcher = SemanticMatcher(MatcherConfig(width=32, embed_dim=16, text_encoder="test@0")).eval()
    weights = save_matcher(matcher, tmp_path / "matcher", notes={"steps": 0})
    assert weights.name == "matcher.safetensors" and (tmp_path / "matcher.json").is_file()
    loaded = load_matcher(tmp_path / "matcher.json")
    windows = torch.from_numpy(standing(150)[None].astype(np.float32))
    with torch.no_grad():
        assert torch.equal(loaded.embed_motion(windows), matcher.embed_motion(windows))
    assert loaded.config == matcher.config
    (tmp_path / "matcher.json").write_text('{"kind": "something else"}')
    with pytest.raises(LM2DError, match="not a semantic matcher"):
        load_matcher(tmp_path / "matcher")


def test_semantic_matching_scores_ground_truth_above_time_shuffled(gesture_corpus, tmp_path):
    from lm2d.cli import main
    from lm2d.evaluation.evaluate import load_songs, song_examples
    from lm2d.evaluation.matcher import (concatenate_examples, encode_texts, load_matcher, semantic_scores,
                                         shuffled_in_time)
    from lm2d.lyrics import TextEncoder

    assert main(["train-matcher", "--data", str(gesture_corpus), "--out", str(tmp_path / "matcher"),
                 "--steps", "80", "--batch-size", "32", "--width", "64", "--embed-dim", "64"]) == 0
    matcher = load_matcher(tmp_path / "matcher.safetensors")
    encoder = TextEncoder()
    per_song = [song_examples(song.joints, song) for song in load_songs(gesture_corpus, "test")]
    truth = concatenate_examples(per_song)
    vectors = encode_texts(truth.texts, lambda lines: [e.sentence for e in encoder.encode_lines(lines)])
    real = semantic_scores(matcher, truth, vectors, seed=0)
    shuffled = semantic_scores(matcher, shuffled_in_time(truth, [len(e.texts) for e in per_song], 0), vectors, seed=0)
    assert real["windows"] == shuffled["windows"] == 8 and real["candidates"] == 8   # all 8 lyric texts
    assert real["cosine"] > shuffled["cosine"] + 0.2
    assert real["top1"] > shuffled["top1"]
