"""The JSON-lines protocol between the Blender add-on (client) and the inference server.

One JSON object per line on stdin (requests) and stdout (events); no sockets. Every request may
carry an "id" (string or integer) that the events answering it repeat. Version 1:

requests   hello
           load{checkpoint?, device?}            checkpoint folder (None: the shipped default), auto|cpu|cuda
           generate{audio, output, lyrics? | segments?, seed?, steps?, music_guidance?,
                    lyrics_guidance?, start_seconds?, end_seconds?, beat_accent?, foot_lock?, repeat_sections?, edit?}
                    edit{motion, regenerate?: [first, end), keep_joints?: [names | "lower_body" | "root"],
                         continue_frames?, apply_to_repeats?}
           lyrics{path, audio?}                  parse a lyrics file for display
           prepare{audio}                        compute (and cache) a song's features ahead of generate
           video2motion{video, output, audio_output?, field_of_view?}   the dance in a video
           cancel{target?}                       the running request (or the running/queued ones with
                                                 id target); with its own id: answered cancelled|error
           shutdown                              stop the running job, answer queued ones "cancelled", exit
events     hello{protocol, lm2d, torch, device, model, kind, loads, warmup}   answered at once, even mid-job
                    warmup{features, lyrics, model}: pending | running | ready | failed each
           loaded{model, device, kind, loads, seconds}
           progress{stage, fraction}     stage: features, lyrics, sampling (one per step), repeats, writing;
                                         video2motion: landmarks, fit, ground, writing
           warning{message}              something the user should know; the job goes on
           result{path, frames, fps, joint_names, seconds}   video2motion adds audio (the WAV
                                         written, or null when the video has no sound) and
                                         missing_spans [[start, end] seconds where nobody was seen]
           lyrics{segments: [{start, end, text, words: [{start, end, text}]}]}
           prepared{frames, seconds}
           cancelled · error{code, message} · bye (the server is exiting)

Every request ends with exactly one final event: hello, loaded, result, lyrics, prepared,
cancelled or error. Error codes: "bad_request" (the line itself: not JSON, unknown type or field, wrong type;
it carries the request's id when the line had a usable one; numbers out of range, ids over 200
characters or 64 bits), "bad_input" / "not_found" (a file: the message names it and what is
wrong), "io_error" (a file could not be written), "internal" (a bug; traceback on stderr), "startup".
Nothing a client sends stops the server except shutdown or closing stdin (which counts as
shutdown: a server whose client is gone has nobody to report to). Requests run one at a time in
order; the model stays loaded between them. Events are ASCII JSON (non-ASCII text escaped).
This module only parses and validates: it knows nothing of models or threads.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields
from typing import Any

from lm2d.limits import (MAX_FRAMES, MAX_GUIDANCE, MAX_ID, MAX_ID_CHARS, MAX_LYRIC_LINES, MAX_SEED,
                         MAX_SONG_SECONDS, MAX_STEPS)
from lm2d.validate.numbers import number_problem

PROTOCOL_VERSION = 1


class BadRequest(Exception):
    """The request cannot be understood; answered with an error event, code 'bad_request',
    carrying the request's id when the line had a usable one (so the client can match it)."""

    def __init__(self, message: str, request_id: str | int | None = None):
        super().__init__(message)
        self.request_id = request_id


@dataclass
class LyricSegment:
    start: float
    end: float
    text: str


@dataclass
class EditSpec:
    """Keep part of an existing motion and regenerate the rest (frames at 30 FPS)."""
    motion: str                                   # result .npz to edit
    regenerate: tuple[int, int] | None = None     # frame range to regenerate; the rest is kept
    keep_joints: tuple[str, ...] = ()             # joint names (or "lower_body"/"root") kept everywhere
    continue_frames: int = 0                      # append this many new frames after the motion's end
    apply_to_repeats: bool = False                # carry the regenerated range to every repeat of its section


@dataclass
class GenerateRequest:
    audio: str
    output: str
    lyrics: str | None = None
    segments: list[LyricSegment] | None = None
    seed: int = 0
    steps: int | None = None                      # None: the checkpoint's default
    music_guidance: float | None = None
    lyrics_guidance: float | None = None
    start_seconds: float = 0.0
    end_seconds: float | None = None              # None: to the end of the song
    beat_accent: float | None = None              # 0..1 (lm2d.motion.retime); None: its default
    foot_lock: bool = True                        # planted feet pinned (lm2d.motion.footlock)
    repeat_sections: float | None = None          # 0 off .. 1 exact copy (lm2d.structure.repeat); None: 1
    edit: EditSpec | None = None


@dataclass
class LoadRequest:
    checkpoint: str | None = None                 # None: the shipped default model
    device: str = "auto"


@dataclass
class LyricsRequest:
    path: str
    audio: str | None = None


@dataclass
class PrepareRequest:
    audio: str


@dataclass
class Video2MotionRequest:
    video: str
    output: str                        # .npz result file
    audio_output: str | None = None    # .wav: the video's sound track, when it has one
    field_of_view: float | None = None


@dataclass
class Request:
    type: str
    id: str | int | None = None
    body: Any = None          # the parsed body; for 'cancel' the id of the request to cancel (or None)


_SIMPLE_TYPES = ("hello", "cancel", "shutdown")
_BODIES = {"generate": GenerateRequest, "load": LoadRequest, "lyrics": LyricsRequest, "prepare": PrepareRequest,
           "video2motion": Video2MotionRequest}


def _check(value, expected, name):
    """Type-check one field (and range-check it when _RANGES has it); bool is not accepted as a
    number, ints are accepted as floats, numbers must be finite."""
    if expected in (int, float):
        low, high = _RANGES.get(name.rsplit(".", 1)[-1].split("[")[0], (None, None))
        problem = number_problem(value, low, high, integer=expected is int)
        if problem:
            raise BadRequest(f"field '{name}' {problem}")
        return float(value) if expected is float else value
    if not isinstance(value, expected):
        raise BadRequest(f"field '{name}' must be {expected.__name__}, got {type(value).__name__}")
    return value


# Numeric fields -> (low, high); the same bounds as the CLI's (lm2d.commands.generate).
_RANGES = {
    "seed": (0, MAX_SEED), "steps": (1, MAX_STEPS),
    "music_guidance": (-MAX_GUIDANCE, MAX_GUIDANCE), "lyrics_guidance": (-MAX_GUIDANCE, MAX_GUIDANCE),
    "start_seconds": (0, MAX_SONG_SECONDS), "end_seconds": (0, MAX_SONG_SECONDS), "beat_accent": (0, 1),
    "start": (0, MAX_SONG_SECONDS), "end": (0, MAX_SONG_SECONDS),
    "regenerate": (0, MAX_FRAMES), "continue_frames": (0, MAX_FRAMES),
}


def check_request_id(value, name: str = "id"):
    """An id is a string of at most MAX_ID_CHARS characters or an integer of at most 64 bits."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -MAX_ID <= value <= MAX_ID:
        return value
    what = "the id of the request to cancel" if name == "target" else "an id"
    raise BadRequest(f"field '{name}' must be {what}: a string of at most {MAX_ID_CHARS} characters or a "
                     "64-bit integer")


def _frame_range(value, name) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2):
        raise BadRequest(f"field '{name}' must be [first_frame, end_frame]")
    first, end = (_check(v, int, name) for v in value)
    if not 0 <= first < end:
        raise BadRequest(f"field '{name}' must satisfy 0 <= first < end, got {value}")
    return first, end


def _parse_edit(raw) -> EditSpec:
    if not isinstance(raw, dict):
        raise BadRequest("field 'edit' must be an object")
    _reject_unknown(raw, EditSpec, "edit")
    if "motion" not in raw:
        raise BadRequest("field 'edit.motion' is required")
    spec = EditSpec(motion=_check(raw["motion"], str, "edit.motion"))
    if raw.get("regenerate") is not None:
        spec.regenerate = _frame_range(raw["regenerate"], "edit.regenerate")
    joints = raw.get("keep_joints", [])
    if not isinstance(joints, list):
        raise BadRequest("field 'edit.keep_joints' must be a list of joint names")
    spec.keep_joints = tuple(_check(j, str, "edit.keep_joints") for j in joints)
    spec.continue_frames = _check(raw.get("continue_frames", 0), int, "edit.continue_frames")
    if spec.continue_frames < 0:
        raise BadRequest("field 'edit.continue_frames' must be >= 0")
    if spec.regenerate is None and not spec.keep_joints and not spec.continue_frames:
        raise BadRequest("field 'edit' must set regenerate, keep_joints or continue_frames")
    spec.apply_to_repeats = _check(raw.get("apply_to_repeats", False), bool, "edit.apply_to_repeats")
    if spec.apply_to_repeats and spec.regenerate is None:
        raise BadRequest("field 'edit.apply_to_repeats' needs 'edit.regenerate' (the range to carry)")
    return spec


def _parse_segments(raw) -> list[LyricSegment]:
    if not isinstance(raw, list):
        raise BadRequest("field 'segments' must be a list of {start, end, text}")
    if len(raw) > MAX_LYRIC_LINES:
        raise BadRequest(f"field 'segments' has {len(raw)} lines; at most {MAX_LYRIC_LINES}")
    segments = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"start", "end", "text"} or len(item) != 3:
            raise BadRequest(f"segments[{i}] must be an object with start, end and text")
        segment = LyricSegment(_check(item["start"], float, f"segments[{i}].start"),
                               _check(item["end"], float, f"segments[{i}].end"),
                               _check(item["text"], str, f"segments[{i}].text"))
        if not 0 <= segment.start < segment.end:
            raise BadRequest(f"segments[{i}] must satisfy 0 <= start < end")
        segments.append(segment)
    return segments


def _reject_unknown(raw: dict, body_type, where: str) -> None:
    known = {f.name for f in fields(body_type)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BadRequest(f"unknown field(s) in {where}: {', '.join(unknown)}")


_CUSTOM = {"segments": _parse_segments, "edit": _parse_edit}
_FIELD_TYPES = {
    GenerateRequest: {"audio": str, "output": str, "lyrics": str, "seed": int, "steps": int,
                      "music_guidance": float, "lyrics_guidance": float, "start_seconds": float,
                      "end_seconds": float, "beat_accent": float, "foot_lock": bool, "repeat_sections": float},
    LoadRequest: {"checkpoint": str, "device": str},
    LyricsRequest: {"path": str, "audio": str},
    PrepareRequest: {"audio": str},
    Video2MotionRequest: {"video": str, "output": str, "audio_output": str, "field_of_view": float},
}


def _parse_body(kind: str, raw: dict):
    body_type = _BODIES[kind]
    _reject_unknown(raw, body_type, f"'{kind}' request")
    values = {}
    for f in fields(body_type):
        if raw.get(f.name) is None:
            if f.default is MISSING:  # fields without a default are required
                raise BadRequest(f"field '{f.name}' is required in a '{kind}' request")
            continue
        parse = _CUSTOM.get(f.name)
        values[f.name] = parse(raw[f.name]) if parse else _check(raw[f.name], _FIELD_TYPES[body_type][f.name], f.name)
    body = body_type(**values)
    _validate(body)
    return body


def _validate(body) -> None:
    if isinstance(body, Video2MotionRequest) and body.field_of_view is not None \
            and not 10 <= body.field_of_view <= 150:
        raise BadRequest("field 'field_of_view' must be between 10 and 150 degrees")
    if isinstance(body, LoadRequest) and body.device not in ("auto", "cpu", "cuda"):
        raise BadRequest(f"field 'device' must be auto, cpu or cuda, got '{body.device}'")
    if isinstance(body, GenerateRequest):
        if body.lyrics is not None and body.segments is not None:
            raise BadRequest("give either 'lyrics' (a file) or 'segments', not both")
        if body.start_seconds < 0 or (body.end_seconds is not None and body.end_seconds <= body.start_seconds):
            raise BadRequest("need 0 <= start_seconds < end_seconds")
        if body.repeat_sections is not None and not 0 <= body.repeat_sections <= 1:
            raise BadRequest("field 'repeat_sections' must be between 0 (off) and 1 (exact copy)")


def parse_request(line: str) -> Request:
    """Parse one line of the protocol; raises BadRequest with a human sentence."""
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError) as err:   # also 5,000-digit numbers (Python's int limit)
        raise BadRequest(f"not valid JSON: {' '.join(str(err).split())[:200]}") from None
    if not isinstance(raw, dict):
        raise BadRequest("a request must be a JSON object")
    request_id = check_request_id(raw.pop("id", None))
    try:
        return _parse_typed(raw, request_id)
    except BadRequest as err:
        err.request_id = request_id
        raise


def _parse_typed(raw: dict, request_id) -> Request:
    kind = raw.pop("type", None)
    if not isinstance(kind, str):
        raise BadRequest("field 'type' is required and must be a string")
    if kind in _SIMPLE_TYPES:
        target = check_request_id(raw.pop("target", None), "target") if kind == "cancel" else None
        if raw:
            raise BadRequest(f"unknown field(s) in '{kind}' request: {', '.join(sorted(raw))}")
        return Request(kind, request_id, target)
    if kind not in _BODIES:
        raise BadRequest(f"unknown request type '{kind}'")
    return Request(kind, request_id, _parse_body(kind, raw))


def encode_event(event_type: str, request_id=None, **payload) -> str:
    """One event as a JSON line (no newline inside: json.dumps escapes them)."""
    message = {"type": event_type, **({"id": request_id} if request_id is not None else {}), **payload}
    # ASCII escapes keep any text (even a lone surrogate echoed from a bad request) writable.
    return json.dumps(message, ensure_ascii=True, allow_nan=False)
