"""Lyrics as the model sees them: token embeddings placed on the 30 FPS frame axis.

Per song, every line's tokens get a time: a word-timed token sits at the centre of the word it
belongs to; with line timing only, a line's tokens are spread evenly over the line (token i of
n at (i + 0.5) / n of the way through). Each line also has a sentence embedding, so a frame can
be given the line being sung over it. The model's windows take what falls inside them."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

import numpy as np

from lm2d.features import FPS
from lm2d.lyrics.encoder import TextEncoder
from lm2d.lyrics.segments import Lyrics, Segment
from lm2d.safe_write import write_npz


@dataclass
class SongLyricTokens:
    embeddings: np.ndarray         # (N, dim) float32, every token of every line, in time order
    frames: np.ndarray             # (N,) float32, token time in frames (time * FPS)
    line_index: np.ndarray         # (N,) int64, the line each token belongs to
    line_embeddings: np.ndarray    # (L, dim) float32, sentence embedding of each line
    line_start_frames: np.ndarray  # (L,) float32
    line_end_frames: np.ndarray    # (L,) float32

    @property
    def dim(self) -> int:
        return int(self.line_embeddings.shape[1])

    def save(self, path: str | os.PathLike) -> None:
        """Atomically (lm2d.safe_write), so a parallel reader never sees half a file."""
        write_npz(path, {item.name: getattr(self, item.name) for item in fields(self)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SongLyricTokens:
        with np.load(path) as data:
            return cls(**{item.name: data[item.name] for item in fields(cls)})


def encode_song_lyrics(lyrics: Lyrics, encoder: TextEncoder) -> SongLyricTokens:
    segments = lyrics.segments
    encodings = encoder.encode_lines([segment.text for segment in segments])
    times = [token_times(segment, encoding.spans) for segment, encoding in zip(segments, encodings)]
    dim = encoder.dim
    embeddings = np.concatenate([encoding.tokens for encoding in encodings] + [np.zeros((0, dim), np.float32)])
    token_times_all = np.concatenate(times + [np.zeros(0)])
    line_index = np.concatenate([np.full(len(t), i, np.int64) for i, t in enumerate(times)] + [np.zeros(0, np.int64)])
    order = np.argsort(token_times_all, kind="stable")
    return SongLyricTokens(
        embeddings=np.ascontiguousarray(embeddings[order], dtype=np.float32),
        frames=(token_times_all[order] * FPS).astype(np.float32),
        line_index=line_index[order],
        line_embeddings=np.stack([encoding.sentence for encoding in encodings]).astype(np.float32),
        line_start_frames=np.array([s.start * FPS for s in segments], np.float32),
        line_end_frames=np.array([s.end * FPS for s in segments], np.float32))


def token_times(segment: Segment, spans: np.ndarray) -> np.ndarray:
    """Seconds for each token of the line (spans: the tokens' character spans in segment.text)."""
    count = len(spans)
    if not segment.words:
        return segment.start + (segment.end - segment.start) * (np.arange(count) + 0.5) / max(count, 1)
    word_starts = _word_char_starts(segment)
    centres = np.array([(word.start + word.end) / 2 for word in segment.words])
    # A token belongs to the last word that starts at or before it.
    owner = np.clip(np.searchsorted(word_starts, spans[:, 0], side="right") - 1, 0, len(centres) - 1)
    return centres[owner]


def _word_char_starts(segment: Segment) -> np.ndarray:
    """Where each word starts in the line's text (words appear in it in order)."""
    starts, position = [], 0
    for word in segment.words:
        found = segment.text.find(word.text, position)
        starts.append(found if found >= 0 else position)
        position = starts[-1] + (len(word.text) if found >= 0 else 0)
    return np.array(starts)


def window_tokens(song: SongLyricTokens, start_frame: int, n_frames: int,
                  max_tokens: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens whose frame lies in [start_frame, start_frame + n_frames), padded to max_tokens:
    (embeddings (max_tokens, dim), frames relative to start_frame (max_tokens,), mask (max_tokens,)
    True for real tokens). When more tokens fall in the window than fit, an evenly spaced
    subsample in time order is kept (every k-th, so the whole window stays covered)."""
    inside = np.flatnonzero((song.frames >= start_frame) & (song.frames < start_frame + n_frames))
    if inside.size > max_tokens:
        inside = inside[np.round(np.linspace(0, inside.size - 1, max_tokens)).astype(np.int64)]
    embeddings = np.zeros((max_tokens, song.dim), np.float32)
    frames = np.zeros(max_tokens, np.float32)
    mask = np.zeros(max_tokens, bool)
    embeddings[: inside.size] = song.embeddings[inside]
    frames[: inside.size] = song.frames[inside] - start_frame
    mask[: inside.size] = True
    return embeddings, frames, mask


def line_embedding_per_frame(song: SongLyricTokens, start_frame: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The sentence embedding of the line sung at each frame of the window (n_frames, dim), and
    whether a line is active there (n_frames,); zeros where none is."""
    frame_numbers = np.arange(start_frame, start_frame + n_frames, dtype=np.float64)
    line = np.searchsorted(song.line_start_frames, frame_numbers, side="right") - 1
    active = line >= 0
    active[active] &= frame_numbers[active] < song.line_end_frames[line[active]]
    embeddings = np.zeros((n_frames, song.dim), np.float32)
    embeddings[active] = song.line_embeddings[line[active]]
    return embeddings, active
