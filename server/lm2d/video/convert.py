"""Video -> SMPL motion at 30 FPS: landmarks, skeleton fit, ground, resample. The one path the CLI
(`lm2d video2motion`), the server (`video2motion` request) and `lm2d dataset-from-videos` share."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from lm2d.motion.representation import FPS, Motion, sample_at
from lm2d.motion.rotation import to_numpy
from lm2d.video.fit import fit_skeleton
from lm2d.video.ground import DEFAULT_FIELD_OF_VIEW, ground_motion
from lm2d.video.landmarks import Landmarks, estimate_landmarks

FIT_ITERATIONS = 300
GROUND_ITERATIONS = 100


@dataclass
class VideoMotion:
    motion: Motion                       # at 30 FPS
    video_frames: int
    video_fps: float
    missing_spans: list[tuple[float, float]] = field(default_factory=list)   # seconds, nobody seen
    contact_fraction: float = 0.0        # share of frames with at least one foot planted

    def summary(self) -> str:
        missing = sum(1 for _ in self.missing_spans)
        line = (f"{self.video_frames} video frames at {self.video_fps:g} FPS -> {self.motion.n_frames} frames at "
                f"{self.motion.fps:g} FPS; a foot planted in {100 * self.contact_fraction:.0f}% of them")
        if missing:
            spans = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in self.missing_spans[:5])
            line += f"; nobody seen in {missing} span(s), filled by interpolation: {spans}"
        return line


def video_to_motion(path: str | os.PathLike, field_of_view: float = DEFAULT_FIELD_OF_VIEW,
                    progress: Callable[[str, int, int], None] | None = None) -> VideoMotion:
    """The dance in a video. `progress(stage, done, total)` with stage 'landmarks', 'fit' or 'ground'.
    Raises LM2DError for an unreadable video or one where nobody is seen."""
    def stage(name):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    landmarks = estimate_landmarks(path, stage("landmarks"))
    return landmarks_to_motion(landmarks, field_of_view, stage("fit"), stage("ground"))


def landmarks_to_motion(landmarks: Landmarks, field_of_view: float = DEFAULT_FIELD_OF_VIEW,
                        fit_progress=None, ground_progress=None) -> VideoMotion:
    fit = fit_skeleton(landmarks, FIT_ITERATIONS, progress=fit_progress)
    root, planted = ground_motion(fit, landmarks, field_of_view, GROUND_ITERATIONS, ground_progress)
    with torch.no_grad():
        motion = Motion(root, to_numpy(fit.pose()), landmarks.fps)
    # Sample at 30 FPS on the video's own clock (its frame times may be uneven).
    times = landmarks.times - landmarks.times[0]
    target = np.arange(int(np.floor(times[-1] * FPS + 1e-6)) + 1) / FPS
    motion = sample_at(motion, np.interp(target, times, np.arange(len(times))), FPS)
    seconds = [(float(times[a]), float(times[b])) for a, b in landmarks.missing_spans()]
    return VideoMotion(motion, landmarks.n_frames, landmarks.fps, seconds, float(planted.any(axis=1).mean()))
