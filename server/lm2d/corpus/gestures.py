"""Lyric-word gestures: which words trigger which movement, and how each is performed.

A gesture is performed inside its word's time window. Arm gestures override the base dance's
upper body through a weight that ramps in and out (slerp in render.render); whole-body gestures
(jump, spin, run, crouch) also take over the feet and hips for their window, and the base dance
resumes after it. GESTURE_KEYWORDS is the keyword -> gesture table; the evaluation's gesture
classifier trains on it, and the corpus records every performed event (keyword, start, end,
gesture) next to the clips.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from lm2d.corpus import poses as P
from lm2d.corpus.rig import SIDES, DancePlan, UpperPose, jump, rotate_xy, step_turn
from lm2d.lyrics import Lyrics
from lm2d.lyrics.segments import words_from_pieces


@dataclass(frozen=True)
class Gesture:
    name: str
    keywords: tuple[str, ...]
    min_seconds: float        # a window shorter than this is stretched (real lyrics' short words)
    whole_body: bool          # also drives the feet and hips
    description: str


GESTURES: tuple[Gesture, ...] = (
    Gesture("arms_up", ("up", "high", "sky", "rise", "above", "heaven"), 0.8, False, "both arms raised overhead"),
    Gesture("crouch", ("down", "low", "floor", "ground"), 1.0, True, "knees bend deep, hands reach for the floor"),
    Gesture("hands_on_heart", ("heart", "love"), 0.8, False, "both hands on the chest"),
    Gesture("wave", ("wave", "hello", "goodbye", "bye", "hi"), 1.0, False, "one arm up, hand waving"),
    Gesture("clap", ("clap",), 0.8, False, "hands clap on the beats"),
    Gesture("jump", ("jump",), 1.0, True, "crouch and jump with both feet"),
    Gesture("spin", ("spin", "around", "turn"), 1.2, True, "a full turn about the vertical, stepping"),
    Gesture("point", ("you", "point"), 0.6, False, "one arm points forward"),
    Gesture("run", ("run",), 1.0, True, "running in place: knees up, arms pumping"),
    Gesture("fly", ("fly", "arms", "wings"), 1.0, False, "arms out to the sides, flapping"),
    Gesture("stop", ("stop",), 0.7, False, "one hand pushed out, palm forward"),
    Gesture("think", ("think", "mind"), 0.9, False, "one hand to the temple, head tilted"),
    Gesture("cry", ("cry", "tears"), 0.9, False, "both hands to the face, head bowed"),
    Gesture("push", ("push",), 0.7, False, "both arms push forward on the beats"),
    Gesture("pull", ("pull",), 0.7, False, "both arms pull in from the front"),
    Gesture("reach", ("reach",), 0.8, False, "one arm reaches up and forward, leaning in"),
    Gesture("shake", ("shake",), 0.8, False, "hands up, shaking fast"),
    Gesture("look", ("look", "watch"), 0.8, False, "one hand shades the eyes, head turned"),
    Gesture("hug", ("hug", "hold"), 0.8, False, "arms wrap around the body"),
)
GESTURE_BY_NAME = {gesture.name: gesture for gesture in GESTURES}
GESTURE_KEYWORDS: dict[str, str] = {keyword: gesture.name for gesture in GESTURES for keyword in gesture.keywords}

# Inflections the suffix rules below miss.
IRREGULAR = {"ran": "run", "flew": "fly", "flies": "fly", "cried": "cry", "cries": "cry",
             "thought": "think", "held": "hold", "spun": "spin", "rose": "rise", "risen": "rise",
             "higher": "high", "highest": "high", "lower": "low", "lowest": "low", "skies": "sky",
             "loved": "love", "goodbyes": "goodbye", "hellos": "hello"}
SUFFIXES = ("ing", "es", "ed", "s")
MERGE_GAP = 0.6      # seconds: the same gesture's words closer than this are one event
RAMP = 0.25          # seconds to blend into and out of an arm gesture


def keyword_of(word: str) -> str | None:
    """The gesture keyword a lyric word is (or inflects: waving, spinning, skies), else None.
    A word with hyphens or apostrophes counts if any of its letter runs does ("bye-bye")."""
    for token in re.findall(r"[a-z]+", word.lower()):
        for candidate in _stems(token):
            if candidate in GESTURE_KEYWORDS:
                return candidate
    return None


def _stems(token: str) -> list[str]:
    stems = [token, IRREGULAR.get(token, "")]
    for suffix in SUFFIXES:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and len(stem) >= 3:     # "his" is not "hi" + s
            stems += [stem, stem + "e"]
            if len(stem) > 2 and stem[-1] == stem[-2]:     # spinning -> spinn -> spin
                stems.append(stem[:-1])
    return [stem for stem in stems if stem]


@dataclass(frozen=True)
class GestureEvent:
    gesture: str
    keyword: str          # the lyric keyword(s) that triggered it, space separated when merged
    start: float          # the window the gesture is performed in (seconds)
    end: float
    word_start: float     # the words' own timing
    word_end: float
    side: str = "R"       # the leading arm of one-armed gestures

    def to_json(self) -> dict:
        record = asdict(self)
        for key in ("start", "end", "word_start", "word_end"):
            record[key] = round(record[key], 3)
        return record


def gesture_events(lyrics: Lyrics | None, duration: float, seed: int = 0) -> list[GestureEvent]:
    """Every gesture the lyrics call for, in time order, without overlaps: a window shorter
    than the gesture's minimum is stretched; one that would overlap the previous event starts
    after it (or is dropped when too little is left)."""
    if lyrics is None:
        return []
    rng = np.random.default_rng([seed, 9001])
    hits = []
    for segment in lyrics.segments:
        words = segment.words or words_from_pieces([(segment.start, segment.end, segment.text)])
        for word in words:
            keyword = keyword_of(word.text)
            if keyword is not None:
                hits.append((GESTURE_KEYWORDS[keyword], keyword, word.start, word.end))
    events: list[GestureEvent] = []
    for name, keyword, start, end in sorted(hits, key=lambda hit: hit[2]):
        previous = events[-1] if events else None
        if previous and previous.gesture == name and start - previous.word_end < MERGE_GAP:
            words_end = max(previous.word_end, end)
            events[-1] = GestureEvent(name, f"{previous.keyword} {keyword}", previous.start,
                                      min(duration, max(previous.end, words_end)), previous.word_start,
                                      words_end, previous.side)
            continue
        minimum = GESTURE_BY_NAME[name].min_seconds
        window_start = max(start, previous.end if previous else 0.0)
        window_end = min(duration, max(end, window_start + minimum))
        if window_end - window_start < 0.6 * minimum:
            continue
        side = "R" if rng.random() < 0.7 else "L"
        events.append(GestureEvent(name, keyword, window_start, window_end, start, end, side))
    return events


# ---------------------------------------------------------------- performing

def _beats_within(beat_times: np.ndarray, start: float, end: float) -> np.ndarray:
    return beat_times[(beat_times > start + 0.05) & (beat_times < end - 0.05)]


def _pulse_times(beat_times: np.ndarray, start: float, end: float, fallback: float) -> np.ndarray:
    """Times to hit inside a window: its beats when there are at least two, else a steady pulse."""
    beats = _beats_within(beat_times, start, end)
    if len(beats) >= 2:
        return beats
    return np.arange(start + fallback, end - 0.5 * fallback, fallback)


def _hold(plan: DancePlan, event: GestureEvent, pose: UpperPose, limbs=(1.0, 1.0, 1.0)) -> None:
    """Take a pose for the whole window."""
    _keys(plan, event, [(event.start, pose), (event.end, pose)], limbs)


def _keys(plan: DancePlan, event: GestureEvent, keys: list[tuple[float, UpperPose]],
          limbs=(1.0, 1.0, 1.0)) -> None:
    """Gesture keys, mirrored for a left-led event, and the overlay weight for its window."""
    if event.side == "L":
        keys = [(time, pose.mirrored()) for time, pose in keys]
        limbs = (limbs[1], limbs[0], limbs[2])
    for time, pose in keys:
        plan.gesture_upper.key(time, pose.vector())
    plan.overlay(event.start, event.end, limbs, RAMP)


def _alternate(plan: DancePlan, event: GestureEvent, first: UpperPose, second: UpperPose,
               times: np.ndarray, limbs=(1.0, 1.0, 1.0)) -> None:
    """Switch between two poses, landing on `second` at each time and on `first` between."""
    keys = [(event.start, first)]
    for index, time in enumerate(times):
        keys.append((time, second))
        following = times[index + 1] if index + 1 < len(times) else event.end
        keys.append((0.5 * (time + following), first))
    keys.append((event.end, first))
    _keys(plan, event, keys, limbs)


def _static(pose: UpperPose, limbs=(1.0, 1.0, 1.0)):
    return lambda plan, event, beats: _hold(plan, event, pose, limbs)


def _arms_up(plan, event, beats):
    sway = (0.0, 6.0, 0.0)
    mirrored_sway = (0.0, -6.0, 0.0)
    times = _pulse_times(beats, event.start, event.end, 0.5)
    _alternate(plan, event, P.both(P.UP, sway, (-12.0, 0.0)), P.both(P.V_UP, mirrored_sway, (-15.0, 0.0)), times)


def _clap(plan, event, beats):
    times = _pulse_times(beats, event.start, event.end, 0.35)
    _alternate(plan, event, P.both(P.CLAP_OPEN), P.both(P.CLAP_SHUT, head=(8.0, 0.0)), times)


def _wave(plan, event, beats):
    times = np.arange(event.start + 0.2, event.end - 0.1, 0.22)
    _alternate(plan, event, P.right_arm(P.WAVE_A, head=(0.0, -10.0)), P.right_arm(P.WAVE_B, head=(0.0, -10.0)),
               times, (0.0, 1.0, 0.5))


def _fly(plan, event, beats):
    times = _pulse_times(beats, event.start, event.end, 0.4)
    _alternate(plan, event, P.both(P.WING_UP), P.both(P.WING_DOWN, (5.0, 0.0, 0.0)), times)


def _push(plan, event, beats):
    times = _pulse_times(beats, event.start, event.end, 0.4)
    _alternate(plan, event, P.both(P.PULL_IN), P.both(P.PUSH_OUT, (8.0, 0.0, 0.0)), times)


def _pull(plan, event, beats):
    times = _pulse_times(beats, event.start, event.end, 0.4)
    _alternate(plan, event, P.both(P.PUSH_OUT, (8.0, 0.0, 0.0)), P.both(P.PULL_IN, (-6.0, 0.0, 0.0)), times)


def _shake(plan, event, beats):
    times = np.arange(event.start + 0.15, event.end - 0.05, 0.12)
    _alternate(plan, event, P.both(P.SHAKE_A, (0.0, 0.0, 8.0)), P.both(P.SHAKE_B, (0.0, 0.0, -8.0)), times)


def _crouch(plan, event, beats):
    length = event.end - event.start
    base = plan.pelvis.value_at(event.start)
    down = np.array([0.5, 0.3, 0.0, 0.35, 0.05])
    plan.pelvis.key(event.start, base)
    plan.pelvis.key(event.start + 0.4 * length, down)
    plan.pelvis.key(event.start + 0.7 * length, down)
    plan.pelvis.key(event.end, base)
    _hold(plan, event, P.both(P.REACH_FLOOR, (25.0, 0.0, 0.0), (15.0, 0.0)))


def _jump(plan, event, beats):
    length = event.end - event.start
    count = max(1, int(length // 1.0))
    air_time = 0.4
    arms_low, arms_high = P.both(P.HANG_BACK, (15.0, 0.0, 0.0)), P.both(P.V_UP, head=(-10.0, 0.0))
    keys = [(event.start, P.RELAXED)]
    for index in range(count):
        slot = event.start + length * index / count
        takeoff = slot + 0.3 * length / count
        jump(plan, takeoff, air_time)
        keys += [(takeoff - 0.05, arms_low), (takeoff + 0.5 * air_time, arms_high),
                 (takeoff + air_time + 0.15, P.RELAXED)]
    keys.append((event.end, P.RELAXED))
    _keys(plan, event, keys)


def _spin(plan, event, beats):
    # Turn towards the leading arm's side (counter-clockwise seen from above for a left lead).
    turns = 1.0 if event.side == "L" else -1.0
    step_turn(plan, event.start, event.end, turns=turns, step_seconds=0.28)
    _hold(plan, event, P.both(P.FIST_CHEST), (1.0, 1.0, 0.0))


def _run(plan, event, beats):
    stride = float(np.clip(0.5 * np.median(np.diff(beats)) if len(beats) > 1 else 0.3, 0.22, 0.34))
    times = np.arange(event.start + 0.05, event.end - stride, stride)
    keys = [(event.start, P.RELAXED)]
    for index, lift in enumerate(times):
        side = SIDES[index % 2]
        here, _ = plan.plant_for(side, lift)
        forward = rotate_xy(plan.heading, np.array([0.0, -0.08]))
        plan.swing_and_return(side, here + forward, 0.22, lift, lift + stride, toe_point=0.5)
        plan.pelvis.key(lift + 0.5 * stride, [0.2 if side == "R" else 0.8, 0.06, 0.0, 0.12, 0.0])
        # Arms swing against the legs: the arm opposite the lifted knee goes forward.
        arms = UpperPose(P.RUN_BACK, P.RUN_FORWARD, (10.0, 0.0, 0.0))
        arms = arms if side == "L" else arms.mirrored()
        keys.append((lift + 0.5 * stride, arms))
    plan.pelvis.key(event.end, [0.5, 0.03, 0.0, 0.0, 0.0])
    keys.append((event.end, P.RELAXED))
    _keys(plan, event, keys)


PERFORMERS: dict[str, Callable[[DancePlan, GestureEvent, np.ndarray], None]] = {
    "arms_up": _arms_up,
    "crouch": _crouch,
    "hands_on_heart": _static(P.both(P.ON_HEART, (-5.0, 0.0, 0.0), (10.0, 0.0))),
    "wave": _wave,
    "clap": _clap,
    "jump": _jump,
    "spin": _spin,
    "point": _static(P.right_arm(P.POINT_FORWARD, spine=(8.0, 0.0, 10.0), head=(0.0, -5.0)), (0.0, 1.0, 1.0)),
    "run": _run,
    "fly": _fly,
    "stop": _static(P.right_arm(P.STOP_PALM, spine=(-4.0, 0.0, 8.0)), (0.0, 1.0, 1.0)),
    "think": _static(P.right_arm(P.TO_TEMPLE, head=(12.0, -15.0)), (0.0, 1.0, 1.0)),
    "cry": _static(P.both(P.TO_FACE, (15.0, 0.0, 0.0), (25.0, 0.0))),
    "push": _push,
    "pull": _pull,
    "reach": _static(P.right_arm(P.REACH, spine=(12.0, -8.0, 10.0), head=(-15.0, 0.0)), (0.0, 1.0, 1.0)),
    "shake": _shake,
    "look": _static(P.right_arm(P.SHADE_EYES, head=(-5.0, -30.0)), (0.0, 1.0, 1.0)),
    "hug": _static(P.both(P.HUG_SELF, (10.0, 0.0, 0.0), (15.0, 0.0))),
}
assert set(PERFORMERS) == set(GESTURE_BY_NAME), "every gesture needs a performer"


def perform(plan: DancePlan, event: GestureEvent, beat_times: np.ndarray) -> None:
    """Adds the event's keys (and, for whole-body gestures, steps and hip keys) to the plan."""
    PERFORMERS[event.gesture](plan, event, beat_times)
