"""`lm2d video2motion VIDEO -o take.npz|take.bvh`: the dance in a video as SMPL motion at 30 FPS."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "turn a dance video into SMPL motion (.npz result file or .bvh) with MediaPipe Pose"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lm2d.video.camera import DEFAULT_FIELD_OF_VIEW

    parser.add_argument("video", type=Path, help="the video (any format FFmpeg reads: MP4, MOV, WebM, …)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the motion: .npz (lm2d result file) or .bvh")
    parser.add_argument("--audio", type=Path, metavar="WAV", help="also write the video's sound track here")
    parser.add_argument("--field-of-view", type=float, default=DEFAULT_FIELD_OF_VIEW, metavar="DEG",
                        help=f"the camera's angle of view across the picture's longer side (default "
                             f"{DEFAULT_FIELD_OF_VIEW:g}); mostly the pelvis path's depth depends on it")
    parser.add_argument("--lifter", metavar="PATH|none", default="shipped",
                        help="the landmark lifter the fit follows: one trained by lm2d train-lifter, or none "
                             "for the landmarks alone (default: the shipped one)")


def progress_bar():
    """A tqdm bar per stage (landmarks, fit, ground) and the callback that drives it."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def show(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            unit = "frame" if stage == "landmarks" else "it"
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=unit, leave=False, disable=None, delay=0.5)
        bar.total = max(total, done)
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return show, close


def run(args: argparse.Namespace) -> int:
    from lm2d.errors import LM2DError
    from lm2d.pipeline import check_output_path, write_result
    from lm2d.video.convert import video_to_motion
    from lm2d.video.decode import extract_audio
    from lm2d.video.lifter import load_lifter

    output = check_output_path(args.output)
    choice = args.lifter.lower()
    lifter = "shipped" if choice == "shipped" else None if choice == "none" else load_lifter(args.lifter)
    if not 10.0 <= args.field_of_view <= 150.0:
        raise LM2DError(f"--field-of-view must be between 10 and 150 degrees, got {args.field_of_view:g}")
    started = time.perf_counter()
    show, close = progress_bar()
    try:
        result = video_to_motion(args.video, args.field_of_view, progress=show, lifter=lifter)
    finally:
        close()
    write_result(result.motion, output)
    print(f"wrote {output}: {result.summary()} in {time.perf_counter() - started:.1f} s")
    if args.audio is not None:
        if extract_audio(args.video, args.audio):
            print(f"wrote {args.audio}: the video's sound track")
        else:
            print(f"{args.video}: no sound track, {args.audio} not written")
    return 0
