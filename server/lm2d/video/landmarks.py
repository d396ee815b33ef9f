"""Body landmarks per video frame with MediaPipe Pose (0.10.14, its bundled full model: nothing
downloads), gaps filled and smoothed over time.

MediaPipe gives 33 landmarks per frame twice: normalised image coordinates, and metric "world"
coordinates centred between the hips (x right, y down, z away from the camera). Here the world
ones are turned Z-up (x right, y away from the camera, z up) — lm2d's convention for a level camera.
Before gaps are filled and the tracks smoothed, frames where MediaPipe took the body's mirror reading
(a front view for a back view: left and right swapped, depths mirrored) are turned back
(make_sides_consistent), and frames where it swapped the two legs' labels are swapped back
(make_legs_consistent): smoothing across such a flip would average two different bodies.
"""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lm2d.cache import cache_dir, cache_key, file_digest
from lm2d.errors import LM2DError
from lm2d.video.decode import iter_frames, probe_video

NUM_LANDMARKS = 33
NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
INDEX = {name: i for i, name in enumerate(NAMES)}
# Each landmark's mirror twin (left_knee <-> right_knee; the nose is its own).
MIRROR = np.array([INDEX[n.replace("left_", "R_").replace("right_", "left_").replace("R_", "right_")] for n in NAMES])
# MediaPipe's camera-frame world axes (x right, y down, z away) to Z-up (x right, y away, z up).
CAMERA_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
SMOOTHING_SECONDS = 0.25     # Savitzky-Golay window: keeps beats (~0.5 s) and removes jitter
MIN_DETECTION_CONFIDENCE = 0.5
# Landmarks are cached per video content (re-running a fit or a dataset build skips the pose model);
# bump when what is stored changes.
_CACHE_VERSION = "mediapipe-0.10.14-full-v1"
_ARRAYS = ("times", "world", "image", "visibility", "found")


@dataclass
class Landmarks:
    """Per video frame: `world` (N, 33, 3) Z-up metres centred between the hips, `image` (N, 33, 2)
    normalised image coordinates (x right, y down, 0..1), `visibility` (N, 33), `found` (N,) whether
    a person was seen (frames without one are filled by interpolation), `times` (N,) seconds."""
    times: np.ndarray
    world: np.ndarray
    image: np.ndarray
    visibility: np.ndarray
    found: np.ndarray
    fps: float
    width: int
    height: int

    @property
    def n_frames(self) -> int:
        return len(self.times)

    def missing_spans(self) -> list[tuple[int, int]]:
        """(first, last) frame index of each run of frames where nobody was seen."""
        spans, start = [], None
        for i, seen in enumerate(self.found):
            if not seen and start is None:
                start = i
            elif seen and start is not None:
                spans.append((start, i - 1))
                start = None
        if start is not None:
            spans.append((start, self.n_frames - 1))
        return spans


@contextmanager
def _native_stderr_silenced():
    """MediaPipe's C++ side (TFLite, absl) prints notices straight to file descriptor 2, from its own
    threads, whenever it loads a model; they mean nothing to a user. While the pose model runs, fd 2
    goes to /dev/null and Python's sys.stderr (progress bars, warnings, tracebacks) to the real one."""
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr, real = sys.stderr, os.fdopen(os.dup(saved), "w", buffering=1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        sys.stderr = real
        try:
            yield
        finally:
            real.flush()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            real.close()


def _pose_estimator():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    from mediapipe.python.solutions import pose

    # model_complexity 1 is pose_landmark_full.tflite, shipped in the wheel. Video mode tracks the
    # person between frames (the detector runs only when the track is lost) and filters jitter.
    return pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                     enable_segmentation=False, min_detection_confidence=MIN_DETECTION_CONFIDENCE)


def estimate_landmarks(path: str | os.PathLike, progress: Callable[[int, int], None] | None = None) -> Landmarks:
    """Run the pose model on every frame of the video (or read what an earlier run found, from the
    cache), fill the gaps and smooth. `progress(done, total)` after each frame. Raises LM2DError
    when the file is not a readable video or no frame shows a person."""
    path = Path(path)
    info = probe_video(path)
    cached = cache_dir("landmarks") / f"{cache_key(file_digest(path), _CACHE_VERSION, MIN_DETECTION_CONFIDENCE)}.npz"
    if cached.is_file():
        with np.load(cached) as arrays:
            landmarks = Landmarks(**{key: arrays[key] for key in _ARRAYS}, fps=info.fps,
                                  width=info.width, height=info.height)
        if progress is not None:
            progress(landmarks.n_frames, landmarks.n_frames)
    else:
        landmarks = _run_pose_model(path, info, progress)
        _store(landmarks, cached)
    make_sides_consistent(landmarks)
    make_legs_consistent(landmarks)
    fill_missing(landmarks)
    smooth(landmarks)
    return landmarks


def _store(landmarks: Landmarks, path: Path) -> None:
    """Written beside, then renamed: a reader never sees half a file."""
    partial = path.with_name(path.name + ".part.npz")
    np.savez(partial, **{key: getattr(landmarks, key) for key in _ARRAYS})
    os.replace(partial, path)


def _run_pose_model(path: Path, info, progress) -> Landmarks:
    times, world, image, visibility, found = [], [], [], [], []
    with _native_stderr_silenced(), _pose_estimator() as estimator:
        for time, rgb in iter_frames(path):
            result = estimator.process(rgb)
            times.append(time)
            if result.pose_world_landmarks is None or result.pose_landmarks is None:
                found.append(False)
                world.append(np.zeros((NUM_LANDMARKS, 3)))
                image.append(np.zeros((NUM_LANDMARKS, 2)))
                visibility.append(np.zeros(NUM_LANDMARKS))
            else:
                found.append(True)
                world.append([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
                image.append([(p.x, p.y) for p in result.pose_landmarks.landmark])
                visibility.append([p.visibility for p in result.pose_landmarks.landmark])
            if progress is not None:
                progress(len(times), max(info.n_frames, len(times)))
    found = np.array(found, dtype=bool)
    if not found.any():
        raise LM2DError(f"no person found in any of its {len(times)} frames", path=path, code="no_person")
    return Landmarks(np.asarray(times, dtype=np.float64), np.asarray(world, dtype=np.float64) @ CAMERA_TO_Z_UP.T,
                     np.asarray(image, dtype=np.float64), np.asarray(visibility, dtype=np.float64),
                     found, info.fps, info.width, info.height)


def pixels(landmarks: Landmarks) -> np.ndarray:
    """(N, 33, 2) image landmarks in pixels (x right, y down)."""
    return landmarks.image * np.array([landmarks.width, landmarks.height])


def torso_lengths(points: np.ndarray) -> np.ndarray:
    """(N,) distance from the hips' midpoint to the shoulders' in (N, 33, D) landmarks."""
    hips = points[:, [INDEX["left_hip"], INDEX["right_hip"]]].mean(axis=1)
    shoulders = points[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]].mean(axis=1)
    return np.linalg.norm(shoulders - hips, axis=-1)


# Per-frame costs of a labelling, in torso lengths of image travel (what a flip's jump costs, ~0.5-1):
# SIDE_SWAP_COST for the reading opposite to the pose model's — only a tie-breaker, so the track as a
# whole keeps the model's majority reading — and up to FACE_COST for a reading whose nose is further
# from the camera than its ears (a back view) while the model calls the nose visible.
SIDE_SWAP_COST = 1e-3
FACE_COST = 0.02
NOSE_AHEAD = 0.1     # metres the nose stands ahead of the ears: a face turned fully towards or away


def make_sides_consistent(landmarks: Landmarks) -> np.ndarray:
    """Undo the pose model's front/back flips, in place; returns (N,) whether each frame was flipped.

    A body seen from the front and its mirror image seen from the back project to the same picture,
    so when the face says little (a turn, a spin, a back view, a figure without a face) MediaPipe can
    take one reading for the other: every left landmark labelled right and the depths mirrored, for
    a few frames or for good. In the picture a flip is a jump (the left wrist leaps to where the right
    one was) while real motion is continuous, and a back view hides the face. So per frame the
    labelling (as given, or swapped with the depths mirrored) is chosen by dynamic programming: the
    image travel of all landmarks between seen frames, per torso length, plus the costs above."""
    seen = np.flatnonzero(landmarks.found)
    if len(seen) < 2:
        return np.zeros(landmarks.n_frames, dtype=bool)
    world = landmarks.world[seen]
    behind = (world[:, INDEX["nose"], 1] - world[:, [INDEX["left_ear"], INDEX["right_ear"]], 1].mean(-1)) / NOSE_AHEAD
    nose_seen = landmarks.visibility[seen, INDEX["nose"]][:, None]
    face = FACE_COST * nose_seen * np.clip(np.stack([behind, -behind], -1), 0.0, 1.0)
    flipped = relabel(landmarks, seen, MIRROR, face + np.array([0.0, SIDE_SWAP_COST]))
    landmarks.world[flipped, :, 1] *= -1.0     # the mirror reading faced the other way: depth mirrored
    return flipped


LEGS = tuple(INDEX[f"{side}_{part}"] for side in ("left", "right") for part in ("knee", "ankle", "heel", "foot_index"))
# Per frame, for reading the legs the other way round than the model: a few frames' mix-up costs
# ~1 torso length of travel to keep, so it is undone; a stretch the picture cannot settle (the legs
# meet, then part) keeps the model's reading. (At the body's tie-breaker, 0.001, a third of CMU
# 55_01's frames were swapped and the error rose.)
LEG_SWAP_COST = 0.02
LEG_SWAP = np.arange(NUM_LANDMARKS)
LEG_SWAP[list(LEGS)] = MIRROR[list(LEGS)]


def make_legs_consistent(landmarks: Landmarks) -> np.ndarray:
    """Undo the pose model's leg swaps, in place; returns (N,) whether each frame's legs were swapped.

    Legs look alike (the more so in loose trousers or on a mannequin), so with the body read the
    right way round MediaPipe still swaps the two legs' labels now and then — the left knee, ankle,
    heel and toe given where the right ones are, for a frame or ten. Smoothed, such a swap becomes
    two feet sliding through each other while the real ones stand still. As for the body's flips the
    labelling is chosen per frame by dynamic programming on the legs' image travel plus
    LEG_SWAP_COST for each frame read against the model; a swap exchanges the legs' landmarks
    (their hip-centred 3-D points are as mislabelled as the picture's, so they are exchanged too,
    with no mirroring)."""
    seen = np.flatnonzero(landmarks.found)
    if len(seen) < 2:
        return np.zeros(landmarks.n_frames, dtype=bool)
    return relabel(landmarks, seen, LEG_SWAP, np.array([[0.0, LEG_SWAP_COST]]).repeat(len(seen), 0), LEGS)


def relabel(landmarks: Landmarks, seen: np.ndarray, swap: np.ndarray, unary: np.ndarray, points=None) -> np.ndarray:
    """Per frame, the labelling (as given, or permuted by `swap`) that cheapest_labelling picks from
    the image travel of `points` (labelling_travel) and the seen frames' costs `unary` (K, 2),
    applied in place; returns (N,) whether each frame was relabelled."""
    relabelled = np.zeros(landmarks.n_frames, dtype=bool)
    relabelled[seen] = cheapest_labelling(labelling_travel(landmarks, seen, swap, points), unary)
    for array in (landmarks.world, landmarks.image, landmarks.visibility):
        array[relabelled] = array[relabelled][:, swap]
    return relabelled


def labelling_travel(landmarks: Landmarks, seen: np.ndarray, swap: np.ndarray, points=None) -> np.ndarray:
    """travel[k, a, b] (K-1, 2, 2): the mean image travel of the landmarks `points` (default all),
    per torso length, from seen frame k in labelling a to seen frame k+1 in labelling b (0 as given,
    1 with the landmarks permuted by `swap`). A longer gap between seen frames allows more travel."""
    image = pixels(landmarks)[seen]
    torso = np.maximum(torso_lengths(image), 1.0)
    scale = 0.5 * (torso[1:] + torso[:-1]) * np.diff(seen)
    points = slice(None) if points is None else list(points)
    same = np.linalg.norm(image[1:, points] - image[:-1, points], axis=-1).mean(-1) / scale
    crossed = np.linalg.norm(image[1:][:, swap][:, points] - image[:-1, points], axis=-1).mean(-1) / scale
    return np.stack([np.stack([same, crossed], -1), np.stack([crossed, same], -1)], 1)


def cheapest_labelling(travel: np.ndarray, unary: np.ndarray) -> np.ndarray:
    """(K,) bool: the labelling per frame (False as given, True swapped) that minimises the summed
    `travel` (K-1, from, to) between frames plus the per-frame costs `unary` (K, 2) — Viterbi."""
    total, back = unary[0], []
    for step, cost in zip(travel, unary[1:]):
        options = total[:, None] + step                          # (from, to)
        back.append(options.argmin(axis=0))
        total = options.min(axis=0) + cost
    state = [int(total.argmin())]
    for choice in reversed(back):
        state.append(int(choice[state[-1]]))
    return np.array(state[::-1], dtype=bool)


def fill_missing(landmarks: Landmarks) -> None:
    """Frames without a person get every coordinate interpolated linearly in time between the
    nearest frames with one (held constant before the first and after the last); visibility 0."""
    seen = np.flatnonzero(landmarks.found)
    if len(seen) == landmarks.n_frames:
        return
    frames = np.arange(landmarks.n_frames)
    for array in (landmarks.world, landmarks.image):
        flat = array.reshape(landmarks.n_frames, -1)
        for column in range(flat.shape[1]):
            flat[:, column] = np.interp(frames, seen, flat[seen, column])


def smooth(landmarks: Landmarks, seconds: float = SMOOTHING_SECONDS) -> None:
    """Savitzky-Golay (quadratic) over time on both coordinate sets: removes the frame-to-frame
    jitter of a per-frame estimator without flattening the peaks of a move as a moving average would."""
    from scipy.signal import savgol_filter

    window = int(round(seconds * landmarks.fps)) | 1
    if window < 5 or landmarks.n_frames < window:
        return
    landmarks.world[:] = savgol_filter(landmarks.world, window, 2, axis=0)
    landmarks.image[:] = savgol_filter(landmarks.image, window, 2, axis=0)


# SMPL body joints read straight off the landmarks (midpoints where SMPL has a joint MediaPipe
# lacks): the baseline the fit is measured against (bench/bench_video.py, tests/test_video.py).
_RAW_JOINTS = {0: ("left_hip", "right_hip"), 1: ("left_hip",), 2: ("right_hip",), 4: ("left_knee",),
               5: ("right_knee",), 7: ("left_ankle",), 8: ("right_ankle",), 12: ("left_shoulder", "right_shoulder"),
               15: ("left_ear", "right_ear"), 16: ("left_shoulder",), 17: ("right_shoulder",), 18: ("left_elbow",),
               19: ("right_elbow",), 20: ("left_wrist",), 21: ("right_wrist",)}


def raw_body_joints(landmarks: Landmarks) -> np.ndarray:
    """(N, 24, 3) world landmarks as SMPL joints (Z-up); joints without a landmark stay 0."""
    joints = np.zeros((landmarks.n_frames, 24, 3))
    for joint, names in _RAW_JOINTS.items():
        joints[:, joint] = landmarks.world[:, [INDEX[n] for n in names]].mean(axis=1)
    return joints
