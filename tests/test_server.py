"""The inference server as the add-on drives it: a real `python -m lm2d.server` subprocess spoken
to in JSON lines, a real (untrained, tiny) checkpoint, real songs. One server process serves the
whole module, so every test also checks that what came before left it serving."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dance_data import server_environment, write_tiny_checkpoint
from raw_server import RawServer

from lm2d.server.protocol import BadRequest, parse_request

SONG = "music/sorohanro_-_solo-trumpet-06.ogg"   # 5.3 s: the shortest real song, for fast round trips




@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def checkpoint(workdir, shared_data) -> Path:
    return write_tiny_checkpoint(workdir / "tiny", shared_data)


@pytest.fixture(scope="module")
def server(workdir):
    raw = RawServer(server_environment(workdir / "cache"))
    yield raw
    raw.close()
    assert raw.process.returncode == 0


@pytest.fixture(scope="module")
def loaded_server(server, checkpoint):
    event, _ = server.request("load", checkpoint=str(checkpoint), device="cpu")
    assert event["type"] == "loaded", event
    return server


def test_hello_before_anything_is_loaded(server):
    event, _ = server.request("hello", timeout=60)
    assert event["protocol"] == 1 and event["lm2d"] and event["torch"]
    assert event["device"] in ("cpu", "cuda")


def test_round_trip_load_generate_result(loaded_server, workdir, shared_data):
    song = shared_data / SONG
    output = workdir / "takes" / "trumpet.npz"
    segments = [{"start": 0.5, "end": 2.5, "text": "hands up high"}, {"start": 3.0, "end": 5.0, "text": "spin around"}]
    event, before = loaded_server.request("generate", audio=str(song), output=str(output), seed=3, steps=2,
                                          segments=segments)
    assert event["type"] == "result", event
    assert event["path"] == str(output) and event["fps"] == 30.0 and len(event["joint_names"]) == 24

    with np.load(output) as result:
        duration = sf.info(song).duration
        assert abs(result["root_translation"].shape[0] - 30 * duration) <= 1
        assert result["local_quaternions"].shape == (event["frames"], 24, 4)
        assert np.isfinite(result["joint_positions"]).all()
        assert list(result["lyric_lines"]) == ["hands up high", "spin around"]
        np.testing.assert_allclose(result["lyric_starts"], [0.5, 3.0])
        np.testing.assert_allclose(result["lyric_ends"], [2.5, 5.0])

    stages = [e["stage"] for e in before if e["type"] == "progress"]
    assert stages[0] == "features" and stages[-1] == "writing"
    assert stages.index("lyrics") < stages.index("sampling") < stages.index("writing")
    sampling = [e["fraction"] for e in before if e.get("stage") == "sampling"]
    assert sampling == sorted(sampling) and sampling[-1] == 1.0 and len(sampling) == 3  # 0, then one per step


def test_a_second_generate_reuses_the_loaded_model(loaded_server, workdir, shared_data):
    song = shared_data / SONG
    segments = [{"start": 0.5, "end": 2.5, "text": "hands up high"}, {"start": 3.0, "end": 5.0, "text": "spin around"}]
    for take in range(2):
        output = workdir / f"again{take}.npz"
        event, _ = loaded_server.request("generate", audio=str(song), output=str(output), steps=1,
                                         start_seconds=1.0, end_seconds=3.0, segments=segments)
        assert event["type"] == "result" and event["frames"] == 60, event
        with np.load(output) as result:  # the lyric track is on the take's time axis: 0 = 1.0 s
            assert list(result["lyric_lines"]) == ["hands up high"]
            np.testing.assert_allclose([result["lyric_starts"][0], result["lyric_ends"][0]], [0.0, 1.5])
    hello, _ = loaded_server.request("hello")
    assert (hello["model"], hello["kind"], hello["loads"]) == ("tiny", "diffusion", 1)


@pytest.fixture(scope="module")
def take(loaded_server, workdir, shared_data) -> Path:
    """A 2 s take (frames 30..90 of the song) to edit."""
    output = workdir / "take_to_edit.npz"
    event, _ = loaded_server.request("generate", audio=str(shared_data / SONG), output=str(output), steps=2,
                                     start_seconds=1.0, end_seconds=3.0)
    assert event["type"] == "result" and event["frames"] == 60, event
    return output


@pytest.mark.parametrize("edit, frames", [
    ({"regenerate": [20, 40]}, 60),
    ({"keep_joints": ["lower_body"]}, 60),
    ({"continue_frames": 30}, 90),
])
def test_edits_keep_what_they_keep(loaded_server, workdir, shared_data, take, edit, frames):
    output = workdir / "edited.npz"
    event, _ = loaded_server.request("generate", audio=str(shared_data / SONG), output=str(output), steps=2, seed=9,
                                     start_seconds=1.0, edit={"motion": str(take), **edit})
    assert event["type"] == "result" and event["frames"] == frames, event
    with np.load(take) as before, np.load(output) as after:
        old_rot, new_rot = before["local_quaternions"], after["local_quaternions"]
        old_root, new_root = before["root_translation"], after["root_translation"]
        if "regenerate" in edit:
            kept = np.r_[0:20, 40:60]
            assert same_rotations(new_rot[kept], old_rot[kept])
            np.testing.assert_allclose(new_root[kept], old_root[kept], atol=1e-6)
            assert not same_rotations(new_rot[20:40], old_rot[20:40])
        elif "keep_joints" in edit:
            lower = [0, 1, 2, 4, 5, 7, 8, 10, 11]
            upper = [j for j in range(24) if j not in lower]
            assert same_rotations(new_rot[:, lower], old_rot[:, lower])
            np.testing.assert_allclose(new_root, old_root, atol=1e-6)
            assert not same_rotations(new_rot[:, upper], old_rot[:, upper])
        else:
            assert same_rotations(new_rot[:60], old_rot)
            np.testing.assert_allclose(new_root[:60], old_root, atol=1e-6)


def same_rotations(a: np.ndarray, b: np.ndarray) -> bool:
    """Quaternions q and -q are the same rotation (result files keep signs continuous in time,
    so a regenerated stretch can flip the sign of everything after it)."""
    return bool(np.all(np.abs(np.sum(a * b, axis=-1)) > 1 - 1e-6))


def test_an_edit_outside_the_motion_is_refused(loaded_server, workdir, shared_data, take):
    event, _ = loaded_server.request("generate", audio=str(shared_data / SONG), output=str(workdir / "x.npz"),
                                     start_seconds=1.0, edit={"motion": str(take), "regenerate": [50, 70]})
    assert event["type"] == "error" and "runs past the motion's 60 frames" in event["message"], event
    assert "take_to_edit.npz" in event["message"]


def test_a_range_past_the_song_end_is_generated_to_the_end_with_a_warning(loaded_server, workdir, shared_data):
    event, before = loaded_server.request("generate", audio=str(shared_data / SONG), steps=1, start_seconds=4.0,
                                          end_seconds=60.0, output=str(workdir / "tail.npz"))
    assert event["type"] == "result" and event["frames"] == 41, event   # 5.33 s song: frames 120..160
    warnings = [e["message"] for e in before if e["type"] == "warning"]
    assert len(warnings) == 1 and "end 60 s is past the end of the song" in warnings[0]


def test_lyrics_request_parses_a_real_song(loaded_server, shared_data):
    song = shared_data / "songs" / "on_the_run"
    event, _ = loaded_server.request("lyrics", path=str(song / "song.txt"), audio=str(song / "audio.ogg"))
    assert event["type"] == "lyrics", event
    first = event["segments"][0]
    assert first["words"][0]["text"] == "So" and abs(first["words"][0]["start"] - 11.25) < 0.01


@pytest.fixture(scope="module")
def bad_files(workdir, shared_data) -> dict[str, Path]:
    folder = workdir / "bad"
    folder.mkdir()
    corrupt = folder / "corrupt.ogg"
    corrupt.write_bytes(b"OggS" + bytes(range(256)) * 40)
    empty = folder / "empty.wav"
    empty.touch()
    # 16 minutes of real music (Vibe Ace looped, at half its rate): over the default 15-minute limit.
    samples, rate = sf.read(shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.ogg", dtype="float32")
    long_song = folder / "sixteen_minutes.wav"
    sf.write(long_song, np.tile(samples[::2], 16), rate // 2, subtype="PCM_16")
    lyrics = folder / "late.lrc"
    lyrics.write_text("[00:01.00]first line\n[00:30.00]after the song has ended\n")
    not_ours = folder / "not_ours"
    not_ours.mkdir()
    (not_ours / "model.json").write_text(json.dumps({"format": "something-else", "version": 1}))
    (not_ours / "model.safetensors").write_bytes(b"\x80\x04" + b"pickle" * 10)
    in_the_way = folder / "a_file"
    in_the_way.write_text("not a directory")
    return {"corrupt": corrupt, "empty": empty, "long": long_song, "lyrics": lyrics, "not_ours": not_ours,
            "in_the_way": in_the_way}


@pytest.mark.parametrize("case, fragment", [
    ("missing audio", "no such audio file"),
    ("unsupported audio", "unsupported audio format '.txt'"),
    ("corrupt audio", "cannot be decoded as ogg audio"),
    ("0-length audio", "is empty (0 bytes)"),
    ("audio over the limit", "the limit is 900 s"),
    ("lyrics past the song's end", "late.lrc:2: starts at 30.00 s, past the end of the audio"),
    ("missing lyrics file", "no such lyrics file"),
    ("output cannot be written", "cannot write the result here"),
    ("output is not npz/bvh", "must end in .npz or .bvh"),
    ("edit of a missing motion", "result file not found"),
    ("start past the end", "past the end of the song"),
])
def test_bad_input_gets_an_error_event_and_the_server_keeps_serving(loaded_server, workdir, shared_data,
                                                                    bad_files, case, fragment):
    song = str(shared_data / SONG)
    output = str(workdir / "bad_take.npz")
    fields = {
        "missing audio": dict(audio=str(workdir / "nope.ogg")),
        "unsupported audio": dict(audio=str(shared_data / "music" / "sorohanro_-_solo-trumpet-06.txt")),
        "corrupt audio": dict(audio=str(bad_files["corrupt"])),
        "0-length audio": dict(audio=str(bad_files["empty"])),
        "audio over the limit": dict(audio=str(bad_files["long"])),
        "lyrics past the song's end": dict(lyrics=str(bad_files["lyrics"])),
        "missing lyrics file": dict(lyrics=str(workdir / "nope.lrc")),
        "output cannot be written": dict(output=str(bad_files["in_the_way"] / "take.npz")),
        "output is not npz/bvh": dict(output=str(workdir / "take.fbx")),
        "edit of a missing motion": dict(edit={"motion": str(workdir / "nope.npz"), "regenerate": [0, 30]}),
        "start past the end": dict(start_seconds=60.0),
    }[case]
    request = {"audio": song, "output": output, "steps": 1} | fields
    event, _ = loaded_server.request("generate", **request)
    assert event["type"] == "error" and fragment in event["message"], event
    assert event["code"] in ("bad_input", "not_found", "io_error")
    assert not Path(output).exists()
    hello, _ = loaded_server.request("hello")
    assert hello["type"] == "hello"


@pytest.mark.parametrize("request_fields, fragment", [
    ({"type": "generate", "output": "take.npz"}, "field 'audio' is required"),
    ({"type": "generate", "audio": "song.ogg", "output": "take.npz", "seed": "7"}, "'seed' must be int"),
    ({"type": "generate", "audio": 3, "output": "take.npz"}, "'audio' must be str"),
    ({"type": "dance"}, "unknown request type 'dance'"),
    ({"type": "load", "checkpoint": 42}, "'checkpoint' must be str"),
    ({"type": "cancel", "target": [1]}, "'target' must be the id"),
])
def test_bad_requests_are_answered_with_their_id(server, request_fields, fragment):
    server.write(json.dumps({**request_fields, "id": "bad-1"}))
    event, _ = server.final("bad-1", timeout=30)
    assert (event["type"], event["code"]) == ("error", "bad_request") and fragment in event["message"], event


def test_a_checkpoint_that_is_not_ours_is_refused_and_the_model_stays(loaded_server, bad_files, workdir):
    for checkpoint, fragment in [(bad_files["not_ours"], "not an LM2D checkpoint: it is a pickle"),
                                 (workdir / "missing_model", "not an LM2D checkpoint: no such file"),
                                 (bad_files["in_the_way"], "not an LM2D checkpoint")]:
        event, _ = loaded_server.request("load", checkpoint=str(checkpoint))
        assert event["type"] == "error" and fragment in event["message"], event
    hello, _ = loaded_server.request("hello")
    assert (hello["model"], hello["loads"]) == ("tiny", 1)


def _is_rejected(line: str) -> bool:
    try:
        parse_request(line)
    except BadRequest:
        return True
    return False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)
request_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["generate", "load", "lyrics", "cancel", "hello", "shutdown", "nope", 7])},
    optional={name: json_values for name in ("audio", "output", "lyrics", "segments", "seed", "steps",
                                              "start_seconds", "edit", "checkpoint", "device", "path",
                                              "target", "id", "colour")})
garbage_lines = (st.text(max_size=60).map(lambda text: text.replace("\n", " ").replace("\r", " "))
                 | request_objects.map(json.dumps))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(line=garbage_lines.filter(lambda line: line.strip() and _is_rejected(line)))
def test_fuzzed_garbage_lines_each_get_an_error_and_the_server_survives(server, line):
    server.write(line)
    event = server.next_event(timeout=30)
    assert event["type"] == "error" and event["code"] == "bad_request" and event["message"], (line, event)


def test_the_server_still_answers_after_the_fuzzing(server):
    server.write(b"\xff\xfe not utf-8 at all")
    event = server.next_event(timeout=30)
    assert event["type"] == "error" and "not valid JSON" in event["message"]
    hello, _ = server.request("hello")
    assert hello["type"] == "hello" and server.process.poll() is None
