"""Reading SMPL motions (AIST++ .pkl, AMASS .npz, lm2d result .npz) and writing result files.

Every loader returns a Z-up `Motion`. SMPL's body model is y-up; lm2d's rest skeleton is the
same skeleton turned +90 degrees about X (C = skeleton.Y_UP_TO_Z_UP). For world positions to
come out as p_z = W p_file (W = C for y-up AIST++ worlds, identity for Z-up AMASS worlds),
every global joint frame must become G' = W G C^T, which gives, per joint:
    root:     R0' = W R0 C^T          children: Ri' = C Ri C^T   (the axis turned by C)
    pelvis:   t' = W t
Left-multiplying only the root (as EDGE does) is right only with a y-up rest skeleton; with a
Z-up one the children must be conjugated too. tests/test_motion.py checks FK(converted) == C FK(original).

The SMPL translation is taken as the pelvis position (as EDGE does); the body-shape dependent
pelvis rest offset is unknown without the licensed body model and is not added.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lm2d.errors import LM2DError
from lm2d.motion.representation import FPS, Motion, resample
from lm2d.motion.rotation import axis_angle_to_matrix, to_numpy
from lm2d.motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, Y_UP_TO_Z_UP, rest_positions

# AIST++ SMPL fits are 60 FPS and the .pkl stores no rate. The shared sample
# (smpl_sample_127f.pkl, from SMPL-to-FBX, which keys it at 60 FPS) moves its joints at
# 1.4 m/s on average at 60 FPS (0.7 at 30): plausible street dance either way, so the
# format's 60 is assumed; source_fps / --source-fps override it.
AIST_FPS = 60.0
LyricLine = tuple[float, float, str]   # (start seconds, end seconds, text)


# --- conversion ---------------------------------------------------------------------------

def smpl_to_motion(axis_angle: np.ndarray, translation: np.ndarray, fps: float, *, y_up: bool) -> Motion:
    """SMPL parameters (N, 24, 3) axis-angle and (N, 3) translation, in a y-up world (AIST++)
    or a Z-up one (AMASS), to a Z-up Motion on lm2d's rest skeleton (see the module docstring)."""
    c = torch.from_numpy(Y_UP_TO_Z_UP)
    world = c if y_up else torch.eye(3, dtype=torch.float64)
    rotmats = axis_angle_to_matrix(torch.as_tensor(axis_angle, dtype=torch.float64))
    rotmats = c @ rotmats @ c.T
    rotmats[:, 0] = world @ c.T @ rotmats[:, 0]          # (W R0 C^T) = (W C^T)(C R0 C^T)
    trans = torch.as_tensor(translation, dtype=torch.float64) @ world.T
    return Motion(to_numpy(trans), to_numpy(rotmats), fps)


# --- loading ------------------------------------------------------------------------------

def load_motion(path: str | os.PathLike, *, source_fps: float | None = None,
                fps: float | None = FPS) -> Motion:
    """Load an AIST++ .pkl, an AMASS .npz or an lm2d result .npz as a Z-up Motion.

    source_fps overrides the file's own frame rate (AIST++ .pkl files store none: 60 is
    assumed). The motion is resampled to `fps` (default lm2d's 30), or kept as is with fps=None.
    """
    path = Path(path)
    if not path.is_file():
        raise LM2DError("motion file not found", path=path, code="not_found")
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        motion = _load_aist_pkl(path, source_fps)
    elif suffix == ".npz":
        data = _read_npz(path)
        if "local_quaternions" in data:
            motion, _ = _result_from_npz(data, path)
            motion.fps = motion.fps if source_fps is None else float(source_fps)
        elif "poses" in data:
            motion = _amass_from_npz(data, path, source_fps)
        else:
            raise LM2DError(f"not a motion .npz: expected 'poses' (AMASS) or 'local_quaternions' "
                            f"(lm2d result), found keys {sorted(data)}", path=path)
    else:
        raise LM2DError(f"unknown motion format {suffix or '(no extension)'!r}: "
                        f"expected .pkl (AIST++) or .npz (AMASS or lm2d result)", path=path)
    return motion if fps is None else resample(motion, fps)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """AIST++ ships pickles of dicts of numpy arrays; refuse anything that could run code."""
    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        return super().find_class(module, name)


def _load_aist_pkl(path: Path, source_fps: float | None) -> Motion:
    try:
        with open(path, "rb") as f:
            data = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except Exception as err:   # arbitrary bytes can fail in many ways inside pickle
        raise LM2DError(f"not a readable AIST++ pickle ({err})", path=path) from err
    if not isinstance(data, dict):
        raise LM2DError(f"expected a dict with 'smpl_poses' and 'smpl_trans', got {type(data).__name__}",
                        path=path)
    poses = _float_array(data, "smpl_poses", path)
    if poses.ndim == 3 and poses.shape[1:] == (NUM_JOINTS, 3):
        poses = poses.reshape(len(poses), NUM_JOINTS * 3)
    _check_shape(poses, "smpl_poses", (None, NUM_JOINTS * 3), path)
    trans = _float_array(data, "smpl_trans", path)
    _check_shape(trans, "smpl_trans", (len(poses), 3), path)
    if "smpl_scaling" in data:
        scaling = _float_array(data, "smpl_scaling", path).reshape(-1)
        if scaling.size != 1 or scaling[0] <= 0:
            raise LM2DError(f"'smpl_scaling' must be one positive number, got {scaling.tolist()}", path=path)
        trans = trans / scaling[0]
    fps = AIST_FPS if source_fps is None else source_fps
    return smpl_to_motion(poses.reshape(-1, NUM_JOINTS, 3), trans, fps, y_up=True)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise LM2DError(f"not a readable .npz file ({err})", path=path) from err


def _amass_from_npz(data: dict, path: Path, source_fps: float | None) -> Motion:
    poses = _float_array(data, "poses", path)
    if poses.ndim != 2 or poses.shape[1] < 66:
        raise LM2DError(f"'poses' must be (frames, 72) SMPL or wider SMPL-H/SMPL-X axis-angle, "
                        f"got shape {poses.shape}", path=path)
    trans = _float_array(data, "trans", path)
    _check_shape(trans, "trans", (len(poses), 3), path)
    # SMPL has 24 joints; SMPL-H/X share its first 22 (the body) and then store hand/face
    # joints, so SMPL's two hand joints (22, 23) are only taken from true 72-wide SMPL poses.
    body = poses[:, :72] if poses.shape[1] == 72 else poses[:, :66]
    axis_angle = np.zeros((len(poses), NUM_JOINTS, 3))
    axis_angle.reshape(len(poses), -1)[:, :body.shape[1]] = body
    if source_fps is None:
        rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in data), None)
        if rate_key is None:
            raise LM2DError("no 'mocap_framerate' in the file: give the frame rate (source_fps / --source-fps)",
                            path=path)
        source_fps = float(_float_array(data, rate_key, path).reshape(-1)[0])
    return smpl_to_motion(axis_angle, trans, source_fps, y_up=False)


def _float_array(data: dict, key: str, path: Path) -> np.ndarray:
    if key not in data:
        raise LM2DError(f"missing key '{key}' (found {sorted(map(str, data))})", path=path)
    try:
        array = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise LM2DError(f"'{key}' is not numeric ({err})", path=path) from err
    if not np.isfinite(array).all():
        raise LM2DError(f"'{key}' contains NaN or infinite values", path=path)
    return array


def _check_shape(array: np.ndarray, key: str, shape: tuple, path: Path) -> None:
    """shape entries of None match any length; zero frames is always an error."""
    ok = array.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape))
    if not ok or array.shape[0] == 0:
        expected = "(" + ", ".join("frames" if s is None else str(s) for s in shape) + ")"
        raise LM2DError(f"'{key}' has shape {array.shape}, expected {expected} with frames >= 1", path=path)


# --- the result file ----------------------------------------------------------------------

def save_result_npz(motion: Motion, path: str | os.PathLike,
                    lyric_lines: Sequence[LyricLine] | None = None) -> None:
    """Write the result file the Blender add-on reads (docs/ARCHITECTURE.md), atomically."""
    path = Path(path)
    arrays = {
        "fps": np.float64(motion.fps),
        "joint_names": np.array(JOINT_NAMES),
        "parents": np.array(PARENTS, dtype=np.int64),
        "rest_positions": rest_positions(),
        "root_translation": motion.root_translation.astype(np.float32),
        "local_quaternions": motion.quaternions(),
        "joint_positions": motion.joints(),
    }
    if lyric_lines is not None:
        lines = list(lyric_lines)
        arrays["lyric_lines"] = np.array([str(text) for _, _, text in lines], dtype=str)
        arrays["lyric_starts"] = np.array([start for start, _, _ in lines], dtype=np.float64)
        arrays["lyric_ends"] = np.array([end for _, end, _ in lines], dtype=np.float64)
    save_npz_atomically(path, arrays)


def save_npz_atomically(path: Path, arrays: dict) -> None:
    """np.savez, but a reader (the add-on) never sees half a file: write beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_result_npz(path: str | os.PathLike) -> tuple[Motion, list[LyricLine]]:
    """Read a result file back: the motion and its lyric lines (empty when it has none)."""
    path = Path(path)
    if not path.is_file():
        raise LM2DError("result file not found", path=path, code="not_found")
    return _result_from_npz(_read_npz(path), path)


def _result_from_npz(data: dict, path: Path) -> tuple[Motion, list[LyricLine]]:
    names = data.get("joint_names")
    if names is not None and tuple(map(str, names)) != JOINT_NAMES:
        raise LM2DError("'joint_names' are not the 24 SMPL joints lm2d uses", path=path)
    trans = _float_array(data, "root_translation", path)
    _check_shape(trans, "root_translation", (None, 3), path)
    quats = _float_array(data, "local_quaternions", path)
    _check_shape(quats, "local_quaternions", (len(trans), NUM_JOINTS, 4), path)
    if (np.linalg.norm(quats, axis=-1) < 1e-6).any():
        raise LM2DError("'local_quaternions' contains zero-length quaternions", path=path)
    fps = float(_float_array(data, "fps", path).reshape(-1)[0]) if "fps" in data else FPS
    if fps <= 0:
        raise LM2DError(f"'fps' must be positive, got {fps}", path=path)
    lyrics: list[LyricLine] = []
    if "lyric_lines" in data:
        starts = _float_array(data, "lyric_starts", path).reshape(-1)
        ends = _float_array(data, "lyric_ends", path).reshape(-1)
        texts = [str(t) for t in data["lyric_lines"].reshape(-1)]
        if not len(texts) == len(starts) == len(ends):
            raise LM2DError("'lyric_lines', 'lyric_starts' and 'lyric_ends' differ in length", path=path)
        lyrics = [(float(s), float(e), t) for s, e, t in zip(starts, ends, texts)]
    return Motion.from_quaternions(trans, quats, fps), lyrics
