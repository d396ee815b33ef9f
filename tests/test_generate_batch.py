"""`lm2d generate` with several songs or a folder: one result per song in the output folder,
lyrics found beside each song, the same dances as one song at a time, and bad batches refused
before any work with one line and exit code 2. Real songs, a real (tiny, untrained) checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lm2d.cli import main
from dance_data import write_tiny_checkpoint

TRUMPET = "music/sorohanro_-_solo-trumpet-06.ogg"   # 5.3 s
VIBE = "music/Kevin_MacLeod_-_Vibe_Ace.ogg"         # 61.5 s: its first 6 s make a second song
ARRAYS = ("root_translation", "local_quaternions", "joint_positions")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, shared_data) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("batch") / "tiny", shared_data)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def songs(tmp_path, shared_data) -> Path:
    """A folder of two songs, one with lyrics beside it (and a file that is not a song)."""
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "trumpet.ogg").write_bytes((shared_data / TRUMPET).read_bytes())
    samples, rate = sf.read(shared_data / VIBE, frames=6 * 22050, dtype="float32")
    sf.write(folder / "vibe.wav", samples, rate)
    (folder / "vibe.lrc").write_text("[00:00.50]feel the vibe\n[00:03.00]move with me\n")
    (folder / "notes.md").write_text("not a song")
    return folder


def generate(*args) -> int:
    return main(["generate", *map(str, args)])


def arrays(path: Path) -> dict:
    with np.load(path) as take:
        return {name: take[name] for name in take.files}


def test_a_folder_gives_the_dances_of_one_song_at_a_time(checkpoint, songs, tmp_path, capsys):
    assert generate(songs, "--checkpoint", checkpoint, "-o", tmp_path / "out", "--steps", 2, "--seed", 5) == 0
    out = capsys.readouterr().out
    assert "with vibe.lrc" in out and "2 dances in" in out
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["trumpet.npz", "vibe.npz"]

    alone = tmp_path / "alone"
    assert generate(songs / "trumpet.ogg", "--checkpoint", checkpoint, "-o", alone / "trumpet.npz",
                    "--steps", 2, "--seed", 5) == 0
    assert generate(songs / "vibe.wav", "--lyrics", songs / "vibe.lrc", "--checkpoint", checkpoint,
                    "-o", alone / "vibe.npz", "--steps", 2, "--seed", 5) == 0
    for name in ("trumpet.npz", "vibe.npz"):
        batch, single = arrays(tmp_path / "out" / name), arrays(alone / name)
        assert batch.keys() == single.keys() and set(ARRAYS) <= batch.keys()
        for key in batch:
            np.testing.assert_array_equal(batch[key], single[key], err_msg=f"{name}: {key}")
    assert list(arrays(alone / "vibe.npz")["lyric_lines"]) == ["feel the vibe", "move with me"]


def test_songs_named_one_by_one_as_bvh_without_lyrics(checkpoint, songs, tmp_path):
    out = tmp_path / "bvh"
    assert generate(songs / "vibe.wav", songs / "trumpet.ogg", "--no-lyrics", "--format", "bvh",
                    "--checkpoint", checkpoint, "-o", out, "--steps", 1) == 0
    for name in ("vibe.bvh", "trumpet.bvh"):
        assert (out / name).read_text().startswith("HIERARCHY\nROOT pelvis")


@pytest.mark.parametrize("case, fragment", [
    ("output is a file", "with several songs, -o names a folder for the results, but this is a file"),
    ("lyrics in a batch", "--lyrics names one song's lyrics"),
    ("same name twice", "would both write trumpet.npz"),
    ("folder without songs", "holds no songs"),
    ("a missing song", "nope.ogg: no such audio file"),
])
def test_bad_batches_are_one_line_and_exit_2_before_any_work(checkpoint, songs, tmp_path, capsys, case, fragment):
    taken = tmp_path / "taken.npz"
    taken.write_bytes(b"the user's own file")
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "trumpet.wav").write_bytes((songs / "vibe.wav").read_bytes())
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    args = {
        "output is a file": [songs, "-o", taken],
        "lyrics in a batch": [songs, "--lyrics", songs / "vibe.lrc", "-o", out],
        "same name twice": [songs, twin / "trumpet.wav", "-o", out],
        "folder without songs": [songs / "trumpet.ogg", empty, "-o", out],
        "a missing song": [songs, tmp_path / "nope.ogg", "-o", out],
    }[case]
    assert generate(*args, "--checkpoint", checkpoint) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists() and taken.read_bytes() == b"the user's own file"
