"""A whole song (or an edit of one) from a checkpoint: the one sampling entry point.

    features, tokens ─► windows (lm2d.sampling.windows) ─► the checkpoint's plan and denoiser
        ─► run (in-painting for an edit, overlap ties between steps) ─► unnormalise, stitch
        ─► an edit: kept values restored exactly, seams blended (lm2d.sampling.inpainting)

The CLI, the server, the evaluation suite, the benches and the tests all come through `sample`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from lm2d.distill.consistency import consistency_settings
from lm2d.errors import LM2DError
from lm2d.limits import MAX_GUIDANCE, MAX_SEED
from lm2d.model.checkpoint import LoadedModel
from lm2d.model.diffusion import LYRICS_GUIDANCE, MUSIC_GUIDANCE, Conditioning, EncodingMemo
from lm2d.motion.representation import FPS, Motion
from lm2d.sampling import denoisers, samplers
from lm2d.sampling.inpainting import Kept
from lm2d.sampling.samplers import DDIM_STEPS, Known, Plan
from lm2d.sampling.windows import (check_music_features, stitch_windows, tie_overlaps, window_conditioning,
                                   window_starts)
from lm2d.validate.numbers import check_number

MAX_BATCH = 64                     # windows per network call: bounds memory on long songs
# On a CPU, smaller calls keep each layer's activations in cache: 24 windows per call sampled a
# 3-minute song 17% faster than 64 on the bench machine, with the same values bit for bit (each
# window is its own rows of every matrix product).
CPU_WINDOWS_PER_CALL = 24


@dataclass(frozen=True)
class SamplingSettings:
    steps: int
    music_guidance: float          # a consistency student has its guidance baked in and ignores these
    lyrics_guidance: float
    seed: int | None

    @classmethod
    def for_model(cls, loaded: LoadedModel, steps: int | None = None, music_guidance: float | None = None,
                  lyrics_guidance: float | None = None, seed: int | None = 0) -> "SamplingSettings":
        """Defaults filled in from the checkpoint; steps checked (here only) before any work is done."""
        steps = default_steps(loaded) if steps is None else int(steps)
        limit = (consistency_settings(loaded).n_scales - 1 if loaded.kind == "consistency"
                 else loaded.config.diffusion_steps)
        if not 1 <= steps <= limit:
            raise LM2DError(f"steps must be between 1 and {limit} for this {loaded.kind} model, got {steps}")
        for name, weight in (("music guidance", music_guidance), ("lyrics guidance", lyrics_guidance)):
            if weight is not None:   # NaN or huge weights give an all-NaN dance
                check_number(weight, name, -MAX_GUIDANCE, MAX_GUIDANCE)
        if seed is not None:
            check_number(seed, "seed", 0, MAX_SEED, integer=True)
        return cls(steps, MUSIC_GUIDANCE if music_guidance is None else float(music_guidance),
                   LYRICS_GUIDANCE if lyrics_guidance is None else float(lyrics_guidance),
                   None if seed is None else int(seed))


def default_steps(loaded: LoadedModel) -> int:
    return consistency_settings(loaded).default_steps if loaded.kind == "consistency" else DDIM_STEPS


def plan_for(loaded: LoadedModel, steps: int) -> Plan:
    """The checkpoint's sampler: DDIM for a diffusion model, k-step consistency for a student."""
    if loaded.kind == "consistency":
        return samplers.consistency(consistency_settings(loaded), steps)
    return samplers.ddim(loaded.diffusion, steps)


def denoiser_for(loaded: LoadedModel, cond, settings: SamplingSettings, max_batch: int | None,
                 memo: EncodingMemo | None = None):
    if loaded.kind == "consistency":
        return denoisers.student(loaded.model, cond, consistency_settings(loaded), max_batch, memo=memo)
    return denoisers.guided(loaded.model, loaded.diffusion, cond, settings.music_guidance,
                            settings.lyrics_guidance, max_batch, memo)


def sample_windows(loaded: LoadedModel, cond: Conditioning, settings: SamplingSettings, known: Known | None = None,
                   between: Callable[[Tensor], Tensor] | None = None,
                   on_progress: Callable[[float], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, max_batch: int | None = MAX_BATCH,
                   memo: EncodingMemo | None = None, rows: Tensor | None = None) -> Tensor:
    """(B, n_frames, channels) normalised windows for the conditioning batch, the checkpoint's way
    (lm2d.sampling.samplers.run with plan_for and denoiser_for). The same seed gives the same
    windows on any device. memo: reuse an encoding of these same windows (EncodingMemo). rows:
    sample only these windows (bool mask over the batch; cond and known cover them all), each
    with the noise it would have in the whole batch."""
    device = next(loaded.model.parameters()).device
    shape = (len(cond), cond.music.shape[1], loaded.config.channels)
    if rows is not None:
        cond = cond[rows]
        known = None if known is None else Known(known.values[rows], known.mask[rows])
    cond = cond.to(device)
    if device.type == "cpu":
        max_batch = min(max_batch or CPU_WINDOWS_PER_CALL, CPU_WINDOWS_PER_CALL)
    noise = samplers.noise_source(settings.seed, shape, device, rows)
    with denoisers.evaluating(loaded.model), denoisers.stopping(loaded.model, should_stop):
        denoise = denoiser_for(loaded, cond, settings, max_batch, memo)
        return samplers.run(plan_for(loaded, settings.steps), denoise, noise(), noise, known=known,
                            between=between, on_step=on_progress)


def sample(loaded: LoadedModel, features: np.ndarray, tokens=None, kept: Kept | None = None,
           settings: SamplingSettings | None = None, on_progress: Callable[[float], None] | None = None,
           should_stop: Callable[[], bool] | None = None, max_batch: int = MAX_BATCH,
           memo: EncodingMemo | None = None) -> Motion:
    """The dance for (T, music_dim) features at 30 FPS and the lyric tokens on the same frame axis
    (lm2d.lyrics.encode_song_lyrics; None: no lyrics). Without `kept`: a Motion of T frames. With
    it: kept.length frames (features must cover them, from the kept motion's first frame), what it
    keeps verbatim, the rest regenerated by in-painting the windows that hold anything to regenerate.

    settings: default the checkpoint's (SamplingSettings.for_model). on_progress(fraction) after
    each step; should_stop() -> True cancels (lm2d.errors.Cancelled) before the next network call.
    max_batch bounds how many windows go through the network at once (memory only). memo: an
    EncodingMemo shared by passes over the same song (lm2d.structure.repeat), which then encode
    its conditions once."""
    config = loaded.config
    settings = settings or SamplingSettings.for_model(loaded)
    features = check_music_features(features, config.music_dim)
    length = features.shape[0] if kept is None else kept.length
    if features.shape[0] < length:
        raise LM2DError(f"the music features have {features.shape[0]} frames; this edit needs {length}")
    starts = window_starts(length, config.n_frames)
    cond = window_conditioning(features[:length], tokens if config.lyrics else None, starts, config)

    if kept is None:
        windows = sample_windows(loaded, cond, settings, None, tie_overlaps, on_progress, should_stop, max_batch,
                                 memo)
    else:   # only the windows that hold something to regenerate go through the network
        chosen = kept.windows_to_sample(starts, config)
        starts, cond = starts[chosen], cond[chosen]
        known = kept.known(loaded.normalizer, starts, config)
        # A window between them that keeps every value would come out as exactly its kept values.
        # Tying the sampled windows as if they were neighbours is harmless: a window after a skipped
        # one has its head on that window's kept frames, re-imposed before every network call.
        sampled = ~known.mask.flatten(1).all(dim=1)
        windows = known.values.clone()
        windows[sampled] = sample_windows(loaded, cond, settings, known, tie_overlaps, on_progress, should_stop,
                                          max_batch, memo, sampled).float().cpu()
    offset = starts[0]
    motion = stitch_windows(loaded.normalizer.unnormalize(windows.float().cpu())[..., config.contact_dim:],
                            length=length - offset, fps=FPS)
    return motion if kept is None else kept.restore(motion, offset)
