"""Repeat choreography: every occurrence of a repeated section dances the same moves, as
choreographers (and the Just Dance routines LM2D learned from) repeat a chorus's moves.

A layer above lm2d.pipeline.generate_dance, which samples the song as usual; then, for each
repeated label, one occurrence's motion is carried onto the others (lm2d.structure.carry:
time-warped beat to beat, root path continued). The template is the occurrence the model danced
best on the beats (BAS over its beats; the first one on a tie): copying whichever came first would
spread a weakly timed first chorus over every repeat (on the known-form test song that cost 0.02
BAS; the best-aligned template gains 0.01 on average). Then one in-painting pass
(lm2d.sampling.sample with kept frames) regenerates what must not be a copy:

- the seams, SEAM_FRAMES each side of each repeat's start and end, so the dance flows into and
  out of the repeat;
- the repeat's own gesture words (lm2d.corpus.gestures) where the template had no such
  gesture at that point (a second verse sings other words): the model dances them as usual.
  A gesture the template already made there is carried with the copy.

strength (repeat_sections): 1 the exact copy, 0 off (the sampled dance as it is), in between the
copy blended with the sampled dance (joint slerp, root lerp): a variation that keeps the repeat
recognisable. Editing: a range regenerated inside one section can be applied to all repeats of it;
the range's new motion is carried to the same place of each other occurrence, and only seams
inside those ranges are in-painted, so every frame outside them stays bit-exact.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from lm2d.errors import LM2DError
from lm2d.features import BEAT_COLUMN, FPS
from lm2d.motion.representation import Motion
from lm2d.song import Song
from lm2d.structure import Section, repeats, section_map
from lm2d.structure.carry import carried, paste, warp_positions

DEFAULT_STRENGTH = 1.0
SEAM_FRAMES = 8            # frames each side of a repeat's edges left to in-painting (~0.27 s)
GESTURE_MATCH_SECONDS = 0.5  # a template gesture this close to the mapped time counts as the same


def check_strength(strength: float | None) -> float:
    strength = DEFAULT_STRENGTH if strength is None else float(strength)
    if not 0.0 <= strength <= 1.0:
        raise LM2DError(f"repeat sections must be between 0 (off) and 1 (exact copy), got {strength:g}")
    return strength


@dataclass
class SongForm:
    """What the repeat layer needs of a song, on its own frame axis."""
    features: np.ndarray        # (T, 35) of the whole song
    lyrics: object | None       # lm2d.lyrics.Lyrics
    sections: list[Section]

    @property
    def beats(self) -> np.ndarray:
        return np.flatnonzero(self.features[:, BEAT_COLUMN] > 0.5)


def generate_with_repeats(loaded, audio: str | os.PathLike | Song, lyrics=None, *,
                          repeat_sections: float | None = None, resources=None, on_progress=None, should_stop=None,
                          cache: bool = True, max_seconds: float | None = None,
                          **options) -> tuple[Motion, list, list[Section]]:
    """lm2d.pipeline.generate_dance with repeated sections danced alike: (motion, lyric lines,
    sections on the result's time axis). options: generate_dance's (seed, steps, start_seconds,
    end_seconds, edit, beat_accent, ...); edit.apply_to_repeats carries an edited range to the
    other occurrences of its section."""
    from lm2d.pipeline import Resources, generate_dance, max_audio_seconds, read_lyrics

    strength = check_strength(repeat_sections)
    resources = resources or Resources()
    song = audio if isinstance(audio, Song) else Song(
        audio, max_audio_seconds() if max_seconds is None else max_seconds, cache)
    song_lyrics = None if lyrics is None else read_lyrics(lyrics, song)
    # The section map needs only the features and the lyrics, so it is worked out in a thread
    # beside the dance: in a fresh process its first call imports and compiles librosa's
    # segmentation code, a second of mostly Python work that the sampling's torch calls leave room for.
    with ThreadPoolExecutor(1, thread_name_prefix="lm2d-sections") as pool:
        sections = pool.submit(lambda: section_map(song.features.features, song_lyrics))
        motion, lines = generate_dance(loaded, song, song_lyrics, resources=resources, on_progress=on_progress,
                                       should_stop=should_stop, **options)
        form = SongForm(song.features.features, song_lyrics, sections.result())
    first = int(round(options.get("start_seconds", 0.0) * FPS))
    edit = options.get("edit")
    report = on_progress or (lambda stage, fraction: None)
    if edit is not None and getattr(edit, "apply_to_repeats", False):
        motion = apply_edit_to_repeats(loaded, motion, form, first, edit, options, resources, report, should_stop)
    elif edit is None and strength > 0:
        motion = dance_repeats(loaded, motion, form, first, strength, options, resources, report, should_stop)
    return motion, lines, crop_sections(form.sections, first, motion.n_frames)


def crop_sections(sections: list[Section], first: int, n_frames: int) -> list[Section]:
    """The sections overlapping frames [first, first + n_frames), on that range's axis (0 = first)."""
    return [Section(s.label, s.occurrence, max(s.start_frame - first, 0), min(s.end_frame - first, n_frames))
            for s in sections if s.end_frame > first and s.start_frame < first + n_frames]


# --- generation -------------------------------------------------------------------------------------

def dance_repeats(loaded, motion: Motion, song: SongForm, first: int, strength: float, options: dict, resources,
                  report, should_stop) -> Motion:
    """Every occurrence of a repeated section given its template's dance (see the module docstring)."""
    last = first + motion.n_frames
    regenerate = np.zeros(motion.n_frames, bool)
    events = _gesture_events(song)
    copied = motion
    alignment = _beat_alignment(motion, song.beats - first)
    for occurrences in repeats(song.sections).values():
        whole = [o for o in occurrences if o.start_frame >= first and o.end_frame <= last]
        if not whole:
            continue            # no occurrence lies wholly in the generated range: nothing to copy
        # The template is the occurrence the model danced best on the beats (the first on a tie).
        source = max(whole, key=lambda o: alignment(o.start_frame - first, o.end_frame - first))
        for target in occurrences:
            if target == source:
                continue
            positions = warp_positions((source.start_frame, source.end_frame),
                                       (target.start_frame, target.end_frame), song.beats)
            frames = np.arange(target.start_frame, target.end_frame)
            inside = (frames >= first) & (frames < last)
            if not inside.any():
                continue
            start = int(frames[inside][0]) - first
            piece = carried(copied, positions[inside] - first, start, strength)
            copied = paste(copied, piece, start)
            for edge in (target.start_frame, target.end_frame):
                regenerate[max(edge - SEAM_FRAMES - first, 0):max(edge + SEAM_FRAMES - first, 0)] = True
            for event_start, event_end in _new_gestures(events, source, target, positions):
                regenerate[max(event_start - first, 0):max(event_end - first, 0)] = True
    if not regenerate.any():
        return copied
    return _inpaint(loaded, copied, ~regenerate, song, first, options, resources, report, should_stop)


def _beat_alignment(motion: Motion, beats: np.ndarray):
    """score(first, end): BAS (lm2d.evaluation.beat_align) of the music beats in frames [first, end)."""
    from lm2d.evaluation.beat_align import BEAT_TOLERANCE_FRAMES, motion_beats

    beats = beats[(beats >= 0) & (beats < motion.n_frames)]
    dance = motion_beats(motion.joints())
    hits = np.zeros(len(beats))
    if beats.size and dance.size:
        nearest = np.abs(beats[:, None] - dance[None, :]).min(axis=1)
        hits = np.exp(-nearest.astype(np.float64) ** 2 / (2 * BEAT_TOLERANCE_FRAMES ** 2))

    def score(first: int, end: int) -> float:
        inside = (beats >= first) & (beats < end)
        return float(hits[inside].mean()) if inside.any() else 0.0
    return score


def _gesture_events(song: SongForm) -> list[tuple[str, int, int]]:
    """(gesture, first frame, end frame) of every gesture the lyrics call for, on the song's axis."""
    if song.lyrics is None:
        return []
    from lm2d.corpus.gestures import gesture_events

    duration = len(song.features) / FPS
    return [(event.gesture, int(event.start * FPS), int(np.ceil(event.end * FPS)))
            for event in gesture_events(song.lyrics, duration)]


def _new_gestures(events, source: Section, target: Section, positions: np.ndarray) -> list[tuple[int, int]]:
    """Frame windows of the target's gestures that the template (source) does not make at the same
    point of the section (other words there): these are danced anew rather than copied."""
    windows = []
    for gesture, start, end in events:
        if not target.start_frame <= start < target.end_frame:
            continue
        mapped = positions[start - target.start_frame]
        carried_along = any(name == gesture and abs(other - mapped) <= GESTURE_MATCH_SECONDS * FPS
                            for name, other, _ in events if source.start_frame <= other < source.end_frame)
        if not carried_along:
            windows.append((start, min(end, target.end_frame)))
    return windows


# --- editing --------------------------------------------------------------------------------------

def apply_edit_to_repeats(loaded, motion: Motion, song: SongForm, first: int, edit, options: dict, resources,
                          report, should_stop) -> Motion:
    """The edit's regenerated range carried to the same place of every other occurrence of its
    section; only SEAM_FRAMES inside each carried range's ends are in-painted."""
    if edit.regenerate is None:
        raise LM2DError("apply_to_repeats needs a regenerate range", path=edit.motion)
    begin, end = (frame + first for frame in edit.regenerate)
    home = next((s for s in song.sections if s.start_frame <= begin < s.end_frame), None)
    if home is None or end > home.end_frame:
        where = f"{home.name} ({home.start:.2f}-{home.end:.2f} s)" if home else "any section"
        raise LM2DError(f"the range {begin / FPS:.2f}-{end / FPS:.2f} s runs past {where}: "
                        "applying an edit to all repeats needs a range inside one section", path=edit.motion)
    last = first + motion.n_frames
    regenerate = np.zeros(motion.n_frames, bool)
    copied = motion
    for other in repeats(song.sections).get(home.label, []):
        if other == home:
            continue
        positions = warp_positions((home.start_frame, home.end_frame), (other.start_frame, other.end_frame),
                                   song.beats)
        frames = np.arange(other.start_frame, other.end_frame)
        inside = (positions >= begin) & (positions < end) & (frames >= first) & (frames < last)
        if inside.sum() < 2 * SEAM_FRAMES + 1:
            continue
        start, stop = int(frames[inside][0]) - first, int(frames[inside][-1]) + 1 - first
        copied = paste(copied, carried(copied, positions[inside] - first, start), start)
        regenerate[start:start + SEAM_FRAMES] = regenerate[stop - SEAM_FRAMES:stop] = True
    if not regenerate.any():
        return copied
    return _inpaint(loaded, copied, ~regenerate, song, first, options, resources, report, should_stop)


# --- the in-painting pass -----------------------------------------------------------------------------

def _inpaint(loaded, motion: Motion, kept: np.ndarray, song: SongForm, first: int, options: dict, resources,
             report, should_stop) -> Motion:
    """One in-painting pass over the frames not kept (the kept ones come back bit-exact)."""
    from lm2d.pipeline import crop_tokens, encode_lyrics
    from lm2d.sampling import MAX_BATCH, Kept, SamplingSettings, sample

    settings = SamplingSettings.for_model(loaded, options.get("steps"), options.get("music_guidance"),
                                          options.get("lyrics_guidance"), options.get("seed", 0))
    if loaded.kind == "consistency":
        # Seams are short and held by kept frames on both sides: one step of the student fills
        # them as well as more (bench_sections), at half the cost of the pass.
        settings = replace(settings, steps=1)
    tokens = None
    if song.lyrics is not None and loaded.config.lyrics:
        tokens = crop_tokens(encode_lyrics(song.lyrics, loaded, resources), first, motion.n_frames)
    report("repeats", 0.0)
    return sample(loaded, song.features[first:first + motion.n_frames], tokens, Kept(motion, kept), settings,
                  lambda fraction: report("repeats", fraction), should_stop, MAX_BATCH, resources.encodings)
