"""How alike two stretches of a dance are, and how smooth the joins are: the measures the repeat
choreography is held to (tests/test_sections.py, bench/bench_sections.py)."""
from __future__ import annotations

import numpy as np

from lm2d.structure import Section
from lm2d.structure.carry import warp_positions


def section_distance(joints: np.ndarray, first: Section, second: Section, beat_frames: np.ndarray) -> float:
    """Mean joint position error (metres) between two sections of a (T, 24, 3) dance, after
    aligning the root (joints relative to the pelvis) and the beats (each frame of `second`
    against the frame of `first` at the same point of its beats: lm2d.structure.carry.warp_positions)."""
    positions = warp_positions((first.start_frame, first.end_frame), (second.start_frame, second.end_frame),
                               beat_frames)
    relative = joints - joints[:, :1]
    there = relative[np.clip(np.round(positions).astype(int), 0, len(joints) - 1)]
    return float(np.linalg.norm(relative[second.start_frame:second.end_frame] - there, axis=-1).mean())


def frame_steps(joints: np.ndarray) -> np.ndarray:
    """(T - 1,) mean joint displacement (metres) from each frame to the next."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=-1)


def seam_ratio(joints: np.ndarray, sections: list[Section], window: int = 30) -> float:
    """The largest frame-to-frame change at a section edge divided by the largest one inside the
    sections, away from their edges (by `window` frames): 1 means the joins are no rougher than
    the dance itself."""
    steps = frame_steps(joints)
    edges = sorted({section.start_frame for section in sections[1:]})
    at_edges = np.zeros(len(steps), bool)
    for edge in edges:
        at_edges[max(edge - 2, 0):edge + 1] = True
    away = np.ones(len(steps), bool)
    for edge in edges:
        away[max(edge - window, 0):edge + window] = False
    if not at_edges.any() or not away.any():
        return 0.0
    return float(steps[at_edges].max() / steps[away].max())
