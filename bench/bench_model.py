"""Cost of the default LM2D model on this machine: parameters, one network evaluation for every
window of a 3-minute song, one guided DDIM step, and DDIM-50 long-form generation of the song
(random weights and music features: the cost does not depend on them)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from lm2d.lyrics.tokens import SongLyricTokens
from lm2d.model import Conditioning, Denoiser, GaussianDiffusion, LoadedModel, ModelConfig, Normalizer
from lm2d.model.diffusion import encode_in_chunks
from lm2d.sampling import SamplingSettings, sample
from lm2d.sampling.denoisers import evaluating
from lm2d.sampling.windows import window_conditioning, window_starts

SONG_FRAMES = 3 * 60 * 30
FULL_RUN_BUDGET_S = 180.0     # run DDIM-50 in full only if it should finish within this


def synthetic_lyrics(frames: int, dim: int, words_per_second: float = 2.0) -> SongLyricTokens:
    """Tokens spread over the song like steady singing, one line every 4 s."""
    rng = np.random.default_rng(0)
    count = int(frames / 30 * words_per_second)
    token_frames = np.sort(rng.uniform(0, frames, count)).astype(np.float32)
    line_starts = np.arange(0, frames, 120, dtype=np.float32)
    return SongLyricTokens(embeddings=rng.normal(size=(count, dim)).astype(np.float32), frames=token_frames,
                           line_index=np.searchsorted(line_starts, token_frames, side="right") - 1,
                           line_embeddings=rng.normal(size=(len(line_starts), dim)).astype(np.float32),
                           line_start_frames=line_starts, line_end_frames=line_starts + 120)


def millions(model: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M"


def best_time(fn, repeats: int = 3) -> str:
    """Fastest of `repeats` runs: wall seconds, and the process's CPU seconds (all threads), which
    a busy machine inflates less than wall time."""
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    wall, cpu = min(runs)
    return f"{wall:.2f} s ({cpu:.2f} CPU-s)"


@dataclass
class RandomSong:
    """The default-size model with random weights and a 3-minute song of random music features and
    synthetic lyrics: what generation costs does not depend on either being trained or real."""
    config: ModelConfig
    model: Denoiser
    diffusion: GaussianDiffusion
    normalizer: Normalizer
    features: np.ndarray
    lyrics: SongLyricTokens

    @classmethod
    def make(cls) -> "RandomSong":
        torch.manual_seed(0)
        config = ModelConfig()
        normalizer = Normalizer.fit(np.random.default_rng(0).uniform(-1, 1, size=(64, config.channels)))
        features = np.random.default_rng(1).normal(size=(SONG_FRAMES, config.music_dim)).astype(np.float32)
        return cls(config, Denoiser(config).eval(), GaussianDiffusion(config), normalizer, features,
                   synthetic_lyrics(SONG_FRAMES, config.text_dim))

    def ddim(self, steps: int):
        loaded = LoadedModel(self.model, self.config, self.normalizer, self.diffusion, {"kind": "diffusion"})
        return sample(loaded, self.features, self.lyrics, settings=SamplingSettings.for_model(loaded, steps))

    def ddim50_seconds(self, budget_s: float, probe_steps: int) -> tuple[float, str]:
        """Wall time of guided DDIM-50 over the song: measured when a `probe_steps` run predicts it
        finishes within `budget_s`, else extrapolated from the probe (the label says which)."""
        started = time.perf_counter()
        self.ddim(probe_steps)
        estimate = (time.perf_counter() - started) / probe_steps * 50
        if estimate > budget_s:
            return estimate, f"EXTRAPOLATED from a {probe_steps}-step run"
        started = time.perf_counter()
        motion = self.ddim(50)
        assert motion.n_frames == SONG_FRAMES
        return time.perf_counter() - started, "measured"


def run() -> list[tuple[str, str]]:
    song = RandomSong.make()
    config, model, diffusion = song.config, song.model, song.diffusion
    starts = window_starts(SONG_FRAMES, config.n_frames)
    cond: Conditioning = window_conditioning(song.features, song.lyrics, starts, config)
    x = torch.randn(len(starts), config.n_frames, config.channels)
    t = torch.full((len(starts),), 500)
    rows = [("parameters (default: 4 layers x 256, lyrics on)", millions(model)),
            ("parameters (music-only baseline, lyrics=False)", millions(Denoiser(ModelConfig(lyrics=False)))),
            ("windows in a 3-min song (150 frames, stride 75)", str(len(starts)))]

    with evaluating(model):
        evaluation = best_time(lambda: model(x, t, cond.music, cond.lyric_emb, cond.lyric_frames, cond.lyric_mask))
        encoded = encode_in_chunks(model, cond, max_batch=64)
        guided_step = best_time(lambda: diffusion.predict_x0(model, x, t, cond, 2.0, 2.0, 64, encoded), repeats=2)
    rows += [("one network evaluation, all windows of the song", evaluation),
             ("one guided DDIM step (3 branches; conditions encoded once per song, as sampling does)",
              guided_step)]

    seconds, label = song.ddim50_seconds(FULL_RUN_BUDGET_S, probe_steps=2)
    rows.append((f"DDIM-50 long-form, 3-min song with lyrics ({label})", f"{seconds:.1f} s"))
    rows.append(("torch threads; load average at the end (timings assume an idle machine)",
                 f"{torch.get_num_threads()}; {os.getloadavg()[0]:.1f}"))
    return rows


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
