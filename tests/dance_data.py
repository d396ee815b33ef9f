"""Test data and models built from the shared real files (../shared/data), for every test module
that needs them: small datasets of real audio, SMPL motion and lyrics, a tiny real checkpoint, and
the environment a test server runs in. Fixtures built on these are in conftest.py."""
from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from lm2d.distill.consistency import ConsistencyConfig
from lm2d.distill.distiller import DistillConfig
from lm2d.model.config import ModelConfig
from lm2d.train.distributed import DistContext

CLIP_SECONDS = 8.0
AUDIO_FRAMES = 241             # 1 + floor(8 s * 15360 / 512): librosa's centred frames
MOTION_FRAMES = 240            # 8 s at 30 FPS
TINY = ModelConfig(n_frames=60, latent_dim=32, ff_dim=64, n_layers=1, n_heads=2, dropout=0.0,
                   max_lyric_tokens=16)

# (clip id, music file, start second, lyrics or None, motion format)
CLIPS = (
    ("vibe", "Kevin_MacLeod_-_Vibe_Ace.ogg", 10.0,
     "[00:00.50]Step to the left now\n[00:03.00]spin around and jump\n[00:05.50]feel the beat tonight\n", "pkl"),
    ("sugar", "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", 20.0,
     "[00:01.00]Tiptoe softly\n[00:04.00]twirl like snow\n", "npz"),
    ("hungarian", "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_string_orchestra.ogg", 5.0, None, "pkl"),
)


def write_audio(path: Path, source: Path, start: float, seconds: float = CLIP_SECONDS) -> None:
    info = sf.info(source)
    samples, rate = sf.read(source, start=int(start * info.samplerate),
                            frames=int(seconds * info.samplerate), dtype="float32")
    sf.write(path, samples, rate)


def sample_smpl(shared_data: Path, frames_60fps: int) -> tuple[np.ndarray, np.ndarray]:
    """The shared 127-frame AIST++-layout sample, played forwards and backwards (no jumps) until
    it covers `frames_60fps` frames."""
    with open(shared_data / "motion" / "smpl_sample_127f.pkl", "rb") as handle:
        sample = pickle.load(handle)
    poses, trans = np.asarray(sample["smpl_poses"]), np.asarray(sample["smpl_trans"])
    order = np.concatenate([np.arange(len(poses)), np.arange(len(poses) - 2, 0, -1)])
    index = np.resize(order, frames_60fps)
    return poses[index], trans[index]


def write_motion(path: Path, shared_data: Path, seconds: float) -> None:
    """AIST++ .pkl (y-up, 60 FPS) or AMASS .npz (Z-up, with its frame rate), by the suffix."""
    poses, trans = sample_smpl(shared_data, int(round(seconds * 60)))
    if path.suffix == ".pkl":
        with open(path, "wb") as handle:
            pickle.dump({"smpl_poses": poses, "smpl_trans": trans}, handle)
    else:
        np.savez(path, poses=poses, trans=trans[:, [0, 2, 1]] * [1, -1, 1], mocap_framerate=60.0)


def write_clip(folder: Path, shared_data: Path, music: str, start: float, lyrics: str | None,
               motion_format: str = "pkl", motion_seconds: float = CLIP_SECONDS) -> None:
    folder.mkdir(parents=True)
    write_audio(folder / "audio.wav", shared_data / "music" / music, start)
    write_motion(folder / f"motion.{motion_format}", shared_data, motion_seconds)
    if lyrics is not None:
        (folder / "lyrics.lrc").write_text(lyrics)


def write_dataset(root: Path, shared_data: Path, clips=CLIPS, test_clips=CLIPS[:1]) -> Path:
    """DIR/train/<clip>/ for `clips` and DIR/test/<clip>/ for `test_clips` (docs/DATASET.md)."""
    for split, chosen in (("train", clips), ("test", test_clips)):
        for clip_id, music, start, lyrics, motion_format in chosen:
            write_clip(root / split / clip_id, shared_data, music, start, lyrics, motion_format)
    return root


def write_tiny_checkpoint(path: Path, shared_data: Path, seed: int = 0) -> Path:
    """A real LM2D checkpoint, just untrained: a tiny lyrics model with seeded initial weights and
    a normaliser fitted on a real SMPL motion (so outputs have plausible ranges)."""
    import torch

    from lm2d.model import Denoiser, ModelConfig, Normalizer, save_checkpoint
    from lm2d.motion.io import load_motion

    torch.manual_seed(seed)
    config = ModelConfig(n_frames=60, latent_dim=32, ff_dim=64, n_layers=1, n_heads=2, dropout=0.0,
                         max_lyric_tokens=16)
    motion = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")
    frames = np.concatenate([motion.foot_contacts().astype(np.float32), motion.to_vector()], axis=1)
    save_checkpoint(path, Denoiser(config), config, Normalizer.fit(frames))
    return path


def server_environment(cache: Path) -> dict:
    """The environment for a test server: its own feature/lyrics cache, and one torch thread so
    it does not fight the test process for the (small, shared) CPU."""
    return dict(os.environ, LM2D_CACHE=str(cache), PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


def max_weight_change(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


# --- the distillation fixtures' teacher and student (conftest.py) ---------------------------

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "tiny.json"
SINGLE = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
TEACHER_STEPS = 80
STUDENT_STEPS = 20
FAST_DISTILL = {"train": {"batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 0, "ema_decay": 0.9,
                          "log_every": 5, "checkpoint_every": 1000},
                "consistency": {}}


def fast_config(**consistency) -> DistillConfig:
    base = FAST_DISTILL["consistency"] | consistency
    return DistillConfig(dataclasses.replace(DistillConfig().train, **FAST_DISTILL["train"]),
                         ConsistencyConfig(**base))
