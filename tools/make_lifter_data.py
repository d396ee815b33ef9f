#!/usr/bin/env python3
"""Training data for the landmark lifter (lm2d.video.lifter): dances of known motion rendered on
the wooden mannequin (tools/render_motion_video.py) from varied, moving cameras, the pose model run
on each movie, and the true joints in each frame's camera frame beside its landmarks.

    python tools/make_lifter_data.py DATA -o OUT [--seconds 15] [--start 0] [--jobs 2] [--seed 0]
        [--split train]

DATA is a training dataset (docs/DATASET.md: DATA/<split>/<clip>/motion.npz|pkl); each clip gives
one movie of --seconds from --start (OUT/<clip>.npz, or <clip>@<start>s.npz after the start), its camera at a seeded random angle (any side, back included),
swinging 60-180 degrees round the dancer over the movie, 3.2-5 m away, 0.7-1.5 m high, with a
30-50 mm lens. OUT/<clip>.npz holds (N frames): world (N, 33, 3) and image (N, 33, 2) landmarks
as lm2d.video.landmarks.estimate_landmarks gives them, visibility (N, 33), found (N,), width,
height, and truth (N, 24, 3): the SMPL joints relative to the pelvis in the camera's level frame
(x right, y away, z up), metres. Clips already in OUT are kept: re-run with another --start and
--seed to add other stretches of the dances seen from other places.
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "tools")]

from render_motion_video import camera_yaw  # noqa: E402  (bpy-free geometry of the render's camera)


def camera_frame_joints(joints: np.ndarray, yaws_degrees: np.ndarray) -> np.ndarray:
    """(N, 24, 3) world joints (Z-up) as pelvis-relative joints in each frame's level camera frame."""
    relative = joints - joints[:, :1]
    yaw = np.radians(yaws_degrees)[:, None]
    right = np.stack([np.cos(yaw), np.sin(yaw)], -1)          # (N, 1, 2)
    forward = np.stack([-np.sin(yaw), np.cos(yaw)], -1)
    planar = relative[..., :2]
    return np.stack([(planar * right).sum(-1), (planar * forward).sum(-1), relative[..., 2]], -1)


def make_clip(motion_path: Path, out: Path, rng: np.random.Generator, seconds: float, start: float) -> str:
    from lm2d.motion.io import load_motion, save_result_npz
    from lm2d.motion.representation import Motion
    from lm2d.video.landmarks import estimate_landmarks

    motion = load_motion(motion_path)
    first = int(round(start * motion.fps))
    if motion.n_frames - first < 2 * motion.fps:
        return f"{out.stem}: skipped, the dance is not {start + 2:g} s long"
    motion = Motion(motion.root_translation[first:], motion.local_rotmats[first:], motion.fps)
    frames = min(motion.n_frames, int(round(seconds * motion.fps)))
    yaw, orbit = rng.uniform(0, 360), rng.choice([-1, 1]) * rng.uniform(60, 180)
    distance, height, lens = rng.uniform(3.2, 5.0), rng.uniform(0.7, 1.5), rng.uniform(30, 50)
    with tempfile.TemporaryDirectory() as scratch:
        take, movie = Path(scratch) / "take.npz", Path(scratch) / "take.mp4"
        save_result_npz(motion, take)
        subprocess.run([sys.executable, str(ROOT / "tools" / "render_motion_video.py"), str(take), "-o", str(movie),
                        "--yaw", f"{yaw:.3f}", "--orbit", f"{orbit:.3f}", "--distance", f"{distance:.3f}",
                        "--height", f"{height:.3f}", "--lens", f"{lens:.3f}", "--frames", str(frames)],
                       check=True, capture_output=True, timeout=1800)
        landmarks = estimate_landmarks(movie)
    n = min(landmarks.n_frames, frames)
    yaws = np.array([camera_yaw(frame, frames, yaw, orbit) for frame in range(n)])
    truth = camera_frame_joints(motion.joints()[:n], yaws)
    np.savez(out, world=landmarks.world[:n], image=landmarks.image[:n], visibility=landmarks.visibility[:n],
             found=landmarks.found[:n], width=landmarks.width, height=landmarks.height, truth=truth.astype(np.float32),
             camera=np.array([yaw, orbit, distance, height, lens]))
    return f"{out.stem}: {n} frames, yaw {yaw:.0f}+{orbit:.0f} deg, {distance:.1f} m, {lens:.0f} mm"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--start", type=float, default=0.0, help="where in each dance the movie starts, seconds")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    clips = sorted(path for path in (args.data / args.split).iterdir() if path.is_dir())
    jobs = []
    for index, clip in enumerate(clips):
        motion = next((clip / f"motion{suffix}" for suffix in (".npz", ".pkl") if (clip / f"motion{suffix}").is_file()),
                      None)
        out = args.out / (f"{clip.name}.npz" if args.start == 0 else f"{clip.name}@{args.start:g}s.npz")
        if motion is not None and not out.is_file():
            jobs.append((motion, out, np.random.default_rng([args.seed, index])))
    if not jobs:
        return 0
    with ProcessPoolExecutor(args.jobs) as pool:    # each job: a Blender child, then the pose model
        for line in pool.map(make_clip, *zip(*jobs), [args.seconds] * len(jobs), [args.start] * len(jobs)):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
