"""Repeated parts of a song from its music alone: beat-synchronous chroma + MFCC, boundaries where
a checkerboard kernel sees the most novelty in the beats' self-similarity (Foote 2000), then
segments grouped by how alike their beat sequences are (each beat stacked with the bar before it,
librosa.feature.stack_memory, so repeated *sequences* match rather than single similar beats).

Everything runs on the song's 35 music features (lm2d.features, cached per song), so a map costs
no audio decoding: a few matrices over a few hundred beats.
"""
from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from scipy.ndimage import uniform_filter1d

from lm2d.features import BEAT_COLUMN, CHROMA_COLUMNS, FPS, MFCC_COLUMNS, N_CHROMA

COARSE_KERNEL_BEATS = 16    # half-width of the kernel that finds sections: four bars of 4/4
FINE_KERNEL_BEATS = 4       # half-width of the kernel that places a boundary: one bar
MIN_SECTION_BEATS = 16      # shorter stretches are not sections (and boundaries are at least this far apart)
GROUP_SIMILARITY = 0.7      # correlation of two segments' beat sequences above which they are one part
LENGTH_RATIO = 0.6          # a repeat is at least this fraction of the other occurrence's length
FALLBACK_BEAT_SECONDS = 0.5  # a grid for songs whose beats were not tracked


@dataclass(frozen=True)
class MusicSegments:
    edges: np.ndarray         # (B + 1,) frame of each beat-unit edge: 0, the beats, the song's end
    boundaries: list[int]     # indices into edges: where sections start (0 first), then len(edges) - 1
    groups: list[int]         # per section: the index of the repeated part it plays (first seen = 0)
    similarity: np.ndarray    # (S, S) segment-to-segment similarity, for merging with lyrics


def beat_edges(features: np.ndarray) -> np.ndarray:
    """Frame edges of the beat units: 0, every tracked beat, the last frame; a 0.5 s grid when the
    song has too few beats to structure."""
    n_frames = len(features)
    beats = np.flatnonzero(features[:, BEAT_COLUMN] > 0.5)
    if len(beats) < 2 * MIN_SECTION_BEATS:
        beats = np.arange(0, n_frames, int(FALLBACK_BEAT_SECONDS * FPS))
    return np.unique(np.concatenate([[0], beats, [n_frames]]))


def beat_features(features: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(d, B) per beat unit: chroma (CENS, unit norm) and z-scored MFCCs, each block weighted equally."""
    chroma = librosa.util.sync(features[:, CHROMA_COLUMNS].T, edges, aggregate=np.median, pad=False)
    mfcc = librosa.util.sync(features[:, MFCC_COLUMNS].T, edges, aggregate=np.mean, pad=False)
    mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-6)
    chroma = librosa.util.normalize(chroma, axis=0)
    return np.vstack([chroma, mfcc / np.sqrt(mfcc.shape[0])]).astype(np.float64)


def novelty(similarity: np.ndarray, half_width: int) -> np.ndarray:
    """Foote's checkerboard novelty along the diagonal of a (B, B) similarity matrix."""
    size = 2 * half_width
    sign = np.sign(np.arange(size) - half_width + 0.5)
    taper = np.exp(-0.5 * ((np.arange(size) - half_width + 0.5) / (0.5 * half_width)) ** 2)
    kernel = np.outer(sign * taper, sign * taper)
    padded = np.pad(similarity, half_width, mode="constant")
    count = len(similarity)
    values = np.maximum([(padded[i:i + size, i:i + size] * kernel).sum() for i in range(count)], 0.0)
    peak = values.max(initial=0.0)
    return values / peak if peak > 0 else values


def pick_boundaries(curve: np.ndarray, min_gap: int = MIN_SECTION_BEATS) -> list[int]:
    """Beat indices where sections start: peaks of the novelty curve above its median plus half a
    standard deviation, strongest first, at least min_gap beats from each other and the ends."""
    count = len(curve)
    threshold = np.median(curve) + 0.5 * curve.std()
    chosen: list[int] = []
    for index in np.argsort(-curve):
        if curve[index] <= threshold:
            break
        if min_gap <= index <= count - min_gap and all(abs(index - other) >= min_gap for other in chosen):
            chosen.append(int(index))
    return [0, *sorted(chosen), count]


def segment_similarity(x: np.ndarray, bounds: list[int]) -> np.ndarray:
    """(S, S) correlation of two segments' beat sequences over the beats they share from their
    starts (a repeat may run a bar longer or shorter); 0 when one is less than LENGTH_RATIO of
    the other."""
    lengths = np.diff(bounds)
    count = len(lengths)
    similarity = np.eye(count)
    for i in range(count):
        for j in range(i):
            shared = min(lengths[i], lengths[j])
            if shared < LENGTH_RATIO * max(lengths[i], lengths[j]):
                continue
            first = x[:, bounds[i]:bounds[i] + shared].ravel()
            second = x[:, bounds[j]:bounds[j] + shared].ravel()
            similarity[i, j] = similarity[j, i] = np.corrcoef(first, second)[0, 1]
    return similarity


def group_segments(similarity: np.ndarray, threshold: float = GROUP_SIMILARITY) -> list[int]:
    """Each segment joins the part of the earlier segment it is most like (above threshold),
    otherwise it starts a new part; parts are numbered in order of first appearance."""
    groups: list[int] = []
    for index in range(len(similarity)):
        earlier = similarity[index, :index]
        if index and earlier.max() > threshold:
            groups.append(groups[int(earlier.argmax())])
        else:
            groups.append(max(groups, default=-1) + 1)
    return groups


def music_segments(features: np.ndarray) -> MusicSegments:
    """Sections of a song from its (T, 35) music features (lm2d.features): boundaries found coarse
    (a section-long kernel over bar-smoothed timbre) and placed fine (a one-bar kernel over the
    beats' own timbre, within a bar of the coarse one), then grouped by chroma + timbre."""
    edges = beat_edges(features)
    x = beat_features(features, edges)
    timbre = x[N_CHROMA:]
    smoothed = uniform_filter1d(timbre, 3, axis=1)
    coarse = novelty(_cosine_similarity(smoothed), COARSE_KERNEL_BEATS)
    fine = novelty(-np.abs(timbre.T[:, None, :] - timbre.T[None, :, :]).sum(axis=-1), FINE_KERNEL_BEATS)
    bounds = pick_boundaries(coarse)
    inner = [max(range(bound - FINE_KERNEL_BEATS, bound + FINE_KERNEL_BEATS + 1), key=lambda i: fine[i])
             for bound in bounds[1:-1]]
    bounds = [0, *sorted(set(inner)), bounds[-1]]
    similarity = segment_similarity(_recurrence_features(x), bounds)
    return MusicSegments(edges, bounds, group_segments(similarity), similarity)


def _recurrence_features(x: np.ndarray) -> np.ndarray:
    """Each beat with the three before it (librosa.feature.stack_memory), so that comparing two
    segments compares bars of harmony and rhythm rather than single beats."""
    return librosa.feature.stack_memory(x, n_steps=4, mode="edge")


def _cosine_similarity(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=0)
    return centred.T @ centred / (norms[:, None] * norms[None, :] + 1e-9)
