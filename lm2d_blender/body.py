"""Which body a dancer wears: the real SMPL body when the add-on preferences name a body file
(`lm2d smpl-body`), the wooden mannequin otherwise; shown or hidden by the Dance panel's toggle."""
from __future__ import annotations

from .armature import armature_skeleton
from .mannequin import build_mannequin, mannequins_of
from .prefs import addon_preferences
from .smpl_body import build_smpl_body


def build_body(context, armature_obj) -> list:
    """Build the body for an LM2D armature; returns its objects."""
    preferences = addon_preferences(context)
    path = getattr(preferences, "smpl_body_path", "") if preferences else ""
    if path:
        import bpy

        return [build_smpl_body(armature_obj, bpy.path.abspath(path))]
    return build_mannequin(armature_obj)


def body_shown(scene) -> bool:
    """The Dance panel's Mannequin toggle (on where the add-on's settings are not registered)."""
    settings = getattr(scene, "lm2d", None)
    return settings is None or settings.show_mannequin


def show_bodies(context, visible: bool) -> None:
    """Show (building where missing) or hide the body of every LM2D armature in the scene."""
    for obj in context.scene.objects:
        if armature_skeleton(obj) is None:
            continue
        bodies = mannequins_of(obj)
        if visible and not bodies:
            bodies = build_body(context, obj)
        for body in bodies:
            body.hide_viewport = body.hide_render = not visible
