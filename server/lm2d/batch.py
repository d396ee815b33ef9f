"""Many songs in one `lm2d generate`: which songs, which lyrics beside each, which result file.

`lm2d generate` takes songs and folders of songs. One song file keeps the one-song form (-o is
the result file, --lyrics its lyrics); several songs, or a folder, make a batch: -o is a folder
that gets one result per song, named after it (OUT/<song stem>.npz or .bvh), and each song's
lyrics are the file beside it with the same stem and a lyrics extension, if there is one. Songs
and result paths are checked before any work, so a typo in the 20th name fails in a second, not
after 19 dances; a lyrics file is read when its song's turn comes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from lm2d.audio import SUPPORTED_EXTENSIONS
from lm2d.errors import LM2DError

# Beside a song, in this order of preference: timed formats first, then .txt (UltraStar or plain).
LYRICS_EXTENSIONS = (".lrc", ".srt", ".json", ".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class SongJob:
    audio: Path
    lyrics: Path | None
    output: Path


def is_batch(inputs: list[Path]) -> bool:
    return len(inputs) > 1 or any(path.is_dir() for path in inputs)


def songs_in(inputs: list[Path]) -> list[Path]:
    """The songs named, with each folder replaced by the songs directly inside it (sorted)."""
    songs = []
    for path in inputs:
        if path.is_dir():
            found = sorted(child for child in path.iterdir()
                           if child.is_file() and child.suffix.lower() in SUPPORTED_EXTENSIONS)
            if not found:
                supported = ", ".join(ext[1:] for ext in SUPPORTED_EXTENSIONS)
                raise LM2DError(f"holds no songs ({supported})", path=path)
            songs += found
        else:
            songs.append(path)
    return songs


def lyrics_beside(song: Path) -> Path | None:
    """The lyrics file next to `song` with its stem (song.lrc for song.ogg), or None."""
    for extension in LYRICS_EXTENSIONS:
        candidate = song.with_suffix(extension)
        if candidate.is_file():
            return candidate
    return None


def plan_batch(inputs: list[Path], output_dir: Path, suffix: str = ".npz",
               find_lyrics: bool = True) -> list[SongJob]:
    """One job per song: its lyrics (found beside it) and its result file in output_dir."""
    if output_dir.exists() and not output_dir.is_dir():
        raise LM2DError("with several songs, -o names a folder for the results, but this is a file",
                        path=output_dir)
    jobs, by_output = [], {}
    for song in songs_in(inputs):
        output = output_dir / f"{song.stem}{suffix}"
        if output in by_output:
            raise LM2DError(f"{by_output[output]} and {song} would both write {output.name}: "
                            "rename one or run them separately", path=output_dir)
        by_output[output] = song
        jobs.append(SongJob(song, lyrics_beside(song) if find_lyrics else None, output))
    return jobs



SONGS_AT_ONCE = 2   # songs dancing side by side


def generate_batch(args, loaded, jobs: list[SongJob], songs: list, started: float) -> int:
    """Each job's dance (songs: its lm2d.song.Song, checked already, its features from the
    feature process) with one loaded model and one lyric encoder, one progress bar over the
    songs. SONGS_AT_ONCE songs dance side by side while the feature process computes the next
    songs' features: one song leaves the cores idle between its network calls and in its numpy
    and Python stages, which the other song fills (3-minute songs on 2 cores: 1.02 s a song
    against 1.09 s one at a time). Each song's own arithmetic is unchanged (the same torch
    threads per call), so the dances are those of one song at a time, bit for bit. A song that
    fails stops the batch (the songs before it are written); results are reported as they finish."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm import tqdm

    from lm2d.pipeline import Resources
    from lm2d.progress import Progress

    resources = Resources()   # the lyric encoder, loaded by the first song with lyrics, kept for the rest
    with Progress(len(jobs), "songs", unit="songs") as progress, \
            ThreadPoolExecutor(SONGS_AT_ONCE, thread_name_prefix="lm2d-song") as pool:
        running = {pool.submit(dance_one, args, loaded, job, song, resources.sharing_encoder()): job
                   for job, song in zip(jobs, songs)}
        try:
            for finished in as_completed(running):
                job = running.pop(finished)
                frames, fps, duration, seconds = finished.result()
                progress.update(1, note=job.audio.name)
                lyrics_note = "" if job.lyrics is None else f" with {job.lyrics.name}"
                tqdm.write(f"wrote {job.output}: {frames} frames at {fps:g} FPS ({duration:.1f} s "
                           f"of dance){lyrics_note} in {seconds:.1f} s")
        finally:
            for waiting in running:
                waiting.cancel()
    print(f"{len(jobs)} dances in {time.perf_counter() - started:.1f} s")
    return 0


def dance_one(args, loaded, job: SongJob, song, resources) -> tuple[int, float, float, float]:
    """One job's dance, written: (frames, FPS, seconds of dance, seconds it took)."""
    from lm2d.pipeline import read_lyrics, write_result
    from lm2d.structure.repeat import generate_with_repeats

    started = time.perf_counter()
    lyrics = None if job.lyrics is None else read_lyrics(job.lyrics, song)
    motion, lyric_lines, sections = generate_with_repeats(
        loaded, song, lyrics, seed=args.seed, steps=args.steps, music_guidance=args.music_guidance,
        lyrics_guidance=args.lyrics_guidance, start_seconds=args.start, end_seconds=args.end,
        beat_accent=args.beat_accent, foot_lock=args.foot_lock, repeat_sections=args.repeat_sections,
        resources=resources)
    write_result(motion, job.output, lyric_lines, sections)
    return motion.n_frames, motion.fps, motion.duration, time.perf_counter() - started
