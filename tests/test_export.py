"""Exporting takes through Blender's own exporters (BVH, FBX, glTF), checked by reading every file
back with Blender's own importers: same number of frames, joints where the take puts them.

Tolerance: 1 mm on joint positions. The files carry floats (FBX, glTF) or six decimals (BVH), so
the round trip loses ~1e-5 m; 1 mm is far above that and far below anything visible. The CMU rig is
in the FBX file's own units (hip height ≈ 17), where the same bound is 1e-4 of the leg length.

Axes: Blender's BVH exporter has no axis option and writes Blender's Z-up coordinates, so its files
are read back with the importer's axes set to Blender's (forward Y, up Z). FBX and glTF convert axes
on both ways. Blender's FBX importer places the first key at frame 1 + time·fps by default
(anim_offset = 1); the exporter writes frame f at time f/fps, so the check reads with anim_offset 0.
"""
from __future__ import annotations

from types import SimpleNamespace

import bpy
import numpy as np
import pytest

from blender_scenes import evaluated_heads, import_cmu_rig, smpl_take

import lm2d_blender
from lm2d.cli import main as lm2d_main
from lm2d_blender.bone_maps import auto_map
from lm2d_blender.export import export_format, export_take
from lm2d_blender.operators_retarget import LM2D_OT_export_take
from lm2d_blender.retarget import armature_rig, retarget_take

TOLERANCE_M = 1e-3
CMU_TOLERANCE = 1e-4   # of the leg length, in the rig's own units


def import_back(path, fps: float = 30.0):
    """Read an exported file into an empty scene at `fps` with Blender's importer for its type;
    returns the armature and its action's frames."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = int(fps), 1.0
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        result = bpy.ops.import_anim.bvh(filepath=str(path), axis_forward='Y', axis_up='Z')
    elif suffix == ".fbx":
        result = bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)
    else:
        result = bpy.ops.import_scene.gltf(filepath=str(path))
    assert result == {'FINISHED'}
    armature = next(obj for obj in bpy.data.objects if obj.type == 'ARMATURE')
    first, last = (int(round(frame)) for frame in armature.animation_data.action.frame_range)
    return armature, np.arange(first, last + 1)


def scene_snapshot(armature):
    scene, animation = bpy.context.scene, armature.animation_data
    return (animation.action, animation.action_slot, animation.use_nla, scene.frame_start, scene.frame_end,
            scene.frame_current, bpy.context.view_layer.objects.active,
            {obj.name for obj in bpy.data.objects if obj.select_get()})


@pytest.mark.parametrize("suffix", [".bvh", ".fbx", ".glb"])
def test_take_survives_export_and_import(sample_result, tmp_path, suffix):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    dancer = smpl_take(sample_result)
    bpy.context.scene.frame_set(7)
    before = scene_snapshot(dancer)
    path = tmp_path / f"take{suffix}"
    assert export_take(bpy.context, dancer, dancer.animation_data.action, path) == str(path)
    assert scene_snapshot(dancer) == before
    names = list(sample_result["joint_names"])

    armature, frames = import_back(path)
    assert sorted(bone.name for bone in armature.data.bones) == sorted(names)    # no leaf bones added
    assert len(frames) == len(sample_result["root_translation"]) and frames[0] == 1
    heads = evaluated_heads(armature, names, frames)
    error = np.linalg.norm(heads - sample_result["joint_positions"], axis=-1).max()
    assert error < TOLERANCE_M, f"{suffix}: joints off by up to {error * 1000:.3f} mm"


def test_retargeted_take_exports_while_the_rig_keeps_its_own_action(shared_data, sample_result, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = import_cmu_rig(shared_data)
    own_action = rig.animation_data.action
    dancer = smpl_take(sample_result)
    pairs = auto_map(armature_rig(dancer), armature_rig(rig))
    take, _track, _strip = retarget_take(dancer, rig, pairs)
    assert rig.animation_data.action == own_action
    path = tmp_path / "cmu_take.fbx"
    export_take(bpy.context, rig, take, path)
    assert rig.animation_data.action == own_action and rig.animation_data.use_nla

    names = sorted({target for _source, target in pairs})
    first, last = (int(round(frame)) for frame in take.frame_range)
    rig.animation_data.action = None             # what the take alone looks like
    expected = evaluated_heads(rig, names, range(first, last + 1))
    leg = sum(rig.data.bones[name].length for name in ("LeftUpLeg", "LeftLeg"))

    armature, frames = import_back(path)
    assert len(frames) == last - first + 1
    error = np.linalg.norm(evaluated_heads(armature, names, frames) - expected, axis=-1).max()
    assert error < CMU_TOLERANCE * leg, f"joints off by {error / leg:.2e} leg lengths"


def test_export_operator_and_bad_names(sample_result, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    lm2d_blender.register()
    try:
        dancer = smpl_take(sample_result)
        bpy.context.view_layer.objects.active = dancer
        assert bpy.ops.lm2d.export_take(filepath=str(tmp_path / "op.fbx"), file_format='GLB') == {'FINISHED'}
        assert (tmp_path / "op.glb").stat().st_size > 0 and not (tmp_path / "op.fbx").exists()
        # The file browser's name follows the format picked in it.
        browser = SimpleNamespace(file_format='BVH', filepath=str(tmp_path / "take.fbx"), filename_ext=".fbx",
                                  check_extension=True)
        assert LM2D_OT_export_take.check(browser, bpy.context) and browser.filepath == str(tmp_path / "take.bvh")
        with pytest.raises(ValueError, match=r"take\.obj: unknown export format '\.obj'"):
            export_format(tmp_path / "take.obj")
    finally:
        lm2d_blender.unregister()
    armature, frames = import_back(tmp_path / "op.glb")
    assert len(frames) == len(sample_result["root_translation"])


def test_lm2d_export_command(shared_data, tmp_path, capsys):
    """`lm2d export` runs Blender in a child process of this interpreter (lm2d never imports bpy)."""
    from lm2d.motion.io import load_motion, save_result_npz

    take = tmp_path / "take.npz"
    motion = load_motion(shared_data / "motion" / "smpl_sample_127f.pkl")
    save_result_npz(motion, take)
    out = tmp_path / "dance.bvh"
    assert lm2d_main(["export", str(take), "-o", str(out)]) == 0
    assert f"{motion.n_frames} frames" in capsys.readouterr().out
    _armature, frames = import_back(out)
    assert len(frames) == motion.n_frames

    assert lm2d_main(["export", str(take), "-o", str(tmp_path / "dance.mp4")]) == 2
    assert "dance.mp4: unknown output format '.mp4'" in capsys.readouterr().err
    assert lm2d_main(["export", str(tmp_path / "missing.npz"), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.npz'}: result file not found"
