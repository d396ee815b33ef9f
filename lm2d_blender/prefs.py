"""Add-on preferences: where the lm2d server's Python lives, which checkpoint and device it uses."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty


class LM2DPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__  # "lm2d_blender", or "bl_ext.<repo>.lm2d_blender" when installed as an extension

    python_path: StringProperty(
        name="Python Interpreter",
        description="Python executable of an environment with the lm2d package (and torch) installed; "
                    "the add-on starts the dance server with it",
        subtype='FILE_PATH')
    checkpoint_path: StringProperty(
        name="Checkpoint",
        description="Model checkpoint for the server; leave empty to use the one shipped with lm2d",
        subtype='FILE_PATH')
    device: EnumProperty(
        name="Device", description="Where the server runs the model",
        items=[('AUTO', "Auto", "CUDA when the server's torch sees a GPU, otherwise CPU"),
               ('CPU', "CPU", "Always the CPU"),
               ('CUDA', "CUDA", "An NVIDIA GPU (fails when the server's torch has none)")])

    smpl_body_path: StringProperty(
        name="SMPL Body",
        description="Optional: a body file written by `lm2d smpl-body` from your licensed SMPL model; new "
                    "dancers then wear the real SMPL body (skinned) instead of the wooden mannequin",
        subtype='FILE_PATH')

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "python_path")
        layout.prop(self, "checkpoint_path")
        layout.prop(self, "device")
        layout.prop(self, "smpl_body_path")


def addon_preferences(context):
    """The add-on's preferences, or None when the package is registered without being an enabled add-on."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def results_dir() -> str:
    """Writable folder for generated results: the extension's user directory when installed as an
    extension (the only place extensions may write), Blender's user data folder otherwise."""
    if __package__.startswith("bl_ext."):
        return bpy.utils.extension_path_user(__package__, path="results", create=True)
    return bpy.utils.user_resource('DATAFILES', path=f"{__package__}/results", create=True)


def register() -> None:
    bpy.utils.register_class(LM2DPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(LM2DPreferences)
