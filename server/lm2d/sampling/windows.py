"""Songs of any length from a window model (EDGE's long-form sampling): the window layout.

The song is cut into windows of n_frames with stride n_frames // 2. All windows are denoised
together as one batch; after every denoising step the head of window i+1 is overwritten with the
tail of window i, so neighbours agree on their overlap as the noise falls. At the end each overlap
is blended (root translation linearly, joint rotations by slerp) and the result is cropped to the
song's exact frame count.

The last window usually runs past the song end. Its music is mirror-padded (np.pad "symmetric"):
the padded frames look like music of the same song (same tempo, timbre, loudness) rather than
silence, so the cropped-away tail does not pull the real frames towards a stop. The padded
frames carry no lyric tokens. A song shorter than one window is a single padded window.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from lm2d.errors import LM2DError
from lm2d.lyrics.tokens import SongLyricTokens, window_tokens
from lm2d.model.config import ModelConfig
from lm2d.model.diffusion import Conditioning
from lm2d.motion.representation import FPS, Motion, motion_vector_to_parts
from lm2d.motion.rotation import matrix_to_quaternion, quaternion_to_matrix, slerp


def window_starts(length: int, window: int) -> list[int]:
    """First frame of each window covering `length` frames with stride window // 2."""
    stride = window // 2
    count = 1 if length <= window else math.ceil((length - window) / stride) + 1
    return [index * stride for index in range(count)]


def split_windows(features: np.ndarray, window: int) -> np.ndarray:
    """(T, F) per-frame features -> (W, window, F) overlapping windows, the tail mirror-padded."""
    length = features.shape[0]
    starts = window_starts(length, window)
    covered = starts[-1] + window
    padded = np.pad(features, ((0, covered - length), (0, 0)), mode="symmetric")
    return np.stack([padded[start:start + window] for start in starts])


def stitch_windows(windows, length: int | None = None, fps: float = FPS) -> Motion:
    """(W, n, 147) unnormalised motion windows laid out by `window_starts` -> one Motion,
    cropped to `length` frames (default: everything covered). Over each overlap the later window
    takes over with a linear ramp from 0 (first overlap frame: the earlier window exactly) to 1
    (last: the later window exactly): root translation is lerped, rotations slerped."""
    windows = torch.as_tensor(windows, dtype=torch.float64)
    count, window, _ = windows.shape
    stride = window // 2
    overlap = window - stride
    root, rotmats = motion_vector_to_parts(windows)
    quaternions = matrix_to_quaternion(rotmats)
    ramp = torch.linspace(0.0, 1.0, overlap, dtype=torch.float64) if overlap > 1 else torch.ones(1)

    covered = (count - 1) * stride + window
    out_root = torch.zeros(covered, 3, dtype=torch.float64)
    out_quat = torch.zeros(covered, *quaternions.shape[2:], dtype=torch.float64)
    out_root[:window], out_quat[:window] = root[0], quaternions[0]
    for index in range(1, count):
        start = index * stride
        blend = slice(start, start + overlap)
        out_root[blend] = torch.lerp(out_root[blend], root[index, :overlap], ramp[:, None])
        out_quat[blend] = slerp(out_quat[blend], quaternions[index, :overlap], ramp[:, None])
        out_root[start + overlap:start + window] = root[index, overlap:]
        out_quat[start + overlap:start + window] = quaternions[index, overlap:]
    length = covered if length is None else length
    return Motion(out_root[:length].numpy(), quaternion_to_matrix(out_quat[:length]).numpy(), fps)


def tie_overlaps(windows: Tensor) -> Tensor:
    """EDGE's long-form constraint: the head of window i+1 := the tail of window i."""
    window = windows.shape[1]
    stride = window // 2
    tied = windows.clone()
    tied[1:, :window - stride] = windows[:-1, stride:]
    return tied


def window_conditioning(features: np.ndarray, song_lyric_tokens: SongLyricTokens | None, starts: list[int],
                        config: ModelConfig) -> Conditioning:
    """Music windows plus, for a lyrics model with lyrics given, each window's lyric tokens
    (lm2d.lyrics.tokens.window_tokens: times relative to the window start)."""
    music = torch.from_numpy(split_windows(features, config.n_frames)).float()
    if not config.lyrics or song_lyric_tokens is None:
        return Conditioning(music)
    if song_lyric_tokens.dim != config.text_dim:
        raise LM2DError(f"the lyrics were encoded with {song_lyric_tokens.dim}-dim embeddings but this model "
                        f"reads {config.text_dim}-dim ones: encode them with the model's text encoder")
    per_window = [window_tokens(song_lyric_tokens, start, config.n_frames, config.max_lyric_tokens)
                  for start in starts]
    emb, frames, mask = (np.stack(part) for part in zip(*per_window))
    return Conditioning(music, torch.from_numpy(emb).float(), torch.from_numpy(frames).float(),
                        torch.from_numpy(mask).bool())


def check_music_features(features, music_dim: int) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != music_dim or features.shape[0] == 0:
        raise LM2DError(f"music features must be (frames, {music_dim}) with at least one frame, "
                        f"got shape {features.shape}")
    if not np.isfinite(features).all():
        raise LM2DError("music features contain NaN or infinite values")
    return features
