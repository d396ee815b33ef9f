"""Exporting one take of an armature as BVH, FBX or glTF through Blender's bundled exporters.

The exporters write what the scene evaluates, so for the duration of the export the take is made
the armature's only animation (active action, NLA off), the scene range is set to the take and only
the armature is selected; everything is put back afterwards, also when the exporter fails.

Axes: FBX and glTF are converted to their formats' Y-up conventions by the exporters. Blender's BVH
exporter has no axis option: it writes Blender's own axes (Z up), which Blender's BVH importer reads
back with Forward Y / Up Z. Tools that assume Y-up BVH want the file `lm2d convert` writes.

Background use (`lm2d export` spawns this in a Python that has bpy):
    python -c "import sys; from lm2d_blender.export import main; sys.exit(main())" TAKE.npz OUT.bvh
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import bpy

FORMATS = {".bvh": "BVH", ".fbx": "FBX", ".glb": "glTF binary", ".gltf": "glTF"}


def export_format(path: str | os.PathLike) -> str:
    """The file extension that picks the exporter. Raises ValueError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{os.fspath(path)}: unknown export format {suffix or '(no extension)'!r}: "
                         f"use {', '.join(FORMATS)}")
    return suffix


@contextmanager
def take_soloed(context, armature_obj, action):
    """The scene shows `action` alone on `armature_obj`, over the take's frames, with only the armature
    selected and active; restored on exit."""
    scene, view_layer = context.scene, context.view_layer
    animation = armature_obj.animation_data or armature_obj.animation_data_create()
    saved = {"action": animation.action, "slot": getattr(animation, "action_slot", None),
             "use_nla": animation.use_nla, "range": (scene.frame_start, scene.frame_end),
             "frame": scene.frame_current, "active": view_layer.objects.active,
             "selected": [obj for obj in view_layer.objects if obj.select_get()]}
    first, last = (int(round(frame)) for frame in action.frame_range)
    try:
        animation.use_nla = False
        animation.action = action
        if hasattr(animation, "action_slot") and len(action.slots):
            animation.action_slot = action.slots[0]
        scene.frame_start, scene.frame_end = first, last
        for obj in saved["selected"]:
            obj.select_set(False)
        armature_obj.select_set(True)
        view_layer.objects.active = armature_obj
        yield first, last
    finally:
        animation.action = saved["action"]
        if saved["action"] is not None and saved["slot"] is not None:
            animation.action_slot = saved["slot"]
        animation.use_nla = saved["use_nla"]
        scene.frame_start, scene.frame_end = saved["range"]
        armature_obj.select_set(False)
        for obj in saved["selected"]:
            obj.select_set(True)
        view_layer.objects.active = saved["active"]
        scene.frame_set(saved["frame"])


def export_take(context, armature_obj, action, path: str | os.PathLike) -> str:
    """Write `action` on `armature_obj` to `path` (.bvh, .fbx, .glb or .gltf: the extension picks the
    exporter). Only the armature is written (no preview meshes). Returns the path written. Raises
    ValueError for an unknown extension and RuntimeError when the exporter fails."""
    path = os.fspath(path)
    suffix = export_format(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with take_soloed(context, armature_obj, action) as (first, last):
        if suffix == ".bvh":
            result = bpy.ops.export_anim.bvh(filepath=path, check_existing=False, frame_start=first,
                                             frame_end=last, rotate_mode='NATIVE')
        elif suffix == ".fbx":
            # Baked from the scene (the soloed take), every frame kept (no curve simplification),
            # no leaf bones added; Blender's default axes (-Z forward, Y up) as every importer expects.
            result = bpy.ops.export_scene.fbx(filepath=path, check_existing=False, use_selection=True,
                                              object_types={'ARMATURE'}, add_leaf_bones=False, bake_anim=True,
                                              bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                                              bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0)
        else:
            result = bpy.ops.export_scene.gltf(filepath=path, check_existing=False, use_selection=True,
                                               export_format='GLB' if suffix == ".glb" else 'GLTF_SEPARATE',
                                               export_animations=True, export_animation_mode='ACTIVE_ACTIONS',
                                               export_frame_range=True, export_force_sampling=True,
                                               export_optimize_animation_size=False)
    if result != {'FINISHED'}:
        raise RuntimeError(f"{path}: Blender's {FORMATS[suffix]} exporter did not finish ({', '.join(result)})")
    return path


# --- background mode: a result file in, an animation file out -------------------------------------

def export_result(result_path: str, output: str) -> tuple[int, float]:
    """In a fresh empty scene at the result's frame rate: an SMPL armature, the result as its take,
    exported to `output`. Returns (frames, fps)."""
    from .armature import create_smpl_armature
    from .keys import write_take
    from .result_file import read_result, result_skeleton

    result = read_result(result_path)
    export_format(output)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    context = bpy.context
    fps = float(result["fps"])
    context.scene.render.fps = max(int(round(fps)), 1)
    context.scene.render.fps_base = context.scene.render.fps / fps   # exact for any rate, 29.97 included
    armature_obj = create_smpl_armature(context, "LM2D Dancer", *result_skeleton(result))
    action, _track, _strip = write_take(armature_obj, result, context.scene, source=result_path)
    export_take(context, armature_obj, action, output)
    first, last = action.frame_range
    return int(round(last - first)) + 1, fps


def last_line(message: str) -> str:
    """One line of an error: an exporter's failure arrives as "Error: Python: Traceback ..." over many
    lines, whose last real line ("OSError: [Errno 28] No space left on device: ...") is the cause."""
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not line.strip().startswith("Location:")]
    return lines[-1] if lines else message


def main(argv: list[str] | None = None) -> int:
    from .result_file import ResultFileError

    parser = argparse.ArgumentParser(prog="lm2d_blender.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("result", help="an lm2d result file (.npz)")
    parser.add_argument("output", help="the file to write: .bvh, .fbx, .glb or .gltf")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frames, fps = export_result(args.result, args.output)
    except (ResultFileError, ValueError, RuntimeError) as err:
        print(f"error: {last_line(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:   # the exporter's own write (full disk, no permission)
        print(f"error: {args.output}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"{args.output}: {frames} frames at {fps:g} FPS")
    return 0
