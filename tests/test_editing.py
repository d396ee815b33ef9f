"""Editing with the distilled student (and the diffusion teacher): regenerating a frame range,
keeping joints, continuing a motion. Kept frames / joints must come back bit-identical and the
seams must be as smooth as the motion around them.

The song is a clip of the test dataset (real audio, lyrics and SMPL motion, test_dataset.py);
the models are conftest.py's tiny teacher and its distilled student (test_distill.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lm2d.errors import LM2DError
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import JOINT_NAMES
from lm2d.pipeline import kept_for
from lm2d.sampling import BLEND_FRAMES, LOWER_BODY, Kept, SamplingSettings, sample
from lm2d.sampling.song import sample_windows
from lm2d.sampling.windows import stitch_windows, tie_overlaps, window_conditioning, window_starts
from lm2d.server.protocol import EditSpec


@pytest.fixture(scope="module")
def song(distill_train_set):
    """(motion, music features, lyric tokens) of the clip with lyrics: 240 frames, 4+ windows."""
    clip = next(clip for clip in distill_train_set.clips if clip.lyrics is not None)
    return Motion.from_vector(clip.x[:, 4:]), clip.music, clip.lyrics


def edit(loaded, motion: Motion, music, tokens, steps: int | None = None, seed: int = 0, settings=None,
         **spec) -> Motion:
    """The edit `spec` (EditSpec's fields) of `motion` as the server and CLI run it."""
    kept = kept_for(EditSpec("take.npz", **spec), motion)
    return sample(loaded, music, tokens, kept, settings or SamplingSettings.for_model(loaded, steps, seed=seed))


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
    edited = edit(student, motion, music, tokens, steps, regenerate=(first, end))

    assert edited.n_frames == motion.n_frames
    assert_frames_kept(edited, motion, np.r_[0:first, end:motion.n_frames])
    assert not np.allclose(edited.local_rotmats[first:end], motion.local_rotmats[first:end], atol=1e-3)
    jumps = frame_steps(edited)
    assert jumps[first - 1] <= seam_bound(motion, first), (jumps[first - 1], seam_bound(motion, first))
    assert jumps[end - 1] <= seam_bound(motion, end), (jumps[end - 1], seam_bound(motion, end))


def test_windows_that_keep_everything_are_not_sampled_and_change_nothing(student, song):
    """Two short gaps at the ends: the windows between them keep every value and skip the network.
    The result is the one from sampling every window of the run with its overlap ties (the
    network's last bits may differ with the batch's size on several threads, hence the tolerance)."""
    motion, music, tokens = song
    frames = np.ones(motion.n_frames, bool)
    frames[5:15] = frames[-15:-5] = False
    kept = Kept(motion, frames)
    settings = SamplingSettings.for_model(student, 4, seed=3)
    config = student.config
    starts = window_starts(motion.n_frames, config.n_frames)
    known = kept.known(student.normalizer, starts, config)
    assert known.mask.flatten(1).all(dim=1).any()          # the case this test is about
    every_window = sample_windows(student, window_conditioning(music, tokens, starts, config), settings, known,
                                  tie_overlaps)
    reference = kept.restore(stitch_windows(student.normalizer.unnormalize(every_window)[..., config.contact_dim:],
                                            length=motion.n_frames), 0)
    edited = sample(student, music, tokens, kept, settings)
    np.testing.assert_allclose(edited.local_rotmats, reference.local_rotmats, atol=1e-5)
    np.testing.assert_allclose(edited.root_translation, reference.root_translation, atol=1e-5)
    assert not np.allclose(edited.local_rotmats[5:15], motion.local_rotmats[5:15], atol=1e-3)


def test_the_blend_zone_is_what_smooths_the_seams(student, song):
    motion, music, tokens = song
    first, end = 70, 170
    kept = kept_for(EditSpec("take.npz", regenerate=(first, end)), motion)
    settings = SamplingSettings.for_model(student, 1, seed=2)
    raw = frame_steps(sample(student, music, tokens, dataclasses.replace(kept, blend_frames=0), settings))
    blended = frame_steps(sample(student, music, tokens, kept, settings))
    seams = [first - 1, end - 1]
    assert (blended[seams] < 0.5 * raw[seams]).all(), (raw[seams], blended[seams])
    # Away from the seams the two agree: the blend zone stays inside the regenerated range.
    middle = slice(first + BLEND_FRAMES, end - BLEND_FRAMES - 1)
    np.testing.assert_allclose(blended[middle], raw[middle], atol=1e-5)


def test_a_two_frame_gap_is_filled_between_its_neighbours(student, song):
    motion, music, tokens = song
    edited = edit(student, motion, music, tokens, 2, seed=3, regenerate=(100, 102))
    assert_frames_kept(edited, motion, np.r_[0:100, 102:motion.n_frames])
    jumps = frame_steps(edited)[99:102]     # 99 -> 100 -> 101 -> 102
    assert (jumps <= seam_bound(motion, 101)).all(), (jumps, seam_bound(motion, 101))


def test_keep_joints_keeps_the_lower_body_and_root_path_exactly(student, song):
    motion, music, tokens = song
    edited = edit(student, motion, music, tokens, 2, seed=1, keep_joints=("lower_body",))
    lower = [JOINT_NAMES.index(name) for name in LOWER_BODY]
    upper = [j for j in range(len(JOINT_NAMES)) if j not in lower]
    assert np.array_equal(edited.root_translation, motion.root_translation)
    assert np.array_equal(edited.local_rotmats[:, lower], motion.local_rotmats[:, lower])
    assert not np.allclose(edited.local_rotmats[:, upper], motion.local_rotmats[:, upper], atol=1e-3)
    # Without the root path the translation is regenerated.
    joints = np.isin(np.arange(len(JOINT_NAMES)), [0, 1, 2])
    kept = Kept(motion, np.zeros(motion.n_frames, bool), joints, translation=False)
    by_index = sample(student, music, tokens, kept, SamplingSettings.for_model(student, 1, seed=1))
    assert np.array_equal(by_index.local_rotmats[:, :3], motion.local_rotmats[:, :3])
    assert not np.allclose(by_index.root_translation, motion.root_translation, atol=1e-3)


def test_continue_motion_starts_where_the_input_ends(student, song):
    full, music, tokens = song
    given = Motion(full.root_translation[:150], full.local_rotmats[:150])
    continued = edit(student, given, music, tokens, 2, seed=4, continue_frames=90)
    assert continued.n_frames == 240
    assert_frames_kept(continued, given, np.arange(150))
    jumps = frame_steps(continued)
    assert jumps[149] <= seam_bound(given, 149), (jumps[149], seam_bound(given, 149))
    assert np.isfinite(continued.joints()).all()


def test_editing_with_the_diffusion_teacher_uses_ddim_in_painting(teacher, song):
    motion, music, tokens = song
    steps_seen = []
    hook = teacher.model.register_forward_pre_hook(lambda module, inputs: steps_seen.append(inputs[1].unique()))
    try:
        edited = edit(teacher, motion, music, tokens, 4, regenerate=(100, 200))
    finally:
        hook.remove()
    # DDIM's 4 integer steps of the 1000-step schedule, each for the guidance branches of one batch.
    assert sorted({float(t) for seen in steps_seen for t in seen}) == [249.0, 499.0, 749.0, 999.0]
    assert_frames_kept(edited, motion, np.r_[0:100, 200:motion.n_frames])
    assert not np.allclose(edited.root_translation[100:200], motion.root_translation[100:200], atol=1e-3)


def test_an_edit_with_the_teacher_samples_with_the_requested_guidance(teacher, song):
    motion, music, tokens = song

    def edited(music_guidance: float) -> Motion:
        settings = SamplingSettings.for_model(teacher, 4, music_guidance, 2.0)
        return edit(teacher, motion, music, tokens, settings=settings, regenerate=(100, 200))

    unguided, guided = edited(1.0), edited(4.0)
    assert_frames_kept(guided, motion, np.r_[0:100, 200:motion.n_frames])
    assert not np.allclose(unguided.root_translation[100:200], guided.root_translation[100:200], atol=1e-4)


def test_bad_edits_are_user_errors(student, song):
    motion, music, tokens = song
    with pytest.raises(LM2DError, match=f"runs past the motion's {motion.n_frames} frames"):
        edit(student, motion, music, tokens, regenerate=(10, motion.n_frames + 1))
    with pytest.raises(LM2DError, match="unknown joint 'left_tail'"):
        edit(student, motion, music, tokens, keep_joints=("pelvis", "left_tail"))
    with pytest.raises(LM2DError, match="nothing to regenerate"):
        edit(student, motion, music, tokens, keep_joints=tuple(JOINT_NAMES))
    with pytest.raises(LM2DError, match="keep_joints cannot be combined with continue_frames"):
        edit(student, motion, music, tokens, keep_joints=("root",), continue_frames=30)
    with pytest.raises(LM2DError, match="FPS; edits need lm2d's 30"):
        kept_for(EditSpec("take.npz", regenerate=(0, 10)), Motion(motion.root_translation, motion.local_rotmats, 60.0))
    with pytest.raises(LM2DError, match=r"music features have \d+ frames; this edit needs \d+"):
        edit(student, motion, music, tokens, continue_frames=30)
