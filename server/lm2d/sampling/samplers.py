"""The samplers and the one step loop, in k-diffusion's manner.

A sampler is one function that returns a `Plan`: the noise level of each denoiser call, how the
start noise becomes x at the first level, how clean values look at a level (for in-painting), and
how x moves on to the next level once the denoiser has predicted the clean x0. `run` is the only
loop: it calls `denoise(x, level)` once per level and composes the shared concerns around it, so no
sampler writes them again:

    for each level:  in-painting (kept values re-noised to the level) ─► x0 = denoise(x, level)
                     ─► clip x0 to [-1, 1] ─► advance to the next level ─► between(x) (overlap ties)
                     ─► on_step(fraction done)
    the end:         kept values written back exactly

Guidance is the denoiser's business (lm2d.sampling.denoisers.guided), cancellation too (a check
before every network call, lm2d.sampling.denoisers.stopping). To add a sampler, write one function
like `ddim` below and give it a name in lm2d.sampling.song.plan_for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from lm2d.distill.consistency import ConsistencyConfig, step_sigmas
from lm2d.model.diffusion import GaussianDiffusion

Noise = Callable[[], Tensor]                       # a fresh standard-normal draw shaped like x
Denoise = Callable[[Tensor, Any], Tensor]          # (x at a level, level) -> predicted clean x0

# DDIM's noise level: 1 re-injects fresh noise every step (DDPM-like), as EDGE samples; on the
# validation songs it aligned the teacher's steps with the beat better than deterministic DDIM (0)
# at the same FID (docs/MODEL_CARD.md). Sampling stays reproducible: the noise comes from the seed.
DDIM_ETA = 1.0
DDIM_STEPS = 50          # a diffusion checkpoint's default steps


@dataclass(frozen=True)
class Plan:
    levels: list                                          # passed to denoise, noisiest first
    start: Callable[[Tensor], Tensor]                     # standard-normal z -> x at levels[0]
    noised: Callable[[Tensor, Any, Tensor], Tensor]       # (clean, level, z) -> clean noised to level
    advance: Callable[[Tensor, Tensor, int, Noise], Tensor]   # (x, x0, i, noise) -> x at levels[i + 1]


@dataclass
class Known:
    """In-painting constraint (EDGE's editing): `values` (B, T, C) normalised clean frames and a
    bool `mask` broadcastable to them, True where the values are kept (joints, frames, or both)."""
    values: Tensor
    mask: Tensor

    def to(self, device) -> "Known":
        return Known(self.values.to(device), self.mask.to(device))


def run(plan: Plan, denoise: Denoise, z: Tensor, noise: Noise, known: Known | None = None,
        between: Callable[[Tensor], Tensor] | None = None, on_step: Callable[[float], None] | None = None,
        clip: bool = True) -> Tensor:
    """x0 after the plan's levels, from the start noise z. known: in-painting, re-imposed before
    every denoiser call (re-noised to its level) and exact in the result. between(x): applied to x
    after every step but the last. clip: clamp each x0 to [-1, 1], the normalised data range (EDGE)."""
    x = plan.start(z)
    known = None if known is None else known.to(z.device)
    for index, level in enumerate(plan.levels):
        if known is not None:
            x = torch.where(known.mask, plan.noised(known.values, level, noise()), x)
        x0 = denoise(x, level)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        if index + 1 == len(plan.levels):
            x = x0
        else:
            x = plan.advance(x, x0, index, noise)
            if between is not None:
                x = between(x)
        if on_step is not None:
            on_step((index + 1) / len(plan.levels))
    if known is not None:
        x = torch.where(known.mask, known.values, x)
    return x


# --- the samplers -------------------------------------------------------------------------

def ddim_timesteps(diffusion_steps: int, steps: int) -> list[tuple[int, int]]:
    """(t, t_next) pairs from diffusion_steps-1 down to -1 (= clean), spaced as in EDGE."""
    times = torch.linspace(-1, diffusion_steps - 1, steps + 1).long().flip(0).tolist()
    return list(zip(times[:-1], times[1:]))


def ddim(diffusion: GaussianDiffusion, steps: int, eta: float = DDIM_ETA) -> Plan:
    """DDIM (Song et al. 2021) over the teacher's integer steps. eta = 0 is deterministic DDIM,
    eta = 1 DDPM-like. Levels are step indices; x is in the DDPM scale sqrt(ᾱ)·x0 + sqrt(1-ᾱ)·ε."""
    pairs = ddim_timesteps(diffusion.steps, steps)
    alphas = diffusion.alphas_cumprod

    def noised(clean: Tensor, time: int, z: Tensor) -> Tensor:
        return diffusion.q_sample(clean, step_batch(time, clean), z)

    def advance(x: Tensor, x0: Tensor, index: int, noise: Noise) -> Tensor:
        time, time_next = pairs[index]
        eps = diffusion.eps_from_x0(x, step_batch(time, x), x0)
        alpha, alpha_next = alphas[time], alphas[time_next]
        sigma = eta * ((1 - alpha_next) / (1 - alpha) * (1 - alpha / alpha_next)).sqrt()
        # Zero in exact arithmetic when ᾱ_t is ~0 (the first step): clamp the rounding below it.
        x = alpha_next.sqrt() * x0 + (1 - alpha_next - sigma ** 2).clamp_min(0).sqrt() * eps
        return x + sigma * noise() if eta > 0 else x

    return Plan([time for time, _ in pairs], start=lambda z: z, noised=noised, advance=advance)


def consistency(schedule: ConsistencyConfig, steps: int) -> Plan:
    """k-step consistency sampling (Song et al. 2023, Algorithm 1): x = f(σ_1·z, σ_1); then for each
    further σ_i, x = f(x + sqrt(σ_i² − ε²)·z, σ_i). The σ_i are k points evenly spaced in index
    along the Karras grid the student was distilled on (2 steps on the 18-point grid: 80, 3.26)."""
    sigmas = step_sigmas(schedule.sigmas(), steps)

    def advance(x: Tensor, x0: Tensor, index: int, noise: Noise) -> Tensor:
        return x0 + math.sqrt(sigmas[index + 1] ** 2 - schedule.sigma_min ** 2) * noise()

    return Plan(sigmas, start=lambda z: sigmas[0] * z, noised=lambda clean, sigma, z: clean + sigma * z,
                advance=advance)


def step_batch(time: int, like: Tensor) -> Tensor:
    """The integer step `time` for each of like's windows."""
    return torch.full((like.shape[0],), time, device=like.device, dtype=torch.long)


def noise_source(seed: int | None, shape: tuple, device, rows: Tensor | None = None) -> Noise:
    """Standard-normal draws from a private CPU generator, so a seed gives the same noise on any
    device and does not disturb the global RNG. rows: draw for all shape[0] windows and keep these
    (an index or bool mask), so each window's noise is the same whichever others are sampled."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    if rows is None:
        return lambda: torch.randn(shape, generator=generator).to(device)
    return lambda: torch.randn(shape, generator=generator)[rows].to(device)
