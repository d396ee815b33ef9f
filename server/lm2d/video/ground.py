"""Where the fitted body is in the room: the floor, and feet that stay put while they stand on it.

The pelvis path comes from the fit (lm2d.video.fit: the camera-frame path that makes the markers
project onto the image landmarks), smoothed. The floor is the level of the toes when they are
lowest (z = 0). A foot is planted while it stands still in the picture and is not lifted above the
other foot, or while its toe is on the floor and not above the other toe, until it travels in the
picture (real dancers slide and swivel their feet on the floor: foot_contacts); a last
optimisation pulls each planted foot's ankle and toe to one spot per contact (a fitted unknown)
with the toe on the floor, moving the path and the poses as little as the markers allow, and the
millimetres it leaves are taken out of the path exactly: no skating while a foot is planted.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.ndimage import binary_closing, binary_opening
from scipy.signal import savgol_filter

from lm2d.corpus.rig import rotvec_matrix
from lm2d.motion.footlock import KNEE_FORWARD, LEGS, REACH, contact_spans
from lm2d.motion.ik import smoothstep, two_bone_ik
from lm2d.motion.kinematics import forward_kinematics_with_rotations
from lm2d.motion.rotation import matrix_to_quaternion, quaternion_to_matrix, slerp, to_numpy
from lm2d.motion.skeleton import PARENTS, rest_positions
from lm2d.video.fit import NEAREST_DEPTH, SkeletonFit, optimise
from lm2d.video.landmarks import Landmarks

FOOT_CHAINS = tuple(leg[2:] for leg in LEGS)   # (ankle, toe) of the left and right foot
CONTACT_HEIGHT = 0.06            # metres: a toe this close to the floor (and the other toe) stands on it
# (0.04 let a fitted toe skim the floor unpinned: 1.4 cm/s of skating on a render whose truth has none)
LIFT_HEIGHT = 0.10               # metres: a still foot this much above the other foot is held in the air
STILL_SPEED, MOVING_SPEED = 0.25, 0.5    # m/s in the picture: a planted foot's landmarks only jitter
MIN_CONTACT_FRAMES = 3
# metres in the picture: a foot this far from its spot is not planted (0.2 held real dances' poses a
# little closer, but left fast footwork's feet free to skate on the floor: 39 cm/s vs the truth's 23)
TRAVEL_DISTANCE = 0.3
BLEND_SECONDS = 0.15             # a pinned foot eases in and out of its spot over this
FLOOR_PERCENTILE = 5.0


def smooth_path(path: np.ndarray, fps: float) -> np.ndarray:
    """Depth from image size is jittery: a half-second Savitzky-Golay keeps the travel, not the noise."""
    window = int(round(0.5 * fps)) | 1
    return savgol_filter(path, window, 2, axis=0) if len(path) > window else path


def foot_contacts(joints: np.ndarray, picture: np.ndarray, fps: float) -> np.ndarray:
    """(N, 2) bool: the left / right foot is planted. Depth from one camera is too unsure to judge a
    foot still by its 3-D speed, but the picture is sharp: a foot is planted while it stands still
    in the picture (`picture`, picture_feet's) — below STILL_SPEED to enter, above MOVING_SPEED to
    leave (hysteresis: noise does not make contacts flicker) — and its toe is within LIFT_HEIGHT of
    the lower toe (a leg held still in the air is not on the floor). A toe on the floor and level
    with the other also counts (a foot seen end-on barely moves in the image). Flickers shorter than
    MIN_CONTACT_FRAMES are removed, and a contact ends where the foot travels (end_travelling_contacts)."""
    toes = joints[:, [toe for _, toe in FOOT_CHAINS], 2]
    low = (toes < CONTACT_HEIGHT) & (toes - toes.min(axis=1, keepdims=True) < CONTACT_HEIGHT)
    # A heel down with the toes raised stands too: the ankle near its own lowest level.
    ankles = joints[:, [ankle for ankle, _ in FOOT_CHAINS], 2]
    low |= ankles - np.percentile(ankles, FLOOR_PERCENTILE, axis=0) < CONTACT_HEIGHT
    # Unless the dancer is in the air, the lower foot carries the weight.
    low |= (toes < LIFT_HEIGHT) & (toes == toes.min(axis=1, keepdims=True))
    near_lowest = toes - toes.min(axis=1, keepdims=True) < LIFT_HEIGHT
    speed = np.linalg.norm(np.diff(picture, axis=0, prepend=picture[:1]), axis=-1) * fps
    planted = []
    for side in range(2):
        still = np.zeros(len(joints), dtype=bool)
        for frame in range(len(joints)):
            previous = still[frame - 1] if frame else False
            still[frame] = speed[frame, side] < (MOVING_SPEED if previous else STILL_SPEED)
        planted.append(without_flickers((still & near_lowest[:, side]) | low[:, side]))
    return end_travelling_contacts(np.stack(planted, axis=1), smooth_path(picture, fps), fps)


def without_flickers(contact: np.ndarray) -> np.ndarray:
    """Gaps and runs shorter than MIN_CONTACT_FRAMES closed and removed. Padded with the end values:
    a contact at the clip's edge is not trimmed by the filters."""
    structure, pad = np.ones(MIN_CONTACT_FRAMES, dtype=bool), MIN_CONTACT_FRAMES
    padded = np.pad(contact, pad, mode="edge")
    return binary_opening(binary_closing(padded, structure), structure)[pad:-pad]


def end_travelling_contacts(planted: np.ndarray, track: np.ndarray, fps: float) -> np.ndarray:
    """A planted foot does not travel. Real dancers slide, swivel and drag their feet while the toe
    stays near the floor, and a pose model mixes up the legs for a few frames: read as one contact,
    such a stretch pins the foot to one spot for seconds and bends the leg and pelvis to reach it.
    So a contact ends once the foot's smoothed track in the picture `track` (N, 2, 2, picture_feet's)
    is TRAVEL_DISTANCE from where the contact has held it on average; the foot is then free until it
    stands still again (below STILL_SPEED), where a new contact may begin."""
    planted = planted.copy()
    speed = np.linalg.norm(np.diff(track, axis=0, prepend=track[:1]), axis=-1) * fps
    for side in range(2):
        for start, end in contact_spans(planted[:, side]):
            anchor, held, frame = track[start, side], 1, start + 1
            while frame < end:
                if np.linalg.norm(track[frame, side] - anchor) <= TRAVEL_DISTANCE:
                    anchor, held = (anchor * held + track[frame, side]) / (held + 1), held + 1
                    frame += 1
                    continue
                free = frame + 1       # at least one frame free: the next contact is a contact of its own
                while free < end and speed[free, side] > STILL_SPEED:
                    free += 1
                planted[frame:free, side] = False
                if free < end:
                    anchor, held = track[free, side], 1
                frame = free + 1
        # What is left of a broken contact may be a flicker.
        planted[:, side] = planted[:, side] & without_flickers(planted[:, side])
    return planted


def picture_feet(fit: SkeletonFit) -> np.ndarray:
    """(N, 2, 2) where the fitted body's left and right foot (the mean of ankle and toe) are in the
    picture, in metres at the dancer's depth. The fitted feet, not the pose model's foot landmarks:
    MediaPipe mixes up legs that look alike for long stretches (a side view, legs that cross), and
    a contact judged on the other leg's landmarks pins the foot that is moving. The fit projects
    onto the landmarks, so its feet are as sharp in the picture; which leg is which comes from the
    whole fitted body (and the lifter)."""
    with torch.no_grad():
        joints = (fit.markers()[0] + fit.camera_root[:, None]).double().numpy()
    feet = joints[:, list(FOOT_CHAINS)].mean(axis=2)                      # (N, 2, 3)
    return fit.depth * feet[..., [0, 2]] / np.maximum(feet[..., 1:2], NEAREST_DEPTH)


def place_on_floor(root: np.ndarray, joints_relative: np.ndarray) -> np.ndarray:
    """The path moved up or down so the toes' low level (a percentile, robust to a bad frame) is z = 0."""
    toes = (root[:, None] + joints_relative)[:, [toe for _, toe in FOOT_CHAINS], 2].min(axis=1)
    return root - np.array([0.0, 0.0, np.percentile(toes, FLOOR_PERCENTILE)])


class GroundedFit(torch.nn.Module):
    """The skeleton fit plus a pelvis path; each planted foot's ankle and toe are pulled to one spot
    per contact (a fitted unknown: where the foot stands), the toe's on the floor."""

    def __init__(self, fit: SkeletonFit, root: np.ndarray, planted: np.ndarray, joints: np.ndarray,
                 root_weight: float = 0.05, contact_weight: float = 100.0):
        super().__init__()
        self.fit = fit
        self.root = torch.nn.Parameter(torch.as_tensor(root, dtype=torch.float32))
        self.root_estimate = torch.as_tensor(root, dtype=torch.float32)
        self.root_weight, self.contact_weight = root_weight, contact_weight
        frames, joint_ids, spot_ids, spots, on_floor = [], [], [], [], []
        for side, chain in enumerate(FOOT_CHAINS):
            for start, end in contact_spans(planted[:, side]):
                for joint in chain:
                    spot = joints[start:end, joint].mean(axis=0)
                    if joint == chain[1]:
                        spot[2] = 0.0
                    frames.extend(range(start, end))
                    joint_ids.extend([joint] * (end - start))
                    spot_ids.extend([len(spots)] * (end - start))
                    spots.append(spot)
                    on_floor.append(joint == chain[1])
        self.pin_frames = torch.tensor(frames, dtype=torch.long)
        self.pin_joints = torch.tensor(joint_ids, dtype=torch.long)
        self.pin_spots = torch.tensor(spot_ids, dtype=torch.long)
        self.spots = torch.nn.Parameter(torch.as_tensor(np.array(spots, dtype=np.float32).reshape(-1, 3)))
        self.on_floor = torch.tensor(on_floor, dtype=torch.bool)

    def spot_positions(self) -> torch.Tensor:
        """The spots, toes' heights held at the floor."""
        floor = torch.zeros_like(self.spots)
        floor[:, :2] = self.spots[:, :2]
        return torch.where(self.on_floor[:, None], floor, self.spots)

    def losses(self) -> dict[str, torch.Tensor]:
        terms = self.fit.losses()
        terms["root"] = self.root_weight * ((self.root - self.root_estimate) ** 2).sum(-1).mean()
        if len(self.root) > 2:
            acceleration = self.root[2:] - 2 * self.root[1:-1] + self.root[:-2]
            terms["root_smoothness"] = self.fit.weights.smoothness * (acceleration ** 2).sum(-1).mean()
        if len(self.pin_frames):
            feet = self.fit.markers(self.root)[0][self.pin_frames, self.pin_joints]
            terms["contacts"] = self.contact_weight * ((feet - self.spot_positions()[self.pin_spots]) ** 2).sum(-1).mean()
        return terms

    def pinned_root(self) -> np.ndarray:
        """The path moved, frame by frame, by what the planted joints still miss their spots by on
        average (the optimiser leaves millimetres, which at 30 FPS would still read as sliding);
        between contacts the shift is interpolated, so the path never jumps."""
        with torch.no_grad():
            root = self.root.numpy().astype(np.float64)
            if not len(self.pin_frames):
                return root
            feet = self.fit.markers(self.root)[0][self.pin_frames, self.pin_joints]
            miss = (self.spot_positions()[self.pin_spots] - feet).double().numpy()
        return root + shift_between_contacts(len(root), self.pin_frames.numpy(), miss)


def shift_between_contacts(length: int, frames: np.ndarray, misses: np.ndarray) -> np.ndarray:
    """(length, 3) path shift: at each of `frames` (M > 0,) the mean of the `misses` (M, 3) there,
    interpolated linearly between those frames and held beyond them, so the path never jumps."""
    count = np.bincount(frames, minlength=length)
    pinned = np.flatnonzero(count)
    every = np.arange(length)
    return np.stack([np.interp(every, pinned, np.bincount(frames, misses[:, axis], length)[pinned] / count[pinned])
                     for axis in range(3)], axis=1)


def path_over_planted_feet(root: np.ndarray, ankles: np.ndarray, planted: np.ndarray) -> np.ndarray:
    """The path (N, 3) moved across the floor (x, y) by what the planted ankles (ankles (N, 2, 3))
    miss the middle of their contact by. Depth from one camera is the fit's least sure part, so
    where a standing foot wanders the pelvis path is what is wrong more often than the pose: the
    body is carried over its standing foot as the fitted pose has it, and only what two planted
    feet disagree on is left for IK to mend."""
    frames, misses = [], []
    for side in range(2):
        for start, end in contact_spans(planted[:, side]):
            frames.append(np.arange(start, end))
            misses.append(ankles[start:end, side].mean(axis=0) - ankles[start:end, side])
    if not frames:
        return root
    shift = shift_between_contacts(len(root), np.concatenate(frames), np.concatenate(misses))
    return root + shift * np.array([1.0, 1.0, 0.0])


def pin_planted_feet(root: np.ndarray, local: np.ndarray, planted: np.ndarray,
                     fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The path (N, 3) and local rotations (N, 24, 3, 3) with each planted foot held exactly still:
    the path is first carried over the planted feet (path_over_planted_feet); then through a
    contact the foot lies flat with its toe on the floor, the ankle over its mean position and
    the foot turned as at the contact's middle frame; the hip and knee reach it by two-bone IK,
    the knee bending the way the thigh faces, and where the leg is too short for that the pelvis is
    moved towards the foot. Over BLEND_SECONDS either side of a contact the foot eases from the
    fit's own path to the pinned spot (a snap would be a slide of its own). The grounding
    optimisation only pulls feet towards their spots: a leg MediaPipe sees wandering keeps
    centimetres of slide there, which this removes. (lm2d.motion.footlock does the like for
    generated dances, whose feet are trusted in height; here heights are as unsure as the rest.)"""
    local = local.copy()
    with torch.no_grad():
        joints, rotations = (x.double().numpy() for x in forward_kinematics_with_rotations(
            torch.as_tensor(root), torch.as_tensor(local, dtype=torch.float64)))
    carried = path_over_planted_feet(root, joints[:, [ankle for ankle, _ in FOOT_CHAINS]], planted)
    joints, root = joints + (carried - root)[:, None], carried
    rest = rest_positions().astype(np.float64)
    blend = max(1, int(round(BLEND_SECONDS * fps)))
    frames = np.arange(len(root))
    legs = []
    for side, (hip, knee, ankle, toe) in enumerate(LEGS):
        spans = contact_spans(planted[:, side])
        if not spans:
            continue
        # Per frame: the nearest contact, how far outside it (0 inside), its spot and the foot's turn.
        starts, ends = np.array(spans).T
        outside = np.maximum(starts[None] - frames[:, None], frames[:, None] - (ends[None] - 1)).clip(min=0)
        nearest = outside.argmin(axis=1)
        outside = outside[frames, nearest]
        weight = smoothstep(1.0 - outside / (blend + 1))
        moved = np.flatnonzero(weight > 0)
        # The planted foot lies flat (as in the rest pose) with its toe on the floor, turned about the
        # vertical as at the contact's middle frame, the ankle over its mean position in the contact.
        toe_offset = rest[toe] - rest[ankle]
        pointing = rotations[[(start + end - 1) // 2 for start, end in spans], ankle] @ toe_offset
        yaw = np.arctan2(pointing[:, 1], pointing[:, 0]) - np.arctan2(toe_offset[1], toe_offset[0])
        turns = rotvec_matrix(yaw[:, None] * np.array([0.0, 0.0, 1.0]))
        spots = np.array([joints[start:end, ankle].mean(axis=0) for start, end in spans])
        spots[:, 2] = -toe_offset[2]
        # A foot rises before it travels (and is set down before it stops): the height eases to and
        # from the fit's path first, the floor position later.
        w = weight[moved, None] ** np.array([0.5, 0.5, 1.0])
        target = w * spots[nearest[moved]] + (1 - w) * joints[moved, ankle]
        foot = to_numpy(quaternion_to_matrix(slerp(matrix_to_quaternion(torch.as_tensor(rotations[moved, ankle])),
                                                   matrix_to_quaternion(torch.as_tensor(turns[nearest[moved]])),
                                                   torch.as_tensor(weight[moved]))), np.float64)
        lengths = (float(np.linalg.norm(rest[knee] - rest[hip])), float(np.linalg.norm(rest[ankle] - rest[knee])))
        legs.append((hip, knee, ankle, moved, target, foot, lengths))
    # The pelvis comes down (or over) where a leg cannot reach its spot; a few rounds settle both legs.
    shift = np.zeros_like(root)
    for _ in range(3):
        for hip, _, _, moved, target, _, lengths in legs:
            to_spot = target - (joints[moved, hip] + shift[moved])
            distance = np.linalg.norm(to_spot, axis=-1, keepdims=True)
            excess = np.maximum(distance - REACH * sum(lengths), 0.0)
            shift[moved] += excess * to_spot / np.maximum(distance, 1e-9)
    root = root + shift
    for hip, knee, ankle, moved, target, foot, lengths in legs:
        g_hip, g_knee, _ = two_bone_ik(joints[moved, hip] + shift[moved], target, rotations[moved, hip] @ KNEE_FORWARD,
                                       *lengths, rest[knee] - rest[hip], rest[ankle] - rest[knee], KNEE_FORWARD)
        local[moved, hip] = np.swapaxes(rotations[moved, PARENTS[hip]], -1, -2) @ g_hip
        local[moved, knee] = np.swapaxes(g_hip, -1, -2) @ g_knee
        local[moved, ankle] = np.swapaxes(g_knee, -1, -2) @ foot
    return root, local


def ground_motion(fit: SkeletonFit, landmarks: Landmarks, iterations: int = 100,
                  progress: Callable[[int, int], None] | None = None):
    """The pelvis path (N, 3), world Z-up with the floor at z = 0, the local rotations (N, 24, 3, 3)
    and the contacts (N, 2) of a fitted skeleton; refines `fit` in place so planted feet do not slide."""
    with torch.no_grad():
        joints_relative = fit.markers()[0].numpy()
    root = smooth_path(fit.camera_root.detach().numpy().astype(np.float64), landmarks.fps)
    root = place_on_floor(root, joints_relative)
    picture = picture_feet(fit)
    planted = foot_contacts(root[:, None] + joints_relative, picture, landmarks.fps)
    grounded = GroundedFit(fit, root, planted, root[:, None] + joints_relative)
    optimise(grounded, grounded.losses, iterations, progress, learning_rate=0.01)
    root = grounded.pinned_root()
    with torch.no_grad():
        local = fit.pose().double().numpy()
        joints = fit.markers(torch.as_tensor(root, dtype=torch.float32))[0].numpy()
    # Judged again on the grounded body: the optimisation has brought feet down to the floor.
    planted = foot_contacts(joints, picture, landmarks.fps)
    return (*pin_planted_feet(root, local, planted, landmarks.fps), planted)
