"""DDIM sampling (Song et al. 2021) with two guidance weights, in-painting and progress/cancel hooks."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from lm2d.errors import LM2DError
from lm2d.model.diffusion import (LYRICS_GUIDANCE, MUSIC_GUIDANCE, Conditioning, GaussianDiffusion,
                                  encode_in_chunks)


@dataclass
class Known:
    """In-painting constraint (EDGE's editing): `values` (B, T, C) normalised clean frames and a
    bool `mask` broadcastable to them, True where the values are kept (joints, frames, or both)."""
    values: Tensor
    mask: Tensor

    def to(self, device) -> "Known":
        return Known(self.values.to(device), self.mask.to(device))


class Cancelled(LM2DError):
    """should_stop() asked the sampler to stop."""

    def __init__(self):
        super().__init__("generation cancelled", code="cancelled")


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the duration, restoring the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def noise_source(seed: int | None) -> Callable[[tuple, torch.device], Tensor]:
    """Standard-normal draws from a private CPU generator, so a seed gives the same noise on any
    device and does not disturb the global RNG."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return lambda shape, device: torch.randn(shape, generator=generator).to(device)


# DDIM's noise level: 1 re-injects fresh noise every step (DDPM-like), as EDGE samples; on the
# validation songs it aligned the teacher's steps with the beat better than deterministic DDIM (0)
# at the same FID (docs/MODEL_CARD.md). Sampling stays reproducible: the noise comes from the seed.
DDIM_ETA = 1.0


def ddim_timesteps(diffusion_steps: int, steps: int) -> list[tuple[int, int]]:
    """(t, t_next) pairs from diffusion_steps-1 down to -1 (= clean), spaced as in EDGE."""
    if not 1 <= steps <= diffusion_steps:
        raise LM2DError(f"steps must be between 1 and {diffusion_steps}, got {steps}")
    times = torch.linspace(-1, diffusion_steps - 1, steps + 1).long().flip(0).tolist()
    return list(zip(times[:-1], times[1:]))


def ddim_sample(model: nn.Module, diffusion: GaussianDiffusion, cond: Conditioning, steps: int = 50,
                music_weight: float = MUSIC_GUIDANCE, lyrics_weight: float = LYRICS_GUIDANCE,
                seed: int | None = None,
                eta: float = DDIM_ETA, x_init: Tensor | None = None,
                on_step: Callable[[float], None] | None = None, known: Known | None = None,
                should_stop: Callable[[], bool] | None = None,
                after_step: Callable[[Tensor], Tensor] | None = None,
                max_batch: int | None = None, clip: bool = True) -> Tensor:
    """Sample (B, T, C) normalised windows for the conditioning batch `cond` (T from cond.music).

    music_weight / lyrics_weight: guidance (diffusion.GaussianDiffusion.predict_x0). eta = 0 is
    deterministic DDIM; eta = 1 is DDPM-like. x_init: the starting noise x_T instead of drawing it.
    known: in-painting; before every step its values are re-noised to the current step and written
    over x, and the result ends with them exactly. after_step(x): applied to x after every step but
    the last (long-form generation ties window overlaps with it). on_step(fraction done) after
    each step; should_stop() before each one, raising Cancelled (an LM2DError, code "cancelled").
    clip: clamp each x0 prediction to [-1, 1], the normalised data range (EDGE).
    The same seed gives the same sample on any device."""
    device = cond.music.device
    shape = (len(cond), cond.music.shape[1], model.config.channels)
    noise = noise_source(seed)
    x = noise(shape, device) if x_init is None else x_init.to(device)
    known = None if known is None else known.to(device)
    alphas = diffusion.alphas_cumprod
    pairs = ddim_timesteps(diffusion.steps, steps)

    with evaluating(model):
        encoded = encode_in_chunks(model, cond, max_batch)   # the same for every step and branch
        for index, (time, time_next) in enumerate(pairs):
            if should_stop is not None and should_stop():
                raise Cancelled()
            t = torch.full((shape[0],), time, device=device, dtype=torch.long)
            if known is not None:
                x = torch.where(known.mask, diffusion.q_sample(known.values, t, noise(shape, device)), x)
            x0 = diffusion.predict_x0(model, x, t, cond, music_weight, lyrics_weight, max_batch, encoded)
            if clip:
                x0 = x0.clamp(-1.0, 1.0)
            if time_next < 0:
                x = x0
            else:
                eps = diffusion.eps_from_x0(x, t, x0)
                alpha, alpha_next = alphas[time], alphas[time_next]
                sigma = eta * ((1 - alpha_next) / (1 - alpha) * (1 - alpha / alpha_next)).sqrt()
                # Zero in exact arithmetic when ᾱ_t is ~0 (the first step): clamp the rounding below it.
                x = alpha_next.sqrt() * x0 + (1 - alpha_next - sigma ** 2).clamp_min(0).sqrt() * eps
                if eta > 0:
                    x = x + sigma * noise(shape, device)
                if after_step is not None:
                    x = after_step(x)
            if on_step is not None:
                on_step((index + 1) / len(pairs))
    if known is not None:
        x = torch.where(known.mask, known.values, x)
    return x
