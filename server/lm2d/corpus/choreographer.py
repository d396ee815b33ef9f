"""A deterministic procedural choreographer: beats (+ energy, + lyrics) -> SMPL dance at 30 FPS.

The dance is a sequence of phrases (two bars each). Every phrase picks, by seed, style and
energy, a leg pattern (step-touch, bounce, rock, kick, box step, turn ...) and an arm pattern
(clap, pump, punch, disco point ...), possibly mirrored. Patterns are written one key per beat:
feet land, knees bottom out and arms arrive on the beat, and ease in and out of it, so the body's
speed dips on every beat. Lyric gesture words (gestures.py) are performed in their word windows
on top. rig.py turns the plan into joint rotations: feet stay planted between steps (no skating),
legs and arms reach their targets by IK, and the lowest foot stays on the floor.

Tempo awareness: above FAST_TEMPO the legs step every other beat (half time) while the knees
bounce and the arms move on every beat. Energy (0..1, per frame or constant) scales step size,
knee bounce, arm reach, and gates the busier patterns.

    motion = choreograph(beat_times, duration, lyrics, energy=None, style="pop", seed=0)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lm2d.corpus import poses as P
from lm2d.corpus.gestures import GESTURE_BY_NAME, GestureEvent, gesture_events, perform
from lm2d.corpus.rig import HOME, STANDING, DancePlan, UpperPose, render, step_turn
from lm2d.errors import LM2DError, warn
from lm2d.lyrics import Lyrics
from lm2d.motion.representation import FPS, Motion

FAST_TEMPO = 150.0        # BPM above which the legs run at half time
FALLBACK_TEMPO = 100.0    # used when a song has too few beats to dance to
LEAD = 0.35               # seconds before a whole-body gesture when the base dance lets go
SETTLE = 0.35             # seconds after it before the next base step lands
DEFAULT_ENERGY = 0.6


@dataclass(frozen=True)
class FootMove:
    """One foot's action on a beat. offset: (left, forward) metres from the foot's home spot at
    full amplitude. kind: "step" lands on the beat; "kick", "lift" (knee up), "tap" (toe out
    to the side) and "stamp" (a small lift in place) peak on the beat and come back to where
    they started."""
    side: str
    offset: tuple[float, float] = (0.0, 0.0)
    kind: str = "step"


@dataclass(frozen=True)
class LegBeat:
    moves: tuple[FootMove, ...] = ()
    weight: float = 0.5       # 0: body over the left foot .. 1: over the right
    drop: float = 1.0         # knee bend on the beat, as a fraction of the bounce depth
    rise: float | None = 0.0  # knee bend on the half beat (None: glide to the next beat's)
    twist: float = 0.0        # hips turned left (degrees)


@dataclass(frozen=True)
class LegPattern:
    name: str
    beats: tuple[LegBeat, ...]
    intensity: float          # 0 calm .. 1 busy: busy patterns need energy
    turn: bool = False        # a step-turn over the pattern's beats (the beats hold hip keys only)


@dataclass(frozen=True)
class ArmPattern:
    name: str
    poses: tuple[UpperPose, ...]   # one per beat
    intensity: float


def _step(side, left=0.0, forward=0.0):
    return FootMove(side, (left, forward), "step")


def _swing(side, kind, left=0.0, forward=0.0):
    return FootMove(side, (left, forward), kind)


LEG_PATTERNS: dict[str, LegPattern] = {pattern.name: pattern for pattern in (
    LegPattern("bounce", (LegBeat((_step("L"),), 0.5, 1.0), LegBeat((_step("R"),), 0.5, 1.0)), 0.2),
    # A pendulum: highest over each foot on the beat, lowest passing the middle.
    LegPattern("sway", (LegBeat((_step("L", 0.1),), 0.25, 0.2, 0.6), LegBeat((_step("R", -0.1),), 0.75, 0.2, 0.6)), 0.0),
    # Hips centred over the feet: they travel the same distance on every beat.
    LegPattern("step_touch", (
        LegBeat((_step("R", -0.2),), 0.5, 1.0),
        LegBeat((_step("L", -0.2),), 0.5, 0.5),
        LegBeat((_step("L", 0.2),), 0.5, 1.0),
        LegBeat((_step("R", 0.2),), 0.5, 0.5)), 0.3),
    LegPattern("rock", (
        LegBeat((_step("L", 0.0, 0.22),), 0.3, 1.0, 0.0, 10.0),
        LegBeat((_step("L"),), 0.5, 0.4),
        LegBeat((_step("R", 0.0, 0.22),), 0.7, 1.0, 0.0, -10.0),
        LegBeat((_step("R"),), 0.5, 0.4)), 0.4),
    LegPattern("tap", (
        LegBeat((_swing("R", "tap", -0.25),), 0.25, 1.0, 0.0, -10.0),
        LegBeat((), 0.5, 0.5),
        LegBeat((_swing("L", "tap", 0.25),), 0.75, 1.0, 0.0, 10.0),
        LegBeat((), 0.5, 0.5)), 0.4),
    LegPattern("march", (LegBeat((_swing("L", "lift", 0.0, 0.1),), 0.8, 0.4), LegBeat((_swing("R", "lift", 0.0, 0.1),), 0.2, 0.4)), 0.6),
    LegPattern("kick", (
        LegBeat((_swing("R", "kick", 0.0, 0.35),), 0.15, 0.3),
        LegBeat((), 0.5, 1.0),
        LegBeat((_swing("L", "kick", 0.0, 0.35),), 0.85, 0.3),
        LegBeat((), 0.5, 1.0)), 0.8),
    # Waltz rise and fall: down on one, rising through two and three.
    LegPattern("box", (
        LegBeat((_step("L", 0.0, 0.25),), 0.3, 1.0, None),
        LegBeat((_step("R", -0.2, 0.25),), 0.7, 0.5, None),
        LegBeat((_step("L", -0.2, 0.25),), 0.4, 0.0, None),
        LegBeat((_step("R", -0.2),), 0.7, 1.0, None),
        LegBeat((_step("L"),), 0.3, 0.5, None),
        LegBeat((_step("R"),), 0.5, 0.0, None)), 0.3),
    LegPattern("balance", (
        LegBeat((_step("L", 0.2),), 0.3, 1.0, None),
        LegBeat((_step("R", 0.2),), 0.6, 0.5, None),
        LegBeat((_swing("L", "stamp", 0.2),), 0.4, 0.0, None),
        LegBeat((_step("R", -0.2),), 0.7, 1.0, None),
        LegBeat((_step("L", -0.2),), 0.4, 0.5, None),
        LegBeat((_swing("R", "stamp", -0.2),), 0.6, 0.0, None)), 0.3),
    LegPattern("turn", tuple(LegBeat() for _ in range(4)), 0.7, turn=True),
)}

ARM_PATTERNS: dict[str, ArmPattern] = {pattern.name: pattern for pattern in (
    ArmPattern("groove", (UpperPose(P.HANG_FORWARD, P.HANG_BACK, (4.0, 0.0, 8.0), (5.0, 0.0)),
                          UpperPose(P.HANG_BACK, P.HANG_FORWARD, (4.0, 0.0, -8.0), (5.0, 0.0))), 0.0),
    ArmPattern("clap", (P.both(P.CLAP_OPEN), P.both(P.CLAP_SHUT, head=(8.0, 0.0))), 0.3),
    ArmPattern("pump", (P.both(P.FIST_CHEST, (6.0, 0.0, 0.0), (10.0, 0.0)), P.both(P.FIST_HIGH, head=(-10.0, 0.0))), 0.7),
    ArmPattern("punch", (UpperPose(P.PUNCH, P.FIST_LOW, (0.0, 0.0, -15.0)),
                         UpperPose(P.FIST_LOW, P.PUNCH, (0.0, 0.0, 15.0))), 0.6),
    ArmPattern("point_up", (P.right_arm(P.POINT_UP, P.FIST_LOW, (0.0, 6.0, 0.0), (-10.0, -15.0)),
                            P.right_arm(P.ACROSS_LOW, P.FIST_LOW, (5.0, -4.0, 0.0), (10.0, 10.0))), 0.5),
    ArmPattern("open", (P.both(P.SIDE_LOW, (-4.0, 0.0, 0.0), (-5.0, 0.0)), P.both(P.CLAP_SHUT, (6.0, 0.0, 0.0), (8.0, 0.0))), 0.2),
    ArmPattern("overhead_sway", (P.both(P.V_UP, (0.0, 10.0, 0.0), (-8.0, 0.0)),
                                 P.both(P.V_UP, (0.0, -10.0, 0.0), (-8.0, 0.0))), 0.4),
    ArmPattern("roll", (P.both(P.FIST_LOW, (5.0, 0.0, 6.0)), P.both(P.FIST_CHEST, (5.0, 0.0, -6.0))), 0.4),
)}


@dataclass(frozen=True)
class DanceStyle:
    legs: dict[str, float]      # pattern -> preference weight
    arms: dict[str, float]
    beats_per_bar: int
    bounce: float               # knee bounce depth scale


DANCE_STYLES: dict[str, DanceStyle] = {
    "pop": DanceStyle({"step_touch": 3, "bounce": 2, "rock": 2, "tap": 2, "kick": 1, "turn": 0.6},
                      {"clap": 2, "groove": 2, "punch": 1, "point_up": 2, "open": 1, "roll": 1}, 4, 1.0),
    "hiphop": DanceStyle({"bounce": 4, "tap": 2, "rock": 2, "step_touch": 1, "turn": 0.3},
                         {"pump": 2, "groove": 2, "roll": 2, "punch": 2}, 4, 1.4),
    "electronic": DanceStyle({"bounce": 3, "march": 2, "kick": 2, "step_touch": 1, "turn": 0.5},
                             {"pump": 3, "point_up": 2, "punch": 2, "open": 1}, 4, 1.2),
    "ballad": DanceStyle({"sway": 4, "rock": 1, "step_touch": 1},
                         {"overhead_sway": 2, "open": 2, "groove": 2}, 4, 0.6),
    "waltz": DanceStyle({"box": 3, "balance": 3, "sway": 1, "turn": 0.5},
                        {"open": 2, "overhead_sway": 1, "groove": 1}, 3, 0.8),
    "folk": DanceStyle({"step_touch": 2, "kick": 2, "balance": 1, "march": 1, "tap": 1},
                       {"clap": 2, "groove": 2, "open": 1}, 4, 1.0),
}


def frame_count(duration: float, fps: float = FPS) -> int:
    """Frames lm2d.features gives a song of `duration` seconds: 1 + floor(duration x fps)."""
    return int(np.floor(duration * fps + 1e-6)) + 1


def choreograph(beat_times, duration: float, lyrics: Lyrics | None = None, energy=None,
                style: str = "pop", seed: int = 0, beats_per_bar: int | None = None,
                n_frames: int | None = None) -> Motion:
    """An SMPL dance for a song: exactly n_frames frames at 30 FPS (default: as many as
    lm2d.features gives `duration` seconds). `energy`: None, a number, or a per-frame curve
    (any length, resampled) in 0..1. `beats_per_bar` defaults to the style's (3 for waltz)."""
    if style not in DANCE_STYLES:
        raise LM2DError(f"unknown dance style {style!r}; choose one of {', '.join(DANCE_STYLES)}")
    if not np.isfinite(duration) or duration <= 0:
        raise LM2DError(f"song duration must be positive, got {duration}")
    n_frames = frame_count(duration) if n_frames is None else int(n_frames)
    beats = _usable_beats(beat_times, duration)
    dancer = _Choreographer(beats, _energy_curve(energy, n_frames), DANCE_STYLES[style],
                            beats_per_bar or DANCE_STYLES[style].beats_per_bar, seed)
    dancer.dance(gesture_events(lyrics, duration, seed))
    motion, _ = render(dancer.plan, n_frames)
    return motion


def _usable_beats(beat_times, duration: float) -> np.ndarray:
    beats = np.unique(np.asarray(beat_times, dtype=np.float64).reshape(-1))
    beats = beats[np.isfinite(beats) & (beats >= 0.0) & (beats <= duration)]
    if len(beats) >= 4:
        return beats
    warn(f"only {len(beats)} beats in {duration:.1f} s of music; dancing to a steady {FALLBACK_TEMPO:g} BPM")
    return np.arange(0.5, duration, 60.0 / FALLBACK_TEMPO)


def _energy_curve(energy, n_frames: int) -> np.ndarray:
    if energy is None:
        return np.full(n_frames, DEFAULT_ENERGY)
    values = np.asarray(energy, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise LM2DError("energy must be a finite number or a non-empty curve of finite numbers")
    if values.size == 1:
        return np.full(n_frames, float(np.clip(values[0], 0.0, 1.0)))
    resampled = np.interp(np.linspace(0, values.size - 1, n_frames), np.arange(values.size), values)
    return np.clip(resampled, 0.0, 1.0)


def _mirror_leg_beat(beat: LegBeat) -> LegBeat:
    moves = tuple(FootMove("R" if move.side == "L" else "L", (-move.offset[0], move.offset[1]), move.kind)
                  for move in beat.moves)
    return replace(beat, moves=moves, weight=1.0 - beat.weight, twist=-beat.twist)


@dataclass(frozen=True)
class _Phrase:
    legs: LegPattern
    arms: ArmPattern
    mirror: bool


class _Choreographer:
    """Plans one dance: base phrases beat by beat, whole-body gestures in their windows."""

    def __init__(self, beats: np.ndarray, energy: np.ndarray, style: DanceStyle, beats_per_bar: int, seed: int):
        self.beats = beats
        self.energy = energy
        self.style = style
        self.rng = np.random.default_rng([seed, 5003])
        self.period = float(np.median(np.diff(beats)))
        self.every = 2 if 60.0 / self.period > FAST_TEMPO else 1     # legs step every `every` beats
        self.phrase_beats = 2 * beats_per_bar * self.every
        self.phrases = [self._pick_phrase(index) for index in range(len(beats) // self.phrase_beats + 1)]
        self.plan = DancePlan()

    # --- choices
    def _energy_at(self, time: float) -> float:
        return float(self.energy[int(np.clip(time * FPS, 0, len(self.energy) - 1))])

    def _pick_phrase(self, index: int) -> _Phrase:
        first = self.beats[min(index * self.phrase_beats, len(self.beats) - 1)]
        energy = self._energy_at(first)
        legs = self._pick(self.style.legs, LEG_PATTERNS, energy)
        arms = self._pick(self.style.arms, ARM_PATTERNS, energy)
        return _Phrase(legs, arms, bool(self.rng.random() < 0.5))

    def _pick(self, preferences: dict[str, float], patterns: dict, energy: float):
        names = [name for name in preferences if patterns[name].intensity <= energy + 0.3]
        names = names or [min(preferences, key=lambda name: patterns[name].intensity)]
        weights = np.array([preferences[name] for name in names], dtype=np.float64)
        return patterns[names[int(self.rng.choice(len(names), p=weights / weights.sum()))]]

    def _amplitude(self, time: float) -> float:
        return 0.45 + 0.55 * self._energy_at(time)

    # --- the dance
    def dance(self, events: list[GestureEvent]) -> None:
        self._idle_ends()
        self._arms()
        whole_body = [event for event in events if GESTURE_BY_NAME[event.gesture].whole_body]
        index = 0
        while index < len(self.beats):
            time = self.beats[index]
            if whole_body and whole_body[0].start - LEAD <= time:
                event = whole_body.pop(0)
                perform(self.plan, event, self.beats)
                index = int(np.searchsorted(self.beats, event.end + SETTLE))
                continue
            index = self._legs_on_beat(index)
        for event in whole_body:       # lyrics past the last tracked beat
            perform(self.plan, event, self.beats)
        for event in events:
            if not GESTURE_BY_NAME[event.gesture].whole_body:
                perform(self.plan, event, self.beats)

    def _idle_ends(self) -> None:
        """Stand relaxed until a beat before the music's first beat, and after its last."""
        relaxed = P.RELAXED.vector()
        start = max(0.0, self.beats[0] - self.period)
        self.plan.upper.key(0.0, relaxed)
        self.plan.upper.key(start, relaxed)
        self.plan.pelvis.key(0.0, STANDING)
        self.plan.pelvis.key(start, STANDING)
        end = self.beats[-1] + self.period
        self.plan.upper.key(end, relaxed)
        self.plan.pelvis.key(end, STANDING)

    def _arms(self) -> None:
        for index, time in enumerate(self.beats):
            phrase = self.phrases[index // self.phrase_beats]
            pose = phrase.arms.poses[index % len(phrase.arms.poses)]
            pose = pose.mirrored() if phrase.mirror else pose
            relaxed = P.RELAXED.vector()
            self.plan.upper.key(time, relaxed + self._amplitude(time) * (pose.vector() - relaxed))

    def _legs_on_beat(self, index: int) -> int:
        """Keys the legs and hips for beat `index`; returns the next beat to plan."""
        time = self.beats[index]
        phrase = self.phrases[index // self.phrase_beats]
        in_phrase = index % self.phrase_beats
        if phrase.legs.turn and in_phrase == 0:
            end_index = index + len(phrase.legs.beats) * self.every - 1
            if end_index < len(self.beats):
                turns = 1.0 if phrase.mirror else -1.0
                step_turn(self.plan, time, self.beats[end_index], turns, step_seconds=0.5 * self.period * self.every)
                return end_index + 1
        legs = phrase.legs if not phrase.legs.turn else LEG_PATTERNS["bounce"]
        beat = legs.beats[(in_phrase // self.every) % len(legs.beats)]
        beat = _mirror_leg_beat(beat) if phrase.mirror else beat
        energy = self._energy_at(time)
        amplitude = self._amplitude(time)
        previous = self.beats[index - self.every] if index >= self.every else time - self.period * self.every
        if in_phrase % self.every == 0:
            for move in beat.moves:
                self._foot(move, previous, time, amplitude, energy)
        depth = (0.015 + 0.055 * energy) * self.style.bounce
        weight = 0.5 + (beat.weight - 0.5) * (0.6 + 0.4 * amplitude)
        twist = np.radians(beat.twist) * amplitude
        half = time + 0.5 * (self.beats[index + 1] - time if index + 1 < len(self.beats) else self.period)
        self.plan.pelvis.key(time, [weight, depth * beat.drop, twist, 0.05 * beat.drop * energy, 0.0])
        # The half beat keys only the knees, so the weight shift flows from beat to beat.
        if beat.rise is not None:
            self.plan.pelvis.key(half, [np.nan, depth * beat.rise, np.nan, 0.0, np.nan])
        return index + 1

    def _foot(self, move: FootMove, previous: float, time: float, amplitude: float, energy: float) -> None:
        offset = np.array([move.offset[0], -move.offset[1]]) * amplitude   # (left, back) stage axes
        target = self.plan.stage_to_world(HOME[move.side] + offset)
        interval = time - previous
        if move.kind == "step":
            # The foot travels through most of the interval, so its stillness centres on the beat.
            self.plan.step_to(move.side, target, self.plan.heading, time - 0.8 * interval, time,
                              height=0.05 + 0.05 * energy)
            return
        half = min(0.45 * interval, 0.3)
        height = {"kick": 0.3, "lift": 0.28, "tap": 0.05, "stamp": 0.06}[move.kind] * (0.5 + 0.5 * amplitude)
        self.plan.swing_and_return(move.side, target, height, time - half, time + half,
                                   toe_point=0.6 if move.kind == "kick" else 0.35)
