"""Motion and result files: .npz members checked from their headers before they are read, frame
rates and frame counts bounded, every value finite. The add-on's copy of the result-file checks
is lm2d_blender/result_file.py (same limits; tests/test_drift.py compares them)."""
from __future__ import annotations

import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from lm2d.errors import LM2DError
from lm2d.limits import (MAX_FPS, MAX_FRAMES, MAX_LYRIC_LINES, MAX_NPZ_MEMBER_BYTES, MAX_SONG_SECONDS,
                         MAX_TEXT_CHARS, MIN_FPS, MIN_RESULT_FRAMES)

MAX_NPZ_MEMBERS = 64
QUATERNION_NORM_TOLERANCE = 0.01   # unit length to 1% (float32 storage is far better than that)


def check_input_file(path: str | os.PathLike, what: str, missing: str | None = None) -> Path:
    """An existing, readable regular file, or one line saying exactly why not (missing: the
    message for a file that is not there; default "<what> not found")."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise LM2DError(missing or f"{what} not found", path=path, code="not_found") from None
    except OSError as err:   # a symlink loop, a name too long, no permission on a folder
        raise LM2DError(f"cannot open the {what}: {err.strerror or err}", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise LM2DError(f"is a directory, not a {what}", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise LM2DError(f"is not a regular file (a device or pipe), not a {what}", path=path)
    if not os.access(path, os.R_OK):
        raise LM2DError(f"cannot read the {what}: permission denied", path=path)
    return path


def max_frames(fps: float) -> int:
    """The most frames a motion at `fps` may have: 30 minutes of it, and never above MAX_FRAMES."""
    return min(MAX_FRAMES, math.floor(MAX_SONG_SECONDS * fps) + 1)


def check_fps(fps, name: str, path=None) -> float:
    """A frame rate in [MIN_FPS, MAX_FPS]."""
    try:
        value = float(fps)
    except (TypeError, ValueError, OverflowError):
        raise LM2DError(f"{name} must be a number, got {fps!r}", path=path) from None
    if not MIN_FPS <= value <= MAX_FPS:   # NaN fails this too
        raise LM2DError(f"{name} must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second, got {value:g}",
                        path=path)
    return value


def check_frame_count(frames: int, fps: float, what: str, path=None, minimum: int = 1) -> None:
    if frames < minimum:
        raise LM2DError(f"{what} has {frames} frame(s); at least {minimum} are needed", path=path)
    if frames > max_frames(fps):
        raise LM2DError(f"{what} would have {frames} frames at {fps:g} FPS ({frames / fps / 60:.1f} min); "
                        f"the limit is {MAX_SONG_SECONDS / 60:g} min and {MAX_FRAMES} frames", path=path)


def read_npz(path: str | os.PathLike, max_member_bytes: int = MAX_NPZ_MEMBER_BYTES) -> dict[str, np.ndarray]:
    """Every array of an .npz, after checking each member's header (dtype, shape, declared size)
    so that no file, zip bombs included, makes this allocate more than max_member_bytes per array."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise LM2DError(f"holds {len(members)} arrays; a motion file has at most {MAX_NPZ_MEMBERS}", path=path)
            for member in members:
                _check_member(archive, member, max_member_bytes, path)
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
        raise LM2DError(f"not a readable .npz file ({' '.join(str(err).split())[:120]})", path=path) from err


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, path) -> None:
    name = member.filename.removesuffix(".npy")
    if member.file_size > limit:
        raise LM2DError(f"array '{name}' would take {member.file_size} bytes unpacked; the limit is {limit}",
                        path=path)
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = header(stream)
    if dtype.hasobject:
        raise LM2DError(f"array '{name}' holds Python objects; only numbers and text are read", path=path)
    size = math.prod(shape) * dtype.itemsize
    if size > limit or size > member.file_size:
        raise LM2DError(f"array '{name}' declares shape {shape} ({size} bytes) but the file holds "
                        f"{member.file_size} bytes for it", path=path)


def finite_array(data: dict, key: str, path, dtype=np.float64) -> np.ndarray:
    if key not in data:
        raise LM2DError(f"missing key '{key}' (found {sorted(map(str, data))})", path=path)
    value = np.asarray(data[key])
    if value.dtype.kind not in "biuf":
        raise LM2DError(f"'{key}' is not real numbers (dtype {value.dtype})", path=path)
    array = np.asarray(value, dtype=dtype)
    if not np.isfinite(array).all():
        raise LM2DError(f"'{key}' contains NaN or infinite values", path=path)
    return array


def check_result_arrays(arrays: dict, path) -> None:
    """What every result file must satisfy, checked by the writer (lm2d.motion.io.save_result_npz)
    and by the readers (lm2d, and the add-on's own copy): fps in range, 2..max_frames(fps) frames,
    finite values, unit-length quaternions, a consistent lyric track."""
    fps_values = finite_array(arrays, "fps", path).reshape(-1)
    if fps_values.size != 1:
        raise LM2DError(f"'fps' must be one number, got {fps_values.size}", path=path)
    fps = check_fps(fps_values[0], "'fps'", path)
    trans = finite_array(arrays, "root_translation", path)
    if trans.ndim != 2 or trans.shape[1] != 3:
        raise LM2DError(f"'root_translation' has shape {trans.shape}, expected (frames, 3)", path=path)
    check_frame_count(len(trans), fps, "the result", path, minimum=MIN_RESULT_FRAMES)
    quats = finite_array(arrays, "local_quaternions", path)
    if quats.ndim != 3 or quats.shape[0] != len(trans) or quats.shape[2] != 4:
        raise LM2DError(f"'local_quaternions' has shape {quats.shape}, expected ({len(trans)}, joints, 4)", path=path)
    problem = quaternion_problem(quats)
    if problem:
        raise LM2DError(f"'local_quaternions' {problem}", path=path)
    for key in ("rest_positions", "joint_positions"):
        if key in arrays:
            finite_array(arrays, key, path)
    if "lyric_lines" in arrays or "lyric_starts" in arrays or "lyric_ends" in arrays:
        check_lyric_track(arrays, path)


def quaternion_problem(quats: np.ndarray) -> str | None:
    norms = np.linalg.norm(quats, axis=-1)
    if (norms < 1e-6).any():
        return "contains zero-length quaternions"
    if (np.abs(norms - 1) > QUATERNION_NORM_TOLERANCE).any():
        return f"contains non-unit quaternions (length off by more than {QUATERNION_NORM_TOLERANCE:.0%})"
    return None


def check_lyric_track(arrays: dict, path) -> None:
    texts = arrays.get("lyric_lines")
    if texts is None or not isinstance(texts, np.ndarray) or texts.ndim != 1 or texts.dtype.kind not in "U":
        raise LM2DError("'lyric_lines' must be a 1-D array of text", path=path)
    starts, ends = (finite_array(arrays, key, path) for key in ("lyric_starts", "lyric_ends"))
    if starts.ndim != 1 or ends.ndim != 1 or not len(texts) == len(starts) == len(ends):
        raise LM2DError("'lyric_lines', 'lyric_starts' and 'lyric_ends' must be 1-D and of one length", path=path)
    if len(texts) > MAX_LYRIC_LINES or (len(texts) and max(map(len, texts)) > MAX_TEXT_CHARS):
        raise LM2DError(f"the lyric track is too big (at most {MAX_LYRIC_LINES} lines of "
                        f"{MAX_TEXT_CHARS} characters)", path=path)
    if ((starts < 0) | (ends < starts) | (ends > MAX_SONG_SECONDS)).any():
        raise LM2DError(f"lyric times must satisfy 0 <= start <= end <= {MAX_SONG_SECONDS:g} s", path=path)


def check_finite_motion(motion, path) -> None:
    """The finite-output guard: a motion with NaN or infinite values is never written."""
    if not (np.isfinite(motion.root_translation).all() and np.isfinite(motion.local_rotmats).all()):
        raise LM2DError("the motion contains NaN or infinite values; nothing was written", path=path)
