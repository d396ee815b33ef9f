"""Losses, the training loop, checkpoints, exact resume and `lm2d train`, on configs/tiny.json
and a two-clip dataset of real audio, motion and lyrics (built by dance_data.write_dataset)."""
from __future__ import annotations

import csv
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dance_data import CLIPS, max_weight_change, write_dataset

from lm2d.cli import main
from lm2d.errors import LM2DError, LM2DWarning
from lm2d.model.checkpoint import load_checkpoint
from lm2d.model.normalizer import Normalizer
from lm2d.motion.io import load_motion
from lm2d.train.config import LossWeights, RunConfig, load_run_config
from lm2d.train.dataset import DanceDataset
from lm2d.train.distributed import DistContext
from lm2d.train.losses import diffusion_losses
from lm2d.train.state import load_train_state
from lm2d.train.trainer import METRICS_FILE, TRAIN_STATE_DIR, Trainer, WindowBatches, train

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "tiny.json"
SINGLE = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))



@pytest.fixture(scope="module")
def tiny() -> RunConfig:
    return load_run_config(TINY_CONFIG)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory, shared_data, cache_root) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dance_data"), shared_data, clips=CLIPS[:2])


@pytest.fixture(scope="module")
def train_set(dataset_root, tiny, encoder) -> DanceDataset:
    return DanceDataset(dataset_root, "train", tiny.model, stride=tiny.train.window_stride, encoder=encoder)


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / METRICS_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


# --- losses -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_windows(shared_data):
    motion = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")
    x = np.concatenate([motion.foot_contacts().astype(np.float32), motion.to_vector()], axis=1)
    normalizer = Normalizer.fit(x)
    return torch.as_tensor(normalizer.normalize(x))[None], normalizer


def test_losses_vanish_for_a_perfect_prediction_and_grow_with_error(real_windows):
    target, normalizer = real_windows
    perfect = diffusion_losses(target, target, normalizer, LossWeights(foot=0.0))
    assert perfect.total.item() == 0.0
    small = diffusion_losses(target + 0.05 * torch.randn_like(target), target, normalizer)
    large = diffusion_losses(target + 0.2 * torch.randn_like(target), target, normalizer)
    for name in ("simple", "velocity", "fk"):
        assert 0 < getattr(small, name).item() < getattr(large, name).item()
    weights = LossWeights()
    assert large.total.item() == pytest.approx(weights.simple * large.simple.item() + weights.velocity
                                               * large.velocity.item() + weights.fk * large.fk.item()
                                               + weights.foot * large.foot.item(), rel=1e-5)


def test_foot_loss_counts_only_feet_the_model_calls_planted(real_windows):
    target, normalizer = real_windows
    planted, lifted = target.clone(), target.clone()
    planted[..., :4] = 1.0     # normalised contact 1 -> 1.0 unnormalised: surely planted
    lifted[..., :4] = 0.8      # -> 0.9 unnormalised: below EDGE's 0.95 threshold
    on_feet = diffusion_losses(planted, target, normalizer)
    in_air = diffusion_losses(lifted, target, normalizer)
    assert in_air.foot.item() == 0.0
    assert on_feet.foot.item() > 0.0          # the sample's feet move: planted feet that slide cost
    assert on_feet.fk.item() == in_air.fk.item() == 0.0   # contacts play no part in the joints


def test_contact_loss_counts_feet_the_data_plants_whatever_the_model_says(real_windows):
    target, normalizer = real_windows
    lifted = target.clone()
    lifted[..., :4] = -1.0     # the model calls every foot lifted: EDGE's foot loss sees nothing
    gliding = lifted.clone()
    gliding[..., 4:7] += torch.linspace(0, 1, target.shape[1])[None, :, None]   # the whole body slides
    still, slides = diffusion_losses(lifted, target, normalizer), diffusion_losses(gliding, target, normalizer)
    assert still.foot.item() == slides.foot.item() == 0.0
    assert slides.contact.item() > still.contact.item() > 0.0   # the sample's planted feet move a little
    no_contacts = target.clone()
    no_contacts[..., :4] = normalizer.normalize(torch.zeros(1, 151))[0, :4]
    nowhere_planted = diffusion_losses(gliding, no_contacts, normalizer)
    assert nowhere_planted.contact.item() == 0.0
    weights = LossWeights(contact=100.0)
    weighted = diffusion_losses(gliding, target, normalizer, weights)
    assert weighted.total.item() == pytest.approx(slides.total.item() + 100.0 * slides.contact.item(), rel=1e-5)


def test_losses_backpropagate_through_forward_kinematics(real_windows):
    target, normalizer = real_windows
    predicted = (target + 0.1 * torch.randn_like(target)).requires_grad_()
    diffusion_losses(predicted, target, normalizer, LossWeights(simple=0, velocity=0, foot=0)).total.backward()
    assert predicted.grad[..., 4:].abs().sum() > 0 and predicted.grad[..., :4].abs().sum() == 0


# --- the loop -----------------------------------------------------------------------------

def test_window_batches_split_epochs_between_ranks_and_wrap():
    ranks = [DistContext(rank=r, world_size=2, local_rank=r, device=torch.device("cpu")) for r in (0, 1)]
    batches = [WindowBatches(10, 5, ctx, seed=3, first=1, last=4) for ctx in ranks]
    epoch0 = [set(b.batch(1)) for b in batches]
    assert epoch0[0] | epoch0[1] == set(range(10)) and not epoch0[0] & epoch0[1]
    assert len(list(batches[0])) == 4
    assert batches[0].batch(3) == WindowBatches(10, 5, ranks[0], seed=3, first=3, last=3).batch(3)
    big = WindowBatches(3, 8, SINGLE, seed=0, first=1, last=1).batch(1)   # a batch larger than the data
    assert len(big) == 8 and set(big) == {0, 1, 2}


def test_training_on_one_window_lowers_the_loss_tenfold(tmp_path, tiny, train_set):
    # No condition dropout: with it a quarter of the samples ask for the window without its music.
    model = dataclasses.replace(tiny.model, music_drop_prob=0.0, lyrics_drop_prob=0.0)
    config = dataclasses.replace(tiny, model=model).replace_train(
        steps=200, log_every=10, checkpoint_every=200, batch_size=4, learning_rate=5e-3)
    trainer = Trainer(config, train_set.normalizer, tmp_path, SINGLE, progress=False)
    result = trainer.run(torch.utils.data.Subset(train_set, [3]), config.train.steps)

    rows = read_metrics(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(10, 201, 10))
    first, last = float(rows[0]["total"]), float(rows[-1]["total"])
    assert first / last >= 10, (first, last)
    assert set(rows[0]) == {"step", "total", "simple", "velocity", "fk", "foot", "contact", "lr", "windows_per_s"}
    assert float(rows[-1]["windows_per_s"]) > 0 and float(rows[-1]["lr"]) == pytest.approx(5e-3)
    assert result.step == 200 and (tmp_path / "checkpoint" / "model.safetensors").is_file()


def test_resume_continues_exactly_where_it_stopped(tmp_path, tiny, dataset_root, encoder):
    config = tiny.replace_train(checkpoint_every=3, log_every=1, batch_size=3, warmup_steps=4)
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(config, dataset_root, straight, SINGLE, steps=6, encoder=encoder, progress=False)
    train(config, dataset_root, interrupted, SINGLE, steps=3, encoder=encoder, progress=False)
    assert load_train_state(interrupted / TRAIN_STATE_DIR).step == 3
    result = train(None, dataset_root, interrupted, SINGLE, resume=True, steps=6, encoder=encoder, progress=False)
    assert result.step == 6

    a, b = load_train_state(straight / TRAIN_STATE_DIR), load_train_state(interrupted / TRAIN_STATE_DIR)
    assert a.step == b.step == 6
    for part in ("model", "ema", "normalizer"):
        first, second = getattr(a, part), getattr(b, part)
        assert first.keys() == second.keys()
        assert all(torch.equal(first[k], second[k]) for k in first), part
    assert all(torch.equal(a.optimizer["state"][p][k], b.optimizer["state"][p][k])
               for p in a.optimizer["state"] for k in a.optimizer["state"][p])
    losses = [[row[k] for k in ("step", "total", "simple", "velocity", "fk", "foot", "lr")]
              for row in read_metrics(straight)]
    assert losses == [[row[k] for k in ("step", "total", "simple", "velocity", "fk", "foot", "lr")]
                      for row in read_metrics(interrupted)]
    assert [row[0] for row in losses] == ["1", "2", "3", "4", "5", "6"]


def test_lm2d_train_cli_writes_a_loadable_checkpoint(tmp_path, dataset_root, train_set, capsys):
    run = tmp_path / "run"
    args = ["train", "--config", str(TINY_CONFIG), "--data", str(dataset_root), "--out", str(run),
            "--steps", "3", "--batch-size", "2", "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    assert "trained to step 3" in capsys.readouterr().out

    loaded = load_checkpoint(run / "checkpoint")
    assert loaded.meta["training"]["step"] == 3 and loaded.meta["training"]["windows"] == len(train_set)
    assert torch.equal(loaded.normalizer.min, train_set.normalizer.min)
    item = {k: torch.as_tensor(v)[None] for k, v in train_set[0].items()}
    with torch.no_grad():
        x0 = loaded.model(item["x"], torch.tensor([500]), item["music"], item["lyric_emb"],
                          item["lyric_frames"], item["lyric_mask"])
    assert x0.shape == (1, 60, 151) and torch.isfinite(x0).all()
    assert json.loads((run / TRAIN_STATE_DIR / "state.json").read_text())["config"]["train"]["batch_size"] == 2

    assert main(args) == 2     # a second fresh run would overwrite the first
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset_root), "--out", str(run), "--resume", "--steps", "4",
                 "--no-progress", "--device", "cpu"]) == 0
    assert load_checkpoint(run / "checkpoint").meta["training"]["step"] == 4
    assert [row["step"] for row in read_metrics(run)] == ["3", "4"]




def test_init_starts_a_new_run_from_a_checkpoints_weights(tmp_path, monkeypatch, tiny, dataset_root,
                                                          encoder):
    monkeypatch.chdir(tmp_path)
    config = tiny.replace_train(checkpoint_every=1, batch_size=2, warmup_steps=0)
    source = tmp_path / "source"     # another seed: other initial weights than the runs below
    train(config.replace_train(seed=1), dataset_root, source, SINGLE, steps=3, encoder=encoder, progress=False)
    start = load_checkpoint(source / "checkpoint")

    gentle = config.replace_train(learning_rate=1e-6)
    tuned, fresh = tmp_path / "tuned", tmp_path / "fresh"
    train(gentle, dataset_root, tuned, SINGLE, steps=1, encoder=encoder, init=source / "checkpoint", progress=False)
    train(gentle, dataset_root, fresh, SINGLE, steps=1, encoder=encoder, progress=False)
    # One step at a tiny learning rate: the run is still the checkpoint it started from, a fresh run is not.
    assert max_weight_change(load_train_state(tuned / TRAIN_STATE_DIR).model, start.model.state_dict()) < 1e-4
    assert max_weight_change(load_train_state(fresh / TRAIN_STATE_DIR).model, start.model.state_dict()) > 1e-2
    tuned_checkpoint = load_checkpoint(tuned / "checkpoint")
    assert torch.equal(tuned_checkpoint.normalizer.max, start.normalizer.max)
    assert tuned_checkpoint.meta["training"]["step"] == 1
    assert tuned_checkpoint.meta["training"]["init"]["training"]["step"] == 3   # the total stays on record
    # Paths under the working directory are recorded relative to it: shipped notes name no machine's folders.
    assert tuned_checkpoint.meta["training"]["init"]["checkpoint"] == "source/checkpoint"
    assert tuned_checkpoint.meta["training"]["data"] == str(dataset_root.resolve())   # elsewhere: absolute

    with pytest.raises(LM2DError, match="pass only one of them"):
        train(None, dataset_root, tuned, SINGLE, resume=True, init=source / "checkpoint", encoder=encoder)
    wider = dataclasses.replace(config, model=dataclasses.replace(config.model, latent_dim=2 * config.model.latent_dim))
    with pytest.raises(LM2DError, match=r"source.checkpoint: the checkpoint's model differs .*latent_dim"):
        train(wider, dataset_root, tmp_path / "wider", SINGLE, steps=1, init=source / "checkpoint", encoder=encoder)
    assert not (tmp_path / "wider").exists()     # a refused run leaves nothing behind


def test_init_widens_a_normaliser_that_would_clip_the_new_data(tmp_path, monkeypatch, tiny, dataset_root, encoder):
    """A checkpoint fitted on other dances (here: its range shrunk to a quarter about its middle) must
    not clip the new data: the run's normaliser covers both, and training on the narrow range alone
    (a resumed run keeps its own) is warned about."""
    monkeypatch.chdir(tmp_path)
    config = tiny.replace_train(checkpoint_every=1, batch_size=2, warmup_steps=0)
    source = tmp_path / "source"
    train(config, dataset_root, source, SINGLE, steps=1, encoder=encoder, progress=False)
    from safetensors.torch import load_file, save_file
    weights = source / "checkpoint" / "model.safetensors"
    tensors = load_file(weights)
    middle, half = (tensors["normalizer.max"] + tensors["normalizer.min"]) / 2, (tensors["normalizer.max"] - tensors["normalizer.min"]) / 2
    tensors["normalizer.min"], tensors["normalizer.max"] = middle - half / 4, middle + half / 4
    save_file(tensors, weights)
    narrow = load_checkpoint(source / "checkpoint").normalizer
    with pytest.warns(LM2DWarning, match="outside the normaliser's range and are clipped"):
        data = DanceDataset(dataset_root, "train", tiny.model, encoder=encoder, normalizer=narrow)
    fitted = DanceDataset(dataset_root, "train", tiny.model, encoder=encoder).normalizer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config, dataset_root, tmp_path / "tuned", SINGLE, steps=1, encoder=encoder, init=source / "checkpoint",
              progress=False)
    assert not [w for w in caught if "clipped" in str(w.message)]
    tuned = load_checkpoint(tmp_path / "tuned" / "checkpoint")
    torch.testing.assert_close(tuned.normalizer.min, torch.minimum(narrow.min, fitted.min))
    torch.testing.assert_close(tuned.normalizer.max, torch.maximum(narrow.max, fitted.max))
    assert tuned.normalizer.outside_fraction(np.concatenate([clip.x for clip in data.clips])) == 0.0
    widened = int(((fitted.min < narrow.min) | (fitted.max > narrow.max)).sum())
    assert tuned.meta["training"]["init"]["normalizer_channels_widened"] == widened > 0


def test_config_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": {"stepz": 3}}))
    with pytest.raises(LM2DError, match=r"bad\.json: unknown field\(s\) stepz in \"train\""):
        load_run_config(bad)
    bad.write_text('{"model": {\n "latent_dim": 30,\n}')
    with pytest.raises(LM2DError, match=r"bad\.json:3: not valid JSON"):
        load_run_config(bad)
    bad.write_text(json.dumps({"model": {"latent_dim": 30, "n_heads": 4}}))
    with pytest.raises(LM2DError, match=r"bad\.json: invalid training config: latent_dim 30"):
        load_run_config(bad)
    with pytest.raises(LM2DError, match="training config not found"):
        load_run_config(tmp_path / "missing.json")


def test_shipped_configs_load():
    for name in ("lm2d", "edge_baseline", "tiny"):
        config = load_run_config(REPO / "configs" / f"{name}.json")
        assert config.model.lyrics == (name != "edge_baseline")
        assert RunConfig.from_dict(config.to_dict()) == config
        assert dataclasses.asdict(config.train.loss_weights) == dataclasses.asdict(LossWeights())
