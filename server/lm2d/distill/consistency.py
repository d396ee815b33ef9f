"""Consistency models on top of the LM2D diffusion denoiser (Song et al. 2023; Luo et al. 2023).

Noise levels. The teacher was trained on a cosine DDPM schedule: x_t = sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·ε.
Dividing by sqrt(ᾱ_t) gives the variance-exploding form consistency models use, x_σ = x0 + σ·ε with
σ = sqrt((1-ᾱ_t)/ᾱ_t), so x_t = x_σ / sqrt(1 + σ²). `SigmaToStep` maps any σ back to a
fractional DDPM step (the denoiser embeds float steps), interpolating log σ over the teacher's table.

The teacher's x0 predictor in σ terms is G(x, σ) = Denoiser(x / sqrt(1 + σ²), t(σ)).

Student. Song et al.'s boundary parameterisation is f(x, σ) = c_skip(σ)·x + c_out(σ)·F(x, σ) with
c_skip = σ_d²/((σ-ε)² + σ_d²), c_out = (σ-ε)·σ_d/sqrt(σ² + σ_d²), so f(x, ε) = x exactly. We take
F to be the teacher's network written in EDM's preconditioning, F = (G − c_skip^EDM·x) / c_out^EDM
(c^EDM: the same formulas with ε = 0). Substituting,

    f(x, σ) = c_skip(σ)·x + (σ − ε)/σ · (G(x, σ) − c_skip^EDM(σ)·x),

which is exactly x at σ = ε and approaches G wherever σ ≫ ε: a student initialised from the
teacher starts as the teacher's own one-step x0 guess, not as a rescaled version of it. F keeps
the teacher's input scaling 1/sqrt(1 + σ²) instead of c_in = 1/sqrt(σ² + σ_d²), because that is
what its weights were trained on.

Guidance is baked in (latent consistency models): the teacher's ODE step uses the guided x0
(GaussianDiffusion.predict_x0 with fixed music and lyrics weights), and the student is always
conditioned, so one student evaluation stands for three guided teacher branches.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from lm2d.errors import LM2DError
from lm2d.model.diffusion import (LYRICS_GUIDANCE, MUSIC_GUIDANCE, Conditioning, EncodedConditioning,
                                  GaussianDiffusion, encode_in_chunks, evaluate_in_chunks)

DISTANCES = ("pseudo_huber", "l2")
DISTILLATION_KEY = "distillation"    # where a consistency checkpoint keeps its ConsistencyConfig


@dataclass(frozen=True)
class ConsistencyConfig:
    """The consistency-distillation settings; saved in the checkpoint, read back by the sampler."""
    sigma_min: float = 0.002         # ε: where f is the identity
    sigma_max: float = 80.0          # where one-step sampling starts
    sigma_data: float = 0.5
    rho: float = 7.0
    n_scales: int = 18               # N, points of the Karras grid (Song et al.'s best for CD with L2)
    target_ema: float = 0.95         # μ of the target network θ⁻
    distance: str = "l2"             # "l2" (mean squared error) or "pseudo_huber" (Song & Dhariwal 2023)
    huber_c: float | None = None     # None: 0.00054·sqrt(values per window), as Song & Dhariwal
    music_weight: float = MUSIC_GUIDANCE     # guidance baked into the teacher's ODE step
    lyrics_weight: float = LYRICS_GUIDANCE
    default_steps: int = 2           # what samplers use when not told otherwise
    gesture_weight: float = 0.0      # extra loss weight of frames inside lyric gestures (1 + this)

    def __post_init__(self):
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min} and {self.sigma_max}")
        if self.sigma_data <= 0 or self.rho <= 0:
            raise ValueError("sigma_data and rho must be positive")
        if self.n_scales < 2:
            raise ValueError(f"n_scales must be at least 2, got {self.n_scales}")
        if self.gesture_weight < 0:
            raise ValueError(f"gesture_weight must not be negative, got {self.gesture_weight}")
        if not 0.0 <= self.target_ema < 1.0:
            raise ValueError(f"target_ema must be in [0, 1), got {self.target_ema}")
        if self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {self.distance!r}")
        if not 1 <= self.default_steps <= self.n_scales - 1:
            raise ValueError(f"default_steps must be between 1 and n_scales - 1 = {self.n_scales - 1}, "
                             f"got {self.default_steps}")

    def sigmas(self) -> Tensor:
        return karras_sigmas(self.n_scales, self.sigma_min, self.sigma_max, self.rho)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ConsistencyConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown consistency setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


def consistency_settings(loaded) -> ConsistencyConfig:
    """The σ schedule, baked guidance and default steps a consistency checkpoint (a LoadedModel)
    was distilled with."""
    if loaded.kind != "consistency":
        raise LM2DError(f"this is a {loaded.kind!r} checkpoint, not a consistency-distilled one")
    stored = loaded.meta.get("training", {}).get(DISTILLATION_KEY)
    if not isinstance(stored, dict):
        raise LM2DError(f'consistency checkpoint without its "training.{DISTILLATION_KEY}" settings')
    try:
        return ConsistencyConfig.from_dict(stored)
    except (TypeError, ValueError) as err:
        raise LM2DError(f"bad consistency settings in the checkpoint: {err}") from err


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float) -> Tensor:
    """(n,) float64 noise levels from sigma_max down to sigma_min (Karras et al. 2022):
    σ_i = (σ_max^(1/ρ) + i/(n−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ."""
    ramp = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (high + ramp * (low - high)) ** rho


def step_sigmas(grid: Tensor, steps: int) -> list[float]:
    """The σ's a k-step sampler evaluates at: k points evenly spaced in index along the descending
    Karras grid, starting at σ_max and never reaching the last point (ε, where f is the identity)."""
    last = len(grid) - 1
    if not 1 <= steps <= last:
        raise LM2DError(f"consistency sampling takes 1 to {last} steps for this model, got {steps}")
    return [float(grid[round(i * last / steps)]) for i in range(steps)]


def _per_window(sigma: Tensor | float, like: Tensor) -> Tensor:
    """σ (a number, or one per window in any shape) as a (B, 1, 1) tensor for (B, T, C) windows."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    return sigma.expand(like.shape[0]).reshape(-1, *([1] * (like.dim() - 1)))


def boundary_scalings(sigma: Tensor, sigma_min: float, sigma_data: float) -> tuple[Tensor, Tensor]:
    """(c_skip, c_out) of Song et al.: (1, 0) at σ = ε."""
    shifted = sigma - sigma_min
    c_skip = sigma_data ** 2 / (shifted ** 2 + sigma_data ** 2)
    c_out = shifted * sigma_data / (sigma ** 2 + sigma_data ** 2).sqrt()
    return c_skip, c_out


class SigmaToStep:
    """σ -> fractional DDPM step of the teacher's schedule (log-σ interpolation, clamped to the
    table: σ below the first step maps to step 0, above the last to the last)."""

    def __init__(self, diffusion: GaussianDiffusion):
        self.log_sigmas = diffusion.sigma_of(torch.arange(diffusion.steps)).double().log()

    def __call__(self, sigma: Tensor) -> Tensor:
        table = self.log_sigmas.to(sigma.device)
        log_sigma = sigma.double().log().clamp(float(table[0]), float(table[-1]))
        upper = torch.searchsorted(table, log_sigma.contiguous()).clamp(1, len(table) - 1)
        low, high = table[upper - 1], table[upper]
        fraction = (log_sigma - low) / (high - low)
        return (upper - 1 + fraction).float()


def ddpm_input(x: Tensor, sigma: Tensor) -> Tensor:
    """x_σ = x0 + σ·ε in the teacher's DDPM scale: x_t = x_σ / sqrt(1 + σ²)."""
    return x / (1 + sigma ** 2).sqrt()


def x0_prediction(model: nn.Module, x: Tensor, sigma: Tensor | float, cond: Conditioning, to_step: SigmaToStep,
                  drop_music: Tensor, drop_lyrics: Tensor, max_batch: int | None = None,
                  encoded: EncodedConditioning | None = None) -> Tensor:
    """G(x, σ): the denoiser's unguided x0 prediction for x at noise level σ (per window).
    encoded: the model's encode_conditions(cond), when the caller reuses it across evaluations."""
    sigma = _per_window(sigma, x)
    return evaluate_in_chunks(model, ddpm_input(x, sigma), to_step(sigma.flatten()), cond,
                              drop_music, drop_lyrics, max_batch, encoded)


def guided_x0(teacher: nn.Module, diffusion: GaussianDiffusion, x: Tensor, sigma: Tensor | float,
              cond: Conditioning, config: ConsistencyConfig, to_step: SigmaToStep,
              max_batch: int | None = None, encoded: EncodedConditioning | None = None) -> Tensor:
    """The teacher's classifier-free-guided x0 for x at noise level σ, with the config's weights."""
    sigma = _per_window(sigma, x)
    return diffusion.predict_x0(teacher, ddpm_input(x, sigma), to_step(sigma.flatten()), cond,
                                config.music_weight, config.lyrics_weight, max_batch, encoded)


def heun_step(teacher: nn.Module, diffusion: GaussianDiffusion, x: Tensor, sigma_from: Tensor | float,
              sigma_to: Tensor | float, cond: Conditioning, config: ConsistencyConfig, to_step: SigmaToStep,
              max_batch: int | None = None, encoded: EncodedConditioning | None = None) -> Tensor:
    """One Heun step of the guided probability-flow ODE dx/dσ = (x − x0(x, σ))/σ from σ_from to σ_to."""
    sigma_from, sigma_to = _per_window(sigma_from, x), _per_window(sigma_to, x)
    if encoded is None:   # both evaluations see the same conditions: encode them once
        encoded = encode_in_chunks(teacher, cond, max_batch)
    slope = (x - guided_x0(teacher, diffusion, x, sigma_from, cond, config, to_step, max_batch, encoded)) / sigma_from
    euler = x + (sigma_to - sigma_from) * slope
    slope_end = (euler - guided_x0(teacher, diffusion, euler, sigma_to, cond, config, to_step, max_batch,
                                   encoded)) / sigma_to
    return x + (sigma_to - sigma_from) * (slope + slope_end) / 2


def model_config(model: nn.Module):
    """The ModelConfig of a Denoiser, also through a DistributedDataParallel wrapper (.module)."""
    return getattr(model, "module", model).config


def condition_drops(model: nn.Module, cond: Conditioning) -> tuple[Tensor, Tensor]:
    """The student's (drop_music, drop_lyrics): music always kept; lyrics replaced by the null
    token exactly where the window has no words, as the guided teacher treats such windows."""
    device = cond.music.device
    keep_music = torch.zeros(len(cond), dtype=torch.bool, device=device)
    if not model_config(model).lyrics:
        return keep_music, keep_music
    return keep_music, ~cond.has_lyrics()


def consistency_function(model: nn.Module, x: Tensor, sigma: Tensor | float, cond: Conditioning,
                         config: ConsistencyConfig, to_step: SigmaToStep, max_batch: int | None = None,
                         encoded: EncodedConditioning | None = None) -> Tensor:
    """f(x, σ) = c_skip·x + (σ − ε)/σ·(G − c_skip^EDM·x) (module docstring); f(x, ε) = x."""
    sigma = _per_window(sigma, x)
    drop_music, drop_lyrics = condition_drops(model, cond)
    predicted = x0_prediction(model, x, sigma, cond, to_step, drop_music, drop_lyrics, max_batch, encoded)
    c_skip, _ = boundary_scalings(sigma, config.sigma_min, config.sigma_data)
    c_skip_edm, _ = boundary_scalings(sigma, 0.0, config.sigma_data)
    return c_skip * x + (sigma - config.sigma_min) / sigma * (predicted - c_skip_edm * x)


def consistency_distance(a: Tensor, b: Tensor, config: ConsistencyConfig, frame_weights: Tensor | None = None
                         ) -> Tensor:
    """d(a, b) averaged over windows: the mean squared error (l2), or pseudo-Huber
    sqrt(|a−b|² + c²) − c of each whole window's difference. frame_weights (B, T): how much
    each frame's squared difference counts, rescaled to average 1 so the loss keeps its scale."""
    difference = (a - b).float()
    if frame_weights is not None:
        difference = difference * (frame_weights / frame_weights.mean()).sqrt()[:, :, None]
    difference = difference.flatten(1)
    if config.distance == "l2":
        return difference.square().mean()
    c = config.huber_c if config.huber_c is not None else 0.00054 * math.sqrt(difference.shape[1])
    return ((difference.square().sum(1) + c * c).sqrt() - c).mean()
