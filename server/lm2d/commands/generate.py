"""`lm2d generate SONG [--lyrics FILE] -o OUT.npz|OUT.bvh`: a dance for a song, through the same
pipeline as the Blender add-on's server (lm2d.pipeline)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from lm2d.limits import MAX_GUIDANCE, MAX_SONG_SECONDS
from lm2d.validate.numbers import cli_number, seed

HELP = "Generate a dance for a song (and its timed lyrics) and write it as a result .npz or a .bvh."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path, help="the song (wav, ogg, flac or mp3)")
    parser.add_argument("--lyrics", type=Path, metavar="FILE",
                        help="timed lyrics (LRC, SRT, UltraStar, CSV, JSON, or plain text to place by the audio)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="result file: .npz (for the Blender add-on, with the lyric track) or .bvh")
    parser.add_argument("--seed", type=seed, default=0, help="random seed: same inputs + seed = same dance (default 0)")
    parser.add_argument("--steps", type=cli_number(integer=True), metavar="K",
                        help="sampling steps (default: 50 DDIM steps for a diffusion model, the one it was "
                             "distilled with, usually 2, for a distilled one)")
    parser.add_argument("--music-guidance", type=_guidance, metavar="W",
                        help="music guidance weight of a diffusion model (default 3; a distilled model's is baked in)")
    parser.add_argument("--lyrics-guidance", type=_guidance, metavar="W",
                        help="lyrics guidance weight of a diffusion model (default 6)")
    parser.add_argument("--beat-accent", type=cli_number(), metavar="A",
                        help="how firmly the body settles on each beat, 0 (the network's own timing) to "
                             "below 1 (default 0.25): a retiming, poses are unchanged")
    parser.add_argument("--checkpoint", type=Path, metavar="DIR",
                        help="model checkpoint folder (model.json + model.safetensors); default: the shipped model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the model runs (default auto: cuda when available)")
    parser.add_argument("--start", type=_seconds, default=0.0, metavar="S", help="first second of the song to dance to")
    parser.add_argument("--end", type=_seconds, metavar="S", help="last second of the song to dance to (default: its end)")

_guidance = cli_number(-MAX_GUIDANCE, MAX_GUIDANCE)
_seconds = cli_number(0, MAX_SONG_SECONDS)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lm2d.pipeline import (check_output_path, checkpoint_inputs, generate_dance, load_model,
                               max_audio_seconds, write_result)
    from lm2d.song import Song

    # The user's own files first, and before minutes of work rather than after.
    output = check_output_path(args.output, inputs=[args.audio, args.lyrics, *checkpoint_inputs(args.checkpoint)])
    song = Song(args.audio, max_audio_seconds())   # checked here, once, for the whole run
    started = time.perf_counter()
    loaded = load_model(args.checkpoint, args.device)
    # disable=None: no bar when stderr is not a terminal (logs, pipes); delay: none for quick failures.
    with tqdm(total=100, unit="%", bar_format="{desc:<9} {percentage:3.0f}%|{bar}| {elapsed}",
              leave=False, disable=None, delay=0.5) as bar:
        def show(stage: str, fraction: float) -> None:
            bar.set_description_str(stage, refresh=False)
            bar.update(round(100 * fraction) - bar.n)

        motion, lyric_lines = generate_dance(
            loaded, song, args.lyrics, seed=args.seed, steps=args.steps,
            music_guidance=args.music_guidance, lyrics_guidance=args.lyrics_guidance,
            start_seconds=args.start, end_seconds=args.end, beat_accent=args.beat_accent, on_progress=show)
        show("writing", 0.0)
        write_result(motion, output, lyric_lines)
    print(f"wrote {output}: {motion.n_frames} frames at {motion.fps:g} FPS "
          f"({motion.duration:.1f} s of dance) in {time.perf_counter() - started:.1f} s")
    return 0
