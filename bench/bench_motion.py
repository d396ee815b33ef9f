"""The motion core at song scale: a 3-minute dance is 5400 frames at 30 FPS.

The motion is the real AIST++-layout sample (../shared/data/motion/smpl_sample_127f.pkl, 60 FPS)
at 30 FPS, tiled to 5400 frames; the training-batch figure is 64 windows of 150 frames.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "motion" / "smpl_sample_127f.pkl"
FRAMES = 5400


def _best_of(fn, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run() -> list[tuple[str, str]]:
    from lm2d.motion.bvh import write_bvh
    from lm2d.motion.footlock import lock_feet
    from lm2d.motion.io import load_motion, load_result_npz, save_result_npz
    from lm2d.motion.kinematics import forward_kinematics
    from lm2d.motion.representation import Motion, motion_vector_to_parts, resample
    from lm2d.motion.retime import DEFAULT_STRENGTH, accent_beats

    load_time = _best_of(lambda: load_motion(SAMPLE))
    clip = load_motion(SAMPLE)
    repeats = -(-FRAMES // clip.n_frames)
    song = Motion(np.tile(clip.root_translation, (repeats, 1))[:FRAMES],
                  np.tile(clip.local_rotmats, (repeats, 1, 1, 1))[:FRAMES])

    batch = torch.from_numpy(np.stack([song.to_vector()[i * 150:(i + 1) * 150] for i in range(36)] * 2)[:64])

    def training_batch_fk():
        trans, rotmats = motion_vector_to_parts(batch)
        forward_kinematics(trans, rotmats)

    with tempfile.TemporaryDirectory() as scratch:
        bvh, npz = Path(scratch) / "song.bvh", Path(scratch) / "song.npz"
        rows = [
            ("load the AIST++ sample (127 frames at 60 FPS -> 64 at 30)", f"{load_time * 1e3:.1f} ms"),
            (f"forward kinematics, {FRAMES} frames", f"{_best_of(song.joints) * 1e3:.1f} ms"),
            ("6D -> matrices + FK, batch 64 x 150 frames (training loss)",
             f"{_best_of(training_batch_fk) * 1e3:.1f} ms"),
            (f"to_vector, {FRAMES} frames", f"{_best_of(song.to_vector) * 1e3:.1f} ms"),
            (f"resample 30 -> 24 FPS, {FRAMES} frames", f"{_best_of(lambda: resample(song, 24)) * 1e3:.1f} ms"),
            (f"beat accent {DEFAULT_STRENGTH:g} at 120 BPM, {FRAMES} frames",
             f"{_best_of(lambda: accent_beats(song, np.arange(0, FRAMES, 15), DEFAULT_STRENGTH)) * 1e3:.1f} ms"),
            (f"foot lock, {FRAMES} frames", f"{_best_of(lambda: lock_feet(song)) * 1e3:.0f} ms"),
            (f"write_bvh, {FRAMES} frames", f"{_best_of(lambda: write_bvh(song, bvh)) * 1e3:.0f} ms"),
            (f"save_result_npz, {FRAMES} frames", f"{_best_of(lambda: save_result_npz(song, npz)) * 1e3:.0f} ms"),
            (f"load_result_npz, {FRAMES} frames", f"{_best_of(lambda: load_result_npz(npz)) * 1e3:.0f} ms"),
            ("result .npz / .bvh size", f"{npz.stat().st_size / 1e6:.2f} MB / {bvh.stat().st_size / 1e6:.2f} MB"),
        ]
    return rows


if __name__ == "__main__":
    for measurement, value in run():
        print(f"{measurement}: {value}")
