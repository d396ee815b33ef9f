"""The extension zip: built with Blender's own tool, installed through Blender's extension
installer into a throw-away user folder (a subprocess, so this test's Blender stays clean)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from blender_scenes import make_result, save_result



REPO = Path(__file__).resolve().parents[1]

INSTALL_AND_USE = textwrap.dedent("""
    import json, os, sys
    import bpy

    zip_path, take_path = sys.argv[1:3]
    result = {"install": sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True))}
    package = "bl_ext.user_default.lm2d_blender"
    module = sys.modules[package]
    result["module_file"] = module.__file__
    result["enabled"] = package in bpy.context.preferences.addons
    result["operators"] = sorted(name for name in ("LM2D_OT_add_smpl_armature", "LM2D_OT_load_take")
                                 if bpy.types.Operator.bl_rna_get_subclass_py(name) is not None)
    result["panel"] = bpy.types.Panel.bl_rna_get_subclass_py("VIEW3D_PT_lm2d_dance") is not None
    preferences = sys.modules[package + ".prefs"]
    result["preferences_device"] = preferences.addon_preferences(bpy.context).device
    result["results_dir"] = preferences.results_dir()
    result["load_take"] = sorted(bpy.ops.lm2d.load_take(filepath=take_path, target='NEW'))
    armature = bpy.context.active_object
    result["take"] = armature.animation_data.action.name
    result["server_wheel"] = sys.modules[package + ".server_env"].package_source(os.path.dirname(module.__file__))
    result["imported_torch"] = "torch" in sys.modules
    print("RESULT " + json.dumps(result))
""")


def load_build_tool():
    spec = importlib.util.spec_from_file_location("build_extension", REPO / "tools" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    return load_build_tool().build(tmp_path_factory.mktemp("dist"))


def test_the_zip_holds_the_package_and_a_valid_manifest(extension_zip):
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    assert extension_zip.name == f"lm2d_blender-{manifest['version']}.zip"
    assert manifest["id"] == "lm2d_blender" and manifest["blender_version_min"] == "4.2.0"
    assert len(manifest["tagline"]) <= 64 and manifest["tagline"][-1].isalnum()
    # The server is a local subprocess; only Install Server uses the network (pip).
    assert set(manifest["permissions"]) == {"files", "network"}
    with zipfile.ZipFile(extension_zip) as archive:
        names = set(archive.namelist())
        licence = archive.read("LICENSE").decode()
    assert {"blender_manifest.toml", "__init__.py", "keys.py", "armature.py", "smpl_skeleton.json",
            "LICENSE", f"server_wheel/lm2d-{manifest['version']}-py3-none-any.whl"} <= names
    assert licence.lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    assert licence == (REPO / "LICENSE").read_text()
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_the_zip_installs_as_an_extension_and_works(extension_zip, tmp_path):
    take = save_result(tmp_path / "take.npz", make_result(frames=12))
    user_folder = tmp_path / "blender_user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user_folder))
    completed = subprocess.run([sys.executable, "-c", INSTALL_AND_USE, str(extension_zip), take],
                               capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert completed.returncode == 0 and lines, completed.stdout + completed.stderr
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["install"] == ["FINISHED"] and result["enabled"]
    assert Path(result["module_file"]).is_relative_to(user_folder / "extensions" / "user_default" / "lm2d_blender")
    assert result["operators"] == ["LM2D_OT_add_smpl_armature", "LM2D_OT_load_take"] and result["panel"]
    assert result["preferences_device"] == "AUTO"
    assert Path(result["results_dir"]).is_dir()
    assert Path(result["results_dir"]).is_relative_to(user_folder / "extensions" / ".user" / "user_default")
    assert result["load_take"] == ["FINISHED"] and result["take"] == "LM2D take 1"
    assert result["server_wheel"].endswith("lm2d_blender/server_wheel/lm2d-0.1.0-py3-none-any.whl")
    assert not result["imported_torch"]
