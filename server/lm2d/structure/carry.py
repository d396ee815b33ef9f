"""Carrying a stretch of dance onto another stretch of the song: time-warped beat to beat (a repeat
may be played a little faster or slower), the root path continued from where the dancer is.
"""
from __future__ import annotations

import numpy as np
import torch

from lm2d.motion.representation import Motion, sample_at
from lm2d.motion.rotation import matrix_to_quaternion, quaternion_to_matrix, slerp, to_numpy
from lm2d.motion.skeleton import NUM_JOINTS


def warp_positions(source: tuple[int, int], target: tuple[int, int], beat_frames: np.ndarray) -> np.ndarray:
    """(target length,) fractional source frames for each target frame: the k-th beat of the target
    lands on the k-th beat of the source, both starts and both ends on each other, linear between."""
    beats = np.asarray(beat_frames)
    inside_source = beats[(beats > source[0]) & (beats < source[1])] - source[0]
    inside_target = beats[(beats > target[0]) & (beats < target[1])] - target[0]
    pairs = min(len(inside_source), len(inside_target))
    source_anchors = np.concatenate([[0], inside_source[:pairs], [source[1] - source[0]]]).astype(np.float64)
    target_anchors = np.concatenate([[0], inside_target[:pairs], [target[1] - target[0]]]).astype(np.float64)
    # The unpaired tail (one part has a beat more) is stretched between the last pair and the ends.
    return source[0] + np.interp(np.arange(target[1] - target[0]), target_anchors, source_anchors)


def carried(motion: Motion, positions: np.ndarray, target_first: int, strength: float = 1.0) -> Motion:
    """The motion read at `positions` (lm2d.motion.sample_at) for the frames from target_first on,
    its horizontal path shifted to start where the motion is at target_first. strength < 1 blends
    it with the motion already there (root lerp, joint slerp): 1 the exact copy, 0 nothing carried."""
    copy = sample_at(motion, positions)
    root = copy.root_translation.copy()
    root[:, :2] += motion.root_translation[target_first, :2] - root[0, :2]
    rotmats = copy.local_rotmats
    if strength < 1.0:
        span = slice(target_first, target_first + len(positions))
        root = (1 - strength) * motion.root_translation[span] + strength * root
        here = matrix_to_quaternion(torch.from_numpy(motion.local_rotmats[span]).double())
        there = matrix_to_quaternion(torch.from_numpy(rotmats).double())
        weight = torch.full((len(positions), NUM_JOINTS), float(strength), dtype=torch.float64)
        rotmats = to_numpy(quaternion_to_matrix(slerp(here, there, weight)))
    return Motion(root, rotmats, motion.fps)


def paste(motion: Motion, piece: Motion, first: int) -> Motion:
    """A copy of the motion with piece's frames written from `first` on."""
    root, rotmats = motion.root_translation.copy(), motion.local_rotmats.copy()
    root[first:first + piece.n_frames] = piece.root_translation
    rotmats[first:first + piece.n_frames] = piece.local_rotmats
    return Motion(root, rotmats, motion.fps)
