"""`lm2d generate` end to end with a real (tiny, untrained) checkpoint and real songs: .npz and
.bvh results, seeds, cropping, and every kind of bad input as one line + exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


from lm2d.cli import main

SONG = "music/sorohanro_-_solo-trumpet-06.ogg"   # 5.3 s


pytestmark = pytest.mark.usefixtures("private_cache")


def generate(*args) -> int:
    return main(["generate", *map(str, args)])


def test_npz_with_lyrics_end_to_end(checkpoint, shared_data, tmp_path, capsys):
    song = shared_data / SONG
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text("[00:00.50]hands up high\n[00:03.00]spin around\n")
    output = tmp_path / "takes" / "take.npz"
    assert generate(song, "--lyrics", lyrics, "--checkpoint", checkpoint, "-o", output, "--steps", 2,
                    "--seed", 4, "--music-guidance", 1.5, "--lyrics-guidance", 3) == 0
    out, err = capsys.readouterr()
    assert f"wrote {output}" in out and "ignored" not in err   # a diffusion model uses its guidance
    # Each stage in its own units (pytest's stderr is a log: a line as each stage ends); 161 frames
    # in windows of 60 with stride 30 are 5 windows.
    stages = [line.split(" [")[0] for line in err.splitlines()]
    assert stages == ["features: 5/5 seconds", "lyrics: 2/2 lines", "sampling 5 windows: 2/2 steps",
                      "writing: 161/161 frames"], err
    with np.load(output) as take:
        assert abs(take["root_translation"].shape[0] - 30 * sf.info(song).duration) <= 1
        assert list(take["lyric_lines"]) == ["hands up high", "spin around"]
        assert take["fps"] == 30.0 and take["joint_names"][0] == "pelvis"
        # The song's sections, contiguous over the take (lm2d.structure).
        starts, ends = take["section_starts"], take["section_ends"]
        assert starts[0] == 0 and np.allclose(starts[1:], ends[:-1])
        assert abs(ends[-1] - take["root_translation"].shape[0] / 30) < 1e-6
        assert len(take["section_labels"]) == len(take["section_occurrences"]) == len(starts)


def test_guidance_flags_with_the_distilled_default_model_warn_that_they_do_nothing(shared_data, tmp_path, capsys):
    output = tmp_path / "take.npz"
    assert generate(shared_data / SONG, "-o", output, "--end", 1, "--music-guidance", 2,
                    "--lyrics-guidance", 4) == 0
    err = capsys.readouterr().err
    assert ("warning: --music-guidance and --lyrics-guidance ignored: guidance is baked into the distilled "
            "model") in err, err
    assert output.exists()


def test_bvh_of_a_cropped_range(checkpoint, shared_data, tmp_path):
    output = tmp_path / "take.bvh"
    assert generate(shared_data / SONG, "--checkpoint", checkpoint, "-o", output, "--steps", 1,
                    "--start", 1, "--end", 3, "--device", "cpu") == 0
    text = output.read_text()
    assert text.startswith("HIERARCHY\nROOT pelvis") and "Frames: 60\n" in text
    motion_lines = text.split("Frame Time:")[1].strip().splitlines()[1:]
    assert len(motion_lines) == 60 and len(motion_lines[0].split()) == 3 + 24 * 3


def test_the_same_seed_gives_the_same_dance(checkpoint, shared_data, tmp_path):
    takes = {}
    for name, seed in [("a", 7), ("b", 7), ("c", 8)]:
        assert generate(shared_data / SONG, "--checkpoint", checkpoint, "-o", tmp_path / f"{name}.npz",
                        "--steps", 2, "--seed", seed) == 0
        with np.load(tmp_path / f"{name}.npz") as take:
            takes[name] = take["root_translation"]
    np.testing.assert_array_equal(takes["a"], takes["b"])
    assert not np.allclose(takes["a"], takes["c"])


def test_beat_accent_retimes_between_the_beats_and_keeps_the_beat_poses(checkpoint, shared_data, tmp_path):
    from lm2d.features import BEAT_COLUMN, extract_features

    takes = {}
    for accent in (0, 0.6):
        output = tmp_path / f"accent{accent}.npz"
        # Without the foot lock: its floor step follows the neighbouring frames, so it would move
        # the beat poses too.
        assert generate(shared_data / SONG, "--checkpoint", checkpoint, "-o", output, "--steps", 1,
                        "--beat-accent", accent, "--no-foot-lock") == 0
        with np.load(output) as take:
            takes[accent] = take["joint_positions"]
    beats = np.flatnonzero(extract_features(shared_data / SONG).features[:, BEAT_COLUMN])
    assert beats.size >= 4
    np.testing.assert_allclose(takes[0.6][beats], takes[0][beats], atol=1e-5)
    np.testing.assert_allclose(takes[0.6][:beats[0] + 1], takes[0][:beats[0] + 1], atol=1e-5)
    between = np.arange(beats[0] + 1, beats[-1])
    between = between[~np.isin(between, beats)]
    assert np.abs(takes[0.6][between] - takes[0][between]).max() > 1e-3


def test_foot_lock_changes_only_the_legs_and_the_height_and_never_adds_skating(checkpoint, shared_data, tmp_path):
    from lm2d.evaluation.video_accuracy import foot_skating
    from lm2d.motion.skeleton import JOINT_NAMES

    takes = {}
    for flag in ((), ("--no-foot-lock",)):
        output = tmp_path / f"take{len(flag)}.npz"
        assert generate(shared_data / SONG, "--checkpoint", checkpoint, "-o", output, "--steps", 1, *flag) == 0
        with np.load(output) as take:
            takes[bool(flag)] = take["joint_positions"]
    locked, free = takes[False], takes[True]
    legs = [i for i, name in enumerate(JOINT_NAMES) if name.split("_")[-1] in ("hip", "knee", "ankle", "foot")]
    body = [i for i in range(len(JOINT_NAMES)) if i not in legs]
    # Above the legs the body only rises or sinks (the floor step), the same for every joint.
    shift = locked[:, body] - free[:, body]
    np.testing.assert_allclose(shift[..., :2], 0, atol=1e-5)
    np.testing.assert_allclose(shift[..., 2] - shift[:, :1, 2], 0, atol=1e-5)
    # Skating is judged at the height the lock stands the dance at: pinning adds none.
    lifted = free.copy()
    lifted[..., 2] += shift[:, :1, 2]
    assert foot_skating(locked) <= foot_skating(lifted) + 1e-4


@pytest.fixture
def bad(tmp_path) -> dict[str, Path]:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 50)
    lyrics = tmp_path / "broken.lrc"
    lyrics.write_text("[00:01.00]fine\n[00:9x.00]not a time\n")
    not_ours = tmp_path / "not_ours"
    not_ours.mkdir()
    (not_ours / "model.json").write_text(json.dumps({"format": "lm2d-checkpoint", "version": 1, "kind": "gan"}))
    (not_ours / "model.safetensors").write_bytes(b"{}")
    a_file = tmp_path / "a_file"
    a_file.write_text("in the way")
    return {"corrupt": corrupt, "lyrics": lyrics, "not_ours": not_ours, "a_file": a_file}


@pytest.mark.parametrize("case, fragment", [
    ("missing audio", "nope.ogg: no such audio file"),
    ("corrupt audio", "corrupt.wav: cannot be decoded as wav audio"),
    ("broken lyrics", "broken.lrc:2: malformed timestamp"),
    ("unwritable output", "cannot write the result here"),
    ("unknown output format", "must end in .npz or .bvh"),
    ("checkpoint not ours", "not an LM2D checkpoint: kind 'gan'"),
    ("too many steps", "steps must be between 1 and 1000"),
    ("start past the end", "start 9 s is past the end of the song"),
    ("beat accent of 1", "beat accent must be at least 0 (off) and below 1, got 1"),
    ("repeat sections of 2", "repeat sections must be between 0 (off) and 1 (exact copy), got 2"),
])
def test_bad_input_is_one_line_and_exit_2(checkpoint, shared_data, tmp_path, bad, capsys, case, fragment):
    song, output = shared_data / SONG, tmp_path / "take.npz"
    args = {
        "missing audio": [tmp_path / "nope.ogg", "-o", output],
        "corrupt audio": [bad["corrupt"], "-o", output],
        "broken lyrics": [song, "--lyrics", bad["lyrics"], "-o", output],
        "unwritable output": [song, "-o", bad["a_file"] / "take.npz"],
        "unknown output format": [song, "-o", tmp_path / "take.fbx"],
        "checkpoint not ours": [song, "-o", output, "--checkpoint", bad["not_ours"]],
        "too many steps": [song, "-o", output, "--steps", 5000],
        "start past the end": [song, "-o", output, "--start", 9],
        "beat accent of 1": [song, "-o", output, "--beat-accent", 1],
        "repeat sections of 2": [song, "-o", output, "--repeat-sections", 2],
    }[case]
    if "--checkpoint" not in args:
        args += ["--checkpoint", checkpoint]
    assert generate(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert not output.exists()


def test_no_default_model_installed_is_one_line(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("lm2d.pipeline.default_checkpoint_path", lambda: tmp_path / "default")
    assert generate(shared_data / SONG, "-o", tmp_path / "take.npz") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no default model is installed:") and err.count("\n") == 1


def test_the_real_command_exits_2_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lm2d", "generate", str(tmp_path / "nope.ogg"),
                           "-o", str(tmp_path / "take.npz")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"error: {tmp_path / 'nope.ogg'}: no such audio file\n"


def test_cropping_keeps_the_tokens_and_lines_inside_and_retimes_them():
    from lm2d.lyrics import SongLyricTokens
    from lm2d.lyrics.segments import Lyrics, Segment
    from lm2d.pipeline import crop_tokens, frame_range, lyric_lines_in

    tokens = SongLyricTokens(embeddings=np.arange(8, dtype=np.float32).reshape(4, 2),
                             frames=np.array([10, 40, 70, 100], np.float32), line_index=np.array([0, 0, 1, 1]),
                             line_embeddings=np.ones((2, 2), np.float32),
                             line_start_frames=np.array([0, 60], np.float32),
                             line_end_frames=np.array([50, 110], np.float32))
    first, count = frame_range(150, start_seconds=1.0, end_seconds=3.0, audio_path="song.ogg")
    assert (first, count) == (30, 60)
    cropped = crop_tokens(tokens, first, count)
    np.testing.assert_array_equal(cropped.frames, [10, 40])
    np.testing.assert_array_equal(cropped.embeddings, tokens.embeddings[1:3])
    np.testing.assert_array_equal(cropped.line_start_frames, [-30, 30])
    lyrics = Lyrics([Segment(0.0, 1.5, "before and during"), Segment(2.0, 3.6, "during and after"),
                     Segment(4.0, 4.5, "after")])
    assert lyric_lines_in(lyrics, 1.0, 2.0) == [(0.0, 0.5, "before and during"), (1.0, 2.0, "during and after")]
