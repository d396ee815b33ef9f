"""Timed lyrics as CSV, as JamendoLyrics and alignment tools write them.

The first row is a header naming the columns (case-insensitive; ',' ';' or tab separated):
- start: `start`, `start_time`, `word_start`
- end:   `end`, `end_time`, `word_end`
- text:  `text`, `lyrics_line`, `line`, `lyrics`, `word`
Rows are lines (JamendoLyrics' `start_time,end_time,lyrics_line`, or `start,end,text`) unless
the columns say words (`word_start,word_end,word`, or a `word` text column): then rows are
words, grouped into lines by a `line_end` column when there is one (a number there closes the
line, as in JamendoLyrics' word files; "nan" or empty does not), else by pauses longer than
WORD_LINE_GAP_SECONDS. Rows must be in time order; that is checked with the other formats'."""
from __future__ import annotations

import csv
import io
import math
import os

from lm2d.errors import LM2DError
from lm2d.lyrics.segments import Lyrics, Segment, line_text, words_from_pieces

START_COLUMNS = ("start", "start_time", "word_start")
END_COLUMNS = ("end", "end_time", "word_end")
TEXT_COLUMNS = ("text", "lyrics_line", "line", "lyrics", "word")
LINE_END_COLUMN = "line_end"
WORD_LINE_GAP_SECONDS = 1.0  # a pause this long between words starts a new line


def parse_csv(text: str, path: str | os.PathLike) -> Lyrics:
    try:
        rows = list(csv.reader(io.StringIO(text), _dialect(text)))
    except csv.Error as err:   # a field over csv.field_size_limit(), a NUL byte, ...
        raise LM2DError(f"not a readable CSV file ({err})", path=path) from err
    numbered = [(number, row) for number, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not numbered:
        raise LM2DError("no lyric lines found (the file is empty)", path=path)
    (_, header), *body = numbered
    columns = [name.strip().lower() for name in header]
    start_at = _column(columns, START_COLUMNS, "start", path)
    end_at = _column(columns, END_COLUMNS, "end", path)
    text_at = _column(columns, TEXT_COLUMNS, "text", path)
    line_end_at = columns.index(LINE_END_COLUMN) if LINE_END_COLUMN in columns else None
    word_rows = columns[start_at].startswith("word") or columns[text_at] == "word" or line_end_at is not None

    records = []
    for number, row in body:
        cells = row + [""] * (len(columns) - len(row))
        start = _seconds(cells[start_at], columns[start_at], path, number)
        end = _seconds(cells[end_at], columns[end_at], path, number)
        if end < start:
            raise LM2DError(f"ends ({end:.3f} s) before it starts ({start:.3f} s)", path=path, line=number)
        closes_line = line_end_at is not None and _is_number(cells[line_end_at])
        records.append((number, start, end, cells[text_at].strip(), closes_line))
    segments = _word_lines(records) if word_rows else [
        Segment(start, end, " ".join(text.split()), [], number)
        for number, start, end, text, _ in records if text]
    return Lyrics(segments, {}, "csv")


def _word_lines(records) -> list[Segment]:
    by_line_end = any(record[4] for record in records)
    lines, current = [], []
    for record in records:
        _, start, _, text, closes_line = record
        if current and not by_line_end and start - current[-1][2] > WORD_LINE_GAP_SECONDS:
            lines.append(current)
            current = []
        if text:
            current.append(record)
        if closes_line:
            lines.append(current)
            current = []
    segments = []
    for line in [line for line in lines + [current] if line]:
        words = words_from_pieces((start, end, " " + text) for _, start, end, text, _ in line)
        segments.append(Segment(line[0][1], line[-1][2], line_text(words), words, line[0][0]))
    return segments


def _dialect(text: str):
    first_line = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _column(columns: list[str], names: tuple[str, ...], role: str, path) -> int:
    for name in names:
        if name in columns:
            return columns.index(name)
    raise LM2DError(f"CSV header has no {role} column (one of {', '.join(names)}); "
                    f"it has: {', '.join(columns)}", path=path, line=1)


def _seconds(cell: str, column: str, path, number: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise LM2DError(f"{column} {cell.strip()!r} is not a time in seconds", path=path, line=number)
    return value


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False
