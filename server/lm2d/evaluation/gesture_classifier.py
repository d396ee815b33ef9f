"""Lyric-gesture hit rate: does a dance perform the gesture its lyric calls for, when it is sung?

The corpus choreographer (lm2d.corpus.gestures) performs a gesture for every lyric keyword
("up" -> arms_up, "spin" -> spin ...) in the keyword's time window, and records each event
(gesture, start, end) in corpus.json. A small classifier learns to name the gesture in a motion
segment, or "none" for the base dance between gestures; a dance then scores one hit per keyword
event whose window the classifier labels with the keyword's gesture (docs/METRICS.md).

Segment features (SEGMENT_FRAMES samples spanning the window, whatever its length), per sample:
- the body pose: joint positions relative to the pelvis, turned so the pelvis faces -Y (72);
- where the pelvis went since the window started, in the heading it started with, heights kept
  (3), and how far the body has turned since (cos, sin: 2): jumps, crouches, spins and runs;
- each joint's speed (m/s) averaged over the sample's share of the window (24): a 2-second
  window sampled 32 times would alias a fast shake or wave, an average of speeds does not.
The classifier is a 1D convolution stack over those samples (mean- and max-pooled), trained with
class-balanced batches, jittered windows and left/right mirroring.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm2d.corpus.gestures import GESTURES, GestureEvent, gesture_events
from lm2d.errors import LM2DError
from lm2d.motion.skeleton import NUM_JOINTS, mirrored_joints
from lm2d.weights import load_described, save_described

NONE = "none"                          # label of a window without a gesture
SEGMENT_FRAMES = 32
FEATURE_DIM = NUM_JOINTS * 3 + 3 + 2 + NUM_JOINTS
PELVIS, LEFT_HIP, RIGHT_HIP = 0, 1, 2
NEGATIVE_MARGIN = 0.5                  # seconds a "none" window keeps clear of gesture windows (their ramps)
NEGATIVES_PER_EVENT = 2
MIN_NEGATIVES_PER_CLIP = 4             # clips with few or no gesture words still teach "none"
DEFAULT_WINDOW_SECONDS = (0.6, 2.5)    # "none" window lengths when a split has no events to copy
CHANCE_SHIFTS = 7                      # chance level: the dance rotated in time by 1/8 .. 7/8 of its length
JITTER = 0.15                          # training windows' ends move by up to this share of their length
FORMAT_VERSION = 1
KIND = "gesture_classifier"


Window = tuple[float, float]           # seconds


@dataclass(frozen=True)
class GestureClassifierConfig:
    labels: tuple[str, ...] = (NONE, *(gesture.name for gesture in GESTURES))
    frames: int = SEGMENT_FRAMES
    width: int = 64
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, path: str | os.PathLike | None = None) -> "GestureClassifierConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise LM2DError(f"unknown gesture classifier config keys: {', '.join(unknown)}", path=path)
        values = dict(values)
        if "labels" in values:
            values["labels"] = tuple(values["labels"])
        return cls(**values)


# --- segment features ---------------------------------------------------------------------------

def mirrored(joints: np.ndarray) -> np.ndarray:
    """The same dance reflected left to right (x negated, left and right joints swapped)."""
    return mirrored_joints(joints)


def heading_angles(joints: np.ndarray) -> np.ndarray:
    """(T,) angle about Z of the hip axis (right hip -> left hip), unwrapped over time; turning the
    body by minus this angle makes the pelvis face -Y (the rest pose's facing)."""
    hips = joints[:, LEFT_HIP, :2] - joints[:, RIGHT_HIP, :2]
    return np.unwrap(np.arctan2(hips[:, 1], hips[:, 0]))


def _turn(vectors: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors about Z by `angles` (broadcast over the leading axes)."""
    cos, sin = np.cos(angles), np.sin(angles)
    x, y = vectors[..., 0], vectors[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y, vectors[..., 2]], axis=-1)


def _interpolate(values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """values[(fractional) frames] by linear interpolation along axis 0, clamped to the clip."""
    frames = np.clip(frames, 0.0, len(values) - 1.0)
    low = np.floor(frames).astype(int)
    high = np.minimum(low + 1, len(values) - 1)
    weight = (frames - low).reshape(-1, *([1] * (values.ndim - 1)))
    return values[low] * (1.0 - weight) + values[high] * weight


def segment_features(joints: np.ndarray, windows: Sequence[Window], fps: float = 30.0,
                     frames: int = SEGMENT_FRAMES) -> np.ndarray:
    """(N, frames, FEATURE_DIM) float32 features of each [start, end] window (seconds) of a
    (T, 24, 3) motion (layout: the module docstring)."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) < 2:
        raise ValueError(f"expected (T >= 2, {NUM_JOINTS}, 3) joint positions, got {joints.shape}")
    heading = heading_angles(joints)
    speeds = np.linalg.norm(np.diff(joints, axis=0, prepend=joints[:1]), axis=-1) * fps
    # Integral of the speeds over frames, so any span's mean speed is a difference of two lookups.
    speed_integral = np.concatenate([np.zeros((1, NUM_JOINTS)), np.cumsum(speeds, axis=0)])
    out = np.zeros((len(windows), frames, FEATURE_DIM), dtype=np.float32)
    for index, (start, end) in enumerate(windows):
        times = np.linspace(start * fps, end * fps, frames)
        half = max(0.5, 0.5 * (end - start) * fps / max(frames - 1, 1))   # frames each sample stands for / 2
        positions = _interpolate(joints, times)
        angles = _interpolate(heading, times)
        pelvis = positions[:, PELVIS]
        pose = _turn(positions - pelvis[:, None], -angles[:, None])
        anchor = pelvis[0] * np.array([1.0, 1.0, 0.0])
        path = _turn(pelvis - anchor, -angles[0])
        turned = angles - angles[0]
        mean_speed = (_interpolate(speed_integral, times + half + 0.5) -
                      _interpolate(speed_integral, times - half + 0.5)) / (2 * half)
        out[index] = np.concatenate([pose.reshape(frames, -1), path, np.cos(turned)[:, None],
                                     np.sin(turned)[:, None], mean_speed], axis=1)
    return out


# --- model ----------------------------------------------------------------------------------------

class GestureClassifier(nn.Module):
    """Features (B, frames, FEATURE_DIM) -> logits over config.labels. The features' training
    mean and spread are buffers, so a saved classifier normalises its inputs by itself."""

    def __init__(self, config: GestureClassifierConfig):
        super().__init__()
        self.config = config
        width = config.width
        self.register_buffer("feature_mean", torch.zeros(FEATURE_DIM))
        self.register_buffer("feature_std", torch.ones(FEATURE_DIM))
        self.convolutions = nn.Sequential(
            nn.Conv1d(FEATURE_DIM, width, 1), nn.GELU(),      # per-sample projection: cheap on 101 channels
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
        )
        self.output = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * width, len(config.labels)))

    def fit_normalisation(self, features: Tensor) -> None:
        flat = features.reshape(-1, FEATURE_DIM)
        self.feature_mean.copy_(flat.mean(dim=0))
        self.feature_std.copy_(flat.std(dim=0).clamp(min=1e-3))

    def forward(self, features: Tensor) -> Tensor:
        normalised = (features - self.feature_mean) / self.feature_std
        hidden = self.convolutions(normalised.transpose(1, 2))
        return self.output(torch.cat([hidden.mean(dim=-1), hidden.amax(dim=-1)], dim=-1))


@torch.no_grad()
def predict_labels(classifier: GestureClassifier, features: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """(N,) label indices (into classifier.config.labels) for (N, frames, FEATURE_DIM) features."""
    classifier.eval()
    out = [classifier(torch.from_numpy(np.ascontiguousarray(features[i:i + batch_size], np.float32))).argmax(-1)
           for i in range(0, len(features), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def predict_gestures(classifier: GestureClassifier, joints: np.ndarray, windows: Sequence[Window],
                     fps: float = 30.0) -> list[str]:
    """The gesture (or "none") the classifier sees in each window of a (T, 24, 3) motion."""
    if not windows:
        return []
    labels = classifier.config.labels
    features = segment_features(joints, windows, fps, classifier.config.frames)
    return [labels[i] for i in predict_labels(classifier, features)]


# --- hit rate -------------------------------------------------------------------------------------

def gesture_hits(classifier: GestureClassifier, joints: np.ndarray, events: Sequence[GestureEvent],
                 fps: float = 30.0) -> np.ndarray:
    """(E,) bool: whether the motion performs each event's gesture in the event's window."""
    unknown = sorted({e.gesture for e in events} - set(classifier.config.labels))
    if unknown:
        raise LM2DError(f"the gesture classifier does not know the gesture(s) {', '.join(unknown)}: "
                        f"train it on a corpus with them (lm2d train-gesture-classifier)")
    predicted = predict_gestures(classifier, joints, [(e.start, e.end) for e in events], fps)
    return np.array([p == e.gesture for p, e in zip(predicted, events)], dtype=bool)


def lyric_gesture_hit_rate(classifier: GestureClassifier, motion, events: Sequence[GestureEvent],
                           fps: float = 30.0) -> float:
    """Share of the lyric keyword events whose gesture the motion (an lm2d Motion or (T, 24, 3)
    joint positions) performs in the keyword's window; NaN without events."""
    joints = motion.joints() if hasattr(motion, "joints") else motion
    return pooled_hit_rate(classifier, [joints], [events], fps)


def pooled_hit_rate(classifier: GestureClassifier, motions: Sequence[np.ndarray],
                    events_per_motion: Sequence[Sequence[GestureEvent]], fps: float = 30.0) -> float:
    """Hits over all events of several motions (each event counts once; NaN without events)."""
    hits = [gesture_hits(classifier, joints, events, fps) for joints, events in zip(motions, events_per_motion)]
    hits = np.concatenate(hits) if hits else np.zeros(0, bool)
    return float(hits.mean()) if len(hits) else float("nan")


def time_shifted(joints: np.ndarray, seconds: float, fps: float = 30.0) -> np.ndarray:
    """The motion rotated in time by `seconds` (what was at t is at t + seconds, wrapping around):
    the same dance, out of step with its lyrics."""
    return np.roll(joints, int(round(seconds * fps)), axis=0)


def chance_hit_rate(classifier: GestureClassifier, motions: Sequence[np.ndarray],
                    events_per_motion: Sequence[Sequence[GestureEvent]], shifts: int = CHANCE_SHIFTS,
                    fps: float = 30.0) -> float:
    """The hit rate of the dances out of step with their lyrics: the mean over each motion rotated
    in time by k/(shifts+1) of its length, k = 1..shifts. Not a single shift: a chorus repeating a
    keyword every few seconds ("run, run, run") would make one shift land on the next event."""
    rates = [pooled_hit_rate(classifier, [time_shifted(joints, k * len(joints) / fps / (shifts + 1), fps)
                                          for joints in motions], events_per_motion, fps)
             for k in range(1, shifts + 1)]
    return float(np.mean(rates))


# --- gesture events of a dataset ------------------------------------------------------------------

def corpus_gesture_events(root: str | os.PathLike) -> dict[str, list[GestureEvent]] | None:
    """clip id -> the gesture events its dance performs, from ROOT/corpus.json (None without it)."""
    path = Path(root) / "corpus.json"
    if not path.is_file():
        return None
    try:
        clips = json.loads(path.read_text(encoding="utf-8")).get("clips", [])
        return {clip["id"]: [GestureEvent(**event) for event in clip.get("gesture_events", [])] for clip in clips}
    except json.JSONDecodeError as err:
        raise LM2DError(f"not valid JSON: {err.msg}", path=path, line=err.lineno) from err
    except (AttributeError, KeyError, TypeError) as err:
        raise LM2DError(f"not a corpus description (clips with id and gesture_events expected): {err}",
                        path=path) from err


def split_gesture_events(root: str | os.PathLike, split: str) -> dict[str, list[GestureEvent]]:
    """clip id -> lyric gesture events for every clip of a split: corpus.json's record when the
    dataset has one, else keyword_of over the clip's lyric words (lm2d.corpus.gesture_events, the
    rule the choreographer follows); a clip without lyrics has none."""
    from lm2d.lyrics import load_lyrics
    from lm2d.song import Song
    from lm2d.train.dataset import find_clips

    recorded = corpus_gesture_events(root) or {}
    events = {}
    for files in find_clips(root, split):
        if files.clip_id in recorded:
            events[files.clip_id] = recorded[files.clip_id]
        elif files.lyrics is not None:
            song = Song(files.audio)
            events[files.clip_id] = gesture_events(load_lyrics(files.lyrics, song), song.duration)
        else:
            events[files.clip_id] = []
    return events


# --- training examples ----------------------------------------------------------------------------

@dataclass
class GestureExamples:
    features: np.ndarray             # (N, frames, FEATURE_DIM) float32
    labels: np.ndarray               # (N,) int64, indices into the config's labels

    @classmethod
    def concatenate(cls, parts: Sequence["GestureExamples"], frames: int = SEGMENT_FRAMES) -> "GestureExamples":
        if not parts:
            return cls(np.zeros((0, frames, FEATURE_DIM), np.float32), np.zeros(0, np.int64))
        return cls(np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts]))


def none_windows(events: Sequence[GestureEvent], duration: float, count: int, lengths: Sequence[float],
                 rng: np.random.Generator) -> list[Window]:
    """Up to `count` windows with lengths drawn from `lengths` that keep NEGATIVE_MARGIN clear of
    every gesture window: the base dance, where no lyric asks for anything."""
    busy = [(e.start - NEGATIVE_MARGIN, e.end + NEGATIVE_MARGIN) for e in events]
    windows: list[Window] = []
    for _ in range(20 * count):
        if len(windows) == count:
            break
        length = float(rng.choice(lengths))
        if length >= duration:
            continue
        start = float(rng.uniform(0.0, duration - length))
        if all(start + length <= low or start >= high for low, high in busy):
            windows.append((start, start + length))
    return windows


def _jittered(window: Window, rng: np.random.Generator, amount: float) -> Window:
    start, end = window
    shift = rng.uniform(-amount, amount, size=2) * (end - start)
    return (start + shift[0], max(start + shift[0] + 0.1, end + shift[1]))


def clip_examples(joints: np.ndarray, events: Sequence[GestureEvent], labels: Sequence[str],
                  lengths: Sequence[float], rng: np.random.Generator, fps: float = 30.0,
                  frames: int = SEGMENT_FRAMES, copies: int = 1, jitter: float = 0.0,
                  mirror: bool = False) -> GestureExamples:
    """Every gesture event of one clip and NEGATIVES_PER_EVENT "none" windows per event (at least
    MIN_NEGATIVES_PER_CLIP); `copies` draws of them, each window's ends jittered by up to `jitter`
    of its length; `mirror` adds the left-right mirrored dance on the same windows."""
    index = {label: i for i, label in enumerate(labels)}
    duration = len(joints) / fps
    windows: list[Window] = []
    targets: list[int] = []
    for _ in range(copies):
        for event in events:
            windows.append(_jittered((event.start, event.end), rng, jitter) if jitter else (event.start, event.end))
            targets.append(index[event.gesture])
        count = max(MIN_NEGATIVES_PER_CLIP, NEGATIVES_PER_EVENT * len(events))
        for window in none_windows(events, duration, count, lengths, rng):
            windows.append(window)
            targets.append(index[NONE])
    features = segment_features(joints, windows, fps, frames)
    if mirror:
        features = np.concatenate([features, segment_features(mirrored(joints), windows, fps, frames)])
        targets = targets * 2
    return GestureExamples(features, np.array(targets, dtype=np.int64))


def split_motions(root: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """clip id -> (T, 24, 3) joint positions at 30 FPS of every clip of a split (motion only:
    no audio features are computed)."""
    from lm2d.motion.io import load_motion
    from lm2d.train.dataset import find_clips

    return {files.clip_id: load_motion(files.motion).joints() for files in find_clips(root, split)}


def split_examples(root: str | os.PathLike, split: str, labels: Sequence[str], seed: int = 0,
                   augment: bool = False, copies: int = 8) -> GestureExamples:
    """Examples of every clip of a split. augment: `copies` jittered draws of each clip's windows
    and the mirrored dances (training); else each event once and fixed "none" windows (held-out
    scores, the same for a seed)."""
    events_by_clip = split_gesture_events(root, split)
    unknown = sorted({e.gesture for events in events_by_clip.values() for e in events} - set(labels))
    if unknown:
        raise LM2DError(f"the {split!r} split has gestures the classifier's labels lack: {', '.join(unknown)}",
                        path=root)
    lengths = [e.end - e.start for events in events_by_clip.values() for e in events]
    lengths = lengths or list(np.linspace(*DEFAULT_WINDOW_SECONDS, 8))
    rng = np.random.default_rng([seed, 4242])
    parts = [clip_examples(joints, events_by_clip.get(clip_id, []), labels, lengths, rng,
                           copies=copies if augment else 1, jitter=JITTER if augment else 0.0, mirror=augment)
             for clip_id, joints in split_motions(root, split).items()]
    return GestureExamples.concatenate(parts)


# --- training and scores --------------------------------------------------------------------------

def train_gesture_classifier(examples: GestureExamples, config: GestureClassifierConfig, steps: int = 1500,
                             batch_size: int = 128, learning_rate: float = 2e-3, seed: int = 0,
                             log: Callable[[int, float], None] | None = None) -> GestureClassifier:
    """Train on the CPU in seconds; every label is drawn equally often ("none" windows outnumber
    any one gesture). Deterministic for a seed (which also seeds torch's global generator)."""
    present = np.bincount(examples.labels, minlength=len(config.labels))
    if np.count_nonzero(present) < 2:
        raise LM2DError(f"the gesture classifier needs examples of at least 2 labels, got "
                        f"{np.count_nonzero(present)} ({len(examples.labels)} examples)")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    classifier = GestureClassifier(config)
    features = torch.from_numpy(np.ascontiguousarray(examples.features, dtype=np.float32))
    labels = torch.from_numpy(examples.labels)
    classifier.fit_normalisation(features)
    weights = torch.from_numpy(1.0 / present[examples.labels]).float()
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    classifier.train()
    for step in range(1, steps + 1):
        batch = torch.multinomial(weights, batch_size, replacement=True, generator=generator)
        loss = F.cross_entropy(classifier(features[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log is not None:
            log(step, loss.item())
    return classifier.eval()


def classifier_scores(classifier: GestureClassifier, examples: GestureExamples) -> dict:
    """Accuracy over all windows, over the gesture events alone (the ground truth's hit rate on
    them), per gesture, and the "none" windows' false-positive rate (labelled some gesture)."""
    labels = classifier.config.labels
    predicted = predict_labels(classifier, examples.features)
    truth = examples.labels
    gesture = truth != labels.index(NONE)

    def share(mask: np.ndarray, values: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else float("nan")

    correct = predicted == truth
    return {"windows": int(len(truth)), "accuracy": share(np.ones_like(gesture), correct),
            "events": int(gesture.sum()), "event_accuracy": share(gesture, correct),
            "none_windows": int((~gesture).sum()),
            "none_false_positive_rate": share(~gesture, predicted != labels.index(NONE)),
            "per_gesture": {labels[i]: {"events": int((truth == i).sum()), "accuracy": share(truth == i, correct)}
                            for i in sorted(set(truth[gesture].tolist()))}}


# --- saving -----------------------------------------------------------------------------------------

def save_gesture_classifier(classifier: GestureClassifier, path: str | os.PathLike, notes: dict | None = None) -> Path:
    """Write PATH.safetensors (weights, feature normalisation) and PATH.json (config with the
    label list, notes); returns the weights path."""
    return save_described(classifier, path, KIND, classifier.config.to_dict(), FORMAT_VERSION, notes)


def load_gesture_classifier(path: str | os.PathLike) -> GestureClassifier:
    return load_described(path, KIND, "gesture classifier", lambda config, meta_path: GestureClassifier(
        GestureClassifierConfig.from_dict(config, meta_path)))
