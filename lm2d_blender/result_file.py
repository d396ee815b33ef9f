"""Reading the generation result (.npz, format in docs/ARCHITECTURE.md "Result file") with numpy only.

Everything wrong with a file raises ResultFileError naming it, before anything is keyed: each
array's header is read before the array (so a file claiming 10^12 frames, or a zip bomb, costs
nothing), then types, shapes, ranges and finiteness. The add-on cannot import lm2d (it never
imports torch), so the bounds below copy lm2d.limits; tests/test_drift.py fails when they
drift apart, and tests/test_hardening_inputs.py feeds both readers the same bad (and fuzzed)
files."""
from __future__ import annotations

import math
import os
import zipfile

import numpy as np

from .skeleton import Skeleton

# Copies of lm2d.limits (see the module docstring).
MIN_FPS, MAX_FPS = 1.0, 1000.0
MAX_SONG_SECONDS = 30 * 60.0
MAX_FRAMES = int(MAX_SONG_SECONDS * 120)
MIN_RESULT_FRAMES = 2
MAX_NPZ_MEMBER_BYTES = 1 << 30
MAX_LYRIC_LINES = 20_000
MAX_TEXT_CHARS = 10_000
# Copies of lm2d.validate.motion.
MAX_NPZ_MEMBERS = 64
QUATERNION_NORM_TOLERANCE = 0.01

# key -> number of dimensions; T (frames) and J (joints) must agree between keys.
REQUIRED_KEYS = {
    "fps": 0,
    "joint_names": 1,
    "parents": 1,
    "rest_positions": 2,
    "root_translation": 2,
    "local_quaternions": 3,
    "joint_positions": 3,
}
LYRIC_KEYS = ("lyric_lines", "lyric_starts", "lyric_ends")
REAL_NUMBER_KINDS = "biuf"     # numpy dtype kinds: bool, int, unsigned, float (not complex, text, objects)
SECTION_KEYS = ("section_labels", "section_occurrences", "section_starts", "section_ends")


class ResultFileError(ValueError):
    """A result file (or dict) that does not follow the format; the message names the source."""


def max_frames(fps: float) -> int:
    """The most frames a result at `fps` may have: 30 minutes of it, and never above MAX_FRAMES."""
    return min(MAX_FRAMES, math.floor(MAX_SONG_SECONDS * fps) + 1)


def read_result(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load and check a result file; returns plain arrays (the file is closed)."""
    path = os.fspath(path)
    try:
        if os.path.isdir(path):
            raise ResultFileError(f"{path}: is a directory, not a result file")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise ResultFileError(f"{path}: holds {len(members)} arrays; a result has at most {MAX_NPZ_MEMBERS}")
            for member in members:
                _check_member(archive, member, path)
        with np.load(path, allow_pickle=False) as data:
            result = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
        if isinstance(err, ResultFileError):
            raise
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        raise ResultFileError(f"{path}: not a readable .npz result file ({reason})") from None
    check_result(result, source=path)
    return result


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: str) -> None:
    """An array's declared size, read from its header, before the array itself is."""
    name = member.filename.removesuffix(".npy")
    if member.file_size > MAX_NPZ_MEMBER_BYTES:
        raise ResultFileError(f"{path}: array '{name}' would take {member.file_size} bytes unpacked; "
                              f"the limit is {MAX_NPZ_MEMBER_BYTES}")
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = header(stream)
    if dtype.hasobject:
        raise ResultFileError(f"{path}: array '{name}' holds Python objects; only numbers and text are read")
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_NPZ_MEMBER_BYTES or size > member.file_size:
        raise ResultFileError(f"{path}: array '{name}' declares shape {shape} ({size} bytes) but the file "
                              f"holds {member.file_size} bytes for it")


def check_result(result, source: str = "result") -> None:
    """Raise ResultFileError naming `source` unless `result` (a dict or NpzFile) has the documented
    keys, shapes, real finite numbers, fps in [MIN_FPS, MAX_FPS], 2..max_frames(fps) frames, unit
    quaternions and a consistent lyric track."""
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ResultFileError(f"{source}: missing key(s) {', '.join(missing)}")
    for key, ndim in REQUIRED_KEYS.items():
        if np.ndim(result[key]) != ndim:
            raise ResultFileError(f"{source}: '{key}' has {np.ndim(result[key])} dimensions, expected {ndim}")
    for key in ("fps", "parents", "rest_positions", "root_translation", "local_quaternions", "joint_positions"):
        _check_real_finite(result[key], key, source)
    fps = float(result["fps"])
    if not MIN_FPS <= fps <= MAX_FPS:
        raise ResultFileError(f"{source}: fps must be between {MIN_FPS:g} and {MAX_FPS:g}, found {fps:g}")
    joints = len(result["joint_names"])
    frames = len(result["root_translation"])
    expected = {
        "parents": (joints,),
        "rest_positions": (joints, 3),
        "root_translation": (frames, 3),
        "local_quaternions": (frames, joints, 4),
        "joint_positions": (frames, joints, 3),
    }
    for key, shape in expected.items():
        if tuple(np.shape(result[key])) != shape:
            raise ResultFileError(f"{source}: '{key}' has shape {tuple(np.shape(result[key]))}, expected {shape}")
    if not MIN_RESULT_FRAMES <= frames <= max_frames(fps):
        raise ResultFileError(f"{source}: a take needs {MIN_RESULT_FRAMES} to {max_frames(fps)} frames "
                              f"at {fps:g} FPS, found {frames}")
    norms = np.linalg.norm(np.asarray(result["local_quaternions"], dtype=np.float64), axis=-1)
    if (norms < 1e-6).any():
        raise ResultFileError(f"{source}: 'local_quaternions' contains zero-length quaternions")
    if (np.abs(norms - 1) > QUATERNION_NORM_TOLERANCE).any():
        raise ResultFileError(f"{source}: 'local_quaternions' contains non-unit quaternions "
                              f"(length off by more than {QUATERNION_NORM_TOLERANCE:.0%})")
    if np.asarray(result["joint_names"]).dtype.kind != "U":
        raise ResultFileError(f"{source}: 'joint_names' must be text")
    _check_lyric_track(result, source)
    present = [key for key in SECTION_KEYS if key in result]
    if present and (len(present) != len(SECTION_KEYS) or any(np.ndim(result[key]) != 1 for key in SECTION_KEYS)
                    or len({len(result[key]) for key in SECTION_KEYS}) != 1):
        raise ResultFileError(f"{source}: {', '.join(SECTION_KEYS)} must all be present, 1-D, one entry per section")
    for key in present[1:]:
        _check_real_finite(result[key], key, source)
    try:
        result_skeleton(result)
    except ValueError as err:
        raise ResultFileError(f"{source}: {err}") from None


def _check_real_finite(value, key: str, source: str) -> None:
    kind = np.asarray(value).dtype.kind
    if kind not in REAL_NUMBER_KINDS:
        raise ResultFileError(f"{source}: '{key}' must hold real numbers, found dtype {np.asarray(value).dtype}")
    if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
        raise ResultFileError(f"{source}: '{key}' contains NaN or infinite values")


def _check_lyric_track(result, source: str) -> None:
    present = [key for key in LYRIC_KEYS if key in result]
    if not present:
        return
    if len(present) != len(LYRIC_KEYS) or any(np.ndim(result[key]) != 1 for key in LYRIC_KEYS) \
            or len({len(result[key]) for key in LYRIC_KEYS}) != 1:
        raise ResultFileError(f"{source}: {', '.join(LYRIC_KEYS)} must all be present, 1-D, one entry per line")
    texts = np.asarray(result["lyric_lines"])
    if texts.dtype.kind != "U":
        raise ResultFileError(f"{source}: 'lyric_lines' must be text")
    if len(texts) > MAX_LYRIC_LINES or (len(texts) and max(map(len, texts)) > MAX_TEXT_CHARS):
        raise ResultFileError(f"{source}: the lyric track is too big (at most {MAX_LYRIC_LINES} lines of "
                              f"{MAX_TEXT_CHARS} characters)")
    for key in ("lyric_starts", "lyric_ends"):
        _check_real_finite(result[key], key, source)
    starts, ends = (np.asarray(result[key], dtype=np.float64) for key in ("lyric_starts", "lyric_ends"))
    if ((starts < 0) | (ends < starts) | (ends > MAX_SONG_SECONDS)).any():
        raise ResultFileError(f"{source}: lyric times must satisfy 0 <= start <= end <= {MAX_SONG_SECONDS:g} s")


def result_skeleton(result) -> Skeleton:
    return Skeleton.from_arrays(result["joint_names"], result["parents"], result["rest_positions"])


def lyric_segments(result) -> list[dict]:
    """The result's lyric track as [{'start', 'end', 'text'}] in seconds; empty when it has none."""
    if "lyric_lines" not in result:
        return []
    return [{"start": float(start), "end": float(end), "text": str(text)}
            for text, start, end in zip(result["lyric_lines"], result["lyric_starts"], result["lyric_ends"])]


def section_segments(result) -> list[dict]:
    """The song's sections as [{'label', 'occurrence', 'start', 'end', 'name'}] (seconds; name as
    the timeline shows it: "Chorus 2"); empty when the result has none."""
    if "section_labels" not in result:
        return []
    return [{"label": str(label), "occurrence": int(occurrence), "start": float(start), "end": float(end),
             "name": f"{str(label)[:1].upper()}{str(label)[1:]} {int(occurrence)}"}
            for label, occurrence, start, end in zip(result["section_labels"], result["section_occurrences"],
                                                     result["section_starts"], result["section_ends"])]
