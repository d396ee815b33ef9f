"""`lm2d export TAKE.npz -o OUT.bvh|.fbx|.glb|.gltf`: a result file through Blender's own exporters.

lm2d never imports bpy: the export runs in a child process of this same interpreter (which must have
the `bpy` module, e.g. `pip install bpy==5.0.1`) with the add-on package lm2d_blender importable,
and the add-on keys the take and calls the exporter exactly as its Export button does."""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from lm2d.errors import LM2DError

HELP = "export a dance result (.npz) as BVH, FBX or glTF through Blender's own exporters (needs bpy)"

FORMATS = (".bvh", ".fbx", ".glb", ".gltf")
# The add-on sits beside server/ in a checkout (lm2d is installed from it in editable mode).
DEFAULT_ADDON = Path(__file__).resolve().parents[3] / "lm2d_blender"
CHILD = "import sys; from lm2d_blender.export import main; sys.exit(main())"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("take", type=Path, help="an lm2d result file (.npz), e.g. from `lm2d generate`")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file; its extension picks the format: " + ", ".join(FORMATS))
    parser.add_argument("--addon", type=Path, default=DEFAULT_ADDON, metavar="DIR",
                        help=f"the lm2d_blender add-on folder (default: {DEFAULT_ADDON})")


def run(args: argparse.Namespace) -> int:
    from lm2d.motion.io import load_result_npz   # checks the file, naming it, before Blender starts

    suffix = args.output.suffix.lower()
    if suffix not in FORMATS:
        raise LM2DError(f"unknown output format {suffix or '(no extension)'!r}: use {', '.join(FORMATS)}",
                        path=args.output)
    motion, _lyrics = load_result_npz(args.take)
    if importlib.util.find_spec("bpy") is None:
        raise LM2DError(f"this Python ({sys.executable}) has no bpy module: `pip install bpy==5.0.1` "
                        "(Blender as a Python module, Python 3.11) to export")
    addon = args.addon.resolve()
    if not (addon / "export.py").is_file():
        raise LM2DError("not the lm2d_blender add-on folder (no export.py); pass --addon", path=addon)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(addon.parent), env.get("PYTHONPATH")]))
    child = subprocess.run([sys.executable, "-c", CHILD, str(args.take.resolve()), str(args.output.resolve())],
                           env=env, capture_output=True, text=True)
    if child.returncode != 0:
        lines = (child.stderr or child.stdout).strip().splitlines()
        message = lines[-1] if lines else f"exit status {child.returncode}"
        raise LM2DError(f"Blender could not export it: {message.removeprefix('error: ')}", path=args.output)
    print(f"{args.output}: {motion.n_frames} frames at {motion.fps:g} FPS ({motion.duration:.2f} s)")
    return 0
