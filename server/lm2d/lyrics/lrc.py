"""LRC and enhanced LRC (the A2 extension with <mm:ss.xx> word times): reading and writing.

Conventions followed (LRC has no formal spec; these are what players do):
- A line may carry several timestamps ("[00:12.00][01:30.00]chorus"): the text repeats at each.
  Lines may therefore come in any order; they are sorted by time.
- A line lasts until the next timestamp. A timestamp with no text ends the previous line.
  The last line ends at the end of the audio when its length is known, else at [length:],
  else at its last word's closing <timestamp>, else LAST_LINE_SECONDS after it starts.
- [offset:+ms]: positive means the lyrics come sooner, so it is subtracted from every time.
- Enhanced: "<t1>word <t2>word <t3>" - each <t> starts the text after it and ends the text
  before it, so a closing <t> ends the last word and "word<t> <t'>" leaves a gap.
- Header tags ([ar:], [ti:], [al:], [au:], [by:], [length:], [la:], ...) become metadata.
A malformed timestamp is an error naming its line; a line with no timestamp is ignored with a
warning; two lines with the same time keep the first (bilingual files repeat each line)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from lm2d.errors import LM2DError, warn
from lm2d.limits import MAX_TIME_DIGITS
from lm2d.lyrics.segments import Lyrics, Segment, Word, line_text, words_from_pieces
from lm2d.validate.lyrics import DIGITS

LAST_LINE_SECONDS = 4.0  # length given to the last line when nothing says when it ends

TIME_TAG = re.compile(rf"\[({DIGITS}):(\d{{1,2}})(?:[.:](\d{{1,3}}))?\]")
WORD_TAG = re.compile(rf"<({DIGITS}):(\d{{1,2}})(?:[.:](\d{{1,3}}))?>")
# Anything that opens like a timestamp: if it does not parse, it is a malformed one.
TIME_LIKE = re.compile(r"\[\s*[-+]?\d[^\]]*\]?")
WORD_TIME_LIKE = re.compile(r"<\s*\d+\s*:[^>]*>?")
HEADER_TAG = re.compile(r"\[([A-Za-z][\w#-]*)\s*:(.*)\]\s*$")

# LRC header tags and the metadata names lm2d uses for them across formats.
HEADER_NAMES = {"ti": "title", "ar": "artist", "al": "album", "au": "author", "by": "lrc_author",
                "la": "language", "length": "length", "re": "editor", "ve": "editor_version"}


@dataclass
class _TimedLine:
    time: float
    text: str
    # (time, text) for each <word timestamp> piece, times absolute.
    pieces: list[tuple[float, str]]
    line: int


def parse_lrc(text: str, path: str | os.PathLike, audio_duration: float | None = None) -> Lyrics:
    metadata: dict[str, str] = {}
    entries: list[_TimedLine] = []
    offset_ms = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        times, rest = _leading_timestamps(stripped, path, number)
        if times:
            pieces = _word_pieces(rest, times[0], path, number)
            plain = _normalise(WORD_TAG.sub("", rest))
            for time in times:
                shift = time - times[0]  # a repeated line's word times move with it
                entries.append(_TimedLine(time, plain, [(t + shift, s) for t, s in pieces], number))
            continue
        header = HEADER_TAG.match(stripped)
        if header:
            key, value = header.group(1).lower(), header.group(2).strip()
            if key == "offset":
                offset_ms = _parse_offset(value, path, number)
                metadata["offset_ms"] = str(offset_ms)
            else:
                metadata[HEADER_NAMES.get(key, key)] = value
            continue
        warn(f"no [mm:ss.xx] timestamp on this line; ignored: {stripped[:40]!r}", path=path, line=number)
    if not entries:
        raise LM2DError("no [mm:ss.xx] timestamped lyric lines found", path=path)
    _apply_offset(entries, offset_ms / 1000.0, path)
    entries = _sorted_unique(entries, path)
    last_end = audio_duration if audio_duration is not None else _parse_length(metadata.get("length"))
    return Lyrics(_segments(entries, last_end, path), metadata, "lrc")


def _leading_timestamps(line: str, path, number: int) -> tuple[list[float], str]:
    times = []
    while line.startswith("["):
        match = TIME_TAG.match(line)
        if match is None:
            malformed = TIME_LIKE.match(line)
            if malformed:
                raise LM2DError(f"malformed timestamp {malformed.group(0)!r} (expected [mm:ss.xx])",
                                path=path, line=number)
            break
        times.append(_seconds(match, path, number))
        line = line[match.end():]
    return times, line


def _word_pieces(text: str, line_time: float, path, number: int) -> list[tuple[float, str]]:
    """Split enhanced-LRC text into (time, text after the tag) pieces; [] when no word tags.
    Text before the first tag starts at the line's own time."""
    for candidate in WORD_TIME_LIKE.finditer(text):
        if not WORD_TAG.fullmatch(candidate.group(0)):
            raise LM2DError(f"malformed word timestamp {candidate.group(0)!r} (expected <mm:ss.xx>)",
                            path=path, line=number)
    tags = list(WORD_TAG.finditer(text))
    if not tags:
        return []
    pieces = [(line_time, text[:tags[0].start()])] if text[:tags[0].start()].strip() else []
    previous = line_time
    for index, tag in enumerate(tags):
        following = text[tag.end(): tags[index + 1].start() if index + 1 < len(tags) else len(text)]
        time = _seconds(tag, path, number)
        if time < previous:
            raise LM2DError(f"word timestamp {tag.group(0)} is earlier than the "
                            f"{'one before it' if pieces else 'line timestamp'}", path=path, line=number)
        pieces.append((time, following))
        previous = time
    return pieces


def _seconds(match: re.Match, path, number: int) -> float:
    minutes, seconds, fraction = match.group(1), match.group(2), match.group(3) or ""
    if int(seconds) >= 60:
        raise LM2DError(f"malformed timestamp {match.group(0)!r}: seconds must be below 60",
                        path=path, line=number)
    return int(minutes) * 60 + int(seconds) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _parse_offset(value: str, path, number: int) -> int:
    try:
        if len(value.strip().lstrip("+-")) > MAX_TIME_DIGITS:
            raise ValueError("too many digits")
        return int(value.strip())
    except ValueError:
        raise LM2DError(f"malformed [offset:{value}] (expected whole milliseconds, e.g. +250)",
                        path=path, line=number) from None


def _parse_length(value: str | None) -> float | None:
    """[length: mm:ss] (or mm:ss.xx) if present and readable; it only serves as a fallback."""
    match = value and re.fullmatch(rf"\s*({DIGITS}):(\d{{1,2}}(?:\.\d{{1,6}})?)\s*", value)
    return int(match.group(1)) * 60 + float(match.group(2)) if match else None


def _apply_offset(entries: list[_TimedLine], offset_seconds: float, path) -> None:
    if not offset_seconds:
        return
    clamped = False
    for entry in entries:
        clamped |= entry.time - offset_seconds < 0
        entry.time = max(0.0, entry.time - offset_seconds)
        entry.pieces = [(max(0.0, t - offset_seconds), s) for t, s in entry.pieces]
    if clamped:
        warn(f"[offset:{round(offset_seconds * 1000):+d}] moves some lines before 0 s; they start at 0 s",
             path=path)


def _sorted_unique(entries: list[_TimedLine], path) -> list[_TimedLine]:
    ordered = sorted(entries, key=lambda entry: entry.time)  # stable: file order breaks ties
    kept = [ordered[0]]
    for entry in ordered[1:]:
        if entry.time != kept[-1].time:
            kept.append(entry)
        elif not kept[-1].text:
            kept[-1] = entry  # a line end and a line start at the same time: the line wins
        elif entry.text:
            warn(f"same timestamp as line {kept[-1].line}; kept that line's text", path=path, line=entry.line)
    return kept


def _segments(entries: list[_TimedLine], last_end: float | None, path) -> list[Segment]:
    segments = []
    for index, entry in enumerate(entries):
        if not entry.text:
            continue  # an empty timestamp only ends the previous line
        if index + 1 < len(entries):
            end = entries[index + 1].time
        elif last_end is not None:
            end = max(last_end, entry.time)
        elif entry.pieces and not entry.pieces[-1][1].strip():
            end = entry.pieces[-1][0]  # the closing word timestamp
        else:
            end = entry.time + LAST_LINE_SECONDS
        words = _words(entry, end, path)
        segments.append(Segment(entry.time, end, line_text(words) if words else entry.text, words, entry.line))
    return segments


def _words(entry: _TimedLine, line_end: float, path) -> list[Word]:
    """Each piece lasts until the next word timestamp; a closing tag (empty piece) only ends the
    word before it."""
    ends = [t for t, _ in entry.pieces[1:]] + [line_end]
    timed = [(start, min(end, line_end), text) for (start, text), end in zip(entry.pieces, ends) if text]
    late = [text.strip() for start, _, text in timed if start >= line_end and text.strip()]
    if late:
        warn(f"word(s) {' '.join(late)!r} timed after the line ends; ignored", path=path, line=entry.line)
    return words_from_pieces(piece for piece in timed if piece[0] < line_end)


def _normalise(text: str) -> str:
    return " ".join(text.split())


# --- writing ------------------------------------------------------------------------------

def format_lrc_time(seconds: float) -> str:
    centiseconds = round(seconds * 100)
    minutes, centiseconds = divmod(centiseconds, 6000)
    return f"{minutes:02d}:{centiseconds // 100:02d}.{centiseconds % 100:02d}"


def lyrics_to_lrc(lyrics: Lyrics) -> str:
    """LRC text; enhanced LRC (word timestamps) for segments whose words are known. A line
    followed by a gap, and the last line, are closed with an empty timestamp line so that
    reading the LRC back gives the same segment ends (to the centisecond)."""
    tags = {short: lyrics.metadata[name] for short, name in HEADER_NAMES.items() if name in lyrics.metadata}
    lines = [f"[{short}:{value}]" for short, value in tags.items()]
    for index, segment in enumerate(lyrics.segments):
        lines.append(f"[{format_lrc_time(segment.start)}]{_lrc_words(segment) if segment.words else segment.text}")
        following = lyrics.segments[index + 1].start if index + 1 < len(lyrics.segments) else None
        if following is None or format_lrc_time(following) != format_lrc_time(segment.end):
            lines.append(f"[{format_lrc_time(segment.end)}]")
    return "\n".join(lines) + "\n"


def _lrc_words(segment: Segment) -> str:
    parts = []
    for index, word in enumerate(segment.words):
        following = segment.words[index + 1].start if index + 1 < len(segment.words) else None
        parts.append(f"<{format_lrc_time(word.start)}>{word.text}")
        if following is None or format_lrc_time(following) != format_lrc_time(word.end):
            parts.append(f"<{format_lrc_time(word.end)}>")
        parts.append(" ")
    return "".join(parts).rstrip()
