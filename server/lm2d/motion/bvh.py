"""BVH export of a Motion: the SMPL hierarchy, offsets in metres, Y-up, ZXY Euler channels.

BVH is conventionally Y-up, and Blender's BVH importer by default (axis_forward='-Z',
axis_up='Y', global_scale=1) turns Y-up files into its Z-up world by +90 degrees about X, our
Y_UP_TO_Z_UP = C. So the file holds everything turned by C^T: offsets C^T o, root position
C^T t and rotations C^T R C; a default import then reproduces lm2d's Z-up joint positions,
1 BVH unit = 1 Blender metre. Channels "Zrotation Xrotation Yrotation" mean R = Rz Rx Ry (the
order most BVH files use), in degrees, unwrapped over time so no channel jumps by 360.
tests/test_bvh_blender.py checks a Blender 5.0 import against our forward kinematics.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lm2d.motion.representation import Motion
from lm2d.motion.rotation import matrix_to_euler
from lm2d.motion.skeleton import JOINT_NAMES, Y_UP_TO_Z_UP, children, rest_offsets
from lm2d.safe_write import atomic_open
from lm2d.validate.motion import check_finite_motion

EULER_ORDER = "ZXY"
_ROTATION_CHANNELS = " ".join(f"{axis}rotation" for axis in EULER_ORDER)


def write_bvh(motion: Motion, path: str | os.PathLike, names: Sequence[str] = JOINT_NAMES,
              offsets: np.ndarray | None = None) -> None:
    """Write `motion` as a BVH file (one frame per motion frame, Frame Time = 1 / fps). `names` and
    `offsets` (24, 3) Z-up rest offsets from each parent replace the SMPL skeleton's: a rig of
    another naming or rest pose carrying local rotations made for it (tests build CMU-, Mixamo- or
    A-pose captures this way)."""
    to_y_up = Y_UP_TO_Z_UP.T
    offsets = (rest_offsets() if offsets is None else np.asarray(offsets)).astype(np.float64) @ to_y_up.T
    lines = ["HIERARCHY"]
    _write_joint(0, offsets, list(names), 0, lines)
    lines += ["MOTION", f"Frames: {motion.n_frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]

    rotmats = torch.from_numpy(motion.local_rotmats.astype(np.float64))
    c = torch.from_numpy(Y_UP_TO_Z_UP)
    angles = matrix_to_euler(c.T @ rotmats @ c, EULER_ORDER).numpy()     # (T, 24, 3) radians
    angles = np.degrees(np.unwrap(angles, axis=0))
    positions = motion.root_translation.astype(np.float64) @ to_y_up.T
    # Channel data in hierarchy (depth-first) order, as the header declares it.
    order = _depth_first(0)
    frames = np.concatenate([positions, angles[:, order].reshape(motion.n_frames, -1)], axis=1)

    check_finite_motion(motion, path)
    with atomic_open(path, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
        np.savetxt(f, frames, fmt="%.6f")


def _depth_first(joint: int) -> list[int]:
    order = [joint]
    for child in children(joint):
        order += _depth_first(child)
    return order


def _write_joint(joint: int, offsets: np.ndarray, names: list[str], depth: int, lines: list[str]) -> None:
    indent = "\t" * depth
    keyword = "ROOT" if joint == 0 else "JOINT"
    channels = ("CHANNELS 6 Xposition Yposition Zposition " if joint == 0 else "CHANNELS 3 ") + _ROTATION_CHANNELS
    lines += [f"{indent}{keyword} {names[joint]}", f"{indent}{{",
              f"{indent}\tOFFSET {_vector(offsets[joint])}", f"{indent}\t{channels}"]
    kids = children(joint)
    for child in kids:
        _write_joint(child, offsets, names, depth + 1, lines)
    if not kids:
        # Leaves (head, hands, feet) get an end site continuing their bone, so importers
        # build a bone of sensible length and direction for them.
        lines += [f"{indent}\tEnd Site", f"{indent}\t{{",
                  f"{indent}\t\tOFFSET {_vector(offsets[joint])}", f"{indent}\t}}"]
    lines.append(f"{indent}}}")


def _vector(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in v)

