"""A deterministic procedural choreographer: beats (+ energy, + lyrics) -> SMPL dance at 30 FPS.

The dance is a sequence of phrases (two bars each: eight counts in 4/4). Every phrase picks, by
seed, style and energy, a leg pattern (step-touch, bounce, rock, kick, box step, travelling
steps, pivots, turns, spins ...), an arm pattern (swings, throws, windmills, claps, pumps ...)
and a torso groove (contractions, hip twists, side bends, body rolls, chest pops, nods), possibly
mirrored, and a level (how deep the knees sit). Patterns are written one key per beat: feet
land, knees bottom out, the torso arrives and the arms hit on the beat and ease in and out of
it, so the body's speed dips on every beat, while arms swing through arcs between beats and the
head follows the torso a moment late. Travelling patterns carry the dancer across the floor and
back to their spot. Lyric gesture words (gestures.py) are performed in their word windows on
top. rig.py turns the plan into joint rotations: feet stay planted between steps (no skating),
legs and arms reach their targets by IK, and the lowest foot stays on the floor. The vocabulary
lives in moves.py.

Tempo awareness: above FAST_TEMPO the legs step every other beat (half time) while the knees
bounce and the arms move on every beat. Energy (0..1, per frame or constant) scales step size,
travel, knee bounce, torso groove, arm reach, and gates the busier patterns.

    motion = choreograph(beat_times, duration, lyrics, energy=None, style="pop", seed=0)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lm2d.corpus import poses as P
from lm2d.corpus.gestures import GESTURE_BY_NAME, GestureEvent, gesture_events, perform
from lm2d.corpus.moves import ARM_PATTERNS, DANCE_STYLES, GROOVES, LEG_PATTERNS, ArmPattern, DanceStyle, FootMove, \
    LegBeat, LegPattern
from lm2d.corpus.render import render
from lm2d.corpus.rig import GROOVE_HEAD, HOME, NO_GROOVE, STANDING, DancePlan, Groove, rotate_xy, step_turn
from lm2d.errors import LM2DError, warn
from lm2d.lyrics import Lyrics
from lm2d.motion.representation import FPS, Motion

FAST_TEMPO = 135.0        # BPM above which the legs run at half time
FALLBACK_TEMPO = 100.0    # used when a song has too few beats to dance to
LEAD = 0.35               # seconds before a whole-body gesture when the base dance lets go
SETTLE = 0.35             # seconds after it before the next base step lands
DEFAULT_ENERGY = 0.6
MAX_STANCE = 0.6         # metres between the ankles at the widest
MAX_STRIDE = 0.45        # metres the dancer's centre moves in one beat
FOLLOW_DISTANCE = 0.25   # metres a foot may be left from its spot before it steps back under the body
HEAD_LAG = 0.1            # seconds the head's nods and turns follow the torso's


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
    return replace(beat, moves=moves, weight=1.0 - beat.weight, twist=-beat.twist, at=(-beat.at[0], beat.at[1]))


@dataclass(frozen=True)
class _Phrase:
    legs: LegPattern
    arms: ArmPattern
    groove: tuple[Groove, ...]
    mirror: bool
    level: float              # extra knee drop for the whole phrase (metres)


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
        # Fast music moves as much per second, not per beat: shorter beats get smaller moves.
        self.pace = float(np.clip(self.period / 0.5, 0.65, 1.0))
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
        groove = GROOVES[self._pick_name(self.style.grooves)]
        level = self.style.level * energy * float(self.rng.choice([0.0, 0.5, 1.0]))
        return _Phrase(legs, arms, groove, bool(self.rng.random() < 0.5), level)

    def _pick(self, preferences: dict[str, float], patterns: dict, energy: float):
        names = [name for name in preferences if patterns[name].intensity <= energy + 0.3]
        names = names or [min(preferences, key=lambda name: patterns[name].intensity)]
        return patterns[self._pick_name({name: preferences[name] for name in names})]

    def _pick_name(self, preferences: dict[str, float]) -> str:
        names = list(preferences)
        weights = np.array([preferences[name] for name in names], dtype=np.float64)
        return names[int(self.rng.choice(len(names), p=weights / weights.sum()))]

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
                self._hand_over(event)
                index = int(np.searchsorted(self.beats, event.end + SETTLE))
                continue
            index = self._legs_on_beat(index)
        for event in whole_body:       # lyrics past the last tracked beat
            self._hand_over(event)
        for event in events:
            if not GESTURE_BY_NAME[event.gesture].whole_body:
                perform(self.plan, event, self.beats)

    def _hand_over(self, event: GestureEvent) -> None:
        """A whole-body gesture takes over where the dancer stands; the groove settles first."""
        self.plan.groove.key(event.start - LEAD, NO_GROOVE)
        self.plan.groove.key(event.end, NO_GROOVE)
        perform(self.plan, event, self.beats)

    def _idle_ends(self) -> None:
        """Stand relaxed until a beat before the music's first beat, and after its last."""
        relaxed = P.RELAXED.vector()
        start = max(0.0, self.beats[0] - self.period)
        end = self.beats[-1] + self.period
        for time in (0.0, start, end):
            self.plan.upper.key(time, relaxed)
            self.plan.pelvis.key(time, STANDING)
            self.plan.groove.key(time, NO_GROOVE)

    def _arms(self) -> None:
        """Arm keys on every beat (reach grows with energy) and swings through arcs between."""
        relaxed = P.RELAXED.vector()
        for index, time in enumerate(self.beats):
            phrase = self.phrases[index // self.phrase_beats]
            pose = phrase.arms.poses[index % len(phrase.arms.poses)]
            pose = pose.mirrored() if phrase.mirror else pose
            reach = (0.7 + 0.3 * self._energy_at(time)) * self.pace
            self.plan.upper.key(time, relaxed + reach * (pose.vector() - relaxed))
            if index + 1 < len(self.beats):
                out, forward, up = np.asarray(phrase.arms.swing) * reach
                offset = np.zeros_like(relaxed)
                offset[0:3] = (out, -forward, up)       # body axes (left, back, up)
                offset[9:12] = (-out, -forward, up)
                self.plan.arc(time, self.beats[index + 1], offset)

    def _legs_on_beat(self, index: int) -> int:
        """Keys the legs, hips and torso for beat `index`; returns the next beat to plan."""
        time = self.beats[index]
        phrase = self.phrases[index // self.phrase_beats]
        in_phrase = index % self.phrase_beats
        if phrase.legs.turns and in_phrase == 0:
            after = self._turns(index, phrase)
            if after is not None:
                return after
        legs = phrase.legs if not phrase.legs.turns else LEG_PATTERNS["bounce"]
        beat = legs.beats[(in_phrase // self.every) % len(legs.beats)]
        beat = _mirror_leg_beat(beat) if phrase.mirror else beat
        energy = self._energy_at(time)
        amplitude = self._amplitude(time)
        previous = self.beats[index - self.every] if index >= self.every else time - self.period * self.every
        if in_phrase % self.every == 0:
            at = np.array([beat.at[0], -beat.at[1]]) * (0.7 + 0.3 * energy)     # stage axes (left, back)
            # Travelling phrases are drawn around the origin, so they come back to it.
            self._move_centre(self.plan.origin + rotate_xy(self.plan.heading, at))
            for move in beat.moves:
                self._foot(move, previous, time, amplitude, energy)
            self._follow_centre(beat, previous, time, energy)
        depth = (0.03 + 0.06 * energy) * self.style.bounce
        weight = float(np.clip(0.5 + (beat.weight - 0.5) * (0.9 + 0.3 * amplitude), 0.05, 0.95))
        twist = np.radians(beat.twist) * amplitude
        half = time + 0.5 * (self.beats[index + 1] - time if index + 1 < len(self.beats) else self.period)
        self.plan.pelvis.key(time, [weight, depth * beat.drop, twist, 0.05 * beat.drop * energy, 0.0])
        # The half beat keys only the knees, so the weight shift flows from beat to beat.
        if beat.rise is not None:
            self.plan.pelvis.key(half, [np.nan, depth * beat.rise, np.nan, 0.0, np.nan])
        self._groove(phrase, in_phrase, time, energy)
        return index + 1

    def _move_centre(self, target: np.ndarray) -> None:
        """Moves the dancer's centre towards `target` by at most one stride per beat."""
        shift = target - self.plan.center
        distance = float(np.linalg.norm(shift))
        self.plan.center = self.plan.center + shift * min(1.0, MAX_STRIDE / max(distance, 1e-9))

    def _follow_centre(self, beat: LegBeat, previous: float, time: float, energy: float) -> None:
        """The foot travel has left farthest from its spot (and not moved on this beat) steps back
        under the body, never wider than a lunge, so the stance does not stretch into a split."""
        still = [side for side in ("L", "R") if side not in {move.side for move in beat.moves}]
        away = {side: float(np.linalg.norm(self.plan.foot_at(side, time)[0] - self.plan.stage_to_world(HOME[side])))
                for side in still}
        if away and max(away.values()) > FOLLOW_DISTANCE:
            side = max(away, key=away.get)
            self.plan.step_to(side, self._within_stance(side, self.plan.stage_to_world(HOME[side]), time),
                              self.plan.heading, time - 0.8 * (time - previous), time, height=0.05 + 0.05 * energy)

    def _within_stance(self, side: str, target: np.ndarray, time: float) -> np.ndarray:
        """`target` for a step of `side`, brought within MAX_STANCE of the other foot."""
        other, _ = self.plan.foot_at("R" if side == "L" else "L", time)
        apart = target - other
        return other + apart * min(1.0, MAX_STANCE / max(float(np.linalg.norm(apart)), 1e-9))

    def _groove(self, phrase: _Phrase, in_phrase: int, time: float, energy: float) -> None:
        """The torso's key on the beat; the head's follows it a moment later."""
        groove = phrase.groove[in_phrase % len(phrase.groove)]
        groove = groove.mirrored() if phrase.mirror else groove
        values = (0.7 + 0.4 * energy) * self.pace * groove.vector()
        values[-1] += phrase.level
        head = np.full_like(values, np.nan)
        head[GROOVE_HEAD] = 0.7 * values[GROOVE_HEAD]
        values[GROOVE_HEAD] = np.nan
        self.plan.groove.key(time, values)
        self.plan.groove.key(time + HEAD_LAG, head)

    def _turns(self, index: int, phrase: _Phrase) -> int | None:
        """The phrase's step turns from beat `index`; the next beat to plan, or None when the song
        ends before they would."""
        segments = [(index + sum(n for n, _ in phrase.legs.turns[:k]) * self.every, n * self.every, turns)
                    for k, (n, turns) in enumerate(phrase.legs.turns)]
        last = segments[-1][0] + segments[-1][1]
        if last > len(self.beats):
            return None
        direction = 1.0 if phrase.mirror else -1.0
        for first, length, turns in segments:
            start, end = self.beats[first], self.beats[first + length - 1]
            self.plan.groove.key(start, NO_GROOVE)
            step_turn(self.plan, start, end, direction * turns, step_seconds=max(0.28, 0.5 * self.period * self.every))
        return last

    def _foot(self, move: FootMove, previous: float, time: float, amplitude: float, energy: float) -> None:
        offset = np.array([move.offset[0], -move.offset[1]]) * amplitude   # (left, back) stage axes
        target = self.plan.stage_to_world(HOME[move.side] + offset)
        interval = time - previous
        if move.kind == "step":
            target = self._within_stance(move.side, target, time)
            # The foot travels through most of the interval, so its stillness centres on the beat.
            self.plan.step_to(move.side, target, self.plan.heading, time - 0.8 * interval, time,
                              height=0.05 + 0.05 * energy)
            return
        half = min(0.45 * interval, 0.3)
        height = {"kick": 0.3, "lift": 0.28, "tap": 0.05, "stamp": 0.06}[move.kind] * (0.5 + 0.5 * amplitude)
        # A kick or tap reaches out from where the foot stands, which travel may have left off its spot.
        here, _ = self.plan.plant_for(move.side, time - half)
        apex = here + rotate_xy(self.plan.heading, offset)
        self.plan.swing_and_return(move.side, apex, height, time - half, time + half,
                                   toe_point=0.6 if move.kind == "kick" else 0.35)
