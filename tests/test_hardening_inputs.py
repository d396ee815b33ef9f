"""Issue 17, items 4, 5, 9, 10: lyric times and the numbers they are written with, the add-on's
result reader (and lm2d's, which must agree with it), the protocol's ids and cancels, and bounded
hypothesis fuzz targets for every lyrics parser, the result reader and model.json."""
from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lm2d_blender.result_file as addon_reader
from lm2d.cli import main
from lm2d.errors import LM2DError
from lm2d.lyrics import load_lyrics
from lm2d.motion.io import load_result_npz, save_result_npz
from lm2d.motion.representation import Motion
from lm2d.validate import motion as lm2d_reader
from dance_data import server_environment
from raw_server import RawServer

# 60 examples per target keeps the suite fast; LM2D_FUZZ_EXAMPLES=100000 is a long fuzz run.
FUZZ = settings(max_examples=int(os.environ.get("LM2D_FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


def lyrics_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- 4. non-finite and negative lyric times ------------------------------------------------------

NAN_TIMES = {
    "nan.json": '{"segments": [{"start": "nan", "end": 2, "text": "a"}]}',
    "inf.json": '{"segments": [{"start": 0, "end": 1e400, "text": "a"}]}',
    "negative.json": '{"segments": [{"start": -1, "end": 2, "text": "a"}]}',
    "bpm_nan.txt": "#TITLE:x\n#BPM:nan\n: 0 4 0 la\nE\n",
    "gap_nan.txt": "#TITLE:x\n#BPM:120\n#GAP:nan\n: 0 4 0 la\nE\n",
    "gap_huge.txt": "#TITLE:x\n#BPM:120\n#GAP:1e400\n: 0 4 0 la\nE\n",
    "bpm_tiny.txt": "#TITLE:x\n#BPM:1e-320\n: 0 4 0 la\nE\n",
    "gap_negative.txt": "#TITLE:x\n#BPM:120\n#GAP:-5000\n: 0 4 0 la\nE\n",
    "word_negative.csv": "word_start,word_end,word\n-1,0.5,la\n",
}


@pytest.mark.parametrize("name", sorted(NAN_TIMES))
def test_non_finite_and_negative_times_are_one_line_errors(tmp_path, capsys, name):
    path = lyrics_file(tmp_path, name, NAN_TIMES[name])
    with pytest.raises(LM2DError) as caught:
        load_lyrics(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
    for fmt in ("json", "lrc"):
        assert main(["lyrics", str(path), "--format", fmt]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1


# --- 5. huge numbers and structures ----------------------------------------------------------------

HUGE = {
    "minutes.lrc": "[" + "9" * 400 + ":00.00]la\n",
    "word.lrc": "[00:01.00]<" + "9" * 400 + ":00.00>la\n",
    "offset.lrc": "[offset:" + "9" * 400 + "]\n[00:01.00]la\n",
    "digits.lrc": "[" + "9" * 5000 + ":00.00]la\n",
    "beat.txt": "#TITLE:x\n#BPM:120\n: " + "9" * 5000 + " 4 0 la\nE\n",
    "break.txt": "#TITLE:x\n#BPM:120\n: 0 4 0 la\n- " + "9" * 400 + "\n: 8 4 0 la\nE\n",
    "field.csv": "start,end,text\n0,1," + "a" * 140_000 + "\n",
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "bigint.json": '{"segments": [{"start": ' + "9" * 5000 + ', "end": 1, "text": "a"}]}',
}


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_numbers_and_structures_are_one_line_errors(tmp_path, name):
    path = lyrics_file(tmp_path, name, HUGE[name])
    with pytest.raises(LM2DError) as caught:
        load_lyrics(path)
    assert "\n" not in str(caught.value)


def test_a_huge_length_tag_is_only_ignored(tmp_path):
    path = lyrics_file(tmp_path, "length.lrc", "[length:" + "9" * 400 + ":00]\n[00:01.00]la\n")
    assert load_lyrics(path).segments[0].end == 5.0   # the usual last-line length, not an overflow


# --- 9. the result readers: the add-on's and lm2d's refuse the same files ------------------------------

def good_arrays(tmp_path: Path, frames: int = 10, fps: float = 30.0) -> dict:
    motion = Motion(np.zeros((frames, 3)), np.tile(np.eye(3), (frames, 24, 1, 1)), fps)
    save_result_npz(motion, tmp_path / "good.npz", [(0.0, 0.2, "la")])
    with np.load(tmp_path / "good.npz") as data:
        return {key: data[key] for key in data.files}


def zero_quaternions(arrays):
    return dict(arrays, local_quaternions=np.zeros_like(arrays["local_quaternions"]))


def with_nan(key):
    def change(arrays):
        value = arrays[key].astype(np.float64)
        value.reshape(-1)[0] = np.nan
        return dict(arrays, **{key: value})
    return change


BAD_RESULTS = {
    "fps text": lambda a: dict(a, fps=np.array("thirty")),
    "fps complex": lambda a: dict(a, fps=np.array(30 + 1j)),
    "fps inf": lambda a: dict(a, fps=np.array(np.inf)),
    "fps tiny": lambda a: dict(a, fps=np.array(1e-6)),
    "fps huge": lambda a: dict(a, fps=np.array(1e6)),
    "scalar lyrics": lambda a: dict(a, lyric_lines=np.array("la"), lyric_starts=np.array(0.0), lyric_ends=np.array(1.0)),
    "nan lyric time": with_nan("lyric_starts"),
    "text quaternions": lambda a: dict(a, local_quaternions=a["local_quaternions"].astype(str)),
    "nan quaternion": with_nan("local_quaternions"),
    "nan root": with_nan("root_translation"),
    "nan rest": with_nan("rest_positions"),
    "zero quaternions": zero_quaternions,
    "one frame": lambda a: {k: (v[:1] if k in ("root_translation", "local_quaternions", "joint_positions") else v)
                            for k, v in a.items()},
}


@pytest.mark.parametrize("case", sorted(BAD_RESULTS))
def test_both_readers_refuse_a_malformed_result(tmp_path, case):
    path = tmp_path / "bad.npz"
    np.savez(path, **BAD_RESULTS[case](good_arrays(tmp_path)))
    with pytest.raises(addon_reader.ResultFileError) as caught:
        addon_reader.read_result(path)
    assert str(caught.value).startswith(str(path))
    with pytest.raises(LM2DError):
        load_result_npz(path)


def test_empty_files_and_lying_headers_are_refused_before_allocation(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(lying, "w") as archive:   # a header claiming 10^12 frames over 24 bytes of data
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (10**12, 3)})
        archive.writestr("root_translation.npy", header.getvalue() + bytes(24))
    for path, fragment in ((empty, "not a readable"), (lying, r"declares shape \(1000000000000, 3\)")):
        with pytest.raises(addon_reader.ResultFileError, match=fragment):
            addon_reader.read_result(path)
        with pytest.raises(LM2DError, match=fragment):
            load_result_npz(path)


def test_a_zip_bomb_is_refused_from_its_declared_size(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, root_translation=np.zeros((400_000, 3)))   # 9.6 MB of zeros in 10 kB
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(addon_reader, "MAX_NPZ_MEMBER_BYTES", 2**20)   # the same check at a size a test affords
    with pytest.raises(addon_reader.ResultFileError, match="bytes unpacked; the limit is 1048576"):
        addon_reader.read_result(bomb)
    with pytest.raises(LM2DError, match="bytes unpacked; the limit is 1048576"):
        lm2d_reader.read_npz(bomb, max_member_bytes=2**20)


def test_the_edges_of_the_ranges_agree(tmp_path):
    for fps, frames, accepted in ((1000.0, 2, True), (1.0, 1801, True), (1.0, 1802, False)):
        path = tmp_path / f"{fps}-{frames}.npz"
        arrays = good_arrays(tmp_path, frames=frames)
        np.savez(path, **dict(arrays, fps=np.array(fps)))
        if accepted:
            assert len(addon_reader.read_result(path)["root_translation"]) == frames
            assert load_result_npz(path)[0].n_frames == frames
        else:
            with pytest.raises(addon_reader.ResultFileError):
                addon_reader.read_result(path)
            with pytest.raises(LM2DError):
                load_result_npz(path)


# --- 10. the protocol ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    raw = RawServer(server_environment(tmp_path_factory.mktemp("harden_server") / "cache"))
    yield raw
    raw.close()
    assert raw.process.returncode == 0


def test_a_cancel_for_an_id_that_is_not_running_is_answered_and_forgotten(server, tmp_path):
    server.write(json.dumps({"type": "cancel", "id": "c1", "target": "g1"}))
    event, _ = server.final("c1")
    assert event["type"] == "error" and event["code"] == "not_found", event
    server.write(json.dumps({"type": "lyrics", "id": "g1", "path": str(tmp_path / "nope.lrc")}))
    event, _ = server.final("g1")   # runs (and fails on its own terms), is not "cancelled" at once
    assert event["type"] == "error" and "no such lyrics file" in event["message"], event


def test_huge_ids_and_nan_numbers_are_bad_requests_not_internal(server):
    server.write('{"type": "hello", "id": ' + "9" * 5000 + "}")
    assert server.next_event()["code"] == "bad_request"
    server.write('{"type": "generate", "id": "n", "audio": "a.ogg", "output": "o.npz", "music_guidance": NaN}')
    event, _ = server.final("n")
    assert event["code"] == "bad_request" and "must be a finite number, got nan" in event["message"], event
    server.write(json.dumps({"type": "lyrics", "id": "x" * 201, "path": "a.lrc"}))
    event = server.next_event()
    assert event["code"] == "bad_request" and "at most 200 characters" in event["message"], event


def test_nan_lyric_times_are_bad_input_from_the_server(server, tmp_path):
    path = lyrics_file(tmp_path, "nan.json", NAN_TIMES["nan.json"])
    server.write(json.dumps({"type": "lyrics", "id": "l", "path": str(path)}))
    event, _ = server.final("l")
    assert event["type"] == "error" and event["code"] == "bad_input", event


# --- fuzz targets (bounded: each a few seconds) -----------------------------------------------------

TIME_PIECES = st.sampled_from(["[", "]", "<", ">", ":", ".", ",", "-", "+", " ", "\n", "#BPM:", "#GAP:", "E",
                               "nan", "inf", "1e400", "9" * 400, "00", "59", "61", "la", "-->", "* ", ": ",
                               "[offset:", "[length:", "start,end,text\n", "word_start,word_end,word\n", "\t"])
FUZZED_TEXT = st.lists(st.one_of(TIME_PIECES, st.integers(-10**6, 10**6).map(str), st.text(max_size=4)),
                       max_size=40).map("".join)


@pytest.mark.parametrize("name", ["x.lrc", "x.srt", "x.txt", "x.csv", "x.json"])
@FUZZ
@given(text=FUZZED_TEXT)
def test_fuzzed_lyrics_give_lyrics_with_finite_times_or_one_line(tmp_path, name, text):
    path = tmp_path / name
    if name == "x.txt":
        text = "#TITLE:x\n" + text   # UltraStar (plain text would need a song)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        lyrics = load_lyrics(path)
    except LM2DError as err:
        assert "\n" not in str(err)
        return
    times = [t for s in lyrics.segments for item in (s, *s.words) for t in (item.start, item.end)]
    assert all(np.isfinite(times)) and min(times) >= 0


@FUZZ
@given(data=st.data())
def test_fuzzed_result_files_are_read_or_refused_by_both_readers_alike(tmp_path, data):
    arrays = good_arrays(tmp_path)
    key = data.draw(st.sampled_from(sorted(arrays)))
    value = data.draw(st.one_of(
        st.sampled_from([np.array(np.nan), np.array("x"), np.array([]), np.array(0.0), np.array(1e6),
                         np.zeros((2, 24, 4)), np.ones((10, 24, 4)) / 2, np.array([1 + 1j])]),
        st.floats(allow_nan=True, allow_infinity=True).map(np.array)))
    path = tmp_path / "fuzzed.npz"
    np.savez(path, **dict(arrays, **{key: value}))
    try:
        addon_reader.read_result(path)
        addon_ok = True
    except addon_reader.ResultFileError:
        addon_ok = False
    try:
        load_result_npz(path)
        lm2d_ok = True
    except LM2DError:
        lm2d_ok = False
    if key not in ("joint_names", "parents", "rest_positions", "joint_positions"):   # lm2d uses its own skeleton
        assert addon_ok == lm2d_ok, (key, value)


def test_a_config_key_with_a_line_break_is_reported_on_one_line(checkpoint, tmp_path):
    """Found by a 10-minute fuzz run: quoted input must not break the one-line message."""
    from lm2d.model.checkpoint import load_checkpoint

    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    meta = json.loads((broken / "model.json").read_text())
    meta["config"]["bad\nkey"] = 1
    (broken / "model.json").write_text(json.dumps(meta))
    with pytest.raises(LM2DError) as caught:
        load_checkpoint(broken)
    assert "\n" not in str(caught.value) and "bad\\nkey" in str(caught.value)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)


@FUZZ
@given(data=st.data())
def test_fuzzed_model_json_loads_or_is_one_line(checkpoint, tmp_path, data):
    from lm2d.model.checkpoint import load_checkpoint

    copy = tmp_path / "fuzzed"
    if not copy.exists():
        shutil.copytree(checkpoint, copy)
    meta = json.loads((checkpoint / "model.json").read_text())
    section = data.draw(st.sampled_from([meta, meta["config"], meta["text_encoder"]]))
    section[data.draw(st.sampled_from(sorted(section) + ["extra"]))] = data.draw(JSON_VALUES)
    (copy / "model.json").write_text(json.dumps(meta))
    try:
        load_checkpoint(copy)
    except LM2DError as err:
        assert "\n" not in str(err)
