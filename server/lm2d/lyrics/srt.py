"""SubRip (.srt) subtitles as line-timed lyrics.

Each cue: an optional number, "hh:mm:ss,mmm --> hh:mm:ss,mmm" (a '.' before the milliseconds
is accepted too, as is trailing position info), then text lines, joined with spaces; HTML-ish
tags (<i>, <font ...>) and ASS overrides ({\\an8}) are removed and entities unescaped.
Cues must come in time order (lm2d.lyrics.parse checks it and names the cue's line); a cue
that overlaps the next is cut where the next begins, with a warning."""
from __future__ import annotations

import html
import os
import re

from lm2d.errors import LM2DError
from lm2d.lyrics.segments import Lyrics, Segment

_CLOCK = r"(\d{1,2}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
TIMING = re.compile(rf"{_CLOCK}\s*-->\s*{_CLOCK}(?:\s.*)?")
MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def parse_srt(text: str, path: str | os.PathLike) -> Lyrics:
    segments = []
    for block in _blocks(text.splitlines()):
        (first_number, first), *rest = block
        if first.strip().isdigit() and rest:  # the cue number
            (first_number, first), *rest = rest
        match = TIMING.fullmatch(first.strip())
        if match is None:
            what = "malformed cue timing" if "-->" in first else "expected a cue timing line"
            raise LM2DError(f"{what} {first.strip()!r} (expected hh:mm:ss,mmm --> hh:mm:ss,mmm)",
                            path=path, line=first_number)
        start = _seconds(match.groups()[:4], first, path, first_number)
        end = _seconds(match.groups()[4:], first, path, first_number)
        cue_text = " ".join(html.unescape(MARKUP.sub("", " ".join(line for _, line in rest))).split())
        if cue_text:
            segments.append(Segment(start, end, cue_text, [], first_number))
    return Lyrics(segments, {}, "srt")


def _blocks(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Cues are separated by blank lines; each line is kept with its 1-based number."""
    blocks, current = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            current.append((number, line))
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def _seconds(parts, line: str, path, number: int) -> float:
    hours, minutes, seconds, millis = parts
    if int(minutes) >= 60 or int(seconds) >= 60:
        raise LM2DError(f"malformed cue timing {line.strip()!r}: minutes and seconds must be below 60",
                        path=path, line=number)
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 10 ** len(millis)
