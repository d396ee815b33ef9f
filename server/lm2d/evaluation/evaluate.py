"""`lm2d evaluate`: generate a dance for every held-out song with each model and score them all,
the ground truth included, on one table (docs/METRICS.md).

A model run is (label, checkpoint, sampler, steps): a diffusion checkpoint is sampled with DDIM,
a consistency checkpoint with its own sampler at each requested step count. Every run uses the
same per-song seeds, so an evaluation is reproducible and runs differ only by the model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lm2d.errors import warn
from lm2d.evaluation.body_usage import FIELD_NAMES as BODY_USAGE_FIELDS
from lm2d.evaluation.body_usage import body_usage
from lm2d.evaluation.beat_align import beat_alignment_score, motion_beats, smoothed_kinetic_velocity
from lm2d.evaluation.features_geometric import geometric_features
from lm2d.evaluation.features_kinetic import kinetic_features
from lm2d.evaluation.fid import diversity, frechet_distance, normalise_with_reference
from lm2d.evaluation.foot_contact import physical_foot_contact
from lm2d.evaluation.gesture_classifier import CHANCE_SHIFTS, GestureClassifier, chance_hit_rate, gesture_hits
from lm2d.evaluation.matcher import (WINDOW_FRAMES, MatcherExamples, SemanticMatcher, concatenate_examples,
                                     examples_from_song, semantic_scores, shuffled_in_time)
from lm2d.evaluation.report import plot_beats, plot_metric_bars, write_csv, write_markdown
from lm2d.motion.io import LyricLine
from lm2d.safe_write import atomic_open
from lm2d.sampling import DDIM_STEPS

FPS = 30.0
CONSISTENCY_STEPS = (1, 2, 4)
# Samples for FID/diversity: non-overlapping 20 s segments of each song (Bailando scores the first
# 1200 frames of each 60-FPS sequence: 20 s). A song shorter than a segment is one sample.
SEGMENT_FRAMES = 600
GROUND_TRUTH = "ground truth"


@dataclass
class EvalSong:
    song_id: str
    joints: np.ndarray                      # (T, 24, 3) real motion, Z-up metres
    music: np.ndarray                       # (T, 35) EDGE features
    beat_frames: np.ndarray                 # music beats (frame indices)
    lyric_lines: list[LyricLine]
    lyric_tokens: object | None = None      # lm2d.lyrics.SongLyricTokens, for lyric models


@dataclass(frozen=True)
class ModelRun:
    label: str
    checkpoint: Path
    sampler: str            # "ddim" (diffusion checkpoints) or "consistency" (distilled students)
    steps: int


@dataclass
class MotionSet:
    """One row of the table: a motion per song (and how long each took to generate)."""
    label: str
    sampler: str
    steps: int | None
    motions: list[np.ndarray]                                # (T, 24, 3) joints per song
    seconds: list[float] = field(default_factory=list)       # generation time per song
    results: list = field(default_factory=list)              # the generated lm2d Motions


# --- data ---------------------------------------------------------------------------------------

def load_songs(root: str | Path, split: str, encoder=None, limit: int | None = None) -> list[EvalSong]:
    """The clips of a dataset split (docs/DATASET.md) with their real motion, beats and lyric lines;
    `encoder` (a TextEncoder) also prepares lyric tokens for lyric-conditioned generation."""
    from lm2d.features import BEAT_COLUMN
    from lm2d.lyrics import load_lyrics
    from lm2d.song import Song
    from lm2d.motion.representation import MOTION_DIM, Motion
    from lm2d.train.dataset import find_clips, load_clip

    songs = []
    for files in find_clips(root, split)[:limit]:
        clip = load_clip(files, encoder)
        joints = Motion.from_vector(clip.x[:, -MOTION_DIM:]).joints()   # after the 4 contact flags
        lines = []
        if files.lyrics is not None:
            lyrics = load_lyrics(files.lyrics, Song(files.audio))
            lines = [(s.start, s.end, s.text) for s in lyrics.segments]
        songs.append(EvalSong(clip.clip_id, joints, clip.music,
                              np.flatnonzero(clip.music[:, BEAT_COLUMN] > 0.5), lines, clip.lyrics))
    return songs


def song_examples(joints: np.ndarray, song: EvalSong) -> MatcherExamples:
    """Non-overlapping 5 s windows of a motion for `song`, each with the lyric sung in it."""
    return examples_from_song(joints, song.lyric_lines, stride=WINDOW_FRAMES, fps=FPS)


def feature_segments(joints: np.ndarray, segment: int = SEGMENT_FRAMES) -> list[np.ndarray]:
    if len(joints) <= segment:
        return [joints]
    return [joints[start:start + segment] for start in range(0, len(joints) - segment + 1, segment)]


def motion_features(motions: Sequence[np.ndarray], fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """(N, 72) kinetic and (N, 32) geometric features of every segment of every motion."""
    segments = [s for joints in motions for s in feature_segments(joints)]
    return (np.stack([kinetic_features(s, fps) for s in segments]),
            np.stack([geometric_features(s, fps) for s in segments]))


# --- generation ---------------------------------------------------------------------------------

def checkpoint_label(path: Path) -> str:
    """A file's stem, a folder's name, or for a training run's `checkpoint/` folder the run's name."""
    if path.suffix in (".safetensors", ".json"):
        return path.stem
    path = path.resolve()
    return path.parent.name if path.name == "checkpoint" and path.parent.name else path.name


def runs_for_checkpoint(path: Path, kind: str, ddim_steps: int = DDIM_STEPS,
                        consistency_steps: Sequence[int] = CONSISTENCY_STEPS,
                        name: str | None = None) -> list[ModelRun]:
    """The teacher is sampled with DDIM; a consistency student at each step count."""
    name = name or checkpoint_label(path)
    if kind == "consistency":
        return [ModelRun(f"{name}/cm{k}", path, "consistency", k) for k in consistency_steps]
    return [ModelRun(f"{name}/ddim{ddim_steps}", path, "ddim", ddim_steps)]


def song_seed(seed: int, index: int) -> int:
    return seed * 1000 + index


def generate_set(run: ModelRun, loaded, songs: Sequence[EvalSong], seed: int,
                 on_song: Callable[[str], None] | None = None) -> MotionSet:
    """Generate every song with one model run through the generation path every lm2d front end
    uses (lm2d.sampling.sample: default guidance); the seed of song i is song_seed(seed, i).
    on_song(song_id) is called as each song's dance is done."""
    from lm2d.sampling import SamplingSettings, sample

    results, seconds = [], []
    for index, song in enumerate(songs):
        settings = SamplingSettings.for_model(loaded, run.steps, seed=song_seed(seed, index))
        started = time.perf_counter()
        motion = sample(loaded, song.music, song.lyric_tokens, settings=settings)
        seconds.append(time.perf_counter() - started)
        results.append(motion)
        if on_song is not None:
            on_song(song.song_id)
    return MotionSet(run.label, run.sampler, run.steps, [m.joints() for m in results], seconds, results)


def as_written_set(motion_set: MotionSet, songs: Sequence[EvalSong], strength: float, foot_lock: bool) -> MotionSet:
    """The same dances through beat accent (lm2d.motion.retime) and foot lock (lm2d.motion.footlock),
    as the pipeline writes them: a row beside the network's own, from the very same samples. Times
    include both steps."""
    from lm2d.motion.footlock import lock_feet
    from lm2d.motion.retime import accent_beats

    results, seconds = [], []
    for motion, song, generated in zip(motion_set.results, songs, motion_set.seconds):
        started = time.perf_counter()
        motion = accent_beats(motion, song.beat_frames, strength)
        results.append(lock_feet(motion) if foot_lock else motion)
        seconds.append(generated + time.perf_counter() - started)
    label = f"{motion_set.label}+accent{strength:g}" + ("+footlock" if foot_lock else "")
    return MotionSet(label, motion_set.sampler, motion_set.steps, [m.joints() for m in results], seconds, results)


# --- scoring ------------------------------------------------------------------------------------

@dataclass
class Evaluation:
    rows: list[dict]
    per_song: list[dict]
    notes: list[str]
    reference_rows: list[dict] = field(default_factory=list)   # body usage of real mocap (no song)


def reference_row(label: str, joints: np.ndarray, fps: float = FPS) -> dict:
    """The body-usage row of a real capture (`lm2d evaluate --reference-motion`)."""
    return {"label": label, "sampler": "mocap", "steps": None, **body_usage(joints, fps)}


def score_sets(songs: Sequence[EvalSong], sets: Sequence[MotionSet], reference_motions: Sequence[np.ndarray],
               matcher: SemanticMatcher | None = None, text_vectors: dict | None = None,
               seed: int = 0, gesture_classifier: GestureClassifier | None = None,
               gesture_events: dict | None = None, reference_dances: Sequence[tuple[str, np.ndarray]] = ()) -> Evaluation:
    """Every metric of every motion set; FID/diversity against `reference_motions`' features;
    the lyric-gesture hit rate with a classifier and `gesture_events` (song id -> GestureEvents);
    body-usage rows for `reference_dances`, (label, joints at 30 FPS) of real captures."""
    reference_k, reference_g = motion_features(reference_motions)
    notes = [f"{len(songs)} songs; FID/Div samples: {SEGMENT_FRAMES / FPS:.0f} s segments "
             f"({len(reference_k)} reference segments)."]
    constant_k, constant_g = nearly_constant(reference_k), nearly_constant(reference_g)
    if constant_k or constant_g:
        notes.append(f"{constant_k}/{reference_k.shape[1]} kinetic and {constant_g}/{reference_g.shape[1]} geometric "
                     f"features are (nearly) constant over the FID reference: z-normalisation magnifies any "
                     f"difference in them, so FID/Div are not comparable with published numbers.")
    rows, per_song = [], []
    for motion_set in sets:
        row, songs_rows = _score_set(songs, motion_set, reference_k, reference_g, matcher, text_vectors, seed,
                                     gesture_classifier, gesture_events or {})
        rows.append(row)
        per_song += songs_rows
    if matcher is not None:
        per_song_gt = [song_examples(s.joints, s) for s in songs]
        shuffled = shuffled_in_time(concatenate_examples(per_song_gt), [len(e.texts) for e in per_song_gt], seed)
        shuffled = semantic_scores(matcher, shuffled, text_vectors, seed=seed)
        notes.append(f"Semantic matching of the ground truth shuffled in time within each song (chance "
                     f"level): cos {shuffled['cosine']:.4f}, R@1 {shuffled['top1']:.3f}, R@3 {shuffled['top3']:.3f}; "
                     f"{shuffled['windows']} lyric windows, {shuffled['candidates']} candidates.")
    if gesture_classifier is not None:
        events = [(gesture_events or {}).get(s.song_id, []) for s in songs]
        chance = chance_hit_rate(gesture_classifier, [s.joints for s in songs], events)
        notes.append(f"Gesture hit rate over {sum(map(len, events))} lyric keyword events; the ground truth out of "
                     f"step with its lyrics (chance level: mean over {CHANCE_SHIFTS} time shifts): {chance:.3f}.")
    return Evaluation(rows, per_song, notes, [reference_row(label, joints) for label, joints in reference_dances])


def _score_set(songs, motion_set: MotionSet, reference_k, reference_g, matcher, text_vectors, seed,
               gesture_classifier=None, gesture_events=None):
    per_song = []
    for song, joints in zip(songs, motion_set.motions):
        entry = {"song": song.song_id, "label": motion_set.label,
                 "bas": beat_alignment_score(joints, song.beat_frames),
                 "pfc": physical_foot_contact(joints, FPS), **body_usage(joints, FPS)}
        if matcher is not None:
            scores = semantic_scores(matcher, song_examples(joints, song), text_vectors, seed=seed)
            entry.update(sm_cosine=scores["cosine"], sm_windows=scores["windows"])
        if gesture_classifier is not None:
            hits = gesture_hits(gesture_classifier, joints, gesture_events.get(song.song_id, []), FPS)
            entry.update(gesture_hits=int(hits.sum()), gesture_events=len(hits))
        per_song.append(entry)

    features_k, features_g = motion_features(motion_set.motions)
    row = {"label": motion_set.label, "sampler": motion_set.sampler, "steps": motion_set.steps,
           "bas": _nanmean([e["bas"] for e in per_song]), "pfc": _nanmean([e["pfc"] for e in per_song]),
           **_fid_columns(reference_k, features_k, "k"), **_fid_columns(reference_g, features_g, "g"),
           **{name: _nanmean([e[name] for e in per_song]) for name in BODY_USAGE_FIELDS}}
    if matcher is not None:
        examples = concatenate_examples([song_examples(j, s) for s, j in zip(songs, motion_set.motions)])
        scores = semantic_scores(matcher, examples, text_vectors, seed=seed)
        row.update(sm_cosine=scores["cosine"], sm_top1=scores["top1"], sm_top3=scores["top3"])
    if gesture_classifier is not None:
        events = sum(e["gesture_events"] for e in per_song)
        row["gesture_hit"] = sum(e["gesture_hits"] for e in per_song) / events if events else float("nan")
    if motion_set.seconds:
        row["seconds_per_song"] = float(np.mean(motion_set.seconds))
    return row, per_song


def nearly_constant(features: np.ndarray, relative: float = 1e-3) -> int:
    """How many features barely vary over a set (std under `relative` of their magnitude)."""
    return int(np.sum(features.std(axis=0) <= relative * (np.abs(features.mean(axis=0)) + relative)))


def _fid_columns(reference: np.ndarray, generated: np.ndarray, suffix: str) -> dict[str, float]:
    reference_n, generated_n = normalise_with_reference(reference, generated)
    fid = float("nan")
    if len(reference_n) >= 2 and len(generated_n) >= 2:
        fid = frechet_distance(generated_n, reference_n)
    return {f"fid_{suffix}": fid, f"div_{suffix}": diversity(generated_n)}


def _nanmean(values: Sequence[float]) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


# --- outputs ------------------------------------------------------------------------------------

def write_outputs(out: Path, evaluation: Evaluation, songs: Sequence[EvalSong], sets: Sequence[MotionSet],
                  title: str) -> list[Path]:
    """results.md, results.csv, per_song.csv and (with matplotlib) plots/; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    every_row = evaluation.rows + evaluation.reference_rows
    written = [write_markdown(out / "results.md", evaluation.rows, title, evaluation.notes, evaluation.per_song,
                              body_rows=every_row),
               write_csv(out / "results.csv", every_row)]
    written.append(_write_per_song_csv(out / "per_song.csv", evaluation.per_song))
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    bars = plot_metric_bars(plots / "metrics.png", evaluation.rows)
    if bars is None:
        warn("matplotlib is not installed: no plots written")
        return written
    written.append(bars)
    for index, song in enumerate(songs):
        velocities = {s.label: smoothed_kinetic_velocity(s.motions[index]) for s in sets}
        beats = {s.label: motion_beats(s.motions[index]) for s in sets}
        written.append(plot_beats(plots / f"beats_{file_safe_name(song.song_id)}.png", song.song_id,
                                  velocities, beats, song.beat_frames, FPS))
    return written


def _write_per_song_csv(path: Path, per_song: Sequence[dict]) -> Path:
    import csv

    keys = list(dict.fromkeys(k for entry in per_song for k in entry))
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, keys)
        writer.writeheader()
        writer.writerows(per_song)
    return path


def file_safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)

