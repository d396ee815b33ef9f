"""`lm2d generate SONG [--lyrics FILE] -o OUT.npz|OUT.bvh`: a dance for a song, through the same
pipeline as the Blender add-on's server (lm2d.pipeline).

`lm2d generate SONG SONG... | FOLDER -o OUT_FOLDER`: a dance per song (lm2d.batch), with one model
load, one lyric encoder and warm librosa code shared by all, and one progress bar over all."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from lm2d.batch import LYRICS_EXTENSIONS
from lm2d.limits import MAX_GUIDANCE, MAX_SONG_SECONDS
from lm2d.validate.numbers import cli_number, seed

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
                             "below 1 (default 0.15): a retiming, poses are unchanged")
    parser.add_argument("--no-foot-lock", dest="foot_lock", action="store_false",
                        help="leave the network's feet as they are (default: the lower toe is kept on the floor "
                             "and planted feet are pinned where they were put down, by leg IK; "
                             "lm2d.motion.footlock)")
    parser.add_argument("--repeat-sections", type=cli_number(), metavar="S",
                        help="repeated sections (every chorus, ...) dance alike: 1 the same moves (default), "
                             "0 off, in between a variation of them (lm2d.structure.repeat)")
    parser.add_argument("--checkpoint", type=Path, metavar="DIR",
                        help="model checkpoint folder (model.json + model.safetensors); default: the shipped model")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the model runs (default auto: cuda when available)")
    parser.add_argument("--start", type=_seconds, default=0.0, metavar="S", help="first second of the song to dance to")
    parser.add_argument("--end", type=_seconds, metavar="S", help="last second of the song to dance to (default: its end)")

_guidance = cli_number(-MAX_GUIDANCE, MAX_GUIDANCE)
_seconds = cli_number(0, MAX_SONG_SECONDS)


def run(args: argparse.Namespace) -> int:
    # The features' child process first, so librosa's start-up runs beside torch's import (which
    # the imports below begin) and the model and encoder loads.
    from lm2d.feature_process import FeatureProcess

    with FeatureProcess() as features:
        from lm2d.batch import generate_batch, is_batch
        from lm2d.pipeline import check_output_path, checkpoint_inputs, load_model, max_audio_seconds
        from lm2d.song import Song
        from lm2d.structure.repeat import check_strength

        # The user's own files first, and before minutes of work rather than after.
        if is_batch(args.audio):
            jobs = plan_jobs(args)
            # each checked here, once
            songs = [Song(job.audio, max_audio_seconds(), features_from=features.features) for job in jobs]
            check_strength(args.repeat_sections)
            started = time.perf_counter()
            loaded = load_model(args.checkpoint, args.device)
            warn_ignored_guidance(loaded, args)
            return generate_batch(args, loaded, jobs, songs, started)
        args.audio = args.audio[0]
        output = check_output_path(args.output, inputs=[args.audio, args.lyrics, *checkpoint_inputs(args.checkpoint)])
        song = Song(args.audio, max_audio_seconds(), features_from=features.features)   # checked once, here
        check_strength(args.repeat_sections)
        return generate_one(args, song, output, time.perf_counter())


def generate_one(args: argparse.Namespace, song, output, started: float) -> int:
    from lm2d.pipeline import load_model, read_lyrics, write_result
    from lm2d.sampling import SamplingSettings
    from lm2d.structure.repeat import generate_with_repeats

    loaded = load_model(args.checkpoint, args.device)
    warn_ignored_guidance(loaded, args)
    # Read here (not inside generate_dance) so the lyrics stage knows how many lines it encodes.
    lyrics = None if args.lyrics is None else read_lyrics(args.lyrics, song)
    steps = SamplingSettings.for_model(loaded, args.steps).steps
    stages = StageProgress(song.duration, args, 0 if lyrics is None else len(lyrics.segments), steps,
                           loaded.config.n_frames)
    with stages:
        motion, lyric_lines, sections = generate_with_repeats(
            loaded, song, lyrics, seed=args.seed, steps=args.steps,
            music_guidance=args.music_guidance, lyrics_guidance=args.lyrics_guidance,
            start_seconds=args.start, end_seconds=args.end, beat_accent=args.beat_accent, foot_lock=args.foot_lock,
            repeat_sections=args.repeat_sections, on_progress=stages.show)
        stages.writing(motion.n_frames)
        write_result(motion, output, lyric_lines, sections)
        stages.show("writing", 1.0)
    print(f"wrote {output}: {motion.n_frames} frames at {motion.fps:g} FPS "
          f"({motion.duration:.1f} s of dance) in {time.perf_counter() - started:.1f} s")
    return 0


def plan_jobs(args: argparse.Namespace) -> list:
    """The batch's songs, their lyrics and result files, every result path checked."""
    from lm2d.batch import SongJob, plan_batch
    from lm2d.errors import LM2DError
    from lm2d.pipeline import check_output_path, checkpoint_inputs

    if args.lyrics is not None:
        raise LM2DError("--lyrics names one song's lyrics; in a batch put each song's lyrics beside it "
                        "with the song's name (or use --no-lyrics)", path=args.lyrics)
    jobs = plan_batch(args.audio, args.output.expanduser().absolute(), f".{args.format}", not args.no_lyrics)
    checkpoint = checkpoint_inputs(args.checkpoint)
    return [SongJob(job.audio, job.lyrics, check_output_path(job.output, inputs=[job.audio, job.lyrics, *checkpoint]))
            for job in jobs]


def warn_ignored_guidance(loaded, args: argparse.Namespace) -> None:
    from lm2d.errors import warn

    if loaded.kind == "consistency":
        ignored = [flag for flag, value in (("--music-guidance", args.music_guidance),
                                            ("--lyrics-guidance", args.lyrics_guidance)) if value is not None]
        if ignored:
            warn(f"{' and '.join(ignored)} ignored: guidance is baked into the distilled model "
                 "(it applies to a diffusion checkpoint)", path=args.checkpoint)


class StageProgress:
    """One progress line per stage of a generation, counted in that stage's own units: seconds
    of music analysed, lyric lines encoded, sampling steps (over all windows at once), frames
    written. The pipeline reports (stage, fraction of it done)."""

    def __init__(self, song_seconds: float, args: argparse.Namespace, lyric_lines: int, steps: int,
                 window_frames: int):
        import warnings

        from lm2d.features import FPS
        from lm2d.pipeline import frame_range
        from lm2d.sampling.windows import window_starts

        with warnings.catch_warnings():   # generate_dance itself warns about a bad range, once
            warnings.simplefilter("ignore")
            _, frames = frame_range(int(song_seconds * FPS) + 1, args.start, args.end, args.audio)
        windows = len(window_starts(frames, window_frames))
        # stage -> (progress label, total, unit); "writing" learns its total from the dance.
        self.totals = {"features": ("features", round(song_seconds), "seconds"),
                       "lyrics": ("lyrics", lyric_lines, "lines"),
                       "sampling": (f"sampling {windows} windows", steps, "steps")}
        self.bars: dict = {}

    def writing(self, frames: int) -> None:
        self.totals["writing"] = ("writing", frames, "frames")
        self.show("writing", 0.0)

    def show(self, stage: str, fraction: float) -> None:
        from lm2d.progress import Progress

        if stage not in self.totals:
            return
        if stage not in self.bars:
            for bar in self.bars.values():   # stages run one after another
                bar.close()
            label, total, unit = self.totals[stage]
            self.bars[stage] = Progress(total, label, unit)
        bar = self.bars[stage]
        bar.update(round(bar.total * min(max(fraction, 0.0), 1.0)) - bar.done)

    def __enter__(self) -> "StageProgress":
        return self

    def __exit__(self, *exc) -> None:
        for bar in self.bars.values():
            bar.close()
