"""Where the fitted body is in the room: the pelvis path from the image, the floor, and feet that
stay put while they stand on it.

MediaPipe's 3-D landmarks are centred between the hips, so the path comes from the 2-D ones: per
frame, the translation that projects the fitted markers onto the image landmarks through a level
pinhole camera (linear least squares). The floor is the level of the toes when they are lowest;
a foot is planted while its toe is near the floor and slow. A last optimisation pins each planted
foot's ankle and toe to one spot (their mean over the contact) and the toe onto the floor, moving
the pelvis path and the poses as little as the markers allow: no skating.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from scipy.ndimage import binary_closing, binary_opening
from scipy.signal import savgol_filter

from lm2d.video.fit import SkeletonFit, optimise
from lm2d.video.landmarks import INDEX, Landmarks

DEFAULT_FIELD_OF_VIEW = 50.0     # degrees across the frame's longer side (phones: 50-70)
FOOT_CHAINS = ((7, 10), (8, 11))  # (ankle, toe) of the left and right foot
CONTACT_HEIGHT = 0.05            # metres: a toe this close to the floor can be standing on it
CONTACT_IMAGE_SPEED = 0.25       # body heights per second in the picture: ... and is still
SHOULDER_TO_ANKLE = 0.8          # of the body height: turns the picture's shoulder-ankle span into a height
FOOT_LANDMARKS = (("left_ankle", "left_heel", "left_foot_index"), ("right_ankle", "right_heel", "right_foot_index"))
MIN_CONTACT_FRAMES = 3
FLOOR_PERCENTILE = 5.0


def camera_focal(landmarks: Landmarks, field_of_view: float) -> float:
    """Focal length in pixels for a horizontal-or-vertical field of view across the longer side."""
    return 0.5 * max(landmarks.width, landmarks.height) / math.tan(math.radians(field_of_view) / 2)


def pelvis_path(landmarks: Landmarks, markers: np.ndarray, field_of_view: float = DEFAULT_FIELD_OF_VIEW) -> np.ndarray:
    """(N, 3) pelvis positions in the camera's level frame (x right, y away, z up) such that the
    markers (N, M, 3), relative to the pelvis, project onto the image landmarks.

    Projection: u = cx + f (x + Tx) / (y + Ty), v = cy - f (z + Tz) / (y + Ty), which is linear in
    T once multiplied out; each marker's two rows are weighted by its visibility."""
    from lm2d.video.fit import MARKERS

    f = camera_focal(landmarks, field_of_view)
    image = np.stack([landmarks.image[:, [INDEX[n] for n in m.landmarks]].mean(axis=1) for m in MARKERS], axis=1)
    u = (image[..., 0] - 0.5) * landmarks.width            # pixels from the centre, right
    v = (image[..., 1] - 0.5) * landmarks.height           # pixels from the centre, down
    weight = np.stack([landmarks.visibility[:, [INDEX[n] for n in m.landmarks]].min(axis=1) for m in MARKERS], axis=1)
    weight = np.sqrt(np.clip(weight, 0.05, 1.0))
    x, y, z = markers[..., 0], markers[..., 1], markers[..., 2]
    zeros = np.zeros_like(u)
    # f Tx - u Ty = u y - f x ;  f Tz + v Ty = -v y - f z
    rows = np.concatenate([np.stack([np.full_like(u, f), -u, zeros], -1),
                           np.stack([zeros, v, np.full_like(u, f)], -1)], axis=1)      # (N, 2M, 3)
    rhs = np.concatenate([u * y - f * x, -v * y - f * z], axis=1)                      # (N, 2M)
    w = np.concatenate([weight, weight], axis=1)
    a = rows * w[..., None]
    b = rhs * w
    return np.linalg.solve(np.einsum("nki,nkj->nij", a, a), np.einsum("nki,nk->ni", a, b))


def smooth_path(path: np.ndarray, fps: float) -> np.ndarray:
    """Depth from image size is jittery: a half-second Savitzky-Golay keeps the travel, not the noise."""
    window = int(round(0.5 * fps)) | 1
    return savgol_filter(path, window, 2, axis=0) if len(path) > window else path


def foot_contacts(landmarks: Landmarks, joints_relative: np.ndarray) -> np.ndarray:
    """(N, 2) bool: the left / right foot is planted. With a still camera a planted foot stands
    still in the picture, which the 2-D landmarks measure far better than depth: its ankle, heel and
    toe landmarks move less than CONTACT_IMAGE_SPEED body heights a second, and its toe is no more
    than CONTACT_HEIGHT above the other foot's (the fitted pose). Flickers are removed."""
    pixels = landmarks.image * np.array([landmarks.width, landmarks.height])
    body = np.linalg.norm(pixels[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]].mean(1)
                          - pixels[:, [INDEX["left_ankle"], INDEX["right_ankle"]]].mean(1), axis=-1)
    body = np.median(body) / SHOULDER_TO_ANKLE
    toe_heights = joints_relative[:, [toe for _, toe in FOOT_CHAINS], 2]
    contacts = []
    for side, names in enumerate(FOOT_LANDMARKS):
        points = pixels[:, [INDEX[name] for name in names]]
        speed = np.linalg.norm(np.gradient(points, axis=0), axis=-1).max(axis=1) * landmarks.fps / body
        low = toe_heights[:, side] - toe_heights.min(axis=1) < CONTACT_HEIGHT
        planted = (speed < CONTACT_IMAGE_SPEED) & low
        structure = np.ones(MIN_CONTACT_FRAMES, dtype=bool)
        contacts.append(binary_opening(binary_closing(planted, structure), structure))
    return np.stack(contacts, axis=1)


def contact_spans(planted: np.ndarray) -> list[tuple[int, int]]:
    """(first, last + 1) of each run of True."""
    edges = np.diff(np.concatenate([[0], planted.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def place_on_floor(root: np.ndarray, joints_relative: np.ndarray) -> np.ndarray:
    """The path moved up or down so the toes' low level (a percentile, robust to a bad frame) is z = 0."""
    toes = (root[:, None] + joints_relative)[:, [toe for _, toe in FOOT_CHAINS], 2].min(axis=1)
    return root - np.array([0.0, 0.0, np.percentile(toes, FLOOR_PERCENTILE)])


class GroundedFit(torch.nn.Module):
    """The skeleton fit plus a pelvis path, with planted feet pinned."""

    def __init__(self, fit: SkeletonFit, root: np.ndarray, planted: np.ndarray, joints: np.ndarray,
                 root_weight: float = 0.05, contact_weight: float = 10.0):
        super().__init__()
        self.fit = fit
        self.root = torch.nn.Parameter(torch.as_tensor(root, dtype=torch.float32))
        self.root_estimate = torch.as_tensor(root, dtype=torch.float32)
        self.root_weight, self.contact_weight = root_weight, contact_weight
        frames, joint_ids, pins = [], [], []
        for side, chain in enumerate(FOOT_CHAINS):
            for start, end in contact_spans(planted[:, side]):
                for joint in chain:
                    spot = joints[start:end, joint].mean(axis=0)
                    if joint == chain[1]:
                        spot[2] = 0.0        # the toe stands on the floor
                    frames.extend(range(start, end))
                    joint_ids.extend([joint] * (end - start))
                    pins.extend([spot] * (end - start))
        self.pin_frames = torch.tensor(frames, dtype=torch.long)
        self.pin_joints = torch.tensor(joint_ids, dtype=torch.long)
        self.pins = torch.as_tensor(np.array(pins, dtype=np.float32).reshape(-1, 3))

    def losses(self) -> dict[str, torch.Tensor]:
        terms = self.fit.losses()
        terms["root"] = self.root_weight * ((self.root - self.root_estimate) ** 2).sum(-1).mean()
        if len(self.root) > 2:
            acceleration = self.root[2:] - 2 * self.root[1:-1] + self.root[:-2]
            terms["root_smoothness"] = self.fit.weights.smoothness * (acceleration ** 2).sum(-1).mean()
        if len(self.pins):
            joints, _ = self.fit.markers(self.root)
            feet = joints[self.pin_frames, self.pin_joints]
            terms["contacts"] = self.contact_weight * ((feet - self.pins) ** 2).sum(-1).mean()
        return terms


def ground_motion(fit: SkeletonFit, landmarks: Landmarks, field_of_view: float = DEFAULT_FIELD_OF_VIEW,
                  iterations: int = 100, progress: Callable[[int, int], None] | None = None):
    """The pelvis path (N, 3), world Z-up with the floor at z = 0, and the contacts (N, 2) of a fitted
    skeleton; refines `fit` in place so planted feet do not slide."""
    with torch.no_grad():
        joints_relative, markers = (t.numpy() for t in fit.markers())
    root = smooth_path(pelvis_path(landmarks, markers, field_of_view), landmarks.fps)
    root = place_on_floor(root, joints_relative)
    planted = foot_contacts(landmarks, joints_relative)
    grounded = GroundedFit(fit, root, planted, root[:, None] + joints_relative)
    optimise(grounded, grounded.losses, iterations, progress, learning_rate=0.01)
    return grounded.root.detach().numpy().astype(np.float64), planted
