"""`lm2d import-mocap CAPTURE.bvh|.fbx -o OUT.npz|.bvh`: real motion capture onto lm2d's SMPL skeleton."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.blender_child import DEFAULT_ADDON
from lm2d.limits import MAX_FPS, MIN_FPS
from lm2d.validate.numbers import cli_number

HELP = ("retarget a BVH or FBX motion capture onto the SMPL skeleton (30 FPS, Z-up metres) as an lm2d "
        "result .npz or BVH (needs bpy; docs/DATASET.md)")

_WRITERS = (".npz", ".bvh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", type=Path, help="motion capture file: .bvh or .fbx (CMU, Mixamo and similar rigs)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file; its extension picks the format: .npz (lm2d result / corpus clip) or .bvh")
    parser.add_argument("--fps", type=cli_number(MIN_FPS, MAX_FPS), default=30.0, help="frame rate of the output (resampled; default 30)")
    parser.add_argument("--start", type=cli_number(0), default=0.0, metavar="SECONDS",
                        help="capture time that becomes time 0 (where the song starts; default 0)")
    parser.add_argument("--end", type=cli_number(0), default=None, metavar="SECONDS",
                        help="capture time to stop at (default: the end of the capture)")
    parser.add_argument("--addon", type=Path, default=DEFAULT_ADDON, metavar="DIR",
                        help=f"the lm2d_blender add-on folder (default: {DEFAULT_ADDON})")


def run(args: argparse.Namespace) -> int:
    from lm2d.mocap import import_mocap
    from lm2d.motion.bvh import write_bvh
    from lm2d.motion.io import save_result_npz
    from lm2d.safe_write import check_output

    output = check_output(args.output, inputs=[args.capture], suffixes=_WRITERS)
    imported = import_mocap(args.capture, args.fps, args.addon, args.start, args.end)
    motion = imported.motion
    if output.suffix.lower() == ".bvh":
        write_bvh(motion, output)
    else:
        save_result_npz(motion, output)
    held = (f" (its first {imported.rest_frames} frame(s), the bare rest pose, given the first captured pose)"
            if imported.rest_frames else "")
    print(f"{args.output}: {motion.n_frames} frames at {motion.fps:g} FPS ({motion.duration:.2f} s) from "
          f"{imported.source_frames} frames at {imported.source_fps:g} FPS{held}; "
          f"{len(imported.bone_map)} bones mapped")
    return 0
