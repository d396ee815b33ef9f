"""Training configuration files: JSON with a "model" section (lm2d.model.ModelConfig fields),
a "train" section (TrainConfig fields) and an optional "description" string. Missing fields take
their defaults (ModelConfig's and the ones below)."""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lm2d.errors import LM2DError
from lm2d.model.config import ModelConfig


@dataclass(frozen=True)
class LossWeights:
    """EDGE's loss weights (x0 MSE, velocity, forward kinematics, foot contact), and contact
    consistency (lm2d.train.losses), which EDGE does not have: 0 unless a config asks for it."""
    simple: float = 0.636
    velocity: float = 2.964
    fk: float = 0.646
    foot: float = 10.942
    contact: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100_000
    batch_size: int = 64
    optimizer: str = "adamw"            # "adamw", or "adan" when the adan-pytorch package is installed
    learning_rate: float = 2e-4
    warmup_steps: int = 1000            # linear ramp from 0, then constant (EDGE: constant)
    weight_decay: float = 0.02
    grad_clip: float = 1.0              # max global gradient norm; 0 disables clipping
    ema_decay: float = 0.9999
    window_stride: int = 15             # frames between training windows (EDGE: 0.5 s)
    checkpoint_every: int = 5000
    log_every: int = 50
    seed: int = 0
    num_workers: int = 0                # windows are in-memory slices: worker processes rarely pay off
    loss_weights: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self):
        if self.optimizer not in ("adamw", "adan"):
            raise ValueError(f"optimizer must be 'adamw' or 'adan', got {self.optimizer!r}")
        for name in ("steps", "batch_size", "window_stride", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    train: TrainConfig

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, data: dict, path: str | os.PathLike | None = None) -> "RunConfig":
        """Build from parsed JSON; unknown or ill-typed fields raise LM2DError naming `path`."""
        check_keys(data, {"description", "model", "train"}, "the top level", path)
        train = dict(data.get("train", {}))
        check_keys(train, {f.name for f in dataclasses.fields(TrainConfig)}, '"train"', path)
        weights = train.pop("loss_weights", {})
        check_keys(weights, {f.name for f in dataclasses.fields(LossWeights)}, '"train.loss_weights"', path)
        try:
            return cls(model=ModelConfig.from_dict(data.get("model", {})),
                       train=TrainConfig(**train, loss_weights=LossWeights(**weights)))
        except (TypeError, ValueError, LM2DError) as err:
            reason = err.message if isinstance(err, LM2DError) else str(err)
            raise LM2DError(f"invalid training config: {reason}", path=path) from err

    def replace_train(self, **changes) -> "RunConfig":
        """A copy with some TrainConfig fields changed (command-line overrides)."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))


def load_run_config(path: str | os.PathLike) -> RunConfig:
    return RunConfig.from_dict(read_config_json(path, "training config"), path=path)


def read_config_json(path: str | os.PathLike, what: str) -> dict:
    """The JSON object in a config file (training, distillation); LM2DError naming the file (and
    line) when it is missing, not JSON, or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise LM2DError(f"{what} not found", path=path) from err
    except json.JSONDecodeError as err:
        raise LM2DError(f"not valid JSON: {err.msg}", path=path, line=err.lineno) from err
    if not isinstance(data, dict):
        raise LM2DError(f"a {what} must be a JSON object", path=path)
    return data


def check_keys(section, allowed: set[str], where: str, path) -> None:
    if not isinstance(section, dict):
        raise LM2DError(f"{where} must be a JSON object", path=path)
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise LM2DError(f"unknown field(s) {', '.join(unknown)} in {where}; "
                        f"known: {', '.join(sorted(allowed))}", path=path)
