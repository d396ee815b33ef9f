"""Denoisers: `denoise(x, level) -> x0` callables over a batch of windows, and the wrappers the
network runs in while sampling. Each encodes the conditions once (they are the same at every level).

guided: the diffusion model with compositional classifier-free guidance over music and lyrics
(GaussianDiffusion.predict_x0); levels are integer DDPM steps.
student: a consistency-distilled model's f(x, σ) (lm2d.distill.consistency), guidance baked in;
levels are σ's. bfloat16 on CUDA.
Both take an optional EncodingMemo (lm2d.model.diffusion), for a caller that samples the same
windows again.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from lm2d.distill.consistency import ConsistencyConfig, SigmaToStep, consistency_function
from lm2d.errors import stop_if_asked
from lm2d.model.diffusion import (LYRICS_GUIDANCE, MUSIC_GUIDANCE, Conditioning, EncodingMemo,
                                  GaussianDiffusion, encode_in_chunks)
from lm2d.sampling.samplers import Denoise, step_batch


def guided(model: nn.Module, diffusion: GaussianDiffusion, cond: Conditioning,
           music_weight: float = MUSIC_GUIDANCE, lyrics_weight: float = LYRICS_GUIDANCE,
           max_batch: int | None = None, memo: EncodingMemo | None = None) -> Denoise:
    encoded = encode_in_chunks(model, cond, max_batch, memo)

    def denoise(x: Tensor, time: int) -> Tensor:
        return diffusion.predict_x0(model, x, step_batch(time, x), cond, music_weight, lyrics_weight,
                                    max_batch, encoded)
    return denoise


def student(model: nn.Module, cond: Conditioning, schedule: ConsistencyConfig,
            max_batch: int | None = None, bf16: bool = True, memo: EncodingMemo | None = None) -> Denoise:
    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and cond.music.device.type == "cuda")

    with autocast():
        encoded = encode_in_chunks(model, cond, max_batch, memo)
    to_step = SigmaToStep(GaussianDiffusion(model.config))

    def denoise(x: Tensor, sigma: float) -> Tensor:
        with autocast():
            return consistency_function(model, x, sigma, cond, schedule, to_step, max_batch, encoded).float()
    return denoise


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


@contextlib.contextmanager
def stopping(model: nn.Module, should_stop: Callable[[], bool] | None) -> Iterator[None]:
    """Check should_stop before every network call, not only between steps: one step on a long
    song is many calls (guidance branches x chunks of windows), and a cancel should not wait for
    all of them. The hook sits on the shared model, so it checks only this thread's calls: a job
    sampling beside this one (the server's rehearsal beside a request) is not stopped by it."""
    if should_stop is None:
        yield
        return
    owner = threading.get_ident()

    def check(module, inputs) -> None:
        if threading.get_ident() == owner:
            stop_if_asked(should_stop)
    handle = model.register_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()
