"""`lm2d export TAKE.npz -o OUT.bvh|.fbx|.glb|.gltf`: a result file through Blender's own exporters.

lm2d never imports bpy: the export runs in Blender in a child process (lm2d.blender_child), where
the add-on keys the take and calls the exporter exactly as its Export button does."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.blender_child import DEFAULT_ADDON, run_addon_module

HELP = "export a dance result (.npz) as BVH, FBX or glTF through Blender's own exporters (needs bpy)"

FORMATS = (".bvh", ".fbx", ".glb", ".gltf")


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
    # Blender writes into a temp folder beside the output (glTF writes a .bin beside its .gltf);
    # only a finished export replaces anything.
    with atomic_output_folder(output) as folder:
        run_addon_module("export", [str(args.take.resolve()), str(folder / output.name)], args.addon,
                         "export it", args.output)
    print(f"{args.output}: {motion.n_frames} frames at {motion.fps:g} FPS ({motion.duration:.2f} s)")
    return 0

