"""Consistency distillation of a trained LM2D diffusion model (the teacher) into a one-to-few-step
student, single-process or under torchrun.

Each step, for a batch of clean training windows x0: draw a grid index n, noise x0 to the
higher level σ_n (x = x0 + σ_n·z), take one Heun step of the teacher's guided probability-flow
ODE down to σ_{n+1}, and pull the student f_θ(x, σ_n) towards the target network's
f_θ⁻(x̂, σ_{n+1}) (consistency.py has the parameterisation). Both student evaluations share one
dropout mask (same RNG seed) and the same condition mask (music kept, lyrics nulled exactly on
windows without words). θ⁻ is an EMA of θ with decay μ (ConsistencyConfig.target_ema, ramped up
over the first steps by lm2d.train.ema.EMA); the checkpoint ships a slower EMA (train.ema_decay).
With consistency.gesture_weight > 0 the frames inside the lyrics' gesture events (the corpus's
record, else the keyword rule) count 1 + gesture_weight times as much: a one-step student
otherwise trades the short lyric gestures for the smoother average around them.

A run directory holds checkpoint/ (kind "consistency", with the ConsistencyConfig under
training.distillation) and metrics.csv (step, loss, lr, windows_per_s).

The data, batching, EMA, optimiser, learning-rate ramp, per-step seeding, metrics file and
torchrun plumbing are lm2d.train's. There is no --resume: distillation runs are short.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from lm2d.distill.consistency import (DISTILLATION_KEY, ConsistencyConfig, SigmaToStep, consistency_distance,
                                      consistency_function, heun_step)
from lm2d.errors import LM2DError, warn
from lm2d.model.checkpoint import (LoadedModel, checkpoint_files, load_checkpoint, load_starting_point,
                                   recorded_path, save_checkpoint, starting_point_notes)
from lm2d.model.diffusion import Conditioning
from lm2d.model.normalizer import Normalizer
from lm2d.train.config import RunConfig, TrainConfig, check_keys, read_config_json
from lm2d.train.distributed import DistContext
from lm2d.train.ema import EMA
from lm2d.train.state import replace_directory
from lm2d.train.trainer import (CHECKPOINT_DIR, MetricsLog, WindowBatches, build_optimizer, learning_rate_at,
                                load_training_data, seed_step)

METRIC_FIELDS = ("step", "loss", "lr", "windows_per_s")
# Distillation starts from trained weights: a small learning rate, a short run, a faster EMA.
DEFAULT_TRAIN = TrainConfig(steps=4000, batch_size=32, learning_rate=2e-5, warmup_steps=100, weight_decay=0.0,
                            grad_clip=1.0, ema_decay=0.999, checkpoint_every=1000, log_every=50)
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)} - {"loss_weights"}   # no EDGE losses here


@dataclass(frozen=True)
class DistillConfig:
    train: TrainConfig = DEFAULT_TRAIN
    consistency: ConsistencyConfig = ConsistencyConfig()

    def to_dict(self) -> dict:
        train = dataclasses.asdict(self.train)
        train.pop("loss_weights")
        return {"train": train, "consistency": self.consistency.to_dict()}


def load_distill_config(path: str | os.PathLike | None) -> DistillConfig:
    """JSON {"description"?, "train": {TrainConfig fields but loss_weights}, "consistency":
    {ConsistencyConfig fields}}; missing fields take DEFAULT_TRAIN's / ConsistencyConfig's values.
    None: all defaults."""
    if path is None:
        return DistillConfig()
    data = read_config_json(path, "distillation config")
    check_keys(data, {"description", "train", "consistency"}, "the top level", path)
    check_keys(data.get("train", {}), _TRAIN_FIELDS, '"train"', path)
    check_keys(data.get("consistency", {}), {f.name for f in dataclasses.fields(ConsistencyConfig)},
                '"consistency"', path)
    try:
        return DistillConfig(dataclasses.replace(DEFAULT_TRAIN, **data.get("train", {})),
                             ConsistencyConfig(**data.get("consistency", {})))
    except (TypeError, ValueError) as err:
        raise LM2DError(f"invalid distillation config: {err}", path=path) from err


def load_teacher(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """A diffusion checkpoint, given as a checkpoint (directory or file) or a training run
    directory holding checkpoint/."""
    path = Path(path)
    if path.is_dir() and not checkpoint_files(path)[1].is_file() and (path / CHECKPOINT_DIR).is_dir():
        path = path / CHECKPOINT_DIR
    loaded = load_checkpoint(path, device)
    if loaded.kind != "diffusion":
        raise LM2DError(f"the teacher must be a diffusion checkpoint, this one is {loaded.kind!r}", path=path)
    return loaded


@dataclass
class DistillResult:
    step: int
    checkpoint: Path
    last_loss: float


class Distiller:
    """Distils `teacher` into a student initialised from it (or from `student`, an earlier consistency
    model of the same architecture): run(dataset, steps), or drive train_step(batch) directly
    (batches as DanceDataset items, normalised with the teacher's normaliser, as tensors on ctx.device)."""

    def __init__(self, teacher: LoadedModel, config: DistillConfig, run_dir: str | os.PathLike, ctx: DistContext,
                 progress: bool = True, notes: dict | None = None, student: LoadedModel | None = None):
        self.config, self.ctx, self.run_dir = config, ctx, Path(run_dir)
        self.progress = progress and ctx.is_main
        self.notes = dict(notes or {})
        self.teacher_meta = teacher.meta
        self.normalizer: Normalizer = teacher.normalizer
        self.diffusion = teacher.diffusion
        self.teacher = teacher.model.to(ctx.device).eval().requires_grad_(False)
        self.student = copy.deepcopy(self.teacher).train().requires_grad_(True)
        if student is not None:
            self.student.load_state_dict(student.model.state_dict())
        self.target = EMA(self.student, config.consistency.target_ema)
        self.target.model.train()    # dropout on, with the student's mask (same seed)
        self.ema = EMA(self.student, config.train.ema_decay)
        self.optimizer = build_optimizer(self.student, config.train)
        self.network = (DistributedDataParallel(self.student, device_ids=[ctx.device] if ctx.device.type == "cuda"
                                                else None) if ctx.distributed else self.student)
        self.to_step = SigmaToStep(self.diffusion)
        self.sigmas = config.consistency.sigmas().float().to(ctx.device)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=ctx.device.type == "cuda")
        self.step = 0

    def conditioning(self, batch: dict[str, torch.Tensor]) -> Conditioning:
        if not self.teacher.config.lyrics:
            return Conditioning(batch["music"])
        return Conditioning(batch["music"], batch["lyric_emb"], batch["lyric_frames"], batch["lyric_mask"])

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """d(f_θ(x_{σ_n}), f_θ⁻(x̂_{σ_{n+1}})) for one batch at random adjacent grid points."""
        consistency = self.config.consistency
        x0, cond = batch["x"], self.conditioning(batch)
        index = torch.randint(0, len(self.sigmas) - 1, (x0.shape[0],), device=x0.device)
        sigma_high, sigma_low = self.sigmas[index], self.sigmas[index + 1]
        x_high = x0 + sigma_high[:, None, None] * torch.randn_like(x0)
        with torch.no_grad(), self.autocast:
            x_low = heun_step(self.teacher, self.diffusion, x_high, sigma_high, sigma_low, cond, consistency,
                              self.to_step).float()
        dropout_seed = int(torch.randint(0, 2 ** 62, ()))
        devices = [self.ctx.device] if self.ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), self.autocast:
            torch.manual_seed(dropout_seed)
            online = consistency_function(self.network, x_high, sigma_high, cond, consistency, self.to_step)
        with torch.random.fork_rng(devices=devices), torch.no_grad(), self.autocast:
            torch.manual_seed(dropout_seed)
            target = consistency_function(self.target.model, x_low, sigma_low, cond, consistency, self.to_step)
        weights = (1 + consistency.gesture_weight * batch["gesture_frames"].float()
                   if consistency.gesture_weight > 0 else None)
        return consistency_distance(online.float(), target.float(), consistency, weights)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.step += 1
        train = self.config.train
        seed_step(train.seed, self.step, self.ctx.rank)
        lr = learning_rate_at(train, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), train.grad_clip)
        self.optimizer.step()
        self.target.update(self.student, self.step)
        self.ema.update(self.student, self.step)
        return {"loss": float(loss.detach()), "lr": lr}

    def run(self, dataset: torch.utils.data.Dataset, steps: int) -> DistillResult:
        train = self.config.train
        batches = WindowBatches(len(dataset), train.batch_size, self.ctx, train.seed, self.step + 1, steps)
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=train.num_workers,
                            pin_memory=self.ctx.device.type == "cuda")
        metrics = MetricsLog(self.run_dir, 0, METRIC_FIELDS) if self.ctx.is_main else None
        bar = tqdm(total=steps, initial=self.step, disable=not self.progress, unit="step", dynamic_ncols=True)
        loss_sum, interval_steps, interval_start, last = 0.0, 0, time.perf_counter(), {"loss": float("nan")}
        for batch in loader:
            batch = {name: value.to(self.ctx.device, non_blocking=True) for name, value in batch.items()}
            last = self.train_step(batch)
            loss_sum, interval_steps = loss_sum + last["loss"], interval_steps + 1
            bar.update(1)
            if self.step % train.log_every == 0 or self.step == steps:
                rate = interval_steps * train.batch_size * self.ctx.world_size / (time.perf_counter() - interval_start)
                row = {"step": self.step, "loss": self._mean_over_ranks(loss_sum / interval_steps),
                       "lr": last["lr"], "windows_per_s": rate}
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                if metrics is not None:
                    metrics.write(row)
                loss_sum, interval_steps, interval_start = 0.0, 0, time.perf_counter()
            if self.step % train.checkpoint_every == 0 or self.step == steps:
                self.save()
        bar.close()
        if metrics is not None:
            metrics.close()
        return DistillResult(self.step, self.run_dir / CHECKPOINT_DIR, last["loss"])

    def _mean_over_ranks(self, value: float) -> float:
        if not self.ctx.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.ctx.device)
        torch.distributed.all_reduce(tensor)
        return float(tensor) / self.ctx.world_size

    def save(self) -> None:
        """The EMA student as a "consistency" checkpoint (rank 0), replacing the previous one whole."""
        if self.ctx.is_main:
            staging = self.run_dir / f".{CHECKPOINT_DIR}.saving"
            extra = {"step": self.step, "train": self.config.to_dict()["train"],
                     DISTILLATION_KEY: self.config.consistency.to_dict(), **self.notes}
            save_checkpoint(staging, self.ema.model, self.teacher.config, self.normalizer, extra=extra,
                            kind="consistency", text_encoder=self.teacher_meta.get("text_encoder"),
                            fps=self.teacher_meta.get("fps", 30.0))
            replace_directory(staging, self.run_dir / CHECKPOINT_DIR)
        self.ctx.barrier()


def distill(teacher_path: str | os.PathLike, data_root: str | os.PathLike, run_dir: str | os.PathLike,
            ctx: DistContext, config: DistillConfig = DistillConfig(), *, steps: int | None = None,
            batch_size: int | None = None, text_model: str | os.PathLike | None = None, encoder=None,
            init: str | os.PathLike | None = None, progress: bool = True) -> DistillResult:
    """Everything `lm2d distill` does inside one process (torchrun starts one per device).
    `init`: a consistency checkpoint of the teacher's architecture for the student to start from."""
    overrides = {name: value for name, value in (("steps", steps), ("batch_size", batch_size)) if value is not None}
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **overrides))
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT_DIR).exists():
        raise LM2DError("this run directory already holds a checkpoint; choose another --out", path=run_dir)
    teacher = load_teacher(teacher_path, ctx.device)
    student = load_starting_point(init, teacher.config, "consistency") if init is not None else None
    encoder = _lyric_encoder(teacher, encoder, text_model)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_training_data(RunConfig(teacher.config, config.train), data_root, ctx, teacher.normalizer, encoder,
                                 gesture_events=_gesture_events(config, data_root))
    notes = {"teacher": recorded_path(teacher_path), "teacher_training": teacher.meta.get("training", {}),
             "data": recorded_path(data_root), "clips": len(dataset.clips), "windows": len(dataset)}
    if student is not None:
        notes["init"] = starting_point_notes(init, student)
    distiller = Distiller(teacher, config, run_dir, ctx, progress=progress, notes=notes, student=student)
    return distiller.run(dataset, config.train.steps)


def _gesture_events(config: DistillConfig, data_root) -> dict | None:
    """The train split's lyric gesture events when the loss weights them (warns when there are none)."""
    if config.consistency.gesture_weight == 0:
        return None
    from lm2d.evaluation.gesture_classifier import split_gesture_events
    events = split_gesture_events(data_root, "train")
    if not any(events.values()):
        warn("gesture_weight is set but no training clip's lyrics call for a gesture: every frame weighs the same",
             path=data_root)
    return events


def _lyric_encoder(teacher: LoadedModel, encoder, text_model):
    """The encoder the teacher's lyric tokens came from (warns when it is a different one)."""
    if not teacher.config.lyrics:
        return None
    if encoder is None:
        from lm2d.lyrics import TextEncoder
        encoder = TextEncoder(text_model)
    recorded = teacher.meta.get("text_encoder", {}).get("name")
    if isinstance(recorded, dict) and recorded != encoder.identity:
        warn(f"the teacher was trained with lyric encoder {recorded}, distilling with {encoder.identity}")
    return encoder
