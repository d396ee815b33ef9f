"""The training loop: x0-predicting diffusion with EDGE's losses, EMA, checkpoints and resume,
single-process or under torchrun (DistributedDataParallel, rank 0 writes).

A run directory holds:
    checkpoint/      the EMA model for inference (lm2d.model.checkpoint.save_checkpoint)
    train_state/     raw weights, EMA, optimizer and step for --resume (lm2d.train.state)
    metrics.csv      step, loss terms, learning rate, windows per second
    tensorboard/     the same scalars, when torch.utils.tensorboard is importable

Resuming continues exactly: the data order is a function of (seed, epoch) and every step reseeds
torch's RNG from (seed, step, rank), so a resumed run draws the same windows, diffusion steps,
noise, dropout and condition drops as an uninterrupted one.
"""
from __future__ import annotations

import csv
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from lm2d.errors import LM2DError
from lm2d.lyrics import TextEncoder
from lm2d.model.checkpoint import load_starting_point, recorded_path, save_checkpoint, starting_point_notes
from lm2d.model.denoiser import Denoiser
from lm2d.model.diffusion import GaussianDiffusion
from lm2d.model.normalizer import Normalizer
from lm2d.train.config import RunConfig, TrainConfig
from lm2d.train.dataset import DanceDataset
from lm2d.train.distributed import DistContext, gather_strings, parameter_digest
from lm2d.train.ema import EMA
from lm2d.train.losses import LossTerms, diffusion_losses
from lm2d.train.state import (TrainState, has_train_state, load_train_state, replace_directory,
                              save_train_state)

CHECKPOINT_DIR = "checkpoint"
TRAIN_STATE_DIR = "train_state"
METRICS_FILE = "metrics.csv"
METRIC_FIELDS = ("step", *LossTerms.NAMES, "lr", "windows_per_s")


@dataclass
class TrainResult:
    step: int
    checkpoint: Path
    last_losses: dict[str, float]    # the last logged interval's mean of each loss term


class WindowBatches(torch.utils.data.Sampler):
    """Batches of window indices for steps first..last (1-based) of one rank.

    The index stream is the concatenation of DistributedSampler epochs (shuffled with seed +
    epoch, split across ranks), cut into batches of batch_size: batch s is a pure function of s,
    which is what lets a resumed run pick up mid-epoch, and a dataset smaller than a batch simply
    wraps into the next epoch."""

    def __init__(self, n_windows: int, batch_size: int, ctx: DistContext, seed: int, first: int, last: int):
        self.sampler = DistributedSampler(range(n_windows), num_replicas=ctx.world_size, rank=ctx.rank,
                                          shuffle=True, seed=seed, drop_last=False)
        self.per_epoch = len(self.sampler)
        self.batch_size, self.first, self.last = batch_size, first, last
        self._epoch, self._order = -1, []

    def _epoch_order(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, list(self.sampler)
        return self._order

    def batch(self, step: int) -> list[int]:
        indices, position = [], (step - 1) * self.batch_size
        while len(indices) < self.batch_size:
            epoch, offset = divmod(position, self.per_epoch)
            taken = self._epoch_order(epoch)[offset:offset + self.batch_size - len(indices)]
            indices += taken
            position += len(taken)
        return indices

    def __iter__(self) -> Iterator[list[int]]:
        return (self.batch(step) for step in range(self.first, self.last + 1))

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)


class MetricsLog:
    """metrics.csv (plus TensorBoard when available). A resumed run drops rows past its step:
    they came from work after the last checkpoint that is being redone."""

    def __init__(self, run_dir: Path, start_step: int, fields: tuple[str, ...] = METRIC_FIELDS):
        self.path = run_dir / METRICS_FILE
        self.fields = fields    # first "step"; lm2d.distill logs its own columns
        kept = []
        if start_step > 0 and self.path.exists():
            with open(self.path, newline="") as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["step"]) <= start_step]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.fields)
            writer.writeheader()
            writer.writerows(kept)
        self.tensorboard = _tensorboard_writer(run_dir / "tensorboard")

    def write(self, row: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.fields).writerow({k: _format(row[k]) for k in self.fields})
        if self.tensorboard is not None:
            for name in self.fields[1:]:
                self.tensorboard.add_scalar(name, row[name], int(row["step"]))

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _tensorboard_writer(directory: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package
    except ImportError:
        return None
    return SummaryWriter(str(directory))


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6g}"


def build_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    if train.optimizer == "adan":
        try:
            from adan_pytorch import Adan  # EDGE's optimiser; optional, never a hard dependency
        except ImportError as err:
            raise LM2DError('optimizer "adan" needs the adan-pytorch package; '
                            'install it or use "adamw"') from err
        return Adan(model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay)
    # foreach: one fused update over all tensors (torch only picks it by default on CUDA).
    return torch.optim.AdamW(model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay,
                             foreach=True)


def learning_rate_at(train: TrainConfig, step: int) -> float:
    """Linear warm-up over warmup_steps, then constant."""
    if train.warmup_steps <= 0:
        return train.learning_rate
    return train.learning_rate * min(1.0, step / train.warmup_steps)


def seed_step(seed: int, step: int, rank: int) -> None:
    """Every step draws from its own seed, so a resumed run repeats the same randomness."""
    torch.manual_seed(int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]))


class Trainer:
    """One model's training: build with the run config and the train split's normaliser, then
    run(dataset, steps), or drive train_step(batch) directly."""

    def __init__(self, config: RunConfig, normalizer: Normalizer, run_dir: str | os.PathLike,
                 ctx: DistContext, resume_from: TrainState | None = None, progress: bool = True,
                 notes: dict | None = None, text_encoder: dict | None = None):
        self.config, self.normalizer, self.ctx = config, normalizer, ctx
        self.text_encoder = text_encoder    # TextEncoder.identity, recorded in the checkpoint
        self.run_dir = Path(run_dir)
        self.progress = progress and ctx.is_main
        self.notes = dict(notes or {})
        torch.manual_seed(config.train.seed)
        self.model = Denoiser(config.model).to(ctx.device)
        self.ema = EMA(self.model, config.train.ema_decay)
        self.optimizer = build_optimizer(self.model, config.train)
        self.diffusion = GaussianDiffusion(config.model)
        self.step = 0
        if resume_from is not None:
            self.model.load_state_dict(resume_from.model)
            self.ema.load_state_dict(resume_from.ema)
            self.optimizer.load_state_dict(resume_from.optimizer)
            self.step = resume_from.step
        self.network = self.model
        if ctx.distributed:
            device_ids = [ctx.device] if ctx.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=device_ids)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=ctx.device.type == "cuda")

    def loss(self, batch: dict[str, torch.Tensor]) -> LossTerms:
        """EDGE's losses for one batch at random diffusion steps (x0 prediction)."""
        x0 = batch["x"]
        t = torch.randint(0, self.diffusion.steps, (x0.shape[0],), device=x0.device)
        x_t = self.diffusion.q_sample(x0, t, torch.randn_like(x0))
        lyrics = (batch["lyric_emb"], batch["lyric_frames"], batch["lyric_mask"]) if self.config.model.lyrics \
            else (None, None, None)
        with self.autocast:
            predicted = self.network(x_t, t, batch["music"], *lyrics)
        return diffusion_losses(predicted, x0, self.normalizer, self.config.train.loss_weights)

    def train_step(self, batch: dict[str, torch.Tensor]) -> LossTerms:
        """One optimiser step; returns the detached loss terms (still on the device: reading them
        forces a GPU sync, so the loop does that only when it logs)."""
        self.step += 1
        train = self.config.train
        seed_step(train.seed, self.step, self.ctx.rank)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate_at(train, self.step)
        self.model.train()
        terms = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        if train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), train.grad_clip)
        self.optimizer.step()
        self.ema.update(self.model, self.step)
        return terms.detach()

    def run(self, dataset: torch.utils.data.Dataset, steps: int) -> TrainResult:
        """Train on `dataset` (DanceDataset items, normalised with self.normalizer) until `steps`,
        a total that counts the steps done before a resume."""
        train = self.config.train
        batches = WindowBatches(len(dataset), train.batch_size, self.ctx, train.seed, self.step + 1, steps)
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=train.num_workers,
                            pin_memory=self.ctx.device.type == "cuda")
        metrics = MetricsLog(self.run_dir, self.step) if self.ctx.is_main else None
        bar = tqdm(total=steps, initial=self.step, disable=not self.progress, unit="step", dynamic_ncols=True)
        row: dict[str, float] = {}
        interval_sum, interval_steps, interval_start = None, 0, time.perf_counter()
        for batch in loader:
            batch = {name: value.to(self.ctx.device, non_blocking=True) for name, value in batch.items()}
            terms = self.train_step(batch).stacked()
            interval_sum = terms if interval_sum is None else interval_sum + terms
            interval_steps += 1
            bar.update(1)
            if self.step % train.log_every == 0 or self.step == steps:
                row = self._mean_over_ranks(interval_sum / interval_steps)
                elapsed = time.perf_counter() - interval_start
                row.update(step=self.step, lr=learning_rate_at(train, self.step),
                           windows_per_s=interval_steps * train.batch_size * self.ctx.world_size / elapsed)
                bar.set_postfix(loss=f"{row['total']:.4f}")
                if metrics is not None:
                    metrics.write(row)
                interval_sum, interval_steps, interval_start = None, 0, time.perf_counter()
            if self.step % train.checkpoint_every == 0 or self.step == steps:
                self.save()
        bar.close()
        if metrics is not None:
            metrics.close()
        last_losses = {name: row[name] for name in LossTerms.NAMES if name in row}
        return TrainResult(step=self.step, checkpoint=self.run_dir / CHECKPOINT_DIR, last_losses=last_losses)

    def _mean_over_ranks(self, stacked: torch.Tensor) -> dict[str, float]:
        """LossTerms.stacked() values averaged over the ranks, by name."""
        if self.ctx.distributed:
            stacked = stacked.clone()
            torch.distributed.all_reduce(stacked)
            stacked /= self.ctx.world_size
        return dict(zip(LossTerms.NAMES, stacked.tolist()))

    def save(self) -> None:
        """Checkpoint (EMA weights) and resume state, written by rank 0. Every rank reports a digest
        of its raw weights first: DDP keeps them bit-identical, and a mismatch is a bug to stop on."""
        digests = gather_strings(self.ctx, parameter_digest(self.model))
        if len(set(digests)) != 1:
            raise RuntimeError(f"ranks disagree on the weights at step {self.step}: {digests}")
        if self.ctx.is_main:
            notes = {**self.notes, "rank_weight_digests": digests, "world_size": self.ctx.world_size}
            staging = self.run_dir / f".{CHECKPOINT_DIR}.saving"
            save_checkpoint(staging, self.ema.model, self.config.model, self.normalizer,
                            extra={"step": self.step, "train": self.config.to_dict()["train"], **self.notes},
                            text_encoder=self.text_encoder)
            replace_directory(staging, self.run_dir / CHECKPOINT_DIR)
            staging = self.run_dir / f".{TRAIN_STATE_DIR}.saving"
            save_train_state(staging, TrainState(
                step=self.step, config=self.config.to_dict(), model=self.model.state_dict(),
                ema=self.ema.state_dict(), normalizer=self.normalizer.state_dict(),
                optimizer=self.optimizer.state_dict(), notes=notes))
            replace_directory(staging, self.run_dir / TRAIN_STATE_DIR)
        self.ctx.barrier()


def prepare_run(config: RunConfig | None, run_dir: str | os.PathLike, resume: bool,
                **train_overrides) -> tuple[RunConfig, TrainState | None]:
    """The run's config and, with resume, its saved state. A fresh run refuses a directory that
    already holds one (it would be overwritten); --resume takes the config saved in the run, with
    `train_overrides` (steps, batch_size, ...) applied on top."""
    state_dir = Path(run_dir) / TRAIN_STATE_DIR
    overrides = {name: value for name, value in train_overrides.items() if value is not None}
    if resume:
        state = load_train_state(state_dir)
        saved = RunConfig.from_dict(state.config, path=state_dir)
        return saved.replace_train(**overrides), state
    if has_train_state(state_dir):
        raise LM2DError("this run directory already holds a training run: pass --resume to continue "
                        "it, or choose another --out", path=run_dir)
    if config is None:
        raise LM2DError("a new training run needs --config FILE")
    return config.replace_train(**overrides), None


def load_training_data(config: RunConfig, data_root: str | os.PathLike, ctx: DistContext,
                       normalizer: Normalizer | None, encoder: TextEncoder | None = None,
                       widen_normalizer: bool = False, gesture_events: dict | None = None) -> DanceDataset:
    """The train split. Rank 0 goes first and fills the clip cache; the others then read it."""
    def build() -> DanceDataset:
        return DanceDataset(data_root, "train", config.model, stride=config.train.window_stride,
                            encoder=encoder, normalizer=normalizer, widen_normalizer=widen_normalizer,
                            gesture_events=gesture_events)
    if ctx.is_main:
        dataset = build()
        ctx.barrier()
    else:
        ctx.barrier()
        dataset = build()
    return dataset


def train(config: RunConfig | None, data_root: str | os.PathLike, run_dir: str | os.PathLike, ctx: DistContext,
          *, resume: bool = False, steps: int | None = None, batch_size: int | None = None,
          text_model: str | os.PathLike | None = None, encoder: TextEncoder | None = None,
          init: str | os.PathLike | None = None, progress: bool = True) -> TrainResult:
    """Everything `lm2d train` does inside one process (torchrun starts one per device).
    The lyric encoder is `encoder` when given, else loaded from `text_model` (default: the
    packaged one) if the model uses lyrics. `init`: a diffusion checkpoint of the same
    architecture whose weights, normaliser and music statistics a new run starts from; the
    normaliser is widened to cover the new data (a range fitted on other dances would clip these:
    the first corpus v2 fine-tune kept v1's, and its dancer could not leave a 50 cm box)."""
    if init is not None and resume:
        raise LM2DError("--init starts a new run from a checkpoint and --resume continues a saved one: "
                        "pass only one of them", path=init)
    config, state = prepare_run(config, run_dir, resume, steps=steps, batch_size=batch_size)
    start = load_starting_point(init, config.model, "diffusion") if init is not None else None
    if not config.model.lyrics:
        encoder = None
    elif encoder is None:
        encoder = TextEncoder(text_model)
    normalizer = (Normalizer.from_state_dict(state.normalizer) if state is not None
                  else start.normalizer if start is not None else None)
    dataset = load_training_data(config, data_root, ctx, normalizer, encoder, widen_normalizer=state is None)
    if ctx.is_main:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
    notes = {"data": recorded_path(data_root), "clips": len(dataset.clips), "windows": len(dataset)}
    if start is not None:
        notes["init"] = starting_point_notes(init, start)
        widened = (dataset.normalizer.min < start.normalizer.min) | (dataset.normalizer.max > start.normalizer.max)
        notes["init"]["normalizer_channels_widened"] = int(widened.sum())
    text_encoder = encoder.identity if encoder is not None else None
    trainer = Trainer(config, dataset.normalizer, run_dir, ctx, resume_from=state, progress=progress,
                      notes=notes, text_encoder=text_encoder)
    if start is not None:
        for model in (trainer.model, trainer.ema.model):
            model.load_state_dict(start.model.state_dict())
    elif state is None:  # a fresh run standardises music with the train split's statistics (saved with the weights)
        music = torch.from_numpy(np.concatenate([clip.music for clip in dataset.clips]))
        for model in (trainer.model, trainer.ema.model):
            model.set_music_statistics(music)
    return trainer.run(dataset, config.train.steps)


def describe(result: TrainResult, stream=None) -> None:
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.last_losses.items())
    print(f"trained to step {result.step} ({losses}); checkpoint: {result.checkpoint}",
          file=stream or sys.stdout, flush=True)

