"""Consistency distillation: what one-step sampling buys, and what it costs.

run(): wall time of the default-size model (configs/lm2d.json's architecture, random weights,
random music features, synthetic lyric tokens: the cost depends on none of them) on a 3-minute
song (5400 frames, 71 windows of 150): the distilled sampler at 1, 2 and 4 steps against the
teacher's guided DDIM-50 (two guidance branches per step: with music and lyrics weighted
equally, the music-only branch drops out). DDIM-50 runs in full when a 5-step probe predicts
it finishes within FULL_RUN_BUDGET_S, else it is extrapolated from the probe and says so.

quality() (python bench/bench_distill.py --quality): trains a small teacher on a corpus of real
music clips with the shared SMPL sample as their motion (tests/test_dataset.write_dataset),
distils it, and scores teacher DDIM-50, teacher DDIM-k and student k-step samples on 40-second
excerpts of the shared songs. Its table is in docs/DISTILLATION.md.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(BENCH))
from bench_model import SONG_FRAMES, RandomSong, best_time  # noqa: E402  (a sibling bench module)

FULL_RUN_BUDGET_S = 240.0
PROBE_STEPS = 5


def consistency_model(model, config, normalizer, diffusion):
    """A LoadedModel of kind "consistency" around `model` with the default distillation settings."""
    from lm2d.distill.consistency import DISTILLATION_KEY, ConsistencyConfig
    from lm2d.model.checkpoint import LoadedModel

    meta = {"kind": "consistency", "training": {DISTILLATION_KEY: ConsistencyConfig().to_dict()}}
    return LoadedModel(model, config, normalizer, diffusion, meta)


def run() -> list[tuple[str, str]]:
    from lm2d.sampling import SamplingSettings, sample

    song = RandomSong.make()
    student = consistency_model(song.model, song.config, song.normalizer, song.diffusion)
    rows = [("song", f"{SONG_FRAMES} frames (3 min), random features + synthetic lyrics, default 4x256 model")]
    one_step = None
    for steps in (1, 2, 4):
        timing = best_time(lambda: sample(student, song.features, song.lyrics,
                                         settings=SamplingSettings.for_model(student, steps)), repeats=3)
        rows.append((f"consistency sampling, {steps} step(s), whole song", timing))
        one_step = one_step or float(timing.split()[0])

    teacher, label = song.ddim50_seconds(FULL_RUN_BUDGET_S, PROBE_STEPS)
    rows += [(f"teacher DDIM-50 (guided), whole song ({label})", f"{teacher:.1f} s"),
             ("speed-up, one-step student vs DDIM-50 teacher (target >= 40x)", f"{teacher / one_step:.0f}x"),
             ("torch threads; load average at the end", f"{torch.get_num_threads()}; {os.getloadavg()[0]:.1f}")]
    return rows


# --- quality vs steps ---------------------------------------------------------------------------

QUALITY_CONFIG = {"n_frames": 60, "latent_dim": 64, "ff_dim": 128, "n_layers": 2, "n_heads": 2, "dropout": 0.0,
                  "max_lyric_tokens": 16}
TEACHER_STEPS, STUDENT_STEPS, BATCH, STUDENT_LR = 3000, 3000, 16, 5e-4
EVAL_SECONDS, SEEDS, STEPS = 40.0, (0, 1, 2), (1, 2, 4, 8)
# (audio under ../shared/data, start second, timed lyrics or None)
EVAL_SONGS = (("songs/on_the_run/audio.ogg", 0.0, "songs/on_the_run/song.txt"),
              ("music/Karissa_Hobbs_-_Lets_Go_Fishin.ogg", 30.0, None),
              ("music/Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", 40.0, None))


def training_corpus(root: Path) -> Path:
    """Twelve 8-second clips (three pieces of music at four offsets, some with LRC lyrics), each
    danced with the shared SMPL sample played back and forth."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_dataset import CLIPS, write_dataset

    clips = [(f"{clip_id}{offset:.0f}", music, start + offset, lyrics, fmt)
             for clip_id, music, start, lyrics, fmt in CLIPS for offset in (0.0, 8.0, 16.0, 24.0)]
    return write_dataset(root, SHARED, clips=clips, test_clips=clips[:1])


def evaluation_songs(root: Path, encoder) -> list[tuple[np.ndarray, object]]:
    """(music features, lyric tokens or None) of a 40-second excerpt of each EVAL_SONGS entry."""
    import soundfile as sf

    from lm2d.features import extract_features
    from lm2d.lyrics import encode_song_lyrics, load_lyrics
    from lm2d.song import Song

    songs = []
    for index, (name, start, lyrics) in enumerate(EVAL_SONGS):
        info = sf.info(SHARED / name)
        samples, rate = sf.read(SHARED / name, start=int(start * info.samplerate),
                                frames=int(EVAL_SECONDS * info.samplerate), dtype="float32")
        sf.write(root / f"song{index}.wav", samples, rate)
        tokens = None if lyrics is None else encode_song_lyrics(load_lyrics(SHARED / lyrics, Song(SHARED / name)), encoder)
        songs.append((extract_features(root / f"song{index}.wav").features, tokens))
    return songs


def windows_and_motion(loaded, features, tokens, steps, seed, sampler):
    """The raw (unnormalised) windows and the stitched Motion of one long-form sample."""
    from lm2d.sampling.windows import stitch_windows, tie_overlaps, window_conditioning, window_starts

    config = loaded.config
    starts = window_starts(len(features), config.n_frames)
    cond = window_conditioning(features, tokens, starts, config)
    windows = sampler(loaded, cond, steps, seed, tie_overlaps)
    motion_windows = loaded.normalizer.unnormalize(windows.float())[..., config.contact_dim:]
    return motion_windows, stitch_windows(motion_windows, length=len(features))


def overlap_disagreement(motion_windows: torch.Tensor) -> float:
    """Mean joint distance (m) between the tail of each window and the head of the next: the two
    motions the final cross-fade blends (0 when the overlap tie made them agree)."""
    from lm2d.train.losses import joint_positions

    joints = joint_positions(motion_windows.double())
    half = motion_windows.shape[1] // 2
    return float((joints[:-1, half:] - joints[1:, :half]).norm(dim=-1).mean())


# A bench sampler: (loaded, cond, steps, seed, between) -> (B, T, C) normalised windows, guidance 2 / 2.

def checkpoint_sampler(loaded, cond, steps, seed, between):
    """The checkpoint's own sampler (lm2d.sampling: the student's k-step sampling)."""
    from lm2d.sampling import SamplingSettings
    from lm2d.sampling.song import sample_windows

    return sample_windows(loaded, cond, SamplingSettings(steps, 2.0, 2.0, seed), between=between)


def deterministic_ddim(loaded, cond, steps, seed, between):
    """DDIM with eta 0: only the start noise is drawn."""
    from lm2d.sampling import ddim, run
    from lm2d.sampling.denoisers import evaluating, guided
    from lm2d.sampling.samplers import noise_source

    noise = noise_source(seed, (len(cond), cond.music.shape[1], loaded.config.channels), "cpu")
    with evaluating(loaded.model):
        denoise = guided(loaded.model, loaded.diffusion, cond, 2.0, 2.0, 64)
        return run(ddim(loaded.diffusion, steps, eta=0.0), denoise, noise(), noise, between=between)


def teacher_ode_sampler(schedule):
    """The distillation target as a sampler: the teacher's guided probability-flow ODE solved with
    Heun steps over the whole Karras grid from σ_max·z (2·(N−1) guided evaluations)."""
    from lm2d.distill.consistency import SigmaToStep, heun_step
    from lm2d.sampling.samplers import noise_source

    def sample(loaded, cond, steps, seed, between):
        model, diffusion = loaded.model, loaded.diffusion
        grid, to_step = schedule.sigmas().tolist(), SigmaToStep(diffusion)
        x = grid[0] * noise_source(seed, (len(cond), cond.music.shape[1], model.config.channels), "cpu")()
        with torch.no_grad():
            for index, (high, low) in enumerate(zip(grid[:-1], grid[1:])):
                x = heun_step(model, diffusion, x, high, low, cond, schedule, to_step, 64)
                if index < len(grid) - 2:
                    x = between(x)
        return x.clamp(-1.0, 1.0)
    return sample


def mean_joint_error(joints, reference) -> float:
    """Mean pelvis-relative joint distance (m) between paired samples."""
    return float(np.mean([np.linalg.norm((j - j[:, :1]) - (r - r[:, :1]), axis=-1).mean()
                          for j, r in zip(joints, reference)]))


def score(label, samples, references, beats):
    """One table row from a sampler's [(joints, disagreement, seconds)] over songs x seeds;
    references: {column: the paired joints to measure the distance to}."""
    from lm2d.evaluation.beat_align import beat_alignment_score, kinetic_velocity
    from lm2d.evaluation.features_kinetic import kinetic_features
    from lm2d.evaluation.fid import diversity
    from lm2d.evaluation.foot_contact import physical_foot_contact

    joints = [s[0] for s in samples]
    steps = [kinetic_velocity(j) for j in joints]
    return {"sampler": label,
            **{column: mean_joint_error(joints, reference) for column, reference in references.items()},
            "BAS": np.mean([beat_alignment_score(j, b) for j, b in zip(joints, beats)]),
            "PFC": np.mean([physical_foot_contact(j) for j in joints]),
            "Div_k": diversity(np.stack([kinetic_features(j) for j in joints])),
            "overlap disagreement (m)": np.mean([s[1] for s in samples]),
            "max/median frame step": np.mean([v.max() / np.median(v) for v in steps]),
            "s per 40-s song": np.mean([s[2] for s in samples])}


def quality(work: Path | None = None) -> list[dict]:
    """The quality table. work: a folder to build in and to reuse from (a teacher or student
    checkpoint already there is loaded instead of trained); default a new temporary folder."""
    from lm2d.distill.distiller import DistillConfig, Distiller
    from lm2d.distill.consistency import consistency_settings
    from lm2d.lyrics import TextEncoder
    from lm2d.model import ModelConfig, load_checkpoint
    from lm2d.train.config import RunConfig, TrainConfig
    from lm2d.train.dataset import DanceDataset
    from lm2d.train.distributed import init_distributed
    from lm2d.train.trainer import Trainer

    work = Path(tempfile.mkdtemp(prefix="lm2d_distill_quality_")) if work is None else work
    os.environ.setdefault("LM2D_CACHE", str(work / "cache"))
    ctx = init_distributed("cpu")
    config, encoder = ModelConfig(**QUALITY_CONFIG), TextEncoder()
    corpus = work / "data" if (work / "data").is_dir() else training_corpus(work / "data")
    data = DanceDataset(corpus, "train", config, stride=10, encoder=encoder)
    print(f"corpus: {len(data.clips)} clips, {len(data)} windows", flush=True)

    if not (work / "teacher" / "checkpoint").is_dir():
        started = time.perf_counter()
        (work / "teacher").mkdir(exist_ok=True)
        train = TrainConfig(steps=TEACHER_STEPS, batch_size=BATCH, learning_rate=1e-3, warmup_steps=100,
                            weight_decay=0.0, ema_decay=0.995, checkpoint_every=TEACHER_STEPS, log_every=100)
        Trainer(RunConfig(config, train), data.normalizer, work / "teacher", ctx, progress=False).run(data, TEACHER_STEPS)
        print(f"teacher: {TEACHER_STEPS} steps in {time.perf_counter() - started:.0f} s", flush=True)
    teacher = load_checkpoint(work / "teacher" / "checkpoint")

    if not (work / "student" / "checkpoint").is_dir():
        started = time.perf_counter()
        (work / "student").mkdir(exist_ok=True)
        distill = DistillConfig(dataclasses.replace(DistillConfig().train, steps=STUDENT_STEPS, batch_size=BATCH,
                                                    learning_rate=STUDENT_LR, warmup_steps=50, ema_decay=0.99,
                                                    checkpoint_every=STUDENT_STEPS, log_every=50))
        Distiller(teacher, distill, work / "student", ctx, progress=False).run(data, STUDENT_STEPS)
        print(f"student: {STUDENT_STEPS} steps in {time.perf_counter() - started:.0f} s", flush=True)
    student = load_checkpoint(work / "student" / "checkpoint")

    songs = evaluation_songs(work, encoder)
    # Deterministic DDIM (eta 0): MPJPE to the same seed's sample then measures the sampler, not fresh noise.
    ddim = deterministic_ddim
    samplers = [("teacher DDIM-50", teacher, ddim, 50)]
    samplers += [("teacher ODE, Heun on the 18-point grid", teacher,
                  teacher_ode_sampler(consistency_settings(student)), None)]
    samplers += [(f"teacher DDIM-{k}", teacher, ddim, k) for k in STEPS]
    samplers += [(f"student {k}-step", student, checkpoint_sampler, k) for k in STEPS]
    results = {}
    for label, loaded, sampler, steps in samplers:
        results[label] = []
        for features, tokens in songs:
            for seed in SEEDS:
                started = time.perf_counter()
                windows, motion = windows_and_motion(loaded, features, tokens, steps, seed, sampler)
                results[label].append((motion.joints(), overlap_disagreement(windows), time.perf_counter() - started))
    references = {"MPJPE to DDIM-50 (m)": [s[0] for s in results["teacher DDIM-50"]],
                  "MPJPE to teacher ODE (m)": [s[0] for s in results["teacher ODE, Heun on the 18-point grid"]]}
    beats = [np.flatnonzero(features[:, 34]) for features, _ in songs for _ in SEEDS]   # beat one-hot column
    return [score(label, samples, references, beats) for label, samples in results.items()]


def markdown(rows: list[dict]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(v) if isinstance(v, str) else f"{v:.3g}" for v in row.values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--quality" in sys.argv:       # python bench/bench_distill.py --quality [WORK_DIR]
        torch.set_num_threads(1)      # a shared machine: one core for this long job
        given = sys.argv[sys.argv.index("--quality") + 1:]
        print(markdown(quality(Path(given[0]) if given else None)))
    else:
        for name, value in run():
            print(f"{name}: {value}")
