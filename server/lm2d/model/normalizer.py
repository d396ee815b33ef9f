"""Per-channel min/max scaling of motion frames to [-1, 1] (EDGE's MinMaxScaler + clip).

The statistics are plain tensors (`state_dict`) saved inside the checkpoint's safetensors."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lm2d.errors import LM2DError


def _as_float_tensor(data) -> Tensor:
    return torch.as_tensor(np.asarray(data) if not isinstance(data, Tensor) else data).float()


class Normalizer:
    """x -> 2·(x − min)/(max − min) − 1, clipped to [-1, 1]. A constant channel (max = min) maps
    to -1 and back to its value. Accepts and returns numpy arrays or tensors (..., C)."""

    def __init__(self, minimum: Tensor | None = None, maximum: Tensor | None = None):
        self.min = None if minimum is None else _as_float_tensor(minimum)
        self.max = None if maximum is None else _as_float_tensor(maximum)

    @classmethod
    def fit(cls, data) -> "Normalizer":
        """Statistics over every frame of `data` (..., C): numpy or torch."""
        flat = _as_float_tensor(data)
        flat = flat.reshape(-1, flat.shape[-1])
        if flat.shape[0] == 0:
            raise LM2DError("cannot fit a normalizer on no frames")
        return cls(flat.amin(0), flat.amax(0))

    def covering(self, other: "Normalizer") -> "Normalizer":
        """The smallest range holding both: a checkpoint's normaliser widened to new data."""
        self._check_fitted()
        return Normalizer(torch.minimum(self.min, other.min), torch.maximum(self.max, other.max))

    def outside_fraction(self, data, tolerance: float = 0.01) -> float:
        """Fraction of the frames of `data` (..., C) with a channel more than `tolerance` of its span
        outside the range: what normalize() would clip."""
        self._check_fitted()
        flat = _as_float_tensor(data).reshape(-1, self.channels)
        margin = tolerance * (self.max - self.min)
        outside = (flat < self.min - margin) | (flat > self.max + margin)
        return float(outside.any(dim=1).float().mean()) if len(flat) else 0.0

    @property
    def channels(self) -> int:
        self._check_fitted()
        return self.min.shape[0]

    def _check_fitted(self) -> None:
        if self.min is None:
            raise RuntimeError("Normalizer used before fit() or load_state_dict()")

    def _scale(self, like: Tensor) -> tuple[Tensor, Tensor]:
        self._check_fitted()
        span = self.max - self.min
        span = torch.where(span > 0, span, torch.ones_like(span))
        return self.min.to(like.device, like.dtype), span.to(like.device, like.dtype)

    def normalize(self, x):
        tensor = _as_float_tensor(x) if not isinstance(x, Tensor) else x
        low, span = self._scale(tensor)
        out = (2 * (tensor - low) / span - 1).clamp(-1, 1)
        return out if isinstance(x, Tensor) else out.numpy()

    def unnormalize(self, x):
        tensor = _as_float_tensor(x) if not isinstance(x, Tensor) else x
        low, span = self._scale(tensor)
        out = (tensor + 1) / 2 * span + low
        return out if isinstance(x, Tensor) else out.numpy()

    def state_dict(self) -> dict[str, Tensor]:
        self._check_fitted()
        return {"min": self.min.clone(), "max": self.max.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> "Normalizer":
        self.min, self.max = _as_float_tensor(state["min"]), _as_float_tensor(state["max"])
        if self.min.shape != self.max.shape or self.min.dim() != 1:
            raise LM2DError(f"normalizer min/max shapes differ or are not 1-D: "
                            f"{tuple(self.min.shape)} vs {tuple(self.max.shape)}")
        return self

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> "Normalizer":
        return cls().load_state_dict(state)
