#!/usr/bin/env python3
"""Build the installable Blender extension zip into dist/ (`python build.py extension`).

Stages lm2d_blender/ (sources and data, no caches) with blender_manifest.toml, LICENSE and the
lm2d wheel (server_wheel/, which the add-on's Install Server installs) in a temporary folder, then builds and validates the zip with Blender's own extension tool, blender_ext.py,
which the bpy wheel ships (the same code as `blender --command extension build`)."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lm2d_blender"
MANIFEST = ROOT / "blender_manifest.toml"
LICENSE = ROOT / "LICENSE"
SERVER_WHEEL_DIR = "server_wheel"   # lm2d_blender.server_env.shipped_wheel looks here
SHIPPED_SUFFIXES = (".py", ".json")


def bpy_scripts_file(relative: str) -> Path:
    """A file under the bpy wheel's <version>/scripts/ folder, found without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        sys.exit("build_extension: bpy is not installed in this Python (run it through `python build.py extension`)")
    matches = sorted(Path(spec.origin).parent.glob(f"*/scripts/{relative}"))
    if not matches:
        sys.exit(f"build_extension: {relative} not found in the bpy package at {Path(spec.origin).parent}")
    return matches[-1]


def build_server_wheel(destination: Path) -> Path:
    """The lm2d wheel (no dependencies: pip fetches those) that Install Server puts in the
    add-on's managed environment. Built offline from the checkout with the setuptools at hand."""
    destination.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                                "--wheel-dir", str(destination), str(ROOT)], capture_output=True, text=True)
    wheels = sorted(destination.glob("lm2d-*.whl"))
    if completed.returncode != 0 or not wheels:
        sys.exit(f"build_extension: building the lm2d wheel failed:\n{completed.stdout}{completed.stderr}")
    return wheels[-1]


def stage(destination: Path) -> None:
    shutil.copy2(MANIFEST, destination / MANIFEST.name)
    shutil.copy2(LICENSE, destination / LICENSE.name)
    build_server_wheel(destination / SERVER_WHEEL_DIR)
    for source in sorted(PACKAGE.rglob("*")):
        if source.is_file() and source.suffix in SHIPPED_SUFFIXES and "__pycache__" not in source.parts:
            target = destination / source.relative_to(PACKAGE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_blender_ext(*args: str) -> None:
    script = bpy_scripts_file("addons_core/bl_pkg/cli/blender_ext.py")
    completed = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"build_extension: blender_ext {args[0]} failed:\n{completed.stdout}{completed.stderr}")


def build(output_dir: Path = ROOT / "dist") -> Path:
    """Build and validate the extension zip; returns its path."""
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    # Tags are checked against the list Blender itself ships (as `blender --command extension` does).
    valid_tags = bpy_scripts_file("modules/_bpy_internal/extensions/tags.py")
    with tempfile.TemporaryDirectory(prefix="lm2d_extension_") as staging:
        stage(Path(staging))
        run_blender_ext("build", "--source-dir", staging, "--output-filepath", str(archive),
                        "--valid-tags", str(valid_tags))
    run_blender_ext("validate", "--valid-tags", str(valid_tags), str(archive))
    return archive


def main() -> int:
    archive = build()
    print(archive)
    print("Install: Blender › Edit › Preferences › Get Extensions › Install from Disk… → this zip.\n"
          f"Then, in the add-on's preferences, set Python Interpreter to {sys.executable} (this checkout's\n"
          "environment), or press Install Server for an environment of the add-on's own; Check lists what it has.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
