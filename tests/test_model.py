"""The denoiser, diffusion, guidance, DDIM sampling, normaliser and checkpoints (lm2d.model), on
tiny configurations so the whole file runs in seconds on a CPU."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lm2d.errors import Cancelled, LM2DError
from lm2d.model import Conditioning, Denoiser, GaussianDiffusion, ModelConfig, Normalizer, load_checkpoint, save_checkpoint
from lm2d.model.checkpoint import checkpoint_files
from lm2d.model.diffusion import EncodingMemo, encode_in_chunks
from lm2d.sampling import Known, ddim, run
from lm2d.sampling.denoisers import evaluating, guided, stopping
from lm2d.sampling.samplers import DDIM_ETA, noise_source

FRAMES, TOKENS, BATCH = 30, 6, 3


def ddim_windows(model, cond, steps: int, seed: int | None, eta: float = DDIM_ETA, z=None, should_stop=None,
                 **options):
    """DDIM windows for `cond`, composed from the sampling package as lm2d.sampling.sample does."""
    diffusion = GaussianDiffusion(model.config)
    noise = noise_source(seed, (len(cond), FRAMES, model.config.channels), "cpu")
    with evaluating(model), stopping(model, should_stop):
        start = noise() if z is None else z
        return run(ddim(diffusion, steps, eta), guided(model, diffusion, cond), start, noise, **options)



def tiny_config(**changes) -> ModelConfig:
    values = dict(n_frames=FRAMES, latent_dim=32, ff_dim=64, n_layers=1, n_heads=2, max_lyric_tokens=TOKENS)
    return ModelConfig(**(values | changes))


def tiny_model(seed: int = 0, **changes) -> Denoiser:
    torch.manual_seed(seed)
    return Denoiser(tiny_config(**changes)).eval()


def random_conditioning(seed: int = 1, batch: int = BATCH, text_dim: int = 384) -> Conditioning:
    """Music and lyrics for `batch` windows; window 0 has no words at all."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, TOKENS, generator=generator) > 0.3
    mask[0] = False
    mask[1:, 0] = True
    return Conditioning(music=torch.randn(batch, FRAMES, 35, generator=generator),
                        lyric_emb=torch.randn(batch, TOKENS, text_dim, generator=generator),
                        lyric_frames=torch.rand(batch, TOKENS, generator=generator) * FRAMES,
                        lyric_mask=mask)


def call(model, x, t, cond: Conditioning, **drops):
    return model(x, t, cond.music, cond.lyric_emb, cond.lyric_frames, cond.lyric_mask, **drops)


def noisy_input(model, seed: int = 2):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, FRAMES, model.config.channels, generator=generator)
    return x, torch.tensor([999, 500, 10])


def test_config_round_trips_through_json_and_rejects_unknown_keys():
    config = tiny_config(lyrics=False)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.channels == 151
    with pytest.raises(LM2DError, match="unknown model config keys: bogus"):
        ModelConfig.from_dict({"bogus": 1})


def test_tiny_model_overfits_one_window():
    torch.manual_seed(0)
    config = tiny_config(dropout=0.0)
    model, diffusion = Denoiser(config), GaussianDiffusion(config)
    frames = torch.arange(FRAMES, dtype=torch.float32)
    channels = torch.arange(config.channels, dtype=torch.float32)
    window = torch.sin(frames[:, None] * 0.2 + channels) * 0.8                     # smooth, in [-1, 1]
    cond = random_conditioning(batch=1)
    batch = 16
    cond_batch = cond.repeat(batch)

    def loss_on(t, noise):
        x_t = diffusion.q_sample(window.expand(batch, -1, -1), t, noise)
        return ((call(model, x_t, t, cond_batch) - window) ** 2).mean()

    eval_t = torch.linspace(0, 999, batch).long()
    eval_noise = torch.randn(batch, FRAMES, config.channels)
    with torch.no_grad():
        before = float(loss_on(eval_t, eval_noise))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(80):
        loss = loss_on(torch.randint(0, diffusion.steps, (batch,)), torch.randn(batch, FRAMES, config.channels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(loss_on(eval_t, eval_noise))
    assert after < before / 10, (before, after)


def test_zero_guidance_weights_give_the_unconditional_prediction():
    model, cond = tiny_model(), random_conditioning()
    x, t = noisy_input(model)
    diffusion = GaussianDiffusion(model.config)
    guided = diffusion.predict_x0(model, x, t, cond, music_weight=0.0, lyrics_weight=0.0)
    with torch.no_grad():
        unconditional = call(model, x, t, cond, drop_music=True, drop_lyrics=True)
        conditional = call(model, x, t, cond)
    torch.testing.assert_close(guided, unconditional)
    assert not torch.allclose(guided, conditional, atol=1e-4)   # the conditions do change the output


def test_lyrics_weight_zero_is_the_music_only_path():
    model, cond = tiny_model(), random_conditioning()
    x, t = noisy_input(model)
    diffusion = GaussianDiffusion(model.config)
    with torch.no_grad():
        music_only = call(model, x, t, cond, drop_music=False, drop_lyrics=True)
        unconditional = call(model, x, t, cond, drop_music=True, drop_lyrics=True)
    torch.testing.assert_close(diffusion.predict_x0(model, x, t, cond, 1.0, 0.0), music_only)
    torch.testing.assert_close(diffusion.predict_x0(model, x, t, cond, 2.5, 0.0),
                               unconditional + 2.5 * (music_only - unconditional))


def test_compositional_guidance_matches_its_formula_per_window():
    model, cond = tiny_model(), random_conditioning()
    x, t = noisy_input(model)
    diffusion = GaussianDiffusion(model.config)
    with torch.no_grad():
        none = call(model, x, t, cond, drop_music=True, drop_lyrics=True)
        music = call(model, x, t, cond, drop_music=False, drop_lyrics=True)
        both = call(model, x, t, cond, drop_music=False, drop_lyrics=False)
    # Window 0 has no words: its lyric term vanishes (guided as lyric-unconditional).
    both[0] = music[0]
    expected = none + 2.0 * (music - none) + 3.0 * (both - music)
    torch.testing.assert_close(diffusion.predict_x0(model, x, t, cond, 2.0, 3.0), expected, atol=1e-5, rtol=1e-5)
    # Splitting the stacked branches into chunks, or encoding the conditions once up front for
    # reuse over steps (as the samplers do), changes nothing.
    encoded = encode_in_chunks(model, cond, max_batch=2)
    for max_batch, reused in ((2, None), (None, encoded), (2, encoded)):
        torch.testing.assert_close(diffusion.predict_x0(model, x, t, cond, 2.0, 3.0, max_batch, reused), expected,
                                   atol=1e-5, rtol=1e-5)


def test_encoding_memo_gives_a_fresh_encodings_exact_values_for_the_same_windows_or_a_run_of_them():
    model, cond = tiny_model(), random_conditioning(batch=7)
    memo = EncodingMemo()
    with torch.no_grad():
        whole = memo.encode(model, cond, 2)
        fresh_run = encode_in_chunks(model, cond[2:6], 2)   # other chunks: windows are encoded one by one
        for field in ("music", "lyric_emb", "lyric_frames", "lyric_mask"):
            assert torch.equal(getattr(whole, field)[2:6], getattr(fresh_run, field))
        assert torch.equal(memo.encode(model, cond, 2).music, whole.music)
        assert torch.equal(memo.encode(model, cond[2:6], 2).music, fresh_run.music)
        changed = cond[2:6]
        changed.music = changed.music.clone()
        changed.music[1, 3, 0] += 1.0            # one value of one window differs: encoded afresh
        recomputed = memo.encode(model, changed, 2)
        assert torch.equal(recomputed.music, encode_in_chunks(model, changed, 2).music)
        assert not torch.equal(recomputed.music, fresh_run.music)
        other_model = tiny_model(seed=3)        # same windows, another model: never the old tensors
        assert torch.equal(memo.encode(other_model, changed, 2).music, encode_in_chunks(other_model, changed, 2).music)


def test_dropped_lyrics_are_exactly_the_learned_null_whatever_the_tokens():
    model = tiny_model()
    x, t = noisy_input(model)
    a, b = random_conditioning(seed=1), random_conditioning(seed=7)
    b.music = a.music
    with torch.no_grad():
        dropped_a = call(model, x, t, a, drop_lyrics=True)
        dropped_b = call(model, x, t, b, drop_lyrics=torch.ones(BATCH, dtype=torch.bool))
        no_tokens = model(x, t, a.music, None, None, None, drop_lyrics=True)
        kept = call(model, x, t, a)
    torch.testing.assert_close(dropped_a, dropped_b, atol=1e-6, rtol=0)
    torch.testing.assert_close(dropped_a, no_tokens, atol=1e-6, rtol=0)
    assert not torch.allclose(dropped_a[1:], kept[1:], atol=1e-4)


def test_music_only_model_has_no_lyric_parameters_and_ignores_lyrics():
    model = tiny_model(lyrics=False)
    assert not [name for name, _ in model.named_parameters() if "lyric" in name]
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in tiny_model().parameters())
    x, t = noisy_input(model)
    cond = random_conditioning()
    with torch.no_grad():
        torch.testing.assert_close(call(model, x, t, cond), model(x, t, cond.music))
    diffusion = GaussianDiffusion(model.config)
    with torch.no_grad():
        music = model(x, t, cond.music)
        none = model(x, t, cond.music, drop_music=True)
    torch.testing.assert_close(diffusion.predict_x0(model, x, t, cond, 2.0, 5.0), none + 2.0 * (music - none))


def test_windows_without_words_give_finite_outputs_and_gradients():
    model = tiny_model().train()
    cond = random_conditioning()
    cond.lyric_mask[:] = False
    x, t = noisy_input(model)
    out = call(model, x, t, cond, drop_music=False, drop_lyrics=False)
    out.square().mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_condition_drops_follow_training_mode():
    model = tiny_model(dropout=0.0, music_drop_prob=1.0, lyrics_drop_prob=1.0)
    x, t = noisy_input(model)
    cond = random_conditioning()
    with torch.no_grad():
        kept = call(model, x, t, cond)                                        # eval: None keeps
        dropped = call(model, x, t, cond, drop_music=True, drop_lyrics=True)
        model.train()
        drawn = call(model, x, t, cond)                                       # train: drawn, p = 1
    torch.testing.assert_close(drawn, dropped)
    assert not torch.allclose(kept, dropped, atol=1e-4)


def test_cosine_schedule_and_sigma_relation():
    diffusion = GaussianDiffusion(tiny_config())
    alphas = diffusion.alphas_cumprod
    assert alphas.shape == (1000,)
    assert (alphas.diff() < 0).all() and alphas[0] > 0.999 and alphas[-1] < 1e-6
    x0, noise, t = torch.randn(4, 5, 7), torch.randn(4, 5, 7), torch.tensor([0, 10, 500, 999])
    x_t = diffusion.q_sample(x0, t, noise)
    sigma = diffusion.sigma_of(t).reshape(-1, 1, 1)
    scaled = x_t / alphas[t].sqrt().reshape(-1, 1, 1)                        # = x0 + σ·ε
    torch.testing.assert_close(scaled, x0 + sigma * noise, rtol=1e-4, atol=1e-4 * float(sigma.max()))
    torch.testing.assert_close(diffusion.eps_from_x0(x_t[1:], t[1:], x0[1:]), noise[1:], atol=1e-3, rtol=1e-3)


def test_sampling_is_deterministic_for_a_seed_and_differs_across_seeds():
    model, cond = tiny_model(), random_conditioning()
    first = ddim_windows(model, cond, steps=4, seed=11)        # default: stochastic (eta 1), as EDGE
    again = ddim_windows(model, cond, steps=4, seed=11)
    other = ddim_windows(model, cond, steps=4, seed=12)
    assert first.shape == (BATCH, FRAMES, 151)
    assert torch.equal(first, again)
    assert (first - other).abs().mean() > 1e-3
    assert first.abs().max() <= 1.0                      # x0 is clipped to the normalised range
    deterministic = ddim_windows(model, cond, steps=4, seed=11, eta=0.0)
    assert torch.equal(deterministic, ddim_windows(model, cond, steps=4, seed=11, eta=0.0))
    assert (deterministic - first).abs().mean() > 1e-3
    # eta 0 draws only the start noise: from the same x_T the seed no longer matters.
    x_init = torch.randn(BATCH, FRAMES, 151)
    assert torch.equal(ddim_windows(model, cond, steps=4, seed=1, eta=0.0, z=x_init),
                       ddim_windows(model, cond, steps=4, seed=2, eta=0.0, z=x_init))


def test_inpainting_keeps_the_known_frames_and_progress_and_cancel_hooks():
    model, cond = tiny_model(), random_conditioning()
    values = torch.rand(BATCH, FRAMES, 151) * 2 - 1
    mask = torch.zeros(1, FRAMES, 1, dtype=torch.bool)
    mask[:, :10] = True
    fractions = []
    out = ddim_windows(model, cond, steps=5, seed=3, known=Known(values, mask), on_step=fractions.append)
    assert torch.equal(out[:, :10], values[:, :10])
    assert not torch.allclose(out[:, 10:], values[:, 10:])
    assert fractions == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    with pytest.raises(Cancelled, match="cancelled"):
        ddim_windows(model, cond, steps=5, seed=None, should_stop=lambda: len(fractions) > 6,
                     on_step=fractions.append)
    assert len(fractions) == 7       # stopped before the third step of the second run


def test_normalizer_maps_to_unit_range_and_back():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 20, 6)) * [1, 2, 3, 4, 5, 0]                 # last channel constant
    normalizer = Normalizer.fit(data)
    normalized = normalizer.normalize(torch.as_tensor(data, dtype=torch.float32))
    assert normalized.min() == -1 and normalized.max() == 1
    back = normalizer.unnormalize(normalized)
    np.testing.assert_allclose(back.numpy(), data, atol=1e-5)
    assert isinstance(normalizer.normalize(data), np.ndarray)
    assert float(normalizer.normalize(torch.full((6,), 1e6)).max()) == 1.0   # clipped
    restored = Normalizer.from_state_dict(normalizer.state_dict())
    torch.testing.assert_close(restored.unnormalize(normalized), back)


def fitted_normalizer(channels: int = 151) -> Normalizer:
    rng = np.random.default_rng(4)
    return Normalizer.fit(rng.normal(size=(64, channels)))


def test_checkpoint_round_trip_gives_identical_samples(tmp_path):
    model, cond = tiny_model(seed=5), random_conditioning()
    config, normalizer = model.config, fitted_normalizer()
    weights, meta_path = save_checkpoint(tmp_path / "ckpt", model, config, normalizer,
                                         extra={"step": 12}, kind="diffusion")
    assert (weights.name, meta_path.name) == ("model.safetensors", "model.json")
    meta = json.loads(meta_path.read_text())
    assert meta["format"] == "lm2d-checkpoint" and meta["version"] == 1 and meta["training"] == {"step": 12}
    assert meta["text_encoder"]["dim"] == 384 and meta["fps"] == 30.0

    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config == config and loaded.kind == "diffusion" and not loaded.model.training
    torch.testing.assert_close(loaded.normalizer.state_dict(), normalizer.state_dict())
    expected = ddim_windows(model, cond, steps=3, seed=9)
    assert torch.equal(ddim_windows(loaded.model, cond, steps=3, seed=9), expected)
    # The stem form names the pair directly.
    save_checkpoint(tmp_path / "other.safetensors", model, config, normalizer)
    assert load_checkpoint(tmp_path / "other.json").config == config


@pytest.mark.parametrize("case", ["random_bytes", "torch_pickle", "wrong_marker", "no_json", "wrong_shapes"])
def test_loading_something_else_is_refused_with_a_clear_message(tmp_path, case):
    model = tiny_model()
    weights, meta = checkpoint_files(tmp_path / "ckpt")
    save_checkpoint(tmp_path / "ckpt", model, model.config, fitted_normalizer())
    target, reason = tmp_path / "ckpt", ""
    if case == "random_bytes":
        weights.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        reason = "unreadable safetensors"
    elif case == "torch_pickle":
        target = tmp_path / "model.pt"
        torch.save(model.state_dict(), target)
        reason = "pickle"
    elif case == "wrong_marker":
        meta.write_text(json.dumps(json.loads(meta.read_text()) | {"format": "something-else"}))
        reason = "format marker"
    elif case == "no_json":
        meta.unlink()
        reason = "model.json is missing"
    elif case == "wrong_shapes":
        data = json.loads(meta.read_text())
        data["config"]["latent_dim"] = 64
        meta.write_text(json.dumps(data))
        reason = "do not match the architecture"
    with pytest.raises(LM2DError, match="not an LM2D checkpoint") as caught:
        load_checkpoint(target)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_checkpoint_stores_no_pickle(tmp_path):
    model = tiny_model()
    weights, _ = save_checkpoint(tmp_path, model, model.config, fitted_normalizer())
    head = weights.read_bytes()[:8]
    header_size = int.from_bytes(head, "little")            # safetensors: u64 header length, then JSON
    header = json.loads(weights.read_bytes()[8:8 + header_size])
    assert header["__metadata__"]["lm2d-checkpoint"] == "1"
    assert {"normalizer.min", "normalizer.max"} <= set(header)
    assert sum(t.numel() for t in model.state_dict().values()) == sum(
        math.prod(v["shape"]) for k, v in header.items() if k.startswith("model."))
