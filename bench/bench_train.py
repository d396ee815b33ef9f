"""Training throughput (windows per second) of the shipped configs on this machine.

Each step is a full Trainer.train_step: diffusion noising, forward, EDGE's four losses (with
forward kinematics), backward, gradient clipping, AdamW and the EMA update. Batches are real
motion (the shared SMPL sample) with synthetic music features and lyric tokens: the data
pipeline only slices in-memory arrays, so the network dominates.

CPU runs are timed with one thread and with every core: on a shared machine the all-core figure
collapses when another process holds a core (OpenMP threads then wait on each other), which the
one-thread figure shows up.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lm2d.model.normalizer import Normalizer
from lm2d.motion.io import load_motion
from lm2d.train.config import RunConfig, load_run_config
from lm2d.train.distributed import init_distributed
from lm2d.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "motion" / "smpl_sample_127f.pkl"
BATCH = 32
WARMUP_STEPS = 2
TIMED_STEPS = 8


def motion_frames(n_frames: int) -> np.ndarray:
    """(n_frames, 151) contacts + motion from the shared sample, played back and forth."""
    motion = load_motion(SAMPLE)
    x = np.concatenate([motion.foot_contacts().astype(np.float32), motion.to_vector()], axis=1)
    order = np.concatenate([np.arange(len(x)), np.arange(len(x) - 2, 0, -1)])
    return x[np.resize(order, n_frames)]


def synthetic_batch(config: RunConfig, normalizer: Normalizer, frames: np.ndarray, device) -> dict:
    model, generator = config.model, torch.Generator().manual_seed(0)
    x = torch.as_tensor(normalizer.normalize(frames)).expand(BATCH, -1, -1).contiguous()
    k = model.max_lyric_tokens if model.lyrics else 0
    batch = {
        "x": x,
        "music": torch.randn(BATCH, model.n_frames, model.music_dim, generator=generator),
        "lyric_emb": torch.randn(BATCH, k, model.text_dim, generator=generator),
        "lyric_frames": torch.sort(torch.rand(BATCH, k, generator=generator) * model.n_frames).values,
        "lyric_mask": torch.arange(k).expand(BATCH, k) < k // 2,
    }
    return {name: value.to(device) for name, value in batch.items()}


def windows_per_second(config_name: str, threads: int) -> tuple[float, int]:
    config = load_run_config(REPO / "configs" / f"{config_name}.json").replace_train(batch_size=BATCH)
    ctx = init_distributed("auto")
    frames = motion_frames(config.model.n_frames)
    normalizer = Normalizer.fit(frames)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(config, normalizer, run_dir, ctx, progress=False)
            batch = synthetic_batch(config, normalizer, frames, ctx.device)
            for _ in range(WARMUP_STEPS):
                trainer.train_step(batch)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(TIMED_STEPS):
                trainer.train_step(batch)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous_threads)
    parameters = sum(p.numel() for p in trainer.model.parameters())
    return TIMED_STEPS * BATCH / elapsed, parameters


def run() -> list[tuple[str, str]]:
    cores = os.cpu_count() or 1
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        runs = [("lm2d", cores, gpu), ("edge_baseline", cores, gpu)]
    else:
        runs = [("lm2d", 1, "CPU, 1 thread"), ("lm2d", cores, f"CPU, {cores} threads"),
                ("edge_baseline", 1, "CPU, 1 thread")]
    rows = [("batch", f"{BATCH} windows of 150 frames, {TIMED_STEPS} timed steps after {WARMUP_STEPS}")]
    for name, threads, where in runs:
        rate, parameters = windows_per_second(name, threads)
        rows.append((f"configs/{name}.json ({parameters / 1e6:.1f} M params), {where}",
                     f"{rate:.1f} windows/s ({BATCH / rate:.2f} s/step)"))
    return rows


if __name__ == "__main__":
    for measurement, value in run():
        print(f"{measurement}: {value}")
