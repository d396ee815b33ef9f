"""Exponential moving average of the denoiser's weights: the copy that checkpoints ship."""
from __future__ import annotations

import copy

import torch


class EMA:
    """Keeps `model`'s EMA in a frozen copy. The decay ramps up as (1 + step) / (10 + step)
    towards `decay`, so a short run's average is not stuck at the random initial weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        averages, currents = list(self.model.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(averages, currents, 1.0 - self.decay_at(step))   # one fused op, not one per tensor
        for average, current in zip(self.model.buffers(), model.buffers()):
            average.copy_(current)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
