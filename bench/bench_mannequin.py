"""What the mannequin body costs during playback: seconds per frame of evaluating a 3-minute take
in Blender (scene.frame_set: animation, pose, and the depsgraph update of everything riding on the
bones) with and without the mannequin. Each round builds each variant on the same dancer, times it
and removes it again; every variant keeps its best round, so a load spike on the shared machine
does not land on one side only.

Target (issue 19): the mannequin adds no more than 20% (ratio <= 1.2). Bone-parented parts were
chosen after measuring: one joined mesh deformed by an Armature modifier (rigid vertex groups)
cost 2.7x the armature alone. What bone-parented objects cost is Blender's per-object bookkeeping,
whatever their geometry: 24 empties, one per bone, which the bench measures too, already cost 1.2x,
so the mannequin's parts ride on 16 of the bones (lm2d_blender.mannequin.CARRIERS)."""
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


def bone_empties(dancer) -> list:
    """One empty per bone, bone-parented: the floor for anything riding on the bones as objects."""
    empties = []
    for bone in dancer.data.bones:
        empty = bpy.data.objects.new(f"Empty {bone.name}", None)
        bpy.context.scene.collection.objects.link(empty)
        empty.parent, empty.parent_type, empty.parent_bone = dancer, 'BONE', bone.name
        empties.append(empty)
    return empties


def run() -> list[tuple[str, str]]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    with tempfile.TemporaryDirectory() as scratch:
        result = three_minute_take(Path(scratch))
    dancer = new_dancer(bpy.context, shipped_skeleton(), preview_mesh=False)
    write_take(dancer, result, scene)
    variants = {"none": lambda: [], "mannequin": lambda: build_mannequin(dancer), "empties": lambda: bone_empties(dancer)}
    best = dict.fromkeys(variants, float("inf"))
    builds, vertices, parts = [], 0, 0
    for _ in range(ROUNDS):
        for name, make in variants.items():      # each round builds its objects and removes them after
            started = time.perf_counter()
            objects = make()
            if name == "mannequin":
                builds.append(time.perf_counter() - started)
                vertices, parts = sum(len(obj.data.vertices) for obj in objects), len(objects)
            best[name] = min(best[name], seconds_per_frame(scene))
            for obj in objects:
                bpy.data.objects.remove(obj)
    added = best["mannequin"] - best["none"]
    return [
        ("take", f"{FRAMES} frames (3 min) on the SMPL dancer; {TIMED_FRAMES} frames per round, "
                 f"best of {ROUNDS} alternating rounds"),
        ("mannequin", f"{parts} bone-parented objects, {vertices} vertices, one material"),
        ("frame evaluation without / with the mannequin", f"{1000 * best['none']:.3f} / {1000 * best['mannequin']:.3f} ms"),
        ("ratio with / without (target <= 1.2)", f"{best['mannequin'] / best['none']:.2f}"),
        ("24 bone-parented empties instead (no geometry at all): per frame, ratio",
         f"{1000 * best['empties']:.3f} ms, {best['empties'] / best['none']:.2f}"),
        ("what the mannequin adds, against a 30 fps frame (33.3 ms)", f"{1000 * added:.2f} ms = {3000 * added:.2f}%"),
        ("building the mannequin (median)", f"{1000 * sorted(builds)[len(builds) // 2]:.0f} ms"),
    ]


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
