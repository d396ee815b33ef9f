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
    from lm2d.safe_write import atomic_output_folder, check_output

    output = check_output(args.output, inputs=[args.take], suffixes=FORMATS)
    motion, _lyrics = load_result_npz(args.take)
    if importlib.util.find_spec("bpy") is None:
        raise LM2DError(f"this Python ({sys.executable}) has no bpy module: `pip install bpy==5.0.1` "
                        "(Blender as a Python module, Python 3.11) to export")
    addon = args.addon.resolve()
    if not (addon / "export.py").is_file():
        raise LM2DError("not the lm2d_blender add-on folder (no export.py); pass --addon", path=addon)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(addon.parent), env.get("PYTHONPATH")]))
    # Blender writes into a temp folder beside the output (glTF writes a .bin beside its .gltf);
    # only a finished export replaces anything.
    with atomic_output_folder(output) as folder:
        child = subprocess.run([sys.executable, "-c", CHILD, str(args.take.resolve()), str(folder / output.name)],
                               env=env, capture_output=True, text=True)
        if child.returncode != 0:
            raise LM2DError(f"Blender could not export it: {blender_failure(child)}", path=args.output,
                            code="io_error")
    print(f"{args.output}: {motion.n_frames} frames at {motion.fps:g} FPS ({motion.duration:.2f} s)")
    return 0


def blender_failure(child: subprocess.CompletedProcess) -> str:
    """The cause of a failed export: the child's own "error:" line, else the operating system's
    reason (a traceback ends with Blender's "Location: .../bpy/ops.py" line, which says nothing)."""
    lines = [line.strip() for line in (child.stderr or child.stdout or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    for line in reversed(lines):
        if any(cause in line for cause in ("No space left", "Permission denied", "Read-only file system",
                                           "Disk quota", "Errno")):
            return line
    return lines[-1] if lines else f"exit status {child.returncode}"
