"""Operators that work without the server: add an SMPL armature, load a result file as a take."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .armature import armature_for_take, new_dancer
from .keys import write_take
from .props import TARGET_ITEMS, scene_settings
from .result_file import ResultFileError, read_result, result_skeleton
from .skeleton import shipped_skeleton


class LM2D_OT_add_smpl_armature(bpy.types.Operator):
    bl_idname = "lm2d.add_smpl_armature"
    bl_label = "SMPL Dancer"
    bl_description = "Add an armature with the 24 SMPL joints in rest pose, ready to receive dance takes"
    bl_options = {'REGISTER', 'UNDO'}

    preview_mesh: BoolProperty(
        name="Mannequin Body", default=True,
        description="Give the dancer a wooden mannequin body so it shows in renders and playblasts")

    @classmethod
    def poll(cls, context):
        return context.mode == 'OBJECT'

    def execute(self, context):
        new_dancer(context, shipped_skeleton(), preview_mesh=self.preview_mesh)
        return {'FINISHED'}


class LM2D_OT_load_take(bpy.types.Operator, ImportHelper):
    bl_idname = "lm2d.load_take"
    bl_label = "Load Dance Take"
    bl_description = ("Import a dance result file (.npz written by lm2d) as a new take: a new action "
                      "on its own NLA track of the target armature")
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})
    target: EnumProperty(name="Target", description="Armature that receives the take", items=TARGET_ITEMS)
    start_frame: IntProperty(name="Start Frame", description="Frame where the take begins", default=1)

    @classmethod
    def poll(cls, context):
        return context.mode == 'OBJECT'

    def invoke(self, context, event):
        self.target = scene_settings(context.scene).target
        return ImportHelper.invoke(self, context, event)

    def execute(self, context):
        try:
            result = read_result(self.filepath)
        except ResultFileError as err:
            self.report({'ERROR'}, str(err))
            return {'CANCELLED'}
        armature_obj = armature_for_take(context, result_skeleton(result), self.target)
        try:
            action, track, _strip = write_take(armature_obj, result, context.scene, start_frame=self.start_frame,
                                               source=self.filepath)
        except ValueError as err:
            self.report({'ERROR'}, f"{self.filepath}: {err}")
            return {'CANCELLED'}
        report_take(self, armature_obj, action, track)
        return {'FINISHED'}


def report_take(operator, armature_obj, action, track) -> None:
    """Tell the user where the take went, and when their own active action hides part of it."""
    frames = round(action.frame_range[1] - action.frame_range[0]) + 1
    operator.report({'INFO'}, f"{action.name}: {frames} frames on '{armature_obj.name}'")
    active = armature_obj.animation_data.action
    if active is not None and active != action:
        operator.report({'WARNING'}, f"'{armature_obj.name}' keeps its active action '{active.name}', which "
                                     f"overrides the take on the channels it animates; the take is on "
                                     f"NLA track '{track.name}'")


def _draw_add_menu(self, context):
    self.layout.operator(LM2D_OT_add_smpl_armature.bl_idname, icon='OUTLINER_OB_ARMATURE')


def _draw_import_menu(self, context):
    self.layout.operator(LM2D_OT_load_take.bl_idname, text="LM2D Dance Take (.npz)")


CLASSES = (LM2D_OT_add_smpl_armature, LM2D_OT_load_take)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()
    # Menu entries make the operators reachable from F3 menu search.
    bpy.types.VIEW3D_MT_armature_add.append(_draw_add_menu)
    bpy.types.TOPBAR_MT_file_import.append(_draw_import_menu)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(_draw_import_menu)
    bpy.types.VIEW3D_MT_armature_add.remove(_draw_add_menu)
    _unregister_classes()
