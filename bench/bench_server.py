"""The inference server as the add-on uses it, on a 3-minute song with lyrics: cold start to the
first result, a warm second generation, and the server's peak memory.

Song: the first 180 s of ../shared/data/songs/on_the_run/audio.ogg written to a temporary wav,
with its UltraStar lyric lines that end inside those 180 s sent as segments. The server runs
with an empty cache, so the cold run pays interpreter start, imports, model load, librosa's JIT,
feature extraction, the text encoder's load and the lyric encodings. Model: the shipped default
when one is installed; otherwise an untrained stand-in of the default size (ModelConfig()),
saved as a consistency checkpoint so it samples exactly as a distilled student would (same
network, same number of evaluations). Driven through the add-on's own client (lm2d_blender/client.py).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SONG_DIR = REPO.parent / "shared" / "data" / "songs" / "on_the_run"
SAMPLE_MOTION = REPO.parent / "shared" / "data" / "motion" / "smpl_sample_127f.pkl"
SECONDS = 180


def run() -> list[tuple[str, str]]:
    from lm2d.model.checkpoint import checkpoint_files, default_checkpoint_path

    client_module = _load_client_module()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        song, segments = _three_minute_song(scratch)
        if all(file.is_file() for file in checkpoint_files(default_checkpoint_path())):
            checkpoint, label = None, "the shipped default model"
        else:
            checkpoint, label = _untrained_stand_in(scratch / "stand_in")
        env = {**os.environ, "LM2D_CACHE": str(scratch / "cache")}
        client = client_module.ServerClient(sys.executable, env=env)
        started = time.perf_counter()
        try:
            hello = client.request("hello", timeout=600)
            up = time.perf_counter() - started
            loaded = client.request("load", timeout=600, **({"checkpoint": str(checkpoint)} if checkpoint else {}))
            request = {"audio": str(song), "segments": segments}
            stages = StageTimer()
            first = client.request("generate", timeout=1200, output=str(scratch / "cold.npz"), seed=0,
                                   on_event=stages.on_event, **request)
            cold = time.perf_counter() - started
            stages.finish()
            warm_started = time.perf_counter()
            client.request("generate", timeout=1200, output=str(scratch / "warm.npz"), seed=1, **request)
            warm = time.perf_counter() - warm_started
            peak_rss = _peak_rss_mib(client.pid)
            child_rss = sum(_peak_rss_mib(child) for child in _children(client.pid))
        finally:
            client.stop(timeout=30)

    return [
        ("model", f"{label} ({loaded['kind']}, {hello['device']})"),
        ("song", f"{SECONDS} s of on_the_run (44.1 kHz stereo wav), {len(segments)} lyric lines "
                 f"-> {first['frames']} frames"),
        ("cold: server start to hello (interpreter + imports)", f"{up:.2f} s"),
        ("cold: model load", f"{loaded['seconds']:.2f} s"),
        ("cold: start to first result", f"{cold:.2f} s"),
        *((f"  of which stage {name}", f"{seconds:.2f} s") for name, seconds in stages.seconds.items()),
        ("warm: second generation (model loaded, features and encodings cached)", f"{warm:.2f} s"),
        ("server peak RSS (VmHWM)", f"{peak_rss:.0f} MiB"),
        ("its feature process's peak RSS (VmHWM; lm2d.feature_process)", f"{child_rss:.0f} MiB"),
    ]


def _load_client_module():
    """lm2d_blender/client.py alone (stdlib only), without the add-on package that needs bpy."""
    spec = importlib.util.spec_from_file_location("lm2d_client", REPO / "lm2d_blender" / "client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _three_minute_song(folder: Path) -> tuple[Path, list[dict]]:
    import soundfile as sf

    from lm2d.lyrics import load_lyrics
    from lm2d.song import Song

    song = folder / "on_the_run_180s.wav"
    samples, rate = sf.read(SONG_DIR / "audio.ogg", frames=SECONDS * 44100, dtype="float32")
    sf.write(song, samples, rate)
    lyrics = load_lyrics(SONG_DIR / "song.txt", Song(SONG_DIR / "audio.ogg"))
    segments = [{"start": s.start, "end": s.end, "text": s.text} for s in lyrics.segments if s.end < SECONDS]
    return song, segments


def _untrained_stand_in(path: Path) -> tuple[Path, str]:
    import numpy as np
    import torch

    from lm2d.distill.consistency import ConsistencyConfig
    from lm2d.distill.consistency import DISTILLATION_KEY
    from lm2d.model import Denoiser, ModelConfig, Normalizer, save_checkpoint
    from lm2d.motion.io import load_motion

    torch.manual_seed(0)
    config = ModelConfig()
    model = Denoiser(config)
    motion = load_motion(SAMPLE_MOTION)
    normalizer = Normalizer.fit(np.concatenate([motion.foot_contacts().astype(np.float32), motion.to_vector()], 1))
    schedule = ConsistencyConfig()
    save_checkpoint(path, model, config, normalizer, {DISTILLATION_KEY: schedule.to_dict()}, kind="consistency")
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    return path, (f"no default model installed: untrained stand-in of the default size "
                  f"({config.n_layers} layers x {config.latent_dim}, {parameters:.1f} M parameters, "
                  f"{schedule.default_steps} consistency steps)")


class StageTimer:
    """Seconds from each stage's first progress event to the next stage's (the last one: to finish())."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._stage, self._since = None, 0.0

    def on_event(self, event: dict) -> None:
        if event.get("type") == "progress" and event["stage"] != self._stage:
            self.finish()
            self._stage, self._since = event["stage"], time.perf_counter()

    def finish(self) -> None:
        if self._stage is not None:
            self.seconds[self._stage] = time.perf_counter() - self._since


def _children(pid: int) -> list[int]:
    """The processes whose parent is pid (the server's feature process), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return children


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")
