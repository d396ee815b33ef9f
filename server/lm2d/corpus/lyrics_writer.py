"""Lyric lines written for the corpus and timed to a song's beats, word by word.

The lines are this project's own: half of them carry gesture keywords (gestures.py), the rest
are neutral, so a model sees the same music with and without gesture words. Each line starts
on a bar, one syllable per subdivision (eighth note); a gesture word is held long enough for its
gesture (its minimum window), and a line's last syllable is held too. Word timing is exact
because we place the words, so the lyrics come out as enhanced LRC (<mm:ss.xx> word times).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lm2d.corpus.gestures import GESTURE_BY_NAME, GESTURE_KEYWORDS, keyword_of
from lm2d.corpus.music_synth import Syllable
from lm2d.lyrics import Lyrics, Segment, Word

GESTURE_LINES: tuple[str, ...] = (
    "hands up high and let it go",
    "lift your hands up to the sky",
    "we rise above the city lights",
    "so high we touch the clouds tonight",
    "get down low and feel the bass",
    "all the way down to the floor",
    "from the ground we start again",
    "hands on my heart for the night",
    "love is the rhythm that we share",
    "wave hello to the morning sun",
    "we say goodbye and walk away",
    "bye bye to the rainy days",
    "wave your hands from side to side",
    "clap clap with me now",
    "clap your hands and sing along",
    "jump jump into the light",
    "we jump when the drummer calls",
    "spin around and around again",
    "turn it over one more time",
    "turn around and feel the beat",
    "this one is for you",
    "I am pointing right at you",
    "run run run through the city",
    "we run until the morning comes",
    "spread your wings and fly away",
    "open your arms and fly",
    "stop right there and feel the beat",
    "stop the clock for just a while",
    "I think about the summer rain",
    "the song is always on my mind",
    "no more tears when the music ends",
    "we cry and laugh and carry on",
    "push it back and push it away",
    "pull me closer to the beat",
    "reach for the stars tonight",
    "reach out across the room",
    "shake it off and start again",
    "shake shake shake to the drum",
    "look at the lights on the street",
    "watch the city come alive",
    "hold me close and hug me tight",
    "hold on tight to the melody",
)

NEUTRAL_LINES: tuple[str, ...] = (
    "the city lights are calling",
    "we dance until the morning",
    "every beat is a brand new start",
    "feel the rhythm in the night",
    "the music plays on and on",
    "summer nights and neon signs",
    "together we are strong",
    "the radio is playing our song",
    "step by step we find the way",
    "the night is young and so are we",
    "follow the drum and follow the bass",
    "golden light on every street",
    "a melody that never ends",
    "we sing it loud we sing it clear",
    "the morning comes too soon",
    "dancing in the summer rain",
    "all the colours in the dark",
    "this is our time to shine",
    "the crowd is singing every word",
    "let the music take control",
    "count the stars one by one",
    "a little closer every day",
    "the bass is beating in my chest",
    "we never sleep we never rest",
    "in the middle of the night",
    "the band is playing loud",
    "keep the fire burning bright",
    "every moment feels like gold",
    "oh oh oh yeah yeah",
    "na na na the party is on",
)

VOWEL_GROUP = re.compile(r"[aeiouy]+")


def syllables_of(word: str) -> list[str]:
    """A word split into sung syllables: each is leading consonants plus a vowel group (a
    silent final e joins the last one). Good enough to give each note its vowel."""
    letters = re.sub(r"[^a-z]", "", word.lower()) or word.lower()
    groups = list(VOWEL_GROUP.finditer(letters))
    if len(groups) > 1 and letters.endswith("e") and groups[-1].group() == "e" and not letters.endswith("le"):
        groups = groups[:-1]
    if len(groups) <= 1:
        return [letters]
    cuts = [0] + [group.start() for group in groups[1:]] + [len(letters)]
    return [letters[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


@dataclass(frozen=True)
class Region:
    """A stretch of the song where lines may be sung (a verse or chorus)."""
    start: float
    end: float
    name: str


class BeatClock:
    """Times of fractional beat positions; extrapolates past the ends with the edge periods."""

    def __init__(self, beat_times: np.ndarray):
        self.beats = np.asarray(beat_times, dtype=np.float64)

    def time(self, position: float) -> float:
        beats = self.beats
        if position <= 0:
            return float(beats[0] + position * (beats[1] - beats[0]))
        if position >= len(beats) - 1:
            return float(beats[-1] + (position - len(beats) + 1) * (beats[-1] - beats[-2]))
        return float(np.interp(position, np.arange(len(beats)), beats))

    def position(self, time: float) -> float:
        """The fractional beat index of a time (inverse of `time` inside the beats)."""
        return float(np.interp(time, self.beats, np.arange(len(self.beats))))


def default_regions(beat_times: np.ndarray, beats_per_bar: int, bars_per_region: int = 8) -> list[Region]:
    """Sung regions for a song whose structure is unknown (real audio without lyrics): after two
    bars of intro, verses and choruses of `bars_per_region` bars with two-bar breaks between."""
    clock = BeatClock(beat_times)
    regions, bar, index = [], 2, 0
    total_bars = (len(beat_times) - 1) // beats_per_bar
    while bar + 2 <= total_bars - 1:
        last = min(bar + bars_per_region, total_bars - 1)
        regions.append(Region(clock.time(bar * beats_per_bar), clock.time(last * beats_per_bar),
                              "chorus" if index % 2 else "verse"))
        bar, index = last + 2, index + 1
    return regions


def write_lyrics(beat_times: Sequence[float], beats_per_bar: int, regions: Sequence[Region],
                 seed: int = 0, subdivision: int = 2, gesture_share: float = 0.5,
                 title: str = "", lines: Sequence[str] | None = None) -> Lyrics:
    """Lines for every sung region, each starting on a bar of the beat grid. Later choruses
    repeat the first chorus's lines, as songs do. `subdivision`: syllable slots per beat (2 in
    x/4, 3 in 6/8). `lines`: sing these, in order, instead of drawing from the banks."""
    beats = np.asarray(beat_times, dtype=np.float64)
    if len(beats) < 2:
        return Lyrics([], {"title": title} if title else {}, "lm2d")
    clock = BeatClock(beats)
    rng = np.random.default_rng([seed, 4001])
    unused = {"gesture": list(rng.permutation(len(GESTURE_LINES))), "neutral": list(rng.permutation(len(NEUTRAL_LINES)))}
    given = list(lines) if lines is not None else None
    first_chorus: list[str] = []
    segments: list[Segment] = []
    for region in regions:
        placed = []
        bar = math.ceil(clock.position(region.start) / beats_per_bar - 1e-6)
        for text in _candidates(region, given, first_chorus, unused, rng, gesture_share):
            segment = _place_line(text, clock, bar * beats_per_bar, subdivision)
            if segment.end > region.end:
                break
            segments.append(segment)
            placed.append(text)
            bar = math.ceil((clock.position(segment.end) + 0.5) / beats_per_bar)
        if given is not None:
            del given[:len(placed)]
        elif region.name == "chorus" and not first_chorus:
            first_chorus.extend(placed)
    metadata = {"title": title} if title else {}
    return Lyrics(segments, metadata, "lm2d")


def _candidates(region: Region, given: list[str] | None, first_chorus: list[str],
                unused: dict[str, list[int]], rng: np.random.Generator, gesture_share: float):
    """Lines to try in a region, in order: the given lines, a repeat of the first chorus, or
    fresh lines from the banks (choruses lean to gesture lines)."""
    if given is not None:
        yield from list(given)
    elif region.name == "chorus" and first_chorus:
        yield from list(first_chorus)
    else:
        share = min(1.0, gesture_share + (0.2 if region.name == "chorus" else 0.0))
        while True:
            yield _next_line(unused, rng, share)


def _next_line(unused: dict[str, list[int]], rng: np.random.Generator, gesture_share: float) -> str:
    kind = "gesture" if rng.random() < gesture_share else "neutral"
    bank = GESTURE_LINES if kind == "gesture" else NEUTRAL_LINES
    if not unused[kind]:
        unused[kind] = list(rng.permutation(len(bank)))
    return bank[unused[kind].pop(0)]


def _hold_slots(words: list[str], slot_seconds: float) -> list[int]:
    """Slots the last syllable of each word lasts: gesture words long enough for their gesture
    (consecutive words of one gesture share the window), the line's last word two slots."""
    holds = [1] * len(words)
    index = 0
    while index < len(words):
        keyword = keyword_of(words[index])
        if keyword is None:
            index += 1
            continue
        gesture = GESTURE_KEYWORDS[keyword]
        group = index
        while group + 1 < len(words) and (k := keyword_of(words[group + 1])) and GESTURE_KEYWORDS[k] == gesture:
            group += 1
        size = group - index + 1
        needed = math.ceil(GESTURE_BY_NAME[gesture].min_seconds / slot_seconds)
        for member in range(index, group + 1):
            holds[member] = max(2, math.ceil(needed / size))
        index = group + 1
    holds[-1] = max(holds[-1], 2)
    return holds


def _place_line(text: str, clock: BeatClock, first_beat: float, subdivision: int) -> Segment:
    words = text.split()
    slot_seconds = clock.time(first_beat + 1) - clock.time(first_beat)
    holds = _hold_slots(words, slot_seconds / subdivision)
    position = float(first_beat)
    timed = []
    for word, hold in zip(words, holds):
        pieces = syllables_of(word)
        slots = [1] * (len(pieces) - 1) + [hold]
        start = clock.time(position)
        position += sum(slots) / subdivision
        # A short breath before the next word keeps words apart.
        end = clock.time(position - 0.15 / subdivision)
        timed.append(Word(start, end, word))
    return Segment(timed[0].start, timed[-1].end, " ".join(words), timed)


def lyrics_syllables(lyrics: Lyrics) -> list[Syllable]:
    """The sung notes of timed lyrics: each word's time shared among its syllables, the last
    syllable taking the hold (so a held gesture word is one long note)."""
    notes = []
    for segment in lyrics.segments:
        for word in segment.words:
            pieces = syllables_of(word.text)
            if len(pieces) == 1:
                notes.append(Syllable(word.start, word.end, pieces[0]))
                continue
            # Leading syllables get an equal short share; the last gets the rest.
            share = min((word.end - word.start) / len(pieces), 0.25)
            for index, piece in enumerate(pieces):
                start = word.start + index * share
                end = start + share if index < len(pieces) - 1 else word.end
                notes.append(Syllable(start, end, piece))
    return notes
