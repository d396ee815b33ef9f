"""Forward kinematics on the Z-up SMPL skeleton and EDGE's foot-contact labels (torch)."""
from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform

from lm2d.motion.skeleton import FOOT_JOINTS, NUM_JOINTS, PARENTS, rest_positions

CONTACT_SPEED = 0.01   # metres per frame (at 30 FPS): EDGE's foot-contact threshold


def forward_kinematics(root_translation: torch.Tensor, local_rotmats: torch.Tensor,
                       rest: torch.Tensor | None = None) -> torch.Tensor:
    """World joint positions (..., 24, 3) from the pelvis position (..., 3) and local joint
    rotations (..., 24, 3, 3); `rest` is the (24, 3) Z-up rest pose (default: skeleton.rest_positions()).

    Each joint's rotation acts in its parent's frame: global_i = global_parent @ local_i, and
    joint_i = joint_parent + global_parent @ (rest_i - rest_parent). The root translation is
    the pelvis position itself.
    """
    return forward_kinematics_with_rotations(root_translation, local_rotmats, rest)[0]


def forward_kinematics_with_rotations(root_translation: torch.Tensor, local_rotmats: torch.Tensor,
                                      rest: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """forward_kinematics's joint positions (..., 24, 3) and each joint's global rotation
    (..., 24, 3, 3): what points fixed to a bone (markers, a skull, toes) move with."""
    if local_rotmats.shape[-3:] != (NUM_JOINTS, 3, 3) or root_translation.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) and (..., {NUM_JOINTS}, 3, 3), got "
                         f"{tuple(root_translation.shape)} and {tuple(local_rotmats.shape)}")
    batch_shape = local_rotmats.shape[:-3]
    dtype, device = local_rotmats.dtype, local_rotmats.device
    rest = torch.as_tensor(rest_positions() if rest is None else rest, dtype=dtype, device=device)
    rotmats = local_rotmats.reshape(-1, NUM_JOINTS, 3, 3)
    parents = torch.tensor(PARENTS, dtype=torch.long, device=device)
    posed, transforms = batch_rigid_transform(rotmats, rest.expand(rotmats.shape[0], NUM_JOINTS, 3), parents)
    posed = posed.reshape(*batch_shape, NUM_JOINTS, 3)
    global_rotmats = transforms[..., :3, :3].reshape(*batch_shape, NUM_JOINTS, 3, 3)
    # batch_rigid_transform rotates about the rest pelvis; move the pelvis to the root translation.
    return posed + (root_translation - rest[0])[..., None, :], global_rotmats


def foot_contacts(joints: torch.Tensor, threshold: float = CONTACT_SPEED) -> torch.Tensor:
    """(..., T, 4) bool: ankle/foot joints 7, 8, 10, 11 moving less than `threshold` per frame.

    Speed at frame t is |p_t - p_{t-1}|; the first frame copies the second. A single frame is
    taken as standing still.
    """
    feet = joints[..., list(FOOT_JOINTS), :]
    speed = torch.linalg.norm(feet[..., 1:, :, :] - feet[..., :-1, :, :], dim=-1)
    if speed.shape[-2] == 0:
        return torch.ones(feet.shape[:-1], dtype=torch.bool, device=joints.device)
    speed = torch.cat([speed[..., :1, :], speed], dim=-2)
    return speed < threshold
