"""A training dataset from dance videos: each video with a lyrics file beside it (same name, any
format lm2d.lyrics reads) becomes one clip folder of docs/DATASET.md's lm2d layout —
audio.wav (the video's sound track), motion.npz (an lm2d result file, lm2d.video) and
lyrics.<ext> (the lyrics file, copied) — so `lm2d train --data OUT` reads it unchanged."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lm2d.errors import LM2DError, warn
from lm2d.video.decode import probe_video

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg")
LYRICS_SUFFIXES = (".lrc", ".srt", ".txt", ".csv", ".tsv", ".json")


@dataclass(frozen=True)
class VideoClip:
    clip_id: str
    video: Path
    lyrics: Path | None


def clip_id_for(video: Path) -> str:
    """A folder name from the video's: letters, digits, '-', '_' and '.' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", video.stem).strip("._") or "clip"


def find_video_clips(folder: str | os.PathLike) -> list[VideoClip]:
    """The videos in `folder` (not its subfolders), in name order, each with its lyrics file:
    video.mp4 + video.lrc (or .srt, …). More than one lyrics file for a video is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LM2DError("video folder not found", path=folder)
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise LM2DError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in this folder", path=folder)
    clips, seen = [], {}
    for video in videos:
        lyrics = [video.with_suffix(s) for s in LYRICS_SUFFIXES if video.with_suffix(s).is_file()]
        if len(lyrics) > 1:
            raise LM2DError(f"more than one lyrics file for {video.name}: {', '.join(p.name for p in lyrics)}",
                            path=folder)
        clip_id = clip_id_for(video)
        if clip_id in seen:
            raise LM2DError(f"{video.name} and {seen[clip_id]} would both be clip {clip_id!r}", path=folder)
        seen[clip_id] = video.name
        clips.append(VideoClip(clip_id, video, lyrics[0] if lyrics else None))
    return clips


def write_clip(clip: VideoClip, split_folder: Path, field_of_view: float,
               progress: Callable[[str, int, int], None] | None = None) -> Path | None:
    """Make one clip folder; None (with a warning) when the video has no sound track to dance to.
    The folder appears complete or not at all (built beside it, then renamed)."""
    import soundfile as sf

    from lm2d.lyrics import load_lyrics
    from lm2d.pipeline import write_result
    from lm2d.video.convert import video_to_motion
    from lm2d.video.decode import extract_audio

    if not probe_video(clip.video).has_audio:
        warn("no sound track: skipped (a training clip needs its music)", path=clip.video)
        return None
    split_folder.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{clip.clip_id}.", dir=split_folder))
    try:
        extract_audio(clip.video, building / "audio.wav")
        if clip.lyrics is not None:   # parsed against the sound track now: a bad file fails here, named
            load_lyrics(clip.lyrics, audio_duration=sf.info(building / "audio.wav").duration)
            shutil.copyfile(clip.lyrics, building / f"lyrics{clip.lyrics.suffix.lower()}")
        result = video_to_motion(clip.video, field_of_view, progress)
        write_result(result.motion, building / "motion.npz")
        for span in result.missing_spans:
            warn(f"nobody seen from {span[0]:.2f} s to {span[1]:.2f} s: the motion there is interpolated",
                 path=clip.video)
        target = split_folder / clip.clip_id
        os.replace(building, target)
        return target
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
