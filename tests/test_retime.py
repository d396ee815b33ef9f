"""Beat accent (lm2d.motion.retime): the warp's shape, what it keeps, and that it puts the dance's
motion beats on the music's beats."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lm2d.errors import LM2DError
from lm2d.evaluation.beat_align import (beat_alignment_score, kinetic_velocity,
                                          smoothed_kinetic_velocity)
from lm2d.motion.representation import Motion, resample, sample_at
from lm2d.motion.retime import accent_beats, accent_time_map
from lm2d.motion.rotation import axis_angle_to_matrix

BEATS = np.array([20, 38, 55, 73, 90, 108, 125, 143])


def steady_motion(frames: int = 170) -> Motion:
    """Spins on the spot at a constant rate, every joint on a circle at constant speed: a dance
    with no accents at all."""
    t = torch.arange(frames, dtype=torch.float64)
    axis_angle = torch.zeros(frames, 24, 3, dtype=torch.float64)
    axis_angle[:, 0, 2] = 0.05 * t
    root = torch.zeros(frames, 3, dtype=torch.float64) + torch.tensor([0.0, 0.0, 0.9], dtype=torch.float64)
    return Motion(root.numpy(), axis_angle_to_matrix(axis_angle).numpy())


def test_the_warp_keeps_every_beat_and_slows_on_it():
    strength = 0.4
    source = accent_time_map(BEATS, 170, strength)
    frames = np.arange(170)
    np.testing.assert_allclose(source[BEATS], BEATS, atol=1e-9)
    np.testing.assert_array_equal(source[:BEATS[0] + 1], frames[:BEATS[0] + 1])
    np.testing.assert_array_equal(source[BEATS[-1]:], frames[BEATS[-1]:])
    rate = np.diff(source)
    assert (rate > 0).all()
    # Time runs at 1 - a on the beat and 1 + a half-way to the next (one-frame differences).
    assert rate[BEATS[2]] == pytest.approx(1 - strength, abs=0.02)
    middle = (BEATS[3] + BEATS[4]) // 2
    assert rate[middle] == pytest.approx(1 + strength, abs=0.02)


def test_a_steady_dance_gains_its_motion_beats_on_the_music_beats():
    motion = steady_motion()
    speed = smoothed_kinetic_velocity(motion.joints())
    assert speed.std() < 1e-3 * speed.mean()        # no accents: only rounding noise to find minima in
    accented = accent_beats(motion, BEATS, 0.4)
    assert accented.n_frames == motion.n_frames
    assert beat_alignment_score(accented.joints(), BEATS) > 0.9
    # Unsmoothed, each joint moves at 1 - a = 0.6 of its speed across a beat frame.
    np.testing.assert_allclose(kinetic_velocity(accented.joints())[BEATS[:-1]], 0.6 * speed.mean(), rtol=0.03)
    # Poses are unchanged, only their timing: every beat frame holds its original pose.
    np.testing.assert_allclose(accented.local_rotmats[BEATS], motion.local_rotmats[BEATS], atol=1e-5)
    np.testing.assert_allclose(accented.root_translation[BEATS], motion.root_translation[BEATS], atol=1e-6)


def test_only_beat_intervals_clear_of_held_frames_are_retimed():
    motion = steady_motion()
    hold = np.ones(motion.n_frames, bool)
    hold[50:110] = False                     # an edit that regenerates frames 50..109
    accented = accent_beats(motion, BEATS, 0.5, hold=hold)
    changed = np.abs(accented.local_rotmats - motion.local_rotmats).max(axis=(1, 2, 3)) > 1e-5
    # Beats 55, 73, 90, 108 lie in the free frames: only the intervals between them move (all but
    # their beat frames and their exact middles, where the warp passes through the identity).
    assert changed[56:73].sum() >= 15 and changed[91:108].sum() >= 15
    assert not changed[:56].any() and not changed[108:].any()
    held_everywhere = accent_beats(motion, BEATS, 0.5, hold=np.ones(motion.n_frames, bool))
    np.testing.assert_array_equal(held_everywhere.local_rotmats, motion.local_rotmats)


def test_strength_zero_is_the_motion_itself_and_bad_strengths_are_user_errors():
    motion = steady_motion()
    assert accent_beats(motion, BEATS, 0.0) is motion
    for bad in (-0.1, 1.0, 3.0):
        with pytest.raises(LM2DError, match="beat accent must be at least 0 .off. and below 1"):
            accent_beats(motion, BEATS, bad)


def test_sample_at_whole_frames_is_the_motion_and_matches_resample():
    motion = steady_motion(40)
    same = sample_at(motion, np.arange(40))
    np.testing.assert_allclose(same.local_rotmats, motion.local_rotmats, atol=1e-6)
    half = sample_at(motion, np.arange(0, 39.5, 0.5), fps=60)
    np.testing.assert_allclose(half.local_rotmats, resample(motion, 60).local_rotmats, atol=1e-6)
    halfway = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.025], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(half.local_rotmats[1, 0], halfway, atol=1e-6)
