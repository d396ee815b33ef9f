"""What `lm2d train --resume` needs to continue exactly: raw and EMA weights, optimizer moments,
the normaliser and the step. Tensors go to safetensors, everything else to JSON (no pickle).

    RUN/train_state/tensors.safetensors   model.*, ema.*, normalizer.*, optimizer.<param>.<key>
    RUN/train_state/state.json            step, run config, optimizer param groups and scalars, notes
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from lm2d.errors import LM2DError
from lm2d.safe_write import write_tensors, write_text

TENSORS = "tensors.safetensors"
STATE = "state.json"
FORMAT_VERSION = 1


@dataclass
class TrainState:
    step: int
    config: dict                                   # RunConfig.to_dict()
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    normalizer: dict[str, torch.Tensor]
    optimizer: dict                                # torch optimizer state_dict
    notes: dict = field(default_factory=dict)      # anything JSON-able (data root, rank digests, ...)


def has_train_state(directory: str | os.PathLike) -> bool:
    return (Path(directory) / STATE).is_file()


def save_train_state(directory: str | os.PathLike, state: TrainState) -> None:
    directory = Path(directory)
    tensors = {**_prefixed("model", state.model), **_prefixed("ema", state.ema),
               **_prefixed("normalizer", state.normalizer)}
    optimizer_tensors, optimizer_meta = _split_optimizer_state(state.optimizer)
    tensors.update(optimizer_tensors)
    meta = {"format_version": FORMAT_VERSION, "step": state.step, "config": state.config,
            "optimizer": optimizer_meta, "notes": state.notes}
    directory.mkdir(parents=True, exist_ok=True)
    write_tensors(directory / TENSORS, tensors)
    write_text(directory / STATE, json.dumps(meta, indent=1))


def load_train_state(directory: str | os.PathLike) -> TrainState:
    directory = Path(directory)
    try:
        meta = json.loads((directory / STATE).read_text())
        tensors = load_file(str(directory / TENSORS))
    except FileNotFoundError as err:
        raise LM2DError("no training state to resume from", path=directory) from err
    except (json.JSONDecodeError, OSError) as err:
        raise LM2DError(f"unreadable training state ({err})", path=directory) from err
    if meta.get("format_version") != FORMAT_VERSION:
        raise LM2DError(f"training state format {meta.get('format_version')} is not {FORMAT_VERSION}",
                        path=directory / STATE)
    return TrainState(step=int(meta["step"]), config=meta["config"],
                      model=_unprefixed("model", tensors), ema=_unprefixed("ema", tensors),
                      normalizer=_unprefixed("normalizer", tensors),
                      optimizer=_join_optimizer_state(tensors, meta["optimizer"]), notes=meta["notes"])


def replace_directory(staging: Path, final: Path) -> None:
    """Move a fully written `staging` directory to `final`, so a crash mid-save never leaves a
    half-written checkpoint in place of the previous good one."""
    previous = final.with_name(final.name + ".previous")
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    if previous.exists():
        shutil.rmtree(previous)


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": _storable(value) for name, value in tensors.items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {name[start:]: value for name, value in tensors.items() if name.startswith(prefix + ".")}


def _storable(tensor: torch.Tensor) -> torch.Tensor:
    # safetensors wants contiguous CPU tensors that share no memory with each other.
    return tensor.detach().to("cpu").contiguous().clone()


def _split_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """torch optimizer state_dict -> (tensors keyed optimizer.<param>.<key>, JSON-able rest)."""
    tensors, scalars = {}, {}
    for param, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param}.{key}"] = _storable(value)
            else:
                scalars.setdefault(str(param), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, param, key = name.split(".", 2)
            state.setdefault(int(param), {})[key] = value
    for param, values in meta["scalars"].items():
        state.setdefault(int(param), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}
