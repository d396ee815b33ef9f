"""View3D › Sidebar › Dance: inputs, generation settings, progress, take editing and retargeting,
plus Object › Dance menu (which F3 menu search finds). Every panel of the add-on is here.

The operators live in operators.py, operators_generate.py (the ones that talk to the server) and
operators_retarget.py; the panel and menu show each one only once it is registered. Job progress
and server details come from WindowManager.lm2d (props.py)."""
from __future__ import annotations

import bpy

from .armature import armature_skeleton
from .lyrics_track import strips_collection_name
from . import warm_start
from .model_kind import BAKED_GUIDANCE, guidance_is_baked
from .props import retarget_source, retarget_target, scene_settings, session_state

# (idname, label, icon) of every LM2D operator, in menu order.
GENERATE = ("lm2d.generate", "Generate Dance", 'PLAY')
CANCEL = ("lm2d.cancel", "Cancel", 'CANCEL')
CHECK_SERVER = ("lm2d.check_server", "Check Server", 'CHECKMARK')
IMPORT_LYRICS = ("lm2d.import_lyrics", "Import Lyrics as Strips…", 'TEXT')
REGENERATE_RANGE = ("lm2d.regenerate_range", "Regenerate Range", 'FILE_REFRESH')
KEEP_LOWER_BODY = ("lm2d.keep_lower_body", "Keep Lower Body", 'BONE_DATA')
CONTINUE = ("lm2d.continue", "Continue Dance", 'FF')
ADD_ARMATURE = ("lm2d.add_smpl_armature", "Add SMPL Dancer", 'OUTLINER_OB_ARMATURE')
LOAD_TAKE = ("lm2d.load_take", "Load Take…", 'IMPORT')
IMPORT_VIDEO = ("lm2d.import_video", "Import Dance from Video…", 'FILE_MOVIE')
RETARGET_TAKE = ("lm2d.retarget_take", "Retarget Take", 'ARMATURE_DATA')
AUTO_MAP_BONES = ("lm2d.auto_map_bones", "Auto-Map Bones", 'AUTO')
BONE_MAP_PAIR = ("lm2d.bone_map_pair", "Add Bone Pair", 'ADD')
LOAD_BONE_MAP = ("lm2d.load_bone_map", "Load Bone Map…", 'PRESET')
SAVE_BONE_MAP = ("lm2d.save_bone_map", "Save Bone Map…", 'FILE_TICK')
EXPORT_TAKE = ("lm2d.export_take", "Export Take…", 'EXPORT')
CHECK_ENVIRONMENT = ("lm2d.check_environment", "Check Server Environment", 'CHECKMARK')
INSTALL_SERVER = ("lm2d.install_server", "Install Server", 'IMPORT')
CANCEL_INSTALL = ("lm2d.cancel_install", "Cancel Server Install", 'CANCEL')
MENU_ENTRIES = (GENERATE, CANCEL, REGENERATE_RANGE, KEEP_LOWER_BODY, CONTINUE, None,
                ADD_ARMATURE, LOAD_TAKE, IMPORT_VIDEO, IMPORT_LYRICS, None,
                RETARGET_TAKE, AUTO_MAP_BONES, BONE_MAP_PAIR, LOAD_BONE_MAP, SAVE_BONE_MAP, EXPORT_TAKE, None,
                CHECK_SERVER, CHECK_ENVIRONMENT, INSTALL_SERVER, CANCEL_INSTALL)


def operator_registered(idname: str) -> bool:
    category, name = idname.split(".")
    return bpy.types.Operator.bl_rna_get_subclass_py(f"{category.upper()}_OT_{name}") is not None


def draw_operator(layout, entry) -> None:
    idname, label, icon = entry
    if operator_registered(idname):
        layout.operator(idname, text=label, icon=icon)


class LM2DPanelBase:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Dance"


class VIEW3D_PT_lm2d_dance(LM2DPanelBase, bpy.types.Panel):
    bl_label = "LM2D Dance"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        settings = scene_settings(context.scene)
        warm_start.request(context)   # only schedules a timer: draw() must not start processes

        layout.prop(settings, "target")
        layout.prop(settings, "show_mannequin")
        if settings.target == 'ACTIVE' and armature_skeleton(context.active_object) is None:
            draw_operator(layout, ADD_ARMATURE)

        layout.prop(settings, "audio_source")
        if settings.audio_source == 'FILE':
            layout.prop(settings, "audio_path")
        elif context.scene.sequence_editor is not None:
            editor = context.scene.sequence_editor
            layout.prop_search(settings, "audio_strip", editor, strips_collection_name(editor), icon='SOUND')
        else:
            layout.label(text="The Video Sequencer has no strips", icon='INFO')

        layout.prop(settings, "lyrics_source")
        if settings.lyrics_source == 'FILE':
            layout.prop(settings, "lyrics_path")
        elif settings.lyrics_source == 'STRIPS':
            layout.prop(settings, "lyrics_channel")
        draw_operator(layout, IMPORT_LYRICS)


class VIEW3D_PT_lm2d_generate(LM2DPanelBase, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "VIEW3D_PT_lm2d_dance"

    def draw(self, context):
        layout = self.layout
        settings = scene_settings(context.scene)
        job = session_state(context)
        column = layout.column()
        column.use_property_split = True
        column.use_property_decorate = False
        column.enabled = not job.is_running
        column.prop(settings, "dance_seconds")
        column.prop(settings, "seed")
        column.row().prop(settings, "steps", expand=True)
        baked = guidance_is_baked(context)
        if baked:
            column.label(text=BAKED_GUIDANCE, icon='INFO')
        guidance = column.column()
        guidance.enabled = not baked
        guidance.prop(settings, "music_guidance")
        guidance.prop(settings, "lyrics_guidance")
        column.prop(settings, "beat_accent")
        column.prop(settings, "foot_lock")
        column.prop(settings, "repeat_sections")

        row = layout.row(align=True)
        row.scale_y = 1.4
        draw_operator(row, CANCEL if job.is_running else GENERATE)
        if job.is_running or job.status:
            draw_progress(layout, job)
        if job.warmup:
            layout.label(text=job.warmup, icon='CHECKMARK' if job.warmup.startswith("Dance server ready") else 'TIME')
        draw_operator(layout, CHECK_SERVER)
        if job.server:
            layout.label(text=job.server, icon='INFO')


def draw_progress(layout, job) -> None:
    if hasattr(layout, "progress"):  # UILayout.progress: Blender 4.0+
        layout.progress(factor=job.progress, type='BAR', text=job.status)
    else:
        layout.prop(job, "progress", text=job.status, slider=True)


class VIEW3D_PT_lm2d_takes(LM2DPanelBase, bpy.types.Panel):
    bl_label = "Takes"
    bl_parent_id = "VIEW3D_PT_lm2d_dance"

    def draw(self, context):
        layout = self.layout
        settings = scene_settings(context.scene)
        row = layout.row(align=True)
        row.prop(settings, "range_start")
        row.prop(settings, "range_end")
        layout.prop(settings, "continue_seconds")
        layout.prop(settings, "apply_to_repeats")
        column = layout.column(align=True)
        column.enabled = not session_state(context).is_running
        for entry in (REGENERATE_RANGE, KEEP_LOWER_BODY, CONTINUE):
            draw_operator(column, entry)
        draw_operator(layout, LOAD_TAKE)
        draw_operator(layout, IMPORT_VIDEO)


class VIEW3D_MT_lm2d_dance(bpy.types.Menu):
    bl_label = "Dance"

    def draw(self, context):
        layout = self.layout
        for entry in MENU_ENTRIES:
            if entry is None:
                layout.separator()
            else:
                draw_operator(layout, entry)


class LM2D_UL_bone_map(bpy.types.UIList):
    """One row per pair: source bone (searched in the source armature) → target bone (in this one)."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        source = retarget_source(context, data)
        row = layout.row(align=True)
        if source is not None:
            row.prop_search(item, "source", source.data, "bones", text="", icon='BONE_DATA')
        else:
            row.prop(item, "source", text="", icon='BONE_DATA')
        row.label(text="", icon='FORWARD')
        row.prop_search(item, "target", data.data, "bones", text="", icon='BONE_DATA')


class VIEW3D_PT_lm2d_retarget(LM2DPanelBase, bpy.types.Panel):
    bl_label = "Retarget & Export"
    bl_parent_id = "VIEW3D_PT_lm2d_dance"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        target = retarget_target(context)
        if target is None:
            layout.label(text="Select an armature in Object Mode", icon='INFO')
            return
        if armature_skeleton(target) is None:
            layout.prop(target, "lm2d_retarget_source", text="Source")
            row = layout.row(align=True)
            draw_operator(row, AUTO_MAP_BONES)
            draw_operator(row, LOAD_BONE_MAP)
            draw_operator(row, SAVE_BONE_MAP)
            row = layout.row()
            row.template_list(LM2D_UL_bone_map.__name__, "", target, "lm2d_bone_map", target, "lm2d_bone_map_index",
                              rows=6)
            column = row.column(align=True)
            column.operator(BONE_MAP_PAIR[0], text="", icon='ADD').action = 'ADD'
            column.operator(BONE_MAP_PAIR[0], text="", icon='REMOVE').action = 'REMOVE'
            row = layout.row()
            row.scale_y = 1.3
            draw_operator(row, RETARGET_TAKE)
        draw_operator(layout, EXPORT_TAKE)


def _draw_object_menu(self, context):
    self.layout.menu(VIEW3D_MT_lm2d_dance.__name__)


CLASSES = (VIEW3D_PT_lm2d_dance, VIEW3D_PT_lm2d_generate, VIEW3D_PT_lm2d_takes, LM2D_UL_bone_map,
           VIEW3D_PT_lm2d_retarget, VIEW3D_MT_lm2d_dance)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()
    bpy.types.VIEW3D_MT_object.append(_draw_object_menu)


def unregister() -> None:
    bpy.types.VIEW3D_MT_object.remove(_draw_object_menu)
    _unregister_classes()
