"""Plain lyrics without timing, spread over the sung part of the song.

The sung part is the song's vocal span (lm2d.song.vocal_span, found in its decoded samples).
The lines are laid end to end from the first to the last sung frame, each taking time in
proportion to its syllable count (vowel groups; characters for scripts without Latin vowels). This is a rough
placement, and a warning says so; word timing stays unknown.

Blank lines and section labels on a line of their own ("[Chorus]") are skipped.
On "On the run" (288 s) this finds 11.6-274.0 s as the sung part; its UltraStar file says 11.25-273.7 s."""
from __future__ import annotations

import os
import re

import numpy as np

from lm2d.errors import LM2DError, warn
from lm2d.lyrics.segments import Lyrics, Segment

SECTION_LABEL = re.compile(r"\[[^\]]*\]")
VOWEL_GROUPS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+")


def lyric_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each line that is sung."""
    return [(number, " ".join(line.split())) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not SECTION_LABEL.fullmatch(line.strip())]


def parse_plain(text: str, path: str | os.PathLike, song) -> Lyrics:
    """song: the lm2d.song.Song the lyrics are sung in (its vocal_span places them)."""
    lines = lyric_lines(text)
    if not lines:
        raise LM2DError("no lyric lines found", path=path)
    if song is None:
        raise LM2DError("has no timestamps; untimed lyrics need the audio to be placed "
                        "(give the song with --audio)", path=path)
    span = song.vocal_span
    if span is None:
        span = (0.0, len(song.samples) / song.rate)
        warn(f"found no singing in {os.fspath(song.path)}; spreading the untimed lyrics over the whole song",
             path=path)
    warn(f"has no timestamps: {len(lines)} lines spread by syllable count over the sung part "
         f"{span[0]:.1f}-{span[1]:.1f} s of {os.fspath(song.path)} (approximate timing)", path=path)
    return Lyrics(spread_lines(lines, *span), {}, "plain")


def spread_lines(lines: list[tuple[int, str]], start: float, end: float) -> list[Segment]:
    weights = np.array([syllable_count(text) for _, text in lines], dtype=np.float64)
    bounds = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [Segment(float(bounds[i]), float(bounds[i + 1]), text, [], number)
            for i, (number, text) in enumerate(lines)]


def syllable_count(text: str) -> int:
    count = 0
    for word in text.casefold().split():
        vowel_groups = len(VOWEL_GROUPS.findall(word))
        # Latin script: a syllable per vowel group; others (CJK, ...): about one per character.
        count += vowel_groups or sum(char.isalnum() for char in word)
    return max(count, 1)
