"""Semantic matching between dance and lyrics: a small motion encoder trained CLIP-style against
frozen lyric sentence embeddings, and the scores computed with it.

The paper reports a "semantic matching score" without defining it (REFERENCE.md). This is the
documented stand-in (docs/METRICS.md): 5-second windows of joint positions are encoded by a 1D
convolution stack; the lyric text sung in the window is embedded by lm2d's frozen sentence
encoder and projected by a small MLP; both land on the unit sphere of a shared space, trained with
a symmetric InfoNCE loss and a learned temperature. Windows whose lyric is the same text are all
positives of each other (choruses repeat), not negatives.

Scores: mean cosine similarity between each window's motion embedding and its lyric's, and
R-precision top-1 / top-3 with 32 candidates (the true lyric and 31 other lyric texts of the
evaluated set, drawn with a fixed seed).
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm2d.errors import LM2DError
from lm2d.motion.io import LyricLine
from lm2d.motion.skeleton import NUM_JOINTS
from lm2d.weights import load_described, save_described

WINDOW_FRAMES = 150                 # 5 s at 30 FPS, the denoiser's window
CANDIDATES = 32                     # R-precision: the true lyric + 31 others
INITIAL_TEMPERATURE = 0.07          # CLIP's
STEP_SCALE = 10.0                   # per-frame displacements are ~cm: scaled towards the positions' range
MAX_LOGIT_SCALE = 100.0             # CLIP clamps exp(logit_scale) here
FORMAT_VERSION = 1
KIND = "semantic_matcher"


@dataclass(frozen=True)
class MatcherConfig:
    window_frames: int = WINDOW_FRAMES
    text_dim: int = 384              # the sentence encoder's width (all-MiniLM-L6-v2)
    width: int = 128
    embed_dim: int = 128
    fps: float = 30.0
    text_encoder: str = ""           # which sentence encoder produced the training embeddings

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, path: str | os.PathLike | None = None) -> "MatcherConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise LM2DError(f"unknown matcher config keys: {', '.join(unknown)}", path=path)
        return cls(**values)


# --- lyric windows ------------------------------------------------------------------------------

def active_lyric(lines: Sequence[LyricLine], start: float, end: float) -> str:
    """Text sung in [start, end) seconds: the lines overlapping it by at least half of the line or
    half of the window, in order, joined by spaces ("" when none)."""
    half_window = (end - start) / 2
    texts = []
    for line_start, line_end, text in sorted(lines):
        overlap = min(end, line_end) - max(start, line_start)
        if text.strip() and overlap > 0 and (overlap >= (line_end - line_start) / 2 or overlap >= half_window):
            texts.append(text.strip())
    return " ".join(texts)


def lyric_windows(lines: Sequence[LyricLine], n_frames: int, stride: int,
                  window: int = WINDOW_FRAMES, fps: float = 30.0) -> list[tuple[int, str]]:
    """(start frame, lyric text) of every full window with a lyric; windows without one are skipped."""
    out = []
    for start in range(0, n_frames - window + 1, stride):
        text = active_lyric(lines, start / fps, (start + window) / fps)
        if text:
            out.append((start, text))
    return out


# --- model ----------------------------------------------------------------------------------------

def motion_inputs(windows: Tensor) -> Tensor:
    """(B, W, 24, 3) joint positions -> (B, 144, W) channels: positions relative to the pelvis's
    ground position in the window's first frame (where the dancer stands is irrelevant to the
    lyric; heights are kept), and per-frame displacements (how the body moves)."""
    anchor = windows[:, :1, :1, :].clone()
    anchor[..., 2] = 0.0
    positions = (windows - anchor).flatten(2)
    steps = torch.diff(positions, dim=1, prepend=positions[:, :1])
    return torch.cat([positions, steps * STEP_SCALE], dim=-1).transpose(1, 2)


class MotionEncoder(nn.Module):
    """Three stride-2 1D convolutions over time (150 frames -> 19 steps), then mean- and
    max-pooling over time, then a linear map."""

    def __init__(self, width: int, embed_dim: int):
        super().__init__()
        channels = 2 * NUM_JOINTS * 3
        self.convolutions = nn.Sequential(
            nn.Conv1d(channels, width, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
        )
        self.output = nn.Linear(2 * width, embed_dim)

    def forward(self, windows: Tensor) -> Tensor:
        hidden = self.convolutions(motion_inputs(windows))
        return self.output(torch.cat([hidden.mean(dim=-1), hidden.amax(dim=-1)], dim=-1))


class SemanticMatcher(nn.Module):
    def __init__(self, config: MatcherConfig):
        super().__init__()
        self.config = config
        self.motion_encoder = MotionEncoder(config.width, config.embed_dim)
        self.text_projection = nn.Sequential(nn.Linear(config.text_dim, config.width), nn.GELU(),
                                             nn.Linear(config.width, config.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / INITIAL_TEMPERATURE)))

    def embed_motion(self, windows: Tensor) -> Tensor:
        """(B, W, 24, 3) joint positions -> (B, E) unit vectors."""
        return F.normalize(self.motion_encoder(windows), dim=-1)

    def embed_text(self, sentence_embeddings: Tensor) -> Tensor:
        """(B, text_dim) frozen sentence embeddings -> (B, E) unit vectors."""
        return F.normalize(self.text_projection(sentence_embeddings), dim=-1)

    def contrastive_loss(self, windows: Tensor, sentence_embeddings: Tensor, text_ids: Tensor) -> Tensor:
        """Symmetric InfoNCE; every pair with the same text id is a positive (soft targets)."""
        motion = self.embed_motion(windows)
        text = self.embed_text(sentence_embeddings)
        logits = self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE) * motion @ text.T
        same = (text_ids[:, None] == text_ids[None, :]).float()
        targets = same / same.sum(dim=1, keepdim=True)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


# --- training -----------------------------------------------------------------------------------

@dataclass
class MatcherExamples:
    """Training or evaluation windows: joint positions and the lyric text of each."""
    windows: np.ndarray              # (N, W, 24, 3) float32
    texts: list[str]

    def __post_init__(self):
        if len(self.windows) != len(self.texts):
            raise ValueError(f"{len(self.windows)} windows but {len(self.texts)} texts")


def examples_from_song(joints: np.ndarray, lines: Sequence[LyricLine], stride: int,
                       window: int = WINDOW_FRAMES, fps: float = 30.0) -> MatcherExamples:
    found = lyric_windows(lines, len(joints), stride, window, fps)
    windows = np.stack([joints[s:s + window] for s, _ in found]) if found else np.zeros((0, window, NUM_JOINTS, 3))
    return MatcherExamples(windows.astype(np.float32), [text for _, text in found])


def concatenate_examples(parts: Sequence[MatcherExamples], window: int = WINDOW_FRAMES) -> MatcherExamples:
    windows = [p.windows for p in parts if len(p.texts)]
    return MatcherExamples(np.concatenate(windows) if windows else np.zeros((0, window, NUM_JOINTS, 3), np.float32),
                           [t for p in parts for t in p.texts])


def shuffled_in_time(examples: MatcherExamples, group_sizes: Sequence[int], seed: int = 0) -> MatcherExamples:
    """The same lyric windows with each group's (song's) motion windows rotated by a random
    non-zero offset: every window moves to another time of its song (the chance-level baseline)."""
    if sum(group_sizes) != len(examples.texts):
        raise ValueError(f"group sizes add up to {sum(group_sizes)}, not {len(examples.texts)} windows")
    rng = np.random.default_rng(seed)
    order, first = [], 0
    for size in group_sizes:
        offset = int(rng.integers(1, size)) if size > 1 else 0
        order += list(first + np.roll(np.arange(size), offset))
        first += size
    return MatcherExamples(examples.windows[order], list(examples.texts))


def encode_texts(texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> dict[str, np.ndarray]:
    """Sentence embedding of each distinct text, via the frozen encoder `encode`."""
    distinct = sorted(set(texts))
    if not distinct:
        return {}
    return dict(zip(distinct, np.asarray(encode(distinct), dtype=np.float32)))


def train_matcher(examples: MatcherExamples, text_vectors: dict[str, np.ndarray], config: MatcherConfig,
                  steps: int = 2000, batch_size: int = 64, learning_rate: float = 1e-3, seed: int = 0,
                  log: Callable[[int, float], None] | None = None) -> SemanticMatcher:
    """Train on the CPU (a small model: seconds to minutes); deterministic for a seed (which also
    seeds torch's global generator, for the initial weights)."""
    if len(set(examples.texts)) < 2:
        raise LM2DError(f"the semantic matcher needs windows with at least 2 different lyric texts, "
                        f"got {len(set(examples.texts))}")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    matcher = SemanticMatcher(config)
    optimizer = torch.optim.AdamW(matcher.parameters(), lr=learning_rate, weight_decay=0.01)
    windows = torch.from_numpy(np.ascontiguousarray(examples.windows, dtype=np.float32))
    ids = {text: i for i, text in enumerate(sorted(text_vectors))}
    text_ids = torch.tensor([ids[t] for t in examples.texts])
    sentences = torch.from_numpy(np.stack([text_vectors[t] for t in examples.texts]).astype(np.float32))
    matcher.train()
    for step in range(1, steps + 1):
        batch = torch.randperm(len(windows), generator=generator)[:batch_size]
        loss = matcher.contrastive_loss(windows[batch], sentences[batch], text_ids[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log is not None:
            log(step, loss.item())
    return matcher.eval()


# --- saving -----------------------------------------------------------------------------------------

def save_matcher(matcher: SemanticMatcher, path: str | os.PathLike, notes: dict | None = None) -> Path:
    """Write PATH.safetensors (weights) and PATH.json (config, notes); returns the weights path."""
    return save_described(matcher, path, KIND, matcher.config.to_dict(), FORMAT_VERSION, notes)


def load_matcher(path: str | os.PathLike) -> SemanticMatcher:
    return load_described(path, KIND, "semantic matcher",
                          lambda config, meta_path: SemanticMatcher(MatcherConfig.from_dict(config, meta_path)))


# --- scores ---------------------------------------------------------------------------------------

@torch.no_grad()
def embed_windows(matcher: SemanticMatcher, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    out = [matcher.embed_motion(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch_size], np.float32)))
           for i in range(0, len(windows), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, matcher.config.embed_dim), np.float32)


@torch.no_grad()
def embed_texts(matcher: SemanticMatcher, text_vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = sorted(text_vectors)
    if not names:
        return {}
    projected = matcher.embed_text(torch.from_numpy(np.stack([text_vectors[n] for n in names]).astype(np.float32)))
    return dict(zip(names, projected.numpy()))


def semantic_scores(matcher: SemanticMatcher, examples: MatcherExamples, text_vectors: dict[str, np.ndarray],
                    candidates: int = CANDIDATES, seed: int = 0) -> dict[str, float]:
    """Mean cosine(motion, its lyric) and R-precision top-1/top-3 among `candidates` lyric texts:
    the true one plus others drawn from all texts in `text_vectors` (the evaluated set) with a
    fixed seed, so two motions scored against the same windows see the same candidates. With
    fewer distinct texts than candidates, all of them are used ("candidates" in the result)."""
    if not examples.texts:
        return {"cosine": float("nan"), "top1": float("nan"), "top3": float("nan"), "windows": 0, "candidates": 0}
    motion = embed_windows(matcher, examples.windows)
    lyric = embed_texts(matcher, text_vectors)
    pool = sorted(lyric)
    pool_matrix = np.stack([lyric[t] for t in pool])
    index = {t: i for i, t in enumerate(pool)}
    rng = np.random.default_rng(seed)
    n_others = min(candidates - 1, len(pool) - 1)
    cosines, top1, top3 = [], [], []
    for vector, text in zip(motion, examples.texts):
        true = index[text]
        others = rng.choice(np.delete(np.arange(len(pool)), true), size=n_others, replace=False)
        similarity = pool_matrix[np.concatenate([[true], others])] @ vector
        rank = int(np.sum(similarity[1:] > similarity[0]))   # ties count in the true lyric's favour
        cosines.append(similarity[0])
        top1.append(rank < 1)
        top3.append(rank < 3)
    return {"cosine": float(np.mean(cosines)), "top1": float(np.mean(top1)), "top3": float(np.mean(top3)),
            "windows": len(cosines), "candidates": n_others + 1}
