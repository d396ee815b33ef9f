"""Consistency distillation: the σ schedule and parameterisation, the teacher's Heun step, the
distillation loop and `lm2d distill`, k-step sampling and consistency checkpoints.

The teacher is configs/tiny.json trained briefly on a two-clip dataset of real audio, motion and
lyrics (dance_data.write_dataset); the student is distilled from it. Both are fixtures in
conftest.py, shared with test_editing.py."""
from __future__ import annotations

import copy
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dance_data import FAST_DISTILL, SINGLE, STUDENT_STEPS, fast_config, max_weight_change

from lm2d.cli import main
from lm2d.distill.consistency import (DISTILLATION_KEY, ConsistencyConfig, SigmaToStep, consistency_distance,
                                      consistency_function, consistency_settings, heun_step, karras_sigmas,
                                      step_sigmas, x0_prediction)
from lm2d.distill.distiller import Distiller, load_distill_config, load_teacher
from lm2d.errors import LM2DError
from lm2d.model.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from lm2d.model.denoiser import Denoiser
from lm2d.model.diffusion import Conditioning, GaussianDiffusion
from lm2d.sampling import Known, SamplingSettings, sample
from lm2d.sampling.song import sample_windows
from lm2d.train.config import load_run_config

REPO = Path(__file__).resolve().parents[1]





def window_batch(distill_train_set, indices) -> Conditioning:
    items = [distill_train_set[i] for i in indices]
    stack = {name: torch.from_numpy(np.stack([item[name] for item in items])) for name in items[0]}
    return stack, Conditioning(stack["music"], stack["lyric_emb"], stack["lyric_frames"], stack["lyric_mask"])


# --- schedule and parameterisation ------------------------------------------------------------

def test_karras_grid_and_the_k_step_sigmas():
    grid = karras_sigmas(18, 0.002, 80.0, 7.0)
    assert grid[0] == pytest.approx(80.0) and grid[-1] == pytest.approx(0.002)
    assert (grid.diff() < 0).all()
    assert grid[9].item() == pytest.approx((80 ** (1 / 7) + 9 / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7)
    assert step_sigmas(grid, 1) == [80.0]
    four = step_sigmas(grid, 4)
    assert len(four) == 4 and four[0] == 80.0 and all(s in grid.tolist() for s in four)
    assert four == sorted(four, reverse=True) and four[-1] > 0.002
    for bad in (0, 18):
        with pytest.raises(LM2DError, match="1 to 17 steps"):
            step_sigmas(grid, bad)


def test_sigma_to_step_inverts_the_teachers_cosine_schedule():
    diffusion = GaussianDiffusion(load_run_config(REPO / "configs" / "tiny.json").model)
    to_step = SigmaToStep(diffusion)
    steps = torch.tensor([0, 1, 10, 500, 998, 999])
    assert torch.allclose(to_step(diffusion.sigma_of(steps).float()), steps.float(), atol=1e-3)
    # Between table entries it interpolates; outside it clamps to the first / last step.
    middle = to_step(diffusion.sigma_of(torch.tensor([500, 501])).float().log().mean().exp()[None])
    assert 500 < middle.item() < 501
    assert to_step(torch.tensor([1e-4, 1e9])).tolist() == [0.0, 999.0]


def test_consistency_function_is_the_identity_at_epsilon_and_the_teachers_x0_at_high_noise(teacher, distill_train_set):
    batch, cond = window_batch(distill_train_set, [0, 5, 9])
    config, to_step = ConsistencyConfig(), SigmaToStep(teacher.diffusion)
    model = teacher.model
    x = batch["x"] + 0.3 * torch.randn_like(batch["x"])
    with torch.no_grad():
        assert torch.equal(consistency_function(model, x, config.sigma_min, cond, config, to_step), x)
        noisy = batch["x"] + 80.0 * torch.randn_like(batch["x"])
        keep = torch.zeros(3, dtype=torch.bool)
        x0 = x0_prediction(model, noisy, 80.0, cond, to_step, keep, ~cond.has_lyrics())
        f = consistency_function(model, noisy, 80.0, cond, config, to_step)
    # Initialised from the teacher, the student's one-step output is the teacher's own x0 guess.
    assert (f - x0).abs().max().item() < 1e-2 * x0.abs().max().item()


def test_heun_step_follows_the_ode_exactly_when_the_teacher_predicts_a_constant(teacher, distill_train_set):
    _, cond = window_batch(distill_train_set, [0, 1])
    model = copy.deepcopy(teacher.model)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.linspace(-0.5, 0.5, model.config.channels))
        constant = model.output.bias
        x_high = torch.randn(2, model.config.n_frames, model.config.channels) * 20.0
        x_low = heun_step(model, teacher.diffusion, x_high, 20.0, 7.5, cond, ConsistencyConfig(),
                          SigmaToStep(teacher.diffusion))
    # With x0 ≡ c, dx/dσ = (x − c)/σ is solved by x(σ) = c + σ/σ_0 · (x(σ_0) − c); Heun is exact on it.
    assert torch.allclose(x_low, constant + 7.5 / 20.0 * (x_high - constant), atol=1e-4)


# --- distillation ------------------------------------------------------------------------

def fixed_draw_loss(distiller: Distiller, batch: dict, seeds=range(4)) -> float:
    """The distillation loss on `batch` averaged over fixed draws of grid points and noise."""
    losses = []
    for seed in seeds:
        torch.manual_seed(seed)
        with torch.no_grad():
            losses.append(distiller.loss(batch).item())
    return float(np.mean(losses))


def distil_briefly(teacher, batch: dict, steps: int, run_dir) -> tuple[Distiller, float, float]:
    """A distiller trained `steps` steps on one batch, with its fixed-draw loss before and after."""
    config = fast_config()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, learning_rate=3e-3))
    distiller = Distiller(teacher, config, run_dir, SINGLE, progress=False)
    before = fixed_draw_loss(distiller, batch)
    losses = [distiller.train_step(batch)["loss"] for _ in range(steps)]
    assert np.isfinite(losses).all() and distiller.step == steps
    return distiller, before, fixed_draw_loss(distiller, batch)


def test_distillation_loss_falls(tmp_path, teacher, distill_train_set):
    batch, _ = window_batch(distill_train_set, range(0, 16, 2))
    _, before, after = distil_briefly(teacher, batch, 30, tmp_path)
    assert after < 0.75 * before, (before, after)


def test_gesture_frames_weigh_more_in_the_consistency_distance():
    torch.manual_seed(0)
    a, b = torch.randn(2, 10, 3), torch.randn(2, 10, 3)
    gestures = torch.zeros(2, 10)
    gestures[0, 2:5] = 1
    for distance in ("l2", "pseudo_huber"):
        config = ConsistencyConfig(distance=distance)
        assert torch.allclose(consistency_distance(a, b, config, torch.full((2, 10), 3.0)),
                              consistency_distance(a, b, config))   # uniform weights change nothing
    config = ConsistencyConfig()
    only_in_gestures = b.clone()
    only_in_gestures[0, 2:5] = a[0, 2:5]
    elsewhere = a.clone()
    elsewhere[0, 2:5] = b[0, 2:5]
    weights = 1 + 4 * gestures
    plain = [consistency_distance(a, c, config) for c in (only_in_gestures, elsewhere)]
    weighted = [consistency_distance(a, c, config, weights) for c in (only_in_gestures, elsewhere)]
    # Matching the gesture frames is worth more than matching as many other frames.
    assert weighted[0] / weighted[1] < plain[0] / plain[1]


def test_gesture_weighted_distillation_runs_and_is_recorded(tmp_path, teacher_run, distill_dataset):
    config = tmp_path / "gestures.json"
    config.write_text(json.dumps({**FAST_DISTILL, "consistency": {"gesture_weight": 4.0}}))
    out = tmp_path / "run"
    assert main(["distill", "--teacher", str(teacher_run), "--data", str(distill_dataset), "--out", str(out),
                 "--config", str(config), "--steps", "2", "--no-progress"]) == 0
    assert consistency_settings(load_checkpoint(out / "checkpoint")).gesture_weight == 4.0
    config.write_text(json.dumps({"consistency": {"gesture_weight": -1}}))
    with pytest.raises(LM2DError, match="gesture_weight must not be negative"):
        load_distill_config(config)


def test_the_music_only_baseline_distils_too(tmp_path, distill_train_set):
    config = dataclasses.replace(load_run_config(REPO / "configs" / "tiny.json").model, lyrics=False)
    torch.manual_seed(0)
    teacher = LoadedModel(Denoiser(config).eval(), config, distill_train_set.normalizer, GaussianDiffusion(config),
                          {"kind": "diffusion"})
    batch, cond = window_batch(distill_train_set, [0, 3, 6, 9])
    distiller, before, after = distil_briefly(teacher, batch, 20, tmp_path)
    assert after < 0.75 * before, (before, after)   # the student learns
    ema = LoadedModel(distiller.ema.model, config, distill_train_set.normalizer, GaussianDiffusion(config),
                      {"kind": "consistency", "training": {DISTILLATION_KEY: ConsistencyConfig().to_dict()}})
    windows = sample_windows(ema, Conditioning(cond.music), SamplingSettings.for_model(ema, 2))
    assert windows.shape == (4, config.n_frames, config.channels) and torch.isfinite(windows).all()


def test_student_starts_as_the_teacher_and_moves_away(teacher, student):
    assert student.kind == "consistency" and student.config == teacher.config
    teacher_state, student_state = teacher.model.state_dict(), student.model.state_dict()
    assert teacher_state.keys() == student_state.keys()
    assert any(not torch.equal(teacher_state[k], student_state[k]) for k in teacher_state)
    assert torch.equal(student.normalizer.min, teacher.normalizer.min)


def test_lm2d_distill_cli_writes_a_consistency_checkpoint(tmp_path, teacher_run, distill_dataset, capsys):
    config = tmp_path / "distill.json"
    config.write_text(json.dumps({"description": "test", **FAST_DISTILL,
                                  "consistency": {"n_scales": 24, "default_steps": 3, "music_weight": 1.5}}))
    out = tmp_path / "run"
    code = main(["distill", "--teacher", str(teacher_run), "--data", str(distill_dataset), "--out", str(out),
                 "--config", str(config), "--steps", "10", "--no-progress"])
    assert code == 0
    assert "distilled for 10 steps" in capsys.readouterr().out
    loaded = load_checkpoint(out / "checkpoint")
    settings = consistency_settings(loaded)
    assert loaded.kind == "consistency"
    assert (settings.n_scales, settings.default_steps, settings.music_weight) == (24, 3, 1.5)
    assert loaded.meta["training"]["step"] == 10 and loaded.meta["training"]["train"]["batch_size"] == 4
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [5, 10] and all(float(row["loss"]) > 0 for row in rows)
    # A second run into the same directory would overwrite the checkpoint.
    assert main(["distill", "--teacher", str(teacher_run), "--data", str(distill_dataset), "--out", str(out),
                 "--steps", "1", "--no-progress"]) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err


def test_distillation_can_start_from_an_earlier_student(tmp_path, teacher_run, student_run, distill_dataset,
                                                       teacher, student, capsys):
    config = tmp_path / "gentle.json"
    config.write_text(json.dumps({**FAST_DISTILL, "train": FAST_DISTILL["train"] | {"learning_rate": 1e-7}}))
    out = tmp_path / "again"
    args = ["distill", "--teacher", str(teacher_run), "--data", str(distill_dataset), "--config", str(config),
            "--steps", "1", "--no-progress"]
    assert main([*args, "--out", str(out), "--init", str(student_run / "checkpoint")]) == 0
    again = load_checkpoint(out / "checkpoint")
    from_student = max_weight_change(again.model.state_dict(), student.model.state_dict())
    from_teacher = max_weight_change(again.model.state_dict(), teacher.model.state_dict())
    assert from_student < 1e-4 < from_teacher, (from_student, from_teacher)
    assert again.meta["training"]["init"]["training"]["step"] == STUDENT_STEPS

    assert main([*args, "--out", str(tmp_path / "wrong"), "--init", str(teacher_run / "checkpoint")]) == 2
    assert "needs a consistency checkpoint, this one is 'diffusion'" in capsys.readouterr().err


def test_bad_teachers_and_configs_are_user_errors(tmp_path, student_run):
    with pytest.raises(LM2DError, match="must be a diffusion checkpoint"):
        load_teacher(student_run)
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"consistency": {"sigma_maximum": 80}}))
    with pytest.raises(LM2DError, match=r"bad\.json: unknown field\(s\) sigma_maximum"):
        load_distill_config(config)
    config.write_text(json.dumps({"consistency": {"distance": "lpips"}}))
    with pytest.raises(LM2DError, match=r"bad\.json: invalid distillation config: distance must be"):
        load_distill_config(config)
    config.write_text('{"train": {"steps": 10,}}')
    with pytest.raises(LM2DError, match=r"bad\.json:1: not valid JSON"):
        load_distill_config(config)


# --- sampling and checkpoints ------------------------------------------------------------

def test_one_step_sample_is_deterministic_for_a_seed(student, distill_train_set):
    _, cond = window_batch(distill_train_set, [0, 4, 8])
    first = sample_windows(student, cond, SamplingSettings.for_model(student, 1, seed=7))
    again = sample_windows(student, cond, SamplingSettings.for_model(student, 1, seed=7))
    other = sample_windows(student, cond, SamplingSettings.for_model(student, 1, seed=8))
    assert first.shape == (3, student.config.n_frames, student.config.channels)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.abs().max() <= 1.0


@pytest.mark.parametrize("steps", [2, 4, 8])
def test_k_step_sampling_keeps_in_painted_values_exactly(student, distill_train_set, steps):
    batch, cond = window_batch(distill_train_set, [1, 6])
    mask = torch.zeros_like(batch["x"], dtype=torch.bool)
    mask[:, :20] = True                      # the first 20 frames are known
    progress = []
    x = sample_windows(student, cond, SamplingSettings.for_model(student, steps), Known(batch["x"], mask),
                       on_progress=progress.append)
    assert torch.equal(x[mask], batch["x"][mask])
    assert not torch.equal(x[~mask], batch["x"][~mask]) and torch.isfinite(x).all()
    assert progress == pytest.approx([(i + 1) / steps for i in range(steps)])


def test_generate_gives_one_frame_per_feature_frame(student, distill_train_set):
    clip = distill_train_set.clips[1]
    settings = SamplingSettings.for_model(student, 1, seed=3)
    motion = sample(student, clip.music[:200], clip.lyrics, settings=settings)
    again = sample(student, clip.music[:200], clip.lyrics, settings=settings, max_batch=2)
    assert motion.n_frames == 200 and np.isfinite(motion.root_translation).all()
    np.testing.assert_allclose(motion.local_rotmats, again.local_rotmats, atol=1e-5)


def test_consistency_checkpoint_round_trips(tmp_path, student, distill_train_set):
    settings = ConsistencyConfig(n_scales=30, default_steps=4, lyrics_weight=3.0)
    save_checkpoint(tmp_path / "ckpt", student.model, student.config, student.normalizer,
                    extra={DISTILLATION_KEY: settings.to_dict()}, kind="consistency")
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.kind == "consistency" and consistency_settings(loaded) == settings
    for name, value in student.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name
    _, cond = window_batch(distill_train_set, [2])
    same_schedule = dataclasses.replace(student, meta=loaded.meta)
    assert torch.equal(sample_windows(loaded, cond, SamplingSettings.for_model(loaded, 2, seed=1)),
                       sample_windows(same_schedule, cond, SamplingSettings.for_model(loaded, 2, seed=1)))


def test_a_diffusion_checkpoint_has_no_consistency_settings(teacher):
    with pytest.raises(LM2DError, match="not a consistency-distilled one"):
        consistency_settings(teacher)
