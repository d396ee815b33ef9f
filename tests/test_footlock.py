"""Foot lock on real dances: a choreographer dance (feet planted by construction) and the same
dance with its whole body drifting slowly across the floor, the way a network's planted feet slide."""
from __future__ import annotations

import numpy as np
import pytest

from lm2d.corpus.choreographer import choreograph
from lm2d.evaluation.video_accuracy import foot_skating
from lm2d.motion.footlock import BLEND_FRAMES, JUMP_HEIGHT, LEGS, foot_contacts, lock_feet
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import NUM_JOINTS

SECONDS = 8.0
LEG_JOINTS = {joint for leg in LEGS for joint in leg} | {1, 2}
BODY_JOINTS = [j for j in range(NUM_JOINTS) if j not in LEG_JOINTS]


@pytest.fixture(scope="module")
def dance() -> Motion:
    return choreograph(np.arange(0.3, SECONDS, 0.5), SECONDS, energy=0.8, style="pop", seed=11)


def drifting(motion: Motion, speed: float = 0.12) -> Motion:
    """The dance with the pelvis (so the feet too) drifting to and fro at up to `speed` m/s."""
    t = np.arange(motion.n_frames) / motion.fps
    drift = np.stack([speed / 1.5 * np.sin(1.5 * t), speed / 2.0 * np.sin(2.0 * t + 1.0), 0 * t], axis=1)
    return Motion(motion.root_translation + drift, motion.local_rotmats, motion.fps)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1)
                     for hip, knee, ankle, toe in LEGS for parent, child in ((hip, knee), (knee, ankle), (ankle, toe))])


def test_sliding_planted_feet_are_pinned_and_nothing_else_changes(dance):
    sliding = drifting(dance)
    locked = lock_feet(sliding)
    before, after = sliding.joints(), locked.joints()
    assert foot_skating(before) > 0.05
    assert foot_skating(after) < foot_skating(before) / 3
    # Only the legs move: pelvis, spine, arms and head are untouched; foot heights and bones are kept.
    np.testing.assert_array_equal(locked.root_translation, sliding.root_translation)
    np.testing.assert_allclose(after[:, BODY_JOINTS], before[:, BODY_JOINTS], atol=1e-5)
    feet = [joint for leg in LEGS for joint in leg[2:]]
    np.testing.assert_allclose(after[:, feet, 2], before[:, feet, 2], atol=2e-3)   # feet never lift or sink
    np.testing.assert_allclose(bone_lengths(after), bone_lengths(before), atol=1e-4)
    # The legs' rotations stay rotations.
    rotmats = locked.local_rotmats.astype(np.float64)
    np.testing.assert_allclose(rotmats @ np.swapaxes(rotmats, -1, -2), np.broadcast_to(np.eye(3), rotmats.shape),
                               atol=1e-4)


def test_a_dance_drifting_through_the_floor_is_put_back_on_it_and_a_jump_keeps_its_height(dance):
    """The body sinks up to 6 cm under the floor and hovers up to 4 cm over it, slowly, the way a
    network's dance drifts; at 3 s it jumps 12 cm for a third of a second."""
    t = np.arange(dance.n_frames) / dance.fps
    jump = np.where((t >= 3.0) & (t < 3.33), 0.12 * np.sin(np.pi * (t - 3.0) / 0.33), 0.0)
    drift = -0.01 + 0.05 * np.sin(0.9 * t) + jump
    adrift = Motion(dance.root_translation + np.stack([0 * t, 0 * t, drift], axis=1), dance.local_rotmats, dance.fps)
    toes = [toe for *_, toe in LEGS]
    lowest = lock_feet(adrift).joints()[:, toes, 2].min(axis=1)
    in_air = (t >= 3.05) & (t < 3.28)
    assert np.abs(lowest[~in_air & (np.abs(t - 3.16) > 0.3)]).max() < 0.01       # on the floor, not over or under it
    assert (lowest[in_air] > JUMP_HEIGHT).all()
    np.testing.assert_allclose(lowest[in_air], jump[in_air], atol=0.02)        # the jump's own height over the floor


def test_a_planted_foot_stays_on_one_spot_through_its_contact(dance):
    locked = lock_feet(drifting(dance)).joints()
    hip, knee, ankle, toe = LEGS[0]
    planted = foot_contacts(locked[:, ankle], locked[:, toe], dance.fps)
    assert 0.3 < planted.mean() < 1.0
    edges = np.diff(np.concatenate([[0], planted.astype(int), [0]]))
    spans = list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
    longest = max(spans, key=lambda span: span[1] - span[0])
    held = locked[longest[0]:longest[1], [ankle, toe], :2]
    # One of the two (the pivot) stays within a few millimetres of its spot.
    assert min(np.ptp(held[:, i], axis=0).max() for i in range(2)) < 0.01


def test_a_clean_dance_keeps_its_feet(dance):
    before, after = dance.joints(), lock_feet(dance).joints()
    assert np.abs(after - before).max() < 0.005      # its feet never slide: nothing to pin
    assert foot_skating(after) <= foot_skating(before) + 1e-3


def test_held_frames_are_left_exactly_as_they_are(dance):
    sliding = drifting(dance)
    hold = np.zeros(sliding.n_frames, bool)
    hold[:60] = hold[150:] = True
    locked = lock_feet(sliding, hold)
    np.testing.assert_array_equal(locked.local_rotmats[hold], sliding.local_rotmats[hold])
    free = slice(60 + BLEND_FRAMES + 1, 150 - BLEND_FRAMES - 1)
    assert np.abs(locked.local_rotmats[free] - sliding.local_rotmats[free]).max() > 1e-3
    assert lock_feet(sliding, np.ones(sliding.n_frames, bool)).local_rotmats.tobytes() == sliding.local_rotmats.tobytes()
