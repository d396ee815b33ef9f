"""Weights on disk: safetensors tensors beside a JSON description, never pickle (nothing that
runs code when loaded). The model checkpoints (lm2d.model.checkpoint) and the evaluation networks
(semantic matcher, gesture classifier) all save and load through here.

A described module is the pair PATH.safetensors + PATH.json, the JSON being
{"format_version", "kind", "config", "notes"}; checkpoints add their own fields (model.json)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from lm2d.errors import LM2DError
from lm2d.safe_write import write_tensors, write_text


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Atomically (lm2d.safe_write): a crash or full disk never leaves half a weights file."""
    write_tensors(path, {name: value.detach().cpu().contiguous() for name, value in tensors.items()},
                  metadata=metadata)


def read_tensors(path: str | os.PathLike, error: Callable[[str], LM2DError]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; error(why) is raised when it cannot be read."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise error(f"unreadable safetensors file ({err})") from err


def described_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(PATH.safetensors, PATH.json) for PATH given with either suffix or none."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def save_described(module: nn.Module, path: str | os.PathLike, kind: str, config: dict, format_version: int,
                   notes: dict | None = None) -> Path:
    """Write PATH.safetensors (the module's state) and PATH.json; returns the weights path."""
    weights, meta = described_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(weights, module.state_dict())
    write_text(meta, json.dumps({"format_version": format_version, "kind": kind, "config": config,
                                 "notes": notes or {}}, indent=1))
    return weights


def load_described(path: str | os.PathLike, kind: str, what: str,
                   build: Callable[[dict, Path], nn.Module]) -> nn.Module:
    """The module save_described wrote: build(config, json_path) makes it, the weights fill it (in
    eval mode). LM2DError naming the file for a missing file, bad JSON, another kind, or weights
    that do not fit the config."""
    weights, meta_path = described_paths(path)
    for required in (weights, meta_path):
        if not required.is_file():
            raise LM2DError(f"{what} file not found", path=required, code="not_found")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise LM2DError(f"not valid JSON: {err.msg}", path=meta_path, line=err.lineno) from err
    if not isinstance(meta, dict) or meta.get("kind") != kind or "config" not in meta:
        raise LM2DError(f"not a {what} description (expected kind {kind!r})", path=meta_path)
    module = build(meta["config"], meta_path)
    tensors = read_tensors(weights, lambda why: LM2DError(why, path=weights))
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:
        raise LM2DError(f"weights do not match the {what} config: {str(err).splitlines()[0]}", path=weights) from err
    return module.eval()
