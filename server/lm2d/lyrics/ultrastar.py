"""UltraStar karaoke .txt: syllable-timed lyrics with pitch.

Header lines "#KEY:VALUE" (#BPM may use a decimal comma, "297,5"; #GAP is milliseconds), then
note lines "TYPE START LENGTH PITCH TEXT" with TYPE ':' normal, '*' golden, 'F' freestyle,
'R'/'G' rap (all sung or spoken, all kept), "- BEAT [BEAT]" line breaks, "P1"/"P2" duet
singers, and "E" ending the song (anything after it is ignored).

A beat lasts 60 / (BPM * 4) seconds and beat 0 is at #GAP, so a note's time is
GAP/1000 + beat * 60 / (BPM * 4). With #RELATIVE:yes beats count from the start of the
current line, which moves on by the line break's second number (or its first, when alone).

The TEXT after the pitch is taken verbatim: a syllable starting with a space starts a new word,
one without continues the previous word, and '~' (a held vowel on a new pitch) continues the
previous syllable. Segment = one line, from its first note's start to its last note's end.
Duet singers' lines are merged in time order."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from lm2d.errors import LM2DError
from lm2d.lyrics.segments import Lyrics, Segment, line_text, words_from_pieces
from lm2d.validate.lyrics import DIGITS, check_time

NOTE = re.compile(rf"([:*FRG])\s*(-?{DIGITS})\s+({DIGITS})\s+(-?{DIGITS})(?:[ \t](.*))?")
LINE_BREAK = re.compile(rf"-\s*(-?{DIGITS})(?:\s+(-?{DIGITS}))?\s*")
SINGER = re.compile(rf"P\s*({DIGITS})\s*")
MAX_BPM = 100_000.0   # real songs: 50-600 (UltraStar beats are quarter notes of that)
HEADER = re.compile(r"#([^:]+):(.*)")
# Header names as lm2d's metadata names them across formats.
HEADER_NAMES = {"title": "title", "artist": "artist", "language": "language", "creator": "author"}


@dataclass
class _Note:
    beat: int
    length: int
    text: str
    line: int


@dataclass
class _Song:
    headers: dict[str, str] = field(default_factory=dict)
    # One list of notes per sung line, per singer.
    lines: list[list[_Note]] = field(default_factory=list)


def parse_ultrastar(text: str, path: str | os.PathLike) -> Lyrics:
    song = _read_song(text, path)
    bpm = _header_number(song.headers, "BPM", path, required=True)
    if not 0 < bpm <= MAX_BPM or bpm * 4 < 1e-3:
        raise LM2DError(f"#BPM must be above 0 and at most {MAX_BPM:g} (got {song.headers['BPM'][:20]})", path=path)
    gap = _header_number(song.headers, "GAP", path, required=False)
    check_time(gap / 1000.0, f"#GAP:{song.headers.get('GAP', '')[:20]}", path)
    seconds_per_beat = 60.0 / (bpm * 4)

    def time_of(beat: float) -> float:
        return gap / 1000.0 + beat * seconds_per_beat

    segments = []
    for notes in song.lines:
        words = words_from_pieces((time_of(note.beat), time_of(note.beat + note.length), _syllable(note.text))
                                  for note in notes)
        if words:
            segments.append(Segment(time_of(notes[0].beat), time_of(notes[-1].beat + notes[-1].length),
                                    line_text(words), words, notes[0].line))
    segments.sort(key=lambda segment: segment.start)  # duet singers' lines interleave
    metadata = {HEADER_NAMES.get(key.lower(), key.lower()): value for key, value in song.headers.items()}
    return Lyrics(segments, metadata, "ultrastar")


def _read_song(text: str, path) -> _Song:
    song = _Song()
    relative = False
    line_origin = 0  # beat the current line's beats count from (#RELATIVE only)
    current: list[_Note] = []
    last_beat: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#") and not song.lines and not current:
            header = HEADER.fullmatch(line)
            if header is None:
                raise LM2DError(f"malformed header {line!r} (expected #KEY:VALUE)", path=path, line=number)
            song.headers[header.group(1).strip().upper()] = header.group(2).strip()
            relative = song.headers.get("RELATIVE", "").lower() in ("yes", "true", "1")
            continue
        if line.startswith("E"):
            break
        if (note := NOTE.fullmatch(raw.lstrip())) is not None:
            beat = line_origin + int(note.group(2))
            if last_beat is not None and beat < last_beat:
                raise LM2DError(f"note at beat {beat} comes before the previous note (beat {last_beat}): "
                                "notes must be in time order", path=path, line=number)
            current.append(_Note(beat, int(note.group(3)), note.group(5) or "", number))
            last_beat = beat
        elif (brk := LINE_BREAK.fullmatch(line)) is not None:
            song.lines.append(current)
            current = []
            if relative:
                line_origin += int(brk.group(2) or brk.group(1))
        elif SINGER.fullmatch(line):
            song.lines.append(current)
            current, line_origin, last_beat = [], 0, None  # each singer's part restarts the clock
        else:
            raise LM2DError(f"not an UltraStar line {line[:40]!r} (expected a note ': BEAT LENGTH "
                            "PITCH TEXT', a line break '- BEAT' or 'E')", path=path, line=number)
    song.lines = [notes for notes in song.lines + [current] if notes]
    return song


def _syllable(text: str) -> str:
    """A '~' syllable holds on from the previous one: drop the marker and glue what follows."""
    stripped = text.lstrip()
    return stripped[1:].lstrip() if stripped.startswith("~") else text


def _header_number(headers: dict[str, str], key: str, path, required: bool) -> float:
    if key not in headers:
        if required:
            raise LM2DError(f"UltraStar file has no #{key} header", path=path)
        return 0.0
    try:
        value = float(headers[key].replace(",", "."))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise LM2DError(f"#{key}:{headers[key][:20]} is not a number", path=path)
    return value
