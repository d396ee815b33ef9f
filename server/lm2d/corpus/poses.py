"""Named arm shapes (left arm; the right arm is their mirror image) and upper-body poses.

An ArmShape is a wrist target relative to the shoulder in the chest frame (out, forward, up),
where the elbow points, and a wrist rotation; render.two_bone_ik turns it into joint rotations.
Reach (upper arm + forearm) is about 0.52 m.
"""
from __future__ import annotations

from lm2d.corpus.rig import HANGING_ARM, ArmShape, UpperPose

ELBOW_BACK = (0.3, -1.0, -0.4)
ELBOW_DOWN = (0.4, -0.3, -1.0)
ELBOW_OUT = (1.0, 0.0, -0.2)

HANG = HANGING_ARM
HANG_FORWARD = ArmShape((0.06, 0.2, -0.45))
HANG_BACK = ArmShape((0.07, -0.14, -0.47))
FIST_LOW = ArmShape((0.0, 0.26, -0.24), ELBOW_DOWN)          # elbow bent 90, forearm forward
FIST_CHEST = ArmShape((-0.06, 0.22, -0.02), ELBOW_DOWN)
FIST_HIGH = ArmShape((0.08, 0.1, 0.47), ELBOW_OUT)
PUNCH = ArmShape((-0.06, 0.5, -0.03), ELBOW_DOWN)
CLAP_OPEN = ArmShape((0.1, 0.3, -0.14), ELBOW_DOWN, (0.0, 0.0, -30.0))
CLAP_SHUT = ArmShape((-0.17, 0.33, -0.1), ELBOW_DOWN, (0.0, 0.0, -30.0))
UP = ArmShape((0.08, 0.06, 0.5), ELBOW_OUT)
V_UP = ArmShape((0.27, 0.06, 0.43), ELBOW_OUT)
SIDE = ArmShape((0.5, 0.06, 0.02), (0.0, -1.0, 0.0))
SIDE_LOW = ArmShape((0.4, 0.12, -0.28), (0.2, -1.0, -0.3))
WING_UP = ArmShape((0.46, 0.0, 0.2), (0.0, -1.0, 0.2), (0.0, 0.0, -25.0))
WING_DOWN = ArmShape((0.46, 0.0, -0.18), (0.0, -1.0, -0.2), (0.0, 0.0, 25.0))
POINT_UP = ArmShape((0.25, 0.2, 0.42), ELBOW_OUT)
ACROSS_LOW = ArmShape((-0.3, 0.25, -0.33), ELBOW_OUT)
POINT_FORWARD = ArmShape((-0.04, 0.5, 0.08), ELBOW_DOWN)
ON_HEART = ArmShape((-0.17, 0.14, -0.12), (0.6, 0.0, -1.0), (0.0, 0.0, -20.0))
TO_TEMPLE = ArmShape((-0.1, 0.06, 0.22), (1.0, 0.2, -0.4), (0.0, 0.0, -30.0))
TO_FACE = ArmShape((-0.13, 0.2, 0.14), ELBOW_DOWN, (0.0, 0.0, -40.0))
STOP_PALM = ArmShape((-0.04, 0.47, 0.12), ELBOW_DOWN, (0.0, 0.0, 70.0))
PUSH_OUT = ArmShape((-0.08, 0.48, 0.02), ELBOW_DOWN, (0.0, 0.0, 60.0))
PULL_IN = ArmShape((0.0, 0.12, -0.05), ELBOW_BACK, (0.0, 0.0, -10.0))
REACH = ArmShape((0.1, 0.33, 0.38), ELBOW_OUT)
WAVE_A = ArmShape((0.33, 0.08, 0.24), ELBOW_DOWN, (0.0, 20.0, 0.0))
WAVE_B = ArmShape((0.23, 0.08, 0.27), ELBOW_DOWN, (0.0, -20.0, 0.0))
SHAKE_A = ArmShape((0.12, 0.3, 0.05), ELBOW_DOWN, (25.0, 0.0, 0.0))
SHAKE_B = ArmShape((0.14, 0.28, 0.1), ELBOW_DOWN, (-25.0, 0.0, 0.0))
SHADE_EYES = ArmShape((-0.12, 0.2, 0.28), ELBOW_OUT, (0.0, 0.0, -60.0))
HUG_SELF = ArmShape((-0.3, 0.14, -0.08), ELBOW_DOWN, (0.0, 0.0, -20.0))
RUN_FORWARD = ArmShape((0.0, 0.24, -0.2), ELBOW_DOWN)
RUN_BACK = ArmShape((0.05, -0.1, -0.32), (0.2, -1.0, -0.6))
REACH_FLOOR = ArmShape((0.06, 0.32, -0.42), ELBOW_BACK)


def both(shape: ArmShape, spine=(0.0, 0.0, 0.0), head=(0.0, 0.0)) -> UpperPose:
    """Both arms in the same (mirrored) shape."""
    return UpperPose(shape, shape, spine, head)


def right_arm(shape: ArmShape, rest: ArmShape = HANG, spine=(0.0, 0.0, 0.0), head=(0.0, 0.0)) -> UpperPose:
    """A one-armed pose led by the right arm; `.mirrored()` gives the left-handed version."""
    return UpperPose(rest, shape, spine, head)


RELAXED = both(HANG)
