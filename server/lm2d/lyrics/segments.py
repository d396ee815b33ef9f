"""The one timed-lyrics structure every format is parsed into, and its JSON form.

Times are seconds from the start of the audio. A Segment is one sung line; its `words` are
empty when the source only times whole lines (plain LRC, SRT, line CSV, untimed text)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from lm2d.errors import LM2DError
from lm2d.validate.documents import load_json


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    # Line of the source file this segment came from, so later checks can point at it.
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass
class Lyrics:
    segments: list[Segment]
    metadata: dict[str, str] = field(default_factory=dict)
    # The format the lyrics were read from: "lrc", "srt", "ultrastar", "csv", "plain" or "json".
    source: str = ""

    @property
    def has_word_timing(self) -> bool:
        return any(segment.words for segment in self.segments)


def words_from_pieces(pieces: Iterable[tuple[float, float, str]]) -> list[Word]:
    """Join timed pieces of one line (syllables, enhanced-LRC chunks, CSV words) into words.

    Whitespace in the text decides word boundaries, the way the formats write it: a piece whose
    text starts with whitespace, or follows one ending with whitespace, starts a new word; a
    piece glued to the previous one ("a" + "way") extends that word; an empty piece (an
    UltraStar "~" hold) only extends the previous word's end; a piece holding several words
    shares its time between them by character count."""
    words: list[Word] = []
    glued = False  # whether the next piece may continue the last word
    for start, end, text in pieces:
        tokens = text.split()
        if not tokens:
            if text == "" and glued and words:
                words[-1] = Word(words[-1].start, max(words[-1].end, end), words[-1].text)
            glued = glued and text == ""
            continue
        spans = _share_by_length(start, end, tokens)
        if glued and words and not text[0].isspace():
            (first_start, first_end), *spans = spans
            first, *tokens = tokens
            words[-1] = Word(words[-1].start, first_end, words[-1].text + first)
        words.extend(Word(s, e, token) for (s, e), token in zip(spans, tokens))
        glued = not text[-1].isspace()
    return words


def _share_by_length(start: float, end: float, tokens: list[str]) -> list[tuple[float, float]]:
    total = sum(len(token) for token in tokens)
    spans, position = [], 0
    for token in tokens:
        spans.append((start + (end - start) * position / total,
                      start + (end - start) * (position + len(token)) / total))
        position += len(token)
    return spans


def line_text(words: list[Word]) -> str:
    return " ".join(word.text for word in words)


# --- JSON ---------------------------------------------------------------------------------

def lyrics_to_json(lyrics: Lyrics) -> str:
    """The normalised lyrics as JSON (times rounded to the millisecond)."""
    def timed(item: Word | Segment) -> dict:
        return {"start": round(item.start, 3), "end": round(item.end, 3), "text": item.text}

    segments = [{**timed(segment), "words": [timed(word) for word in segment.words]}
                for segment in lyrics.segments]
    # One segment per line: readable, diffable, still plain JSON.
    head = json.dumps({"source": lyrics.source, "metadata": lyrics.metadata}, ensure_ascii=False)
    body = ",\n".join(json.dumps(segment, ensure_ascii=False) for segment in segments)
    return f'{head[:-1]}, "segments": [\n{body}\n]}}'


def lyrics_from_json(text: str, path: str | os.PathLike) -> Lyrics:
    """Read what lyrics_to_json wrote; bad structure raises LM2DError naming the file."""
    document = load_json(text, path)
    try:
        segments = [
            Segment(float(item["start"]), float(item["end"]), str(item["text"]),
                    [Word(float(word["start"]), float(word["end"]), str(word["text"]))
                     for word in item.get("words", [])])
            for item in document["segments"]
        ]
        metadata = {str(key): str(value) for key, value in document.get("metadata", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise LM2DError("not a lyrics JSON document (expected {\"segments\": [{\"start\", \"end\", "
                        f"\"text\", \"words\"}}, ...]}}): {type(err).__name__} {err}", path=path) from err
    return Lyrics(segments, metadata, str(document.get("source", "json")))
