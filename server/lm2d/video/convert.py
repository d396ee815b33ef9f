"""Video -> SMPL motion at 30 FPS: landmarks, skeleton fit, ground, resample. The one path the CLI
(`lm2d video2motion`), the server (`video2motion` request) and `lm2d dataset-from-videos` share."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lm2d.motion.representation import FPS, Motion, sample_at
from lm2d.video.fit import fit_skeleton
from lm2d.video.camera import DEFAULT_FIELD_OF_VIEW
from lm2d.video.ground import ground_motion
from lm2d.video.landmarks import Landmarks, estimate_landmarks
from lm2d.video.lifter import LandmarkLifter, lift, shipped_lifter

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
                    progress: Callable[[str, int, int], None] | None = None,
                    lifter: LandmarkLifter | None | str = "shipped") -> VideoMotion:
    """The dance in a video. `progress(stage, done, total)` with stage 'landmarks', 'fit' or 'ground';
    `lifter` as landmarks_to_motion's. Raises LM2DError for an unreadable video or one where nobody is seen."""
    def stage(name):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    landmarks = estimate_landmarks(path, stage("landmarks"))
    return landmarks_to_motion(landmarks, field_of_view, stage("fit"), stage("ground"), lifter)


def landmarks_to_motion(landmarks: Landmarks, field_of_view: float = DEFAULT_FIELD_OF_VIEW,
                        fit_progress=None, ground_progress=None,
                        lifter: LandmarkLifter | None | str = "shipped") -> VideoMotion:
    """lifter: the landmark lifter the fit also follows ("shipped": the one in lm2d/checkpoints;
    None: the landmarks alone)."""
    lifter = shipped_lifter() if lifter == "shipped" else lifter
    lifted = None if lifter is None else lift(lifter, landmarks)
    fit = fit_skeleton(landmarks, field_of_view, FIT_ITERATIONS, progress=fit_progress, lifted=lifted)
    root, local, planted = ground_motion(fit, landmarks, GROUND_ITERATIONS, ground_progress)
    motion = Motion(root, local, landmarks.fps)
    # Sample at 30 FPS on the video's own clock (its frame times may be uneven).
    times = landmarks.times - landmarks.times[0]
    target = np.arange(int(np.floor(times[-1] * FPS + 1e-6)) + 1) / FPS
    motion = sample_at(motion, np.interp(target, times, np.arange(len(times))), FPS)
    seconds = [(float(times[a]), float(times[b])) for a, b in landmarks.missing_spans()]
    return VideoMotion(motion, landmarks.n_frames, landmarks.fps, seconds, float(planted.any(axis=1).mean()))


def convert_video(video: str | os.PathLike, output: str | os.PathLike, audio_output: str | os.PathLike | None = None,
                  field_of_view: float | None = None, progress: Callable[[str, float], None] | None = None) -> dict:
    """The server's `video2motion` job: write the motion (.npz result file) and, when asked and the
    video has sound, its sound track (.wav). Output paths are checked before any work. Returns the
    `result` event's payload. `progress(stage, fraction)` may raise to cancel."""
    from lm2d.motion.skeleton import JOINT_NAMES
    from lm2d.pipeline import check_output_path, write_result
    from lm2d.video.decode import extract_audio

    output = check_output_path(output, (".npz",))
    if audio_output is not None:
        audio_output = check_output_path(audio_output, (".wav",))
    report = None if progress is None else (lambda stage, done, total: progress(stage, done / max(total, 1)))
    result = video_to_motion(video, field_of_view or DEFAULT_FIELD_OF_VIEW, report)
    if progress is not None:
        progress("writing", 0.0)
    write_result(result.motion, output)
    wrote_audio = audio_output is not None and extract_audio(video, audio_output)
    return {"path": os.fspath(output), "frames": result.motion.n_frames, "fps": float(result.motion.fps),
            "joint_names": list(JOINT_NAMES), "audio": os.fspath(audio_output) if wrote_audio else None,
            "missing_spans": [list(span) for span in result.missing_spans]}
