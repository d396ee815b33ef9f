"""The form of a song: labelled sections (intro, verse, chorus, bridge, outro, or A/B/C) with
start and end on beats, from the music (lm2d.structure.music) and, when given, the lyrics'
repeated lines (lm2d.structure.lyric_repeats), merged and named by lm2d.structure.labels.
Occurrences of one repeated part share a label; lm2d.structure.repeat makes them dance alike.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from lm2d.features import FPS
from lm2d.structure.labels import merge, name_parts
from lm2d.structure.lyric_repeats import repeated_parts
from lm2d.structure.music import music_segments


@dataclass(frozen=True)
class Section:
    label: str
    occurrence: int       # 1 for the first time the part plays, 2 for the next, ...
    start_frame: int      # on the song's 30 FPS frame axis, at a beat (or the song's start / end)
    end_frame: int

    @property
    def start(self) -> float:
        return self.start_frame / FPS

    @property
    def end(self) -> float:
        return self.end_frame / FPS

    @property
    def name(self) -> str:
        """What a user reads on the timeline: "Chorus 2", "Intro", "A 1"."""
        return f"{self.label[:1].upper()}{self.label[1:]} {self.occurrence}"

    def to_json(self) -> dict:
        return {"label": self.label, "occurrence": self.occurrence, "start": round(self.start, 3),
                "end": round(self.end, 3)}


def section_map(features: np.ndarray, lyrics=None) -> list[Section]:
    """Sections of a song from its (T, 35) music features (lm2d.features) and, optionally, its
    lyrics (lm2d.lyrics.Lyrics, timed or placed): contiguous, covering frames 0..T."""
    segments = [] if lyrics is None else list(lyrics.segments)
    music = music_segments(features)
    parts = repeated_parts(segments)
    pieces = merge(music, parts, FPS, approximate=lyrics is not None and lyrics.source == "plain")
    frames = [(int(music.edges[piece.first]), int(music.edges[piece.end])) for piece in pieces]
    sung = [any(segment.start * FPS < end and segment.end * FPS > start for segment in segments)
            for start, end in frames]
    labels = name_parts(pieces, parts, sung)
    seen: dict[str, int] = {}
    sections = []
    for label, (start, end) in zip(labels, frames):
        seen[label] = seen.get(label, 0) + 1
        sections.append(Section(label, seen[label], start, end))
    return sections


def repeats(sections: list[Section]) -> dict[str, list[Section]]:
    """label -> its occurrences in time order, for the labels that occur more than once."""
    by_label: dict[str, list[Section]] = {}
    for section in sections:
        by_label.setdefault(section.label, []).append(section)
    return {label: found for label, found in by_label.items() if len(found) > 1}


def sections_to_json(sections: list[Section]) -> str:
    return json.dumps({"sections": [section.to_json() for section in sections]}, indent=2)


def sections_to_text(sections: list[Section]) -> str:
    return "\n".join(f"{section.start:8.2f} {section.end:8.2f}  {section.name}" for section in sections)
