"""The corpus builder: synthesised songs, written lyrics, the procedural choreographer, and the
corpus layout. Everything here is checked on the real pipeline (no mocks): beats recovered by
lm2d.features, dances measured with forward kinematics and lm2d.evaluation's beat alignment."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from lm2d.cli import main as lm2d_main
from lm2d.corpus.build import build_corpus, make_synth_song, real_clip, shared_sources, write_clip
from lm2d.corpus.choreographer import choreograph, frame_count
from lm2d.corpus.gestures import GESTURE_BY_NAME, GESTURE_KEYWORDS, gesture_events, keyword_of
from lm2d.corpus.lyrics_writer import GESTURE_LINES, NEUTRAL_LINES, Region, write_lyrics
from lm2d.corpus.music_synth import SongSpec, plan_song
from lm2d.corpus.song_audio import write_audio
from lm2d.corpus.rig import ANKLE_HEIGHT
from lm2d.errors import LM2DError
from lm2d.evaluation.beat_align import beat_alignment_score, beat_times_to_frames
from lm2d.evaluation.body_usage import body_usage, mean_body_usage
from lm2d.features import features_from_array
from lm2d.lyrics import Lyrics, Segment, Word, load_lyrics, lyrics_to_lrc
from lm2d.song import Song
from lm2d.motion.io import load_result_npz
from lm2d.motion.skeleton import FOOT_JOINTS, JOINT_NAMES

HEAD = JOINT_NAMES.index("head")
WRISTS = [JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("right_wrist")]
GESTURE_TEST_LINES = ["hands up high and let it go", "spin around and around",
                      "clap clap with me now", "hands on my heart"]
# Stated bounds for the dance's physical plausibility (measured: mean ~0.001 m/s, gated max 0).
SKATING_MEAN_BOUND = 0.01          # m/s: mean horizontal speed of feet in EDGE contact
PLANTED_SPEED_BOUND = 0.03         # m/s: feet in contact and within 5 mm of the floor


def _sung_regions(plan):
    return [Region(s.start, s.end, s.name) for s in plan.sections if s.sung]


@pytest.fixture(scope="module")
def pop_plan():
    return plan_song(SongSpec(style="pop", meter="4/4", tempo=112.0, seconds=30.0, seed=3))


@pytest.fixture(scope="module")
def gesture_lyrics(pop_plan):
    return write_lyrics(pop_plan.beat_times, 4, _sung_regions(pop_plan), seed=3, lines=GESTURE_TEST_LINES)


@pytest.fixture(scope="module")
def danced(pop_plan, gesture_lyrics):
    n_frames = frame_count(pop_plan.duration)
    motion = choreograph(pop_plan.beat_times, pop_plan.duration, gesture_lyrics,
                         energy=pop_plan.energy_curve(30, n_frames), style="pop", seed=3)
    return motion, motion.joints()


def _event(lyrics, duration, gesture, seed=3):
    events = [e for e in gesture_events(lyrics, duration, seed) if e.gesture == gesture]
    assert events, f"the test lyrics should trigger {gesture}"
    return events[0]


def _window(event, fps=30.0):
    return slice(int(np.ceil(event.start * fps)), int(np.floor(event.end * fps)) + 1)


# ---------------------------------------------------------------- music

@pytest.mark.parametrize("style, meter, tempo", [("pop", "4/4", 112.0), ("waltz", "3/4", 100.0)])
def test_synthesised_beats_are_recovered_by_the_feature_extractor(style, meter, tempo):
    song = make_synth_song(SongSpec(style=style, meter=meter, tempo=tempo, seconds=24.0, seed=5))
    music = features_from_array(song.audio, song.plan.sr)
    assert abs(music.tempo - tempo) / tempo < 0.02
    assert abs(60.0 / np.median(np.diff(music.beat_times)) - tempo) / tempo < 0.02
    truth = song.plan.beat_times
    inside = music.beat_times[(music.beat_times > truth[0]) & (music.beat_times < truth[-1])]
    offsets = np.min(np.abs(inside[:, None] - truth[None, :]), axis=1)
    assert np.mean(offsets < 0.07) > 0.9, offsets
    found = np.min(np.abs(truth[:, None] - music.beat_times[None, :]), axis=1)
    assert np.mean(found < 0.07) > 0.8


def test_song_plan_ground_truth_is_consistent(pop_plan):
    beats = pop_plan.beat_times
    assert np.allclose(np.diff(beats), 60.0 / 112.0)
    assert np.allclose(pop_plan.downbeat_times, beats[::4])
    assert pop_plan.sections[0].name == "intro" and pop_plan.sections[-1].name == "outro"
    assert all(0.0 < s.energy <= 1.0 for s in pop_plan.sections)
    chorus = max(s.energy for s in pop_plan.sections if s.name == "chorus")
    assert chorus > max(s.energy for s in pop_plan.sections if s.name == "intro")
    assert pop_plan.duration <= 30.0


def test_bad_song_specs_and_audio_paths_are_user_errors(tmp_path):
    with pytest.raises(LM2DError, match="tempo"):
        plan_song(SongSpec(tempo=300.0))
    with pytest.raises(LM2DError, match="style"):
        plan_song(SongSpec(style="polka"))
    with pytest.raises(LM2DError, match="no 6/8 pattern"):
        plan_song(SongSpec(style="electronic", meter="6/8"))
    with pytest.raises(LM2DError, match="too short"):
        plan_song(SongSpec(seconds=5.0))
    with pytest.raises(LM2DError, match=r"\.ogg or \.wav"):
        write_audio(tmp_path / "song.mp3", np.zeros(100, np.float32), 22050)


# ---------------------------------------------------------------- lyrics and gestures

def test_gesture_keyword_table_covers_the_gesture_words():
    expected = {"up": "arms_up", "high": "arms_up", "sky": "arms_up", "rise": "arms_up",
                "down": "crouch", "low": "crouch", "floor": "crouch", "heart": "hands_on_heart",
                "love": "hands_on_heart", "wave": "wave", "hello": "wave", "goodbye": "wave", "bye": "wave",
                "clap": "clap", "jump": "jump", "spin": "spin", "around": "spin", "turn": "spin",
                "you": "point", "point": "point", "run": "run", "fly": "fly", "arms": "fly", "wings": "fly",
                "stop": "stop", "think": "think", "cry": "cry", "push": "push", "pull": "pull",
                "reach": "reach", "shake": "shake"}
    for word, gesture in expected.items():
        assert GESTURE_KEYWORDS[word] == gesture
    assert set(GESTURE_KEYWORDS.values()) == set(GESTURE_BY_NAME)
    inflected = {"waving": "wave", "Spinning!": "spin", "skies": "sky", "bye-bye": "bye", "jumps": "jump",
                 "you're": "you", "clapping": "clap", "rising": "rise", "his": None, "sound": None, "this": None}
    for word, keyword in inflected.items():
        assert keyword_of(word) == keyword, word


def test_line_banks_separate_gesture_lines_from_neutral_ones():
    for line in NEUTRAL_LINES:
        assert not [w for w in line.split() if keyword_of(w)], line
    covered = {GESTURE_KEYWORDS[keyword_of(w)] for line in GESTURE_LINES for w in line.split() if keyword_of(w)}
    assert all(any(keyword_of(w) for w in line.split()) for line in GESTURE_LINES)
    assert covered == set(GESTURE_BY_NAME), set(GESTURE_BY_NAME) - covered


def test_written_lyrics_sit_on_the_beat_grid_and_survive_enhanced_lrc(pop_plan, gesture_lyrics, tmp_path):
    assert [s.text for s in gesture_lyrics.segments] == GESTURE_TEST_LINES
    half_beat = 30.0 / 112.0
    starts = np.array([w.start for s in gesture_lyrics.segments for w in s.words])
    grid_position = (starts - pop_plan.beat_times[0]) / half_beat
    assert np.allclose(grid_position, np.round(grid_position), atol=0.01)
    for segment in gesture_lyrics.segments:       # every line starts on a downbeat
        assert np.min(np.abs(pop_plan.downbeat_times - segment.start)) < 1e-6
    for word in [w for s in gesture_lyrics.segments for w in s.words if keyword_of(w.text)]:
        assert word.end - word.start >= 2 * half_beat * 0.9   # gesture words are held
    path = tmp_path / "song.lrc"
    path.write_text(lyrics_to_lrc(gesture_lyrics))
    assert "<00:" in path.read_text()
    parsed = load_lyrics(path, audio_duration=pop_plan.duration)
    ours = [(w.start, w.end, w.text) for s in gesture_lyrics.segments for w in s.words]
    theirs = [(w.start, w.end, w.text) for s in parsed.segments for w in s.words]
    assert [t for _, _, t in theirs] == [t for _, _, t in ours]
    assert np.allclose([a for a, _, _ in theirs], [a for a, _, _ in ours], atol=0.006)
    assert np.allclose([b for _, b, _ in theirs], [b for _, b, _ in ours], atol=0.006)


def test_gesture_events_merge_stretch_and_never_overlap():
    words = [Word(1.0, 1.2, "spin"), Word(1.3, 1.5, "around"), Word(1.6, 1.8, "clap"), Word(5.0, 6.5, "clap")]
    lyrics = Lyrics([Segment(1.0, 1.8, "spin around clap", words[:3]), Segment(5.0, 6.5, "clap", words[3:])])
    events = gesture_events(lyrics, duration=10.0)
    assert [(e.gesture, e.keyword) for e in events] == [("spin", "spin around"), ("clap", "clap"), ("clap", "clap")]
    spin, clap, late = events
    assert spin.start == 1.0 and spin.end == pytest.approx(1.0 + GESTURE_BY_NAME["spin"].min_seconds)
    assert clap.start == pytest.approx(spin.end) and clap.word_start == 1.6
    assert (late.start, late.end) == (5.0, 6.5)
    assert gesture_events(None, 10.0) == []


# ---------------------------------------------------------------- choreography

def test_choreography_has_the_exact_length_and_valid_rotations(pop_plan, danced):
    motion, joints = danced
    assert motion.n_frames == frame_count(pop_plan.duration) == 1 + int(np.floor(pop_plan.duration * 30))
    assert np.isfinite(motion.root_translation).all() and np.isfinite(joints).all()
    rotations = motion.local_rotmats.astype(np.float64)
    assert np.allclose(rotations @ np.swapaxes(rotations, -1, -2), np.eye(3), atol=1e-4)
    assert np.allclose(np.linalg.det(rotations), 1.0, atol=1e-4)
    short = choreograph(pop_plan.beat_times, 12.0, None, n_frames=333)
    assert short.n_frames == 333 and short.fps == 30.0


def test_feet_stay_on_the_floor(danced):
    _, joints = danced
    lowest = joints[:, list(FOOT_JOINTS), 2].min(axis=1)
    assert np.abs(lowest).max() < 0.02
    assert joints[:, 0, 2].min() > 0.5      # standing, not collapsed


def test_planted_feet_do_not_skate(danced):
    motion, joints = danced
    contact = motion.foot_contacts()[1:]                     # EDGE's rule: under 0.01 m per frame
    feet = joints[:, list(FOOT_JOINTS)]
    speed = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1) * 30.0
    assert contact.mean() > 0.5
    assert speed[contact].mean() < SKATING_MEAN_BOUND
    planted_height = np.array([ANKLE_HEIGHT, ANKLE_HEIGHT, 0.0, 0.0])
    on_floor = contact & (feet[1:, :, 2] - planted_height < 0.005)
    assert speed[on_floor].max() < PLANTED_SPEED_BOUND


@pytest.mark.parametrize("style, meter, tempo", [("pop", "4/4", 112.0), ("ballad", "6/8", 76.0)])
def test_the_body_pauses_on_the_beats(style, meter, tempo):
    plan = plan_song(SongSpec(style=style, meter=meter, tempo=tempo, seconds=30.0, seed=1))
    n_frames = frame_count(plan.duration)
    motion = choreograph(plan.beat_times, plan.duration, None, energy=plan.energy_curve(30, n_frames),
                         style=style, seed=1, beats_per_bar=plan.meter.beats_per_bar)
    score = beat_alignment_score(motion.joints(), beat_times_to_frames(plan.beat_times, 30))
    assert score > 0.5


def test_spin_word_turns_the_body_a_full_circle(pop_plan, gesture_lyrics, danced):
    motion, _ = danced
    event = _event(gesture_lyrics, pop_plan.duration, "spin")
    forward = -motion.local_rotmats[:, 0][:, :, 1]          # the pelvis's -Y axis in the world
    yaw = np.unwrap(np.arctan2(forward[:, 1], forward[:, 0]))
    window = yaw[_window(event)]
    assert abs(window[-1] - window[0]) == pytest.approx(2 * np.pi, abs=np.radians(15))
    before = yaw[int(event.start * 30) - 20: int(event.start * 30) - 5]
    assert np.ptp(before) < np.radians(45)                  # it is the word that turns the body


def test_up_word_raises_both_wrists_above_the_head(pop_plan, gesture_lyrics, danced):
    _, joints = danced
    event = _event(gesture_lyrics, pop_plan.duration, "arms_up")
    window = joints[_window(event)]
    above = (window[:, WRISTS, 2] > window[:, [HEAD], 2]).all(axis=1)
    assert above.mean() > 0.5
    assert not (joints[:, WRISTS, 2] > joints[:, [HEAD], 2]).all(axis=1)[: int(event.start * 30) - 15].any()


def test_jump_word_leaves_the_floor(pop_plan):
    lyrics = write_lyrics(pop_plan.beat_times, 4, _sung_regions(pop_plan), seed=4, lines=["jump into the light"])
    event = _event(lyrics, pop_plan.duration, "jump", seed=4)
    motion = choreograph(pop_plan.beat_times, pop_plan.duration, lyrics, style="pop", seed=4)
    joints = motion.joints()
    feet = joints[:, list(FOOT_JOINTS), 2].min(axis=1)
    assert feet[_window(event)].max() > 0.1
    assert np.abs(feet[: int(event.start * 30) - 10]).max() < 0.02


@pytest.fixture(scope="module")
def every_style():
    """A 30-second dance in every style, without lyrics: the base choreography alone."""
    dances = {}
    for style, meter, tempo in (("pop", "4/4", 114.0), ("hiphop", "4/4", 92.0), ("electronic", "4/4", 140.0),
                                ("ballad", "6/8", 80.0), ("waltz", "3/4", 110.0), ("folk", "6/8", 124.0)):
        plan = plan_song(SongSpec(style=style, meter=meter, tempo=tempo, seconds=30.0, seed=5))
        n_frames = frame_count(plan.duration)
        dances[style] = choreograph(plan.beat_times, plan.duration, None, energy=plan.energy_curve(30, n_frames),
                                    style=style, seed=5, beats_per_bar=plan.meter.beats_per_bar)
    return dances


def _segment_distance(points, start, end):
    along = end - start
    t = np.clip(((points - start) * along).sum(-1) / (along * along).sum(-1), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[..., None] * along), axis=-1)


def test_arms_never_pass_through_the_torso(every_style):
    pelvis, chest, neck = (JOINT_NAMES.index(name) for name in ("pelvis", "spine3", "neck"))
    hands = [JOINT_NAMES.index(name) for name in ("left_elbow", "right_elbow", "left_wrist", "right_wrist")]
    for style, motion in every_style.items():
        joints = motion.joints()
        for joint in hands:
            distance = np.minimum(_segment_distance(joints[:, joint], joints[:, pelvis], joints[:, chest]),
                                  _segment_distance(joints[:, joint], joints[:, chest], joints[:, neck]))
            assert distance.min() > 0.12, f"{style}: {JOINT_NAMES[joint]} comes {distance.min():.3f} m from the spine"


def _rotation_degrees(rotmats):
    return np.degrees(np.arccos(np.clip((np.trace(rotmats, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)))


def test_joints_stay_within_human_limits(every_style):
    knees = [JOINT_NAMES.index("left_knee"), JOINT_NAMES.index("right_knee")]
    spine = [JOINT_NAMES.index(name) for name in ("spine1", "spine2", "spine3")]
    neck_head = [JOINT_NAMES.index("neck"), JOINT_NAMES.index("head")]
    for style, motion in every_style.items():
        local = motion.local_rotmats.astype(np.float64)
        assert _rotation_degrees(local[:, knees]).max() < 140, style
        assert _rotation_degrees(local[:, spine]).max() < 30, style          # about 90 degrees over three joints
        assert _rotation_degrees(local[:, neck_head]).max() < 40, style


def test_travelling_dances_cross_the_floor_and_come_back(every_style):
    for style, motion in every_style.items():
        path = motion.root_translation[:, :2].astype(np.float64)
        # It starts standing on the stage's origin, wherever the dance ends.
        assert np.linalg.norm(path[0]) < 0.1 and motion.root_translation[:, 2].min() > 0.5, style
        away = np.linalg.norm(path - path[0], axis=-1)
        assert away.max() < 1.5, f"{style} wanders {away.max():.2f} m off its spot"
        # Back near the spot at least once in every 8 seconds.
        for start in range(0, motion.n_frames - 240, 240):
            assert away[start:start + 240].min() < 0.35, f"{style} does not come back around {start / 30:.0f} s"
    travelled = {style: np.linalg.norm(np.diff(m.root_translation[:, :2], axis=0), axis=-1).sum() / (m.n_frames / 30)
                 for style, m in every_style.items()}
    assert np.mean(list(travelled.values())) > 0.25, travelled     # m/s; the v1 choreographer: ~0.17


def test_the_whole_body_dances_within_real_dance_ranges(every_style):
    """Body usage of the base choreography (means over the six styles) against real dance:
    CMU 55_01 measures wrist 1.01, head 0.19 heights/s, trunk tilt p95 17.6 degrees, hip yaw
    138 degrees/s, pelvis height std 0.020, travel 0.37 heights/s, jerk ~139; the v1
    choreographer measured wrist 0.43, head 0.06, trunk 5.5, yaw 10, travel 0.10."""
    usage = mean_body_usage(motion.joints() for motion in every_style.values())
    assert usage["wrist_speed"] > 0.7
    assert usage["head_speed"] > 0.15
    assert usage["trunk_tilt_p95"] > 13.0
    assert usage["hip_yaw_rate"] > 55.0
    assert usage["pelvis_height_std"] > 0.018
    assert usage["floor_travel"] > 0.17
    assert usage["jerk"] < 200.0
    for style, motion in every_style.items():     # no style is left standing
        single = body_usage(motion.joints())
        assert single["wrist_speed"] > 0.45 and single["trunk_tilt_p95"] > 8.0, (style, single)


def test_choreography_is_deterministic_per_seed_and_varies_between_seeds(pop_plan):
    first = choreograph(pop_plan.beat_times, 14.0, None, style="hiphop", seed=11)
    again = choreograph(pop_plan.beat_times, 14.0, None, style="hiphop", seed=11)
    other = choreograph(pop_plan.beat_times, 14.0, None, style="hiphop", seed=12)
    assert np.array_equal(first.local_rotmats, again.local_rotmats)
    assert np.array_equal(first.root_translation, again.root_translation)
    assert not np.allclose(first.local_rotmats, other.local_rotmats, atol=1e-3)


def test_bad_choreography_input_is_a_user_error(pop_plan):
    with pytest.raises(LM2DError, match="dance style"):
        choreograph(pop_plan.beat_times, 10.0, style="tango")
    with pytest.raises(LM2DError, match="duration"):
        choreograph(pop_plan.beat_times, 0.0)
    with pytest.raises(LM2DError, match="energy"):
        choreograph(pop_plan.beat_times, 10.0, energy=[np.nan, 1.0])


# ---------------------------------------------------------------- corpus

@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "c"
    code = lm2d_main(["corpus", "--out", str(out), "--songs", "3", "--seconds", "12", "--seed", "1",
                      "--no-shared-data"])
    assert code == 0
    return out


def test_corpus_has_the_dataset_layout_and_a_test_split(small_corpus):
    metadata = json.loads((small_corpus / "corpus.json").read_text())
    assert len(metadata["clips"]) == 3
    assert len(metadata["splits"]["test"]) >= 1 and len(metadata["splits"]["train"]) >= 1
    assert metadata["gesture_keywords"] == GESTURE_KEYWORDS
    for clip in metadata["clips"]:
        folder = small_corpus / clip["split"] / clip["id"]
        assert sorted(p.name for p in folder.iterdir()) == ["audio.ogg", "lyrics.lrc", "motion.npz"]
        audio = sf.info(str(folder / "audio.ogg"))
        assert audio.subtype == "VORBIS" and audio.duration == pytest.approx(clip["duration"], abs=0.01)
        motion, lines = load_result_npz(folder / "motion.npz")
        assert motion.n_frames == clip["frames"] == frame_count(clip["duration"])
        lyrics = load_lyrics(folder / "lyrics.lrc", Song(folder / "audio.ogg"))
        assert lyrics.has_word_timing and [text for _, _, text in lines] == [s.text for s in lyrics.segments]
        for event in clip["gesture_events"]:
            assert event["gesture"] in GESTURE_BY_NAME
            assert 0.0 <= event["start"] < event["end"] <= clip["duration"] + 1e-3
    on_disk = {split: sorted(p.name for p in (small_corpus / split).iterdir()) for split in ("train", "test")}
    assert on_disk == metadata["splits"]


def test_corpus_is_deterministic_for_a_seed(small_corpus, tmp_path):
    again = tmp_path / "again"
    build_corpus(again, songs=3, seconds=12, seed=1)
    assert json.loads((again / "corpus.json").read_text()) == json.loads((small_corpus / "corpus.json").read_text())
    for folder in sorted(small_corpus.glob("*/*")):
        twin = again / folder.relative_to(small_corpus)
        assert (twin / "lyrics.lrc").read_text() == (folder / "lyrics.lrc").read_text()
        first, _ = load_result_npz(folder / "motion.npz")
        second, _ = load_result_npz(twin / "motion.npz")
        assert np.array_equal(first.local_rotmats, second.local_rotmats)
        assert np.array_equal(sf.read(str(folder / "audio.ogg"))[0], sf.read(str(twin / "audio.ogg"))[0])
    with pytest.raises(LM2DError, match="empty"):
        build_corpus(again, songs=1, seconds=12, seed=1)


def test_real_recordings_are_danced_to_their_tracked_beats(shared_data, tmp_path):
    sources = {source.clip_id for source in shared_sources(shared_data, seed=0)}
    assert "real_on_the_run" in sources and len(sources) == 6
    audio = shared_data / "music" / "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_string_orchestra.ogg"
    clip = real_clip(audio, seed=7, licence="public domain")
    record = write_clip(clip, tmp_path / clip.clip_id)
    folder = tmp_path / clip.clip_id
    assert sorted(p.name for p in folder.iterdir()) == ["audio.ogg", "lyrics.lrc", "motion.npz"]
    assert record["frames"] == clip.n_frames and record["lyrics"] == "written" and record["beats"] > 40
    motion, _ = load_result_npz(folder / "motion.npz")
    assert motion.n_frames == clip.n_frames
    lowest = motion.joints()[:, list(FOOT_JOINTS), 2].min(axis=1)
    grounded = np.ones(motion.n_frames, bool)
    for event in record["gesture_events"]:
        if event["gesture"] == "jump":
            grounded[int(event["start"] * 30): int(event["end"] * 30) + 2] = False
    assert np.abs(lowest[grounded]).max() < 0.02
    score = beat_alignment_score(motion.joints(), beat_times_to_frames(clip.beat_times, 30))
    assert score > 0.3
