"""The procedural dancer's body: keyed tracks, foot steps, turns and jumps (render.py turns it into a Motion).

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

from lm2d.motion.ik import smoothstep
from lm2d.motion.representation import FPS
from lm2d.motion.rotation import axis_angle_to_matrix, to_numpy
from lm2d.motion.skeleton import rest_positions

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
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))   # where the dancer stands at the start
    center: np.ndarray = field(default_factory=lambda: np.zeros(2))   # the spot the feet are placed around now
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

    def plant_for(self, side: str, time: float) -> tuple[np.ndarray, float]:
        """Where a foot will stand for a move starting at `time`: its plant then, or where its step
        still in the air at `time` lands (a new move waits for that landing)."""
        return self.foot_at(side, max(time, self.last_land(side)))

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
        here, here_yaw = self.plant_for(side, lift)
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
