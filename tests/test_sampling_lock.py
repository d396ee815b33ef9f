"""Behaviour lock on the shipped models: the same seeds must give the same dance.

The fingerprints were first computed by the sampling code as it stood before the sampling package
(main at 197633a, pipeline.sample_motion / pipeline.edit_motion) on model v3, and the sampling
package matched them; they were recomputed once, with the code unchanged, when model v4's weights
shipped. Any change to the order of noise draws, the guidance, the in-painting, the overlap ties or
the seam blending moves them by far more than the tolerance. Inputs are seeded stand-ins for a song's features and lyric tokens (the lock is
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
    ("song", "default", 2): [-1.9255361922887495, -7.406120723192979, -29.001540646374327, -51.082612902758854],
    ("song", "teacher", 3): [-2.7543795731754166, -6.991416763791293, -49.77125551891407, -61.833784314955935],
    ("regenerate", "default", 2): [4.70836312013291, -8.511020840271106, 88.2014763629252, 42.70815244759199],
    ("keep_joints", "default", 1): [5.395228006929628, -8.740064641464786, 86.06326038460335, 39.103651885225545],
    ("continue", "default", 2): [-1.515080539940417, -7.527268633203885, -17.72095524888457, -50.12587688992206],
    ("regenerate", "teacher", 2): [2.505621730341005, -8.517252276424397, 84.18744020960665, 21.406451997796268],
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
