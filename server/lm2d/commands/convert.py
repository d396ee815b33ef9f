"""`lm2d convert MOTION -o OUT.bvh|OUT.npz`: AIST++ .pkl / AMASS .npz / result .npz to BVH or a result file."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.limits import MAX_FPS, MIN_FPS
from lm2d.validate.numbers import cli_number

HELP = "convert a motion (AIST++ .pkl, AMASS .npz, lm2d .npz) to .bvh or an lm2d result .npz"

_WRITERS = (".bvh", ".npz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("motion", type=Path, help="input motion file")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file; its extension picks the format: .bvh or .npz")
    parser.add_argument("--fps", type=cli_number(MIN_FPS, MAX_FPS), default=30.0,
                        help=f"frame rate of the output (resampled; default 30; {MIN_FPS:g} to {MAX_FPS:g})")
    parser.add_argument("--source-fps", type=cli_number(MIN_FPS, MAX_FPS), default=None,
                        help="frame rate of the input when the file has none or a wrong one "
                             "(AIST++ .pkl: 60 is assumed)")


def run(args: argparse.Namespace) -> int:
    # Imported here so `lm2d --help` does not pay for torch.
    from lm2d.motion.bvh import write_bvh
    from lm2d.motion.io import load_motion, save_result_npz
    from lm2d.safe_write import check_output

    output = check_output(args.output, inputs=[args.motion], suffixes=_WRITERS)
    motion = load_motion(args.motion, source_fps=args.source_fps, fps=args.fps)
    if output.suffix.lower() == ".bvh":
        write_bvh(motion, output)
    else:
        save_result_npz(motion, output)
    print(f"{args.output}: {motion.n_frames} frames at {motion.fps:g} FPS ({motion.duration:.2f} s)")
    return 0
