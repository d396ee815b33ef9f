"""Merging the music's sections with the lyrics' repeated parts, and naming them.

Boundaries: the music's (on beats); each start of a repeated lyric part moves the nearest music
boundary within a bar onto its beat, or adds one there (untimed lyrics, placed only roughly, take
the nearest music boundary within a section's length). Parts: a section where a repeated lyric
part starts plays that part, and so does every section the music groups with it; the other
sections keep the music's grouping. Names, in order of first appearance: the lyric part sung most
often is the chorus; a sung part that repeats in the music only is a verse; one unrepeated sung
section after the second chorus is the bridge; unrepeated sections before the singing starts or
after it ends are the intro and outro; everything else is A, B, C... (without lyrics: all but
the intro and outro). A label names exactly one part, so "same label" means "same part".
"""
from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from lm2d.structure.lyric_repeats import LyricPart
from lm2d.structure.music import FINE_KERNEL_BEATS, MIN_SECTION_BEATS, MusicSegments

SNAP_BEATS = FINE_KERNEL_BEATS          # a lyric part's start moves a music boundary this close
APPROXIMATE_SNAP_BEATS = MIN_SECTION_BEATS  # ... when the lyrics were placed by listening (untimed text)
MIN_BEATS_AFTER_SPLIT = 4               # a lyric start never leaves a section shorter than a bar


@dataclass(frozen=True)
class Piece:
    """A section before naming: beat-edge indices and the part it plays."""
    first: int
    end: int
    part: tuple[str, int]                # ("lyrics", index) or ("music", group)


def merge(music: MusicSegments, lyric_parts: list[LyricPart], fps: float, approximate: bool = False) -> list[Piece]:
    """approximate: the lyrics' times are estimates (untimed text placed over the sung part), so a
    part's start goes to the nearest music boundary within a section's length before one is added."""
    snap = APPROXIMATE_SNAP_BEATS if approximate else SNAP_BEATS
    bounds = list(music.boundaries)
    groups = list(music.groups)
    starts: dict[int, int] = {}          # boundary (beat-edge index) -> lyric part that starts there
    edge_seconds = music.edges / fps
    for part_index, part in enumerate(lyric_parts):
        for start, _end in part.occurrences:
            beat = int(np.argmin(np.abs(edge_seconds - start)))
            nearest = min(range(len(bounds) - 1), key=lambda i: abs(bounds[i] - beat))
            if abs(bounds[nearest] - beat) <= snap:
                starts[bounds[nearest]] = part_index
                continue
            after = int(np.searchsorted(bounds, beat))
            if beat - bounds[after - 1] >= MIN_BEATS_AFTER_SPLIT and bounds[after] - beat >= MIN_BEATS_AFTER_SPLIT:
                bounds.insert(after, beat)
                groups.insert(after, max(groups) + 1)   # the music did not see this part: a group of its own
                starts[beat] = part_index
    pieces = []
    for index, (first, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        part = ("lyrics", starts[first]) if first in starts else ("music", groups[index])
        pieces.append(Piece(first, end, part))
    # A music group with a lyric part among its sections plays that part throughout.
    lyric_of_group = {}
    for index, piece in enumerate(pieces):
        if piece.part[0] == "lyrics":
            lyric_of_group.setdefault(groups[index], piece.part)
    return [Piece(piece.first, piece.end, lyric_of_group.get(groups[index], piece.part))
            if piece.part[0] == "music" else piece for index, piece in enumerate(pieces)]


def name_parts(pieces: list[Piece], lyric_parts: list[LyricPart], sung: list[bool]) -> list[str]:
    """A label per piece (see the module docstring); sung[i]: lyrics are sung in piece i."""
    counts: dict[tuple[str, int], int] = {}
    for piece in pieces:
        counts[piece.part] = counts.get(piece.part, 0) + 1
    names: dict[tuple[str, int], str] = {}
    if lyric_parts:
        chorus = max(range(len(lyric_parts)), key=lambda i: (len(lyric_parts[i].occurrences), lyric_parts[i].lines))
        names[("lyrics", chorus)] = "chorus"
    sung_any = any(sung)
    first_sung = sung.index(True) if sung_any else len(pieces)
    last_sung = len(sung) - 1 - sung[::-1].index(True) if sung_any else -1
    choruses_seen = 0
    for index, piece in enumerate(pieces):
        choruses_seen += names.get(piece.part) == "chorus"
        if piece.part in names:
            continue
        unique = counts[piece.part] == 1
        if unique and index == 0 and (index < first_sung or not sung_any):
            names[piece.part] = "intro"
        elif unique and index == len(pieces) - 1 and index > last_sung:
            names[piece.part] = "outro"
        elif sung_any and sung[index] and not unique and "verse" not in names.values():
            names[piece.part] = "verse"
        elif unique and sung[index] and choruses_seen >= 2 and "bridge" not in names.values():
            names[piece.part] = "bridge"
    letters = iter(string.ascii_uppercase)
    for piece in pieces:
        if piece.part not in names:
            names[piece.part] = next(letters, f"part {len(names) + 1}")
    return [names[piece.part] for piece in pieces]
