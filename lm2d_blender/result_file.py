"""Reading the generation result (.npz, format in docs/ARCHITECTURE.md "Result file") with numpy only."""
from __future__ import annotations

import os
import zipfile

import numpy as np

from .skeleton import Skeleton

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
SECTION_KEYS = ("section_labels", "section_occurrences", "section_starts", "section_ends")


class ResultFileError(ValueError):
    """A result file (or dict) that does not follow the format; the message names the source."""


def read_result(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load and check a result file; returns plain arrays (the file is closed)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            result = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ResultFileError(f"{path}: not a readable .npz result file ({err})") from None
    check_result(result, source=path)
    return result


def check_result(result, source: str = "result") -> None:
    """Raise ResultFileError naming `source` unless `result` (a dict or NpzFile) has the documented keys and shapes."""
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ResultFileError(f"{source}: missing key(s) {', '.join(missing)}")
    for key, ndim in REQUIRED_KEYS.items():
        if np.ndim(result[key]) != ndim:
            raise ResultFileError(f"{source}: '{key}' has {np.ndim(result[key])} dimensions, expected {ndim}")
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
    if frames < 2:
        raise ResultFileError(f"{source}: a take needs at least 2 frames, found {frames}")
    if not float(result["fps"]) > 0:
        raise ResultFileError(f"{source}: fps must be positive, found {float(result['fps'])}")
    for keys, entry in ((LYRIC_KEYS, "line"), (SECTION_KEYS, "section")):
        present = [key for key in keys if key in result]
        if present and (len(present) != len(keys) or len({len(result[key]) for key in keys}) != 1):
            raise ResultFileError(f"{source}: {', '.join(keys)} must all be present with one entry per {entry}")
    try:
        result_skeleton(result)
    except ValueError as err:
        raise ResultFileError(f"{source}: {err}") from None


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
