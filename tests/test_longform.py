"""Long-form generation (lm2d.sampling.windows, through lm2d.sampling.sample): window layout, stitching, exact lengths, lyrics per
window, and seams measured on a tiny model trained on smooth synthetic dances."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lm2d.errors import Cancelled, LM2DError
from lm2d.lyrics import SongLyricTokens, TextEncoder, encode_song_lyrics, load_lyrics
from lm2d.model import Denoiser, GaussianDiffusion, LoadedModel, ModelConfig, Normalizer
from lm2d.sampling import SamplingSettings, ddim, run, sample
from lm2d.sampling.denoisers import evaluating, guided
from lm2d.sampling.samplers import noise_source
from lm2d.sampling.windows import split_windows, stitch_windows, tie_overlaps, window_conditioning, window_starts
from lm2d.motion.representation import Motion, parts_to_motion_vector
from lm2d.motion.rotation import axis_angle_to_matrix



def diffusion_model(model: Denoiser, normalizer: Normalizer) -> LoadedModel:
    return LoadedModel(model, model.config, normalizer, GaussianDiffusion(model.config), {"kind": "diffusion"})


def untrained(n_frames: int = 150, **changes) -> LoadedModel:
    torch.manual_seed(0)
    config = ModelConfig(n_frames=n_frames, latent_dim=32, ff_dim=64, n_layers=1, n_heads=2, **changes)
    normalizer = Normalizer.fit(np.random.default_rng(0).normal(size=(100, config.channels)))
    return diffusion_model(Denoiser(config).eval(), normalizer)


def generate(loaded: LoadedModel, features, tokens=None, steps: int = 2, seed: int | None = 0,
             music_weight: float = 3.0, lyrics_weight: float = 6.0, **options):
    return sample(loaded, features, tokens, settings=SamplingSettings(steps, music_weight, lyrics_weight, seed),
                  **options)


# --- window layout and stitching -----------------------------------------------------------

@pytest.mark.parametrize("length", [1, 30, 149, 150, 151, 225, 226, 449, 1000, 27000])
def test_windows_cover_the_song_with_half_overlap(length):
    starts = window_starts(length, 150)
    assert starts[0] == 0 and all(b - a == 75 for a, b in zip(starts, starts[1:]))
    assert starts[-1] + 150 >= length                          # covered ...
    assert len(starts) == 1 or starts[-1] + 75 < length        # ... by no more windows than needed


def test_split_windows_mirror_pads_the_tail():
    features = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    windows = split_windows(features, 30)                      # starts 0, 15 (covers 45)
    assert windows.shape == (2, 30, 3)
    np.testing.assert_array_equal(windows[1, :25], features[15:])
    np.testing.assert_array_equal(windows[1, 25:], features[::-1][:5])
    short = split_windows(features[:4], 30)                    # a song shorter than a window
    assert short.shape == (1, 30, 3) and np.isin(short, features[:4]).all()


def smooth_motion(frames: torch.Tensor, offset: torch.Tensor, bias: torch.Tensor, period: float = 45.0) -> torch.Tensor:
    """(…, T) frame numbers -> (…, T, 151) [zero contacts, 147 motion]: every joint swings on a
    sinusoid of the song's phase; `offset` (…, 2) shifts the root, `bias` (…, 1) every joint angle."""
    generator = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(24, 3, generator=generator), dim=-1)
    amplitudes = 0.2 + 0.4 * torch.rand(24, generator=generator)
    phases = torch.rand(24, generator=generator) * 2 * math.pi
    w = 2 * math.pi * frames / period
    root = torch.stack([0.3 * torch.sin(w) + offset[..., :1], 0.3 * torch.cos(w) + offset[..., 1:],
                        0.9 + 0.05 * torch.sin(2 * w)], dim=-1)
    angles = amplitudes * torch.sin(w[..., None] + phases) + bias[..., None]
    vector = parts_to_motion_vector(root, axis_angle_to_matrix(angles[..., None] * axes))
    return torch.cat([torch.zeros(*vector.shape[:-1], 4), vector], dim=-1)


def phase_music(frames: torch.Tensor, period: float = 45.0) -> torch.Tensor:
    """Stand-in music features that tell the model the dance's phase at each frame."""
    w = 2 * math.pi * frames / period
    music = torch.zeros(*w.shape, 35)
    music[..., 0], music[..., 1], music[..., 2], music[..., 3] = w.sin(), w.cos(), (2 * w).sin(), (2 * w).cos()
    return music


def test_stitching_windows_cut_from_one_motion_gives_it_back():
    frames = torch.arange(200, dtype=torch.float32)
    vector = smooth_motion(frames, torch.tensor([0.1, -0.2]), torch.tensor([0.05]))[:, 4:]
    windows = split_windows(vector.numpy(), 30)
    motion = stitch_windows(windows, length=200)
    expected = Motion.from_vector(vector)
    np.testing.assert_allclose(motion.root_translation, expected.root_translation, atol=1e-6)
    np.testing.assert_allclose(motion.local_rotmats, expected.local_rotmats, atol=1e-5)


def test_stitching_blends_disagreeing_overlaps_linearly_and_by_slerp():
    window = 10
    first, second = np.zeros((window, 147), np.float32), np.zeros((window, 147), np.float32)
    identity_6d = np.array([1, 0, 0, 0, 1, 0], np.float32)
    quarter_turn_6d = np.array([0, 1, 0, -1, 0, 0], np.float32)     # 90° about z
    first[:, 3:] = np.tile(identity_6d, 24)
    second[:, 3:] = np.tile(quarter_turn_6d, 24)
    second[:, 0] = 1.0
    motion = stitch_windows(np.stack([first, second]))
    assert motion.n_frames == 15
    ramp = np.linspace(0, 1, 5)
    np.testing.assert_allclose(motion.root_translation[5:10, 0], ramp, atol=1e-6)
    angles = np.arctan2(motion.local_rotmats[5:10, 0, 1, 0], motion.local_rotmats[5:10, 0, 0, 0])
    np.testing.assert_allclose(angles, ramp * np.pi / 2, atol=1e-5)  # slerp: constant angular speed
    assert motion.root_translation[:5, 0].max() == 0 and motion.root_translation[10:, 0].min() == 1


def test_tie_overlaps_copies_each_tail_onto_the_next_head():
    windows = torch.randn(4, 10, 3)
    tied = tie_overlaps(windows)
    assert torch.equal(tied[1:, :5], windows[:-1, 5:]) and torch.equal(tied[:, 5:], windows[:, 5:])
    assert torch.equal(tied[0], windows[0])


def test_noise_for_some_windows_is_their_rows_of_the_whole_batch():
    rows = torch.tensor([False, True, False, True, True])
    whole, some = noise_source(5, (5, 4, 2), "cpu"), noise_source(5, (5, 4, 2), "cpu", rows)
    for _ in range(3):                   # every draw, not only the first
        assert torch.equal(whole()[rows], some())


# --- generation ----------------------------------------------------------------------------

@pytest.mark.parametrize("length", [30, 149, 150, 151, 449, 1000])
def test_long_form_length_is_exact(length):
    loaded = untrained()
    progress = []
    features = np.random.default_rng(length).normal(size=(length, 35)).astype(np.float32)
    motion = generate(loaded, features, steps=2, seed=0, on_progress=progress.append)
    assert motion.n_frames == length and motion.fps == 30.0
    assert np.isfinite(motion.root_translation).all() and np.isfinite(motion.local_rotmats).all()
    np.testing.assert_allclose(np.linalg.det(motion.local_rotmats), 1.0, atol=1e-4)
    assert progress == [0.5, 1.0]


def test_long_form_chunking_seed_and_cancel():
    loaded = untrained()
    features = np.random.default_rng(1).normal(size=(500, 35)).astype(np.float32)
    whole = generate(loaded, features, steps=3, seed=4)
    chunked = generate(loaded, features, steps=3, seed=4, max_batch=2)
    other_seed = generate(loaded, features, steps=3, seed=5)
    np.testing.assert_allclose(chunked.root_translation, whole.root_translation, atol=1e-4)
    assert np.abs(other_seed.root_translation - whole.root_translation).mean() > 1e-3
    with pytest.raises(Cancelled):
        generate(loaded, features, steps=3, should_stop=lambda: True)
    with pytest.raises(LM2DError, match=r"\(frames, 35\)"):
        generate(loaded, features[:, :20], steps=1)
    bert_sized = SongLyricTokens(np.zeros((1, 768), np.float32), np.ones(1, np.float32), np.zeros(1, np.int64),
                                 np.zeros((1, 768), np.float32), np.zeros(1, np.float32), np.ones(1, np.float32))
    with pytest.raises(LM2DError, match="768-dim embeddings but this model reads 384"):
        generate(loaded, features, bert_sized)


def test_real_song_lyrics_reach_the_windows_that_contain_them(shared_data):
    lyrics = load_lyrics(shared_data / "songs" / "on_the_run" / "song.txt")
    tokens = encode_song_lyrics(lyrics, TextEncoder())
    length = 60 * 30                                           # the first minute
    loaded = untrained()
    config = loaded.config
    starts = window_starts(length, config.n_frames)
    features = np.random.default_rng(2).normal(size=(length, 35)).astype(np.float32)
    cond = window_conditioning(features, tokens, starts, config)
    for index, start in enumerate(starts):
        inside = (tokens.frames >= start) & (tokens.frames < start + config.n_frames)
        assert int(cond.lyric_mask[index].sum()) == min(int(inside.sum()), config.max_lyric_tokens)
        assert (cond.lyric_frames[index][cond.lyric_mask[index]] >= 0).all()
    first_word = float(tokens.frames[0])                        # "So", sung from 11.25 s
    assert 337 <= first_word < 360
    first_window = int(cond.has_lyrics().int().argmax())
    assert first_window == 3 and starts[first_window] == 225

    with_words = generate(loaded, features, tokens, steps=2, seed=1)
    without = generate(loaded, features, None, steps=2, seed=1)
    assert with_words.n_frames == without.n_frames == length
    changed = np.abs(with_words.root_translation - without.root_translation).max(axis=1) > 1e-4
    assert not changed[:225].any()              # the windows before the first word do not see it
    assert changed[225:].any()


# --- seams on a trained model --------------------------------------------------------------

WINDOW = 30


@pytest.fixture(scope="module")
def smooth_dancer():
    """A tiny model trained (a few seconds) on smooth dances whose phase follows the music and
    whose root offset and joint bias are random per window. Independent windows therefore
    disagree where they overlap: the long-form machinery has to reconcile them."""
    torch.manual_seed(1)
    count = 2048
    frames = torch.randint(0, 1000, (count, 1)).float() + torch.arange(WINDOW).float()
    data = smooth_motion(frames, torch.rand(count, 2) - 0.5, (torch.rand(count, 1) - 0.5) * 0.6)
    music = phase_music(frames)
    normalizer = Normalizer.fit(data)
    config = ModelConfig(n_frames=WINDOW, latent_dim=32, ff_dim=64, n_layers=1, n_heads=4, dropout=0.0,
                         lyrics=False, music_drop_prob=0.0)
    model, diffusion = Denoiser(config), GaussianDiffusion(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(300):
        batch = torch.randint(0, count, (32,))
        x0 = normalizer.normalize(data[batch])
        t = torch.randint(0, diffusion.steps, (32,))
        loss = (model(diffusion.q_sample(x0, t, torch.randn_like(x0)), t, music[batch]) - x0).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return diffusion_model(model.eval(), normalizer)


def largest_step(vectors: torch.Tensor) -> float:
    """Largest frame-to-frame change of any root or (orthonormalised) 6D channel, (…, T, 147)."""
    return float(vectors.diff(dim=-2).abs().max())


def test_seams_jump_no_more_than_frames_inside_a_window(smooth_dancer):
    loaded = smooth_dancer
    model, normalizer = loaded.model, loaded.normalizer
    length = 200
    features = phase_music(torch.arange(length).float()).numpy()
    settings = dict(steps=20, music_weight=1.0, lyrics_weight=0.0, seed=5)
    motion = generate(loaded, features, **settings)

    cond = window_conditioning(features, None, window_starts(length, WINDOW), model.config)

    def windows(between):
        noise = noise_source(settings["seed"], (len(cond), WINDOW, model.config.channels), "cpu")
        with evaluating(model):
            denoise = guided(model, loaded.diffusion, cond, settings["music_weight"], settings["lyrics_weight"])
            return run(ddim(loaded.diffusion, settings["steps"]), denoise, noise(), noise, between=between)

    raw = {tied: normalizer.unnormalize(windows(tie_overlaps if tied else None))[..., 4:] for tied in (True, False)}
    # sample is exactly: tied windows, then stitched.
    np.testing.assert_allclose(motion.root_translation, stitch_windows(raw[True], length).root_translation, atol=1e-5)

    half = WINDOW // 2
    disagreement = {tied: float((windows[1:, :half] - windows[:-1, half:]).abs().max())
                    for tied, windows in raw.items()}
    assert disagreement[True] < disagreement[False]            # the per-step tie pulls neighbours together

    in_window = largest_step(torch.stack([torch.from_numpy(Motion.from_vector(w).to_vector()) for w in raw[True]]))
    stitched = largest_step(torch.from_numpy(motion.to_vector()))
    assert in_window < 0.2                                     # the model learnt smooth motion ...
    assert stitched <= 1.05 * in_window, (stitched, in_window)  # ... and the seams add no jumps
