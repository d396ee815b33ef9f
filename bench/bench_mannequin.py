"""What the mannequin body costs during playback: seconds per frame of evaluating a 3-minute take
in Blender (scene.frame_set: animation, pose, and the depsgraph update of everything riding on the
bones) with and without the mannequin. Rounds alternate between the two scenes and each keeps its
best round, so a load spike on the shared machine does not land on one side only.

Target (issue 19): the mannequin adds no more than 20% (ratio <= 1.2)."""
from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np

from lm2d.motion.io import save_result_npz
from lm2d_blender.armature import new_dancer
from lm2d_blender.keys import write_take
from lm2d_blender.mannequin import build_mannequin
from lm2d_blender.result_file import read_result
from lm2d_blender.skeleton import shipped_skeleton

FRAMES = 5400                 # 3 minutes at 30 fps
TIMED_FRAMES = 900            # frames stepped through per round, spread over the take
ROUNDS = 5


def three_minute_take(folder: Path):
    spec = importlib.util.spec_from_file_location("bench_keys", Path(__file__).with_name("bench_keys.py"))
    bench_keys = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_keys)
    path = folder / "take.npz"
    save_result_npz(bench_keys.dance(FRAMES), path)
    return read_result(str(path))


def seconds_per_frame(scene) -> float:
    frames = np.linspace(1, FRAMES, TIMED_FRAMES).astype(int)
    started = time.perf_counter()
    for frame in frames:
        scene.frame_set(int(frame))
    return (time.perf_counter() - started) / TIMED_FRAMES


def run() -> list[tuple[str, str]]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    with tempfile.TemporaryDirectory() as scratch:
        result = three_minute_take(Path(scratch))
    dancer = new_dancer(bpy.context, shipped_skeleton(), preview_mesh=False)
    write_take(dancer, result, scene)
    never_built = min(seconds_per_frame(scene) for _ in range(2))
    started = time.perf_counter()
    body = build_mannequin(dancer)
    build = time.perf_counter() - started
    vertices = sum(len(obj.data.vertices) for obj in body)
    best = {False: float("inf"), True: float("inf")}
    for _ in range(ROUNDS):
        for shown in (False, True):
            for obj in body:      # objects disabled in viewports are left out of the depsgraph
                obj.hide_viewport = not shown
            best[shown] = min(best[shown], seconds_per_frame(scene))
    ratio = best[True] / best[False]
    return [
        ("take", f"{FRAMES} frames (3 min) on the SMPL dancer; {TIMED_FRAMES} frames per round, "
                 f"best of {ROUNDS} alternating rounds"),
        ("mannequin", f"{len(body)} bone-parented parts, {vertices} vertices, one material"),
        ("frame evaluation, no mannequin built / mannequin hidden", f"{1000 * never_built:.3f} / {1000 * best[False]:.3f} ms"),
        ("frame evaluation with the mannequin shown", f"{1000 * best[True]:.3f} ms"),
        ("ratio shown / hidden (target <= 1.2)", f"{ratio:.2f}"),
        ("building the mannequin", f"{1000 * build:.0f} ms"),
    ]


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
