"""The choreographer's vocabulary: leg patterns (steps, travel, turns), arm patterns, torso
grooves, and the dance styles that weight them.

Every pattern is written one entry per beat, so what it does lands on the beat. Amounts are at
full amplitude; the choreographer scales them by the music's energy. Leg moves are in the
dancer's stage frame (left, forward metres); a beat's `at` moves the dancer's centre (the
spot the feet are placed around) relative to where the phrase started, so travelling patterns
cross the floor and end back on their spot. Grooves are the torso's part (rig.Groove): hips
that twist and lean, a spine that contracts, releases, bends and rolls, a head that nods and
turns — what makes a figure with moving limbs read as a dancer.
"""
from __future__ import annotations

from dataclasses import dataclass

from lm2d.corpus import poses as P
from lm2d.corpus.rig import ArmShape, Groove, UpperPose


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
    at: tuple[float, float] = (0.0, 0.0)   # the dancer's centre (left, forward) from the phrase's spot


@dataclass(frozen=True)
class LegPattern:
    name: str
    beats: tuple[LegBeat, ...]
    intensity: float          # 0 calm .. 1 busy: busy patterns need energy
    # Step turns instead of beats: (beats, full turns to the left) per segment, e.g. a quarter
    # turn and back. The pattern's `beats` are not used.
    turns: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class ArmPattern:
    name: str
    poses: tuple[UpperPose, ...]   # one per beat
    intensity: float
    swing: tuple[float, float, float] = (0.15, 0.12, 0.15)   # arc between beats: (out, forward, up) metres


def _step(side, left=0.0, forward=0.0):
    return FootMove(side, (left, forward), "step")


def _swing(side, kind, left=0.0, forward=0.0):
    return FootMove(side, (left, forward), kind)


TRAVEL_SCALE = 2.2     # the travel paths below are drawn at 1/2.2 of their size


def _travel(points: list[tuple[float, float]], weights: tuple[float, float] = (0.8, 0.2)) -> tuple[LegBeat, ...]:
    """Steps that carry the centre through `points` (left, forward), the feet alternating right
    then left and landing at their home spots around each point; the weight goes onto the
    foot that just stepped."""
    beats = []
    for index, point in enumerate(points):
        point = (TRAVEL_SCALE * point[0], TRAVEL_SCALE * point[1])
        side = "R" if index % 2 == 0 else "L"
        beats.append(LegBeat((_step(side),), weights[0] if side == "R" else weights[1], 1.0, 0.2, 0.0, point))
    return tuple(beats)


LEG_PATTERNS: dict[str, LegPattern] = {pattern.name: pattern for pattern in (
    LegPattern("bounce", (LegBeat((_step("L", 0.08),), 0.15, 1.0, 0.0, 12.0), LegBeat((_step("R", -0.08),), 0.85, 1.0, 0.0, -12.0)), 0.2),
    # A pendulum: highest over each foot on the beat, lowest passing the middle.
    LegPattern("sway", (LegBeat((_step("L", 0.12),), 0.1, 0.3, 0.8, 8.0), LegBeat((_step("R", -0.12),), 0.9, 0.3, 0.8, -8.0)), 0.0),
    # Hips centred over the feet: they travel the same distance on every beat.
    LegPattern("step_touch", (
        LegBeat((_step("R", -0.25),), 0.85, 1.0, 0.0, -10.0),
        LegBeat((_step("L", -0.25),), 0.6, 0.5, 0.0, 10.0),
        LegBeat((_step("L", 0.25),), 0.15, 1.0, 0.0, 10.0),
        LegBeat((_step("R", 0.25),), 0.4, 0.5, 0.0, -10.0)), 0.3),
    LegPattern("rock", (
        LegBeat((_step("L", 0.0, 0.28),), 0.2, 1.0, 0.0, 20.0),
        LegBeat((_step("L"),), 0.6, 0.4, 0.0, 0.0),
        LegBeat((_step("R", 0.0, 0.28),), 0.8, 1.0, 0.0, -20.0),
        LegBeat((_step("R"),), 0.4, 0.4, 0.0, 0.0)), 0.4),
    LegPattern("tap", (
        LegBeat((_swing("R", "tap", -0.3),), 0.15, 1.0, 0.0, -20.0),
        LegBeat((), 0.5, 0.5),
        LegBeat((_swing("L", "tap", 0.3),), 0.85, 1.0, 0.0, 20.0),
        LegBeat((), 0.5, 0.5)), 0.4),
    LegPattern("march", (LegBeat((_swing("L", "lift", 0.0, 0.1),), 0.85, 0.4, 0.0, -10.0),
                         LegBeat((_swing("R", "lift", 0.0, 0.1),), 0.15, 0.4, 0.0, 10.0)), 0.6),
    LegPattern("kick", (
        LegBeat((_swing("R", "kick", 0.0, 0.4),), 0.1, 0.3, 0.0, -15.0),
        LegBeat((), 0.5, 1.0),
        LegBeat((_swing("L", "kick", 0.0, 0.4),), 0.9, 0.3, 0.0, 15.0),
        LegBeat((), 0.5, 1.0)), 0.8),
    # Waltz rise and fall: down on one, rising through two and three.
    LegPattern("box", (
        LegBeat((_step("L", 0.0, 0.3),), 0.25, 1.0, None, 10.0),
        LegBeat((_step("R", -0.25, 0.3),), 0.75, 0.5, None),
        LegBeat((_step("L", -0.25, 0.3),), 0.35, 0.0, None, -10.0),
        LegBeat((_step("R", -0.25),), 0.75, 1.0, None, -10.0),
        LegBeat((_step("L"),), 0.25, 0.5, None),
        LegBeat((_step("R"),), 0.5, 0.0, None, 10.0)), 0.3),
    LegPattern("balance", (
        LegBeat((_step("L", 0.25),), 0.2, 1.0, None, 12.0),
        LegBeat((_step("R", 0.25),), 0.65, 0.5, None),
        LegBeat((_swing("L", "stamp", 0.25),), 0.35, 0.0, None),
        LegBeat((_step("R", -0.25),), 0.8, 1.0, None, -12.0),
        LegBeat((_step("L", -0.25),), 0.35, 0.5, None),
        LegBeat((_swing("R", "stamp", -0.25),), 0.65, 0.0, None)), 0.3),
    # Travelling: across the floor and back to the spot.
    LegPattern("travel_side", _travel([(-0.3, 0.0), (-0.3, 0.0), (-0.6, 0.0), (-0.6, 0.0),
                                       (-0.3, 0.0), (-0.3, 0.0), (0.0, 0.0), (0.0, 0.0)]), 0.3),
    LegPattern("travel_forward", _travel([(0.0, 0.25), (0.0, 0.5), (0.0, 0.7), (0.0, 0.7),
                                          (0.0, 0.45), (0.0, 0.2), (0.0, 0.0), (0.0, 0.0)]), 0.4),
    LegPattern("travel_diagonal", _travel([(0.3, 0.25), (0.3, 0.25), (0.6, 0.45), (0.6, 0.45),
                                           (0.3, 0.25), (0.3, 0.25), (0.0, 0.0), (0.0, 0.0)]), 0.5),
    LegPattern("travel_circle", _travel([(0.25, 0.15), (0.4, 0.45), (0.2, 0.7), (-0.2, 0.7),
                                         (-0.4, 0.45), (-0.25, 0.15), (0.0, 0.0), (0.0, 0.0)]), 0.5),
    # Turns: a full step turn, pivots a quarter round and back, two half turns.
    LegPattern("turn", (), 0.6, turns=((4, 1.0),)),
    LegPattern("pivot", (), 0.4, turns=((2, 0.25), (2, -0.25))),
    LegPattern("half_turns", (), 0.6, turns=((2, 0.5), (2, 0.5))),
    LegPattern("spin", (), 0.85, turns=((2, 1.0),)),
)}

# Arm shapes reaching further than the gesture set's: full swings, throws, wide opens.
SWING_FORWARD = ArmShape((0.02, 0.42, 0.05), P.ELBOW_DOWN)
SWING_BACK = ArmShape((0.12, -0.28, -0.36), (0.2, -1.0, -0.6))
THROW_HIGH = ArmShape((0.3, 0.22, 0.42), P.ELBOW_OUT, (0.0, 0.0, 20.0))
CROSS_CHEST = ArmShape((-0.12, 0.3, 0.08), P.ELBOW_DOWN, (0.0, 0.0, -20.0))
DIAGONAL_LOW = ArmShape((0.38, 0.2, -0.34), (0.3, -1.0, -0.3))
PRESS_DOWN = ArmShape((0.12, 0.28, -0.35), P.ELBOW_BACK, (0.0, 0.0, 40.0))

ARM_PATTERNS: dict[str, ArmPattern] = {pattern.name: pattern for pattern in (
    ArmPattern("groove", (UpperPose(SWING_FORWARD, SWING_BACK, (4.0, 0.0, 10.0), (5.0, 0.0)),
                          UpperPose(SWING_BACK, SWING_FORWARD, (4.0, 0.0, -10.0), (5.0, 0.0))), 0.0, (0.12, 0.00, 0.15)),
    ArmPattern("clap", (P.both(P.CLAP_OPEN), P.both(P.CLAP_SHUT, head=(8.0, 0.0))), 0.3, (0.18, 0.00, 0.15)),
    ArmPattern("pump", (P.both(P.FIST_CHEST, (6.0, 0.0, 0.0), (10.0, 0.0)), P.both(P.FIST_HIGH, head=(-10.0, 0.0))), 0.6),
    ArmPattern("punch", (UpperPose(P.PUNCH, P.FIST_LOW, (0.0, 0.0, -15.0)),
                         UpperPose(P.FIST_LOW, P.PUNCH, (0.0, 0.0, 15.0))), 0.5),
    ArmPattern("point_up", (P.right_arm(P.POINT_UP, P.FIST_LOW, (0.0, 6.0, 0.0), (-10.0, -15.0)),
                            P.right_arm(DIAGONAL_LOW, P.FIST_LOW, (5.0, -4.0, 0.0), (10.0, 10.0))), 0.5, (0.22, 0.15, 0.00)),
    ArmPattern("open", (P.both(P.SIDE, (-4.0, 0.0, 0.0), (-5.0, 0.0)), P.both(CROSS_CHEST, (6.0, 0.0, 0.0), (8.0, 0.0))), 0.2,
               (0.00, 0.18, 0.22)),
    ArmPattern("overhead_sway", (P.both(P.V_UP, (0.0, 10.0, 0.0), (-8.0, 0.0)),
                                 P.both(P.V_UP, (0.0, -10.0, 0.0), (-8.0, 0.0))), 0.4, (0.30, 0.00, 0.00)),
    ArmPattern("roll", (P.both(P.FIST_LOW, (5.0, 0.0, 6.0)), P.both(P.FIST_CHEST, (5.0, 0.0, -6.0))), 0.4, (0.00, 0.22, 0.15)),
    ArmPattern("throw", (P.both(CROSS_CHEST, (10.0, 0.0, 0.0), (10.0, 0.0)), P.both(THROW_HIGH, (-6.0, 0.0, 0.0), (-12.0, 0.0))),
               0.5, (0.30, 0.08, 0.00)),
    ArmPattern("windmill", (UpperPose(P.UP, DIAGONAL_LOW, (0.0, -8.0, 0.0), (0.0, 10.0)),
                            UpperPose(DIAGONAL_LOW, P.UP, (0.0, 8.0, 0.0), (0.0, -10.0))), 0.6, (0.38, 0.15, 0.00)),
    ArmPattern("wings", (P.both(P.WING_UP, head=(-5.0, 0.0)), P.both(PRESS_DOWN, (8.0, 0.0, 0.0), (8.0, 0.0))), 0.3,
               (0.15, 0.00, 0.00)),
)}

GROOVES: dict[str, tuple[Groove, ...]] = {
    # Contract on the beat, release between: the chest folds over the hips, which turn a little.
    "contract": (Groove((30.0, 0.0, -8.0), (16.0, 6.0), (16.0, 12.0), 0.03),
                 Groove((-8.0, 0.0, 8.0), (-10.0, -6.0), (-16.0, -4.0))),
    # Hip twists under a chest that stays facing front (an isolation).
    "twist": (Groove((8.0, 0.0, -20.0), (6.0, 12.0), (34.0, 4.0)), Groove((8.0, 0.0, 20.0), (6.0, -12.0), (-34.0, 4.0))),
    # Side bends with the weight shift.
    "side": (Groove((10.0, 20.0, 10.0), (8.0, 14.0), (20.0, 6.0)), Groove((10.0, -20.0, -10.0), (8.0, -14.0), (-20.0, 6.0))),
    # A body roll over two beats: chest leads forward and down, then the hips push through.
    "roll": (Groove((32.0, 6.0, 0.0), (18.0, 0.0), (12.0, -8.0), 0.05), Groove((-10.0, -6.0, 0.0), (-12.0, 0.0), (-12.0, 14.0))),
    # Chest pops forward and back, head answering.
    "chest_pop": (Groove((-14.0, 0.0, 6.0), (-8.0, 8.0), (-14.0, 6.0)), Groove((24.0, 0.0, -6.0), (14.0, -8.0), (14.0, 4.0), 0.02)),
    # A deep bounce with head nods (hip-hop's down groove).
    "nod": (Groove((24.0, 0.0, 8.0), (22.0, 8.0), (18.0, 10.0), 0.05), Groove((6.0, 0.0, -8.0), (-6.0, -8.0), (-18.0, 2.0))),
    # A slow, wide lean for ballads and waltzes.
    "lean": (Groove((14.0, 16.0, 14.0), (4.0, 16.0), (22.0, 6.0)), Groove((14.0, -16.0, -14.0), (4.0, -16.0), (-22.0, 6.0))),
}


@dataclass(frozen=True)
class DanceStyle:
    legs: dict[str, float]      # pattern -> preference weight
    arms: dict[str, float]
    grooves: dict[str, float]
    beats_per_bar: int
    bounce: float               # knee bounce depth scale
    level: float                # how low the deepest phrases sit (extra knee drop, metres)


DANCE_STYLES: dict[str, DanceStyle] = {
    "pop": DanceStyle({"step_touch": 3, "bounce": 2, "rock": 2, "tap": 2, "kick": 1, "travel_side": 4,
                       "travel_forward": 3, "travel_circle": 3, "travel_diagonal": 2, "turn": 0.6, "pivot": 1, "half_turns": 0.5},
                      {"clap": 1, "groove": 2, "punch": 1, "point_up": 2, "open": 1, "roll": 1, "throw": 2, "windmill": 1},
                      {"contract": 2, "twist": 3, "side": 2, "chest_pop": 1, "roll": 1}, 4, 1.0, 0.08),
    "hiphop": DanceStyle({"bounce": 4, "tap": 2, "rock": 2, "step_touch": 1, "travel_side": 3, "travel_diagonal": 3, "travel_forward": 1,
                          "turn": 0.3, "pivot": 1},
                         {"pump": 2, "groove": 2, "roll": 2, "punch": 2, "throw": 1, "wings": 1},
                         {"nod": 3, "chest_pop": 2, "roll": 2, "twist": 2}, 4, 1.4, 0.14),
    "electronic": DanceStyle({"bounce": 3, "march": 2, "kick": 2, "step_touch": 1, "travel_side": 3,
                              "travel_forward": 3, "travel_diagonal": 2, "turn": 0.5, "spin": 0.5, "pivot": 1},
                             {"pump": 3, "point_up": 2, "punch": 2, "open": 1, "windmill": 2, "throw": 1},
                             {"contract": 2, "nod": 2, "twist": 2, "chest_pop": 1}, 4, 1.2, 0.1),
    "ballad": DanceStyle({"sway": 3, "rock": 1, "step_touch": 1, "travel_circle": 2, "travel_side": 2, "pivot": 1},
                         {"overhead_sway": 2, "open": 2, "groove": 2, "wings": 2},
                         {"lean": 3, "side": 2, "roll": 1, "twist": 1}, 4, 0.6, 0.06),
    "waltz": DanceStyle({"box": 3, "balance": 3, "sway": 1, "travel_circle": 2, "travel_side": 1, "turn": 0.5, "half_turns": 0.5},
                        {"open": 2, "overhead_sway": 1, "groove": 1, "wings": 1},
                        {"lean": 2, "side": 2, "twist": 1}, 3, 0.8, 0.06),
    "folk": DanceStyle({"step_touch": 2, "kick": 2, "balance": 1, "march": 1, "tap": 1, "travel_side": 3,
                        "travel_forward": 2, "travel_circle": 1, "pivot": 1},
                       {"clap": 2, "groove": 2, "open": 1, "throw": 1},
                       {"side": 2, "twist": 2, "contract": 1}, 4, 1.0, 0.08),
}
