"""`lm2d dataset-from-videos DIR --out DATA`: dance videos (each with its lyrics file beside it)
to the training dataset layout of docs/DATASET.md."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build a training dataset (docs/DATASET.md layout) from dance videos and their lyrics files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lm2d.video.camera import DEFAULT_FIELD_OF_VIEW

    parser.add_argument("videos", type=Path, help="folder of videos, each with NAME.lrc/.srt/… beside NAME.mp4")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (clips go to OUT/SPLIT/<name>/)")
    parser.add_argument("--split", default="train", help="split folder to fill (default train)")
    parser.add_argument("--field-of-view", type=float, default=DEFAULT_FIELD_OF_VIEW, metavar="DEG",
                        help=f"the cameras' angle of view across the longer side (default {DEFAULT_FIELD_OF_VIEW:g})")


def run(args: argparse.Namespace) -> int:
    from lm2d.commands.video2motion import progress_bar
    from lm2d.errors import LM2DError
    from lm2d.video.dataset import find_video_clips, write_clip

    if not args.split or "/" in args.split or args.split.startswith("."):
        raise LM2DError(f"--split must be a plain folder name, got {args.split!r}")
    clips = find_video_clips(args.videos)
    split_folder = args.out / args.split
    written = existing = 0
    for number, clip in enumerate(clips, start=1):
        if (split_folder / clip.clip_id).exists():
            print(f"[{number}/{len(clips)}] {clip.clip_id}: already in {split_folder}, kept")
            existing += 1
            continue
        show, close = progress_bar()
        try:
            folder = write_clip(clip, split_folder, args.field_of_view, show)
        finally:
            close()
        if folder is not None:
            written += 1
            lyrics = clip.lyrics.name if clip.lyrics else "no lyrics (null lyric condition)"
            print(f"[{number}/{len(clips)}] {clip.clip_id}: {folder} ({lyrics})")
    print(f"{split_folder}: {written} clip(s) written, {existing} already there, "
          f"{len(clips) - written - existing} skipped")
    if not written and not existing:
        raise LM2DError("no clip written: none of the videos has a sound track", path=args.videos)
    return 0
