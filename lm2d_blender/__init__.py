"""LM2D Dance: turn a song and its lyrics into an SMPL dance on an armature.

Blender 4.2+ extension (blender_manifest.toml at the repository root). Runs on bpy, mathutils,
numpy and the standard library only; the model runs in a separate Python with torch (lm2d) and
hands back result files (keys.py, result_file.py). Relative imports only: installed as an
extension the package is bl_ext.<repo>.lm2d_blender."""
from . import (operators, operators_generate, operators_retarget, operators_video, panel, prefs, props, server_setup,
               warm_start)

# Registration order; unregistration runs in reverse. Each module has register()/unregister().
# operators_retarget after panel: its sub-panel needs the parent panel registered; warm_start
# after operators_generate, so its timer is gone before the server is stopped.
MODULES = [props, prefs, server_setup, operators, operators_generate, operators_video, panel, warm_start,
           operators_retarget]


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
