"""load_lyrics: any supported lyrics file -> validated Lyrics.

Formats, chosen by extension and, for .txt or anything else, by content: LRC / enhanced LRC
(.lrc), SubRip (.srt), UltraStar (.txt with #BPM), CSV (.csv/.tsv), lm2d's own JSON (.json),
plain text (no timing: placed in the song's vocal span). Checks shared by every format, each a
one-line LM2DError naming the file and line: no lyric lines, a line ending before it starts,
lines out of time order, times past the end of the audio. Lines that overlap the next one are
cut where it begins (one active line at a time is what the model sees), with a warning."""
from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

from lm2d.errors import LM2DError, warn
from lm2d.limits import MAX_LYRIC_LINES, MAX_LYRICS_BYTES
from lm2d.lyrics.lrc import TIME_TAG, parse_lrc
from lm2d.lyrics.plain import parse_plain
from lm2d.lyrics.segments import Lyrics, Segment, Word, lyrics_from_json
from lm2d.lyrics.srt import TIMING, parse_srt
from lm2d.lyrics.table import parse_csv
from lm2d.lyrics.ultrastar import parse_ultrastar
from lm2d.validate.lyrics import check_time
from lm2d.validate.motion import check_input_file

FORMATS_BY_EXTENSION = {".lrc": "lrc", ".srt": "srt", ".csv": "csv", ".tsv": "csv", ".json": "json"}
# Times may pass the audio's end by this much: decoders disagree on a file's length by a few ms.
END_TOLERANCE_SECONDS = 0.1
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def load_lyrics(path: str | os.PathLike, song=None, audio_duration: float | None = None) -> Lyrics:
    """Parse a lyrics file. The song (an lm2d.song.Song), or just its duration, lets LRC's last
    line end with the song, lets untimed text be placed, and lets times past the song's end be caught."""
    if audio_duration is None and song is not None:
        audio_duration = song.duration
    text = read_lyrics_text(path)
    fmt = detect_format(path, text)
    if fmt == "lrc":
        lyrics = parse_lrc(text, path, audio_duration)
    elif fmt == "srt":
        lyrics = parse_srt(text, path)
    elif fmt == "ultrastar":
        lyrics = parse_ultrastar(text, path)
    elif fmt == "csv":
        lyrics = parse_csv(text, path)
    elif fmt == "json":
        lyrics = lyrics_from_json(text, path)
    else:
        lyrics = parse_plain(text, path, song)
    check_segments(lyrics.segments, path, audio_duration)
    return lyrics


def read_lyrics_text(path: str | os.PathLike) -> str:
    """Decode as UTF-8 (BOM or not), UTF-16 with a BOM, or else cp1252 with a warning."""
    file = check_input_file(path, "lyrics file", missing="no such lyrics file")
    if file.stat().st_size > MAX_LYRICS_BYTES:
        raise LM2DError(f"is {file.stat().st_size / 2**20:.1f} MB; a lyrics file may be at most "
                        f"{MAX_LYRICS_BYTES / 2**20:g} MB", path=path)
    raw = file.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _decode(raw, "utf-16", path)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _decode(raw, "cp1252", path)
            warn("is not valid UTF-8; decoded as cp1252 (Windows Western European): check accented "
                 "letters, or save the file as UTF-8", path=path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    control = CONTROL_CHARACTERS.search(text)
    if control:
        raise LM2DError(f"is not a text lyrics file (binary data, byte {control.group(0)!r})",
                        path=path, line=text.count("\n", 0, control.start()) + 1)
    if not text.strip():
        raise LM2DError("is empty: no lyric lines found", path=path)
    return text


def _decode(raw: bytes, encoding: str, path) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise LM2DError(f"cannot be decoded (tried UTF-8, UTF-16 with BOM and cp1252): not a text "
                        f"lyrics file? ({encoding} fails at byte {err.start})", path=path) from err


def detect_format(path: str | os.PathLike, text: str) -> str:
    """"lrc", "srt", "ultrastar", "csv", "json" or "plain". The extension decides for
    .lrc/.srt/.csv/.tsv/.json; otherwise the content does."""
    by_extension = FORMATS_BY_EXTENSION.get(Path(path).suffix.lower())
    if by_extension:
        return by_extension
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and re.match(r"#[A-Za-z]+\s*:", lines[0]):  # UltraStar opens with #TITLE:, #BPM:, ...
        return "ultrastar"
    if any(TIMING.fullmatch(line) for line in lines):
        return "srt"
    if any(TIME_TAG.match(line) for line in lines):
        return "lrc"
    return "plain"


def check_segments(segments: list[Segment], path, audio_duration: float | None) -> None:
    """The checks every format shares (see the module docstring). Cuts overlaps in place."""
    if not segments:
        raise LM2DError("no lyric lines found", path=path)
    if len(segments) > MAX_LYRIC_LINES:
        raise LM2DError(f"has {len(segments)} lyric lines; at most {MAX_LYRIC_LINES} are accepted", path=path)
    for segment in segments:
        for item in (segment, *segment.words):
            for edge in ("start", "end"):
                check_time(getattr(item, edge), f"{item.text[:30]!r} {edge}", path, segment.line)
            if item.end < item.start:
                raise LM2DError(f"{item.text[:30]!r} ends ({item.end:.3f} s) before it starts ({item.start:.3f} s)",
                                path=path, line=segment.line)
    overlapping = []
    for previous, segment in zip(segments, segments[1:]):
        if segment.start < previous.start:
            raise LM2DError(f"starts at {segment.start:.3f} s, before the line above it "
                            f"({previous.start:.3f} s): lines must be in time order", path=path, line=segment.line)
        if segment.start < previous.end:
            _cut(previous, segment.start)
            overlapping.append(previous)
    if overlapping:
        warn(f"{len(overlapping)} line(s) overlap the next one and were cut where it starts "
             f"(first: {overlapping[0].text[:40]!r})", path=path, line=overlapping[0].line)
    if audio_duration is not None:
        # Starts first: an LRC line's end is the next line's start, so that line is the culprit.
        for edge in ("start", "end"):
            for segment in segments:
                if getattr(segment, edge) > audio_duration + END_TOLERANCE_SECONDS:
                    raise LM2DError(f"{edge}s at {getattr(segment, edge):.2f} s, past the end of the audio "
                                    f"({audio_duration:.2f} s)", path=path, line=segment.line)


def _cut(segment: Segment, end: float) -> None:
    segment.end = end
    segment.words = [Word(word.start, min(word.end, end), word.text) for word in segment.words if word.start < end]
