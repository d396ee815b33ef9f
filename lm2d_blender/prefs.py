"""Add-on preferences: the dance server's Python (found, checked or installed: server_setup.py),
which checkpoint and device it uses."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty


class LM2DPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__  # "lm2d_blender", or "bl_ext.<repo>.lm2d_blender" when installed as an extension

    python_path: StringProperty(
        name="Python Interpreter",
        description="Python executable of an environment with the lm2d package (and torch); empty: use the "
                    "environment Install Server made, else an lm2d on PATH, else the checkout's .venv",
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
    torch_variant: EnumProperty(
        name="Torch", description="Which torch Install Server puts in the environment",
        items=[('CPU', "CPU", "Runs everywhere; about 1 GB to download"),
               ('CUDA', "CUDA", "For an NVIDIA GPU with a recent driver; about 3 GB to download")])
    wheel_folder: StringProperty(
        name="Install From Folder",
        description="Optional: a folder of wheels (lm2d, torch and the rest) to install from without any "
                    "download, for machines offline",
        subtype='DIR_PATH')
    reuse_python: StringProperty(
        name="Reuse Packages From",
        description="Optional: the Python of an environment whose packages (say, a CUDA torch) the new "
                    "environment may use instead of downloading them again",
        subtype='FILE_PATH')

    smpl_body_path: StringProperty(
        name="SMPL Body",
        description="Optional: a body file written by `lm2d smpl-body` from your licensed SMPL model; new "
                    "dancers then wear the real SMPL body (skinned) instead of the wooden mannequin",
        subtype='FILE_PATH')

    def draw(self, context):
        from .server_setup import draw_preferences   # the server checklist and installer
        draw_preferences(self, context)


def addon_preferences(context):
    """The add-on's preferences, or None when the package is registered without being an enabled add-on."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def user_folder(name: str) -> str:
    """A writable folder of the add-on's own: under the extension's user directory when installed
    as an extension (the only place extensions may write), Blender's user data folder otherwise."""
    if __package__.startswith("bl_ext."):
        return bpy.utils.extension_path_user(__package__, path=name, create=True)
    return bpy.utils.user_resource('DATAFILES', path=f"{__package__}/{name}", create=True)


def results_dir() -> str:
    """Generated results (kept: edits start from them)."""
    return user_folder("results")


def managed_env_dir() -> str:
    """Where Install Server creates the server's Python environment."""
    return user_folder("server-env")


def register() -> None:
    bpy.utils.register_class(LM2DPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(LM2DPreferences)
