"""Editing by in-painting: what an edit keeps, and how the kept motion meets the regenerated one.

The sampler re-imposes the kept part of the motion, re-noised to the current level, before every
denoiser call (lm2d.sampling.samplers.run); the returned Motion then takes every kept frame / joint
verbatim from the input (in unnormalised space, so kept values are bit-identical) and pulls the
regenerated frames next to each seam onto the kept motion with an offset that fades out over a
short blend zone inside the regenerated range (blend_seams).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

from lm2d.errors import LM2DError
from lm2d.model.config import ModelConfig
from lm2d.model.normalizer import Normalizer
from lm2d.motion.representation import FPS, Motion
from lm2d.motion.rotation import matrix_to_quaternion, quaternion_to_matrix, slerp
from lm2d.motion.skeleton import JOINT_NAMES, NUM_JOINTS
from lm2d.sampling.samplers import Known

BLEND_FRAMES = 15        # 0.5 s: regenerated frames pulled onto the kept motion at each seam
LOWER_BODY = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
              "left_foot", "right_foot")


@dataclass(frozen=True)
class Kept:
    """What an edit keeps of `motion`: whole frames, and joints / root translation on every frame.
    Everything else is regenerated, over len(frames) >= motion.n_frames frames (the extra ones are
    new). source: the motion's file, named in errors. Checked here, once, for every caller."""
    motion: Motion
    frames: np.ndarray                       # (length,) bool
    joints: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, bool))
    translation: bool = False
    source: str | os.PathLike | None = None
    blend_frames: int = BLEND_FRAMES         # seam blend zone (blend_seams); 0: no blending

    def __post_init__(self):
        if abs(self.motion.fps - FPS) > 1e-6:
            raise LM2DError(f"the motion is at {self.motion.fps:g} FPS; edits need lm2d's {FPS:g} FPS "
                            "(lm2d.motion.resample)", path=self.source)
        if len(self.frames) < self.motion.n_frames:
            raise LM2DError(f"an edit covers at least the motion's {self.motion.n_frames} frames, "
                            f"got {len(self.frames)}", path=self.source)
        if self.channel_mask(0).all():
            raise LM2DError("the edit keeps everything: nothing to regenerate", path=self.source)

    @property
    def length(self) -> int:
        return len(self.frames)

    def channel_mask(self, contact_dim: int) -> np.ndarray:
        """(T, contact_dim + 147) bool over the model's channels. Foot contacts are known only on
        kept frames: on other frames they depend on joints that are being regenerated."""
        per_frame = np.concatenate([np.zeros(contact_dim + 3, bool), np.repeat(self.joints, 6)])
        per_frame[contact_dim:contact_dim + 3] = self.translation
        return self.frames[:, None] | per_frame[None, :]

    def windows_to_sample(self, starts: Sequence[int], config: ModelConfig) -> slice:
        """The run of windows (laid out at `starts`) from the first to the last that holds
        something to regenerate."""
        mask = self.channel_mask(config.contact_dim)
        needed = [i for i, start in enumerate(starts) if not mask[start:start + config.n_frames].all()]
        return slice(needed[0], needed[-1] + 1)

    def known(self, normalizer: Normalizer, starts: Sequence[int], config: ModelConfig) -> Known:
        """The in-painting constraint over the windows at `starts`: the input motion (with its foot
        contacts) normalised into the model's channels, and the mask of what is kept."""
        source = self.extended_motion()
        values = normalizer.normalize(np.concatenate([source.foot_contacts().astype(np.float32),
                                                      source.to_vector()], axis=1))
        mask = self.channel_mask(config.contact_dim)
        return Known(torch.from_numpy(window_values(values, starts, config.n_frames)),
                     torch.from_numpy(window_values(mask, starts, config.n_frames)))

    def extended_motion(self) -> Motion:
        """The motion held on its last frame up to the edit's length (placeholder values for new
        frames, which are regenerated)."""
        motion, extra = self.motion, self.length - self.motion.n_frames
        if extra == 0:
            return motion
        return Motion(np.concatenate([motion.root_translation, np.repeat(motion.root_translation[-1:], extra, 0)]),
                      np.concatenate([motion.local_rotmats, np.repeat(motion.local_rotmats[-1:], extra, 0)]),
                      motion.fps)

    def restore(self, generated: Motion, offset: int) -> Motion:
        """The edit's result from the sampled `generated` motion (its frame 0 = frame `offset`; frames
        past it are all kept): seams blended, kept values the input's exactly."""
        source = self.extended_motion()
        covered = slice(offset, offset + generated.n_frames)
        root, rotmats = source.root_translation.copy(), source.local_rotmats.copy()
        root[covered], rotmats[covered] = generated.root_translation, generated.local_rotmats
        root, rotmats = blend_seams(root, rotmats, ~self.frames, self.blend_frames)
        keep_root = self.frames | self.translation
        keep_rotation = self.frames[:, None] | self.joints[None, :]
        root = np.where(keep_root[:, None], source.root_translation, root)
        rotmats = np.where(keep_rotation[..., None, None], source.local_rotmats, rotmats)
        return Motion(root, rotmats, source.fps)


def window_values(per_frame: np.ndarray, starts: Sequence[int], window: int) -> np.ndarray:
    """(T, C) -> (W, window, C) at `starts`; frames past the end (the last window's padding) are
    zero / False, i.e. not kept."""
    padded = np.pad(per_frame, ((0, max(0, starts[-1] + window - len(per_frame))), (0, 0)))
    return np.stack([padded[start:start + window] for start in starts])


def joint_indices(joints: Iterable[int | str]) -> list[int]:
    indices = []
    for joint in joints:
        if isinstance(joint, str):
            if joint not in JOINT_NAMES:
                raise LM2DError(f"unknown joint {joint!r}; SMPL joints are {', '.join(JOINT_NAMES)}")
            indices.append(JOINT_NAMES.index(joint))
        elif isinstance(joint, (int, np.integer)) and 0 <= joint < NUM_JOINTS:
            indices.append(int(joint))
        else:
            raise LM2DError(f"joint {joint!r} is neither an SMPL joint name nor an index 0..{NUM_JOINTS - 1}")
    if not indices:
        raise LM2DError("no joints given to keep")
    return indices



# --- seams --------------------------------------------------------------------------------

def blend_seams(root: np.ndarray, rotmats: np.ndarray, regenerated: np.ndarray, blend_frames: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pull each regenerated run's frames next to a kept neighbour onto the kept motion: the
    first regenerated frame is moved to where the kept motion would be one frame later (its
    last velocity continued), and that correction fades out with a half cosine over the blend
    zone (at most blend_frames, at most half the run when it has kept frames on both sides, at
    least one frame; blend_frames = 0 turns blending off). Kept frames are not touched."""
    if blend_frames < 1:
        return root, rotmats
    root, rotmats = root.astype(np.float64), rotmats.astype(np.float64)
    length = len(regenerated)
    for start, end in _runs(regenerated):
        sides = (start > 0) + (end < length)
        zone = max(1, min(blend_frames, (end - start) // max(sides, 1)))
        if start > 0:
            _fade_in_correction(root, rotmats, np.arange(start, start + zone), start - 1, max(start - 2, 0))
        if end < length:
            _fade_in_correction(root, rotmats, np.arange(end - 1, end - 1 - zone, -1), end, min(end + 1, length - 1))
    return root.astype(np.float32), rotmats.astype(np.float32)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _fade_in_correction(root: np.ndarray, rotmats: np.ndarray, frames: np.ndarray, anchor: int,
                        before_anchor: int) -> None:
    """In place: frames[0] is corrected to the kept motion continued one frame past `anchor`
    (moving as it did from before_anchor to anchor), frames[j] by a half-cosine share of that."""
    weights = 0.5 * (1 + np.cos(np.pi * np.arange(len(frames)) / len(frames)))
    target_root = 2 * root[anchor] - root[before_anchor]
    root[frames] += weights[:, None] * (target_root - root[frames[0]])

    rot = torch.from_numpy(rotmats)
    step = rot[anchor] @ rot[before_anchor].transpose(-1, -2)
    target = step @ rot[anchor]
    correction = matrix_to_quaternion(target @ rot[frames[0]].transpose(-1, -2))    # (24, 4)
    identity = torch.zeros_like(correction)
    identity[..., 0] = 1.0
    shares = slerp(identity.expand(len(frames), -1, -1), correction.expand(len(frames), -1, -1),
                   torch.from_numpy(weights)[:, None].expand(-1, NUM_JOINTS))
    rotmats[frames] = (quaternion_to_matrix(shares) @ rot[frames]).numpy()
