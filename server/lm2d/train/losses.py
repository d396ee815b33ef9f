"""EDGE's training losses on x0 predictions (Tseng et al. 2023, EDGE's GaussianDiffusion.p_losses).

Frames are laid out [4 foot contacts, 147 motion] (lm2d.model.config). One deliberate
difference: EDGE runs forward kinematics on the *normalised* vectors (its unnormalise call is
commented out), which puts joints at meaningless positions; here FK and the contact threshold
use the unnormalised motion, in metres and 0/1 contact flags.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from lm2d.model.normalizer import Normalizer
from lm2d.motion.kinematics import forward_kinematics
from lm2d.motion.representation import motion_vector_to_parts
from lm2d.motion.skeleton import FOOT_JOINTS
from lm2d.train.config import LossWeights

CONTACT_DIM = 4
STATIC_CONTACT = 0.95   # a foot the model itself calls this surely planted must not slide
DATA_CONTACT = 0.5      # the clean motion's contact flags are 0/1


@dataclass
class LossTerms:
    simple: torch.Tensor
    velocity: torch.Tensor
    fk: torch.Tensor
    foot: torch.Tensor
    contact: torch.Tensor
    total: torch.Tensor

    NAMES: ClassVar[tuple[str, ...]] = ("total", "simple", "velocity", "fk", "foot", "contact")

    def detach(self) -> "LossTerms":
        return LossTerms(**{name: getattr(self, name).detach() for name in self.NAMES})

    def stacked(self) -> torch.Tensor:
        """(6,) in NAMES order, on the loss's device (no host sync)."""
        return torch.stack([getattr(self, name).detach() for name in self.NAMES])


def joint_positions(motion: torch.Tensor) -> torch.Tensor:
    """(..., T, 147) unnormalised motion vectors -> (..., T, 24, 3) world joints in metres."""
    translation, rotmats = motion_vector_to_parts(motion)
    return forward_kinematics(translation, rotmats)


def diffusion_losses(predicted: torch.Tensor, target: torch.Tensor, normalizer: Normalizer,
                     weights: LossWeights = LossWeights()) -> LossTerms:
    """EDGE's four losses, plus contact consistency, for normalised (B, T, 151) x0 predictions
    against the clean windows.

    simple: MSE over every channel. velocity: MSE of frame differences of the motion channels.
    fk: MSE of joint positions. foot: squared frame-to-frame velocity of the ankle and foot
    joints, counted only where the model's own (unnormalised) contact channel exceeds 0.95.
    contact: the same velocity, counted where the *clean* motion has that foot planted. EDGE has
    no such term (weight 0): a model that glides both feet while travelling never calls them
    planted, so its own contacts never make the foot loss bite; the data's contacts do.
    """
    predicted, target = predicted.float(), target.float()
    simple = F.mse_loss(predicted, target)
    predicted_motion, target_motion = predicted[..., CONTACT_DIM:], target[..., CONTACT_DIM:]
    velocity = F.mse_loss(predicted_motion.diff(dim=1), target_motion.diff(dim=1))

    predicted_raw = normalizer.unnormalize(predicted)
    predicted_joints = joint_positions(predicted_raw[..., CONTACT_DIM:])
    with torch.no_grad():   # the target needs no gradient graph
        target_raw = normalizer.unnormalize(target)
        target_joints = joint_positions(target_raw[..., CONTACT_DIM:])
    fk = F.mse_loss(predicted_joints, target_joints)

    feet = predicted_joints[:, :, list(FOOT_JOINTS)]                  # (B, T, 4, 3)
    foot_velocity = feet[:, 1:] - feet[:, :-1]
    foot_speed = foot_velocity.square()
    planted = predicted_raw[:, :-1, :CONTACT_DIM] > STATIC_CONTACT    # (B, T-1, 4)
    foot = (foot_speed * planted[..., None]).mean()
    planted_in_data = target_raw[:, :-1, :CONTACT_DIM] > DATA_CONTACT
    contact = (foot_speed * planted_in_data[..., None]).mean()

    total = (weights.simple * simple + weights.velocity * velocity
             + weights.fk * fk + weights.foot * foot + weights.contact * contact)
    return LossTerms(simple=simple, velocity=velocity, fk=fk, foot=foot, contact=contact, total=total)
