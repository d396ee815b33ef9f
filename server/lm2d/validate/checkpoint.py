"""model.json and the weights beside it: every field's type and range checked before the
network is built (so `ff_dim: 1e9` is refused, not allocated), and every tensor finite (a NaN
weight or normaliser value would give an all-NaN dance)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from lm2d.errors import LM2DError
from lm2d.limits import MAX_JSON_BYTES
from lm2d.validate.documents import load_json
from lm2d.validate.numbers import number_problem

# ModelConfig field -> (type, low, high). Bounds keep the network a few GB at most; the motion,
# contact and music sizes are what lm2d's data has, so they are fixed.
CONFIG_FIELDS = {
    "n_frames": (int, 2, 2000),
    "motion_dim": (int, 147, 147),
    "contact_dim": (int, 0, 4),
    "music_dim": (int, 35, 35),
    "text_dim": (int, 1, 4096),
    "latent_dim": (int, 2, 4096),
    "ff_dim": (int, 1, 16384),
    "n_layers": (int, 1, 64),
    "n_heads": (int, 1, 64),
    "dropout": (float, 0.0, 1.0),
    "lyrics": (bool, None, None),
    "max_lyric_tokens": (int, 1, 4096),
    "music_drop_prob": (float, 0.0, 1.0),
    "lyrics_drop_prob": (float, 0.0, 1.0),
    "diffusion_steps": (int, 1, 10000),
}
# Other top-level fields of model.json -> the JSON type they must have when present.
META_FIELDS = {"config": dict, "normalizer": dict, "text_encoder": dict, "training": dict, "fps": (int, float)}


def read_meta_json(meta_path: Path):
    """model.json as parsed JSON, its size and nesting bounded first."""
    size = meta_path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise LM2DError(f"not an LM2D checkpoint: model.json is {size} bytes; at most {MAX_JSON_BYTES}",
                        path=meta_path)
    try:
        text = meta_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise LM2DError(f"not an LM2D checkpoint: model.json is not UTF-8 ({err.reason})", path=meta_path) from err
    try:
        return load_json(text, meta_path)
    except LM2DError as err:
        raise LM2DError(f"not an LM2D checkpoint: {err.message}", path=meta_path, line=err.line) from err


def check_meta_fields(meta: dict, meta_path: Path) -> None:
    """Types of model.json's top-level fields and every config value's type and range."""
    for name, expected in META_FIELDS.items():
        if name in meta and (not isinstance(meta[name], expected) or isinstance(meta[name], bool)):
            raise _bad(meta_path, f'"{name}" must be {_type_name(expected)}, got {type(meta[name]).__name__}')
    encoder = meta.get("text_encoder", {})
    if not isinstance(encoder.get("name", ""), str) or number_problem(encoder.get("dim", 1), 1, 4096, integer=True):
        raise _bad(meta_path, '"text_encoder" must be {"name": text, "dim": a whole number}')
    if not all(isinstance(value, str) for value in meta.get("normalizer", {}).values()):
        raise _bad(meta_path, '"normalizer" must name its tensors with text')
    for name, value in (meta.get("config") or {}).items():
        if name not in CONFIG_FIELDS:
            continue   # ModelConfig.from_dict names unknown keys
        kind, low, high = CONFIG_FIELDS[name]
        if kind is bool:
            problem = None if isinstance(value, bool) else f"must be true or false, got {value!r}"[:80]
        else:
            problem = number_problem(value, low, high, integer=kind is int)
        if problem:
            raise _bad(meta_path, f"config {name} {problem}")


def check_finite_tensors(tensors: dict[str, torch.Tensor], weights_path: str | os.PathLike) -> None:
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise _bad(weights_path, f"tensor {name!r} contains NaN or infinite values "
                                     "(a diverged or damaged training run)")


def _bad(path, why: str) -> LM2DError:
    return LM2DError(f"not an LM2D checkpoint: {why}", path=path)


def _type_name(expected) -> str:
    return {dict: "an object", (int, float): "a number"}.get(expected, str(expected))
