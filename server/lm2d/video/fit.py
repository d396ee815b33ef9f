"""The SMPL skeleton fitted to MediaPipe's landmarks by optimisation through lm2d's own forward
kinematics (torch), all frames at once.

Each landmark is a *marker*: a point fixed in one joint's frame (the knee landmark near the knee
joint, the nose and ears ahead of and beside the head joint), its offset fitted per video from a
first guess, since MediaPipe's idea of a hip or an ankle is not SMPL's joint centre. Per frame the
unknowns are the 24 local rotations (knees and elbows are hinges, toes and hand tips fixed), an
offset between MediaPipe's hip-centred frame and the pelvis, and the pelvis position in the camera's
frame; per video, one scale (MediaPipe's metres are an estimate, SMPL's bone lengths are fixed) and
the marker offsets. The loss: visibility-weighted 3-D marker distance, 2-D reprojection distance
through a level pinhole camera (lm2d.video.camera), bone-direction agreement for the limbs
(independent of bone length: a dancer with longer shins than SMPL's still fits), hinge limits (no
knee or elbow bending backwards), a prior that keeps the spine, neck, collars, wrists and ankles
near rest unless the markers say otherwise (a bend spreads over the spine), and joint acceleration
(smoothness). With the landmark lifter's joints (lm2d.video.lifter) the fit also pulls each joint
towards its lifted place (pelvis-relative, the camera's level frame), and the landmarks' own 3-D
positions count less: the lifter has learnt where they mislead.
lm2d.video.ground then adds the floor and foot contacts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from lm2d.motion.kinematics import forward_kinematics_with_rotations
from lm2d.motion.rotation import axis_angle_to_matrix, matrix_to_axis_angle
from lm2d.motion.skeleton import NUM_JOINTS
from lm2d.video.camera import DEFAULT_FIELD_OF_VIEW, camera_focal, image_targets, pelvis_path
from lm2d.video.landmarks import INDEX, Landmarks


@dataclass(frozen=True)
class Marker:
    landmarks: tuple[str, ...]     # MediaPipe landmark(s), averaged
    joint: int                     # the SMPL joint it rides on
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)   # first guess, in the joint's rest frame (Z-up, m)
    weight: float = 1.0


MARKERS = (
    Marker(("left_hip",), 1), Marker(("right_hip",), 2),
    Marker(("left_knee",), 4), Marker(("right_knee",), 5),
    Marker(("left_ankle",), 7), Marker(("right_ankle",), 8),
    Marker(("left_foot_index",), 10, weight=0.5), Marker(("right_foot_index",), 11, weight=0.5),
    Marker(("left_heel",), 7, (0.0, 0.06, -0.05), 0.5), Marker(("right_heel",), 8, (0.0, 0.06, -0.05), 0.5),
    Marker(("left_shoulder",), 16), Marker(("right_shoulder",), 17),
    Marker(("left_elbow",), 18), Marker(("right_elbow",), 19),
    Marker(("left_wrist",), 20), Marker(("right_wrist",), 21),
    Marker(("left_pinky", "left_index"), 22, weight=0.3), Marker(("right_pinky", "right_index"), 23, weight=0.3),
    Marker(("nose",), 15, (0.0, -0.1, 0.0), 0.5),
    Marker(("left_ear",), 15, (0.07, 0.0, 0.0), 0.5), Marker(("right_ear",), 15, (-0.07, 0.0, 0.0), 0.5),
)
NEAREST_DEPTH = 0.3     # metres: a point projected nearer the camera than this is taken to be this near
UNSEEN_TRUST = 0.3      # interpolated frames have no visibility of their own: trusted a little
# Limb bones (marker index pairs) whose direction must agree, whatever their length.
LIMBS = ((0, 2), (1, 3), (2, 4), (3, 5), (10, 12), (11, 13), (12, 14), (13, 15), (0, 1), (10, 11))
# Hinges: joint -> (axis of its local rotation, lowest, highest angle in radians).
KNEE_RANGE, ELBOW_RANGE = (0.0, 2.6), (0.0, 2.7)
HINGES = {4: (0, *KNEE_RANGE), 5: (0, *KNEE_RANGE), 18: (2, -ELBOW_RANGE[1], 0.0), 19: (2, *ELBOW_RANGE)}
FIXED_JOINTS = (10, 11, 22, 23)             # toes and hand tips: no landmark can turn them
# Joints pulled towards rest (weight per joint): landmarks say little about each alone.
REST_PRIOR = {3: 1.0, 6: 1.0, 9: 1.0, 12: 0.5, 15: 0.2, 13: 2.0, 14: 2.0, 7: 0.3, 8: 0.3, 20: 0.3, 21: 0.3}


@dataclass
class Weights:
    markers: float = 1.0
    reprojection: float = 0.3      # image distance, in metres at the dancer's depth
    limb_direction: float = 0.3
    limits: float = 1.0
    rest_prior: float = 0.002
    smoothness: float = 0.2        # stronger slows Adam's convergence more than it removes jitter
    offsets: float = 0.05
    lifted: float = 1.0            # joints' distance to the lifter's (when there is one)


# With the lifter's joints: they carry the 3-D pose; the landmarks' own 3-D positions count
# little and their limb directions not at all (on renders of known motion these weights gave
# 5.9-7.0 cm where the defaults' markers 0.2, limbs 0.05, lifted 1 gave 6.2-8.0).
LIFTED_WEIGHTS = Weights(markers=0.05, limb_direction=0.0, lifted=5.0)


def marker_targets(landmarks: Landmarks) -> tuple[np.ndarray, np.ndarray]:
    """(N, M, 3) landmark positions per marker (Z-up, hip-centred) and (N, M) confidences."""
    positions = np.stack([landmarks.world[:, [INDEX[n] for n in m.landmarks]].mean(axis=1) for m in MARKERS], axis=1)
    confidence = np.stack([landmarks.visibility[:, [INDEX[n] for n in m.landmarks]].min(axis=1) for m in MARKERS], axis=1)
    confidence[~landmarks.found] = UNSEEN_TRUST
    return positions, np.clip(confidence, 0.05, 1.0)


def initial_root_orientation(hips: np.ndarray, shoulders: np.ndarray) -> np.ndarray:
    """(N, 3, 3) pelvis rotation from the hips (left-right) and the trunk (up), each given as
    (N, 2, 3) left and right points: SMPL's rest pelvis has left along +X and up along +Z, so
    these two directions give the frame."""
    left = hips[:, 0] - hips[:, 1]
    up = shoulders.mean(axis=1) - hips.mean(axis=1)
    left /= np.linalg.norm(left, axis=-1, keepdims=True) + 1e-9
    up = up - (up * left).sum(-1, keepdims=True) * left
    up /= np.linalg.norm(up, axis=-1, keepdims=True) + 1e-9
    return np.stack([left, np.cross(up, left), up], axis=-1)


class SkeletonFit(torch.nn.Module):
    """The unknowns and the loss. `pose()` gives local rotation matrices (N, 24, 3, 3);
    `camera_root` (N, 3) is the pelvis in the camera's level frame (x right, y away, z up)."""

    def __init__(self, landmarks: Landmarks, field_of_view: float, weights: Weights | None = None,
                 lifted: np.ndarray | None = None):
        super().__init__()
        targets, confidence = marker_targets(landmarks)
        markers_of = [m.landmarks for m in MARKERS]
        n = len(targets)
        self.weights = weights or (Weights() if lifted is None else LIFTED_WEIGHTS)
        self.lifted = None if lifted is None else torch.as_tensor(lifted, dtype=torch.float32)
        self.frame_trust = torch.as_tensor(np.where(landmarks.found, 1.0, UNSEEN_TRUST), dtype=torch.float32)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.confidence = torch.as_tensor(confidence, dtype=torch.float32)
        self.image_targets = torch.as_tensor(image_targets(landmarks, markers_of), dtype=torch.float32)
        self.focal = camera_focal(landmarks, field_of_view)
        # MediaPipe's hip-centred landmarks stand in for pelvis-relative markers at the start.
        root = pelvis_path(landmarks, markers_of, targets, confidence, field_of_view)
        self.camera_root = torch.nn.Parameter(torch.as_tensor(root, dtype=torch.float32))
        self.depth = float(np.median(root[:, 1]))
        axis_angle = torch.zeros(n, NUM_JOINTS, 3)
        # The lifter's joints know which way the dancer faces better than the landmarks do.
        hips, shoulders = (targets[:, [0, 1]], targets[:, [10, 11]]) if lifted is None else (lifted[:, [1, 2]],
                                                                                             lifted[:, [16, 17]])
        axis_angle[:, 0] = matrix_to_axis_angle(torch.as_tensor(initial_root_orientation(hips, shoulders),
                                                                dtype=torch.float32))
        self.axis_angle = torch.nn.Parameter(axis_angle)
        self.frame_offset = torch.nn.Parameter(torch.zeros(n, 3))
        self.log_scale = torch.nn.Parameter(torch.zeros(()))
        self.initial_offsets = torch.tensor([m.offset for m in MARKERS], dtype=torch.float32)
        self.marker_offsets = torch.nn.Parameter(self.initial_offsets.clone())
        self.marker_joints = torch.tensor([m.joint for m in MARKERS])
        self.marker_weights = torch.tensor([m.weight for m in MARKERS])
        mask = torch.ones(NUM_JOINTS, 3)
        mask[list(FIXED_JOINTS)] = 0.0
        for joint, (axis, _, _) in HINGES.items():
            mask[joint] = 0.0
            mask[joint, axis] = 1.0
        self.register_buffer("mask", mask)

    def pose(self) -> torch.Tensor:
        return axis_angle_to_matrix(self.axis_angle * self.mask)

    def markers(self, root: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint positions (N, 24, 3) and marker positions (N, M, 3) with the pelvis at `root`
        (default: the origin)."""
        if root is None:
            root = torch.zeros(len(self.axis_angle), 3)
        joints, rotations = forward_kinematics_with_rotations(root, self.pose())
        markers = joints[:, self.marker_joints] + torch.einsum("nmij,mj->nmi", rotations[:, self.marker_joints],
                                                              self.marker_offsets)
        return joints, markers

    def losses(self) -> dict[str, torch.Tensor]:
        w = self.weights
        joints, markers = self.markers()
        target = self.targets * self.log_scale.exp() + self.frame_offset[:, None]
        confidence = self.confidence * self.marker_weights
        error = ((markers - target) ** 2).sum(-1)
        terms = {"markers": w.markers * (confidence * error).sum() / confidence.sum()}

        seen = markers + self.camera_root[:, None]
        depth = seen[..., 1].clamp(min=NEAREST_DEPTH)
        pixels = self.focal * torch.stack([seen[..., 0], -seen[..., 2]], dim=-1) / depth[..., None]
        image_error = ((pixels - self.image_targets) ** 2).sum(-1) * (self.depth / self.focal) ** 2
        terms["reprojection"] = w.reprojection * (confidence * image_error).sum() / confidence.sum()

        pairs = torch.tensor(LIMBS)
        bone = markers[:, pairs[:, 1]] - markers[:, pairs[:, 0]]
        seen = self.targets[:, pairs[:, 1]] - self.targets[:, pairs[:, 0]]
        cosine = torch.nn.functional.cosine_similarity(bone, seen, dim=-1)
        limb_confidence = torch.minimum(self.confidence[:, pairs[:, 0]], self.confidence[:, pairs[:, 1]])
        terms["limb_direction"] = w.limb_direction * (limb_confidence * (1 - cosine)).mean()

        limit = torch.zeros(())
        for joint, (axis, low, high) in HINGES.items():
            angle = self.axis_angle[:, joint, axis]
            limit = limit + (torch.relu(low - angle) ** 2 + torch.relu(angle - high) ** 2).mean()
        terms["limits"] = w.limits * limit

        prior_joints = torch.tensor(list(REST_PRIOR))
        prior_weights = torch.tensor(list(REST_PRIOR.values()))
        terms["rest_prior"] = w.rest_prior * ((self.axis_angle[:, prior_joints] ** 2).sum(-1) * prior_weights).mean()

        if len(joints) > 2:
            moving = joints + self.camera_root[:, None]
            acceleration = moving[2:] - 2 * moving[1:-1] + moving[:-2]
            terms["smoothness"] = w.smoothness * (acceleration ** 2).sum(-1).mean()
        terms["offsets"] = w.offsets * ((self.marker_offsets - self.initial_offsets) ** 2).sum()
        if self.lifted is not None:
            lifted_error = ((joints - self.lifted) ** 2).sum(-1).mean(-1)
            terms["lifted"] = w.lifted * (self.frame_trust * lifted_error).sum() / self.frame_trust.sum()
        return terms


def fit_skeleton(landmarks: Landmarks, field_of_view: float = DEFAULT_FIELD_OF_VIEW, iterations: int = 300,
                 weights: Weights | None = None, progress: Callable[[int, int], None] | None = None,
                 lifted: np.ndarray | None = None) -> SkeletonFit:
    """Fit the skeleton's rotations and camera-frame path to the landmarks (every frame at once),
    and to the lifter's joints `lifted` (N, 24, 3) when given. `progress(done, total)` after each
    iteration."""
    model = SkeletonFit(landmarks, field_of_view, weights, lifted)
    optimise(model, model.losses, iterations, progress)
    return model


def optimise(model: torch.nn.Module, loss_terms: Callable[[], dict], iterations: int,
             progress: Callable[[int, int], None] | None = None, learning_rate: float = 0.05) -> None:
    """Adam with a cosine-decaying step: per-frame unknowns that barely interact suit it."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min=learning_rate * 0.05)
    for step in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        loss = sum(loss_terms().values())
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, iterations)
