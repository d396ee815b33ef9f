"""`lm2d features SONG -o feats.npy`: the 35-dim, 30 FPS music features of a song."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lm2d.audio import DEFAULT_MAX_SECONDS
from lm2d.errors import LM2DError
from lm2d.limits import MAX_SONG_SECONDS
from lm2d.validate.numbers import cli_number

HELP = "Extract a song's 35-dim music features (30 FPS, EDGE's baseline set) to a .npy file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path, help="song: wav, ogg, flac or mp3")
    parser.add_argument("-o", "--output", type=Path,
                        help="write the (T, 35) float32 array here (.npy); without it, only print the summary")
    parser.add_argument("--beats-json", type=Path, metavar="FILE",
                        help="also write beat times (seconds), tempo, duration and frame count as JSON")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if cached")
    parser.add_argument("--max-seconds", type=cli_number(0, MAX_SONG_SECONDS, low_open=True),
                        default=DEFAULT_MAX_SECONDS,
                        help=f"refuse longer songs (default {DEFAULT_MAX_SECONDS:g}, at most {MAX_SONG_SECONDS:g})")


def run(args: argparse.Namespace) -> int:
    from lm2d.features import extract_features
    from lm2d.safe_write import atomic_open, check_output, same_file

    outputs = [output for output in (args.output, args.beats_json) if output is not None]
    for output in outputs:
        if not output.parent.is_dir():
            raise LM2DError("output folder does not exist", path=output.parent)
        check_output(output, inputs=[args.audio])
    if len(outputs) == 2 and same_file(*outputs):
        raise LM2DError("-o and --beats-json name the same file", path=args.output)
    music = extract_features(args.audio, cache=not args.no_cache, max_seconds=args.max_seconds)
    if args.output is not None:
        with atomic_open(args.output) as stream:
            np.save(stream, music.features)  # a stream, so the name is kept exactly as given
    if args.beats_json is not None:
        summary = {"fps": music.fps, "n_frames": music.n_frames, "duration": music.duration,
                   "tempo": music.tempo, "beat_times": [round(float(t), 6) for t in music.beat_times]}
        with atomic_open(args.beats_json, "w") as stream:
            json.dump(summary, stream, indent=1)
    print(f"{args.audio}: {music.n_frames} frames ({music.features.shape[1]} features at {music.fps} FPS), "
          f"{music.duration:.2f} s, tempo {music.tempo:.1f} BPM, {len(music.beat_times)} beats")
    return 0

