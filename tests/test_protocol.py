"""The request parser: every line gets either a parsed request or a BadRequest sentence."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm2d.server.protocol import (PROTOCOL_VERSION, BadRequest, EditSpec, GenerateRequest,
                                  encode_event, parse_request)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
field_names = st.sampled_from(["type", "id", "audio", "output", "lyrics", "segments", "seed", "steps",
                               "music_guidance", "lyrics_guidance", "start_seconds", "end_seconds", "edit",
                               "beat_accent", "foot_lock", "repeat_sections",
                               "checkpoint", "device", "path", "target", "bogus"])
request_types = st.sampled_from(["hello", "load", "generate", "lyrics", "cancel", "shutdown", "nope", ""])
requests = st.builds(lambda kind, body: {"type": kind, **body}, request_types,
                     st.dictionaries(field_names, json_values, max_size=6))


def test_a_full_generate_request_parses():
    line = json.dumps({"type": "generate", "id": 7, "audio": "song.ogg", "output": "take.npz", "seed": 3,
                       "steps": 2, "music_guidance": 2, "lyrics_guidance": 1.5, "beat_accent": 0.5,
                       "foot_lock": False, "repeat_sections": 0.6, "segments": [{"start": 0.5, "end": 2.0, "text": "wave hello"}],
                       "edit": {"motion": "take0.npz", "regenerate": [30, 90], "keep_joints": ["left_hip"],
                                "apply_to_repeats": True}})
    request = parse_request(line)
    assert request.type == "generate" and request.id == 7
    body = request.body
    assert isinstance(body, GenerateRequest)
    assert (body.audio, body.output, body.seed, body.steps) == ("song.ogg", "take.npz", 3, 2)
    assert body.music_guidance == 2.0 and isinstance(body.music_guidance, float)
    assert body.beat_accent == 0.5 and body.repeat_sections == 0.6 and body.foot_lock is False
    assert parse_request(json.dumps({"type": "generate", "audio": "a", "output": "o"})).body.foot_lock
    assert body.segments[0].text == "wave hello"
    assert body.edit == EditSpec(motion="take0.npz", regenerate=(30, 90), keep_joints=("left_hip",),
                                 apply_to_repeats=True)


@pytest.mark.parametrize("line, fragment", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"id": 1}', "'type' is required"),
    ('{"type": "dance"}', "unknown request type 'dance'"),
    ('{"type": "generate", "output": "o.npz"}', "'audio' is required"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "seed": "3"}', "'seed' must be int"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "seed": true}', "'seed' must be int"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "steps": 0}', "'steps' must be between"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "colour": 1}', "unknown field(s)"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "lyrics": "l.lrc", "segments": []}', "not both"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "edit": {"motion": "m.npz"}}', "must set"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "edit": {"motion": "m", "regenerate": [9, 3]}}',
     "first < end"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "repeat_sections": 1.5}', "between 0 (off) and 1"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "foot_lock": 0}', "'foot_lock' must be bool"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "edit": {"motion": "m", "continue_frames": 9, '
     '"apply_to_repeats": true}}', "needs 'edit.regenerate'"),
    ('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "edit": {"motion": "m", "regenerate": [1, 3], '
     '"apply_to_repeats": 1}}', "'edit.apply_to_repeats' must be bool"),
    ('{"type": "load", "device": "tpu"}', "auto, cpu or cuda"),
    ('{"type": "hello", "id": [1]}', "'id' must be"),
])
def test_bad_requests_get_a_sentence(line, fragment):
    with pytest.raises(BadRequest, match=None) as caught:
        parse_request(line)
    assert fragment in str(caught.value)


@settings(max_examples=400, deadline=None)
@given(requests)
def test_fuzzed_requests_never_raise_anything_but_bad_request(raw):
    try:
        request = parse_request(json.dumps(raw))
    except BadRequest as err:
        assert str(err)  # always a human sentence
    else:
        assert request.type in ("hello", "load", "generate", "lyrics", "cancel", "shutdown")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzzed_bytes_never_raise_anything_but_bad_request(data):
    try:
        parse_request(data.decode("utf-8", errors="surrogateescape"))
    except BadRequest:
        pass


def test_a_bad_request_keeps_its_id_so_the_client_can_match_the_error():
    with pytest.raises(BadRequest) as caught:
        parse_request('{"type": "generate", "id": "take-3", "audio": "a.ogg"}')
    assert caught.value.request_id == "take-3" and "'output' is required" in str(caught.value)
    with pytest.raises(BadRequest) as caught:
        parse_request('{"type": "generate", "id": [3]}')
    assert caught.value.request_id is None


def test_numbers_too_large_for_a_float_are_a_bad_request():
    with pytest.raises(BadRequest, match="'music_guidance' must be a finite number, got 1000000000"):
        parse_request('{"type": "generate", "audio": "a.ogg", "output": "o.npz", "music_guidance": 1%s}' % ("0" * 400))


def test_events_are_single_json_lines_and_versions_agree():
    line = encode_event("error", 3, code="bad_input", message="a\nb \u00e9 \ud800")
    assert "\n" not in line and line.isascii()
    assert json.loads(line) == {"type": "error", "id": 3, "code": "bad_input", "message": "a\nb \u00e9 \ud800"}
    from lm2d_blender import client

    assert client.PROTOCOL_VERSION == PROTOCOL_VERSION


def test_required_fields_are_per_request_type():
    assert parse_request('{"type": "lyrics", "path": "song.lrc"}').body.audio is None
    with pytest.raises(BadRequest, match="'path' is required"):
        parse_request('{"type": "lyrics", "audio": "song.ogg"}')
