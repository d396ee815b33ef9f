"""Repeated parts of a song from its lyrics: runs of lines that come back (identical or nearly:
"so far away" / "so far the way"), grouped into parts with their occurrences in seconds.

Only line starts and ends are used, so word-level timing is not needed and untimed lyrics work
once lm2d.lyrics has placed them over the sung part of the song (approximate times; the music's
boundaries then place the sections, lm2d.structure.labels).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

LINE_SIMILARITY = 0.8       # two lines this alike (difflib ratio of their letters) are the same line
RUN_SIMILARITY = 0.6        # two runs of repeated lines this alike (as sequences of lines) are one part
MAX_GAP_SECONDS = 8.0       # a longer pause between two lines ends a run


@dataclass(frozen=True)
class LyricPart:
    occurrences: tuple[tuple[float, float], ...]   # (start, end) seconds of each time the part is sung
    lines: int                                     # lines in its first occurrence


def normalise(text: str) -> str:
    """Letters, digits and single spaces, lower case: "Soo~n," and "soon" compare equal."""
    return " ".join(re.findall(r"[^\W_]+", text.casefold().replace("~", "")))


def line_classes(texts: list[str]) -> list[int]:
    """Per line, the index of the first line it repeats (itself when it is new)."""
    keys = [normalise(text) for text in texts]
    classes: list[int] = []
    for index, key in enumerate(keys):
        match = next((classes[earlier] for earlier in range(index)
                      if SequenceMatcher(None, keys[earlier], key).ratio() >= LINE_SIMILARITY), index)
        classes.append(match)
    return classes


def repeated_parts(segments) -> list[LyricPart]:
    """Parts sung at least twice, from lyric lines (objects with start, end, text, in song order),
    in order of first appearance."""
    segments = sorted(segments, key=lambda segment: segment.start)
    if not segments:
        return []
    classes = line_classes([segment.text for segment in segments])
    counts = {cls: classes.count(cls) for cls in classes}
    runs: list[list[int]] = []
    for index, segment in enumerate(segments):
        if counts[classes[index]] < 2 or not normalise(segment.text):
            continue
        if runs and runs[-1][-1] == index - 1 and segment.start - segments[index - 1].end <= MAX_GAP_SECONDS:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts: list[list[list[int]]] = []
    for run in runs:
        sequence = [classes[index] for index in run]
        part = next((part for part in parts if SequenceMatcher(
            None, [classes[index] for index in part[0]], sequence).ratio() >= RUN_SIMILARITY), None)
        if part is None:
            parts.append([run])
        else:
            part.append(run)
    return [LyricPart(tuple((segments[run[0]].start, segments[run[-1]].end) for run in part), len(part[0]))
            for part in parts if len(part) >= 2]
