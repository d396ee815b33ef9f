"""The demo's preview as a person (and a pose estimator) sees it: `python build.py demo` end to end
with the shipped model on the bundled 34 s song, timed; then mediapipe 0.10.14 pose (static image
mode) on every 3rd frame of demo_out's MP4: does it find a person, how visible are the landmarks.

Targets (issue 19): rendering the preview under 60 s for the demo song; a person in >= 95% of the
sampled frames with mean landmark visibility >= 0.9. mediapipe is a bench dependency only (the
add-on never imports it)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVERY = 3


def run_demo(out: Path) -> tuple[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "server"))
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--out", str(out)],
                               capture_output=True, text=True, env=env, timeout=1800)
    if completed.returncode != 0:
        raise RuntimeError(f"demo failed: {completed.stderr.strip().splitlines()[-1:]}")
    return completed.stdout, time.perf_counter() - started


def stage_seconds(stdout: str, stage: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one of the demo's stages, from its summary."""
    match = re.search(rf"^\s+([\d.]+) s  {re.escape(stage)}  \(([\d.]+) CPU-s\)", stdout, re.MULTILINE)
    return float(match.group(1)), float(match.group(2))


def movie_frames(path: Path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % SAMPLE_EVERY == 0:
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()


def pose_scores(movie: Path) -> tuple[int, int, float]:
    """(sampled frames, frames with a person, mean landmark visibility over those frames)."""
    import mediapipe as mp

    found, visibility, sampled = 0, [], 0
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for frame in movie_frames(movie):
            sampled += 1
            result = pose.process(frame)
            if result.pose_landmarks is not None:
                found += 1
                visibility.append(np.mean([lm.visibility for lm in result.pose_landmarks.landmark]))
    return sampled, found, float(np.mean(visibility)) if visibility else 0.0


def run() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        cpu_before = os.times()
        stdout, wall = run_demo(out)
        cpu = os.times()
        child_cpu = (cpu.children_user - cpu_before.children_user) + (cpu.children_system - cpu_before.children_system)
        render = stage_seconds(stdout, "rendering the MP4 preview (15 fps)")
        preview = re.search(r"^preview\s+(.*)$", stdout, re.MULTILINE).group(1)
        started = time.perf_counter()
        sampled, found, visibility = pose_scores(out / "dance.mp4")
        pose_time = time.perf_counter() - started
    load = os.getloadavg()[0]
    return [
        ("demo preview", preview),
        ("rendering the MP4 preview, wall (target < 60 s) and CPU", f"{render[0]:.1f} s ({render[1]:.1f} CPU-s)"),
        ("whole demo, wall (CPU seconds of all its processes)", f"{wall:.1f} s ({child_cpu:.1f} CPU-s)"),
        (f"mediapipe pose on every {SAMPLE_EVERY}rd frame: person found (target >= 95%)",
         f"{found}/{sampled} = {100 * found / max(sampled, 1):.1f}%"),
        ("mean landmark visibility where found (target >= 0.9)", f"{visibility:.3f}"),
        ("mediapipe time per sampled frame", f"{1000 * pose_time / max(sampled, 1):.0f} ms"),
        ("load average at the end", f"{load:.1f}"),
    ]


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
