"""Real motion capture onto lm2d's SMPL skeleton: `lm2d import-mocap` (docs/DATASET.md).

Blender reads the file and solves the SMPL pose (lm2d_blender/mocap_import.py, run as a child
process: the server never imports bpy): bones matched by name (CMU, Mixamo, Rigify, Unreal, SMPL
and similar naming), rests aligned by world bone directions (a T- or A-pose source fits SMPL's
T-pose), lengths scaled by leg length, legs solved by IK onto the scaled source ankles; leading frames at
the bare rest pose (the T-pose converters key at frame 1) take the first captured pose, so time
stays the capture's. Here the result is resampled to 30 FPS, cut to the requested span and
placed on lm2d's floor.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lm2d.blender_child import DEFAULT_ADDON, run_addon_module
from lm2d.errors import LM2DError
from lm2d.motion.representation import FPS, Motion, resample
from lm2d.motion.skeleton import FOOT_JOINTS

FORMATS = (".bvh", ".fbx")
# The floor: this percentile over frames of the lowest ankle/toe joint is put at z = 0 (a planted
# foot's toe joint is on the floor, as lm2d's corpus has it). A low percentile, not the minimum, so
# one glitched frame does not sink the dancer; not the median, so a dance full of jumps stays down.
FLOOR_PERCENTILE = 10


@dataclass
class ImportedMocap:
    motion: Motion                          # Z-up metres on the SMPL skeleton, at the requested fps
    source_fps: float
    source_frames: int
    rest_frames: int                        # leading frames at the bare rest pose, given the first pose
    bone_map: list[tuple[str, str]]         # (source bone, SMPL joint)


def import_mocap(path: str | os.PathLike, fps: float = FPS, addon: str | os.PathLike = DEFAULT_ADDON,
                 start: float = 0.0, end: float | None = None) -> ImportedMocap:
    """Read a BVH or FBX capture and retarget it onto SMPL (module docstring), keeping the capture's
    seconds [start, end) (end None or past the capture: to its end). Raises LM2DError naming the file when it cannot be
    read, its armature is not a recognisable humanoid or the span is empty."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise LM2DError(f"unknown motion capture format {suffix or '(no extension)'!r}: use .bvh or .fbx", path=path)
    if not path.is_file():
        raise LM2DError("motion capture file not found", path=path, code="not_found")
    if not (start >= 0 and (end is None or end > start)):
        raise LM2DError(f"the span to keep must have 0 <= start < end, got start {start:g}, end {end}", path=path)
    with tempfile.TemporaryDirectory(prefix="lm2d-mocap-") as folder:
        raw = Path(folder) / "smpl.npz"
        run_addon_module("mocap_import", [str(path.resolve()), str(raw)], Path(addon), "import it", path)
        with np.load(raw, allow_pickle=False) as data:
            root, local = data["root_translation"], data["local_rotmats"]
            source_fps, held = float(data["fps"]), int(data["rest_frames"])
            pairs = [(str(s), str(t)) for s, t in data["bone_map"]]
    if len(root) < 2:
        raise LM2DError(f"the capture has {len(root)} frame(s): nothing to dance", path=path)
    motion = resample(Motion(root, local, source_fps), fps)
    first = int(np.ceil(start * fps - 1e-6))
    last = motion.n_frames if end is None else min(int(np.ceil(end * fps - 1e-6)), motion.n_frames)
    if last - first < 2:
        raise LM2DError(f"the span {start:g}..{'end' if end is None else f'{end:g}'} s is not inside the "
                        f"capture's {motion.duration:.2f} s (or shorter than two frames)", path=path)
    motion = place_on_floor(Motion(motion.root_translation[first:last], motion.local_rotmats[first:last], fps))
    return ImportedMocap(motion, source_fps, len(root), held, pairs)


def place_on_floor(motion: Motion) -> Motion:
    """The same motion moved so its first frame's pelvis is above the origin and its feet stand on
    z = 0 (FLOOR_PERCENTILE)."""
    lowest_foot = motion.joints()[:, list(FOOT_JOINTS), 2].min(axis=1)
    shift = np.zeros(3)
    shift[:2] = -motion.root_translation[0, :2]
    shift[2] = -np.percentile(lowest_foot, FLOOR_PERCENTILE)
    return Motion(motion.root_translation + shift, motion.local_rotmats, motion.fps)
