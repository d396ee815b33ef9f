"""Retarget and export operators (the Dance panel's "Retarget & Export" section is in panel.py).

The bone map lives on the target armature object (props.py: Object.lm2d_bone_map), so it is saved
with the rig and every rig keeps its own. The work is done by bone_maps.py, retarget.py and export.py."""
from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from .bone_maps import PRESETS_DIR, BoneMapError, auto_map, load_preset, resolve_pairs, save_preset, unmapped_parts
from .export import export_take
from .operators import report_take
from .props import bone_map_pairs, retarget_source, retarget_target, set_bone_map
from .retarget import armature_rig, constrained_bones, retarget_take, source_take

EXPORT_FORMAT_ITEMS = [('BVH', "BVH", "Biovision hierarchy: skeleton and motion, read by every animation tool"),
                       ('FBX', "FBX", "Autodesk FBX with the take baked: game engines, Maya, MotionBuilder"),
                       ('GLB', "glTF Binary", "glTF 2.0 in one .glb file: web viewers, Godot, three.js")]
EXPORT_EXTENSIONS = {'BVH': ".bvh", 'FBX': ".fbx", 'GLB': ".glb"}


def fill_auto_map(operator, context, target, source) -> None:
    pairs = auto_map(armature_rig(source), armature_rig(target))
    set_bone_map(target, pairs)
    operator.report({'INFO'}, f"mapped {len({t for _, t in pairs})} bones of '{target.name}' from '{source.name}'")
    missing = unmapped_parts(armature_rig(source), pairs)
    if missing:
        operator.report({'WARNING'}, f"no bone found for {', '.join(missing)}: map them by hand")


class TargetOperator:
    """Runs on the active armature in Object Mode; a source armature is needed."""
    @classmethod
    def poll(cls, context):
        target = retarget_target(context)
        return target is not None and retarget_source(context, target) is not None


class LM2D_OT_auto_map_bones(TargetOperator, bpy.types.Operator):
    bl_idname = "lm2d.auto_map_bones"
    bl_label = "Auto-Map Bones"
    bl_description = ("Fill the active armature's bone map from bone names (Mixamo, CMU, Rigify, Unreal, "
                      "SMPL-X and similar naming), replacing the current map")
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        target = retarget_target(context)
        fill_auto_map(self, context, target, retarget_source(context, target))
        return {'FINISHED'}


class LM2D_OT_bone_map_pair(bpy.types.Operator):
    bl_idname = "lm2d.bone_map_pair"
    bl_label = "Add Bone Pair"
    bl_description = "Add a row to the active armature's bone map, or remove the selected row"
    bl_options = {'REGISTER', 'UNDO'}

    action: EnumProperty(name="Action", items=[('ADD', "Add", "Add an empty row after the selected one"),
                                               ('REMOVE', "Remove", "Remove the selected row")])

    @classmethod
    def poll(cls, context):
        return retarget_target(context) is not None

    def execute(self, context):
        target = retarget_target(context)
        pairs, index = target.lm2d_bone_map, target.lm2d_bone_map_index
        if self.action == 'ADD':
            pairs.add()
            if 0 <= index < len(pairs) - 1:
                pairs.move(len(pairs) - 1, index + 1)
            target.lm2d_bone_map_index = min(index + 1, len(pairs) - 1)
        elif 0 <= index < len(pairs):
            pairs.remove(index)
            target.lm2d_bone_map_index = max(min(index, len(pairs) - 1), 0)
        return {'FINISHED'}


class LM2D_OT_save_bone_map(bpy.types.Operator, ExportHelper):
    bl_idname = "lm2d.save_bone_map"
    bl_label = "Save Bone Map Preset"
    bl_description = "Save the active armature's bone map as a JSON preset, to load onto rigs named the same way"
    bl_options = {'REGISTER'}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @classmethod
    def poll(cls, context):
        target = retarget_target(context)
        return target is not None and len(target.lm2d_bone_map) > 0

    def execute(self, context):
        target = retarget_target(context)
        save_preset(self.filepath, bone_map_pairs(target), name=target.name)
        self.report({'INFO'}, f"saved {len(bone_map_pairs(target))} bone pairs to {self.filepath}")
        return {'FINISHED'}


class LM2D_OT_load_bone_map(TargetOperator, bpy.types.Operator, ImportHelper):
    bl_idname = "lm2d.load_bone_map"
    bl_label = "Load Bone Map Preset"
    bl_description = ("Load a JSON bone map preset (shipped ones: Mixamo, CMU, Rigify, Unreal, SMPL-X) onto the "
                      "active armature; bone names may differ in namespace, such as mixamorig1:")
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    def invoke(self, context, event):
        self.filepath = str(PRESETS_DIR) + os.sep   # the file browser opens on the shipped presets
        return ImportHelper.invoke(self, context, event)

    def execute(self, context):
        target = retarget_target(context)
        source = retarget_source(context, target)
        try:
            name, pairs = load_preset(self.filepath)
        except BoneMapError as err:
            self.report({'ERROR'}, str(err))
            return {'CANCELLED'}
        usable, unfit = resolve_pairs(pairs, source.data.bones.keys(), target.data.bones.keys())
        if not usable:
            self.report({'ERROR'}, f"{self.filepath}: preset '{name}' names no bones of '{source.name}' and "
                                   f"'{target.name}'")
            return {'CANCELLED'}
        set_bone_map(target, usable)
        self.report({'INFO'}, f"preset '{name}': {len(usable)} bone pairs")
        if unfit:
            self.report({'WARNING'}, f"{len(unfit)} pair(s) of preset '{name}' name missing bones, e.g. "
                                     f"{unfit[0][0]} → {unfit[0][1]}")
        return {'FINISHED'}


class LM2D_OT_retarget_take(TargetOperator, bpy.types.Operator):
    bl_idname = "lm2d.retarget_take"
    bl_label = "Retarget Take"
    bl_description = ("Bake the source armature's take onto the active armature through its bone map, as a new "
                      "take on its own NLA track; the armature's existing actions are left untouched")
    bl_options = {'REGISTER', 'UNDO'}

    plant_feet: BoolProperty(
        name="Plant Feet", default=True,
        description="Put the ankles where the source's are (scaled to the rig) with a two-bone IK per leg, so "
                    "feet slide no more than the source's; off: legs copy the source's bone rotations")

    def execute(self, context):
        target = retarget_target(context)
        source = retarget_source(context, target)
        if not bone_map_pairs(target):
            fill_auto_map(self, context, target, source)
        try:
            action, track, _strip = retarget_take(source, target, bone_map_pairs(target), plant_feet=self.plant_feet)
        except ValueError as err:
            self.report({'ERROR'}, str(err))
            return {'CANCELLED'}
        report_take(self, target, action, track)
        constrained = constrained_bones(target, bone_map_pairs(target))
        if constrained:
            self.report({'WARNING'}, f"{len(constrained)} mapped bone(s) of '{target.name}' or their parents are "
                                     f"moved by constraints (e.g. {constrained[0]}), which retargeting cannot "
                                     "follow: the pose may differ from the source's")
        return {'FINISHED'}


class LM2D_OT_export_take(bpy.types.Operator, ExportHelper):
    bl_idname = "lm2d.export_take"
    bl_label = "Export Take"
    bl_description = ("Export the active armature's current take as BVH, FBX or glTF through Blender's own "
                      "exporters (the armature only, every frame of the take)")
    bl_options = {'REGISTER'}

    filename_ext = ".fbx"
    check_extension = True
    filter_glob: StringProperty(default="*.bvh;*.fbx;*.glb", options={'HIDDEN'})
    file_format: EnumProperty(name="Format", description="File format to write", items=EXPORT_FORMAT_ITEMS,
                              default='FBX')

    @classmethod
    def poll(cls, context):
        target = retarget_target(context)
        return target is not None and source_take(target) is not None

    def check(self, context):
        self.filename_ext = EXPORT_EXTENSIONS[self.file_format]
        return ExportHelper.check(self, context)

    def execute(self, context):
        target = retarget_target(context)
        action = source_take(target)
        stem, suffix = os.path.splitext(self.filepath)    # the chosen format wins over a typed extension
        if suffix.lower() not in EXPORT_EXTENSIONS.values():
            stem = self.filepath
        path = stem + EXPORT_EXTENSIONS[self.file_format]
        try:
            export_take(context, target, action, path)
        except (ValueError, RuntimeError) as err:
            self.report({'ERROR'}, str(err))
            return {'CANCELLED'}
        self.report({'INFO'}, f"{action.name} → {path}")
        return {'FINISHED'}


CLASSES = (LM2D_OT_auto_map_bones, LM2D_OT_bone_map_pair, LM2D_OT_save_bone_map, LM2D_OT_load_bone_map,
           LM2D_OT_retarget_take, LM2D_OT_export_take)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()


def unregister() -> None:
    _unregister_classes()
