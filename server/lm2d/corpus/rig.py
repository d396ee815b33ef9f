"""The procedural dancer's body: keyed tracks, foot steps, two-bone IK, and rendering to a Motion.

A dance is planned as a `DancePlan` (what happens when) and rendered frame by frame:

- feet: a list of `Step`s per foot. Between steps a foot is planted and does not move, which is
  how the dance avoids foot skating; the legs reach their feet by two-bone IK.
- pelvis: keys of weight (which foot carries the body), knee bend, twist, lean; its position
  follows the feet, so the body sits over its support.
- facing: keys of the dancer's yaw (unwrapped radians; turns add to it).
- upper body: keys of `UpperPose`s (arm shapes as wrist targets, spine, head); arms reach their
  wrist targets by two-bone IK too.
- groove: keys of the torso's own dance on top of the base — spine bend and twist, head nod and
  turn, hip twist and lean, knee drop (level) — so the trunk, hips and head move, not only limbs.
- arm arcs: swings that carry the wrists out and up between two arm keys (momentum), added to
  the base arm targets without moving the keys.
- gesture overlay: a second upper-body track with per-limb weights, blended over the base by slerp.
- airborne intervals (jumps): the whole body leaves the floor on a ballistic arc.

Every key is eased (zero velocity at the key), so keys placed on beats make the body pause on
the beat: that is what the beat-alignment metric measures. Coordinates are lm2d's: Z-up metres,
the rest T-pose facing -Y. "Body" vectors are (left, back, up) axes of the dancer's chest or
stage frame, i.e. world axes when the dancer faces -Y.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform

from lm2d.motion.representation import FPS, Motion
from lm2d.motion.rotation import (axis_angle_to_matrix, matrix_to_quaternion, quaternion_to_matrix,
                                  slerp, to_numpy)
from lm2d.motion.skeleton import FOOT_JOINTS, NUM_JOINTS, PARENTS, rest_positions

REST = rest_positions().astype(np.float64)
SIDES = ("L", "R")
# Joint indices per side: hip, knee, ankle, toe / collar, shoulder, elbow, wrist, hand.
LEG = {"L": (1, 4, 7, 10), "R": (2, 5, 8, 11)}
ARM = {"L": (13, 16, 18, 20, 22), "R": (14, 17, 19, 21, 23)}
SPINE = (3, 6, 9)
NECK, HEAD = 12, 15

# Limb lengths and the toe's offset from the ankle, from the rest pose.
THIGH = {s: float(np.linalg.norm(REST[LEG[s][1]] - REST[LEG[s][0]])) for s in SIDES}
SHIN = {s: float(np.linalg.norm(REST[LEG[s][2]] - REST[LEG[s][1]])) for s in SIDES}
UPPER_ARM = {s: float(np.linalg.norm(REST[ARM[s][2]] - REST[ARM[s][1]])) for s in SIDES}
FOREARM = {s: float(np.linalg.norm(REST[ARM[s][3]] - REST[ARM[s][2]])) for s in SIDES}
TOE_FROM_ANKLE = {s: REST[LEG[s][3]] - REST[LEG[s][2]] for s in SIDES}
# A planted foot is flat: its toe joint on the floor, its ankle this high.
ANKLE_HEIGHT = float(np.mean([-TOE_FROM_ANKLE[s][2] for s in SIDES]))
# Standing pelvis height with the knees just soft (legs at 99% of full reach).
LEG_REACH = 0.99
STAND_HEIGHT = ANKLE_HEIGHT + float(np.mean([-REST[LEG[s][0]][2] + LEG_REACH * (THIGH[s] + SHIN[s])
                                             for s in SIDES]))
# Rest ankle positions on the floor (left, back): the dancer's natural stance.
HOME = {s: REST[LEG[s][2]][:2].copy() for s in SIDES}
GRAVITY = 9.81
# Fraction of a swing at each end in which the foot only moves vertically.
LIFT_FIRST = 0.2


def smoothstep(s: np.ndarray) -> np.ndarray:
    """Ease in and out: 0 -> 1 with zero slope at both ends."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def rotvec_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors (radians) -> (..., 3, 3)."""
    return to_numpy(axis_angle_to_matrix(torch.from_numpy(np.asarray(rotvec, np.float64))), np.float64)


def euler_xyz(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Rz(z) @ Ry(y) @ Rx(x): twist about the vertical last applied, so it reads as a turn."""
    def axis(index, angle):
        rotvec = np.zeros(np.shape(angle) + (3,))
        rotvec[..., index] = angle
        return rotvec_matrix(rotvec)
    return axis(2, z) @ axis(1, y) @ axis(0, x)


def rotate_xy(yaw: float | np.ndarray, xy: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], axis=-1)


# ---------------------------------------------------------------- keyed tracks

class KeyTrack:
    """Vector-valued keys at times, sampled with smoothstep easing between neighbours. Each
    channel is keyed on its own: a NaN in a key leaves that channel to its other keys."""

    def __init__(self, initial: np.ndarray):
        self.initial = np.asarray(initial, dtype=np.float64)
        self.times: list[float] = []
        self.values: list[np.ndarray] = []

    def key(self, time: float, value) -> None:
        value = np.asarray(value, dtype=np.float64)
        for index, existing in enumerate(self.times):
            if abs(existing - time) < 1e-6:
                self.values[index] = np.where(np.isnan(value), self.values[index], value)
                return
        self.times.append(float(time))
        self.values.append(value)

    def sample(self, times: np.ndarray) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        out = np.broadcast_to(self.initial, times.shape + self.initial.shape).copy()
        if not self.times:
            return out
        order = np.argsort(self.times, kind="stable")
        all_times = np.asarray(self.times)[order]
        all_values = np.stack(self.values)[order]
        for channel in range(all_values.shape[1]):
            keyed = ~np.isnan(all_values[:, channel])
            key_times, key_values = all_times[keyed], all_values[keyed, channel]
            if len(key_times) == 0:
                continue
            if len(key_times) == 1:
                out[..., channel] = key_values[0]
                continue
            right = np.clip(np.searchsorted(key_times, times, side="right"), 1, len(key_times) - 1)
            left = right - 1
            span = np.maximum(key_times[right] - key_times[left], 1e-9)
            weight = smoothstep((times - key_times[left]) / span)
            out[..., channel] = key_values[left] + weight * (key_values[right] - key_values[left])
        return out

    def value_at(self, time: float) -> np.ndarray:
        return self.sample(np.array([time]))[0]


# ---------------------------------------------------------------- poses

@dataclass(frozen=True)
class ArmShape:
    """Where a left arm puts its wrist, in the chest frame relative to its shoulder:
    target (out, forward, up) metres; pole: where the elbow points; wrist: local rotation
    vector in degrees. The right arm uses the mirror image."""
    target: tuple[float, float, float]
    pole: tuple[float, float, float] = (0.3, -1.0, -0.4)
    wrist: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def body(self, side: str) -> np.ndarray:
        """9 numbers in body axes (left, back, up): target, pole, wrist rotation vector (rad)."""
        out = 1.0 if side == "L" else -1.0
        target = (out * self.target[0], -self.target[1], self.target[2])
        pole = (out * self.pole[0], -self.pole[1], self.pole[2])
        wrist = np.radians(self.wrist) * (1.0, out, out)   # a mirror flips y and z rotations
        return np.concatenate([target, pole, wrist])


@dataclass(frozen=True)
class UpperPose:
    """Both arms, the spine (forward bend, side bend to the left, twist to the left; degrees,
    spread over the three spine joints) and the head (nod down, turn left; degrees)."""
    left: ArmShape
    right: ArmShape
    spine: tuple[float, float, float] = (0.0, 0.0, 0.0)
    head: tuple[float, float] = (0.0, 0.0)

    def mirrored(self) -> "UpperPose":
        return UpperPose(self.right, self.left, (self.spine[0], -self.spine[1], -self.spine[2]),
                         (self.head[0], -self.head[1]))

    def vector(self) -> np.ndarray:
        return np.concatenate([self.left.body("L"), self.right.body("R"),
                               np.radians(self.spine), np.radians(self.head)])


# Where each part sits in UpperPose.vector().
LEFT_ARM_SLICE, RIGHT_ARM_SLICE, SPINE_SLICE, HEAD_SLICE = slice(0, 9), slice(9, 18), slice(18, 21), slice(21, 23)
HANGING_ARM = ArmShape((0.05, 0.05, -0.5))
# Pelvis channels: weight (0 over the left foot .. 1 over the right), knee drop (m),
# twist (rad, left positive), forward lean (rad), forward shift of the hips (m).
STANDING = np.array([0.5, 0.0, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class Groove:
    """The torso's own movement on a beat, added to the base dance (degrees; drop in metres):
    spine (forward bend, side bend to the left, twist to the left), head (nod down, turn left),
    hips (twist to the left, forward lean), and extra knee drop."""
    spine: tuple[float, float, float] = (0.0, 0.0, 0.0)
    head: tuple[float, float] = (0.0, 0.0)
    hips: tuple[float, float] = (0.0, 0.0)
    drop: float = 0.0

    def mirrored(self) -> "Groove":
        return Groove((self.spine[0], -self.spine[1], -self.spine[2]), (self.head[0], -self.head[1]),
                      (-self.hips[0], self.hips[1]), self.drop)

    def vector(self) -> np.ndarray:
        return np.concatenate([np.radians(self.spine), np.radians(self.head), np.radians(self.hips), [self.drop]])


# Where each part sits in Groove.vector().
GROOVE_SPINE, GROOVE_HEAD, GROOVE_HIP_TWIST, GROOVE_HIP_LEAN, GROOVE_DROP = slice(0, 3), slice(3, 5), 5, 6, 7
NO_GROOVE = Groove().vector()


@dataclass(frozen=True)
class Step:
    """A foot leaves its plant at `lift` and is planted at `xy` (ankle, world), `yaw` at `land`.
    `apex` (world xy offset) and `height` shape the swing; a kick or knee lift returns to the
    same plant with its apex in between."""
    lift: float
    land: float
    xy: tuple[float, float]
    yaw: float
    height: float = 0.08
    apex: tuple[float, float] = (0.0, 0.0)
    toe_point: float = 0.35       # radians the toes point down at mid-swing


@dataclass
class DancePlan:
    """Everything the renderer needs, built up in time order by the choreographer and gestures."""
    steps: dict[str, list[Step]] = field(default_factory=lambda: {"L": [], "R": []})
    pelvis: KeyTrack = field(default_factory=lambda: KeyTrack(STANDING))
    facing: KeyTrack = field(default_factory=lambda: KeyTrack(np.zeros(1)))
    upper: KeyTrack = field(default_factory=lambda: KeyTrack(UpperPose(HANGING_ARM, HANGING_ARM).vector()))
    gesture_upper: KeyTrack = field(default_factory=lambda: KeyTrack(UpperPose(HANGING_ARM, HANGING_ARM).vector()))
    gesture_weights: list[tuple[float, float, float, tuple[float, float, float]]] = field(default_factory=list)
    groove: KeyTrack = field(default_factory=lambda: KeyTrack(NO_GROOVE))
    arcs: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    airborne: list[tuple[float, float]] = field(default_factory=list)
    center: np.ndarray = field(default_factory=lambda: np.zeros(2))
    heading: float = 0.0          # the facing the dance has reached (advanced by turns)

    # --- feet
    def foot_at(self, side: str, time: float) -> tuple[np.ndarray, float]:
        """Where a foot is planted after its last step landing by `time` (ankle xy, yaw)."""
        landed = [step for step in self.steps[side] if step.land <= time + 1e-9]
        if not landed:
            return self.center + rotate_xy(self.heading, HOME[side]), self.heading
        return np.asarray(landed[-1].xy), landed[-1].yaw

    def last_land(self, side: str) -> float:
        return self.steps[side][-1].land if self.steps[side] else -np.inf

    def stage_to_world(self, xy_stage: np.ndarray) -> np.ndarray:
        """A point given in the dancer's stage frame (left, back) at the current heading."""
        return self.center + rotate_xy(self.heading, xy_stage)

    def add_step(self, side: str, step: Step, flight: bool = False) -> None:
        """Adds a step. Its lift waits for the foot's previous landing (one swing at a time) and,
        unless `flight` (a jump), for the other foot to be down, so one foot always carries the
        body; a step left with no time to swing is dropped."""
        lift = max(step.lift, self.last_land(side) + 1.0 / FPS)
        if not flight:
            other = "R" if side == "L" else "L"
            lift = max([lift] + [s.land for s in self.steps[other] if s.lift < step.land and s.land > lift])
        if step.land - lift < 2.0 / FPS:
            return
        self.steps[side].append(Step(lift, step.land, tuple(np.asarray(step.xy, float)), float(step.yaw),
                                     step.height, tuple(np.asarray(step.apex, float)), step.toe_point))

    def step_to(self, side: str, xy_world: np.ndarray, yaw: float, lift: float, land: float,
                height: float = 0.08) -> None:
        """A step to a new plant, skipped when the foot is already there."""
        here, here_yaw = self.foot_at(side, lift)
        if np.linalg.norm(np.asarray(xy_world) - here) < 0.02 and abs(yaw - here_yaw) < 0.05:
            return
        self.add_step(side, Step(lift, land, tuple(xy_world), yaw, height))

    def swing_and_return(self, side: str, apex_world: np.ndarray, height: float, lift: float,
                         land: float, toe_point: float = 0.35) -> None:
        """A kick, knee lift or tap: out to `apex_world` at mid-swing and back to the same plant."""
        here, here_yaw = self.foot_at(side, lift)
        self.add_step(side, Step(lift, land, tuple(here), here_yaw, height,
                                 tuple(np.asarray(apex_world) - here), toe_point))

    # --- upper body
    def arc(self, start: float, end: float, offset: np.ndarray) -> None:
        """Bows the base upper-body path between `start` and `end` by `offset` (an UpperPose
        vector's worth, reached mid-way, zero at both ends so the keys stay where they are)."""
        self.arcs.append((start, end, np.asarray(offset, dtype=np.float64)))

    def overlay(self, start: float, end: float, limbs: tuple[float, float, float], ramp: float) -> None:
        """Gesture weight for (left arm, right arm, spine+head) over [start, end], ramping in and out."""
        self.gesture_weights.append((start, end, ramp, limbs))


def step_turn(plan: DancePlan, start: float, end: float, turns: float = 1.0,
              step_seconds: float = 0.3, height: float = 0.06) -> None:
    """Turn in place by `turns` full circles over [start, end], stepping around the centre:
    each step puts a foot at its stance spot for the new heading. The planted foot never
    pivots, so nothing skates."""
    n_steps = max(4, int(round((end - start) / step_seconds)))
    total = 2 * np.pi * turns
    first_side = "L" if turns > 0 else "R"   # a positive (leftward) turn opens with the left foot
    edges = np.linspace(start, end, n_steps + 1)
    start_heading = plan.heading
    plan.facing.key(start, [start_heading])
    for index in range(n_steps):
        side = first_side if index % 2 == 0 else ("L" if first_side == "R" else "R")
        heading = start_heading + total * (index + 1) / n_steps
        lift, land = edges[index], edges[index + 1]
        plan.add_step(side, Step(lift, land, tuple(plan.center + rotate_xy(heading, HOME[side])), heading, height))
        # The body turns with each step and settles as the foot lands.
        plan.facing.key(land, [heading])
        plan.pelvis.key(land, [0.3 if side == "L" else 0.7, 0.05, 0.0, 0.0, 0.0])
    # The other foot squares up at the end so the dancer stands on both feet again.
    last_side = first_side if n_steps % 2 == 1 else ("L" if first_side == "R" else "R")
    other = "L" if last_side == "R" else "R"
    final = start_heading + total
    settle = end + min(0.3, step_seconds)
    plan.add_step(other, Step(end, settle, tuple(plan.center + rotate_xy(final, HOME[other])), final, height))
    plan.pelvis.key(settle, [0.5, 0.04, 0.0, 0.0, 0.0])
    plan.heading = final


def jump(plan: DancePlan, takeoff: float, air_time: float, crouch: float = 0.16) -> None:
    """A two-footed jump in place: crouch, take off, fly a ballistic arc, land soft."""
    land = takeoff + air_time
    prep = max(0.18, 0.5 * air_time)
    for side in SIDES:
        here, yaw = plan.foot_at(side, takeoff)
        # Feet tuck up under the body in the air (on top of the body's own arc).
        plan.add_step(side, Step(takeoff, land, tuple(here), yaw, height=0.12, toe_point=0.5), flight=True)
    base = plan.pelvis.value_at(takeoff - prep)
    plan.pelvis.key(takeoff - prep, base)
    plan.pelvis.key(takeoff - 0.02, [0.5, crouch, 0.0, 0.25, 0.0])
    plan.pelvis.key(takeoff + 0.5 * air_time, [0.5, 0.0, 0.0, 0.0, 0.0])
    plan.pelvis.key(land + 0.1, [0.5, crouch, 0.0, 0.2, 0.0])
    plan.pelvis.key(land + 0.1 + prep, [0.5, base[1], 0.0, 0.0, 0.0])
    plan.airborne.append((takeoff, land))


# ---------------------------------------------------------------- rendering

def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frame with first axis a and second axis b made orthogonal to a."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - (b * a).sum(-1, keepdims=True) * a
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float, lower: float,
                rest_upper: np.ndarray, rest_lower: np.ndarray, rest_pole: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global rotations of the upper and lower bone so the chain from `root` ends at `target`
    (or as close as it reaches) with its middle joint bent towards `pole`. rest_* are the
    bones' rest directions and the rest-pose direction the middle joint bends towards.
    Returns (G_upper, G_lower, reached end position)."""
    to_target = target - root
    distance = np.linalg.norm(to_target, axis=-1, keepdims=True)
    direction = to_target / np.maximum(distance, 1e-9)
    reach = np.clip(distance, abs(upper - lower) + 1e-3, (upper + lower) * 0.9995)
    bend = pole - (pole * direction).sum(-1, keepdims=True) * direction
    bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    cos_hip = np.clip((upper ** 2 + reach ** 2 - lower ** 2) / (2 * upper * reach), -1.0, 1.0)
    middle = root + upper * (cos_hip * direction + np.sqrt(1 - cos_hip ** 2) * bend)
    end = root + reach * direction
    upper_dir = (middle - root) / upper
    lower_dir = (end - middle) / np.linalg.norm(end - middle, axis=-1, keepdims=True)
    rest_upper_frame = _frame(rest_upper, rest_pole)
    rest_lower_frame = _frame(rest_lower, rest_pole)
    g_upper = _frame(upper_dir, bend) @ np.swapaxes(rest_upper_frame, -1, -2)
    g_lower = _frame(lower_dir, bend) @ np.swapaxes(rest_lower_frame, -1, -2)
    return g_upper, g_lower, end


def _global_transforms(local: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations (T, 24, 3, 3) and joint positions (T, 24, 3) by smplx's rigid transform."""
    rotmats = torch.from_numpy(local)
    rest = torch.from_numpy(REST).expand(len(local), NUM_JOINTS, 3)
    posed, transforms = batch_rigid_transform(rotmats, rest, torch.tensor(PARENTS))
    return transforms[..., :3, :3].numpy(), posed.numpy() + (root - REST[0])[:, None, :]


def _render_feet(plan: DancePlan, times: np.ndarray, side: str):
    """Per frame: ankle xy, height above the plant, yaw, toe point (rad) of one foot."""
    start_xy, start_yaw = plan.center + HOME[side], 0.0
    xy = np.broadcast_to(start_xy, (len(times), 2)).copy()
    yaw = np.full(len(times), start_yaw)
    height = np.zeros(len(times))
    point = np.zeros(len(times))
    previous_xy, previous_yaw = start_xy, start_yaw
    for step in sorted(plan.steps[side], key=lambda s: s.lift):
        swing = (times >= step.lift) & (times < step.land)
        s = (times[swing] - step.lift) / (step.land - step.lift)
        # The foot rises before it travels and is set down from above: nothing slides on the floor.
        travel = np.clip((s - LIFT_FIRST) / (1.0 - 2 * LIFT_FIRST), 0.0, 1.0)
        ease = smoothstep(travel)[:, None]
        target_xy = np.asarray(step.xy)
        xy[swing] = (previous_xy + ease * (target_xy - previous_xy)
                     + (np.sin(np.pi * travel) ** 2)[:, None] * np.asarray(step.apex))
        yaw[swing] = previous_yaw + ease[:, 0] * (step.yaw - previous_yaw)
        height[swing] = step.height * np.sin(np.pi * s) ** 2
        point[swing] = step.toe_point * np.sin(np.pi * travel) ** 2
        after = times >= step.land
        xy[after], yaw[after] = target_xy, step.yaw
        previous_xy, previous_yaw = target_xy, step.yaw
    return xy, height, yaw, point


def _airborne_height(plan: DancePlan, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ballistic height of the whole body (h = g t (T - t) / 2) and the airborne mask."""
    height = np.zeros(len(times))
    mask = np.zeros(len(times), bool)
    for takeoff, land in plan.airborne:
        inside = (times > takeoff) & (times < land)
        t = times[inside] - takeoff
        height[inside] = 0.5 * GRAVITY * t * (land - takeoff - t)
        mask |= inside
    return height, mask


def _overlay_weights(plan: DancePlan, times: np.ndarray) -> np.ndarray:
    weights = np.zeros((len(times), 3))
    for start, end, ramp, limbs in plan.gesture_weights:
        ramp = min(ramp, 0.5 * (end - start))
        rise = smoothstep((times - start) / max(ramp, 1e-6))
        fall = smoothstep((end - times) / max(ramp, 1e-6))
        weights = np.maximum(weights, np.minimum(rise, fall)[:, None] * np.asarray(limbs))
    return weights


def _upper_locals(pose: np.ndarray, pelvis_pos: np.ndarray, pelvis_rot: np.ndarray) -> np.ndarray:
    """Local rotations (T, 24, 3, 3) of the pelvis, spine, neck, head and arms for per-frame
    UpperPose vectors (T, 23); the legs are left at rest."""
    local = np.broadcast_to(np.eye(3), (len(pose), NUM_JOINTS, 3, 3)).copy()
    local[:, 0] = pelvis_rot
    spine = pose[:, SPINE_SLICE] / len(SPINE)
    for joint in SPINE:
        local[:, joint] = euler_xyz(spine[:, 0], spine[:, 1], spine[:, 2])
    nod, turn = pose[:, HEAD_SLICE].T
    local[:, NECK] = euler_xyz(0.4 * nod, np.zeros_like(nod), 0.4 * turn)
    local[:, HEAD] = euler_xyz(0.6 * nod, np.zeros_like(nod), 0.6 * turn)
    globals_, positions = _global_transforms(local, pelvis_pos)
    chest = globals_[:, SPINE[-1]]
    for side, part in (("L", LEFT_ARM_SLICE), ("R", RIGHT_ARM_SLICE)):
        collar, shoulder, elbow, wrist, _ = ARM[side]
        values = pose[:, part]
        target = positions[:, shoulder] + np.einsum("tij,tj->ti", chest, values[:, 0:3])
        pole = np.einsum("tij,tj->ti", chest, values[:, 3:6])
        g_shoulder, g_elbow, _ = two_bone_ik(
            positions[:, shoulder], target, pole, UPPER_ARM[side], FOREARM[side],
            REST[elbow] - REST[shoulder], REST[wrist] - REST[elbow], np.array([0.0, 1.0, 0.0]))
        local[:, shoulder] = np.swapaxes(globals_[:, collar], -1, -2) @ g_shoulder
        local[:, elbow] = np.swapaxes(g_shoulder, -1, -2) @ g_elbow
        local[:, wrist] = rotvec_matrix(values[:, 6:9])
    return local


def _arc_offsets(plan: DancePlan, times: np.ndarray) -> np.ndarray:
    """Sum of the plan's arcs at each time: sin² bumps, so the path bows without new pauses."""
    offsets = np.zeros((len(times), len(plan.upper.initial)))
    for start, end, offset in plan.arcs:
        inside = (times > start) & (times < end)
        offsets[inside] += np.sin(np.pi * (times[inside] - start) / (end - start))[:, None] ** 2 * offset
    return offsets


def _slerp_joints(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-frame slerp between rotation matrices (T, J, 3, 3) with weights (T,)."""
    qa = matrix_to_quaternion(torch.from_numpy(a))
    qb = matrix_to_quaternion(torch.from_numpy(b))
    w = torch.from_numpy(np.broadcast_to(weight[:, None], a.shape[:2]).copy())
    return to_numpy(quaternion_to_matrix(slerp(qa, qb, w)), np.float64)


def render(plan: DancePlan, n_frames: int, fps: float = FPS) -> tuple[Motion, np.ndarray]:
    """The planned dance as a Motion of exactly n_frames, and the airborne-frame mask."""
    times = np.arange(n_frames) / fps
    feet = {side: _render_feet(plan, times, side) for side in SIDES}
    air, airborne = _airborne_height(plan, times)
    ankles, foot_rots = _ankle_targets(feet, air)
    groove = plan.groove.sample(times)
    pelvis, pelvis_rot, roll = _pelvis(plan, times, feet, air, groove)
    pelvis[:, 2] = np.minimum(pelvis[:, 2], _highest_reachable_pelvis(pelvis, pelvis_rot, ankles))
    local = _upper_body(plan, times, pelvis, pelvis_rot, roll, groove)
    for side in SIDES:
        hip, knee, ankle, _ = LEG[side]
        hip_pos = pelvis + np.einsum("tij,j->ti", pelvis_rot, REST[hip])
        forward = np.einsum("tij,j->ti", foot_rots[side], np.array([0.0, -1.0, 0.0]))   # knees over toes
        g_hip, g_knee, _ = two_bone_ik(hip_pos, ankles[side], forward, THIGH[side], SHIN[side],
                                       REST[knee] - REST[hip], REST[ankle] - REST[knee],
                                       np.array([0.0, -1.0, 0.0]))
        local[:, hip] = np.swapaxes(pelvis_rot, -1, -2) @ g_hip
        local[:, knee] = np.swapaxes(g_hip, -1, -2) @ g_knee
        local[:, ankle] = np.swapaxes(g_knee, -1, -2) @ foot_rots[side]
    motion = Motion(pelvis.astype(np.float32), local.astype(np.float32), fps)
    return ground(motion, airborne), airborne


def _ankle_targets(feet: dict, air: np.ndarray) -> tuple[dict, dict]:
    """Per side: ankle positions (T, 3) and foot rotations (T, 3, 3). A planted foot is flat
    with its toe joint on the floor."""
    ankles, foot_rots = {}, {}
    for side in SIDES:
        xy, lift, yaw, point = feet[side]
        foot_rots[side] = euler_xyz(point, np.zeros_like(point), yaw)
        # Pointing the toes swings them down about the ankle: raise the ankle so they clear the floor.
        toe = TOE_FROM_ANKLE[side]
        toe_drop = np.maximum(0.0, -(toe[1] * np.sin(point) + toe[2] * np.cos(point)) + toe[2])
        ankles[side] = np.concatenate([xy, (ANKLE_HEIGHT + lift + toe_drop + air)[:, None]], axis=1)
    return ankles, foot_rots


def _pelvis(plan: DancePlan, times: np.ndarray, feet: dict, air: np.ndarray, groove: np.ndarray):
    """Pelvis position over the weighted feet, turned with the dance and rolled down towards
    the free leg; returns (positions, rotations, roll angles)."""
    weight, drop, twist, lean, shift = plan.pelvis.sample(times).T
    drop = drop + groove[:, GROOVE_DROP]
    twist = twist + groove[:, GROOVE_HIP_TWIST]
    lean = lean + groove[:, GROOVE_HIP_LEAN]
    facing = plan.facing.sample(times)[:, 0]
    position = np.zeros((len(times), 3))
    position[:, :2] = ((1 - weight)[:, None] * feet["L"][0] + weight[:, None] * feet["R"][0]
                       + rotate_xy(facing, np.stack([np.zeros_like(shift), -shift], -1)))
    position[:, 2] = STAND_HEIGHT - drop + air
    roll = 0.12 * (weight - 0.5)
    return position, euler_xyz(lean, roll, facing + twist), roll


def _upper_body(plan: DancePlan, times: np.ndarray, pelvis: np.ndarray, pelvis_rot: np.ndarray,
                roll: np.ndarray, groove: np.ndarray) -> np.ndarray:
    """Local rotations from the base upper-body track (with its groove and arcs), with gestures
    slerped over it per limb. The lower spine counters the pelvis roll so the chest stays level."""
    def solve(pose: np.ndarray) -> np.ndarray:
        pose[:, SPINE_SLICE.start + 1] -= roll
        return _upper_locals(pose, pelvis, pelvis_rot)

    base = plan.upper.sample(times) + _arc_offsets(plan, times)
    base[:, SPINE_SLICE] += groove[:, GROOVE_SPINE]
    base[:, HEAD_SLICE] += groove[:, GROOVE_HEAD]
    local = solve(base)
    limb_weights = _overlay_weights(plan, times)
    if limb_weights.any():
        gesture = solve(plan.gesture_upper.sample(times))
        groups = (list(ARM["L"]), list(ARM["R"]), [*SPINE, NECK, HEAD])
        for group, limb_weight in zip(groups, limb_weights.T):
            local[:, group] = _slerp_joints(local[:, group], gesture[:, group], limb_weight)
    return local


def _highest_reachable_pelvis(pelvis: np.ndarray, pelvis_rot: np.ndarray, ankles: dict) -> np.ndarray:
    """Per frame, the highest pelvis at which both legs still reach their ankle targets."""
    limit = np.full(len(pelvis), np.inf)
    for side in SIDES:
        hip_offset = np.einsum("tij,j->ti", pelvis_rot, REST[LEG[side][0]])
        reach = 0.995 * (THIGH[side] + SHIN[side])
        horizontal = np.linalg.norm(pelvis[:, :2] + hip_offset[:, :2] - ankles[side][:, :2], axis=-1)
        vertical = np.sqrt(np.maximum(reach ** 2 - horizontal ** 2, 0.0))
        limit = np.minimum(limit, ankles[side][:, 2] + vertical - hip_offset[:, 2])
    return limit


def ground(motion: Motion, airborne: np.ndarray) -> Motion:
    """Shifts the root so the lowest foot joint touches z = 0 on every frame not in the air."""
    joints = motion.joints()
    lowest = joints[:, list(FOOT_JOINTS), 2].min(axis=1)
    root = motion.root_translation.copy()
    root[~airborne, 2] -= lowest[~airborne]
    return Motion(root, motion.local_rotmats, motion.fps)
