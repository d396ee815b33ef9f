"""Writes a training corpus in lm2d's dataset layout (docs/DATASET.md):

    OUT/train/<clip>/audio.ogg  lyrics.lrc  motion.npz
    OUT/test/<clip>/...
    OUT/corpus.json             what each clip is and the gesture events it performs

Clips are synthesised songs (music_synth, with lines from lyrics_writer sung by the lead) and,
when the shared data is there, real recordings: their beats come from lm2d.features, their
lyrics are the real ones where they exist (the UltraStar file of "On the run") and written
lines timed to their beats otherwise. Every clip is danced by the choreographer. The test split
holds out whole songs, chosen by the seed. Same seed, same corpus.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lm2d.corpus.choreographer import DANCE_STYLES, choreograph, frame_count
from lm2d.corpus.gestures import GESTURES, GESTURE_KEYWORDS, gesture_events
from lm2d.corpus.lyrics_writer import Region, default_regions, lyrics_syllables, write_lyrics
from lm2d.corpus.music_synth import SongPlan, SongSpec, plan_song, random_spec, render_song, write_audio
from lm2d.errors import LM2DError
from lm2d.features import ONSET_COLUMN, extract_features
from lm2d.lyrics import Lyrics, load_lyrics, lyrics_to_lrc
from lm2d.motion.io import save_result_npz
from lm2d.motion.representation import FPS, Motion

CORPUS_VERSION = 2
TEST_FRACTION = 0.1
SYNTH_STYLES = ("pop", "hiphop", "electronic", "ballad", "waltz", "folk")
SHARED_MUSIC = "music"
SHARED_SONGS = "songs"


@dataclass
class SynthSong:
    plan: SongPlan
    lyrics: Lyrics
    audio: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.audio) / self.plan.sr


def make_synth_song(spec: SongSpec, lines: list[str] | None = None, title: str = "") -> SynthSong:
    """A synthesised song whose lead sings lyrics written for it (or the given lines)."""
    plan = plan_song(spec)
    regions = [Region(section.start, section.end, section.name) for section in plan.sections if section.sung]
    subdivision = 3 if plan.meter.steps_per_beat == 3 else 2
    lyrics = write_lyrics(plan.beat_times, plan.meter.beats_per_bar, regions, seed=spec.seed,
                          subdivision=subdivision, title=title, lines=lines)
    return SynthSong(plan, lyrics, render_song(plan, lyrics_syllables(lyrics)))


@dataclass
class Clip:
    """One song of the corpus, ready to write."""
    clip_id: str
    duration: float
    beat_times: np.ndarray
    lyrics: Lyrics
    style: str
    seed: int
    energy: np.ndarray
    n_frames: int
    write_audio: Callable[[Path], Path]
    info: dict = field(default_factory=dict)
    beats_per_bar: int | None = None
    motion: Motion | None = None        # a real dance (corpus/danced.py): written as it is, not choreographed


@dataclass(frozen=True)
class ClipSource:
    """A clip's name, known cheaply, and how to make it (synthesis, feature extraction)."""
    clip_id: str
    make: Callable[[], Clip]


def synth_spec(index: int, seed: int, seconds: float | None) -> SongSpec:
    """The index-th synthesised song: styles in turn, the rest drawn from the seed."""
    rng = np.random.default_rng([seed, index, 3001])
    length = float(seconds) if seconds is not None else float(rng.uniform(20.0, 60.0))
    return random_spec(seed * 1000 + index, length, style=SYNTH_STYLES[index % len(SYNTH_STYLES)])


def synth_source(index: int, seed: int, seconds: float | None) -> ClipSource:
    spec = synth_spec(index, seed, seconds)
    clip_id = f"synth_{index:03d}_{spec.style}_{spec.meter.replace('/', '-')}_{round(spec.tempo)}bpm"
    return ClipSource(clip_id, lambda: synth_clip(clip_id, spec))


def synth_clip(clip_id: str, spec: SongSpec) -> Clip:
    song = make_synth_song(spec, title=clip_id)
    n_frames = frame_count(song.duration)
    return Clip(
        clip_id=clip_id, duration=song.duration, beat_times=song.plan.beat_times, lyrics=song.lyrics,
        style=spec.style, seed=spec.seed, energy=song.plan.energy_curve(FPS, n_frames), n_frames=n_frames,
        write_audio=lambda folder: write_audio(folder / "audio.ogg", song.audio, song.plan.sr),
        beats_per_bar=song.plan.meter.beats_per_bar,
        info={"source": "synthesised", "style": spec.style, "meter": spec.meter, "tempo": spec.tempo,
              "key": spec.key, "mode": spec.mode,
              "sections": [{"name": s.name, "start": round(s.start, 3), "end": round(s.end, 3),
                            "energy": round(s.energy, 3)} for s in song.plan.sections],
              "lyrics": "written"})


def real_clip(audio_path: Path, seed: int, lyrics_path: Path | None = None, licence: str = "") -> Clip:
    """A real recording: beats and energy from lm2d.features; its own lyrics if given, else
    lines written to its beats."""
    features = extract_features(audio_path)
    beats_per_bar = 4
    if lyrics_path is not None:
        lyrics = load_lyrics(lyrics_path, audio_duration=features.duration)
        lyrics_source = f"real ({lyrics_path.name})"
    else:
        lyrics = write_lyrics(features.beat_times, beats_per_bar,
                              default_regions(features.beat_times, beats_per_bar), seed=seed)
        lyrics_source = "written"
    return Clip(
        clip_id=real_clip_id(audio_path), duration=features.duration, beat_times=features.beat_times, lyrics=lyrics,
        style=style_for_tempo(features.tempo), seed=seed, energy=onset_energy(features.features[:, ONSET_COLUMN]),
        n_frames=features.n_frames,
        write_audio=lambda folder: Path(shutil.copyfile(audio_path, folder / f"audio{audio_path.suffix.lower()}")),
        beats_per_bar=beats_per_bar,
        info={"source": "recording", "file": audio_path.name, "licence": licence,
              "tempo": round(features.tempo, 2), "lyrics": lyrics_source})


def real_clip_id(audio_path: Path) -> str:
    """real_<file or song folder name>, lower case, letters and digits."""
    name = audio_path.parent.name if audio_path.stem == "audio" else audio_path.stem
    return "real_" + "_".join(re.findall(r"[a-z0-9]+", name.lower()))[:48].strip("_")


def style_for_tempo(tempo: float) -> str:
    """A dance style for real music of unknown genre, from its tempo."""
    if tempo < 90:
        return "ballad"
    return "electronic" if tempo > 140 else "pop"


def onset_energy(onset_envelope: np.ndarray, seconds: float = 2.0) -> np.ndarray:
    """Per-frame energy 0..1: the onset envelope averaged over a few seconds, scaled between its
    10th and 95th percentiles (loud passages dance bigger)."""
    width = max(1, int(seconds * FPS))
    smoothed = np.convolve(onset_envelope, np.ones(width) / width, mode="same")
    low, high = np.percentile(smoothed, [10, 95])
    return np.clip((smoothed - low) / max(high - low, 1e-9), 0.0, 1.0) * 0.8 + 0.2


def shared_sources(shared_data: Path, seed: int) -> list[ClipSource]:
    """The real clips of ../shared/data: every recording in music/ (its .txt beside it is the
    licence), and each song folder in songs/ (audio.* with its UltraStar song.txt)."""
    if not shared_data.is_dir():
        raise LM2DError("shared data folder not found", path=shared_data)
    sources = []
    for index, audio_path in enumerate(sorted((shared_data / SHARED_MUSIC).glob("*.ogg"))):
        licence = _first_line(audio_path.with_suffix(".txt"))
        sources.append(ClipSource(real_clip_id(audio_path), lambda a=audio_path, i=index, l=licence:
                                  real_clip(a, seed * 1000 + 500 + i, licence=l)))
    for index, song_dir in enumerate(sorted(p for p in (shared_data / SHARED_SONGS).glob("*") if p.is_dir())):
        audio_path = next(iter(sorted(song_dir.glob("audio.*"))), None)
        if audio_path is None:
            continue
        lyrics = song_dir / "song.txt"
        licence = _first_line(song_dir / "license.txt")
        sources.append(ClipSource(real_clip_id(audio_path), lambda a=audio_path, i=index, l=licence, t=lyrics:
                                  real_clip(a, seed * 1000 + 900 + i, t if t.is_file() else None, l)))
    return sources


def _first_line(path: Path) -> str:
    text = path.read_text(errors="replace").strip() if path.is_file() else ""
    return text.splitlines()[0] if text else ""


def test_songs(clip_ids: list[str], seed: int, fraction: float = TEST_FRACTION) -> set[str]:
    """The held-out songs: at least `fraction` of them (and at least one), chosen by the seed."""
    count = max(1, math.ceil(fraction * len(clip_ids)))
    order = np.random.default_rng([seed, 2001]).permutation(len(clip_ids))
    return {sorted(clip_ids)[i] for i in order[:count]}


def write_clip(clip: Clip, folder: Path) -> dict:
    """audio, lyrics.lrc and motion.npz of one clip; returns its corpus.json record."""
    folder.mkdir(parents=True, exist_ok=True)
    clip.write_audio(folder)
    if clip.lyrics.segments:
        (folder / "lyrics.lrc").write_text(lyrics_to_lrc(clip.lyrics), encoding="utf-8")
    motion = clip.motion
    if motion is None:
        motion = choreograph(clip.beat_times, clip.duration, clip.lyrics, energy=clip.energy, style=clip.style,
                             seed=clip.seed, beats_per_bar=clip.beats_per_bar, n_frames=clip.n_frames)
    lines = [(segment.start, segment.end, segment.text) for segment in clip.lyrics.segments]
    save_result_npz(motion, folder / "motion.npz", lines)
    events = gesture_events(clip.lyrics, clip.duration, clip.seed) if clip.motion is None else []
    return {"id": clip.clip_id, "duration": round(clip.duration, 3), "frames": motion.n_frames,
            "dance_style": clip.style, "seed": clip.seed, "beats": len(clip.beat_times), **clip.info,
            "gesture_events": [event.to_json() for event in events]}


def build_corpus(out: str | os.PathLike, songs: int = 40, seconds: float | None = None, seed: int = 0,
                 shared_data: str | os.PathLike | None = None,
                 progress: Callable[[str], None] | None = None, extra_sources: Sequence[ClipSource] = ()) -> dict:
    """Writes the corpus into `out` (which must be empty or absent) and returns its metadata;
    `extra_sources` (e.g. corpus.danced's real dances) join the synthesised and shared clips."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LM2DError("the corpus folder must be empty or not exist yet", path=out)
    if songs < 0:
        raise LM2DError(f"--songs must be 0 or more, got {songs}")
    if seconds is not None and not 8.0 <= seconds <= 600.0:
        raise LM2DError(f"--seconds must be between 8 and 600, got {seconds}")
    say = progress or (lambda message: None)
    sources = [synth_source(index, seed, seconds) for index in range(songs)]
    sources += shared_sources(Path(shared_data), seed) if shared_data is not None else []
    sources += extra_sources
    if not sources:
        raise LM2DError("nothing to build: --songs is 0 and no shared data or danced songs were given")
    held_out = test_songs([source.clip_id for source in sources], seed)
    metadata_clips = []
    for number, source in enumerate(sources, start=1):
        split = "test" if source.clip_id in held_out else "train"
        clip = source.make()
        metadata_clips.append({"split": split, **write_clip(clip, out / split / clip.clip_id)})
        say(f"[{number}/{len(sources)}] {split}/{clip.clip_id} ({clip.duration:.0f} s)")
    metadata = {
        "version": CORPUS_VERSION,
        "seed": seed,
        "fps": FPS,
        "layout": "docs/DATASET.md (lm2d layout); motion.npz is an lm2d result file",
        "dance_styles": sorted(DANCE_STYLES),
        "gesture_keywords": GESTURE_KEYWORDS,
        "gestures": [{"name": g.name, "keywords": list(g.keywords), "whole_body": g.whole_body,
                      "min_seconds": g.min_seconds, "description": g.description} for g in GESTURES],
        "splits": {split: sorted(c["id"] for c in metadata_clips if c["split"] == split) for split in ("train", "test")},
        "clips": metadata_clips,
    }
    (out / "corpus.json").write_text(json.dumps(metadata, indent=1), encoding="utf-8")
    return metadata
