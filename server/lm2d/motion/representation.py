"""A motion clip and its 147-dim vector form: [root translation (3), 24 x 6D local rotation].

`Motion` holds numpy arrays for I/O and the add-on side; `motion_vector_to_parts` and
`parts_to_motion_vector` are the torch-level forms the model uses on (B, T, 147) tensors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lm2d.motion.kinematics import foot_contacts, forward_kinematics
from lm2d.motion.rotation import (as_tensor, matrix_to_quaternion, matrix_to_rotation_6d,
                                  quaternion_make_continuous, quaternion_to_matrix,
                                  rotation_6d_to_matrix, slerp, to_numpy)
from lm2d.motion.skeleton import NUM_JOINTS

FPS = 30.0              # lm2d's frame rate (equal to lm2d.features.FPS: one audio hop per frame)
MOTION_DIM = 3 + NUM_JOINTS * 6


def parts_to_motion_vector(root_translation: torch.Tensor, local_rotmats: torch.Tensor) -> torch.Tensor:
    """(..., 3) and (..., 24, 3, 3) -> (..., 147)."""
    rotation_6d = matrix_to_rotation_6d(local_rotmats).flatten(-2)
    return torch.cat([root_translation, rotation_6d], dim=-1)


def motion_vector_to_parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 147) -> root translation (..., 3) and local rotation matrices (..., 24, 3, 3);
    the 6D part need not be orthonormal (Gram-Schmidt makes it a rotation)."""
    if x.shape[-1] != MOTION_DIM:
        raise ValueError(f"motion vectors have {MOTION_DIM} channels, got shape {tuple(x.shape)}")
    rotation_6d = x[..., 3:].unflatten(-1, (NUM_JOINTS, 6))
    return x[..., :3], rotation_6d_to_matrix(rotation_6d)


@dataclass
class Motion:
    """An SMPL motion: pelvis positions (T, 3) and local joint rotations (T, 24, 3, 3),
    Z-up metres, float32 numpy, at `fps` frames per second."""
    root_translation: np.ndarray
    local_rotmats: np.ndarray
    fps: float = FPS

    def __post_init__(self):
        self.root_translation = np.asarray(self.root_translation, dtype=np.float32)
        self.local_rotmats = np.asarray(self.local_rotmats, dtype=np.float32)
        frames = self.root_translation.shape[0] if self.root_translation.ndim else -1
        if (self.root_translation.shape != (frames, 3)
                or self.local_rotmats.shape != (frames, NUM_JOINTS, 3, 3)):
            raise ValueError(f"Motion needs (T, 3) and (T, {NUM_JOINTS}, 3, 3) arrays, got "
                             f"{self.root_translation.shape} and {self.local_rotmats.shape}")
        self.fps = float(self.fps)

    @property
    def n_frames(self) -> int:
        return self.root_translation.shape[0]

    @property
    def duration(self) -> float:
        """Seconds covered from the first to just past the last frame."""
        return self.n_frames / self.fps

    def joints(self) -> np.ndarray:
        """(T, 24, 3) world joint positions (forward kinematics)."""
        return to_numpy(forward_kinematics(torch.from_numpy(self.root_translation),
                                           torch.from_numpy(self.local_rotmats)))

    def foot_contacts(self, threshold: float | None = None) -> np.ndarray:
        """(T, 4) bool contact labels of the ankles and feet (see kinematics.foot_contacts)."""
        joints = torch.from_numpy(self.joints())
        contacts = foot_contacts(joints) if threshold is None else foot_contacts(joints, threshold)
        return contacts.numpy()

    def quaternions(self) -> np.ndarray:
        """(T, 24, 4) local rotations as (w, x, y, z), signs continuous over time."""
        q = matrix_to_quaternion(torch.from_numpy(self.local_rotmats))
        return to_numpy(quaternion_make_continuous(q, dim=0))

    def to_vector(self) -> np.ndarray:
        """(T, 147) float32."""
        return to_numpy(parts_to_motion_vector(torch.from_numpy(self.root_translation),
                                               torch.from_numpy(self.local_rotmats)))

    @classmethod
    def from_vector(cls, x, fps: float = FPS) -> "Motion":
        """From a (T, 147) numpy array or tensor."""
        x = as_tensor(x)
        if x.dim() != 2:
            raise ValueError(f"expected a (T, {MOTION_DIM}) motion, got shape {tuple(x.shape)}")
        root_translation, local_rotmats = motion_vector_to_parts(x)
        return cls(to_numpy(root_translation), to_numpy(local_rotmats), fps)

    @classmethod
    def from_quaternions(cls, root_translation, local_quaternions, fps: float = FPS) -> "Motion":
        """From (T, 3) positions and (T, 24, 4) (w, x, y, z) rotations, numpy or torch."""
        rotmats = quaternion_to_matrix(as_tensor(local_quaternions, torch.float64))
        return cls(np.asarray(root_translation), to_numpy(rotmats), fps)


def resample(motion: Motion, fps: float) -> Motion:
    """The motion at another frame rate over the same time span: root positions interpolated
    linearly, rotations by slerp. When the source rate is a whole multiple of the target
    (60 -> 30) it keeps every k-th frame unchanged, as AIST++/EDGE preprocessing does."""
    fps = float(fps)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    ratio = motion.fps / fps
    if motion.n_frames < 2 or ratio == 1:
        return Motion(motion.root_translation.copy(), motion.local_rotmats.copy(), fps)
    if ratio > 1 and abs(ratio - round(ratio)) < 1e-9:
        step = int(round(ratio))
        return Motion(motion.root_translation[::step].copy(), motion.local_rotmats[::step].copy(), fps)

    n_out = math.floor((motion.n_frames - 1) / ratio + 1e-6) + 1
    return sample_at(motion, np.arange(n_out, dtype=np.float64) * ratio, fps)


def sample_at(motion: Motion, source_frames, fps: float | None = None) -> Motion:
    """The motion read at fractional frame positions (N,) of its own time axis (clamped to its
    frames): root positions interpolated linearly, rotations by slerp. Retiming (lm2d.motion.retime)
    and frame-rate changes are both this with different positions; fps None keeps the motion's."""
    fps = motion.fps if fps is None else fps
    source_time = torch.as_tensor(np.asarray(source_frames, dtype=np.float64)).clamp(0, motion.n_frames - 1)
    if motion.n_frames < 2:
        index = np.zeros(len(source_time), dtype=np.int64)   # numpy's index (a 1-element tensor reads as a scalar)
        return Motion(motion.root_translation[index], motion.local_rotmats[index], fps)
    i0 = source_time.floor().long().clamp(max=motion.n_frames - 2)
    weight = source_time - i0

    translation = torch.from_numpy(motion.root_translation).double()
    new_translation = torch.lerp(translation[i0], translation[i0 + 1], weight[:, None])
    q = torch.from_numpy(motion.quaternions()).double()
    new_q = slerp(q[i0], q[i0 + 1], weight[:, None].expand(len(source_time), NUM_JOINTS))
    return Motion(to_numpy(new_translation), to_numpy(quaternion_to_matrix(new_q)), fps)
