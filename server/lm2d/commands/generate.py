"""`lm2d generate SONG [--lyrics FILE] -o OUT.npz|OUT.bvh`: a dance for a song, through the same
pipeline as the Blender add-on's server (lm2d.pipeline).

`lm2d generate SONG SONG... | FOLDER -o OUT_FOLDER`: a dance per song (lm2d.batch), with one model
load, one lyric encoder and warm librosa code shared by all, and one progress bar over all."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from lm2d.batch import LYRICS_EXTENSIONS

HELP = ("Generate a dance for a song (and its timed lyrics) and write it as a result .npz or a .bvh; "
        "or one for each of several songs (or a folder of songs) into a folder.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path, nargs="+", metavar="SONG",
                        help="the song (wav, ogg, flac or mp3); several songs or folders of songs make a batch")
    parser.add_argument("--lyrics", type=Path, metavar="FILE",
                        help="timed lyrics (LRC, SRT, UltraStar, CSV, JSON, or plain text to place by the audio) "
                             "of the one song; in a batch each song's lyrics are the file beside it with its "
                             "name (song.lrc for song.ogg: " + ", ".join(LYRICS_EXTENSIONS) + "), if any")
    parser.add_argument("--no-lyrics", action="store_true",
                        help="in a batch, dance to the music alone (do not look for lyrics beside the songs)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="result file: .npz (for the Blender add-on, with the lyric track) or .bvh; in a "
                             "batch, the folder for the results (OUT/<song name>.npz, created if needed)")
    parser.add_argument("--format", choices=("npz", "bvh"), default="npz",
                        help="result format in a batch (default npz)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same inputs + seed = same dance (default 0)")
    parser.add_argument("--steps", type=int, metavar="K",
                        help="sampling steps (default: 50 DDIM steps for a diffusion model, the one it was "
                             "distilled with, usually 2, for a distilled one)")
    parser.add_argument("--music-guidance", type=float, metavar="W",
                        help="music guidance weight of a diffusion model (default 3; a distilled model's is baked in)")
    parser.add_argument("--lyrics-guidance", type=float, metavar="W",
                        help="lyrics guidance weight of a diffusion model (default 6)")
    parser.add_argument("--beat-accent", type=float, metavar="A",
                        help="how firmly the body settles on each beat, 0 (the network's own timing) to "
                             "below 1 (default 0.25): a retiming, poses are unchanged")
    parser.add_argument("--checkpoint", type=Path, metavar="DIR",
                        help="model checkpoint folder (model.json + model.safetensors); default: the shipped model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the model runs (default auto: cuda when available)")
    parser.add_argument("--start", type=float, default=0.0, metavar="S", help="first second of the song to dance to")
    parser.add_argument("--end", type=float, metavar="S", help="last second of the song to dance to (default: its end)")


def run(args: argparse.Namespace) -> int:
    from lm2d.batch import SongJob, is_batch, plan_batch
    from lm2d.errors import LM2DError
    from lm2d.pipeline import check_output_path, max_audio_seconds
    from lm2d.song import Song

    # The user's own files first, and before minutes of work rather than after.
    if is_batch(args.audio):
        if args.lyrics is not None:
            raise LM2DError("--lyrics names one song's lyrics; in a batch put each song's lyrics beside it "
                            "with the song's name (or use --no-lyrics)", path=args.lyrics)
        jobs = plan_batch(args.audio, args.output.expanduser().absolute(), f".{args.format}", not args.no_lyrics)
    else:
        jobs = [SongJob(args.audio[0], args.lyrics, args.output)]
    jobs = [SongJob(job.audio, job.lyrics, check_output_path(job.output)) for job in jobs]
    songs = [Song(job.audio, max_audio_seconds()) for job in jobs]   # each checked here, once, for the whole run
    return generate_all(args, jobs, songs)


def generate_all(args: argparse.Namespace, jobs: list, songs: list) -> int:
    """Generate each job's dance (songs: its lm2d.song.Song) with one loaded model and one set of
    shared resources. While a song samples (torch, one core), the next song is decoded and its
    features computed in a thread (librosa, the other core): same features, so the same dances,
    in less time."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    from lm2d.pipeline import Resources, generate_dance, load_model, write_result

    started = time.perf_counter()
    loaded = load_model(args.checkpoint, args.device)
    resources = Resources()   # the lyric encoder, loaded by the first song with lyrics, kept for the rest
    # disable=None: no bar when stderr is not a terminal (logs, pipes); delay: none for quick failures.
    with tqdm(total=100 * len(jobs), unit="%", bar_format="{desc:<14} {percentage:3.0f}%|{bar}| {elapsed}",
              leave=False, disable=None, delay=0.5) as bar, \
            ThreadPoolExecutor(1, thread_name_prefix="lm2d-next-song") as ahead:
        upcoming = None
        for number, job in enumerate(jobs):
            song_started = time.perf_counter()
            if upcoming is not None:
                upcoming.result()   # this song's features: wait rather than compute them twice
            upcoming = ahead.submit(features_ahead, songs[number + 1]) if number + 1 < len(jobs) else None
            song, songs[number] = songs[number], None   # its decoded samples go once it has danced

            def show(stage: str, fraction: float) -> None:
                prefix = f"{number + 1}/{len(jobs)} " if len(jobs) > 1 else ""
                bar.set_description_str(prefix + stage, refresh=False)
                bar.update(100 * number + round(100 * fraction) - bar.n)

            motion, lyric_lines = generate_dance(
                loaded, song, job.lyrics, seed=args.seed, steps=args.steps,
                music_guidance=args.music_guidance, lyrics_guidance=args.lyrics_guidance,
                start_seconds=args.start, end_seconds=args.end, beat_accent=args.beat_accent,
                on_progress=show, resources=resources)
            show("writing", 0.0)
            write_result(motion, job.output, lyric_lines)
            lyrics_note = f" with {job.lyrics.name}" if job.lyrics is not None and len(jobs) > 1 else ""
            seconds = time.perf_counter() - (started if len(jobs) == 1 else song_started)
            tqdm.write(f"wrote {job.output}: {motion.n_frames} frames at {motion.fps:g} FPS "
                       f"({motion.duration:.1f} s of dance){lyrics_note} in {seconds:.1f} s")
    if len(jobs) > 1:
        print(f"{len(jobs)} dances in {time.perf_counter() - started:.1f} s")
    return 0


def features_ahead(song) -> None:
    """Decode a song and compute (and cache) its features ahead of its turn; a bad song is
    reported in its turn."""
    from lm2d.errors import LM2DError

    try:
        song.features   # a cached_property: decodes, computes and caches
    except LM2DError:
        pass
