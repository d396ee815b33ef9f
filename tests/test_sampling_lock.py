"""Behaviour lock on the shipped models: the same seeds must give the same dance.

The fingerprints below were computed by the sampling code as it stood before the sampling package
(main at 197633a, pipeline.sample_motion / pipeline.edit_motion); any change to the order of noise
draws, the guidance, the in-painting, the overlap ties or the seam blending moves them by far more
than the tolerance. Inputs are seeded stand-ins for a song's features and lyric tokens (the lock is
on sampling; features and lyrics have their own tests), 200 frames = two overlapping windows."""
from __future__ import annotations

import numpy as np
import pytest

from lm2d.lyrics.tokens import SongLyricTokens
from lm2d.motion.representation import Motion
from lm2d.pipeline import kept_for, load_model, read_edit_motion, write_result
from lm2d.sampling import SamplingSettings, sample
from lm2d.server.protocol import EditSpec

FRAMES = 200
# (kind of call, checkpoint, steps) -> 4 projections of the result (tests/test_sampling_lock.py: fingerprint)
EXPECTED = {
    ("song", "default", 2): [-0.2771939929806795, -6.775798165767814, -37.13637468943908, -48.480879897494965],
    ("song", "teacher", 3): [0.261407035109384, -6.82893609165859, -33.211020448768515, -21.861059345900905],
    ("regenerate", "default", 2): [6.758563304947211, -8.25216454400266, 127.89566202611755, 18.9692882906119],
    ("keep_joints", "default", 1): [6.98064638252721, -8.329116079365008, 123.41971125019924, 17.169797133747686],
    ("continue", "default", 2): [0.4910314199675305, -7.158941202447826, -32.914316850594986, -50.451627579911616],
    ("regenerate", "teacher", 2): [5.739088931000465, -8.544875487346014, 118.59534612448553, 21.631998648582414],
}


@pytest.fixture(scope="module")
def models():
    from lm2d.model.checkpoint import default_checkpoint_path

    root = default_checkpoint_path().parent
    return {name: load_model(root / name, "cpu") for name in ("default", "teacher")}


def song_inputs(text_dim: int, frames: int = FRAMES) -> tuple[np.ndarray, SongLyricTokens]:
    rng = np.random.default_rng(5)
    features = rng.uniform(-1, 1, (frames, 35)).astype(np.float32)
    features[:, -1] = (np.arange(frames) % 15 == 0)            # a beat every half second
    lines = 3
    per_line = 4
    starts = np.array([10.0, 80.0, 150.0], np.float32)
    token_frames = (starts[:, None] + 8 * np.arange(per_line)[None, :]).ravel().astype(np.float32)
    tokens = SongLyricTokens(
        embeddings=rng.standard_normal((lines * per_line, text_dim)).astype(np.float32),
        frames=token_frames, line_index=np.repeat(np.arange(lines), per_line),
        line_embeddings=rng.standard_normal((lines, text_dim)).astype(np.float32),
        line_start_frames=starts, line_end_frames=starts + 40)
    return features, tokens


def fingerprint(motion: Motion) -> list[float]:
    """Four random projections (fixed seed) of the root path and the rotations, first and second half."""
    rng = np.random.default_rng(0)
    half = motion.n_frames // 2
    root = motion.root_translation.astype(np.float64)
    rot = motion.local_rotmats.astype(np.float64).reshape(motion.n_frames, -1)
    w_root, w_rot = rng.standard_normal(root.shape), rng.standard_normal(rot.shape)
    return [float((root * w_root)[:half].sum()), float((root * w_root)[half:].sum()),
            float((rot * w_rot)[:half].sum()), float((rot * w_rot)[half:].sum())]


def run_case(models, tmp_path, case: str, name: str, steps: int) -> Motion:
    loaded = models[name]
    features, tokens = song_inputs(loaded.config.text_dim)
    settings = SamplingSettings.for_model(loaded, steps, seed=3)
    if case == "song":
        return sample(loaded, features, tokens, settings=settings)
    source = sample(loaded, features[:160], tokens, settings=SamplingSettings.for_model(loaded, steps, seed=1))
    path = tmp_path / "source.npz"
    write_result(source, path)
    edit = {"regenerate": EditSpec(str(path), regenerate=(60, 120)),
            "keep_joints": EditSpec(str(path), keep_joints=("lower_body",)),
            "continue": EditSpec(str(path), continue_frames=FRAMES - 160)}[case]
    kept = kept_for(edit, read_edit_motion(edit))
    return sample(loaded, features[:kept.length], tokens, kept, settings)


CASES = [("song", "default", 2), ("song", "teacher", 3), ("regenerate", "default", 2),
         ("keep_joints", "default", 1), ("continue", "default", 2), ("regenerate", "teacher", 2)]


@pytest.mark.parametrize("case,name,steps", CASES)
def test_same_seed_same_dance_as_before(models, tmp_path, case, name, steps):
    motion = run_case(models, tmp_path, case, name, steps)
    assert np.isfinite(motion.local_rotmats).all()
    np.testing.assert_allclose(fingerprint(motion), EXPECTED[(case, name, steps)], rtol=1e-5, atol=1e-5)
