"""Song structure (lm2d.structure) on real songs: a synthesised song of known form (A B A B C B,
lm2d.corpus.music_synth) and On the run (its UltraStar lyrics repeat a chorus); repeat
choreography and apply-to-all-repeats edits with the shipped model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lm2d.corpus.music_synth import SongSpec, plan_song
from lm2d.corpus.song_audio import render_song, write_audio
from lm2d.features import BEAT_COLUMN, extract_features
from lm2d.song import Song
from lm2d.structure import repeats, section_map
from lm2d.structure.lyric_repeats import repeated_parts

FORM = "ABABCB"


@pytest.fixture(scope="module")
def form_song(tmp_path_factory):
    """(path, plan) of a 98 s pop song playing the sections A B A B C B, eight bars each."""
    plan = plan_song(SongSpec(form=FORM, tempo=120.0, seed=3))
    path = tmp_path_factory.mktemp("form") / "form.wav"
    write_audio(path, render_song(plan), plan.sr)
    return path, plan


@pytest.fixture(scope="module")
def on_the_run(shared_data):
    from lm2d.lyrics import load_lyrics

    folder = shared_data / "songs" / "on_the_run"
    return (extract_features(folder / "audio.ogg").features, load_lyrics(folder / "song.txt"))


def test_known_form_boundaries_within_one_beat_and_parts_grouped(form_song):
    path, plan = form_song
    sections = section_map(extract_features(path).features)
    found = np.array([section.start for section in sections[1:]])
    truth = np.array([section.start for section in plan.sections[1:]])
    assert len(found) == len(truth)
    assert np.abs(found - truth).max() <= plan.beat_period
    labels = [section.label for section in sections]
    # Same letters where the form repeats, different ones where it does not.
    assert [labels.index(label) for label in labels] == [FORM.index(letter) for letter in FORM]


def test_on_the_run_chorus_from_lyrics_and_music_agree(on_the_run):
    features, lyrics = on_the_run
    chorus = max(repeated_parts(lyrics.segments), key=lambda part: len(part.occurrences))
    assert len(chorus.occurrences) == 4
    beat = 60.0 / 120.0
    music_only = section_map(features)
    at_chorus = []
    for start, _end in chorus.occurrences:
        section = min(music_only, key=lambda s: abs(s.start - start))
        assert abs(section.start - start) <= beat, f"no music boundary near the chorus at {start:.1f} s"
        at_chorus.append(section.label)
    assert len(set(at_chorus)) == 1, f"the music groups the choruses as {at_chorus}"

    with_lyrics = section_map(features, lyrics)
    choruses = [s for s in with_lyrics if s.label == "chorus"]
    assert [s.occurrence for s in choruses] == [1, 2, 3, 4]
    assert np.abs(np.array([s.start for s in choruses]) - [o[0] for o in chorus.occurrences]).max() <= beat


def test_untimed_lyrics_still_name_the_chorus(shared_data, tmp_path):
    """Plain text placed over the sung part by listening (approximate times): the first 110 s of
    On the run, two choruses in; the music's boundaries place the sections."""
    import soundfile as sf

    from lm2d.lyrics import load_lyrics

    folder = shared_data / "songs" / "on_the_run"
    samples, rate = sf.read(folder / "audio.ogg", frames=110 * 44100, dtype="float32")
    song = tmp_path / "first_110s.wav"
    sf.write(song, samples, rate)
    timed = load_lyrics(folder / "song.txt")
    plain = tmp_path / "lyrics.txt"
    plain.write_text("\n".join(segment.text for segment in timed.segments if segment.end < 105))
    with pytest.warns(UserWarning):
        untimed = load_lyrics(plain, Song(song))
    choruses = [s for s in section_map(extract_features(song).features, untimed) if s.label == "chorus"]
    assert len(choruses) == 2 and abs(choruses[0].start - 31.1) < 1.0 and abs(choruses[1].start - 83.3) < 2.0


def test_sections_command_prints_the_documented_json(form_song):
    path, _plan = form_song
    done = subprocess.run([sys.executable, "-m", "lm2d.cli", "sections", str(path), "--format", "json"],
                          capture_output=True, text=True, check=True)
    sections = json.loads(done.stdout)["sections"]
    assert [set(section) for section in sections] == [{"label", "occurrence", "start", "end"}] * len(FORM)
    assert [s["occurrence"] for s in sections if s["label"] == sections[1]["label"]] == [1, 2, 3]
    bad = subprocess.run([sys.executable, "-m", "lm2d.cli", "sections", str(path) + ".missing"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# --- repeat choreography with the shipped model ---------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    from lm2d.pipeline import load_model

    return load_model(None, "cpu")


@pytest.fixture(scope="module")
def danced(form_song, shipped):
    """The known-form song danced with repeats off and on (same seed)."""
    from lm2d.structure.repeat import generate_with_repeats

    path, _plan = form_song
    return {strength: generate_with_repeats(shipped, path, repeat_sections=strength, seed=1)
            for strength in (0.0, 1.0)}


def test_repeats_dance_alike_with_smooth_seams_and_the_beat_kept(form_song, danced):
    from lm2d.evaluation.beat_align import beat_alignment_score
    from lm2d.structure.measure import seam_ratio, section_distance

    path, _plan = form_song
    beats = np.flatnonzero(extract_features(path).features[:, BEAT_COLUMN] > 0.5)
    scores = {}
    for strength, (motion, _lines, sections) in danced.items():
        joints = motion.joints()
        parts = repeats(sections)
        firsts = [s for s in sections if s.occurrence == 1]
        same = np.mean([section_distance(joints, found[0], other, beats)
                        for found in parts.values() for other in found[1:]])
        different = np.mean([section_distance(joints, a, b, beats)
                             for i, a in enumerate(firsts) for b in firsts[i + 1:]])
        scores[strength] = (same / different, seam_ratio(joints, sections),
                            beat_alignment_score(joints, beats[beats < motion.n_frames]))
    ratio, seams, bas = scores[1.0]
    assert ratio <= 0.25 < scores[0.0][0]
    assert seams <= 1.1
    assert bas >= scores[0.0][2] - 0.02


def test_edit_applied_to_all_repeats_copies_the_range_and_keeps_the_rest_exact(form_song, danced, shipped,
                                                                                tmp_path):
    from lm2d.motion.io import load_result_npz
    from lm2d.pipeline import write_result
    from lm2d.server.protocol import EditSpec
    from lm2d.structure.measure import section_distance
    from lm2d.structure.repeat import SEAM_FRAMES, generate_with_repeats

    path, _plan = form_song
    motion, lines, sections = danced[0.0]
    source = write_result(motion, tmp_path / "take.npz", lines, sections)
    motion, _ = load_result_npz(source)     # the take as the file holds it (rotations via quaternions)
    home = next(s for s in sections if s.label == sections[1].label)
    first, end = home.start_frame + 60, home.start_frame + 180
    edit = EditSpec(motion=str(source), regenerate=(first, end), apply_to_repeats=True)
    edited, _lines, _sections = generate_with_repeats(shipped, path, seed=7, edit=edit)

    beats = np.flatnonzero(extract_features(path).features[:, BEAT_COLUMN] > 0.5)
    changed = np.any(edited.root_translation != motion.root_translation, axis=1) | np.any(
        edited.local_rotmats != motion.local_rotmats, axis=(1, 2, 3))
    others = [s for s in sections if s.label == home.label and s != home]
    # Every changed frame lies in the edited range or in its place in another occurrence.
    assert changed[first:end].any()
    for other in others:
        assert changed[other.start_frame:other.end_frame].sum() >= (end - first) * 0.8
    allowed = np.zeros(len(changed), bool)
    allowed[first:end] = True
    for other in others:
        allowed[other.start_frame:other.end_frame] = True
    assert not changed[~allowed].any()
    # The carried ranges dance the edited one: the occurrences are now close where they were not.
    joints = edited.joints()
    for other in others:
        inner = type(home)(home.label, 0, first + SEAM_FRAMES, end - SEAM_FRAMES)
        offset = other.start_frame - home.start_frame
        there = type(home)(home.label, 0, inner.start_frame + offset, inner.end_frame + offset)
        assert section_distance(joints, inner, there, beats) < 0.5 * section_distance(
            motion.joints(), inner, there, beats)


def test_a_repeat_dances_its_own_new_gesture_words_and_copies_the_shared_ones():
    """A second verse that sings "wave" where the first sang nothing gets that window left to the
    model; "clap", sung at the same point of both, is carried with the copy."""
    from lm2d.lyrics import Lyrics, Segment
    from lm2d.structure import Section
    from lm2d.structure.carry import warp_positions
    from lm2d.structure.repeat import SongForm, _gesture_events, _new_gestures

    features = np.zeros((40 * 30, 35), np.float32)
    features[::15, BEAT_COLUMN] = 1.0                      # 120 BPM
    source, target = Section("verse", 1, 0, 600), Section("verse", 2, 600, 1200)
    lyrics = Lyrics([Segment(2.0, 4.0, "we clap our hands"), Segment(22.0, 24.0, "we clap our hands"),
                     Segment(30.0, 32.0, "and wave goodbye")])
    form = SongForm(features, lyrics, [source, target])
    events = _gesture_events(form)
    assert {name for name, _start, _end in events} >= {"clap", "wave"}
    positions = warp_positions((0, 600), (600, 1200), form.beats)
    windows = _new_gestures(events, source, target, positions)
    assert len(windows) == 1 and 30 * 30 <= windows[0][0] < 31 * 30
