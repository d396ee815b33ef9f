"""Editing with the distilled student (and the diffusion teacher): regenerating a frame range,
keeping joints, continuing a motion. Kept frames / joints must come back bit-identical and the
seams must be as smooth as the motion around them.

The song is a clip of the test dataset (real audio, lyrics and SMPL motion, test_dataset.py);
the models are test_distill.py's tiny teacher and its distilled student."""
from __future__ import annotations

import numpy as np
import pytest
from test_dataset import encoder  # noqa: F401 (fixture)
from test_distill import (dataset_root, shared_cache, student, student_run, teacher,  # noqa: F401
                          teacher_run, train_set)

from lm2d.distill.sampler import BLEND_FRAMES, LOWER_BODY, continue_motion, keep_joints, regenerate_range
from lm2d.errors import LM2DError
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import JOINT_NAMES
from lm2d.pipeline import SamplingSettings, edit_motion
from lm2d.server.protocol import EditSpec


@pytest.fixture(scope="module")
def song(train_set):
    """(motion, music features, lyric tokens) of the clip with lyrics: 240 frames, 4+ windows."""
    clip = next(clip for clip in train_set.clips if clip.lyrics is not None)
    return Motion.from_vector(clip.x[:, 4:]), clip.music, clip.lyrics


def frame_steps(motion: Motion) -> np.ndarray:
    """(T-1,) mean joint displacement (metres) from each frame to the next."""
    return np.linalg.norm(np.diff(motion.joints(), axis=0), axis=-1).mean(-1)


def assert_frames_kept(edited: Motion, motion: Motion, frames) -> None:
    assert np.array_equal(edited.root_translation[frames], motion.root_translation[frames])
    assert np.array_equal(edited.local_rotmats[frames], motion.local_rotmats[frames])
    assert np.array_equal(edited.to_vector()[frames], motion.to_vector()[frames])


def seam_bound(motion: Motion, seam: int) -> float:
    """How far the input motion itself moves per frame around `seam` (the largest step within a
    blend zone on either side): a seam should be no rougher than that."""
    return 1.5 * frame_steps(motion)[max(seam - BLEND_FRAMES, 0):seam + BLEND_FRAMES].max()


@pytest.mark.parametrize("steps", [1, 4])
def test_regenerate_range_keeps_the_rest_exactly_and_joins_smoothly(student, song, steps):
    motion, music, tokens = song
    first, end = 70, 170
    edited = regenerate_range(student, music, tokens, motion, first, end, steps=steps, seed=0)

    assert edited.n_frames == motion.n_frames
    assert_frames_kept(edited, motion, np.r_[0:first, end:motion.n_frames])
    assert not np.allclose(edited.local_rotmats[first:end], motion.local_rotmats[first:end], atol=1e-3)
    jumps = frame_steps(edited)
    assert jumps[first - 1] <= seam_bound(motion, first), (jumps[first - 1], seam_bound(motion, first))
    assert jumps[end - 1] <= seam_bound(motion, end), (jumps[end - 1], seam_bound(motion, end))


def test_the_blend_zone_is_what_smooths_the_seams(student, song):
    motion, music, tokens = song
    first, end = 70, 170
    raw = frame_steps(regenerate_range(student, music, tokens, motion, first, end, steps=1, seed=2, blend_frames=0))
    blended = frame_steps(regenerate_range(student, music, tokens, motion, first, end, steps=1, seed=2))
    seams = [first - 1, end - 1]
    assert (blended[seams] < 0.5 * raw[seams]).all(), (raw[seams], blended[seams])
    # Away from the seams the two agree: the blend zone stays inside the regenerated range.
    middle = slice(first + BLEND_FRAMES, end - BLEND_FRAMES - 1)
    np.testing.assert_allclose(blended[middle], raw[middle], atol=1e-5)


def test_a_two_frame_gap_is_filled_between_its_neighbours(student, song):
    motion, music, tokens = song
    edited = regenerate_range(student, music, tokens, motion, 100, 102, steps=2, seed=3)
    assert_frames_kept(edited, motion, np.r_[0:100, 102:motion.n_frames])
    jumps = frame_steps(edited)[99:102]     # 99 -> 100 -> 101 -> 102
    assert (jumps <= seam_bound(motion, 101)).all(), (jumps, seam_bound(motion, 101))


def test_keep_joints_keeps_the_lower_body_and_root_path_exactly(student, song):
    motion, music, tokens = song
    edited = keep_joints(student, music, tokens, motion, LOWER_BODY, steps=2, seed=1)
    lower = [JOINT_NAMES.index(name) for name in LOWER_BODY]
    upper = [j for j in range(len(JOINT_NAMES)) if j not in lower]
    assert np.array_equal(edited.root_translation, motion.root_translation)
    assert np.array_equal(edited.local_rotmats[:, lower], motion.local_rotmats[:, lower])
    assert not np.allclose(edited.local_rotmats[:, upper], motion.local_rotmats[:, upper], atol=1e-3)
    # Indices work as well as names; without the root path the translation is regenerated.
    by_index = keep_joints(student, music, tokens, motion, [0, 1, 2], keep_translation=False, steps=1, seed=1)
    assert np.array_equal(by_index.local_rotmats[:, :3], motion.local_rotmats[:, :3])
    assert not np.allclose(by_index.root_translation, motion.root_translation, atol=1e-3)


def test_continue_motion_starts_where_the_input_ends(student, song):
    full, music, tokens = song
    given = Motion(full.root_translation[:150], full.local_rotmats[:150])
    continued = continue_motion(student, music, tokens, given, 90, steps=2, seed=4)
    assert continued.n_frames == 240
    assert_frames_kept(continued, given, np.arange(150))
    jumps = frame_steps(continued)
    assert jumps[149] <= seam_bound(given, 149), (jumps[149], seam_bound(given, 149))
    assert np.isfinite(continued.joints()).all()


def test_editing_with_the_diffusion_teacher_uses_ddim_in_painting(teacher, song):
    motion, music, tokens = song
    edited = regenerate_range(teacher, music, tokens, motion, 100, 200, steps=4, seed=0)
    assert_frames_kept(edited, motion, np.r_[0:100, 200:motion.n_frames])
    assert not np.allclose(edited.root_translation[100:200], motion.root_translation[100:200], atol=1e-3)


def test_an_edit_with_the_teacher_samples_with_the_requested_guidance(teacher, song):
    motion, music, tokens = song
    edit = EditSpec(motion="take.npz", regenerate=(100, 200))

    def edited(music_guidance: float) -> Motion:
        settings = SamplingSettings(steps=4, music_guidance=music_guidance, lyrics_guidance=2.0, seed=0)
        return edit_motion(teacher, music, tokens, motion, edit, settings)

    unguided, guided = edited(1.0), edited(4.0)
    assert_frames_kept(guided, motion, np.r_[0:100, 200:motion.n_frames])
    assert not np.allclose(unguided.root_translation[100:200], guided.root_translation[100:200], atol=1e-4)


def test_bad_edits_are_user_errors(student, song):
    motion, music, tokens = song
    with pytest.raises(LM2DError, match="frame range 50..50"):
        regenerate_range(student, music, tokens, motion, 50, 50)
    with pytest.raises(LM2DError, match=f"not inside the motion's 0..{motion.n_frames}"):
        regenerate_range(student, music, tokens, motion, 10, motion.n_frames + 1)
    with pytest.raises(LM2DError, match="unknown joint 'left_tail'"):
        keep_joints(student, music, tokens, motion, ["pelvis", "left_tail"])
    with pytest.raises(LM2DError, match="nothing to regenerate"):
        keep_joints(student, music, tokens, motion, range(24))
    with pytest.raises(LM2DError, match="n_new_frames must be at least 1"):
        continue_motion(student, music, tokens, motion, 0)
    with pytest.raises(LM2DError, match=r"music features have \d+ frames; this edit needs \d+"):
        continue_motion(student, music, tokens, motion, 30)
