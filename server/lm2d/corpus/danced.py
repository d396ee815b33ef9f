"""The user's own danced songs in the corpus (`lm2d corpus --danced DIR`): real dances to the
songs they were danced to, written into the corpus as they are (never choreographed), beside the
choreographer's clips and split with them by the seed.

DIR holds one folder per song, as a dataset split does (docs/DATASET.md): audio.*, motion.npz (a
clip from `lm2d import-mocap`, or any motion lm2d.motion.load_motion reads: AIST++ .pkl, AMASS or
lm2d .npz) starting when the audio starts, and optionally lyrics.* timed to the audio. A danced
clip performs no gesture events: its dancer never saw the choreographer's keyword table.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from lm2d.corpus.build import Clip, ClipSource, onset_energy, real_clip_id
from lm2d.errors import LM2DError, warn
from lm2d.features import ONSET_COLUMN, extract_features
from lm2d.lyrics import Lyrics, load_lyrics
from lm2d.motion.io import load_motion
from lm2d.train.dataset import ClipFiles, find_clips

DANCE_STYLE = "real"            # corpus.json's dance_style of a danced clip
LENGTH_SLACK = 1.0              # seconds motion and audio may differ before a warning


def danced_sources(folder: str | Path, seed: int) -> list[ClipSource]:
    """One source per song folder of `folder`, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LM2DError("danced songs folder not found", path=folder)
    clips = find_clips(folder.parent, folder.name)      # a split folder is exactly this layout
    return [ClipSource(clip_id(files), lambda files=files, i=index: danced_clip(files, seed * 1000 + 700 + i))
            for index, files in enumerate(clips)]


def clip_id(files: ClipFiles) -> str:
    return "danced_" + real_clip_id(files.audio).removeprefix("real_")


def danced_clip(files: ClipFiles, seed: int) -> Clip:
    """The song's beats and energy from lm2d.features, its own dance and lyrics (if any)."""
    features = extract_features(files.audio)
    motion = load_motion(files.motion)
    if abs(motion.duration - features.duration) > LENGTH_SLACK:
        warn(f"the dance lasts {motion.duration:.1f} s and the song {features.duration:.1f} s: training "
             f"uses the shorter", path=files.motion)
    lyrics = Lyrics([]) if files.lyrics is None else load_lyrics(files.lyrics, audio_duration=features.duration)
    audio = files.audio
    return Clip(
        clip_id=clip_id(files), duration=features.duration, beat_times=features.beat_times, lyrics=lyrics,
        style=DANCE_STYLE, seed=seed, energy=onset_energy(features.features[:, ONSET_COLUMN]),
        n_frames=motion.n_frames,
        write_audio=lambda out: Path(shutil.copyfile(audio, out / f"audio{audio.suffix.lower()}")),
        info={"source": "danced", "folder": files.clip_id, "motion": files.motion.name,
              "tempo": round(features.tempo, 2), "lyrics": files.lyrics.name if files.lyrics else ""},
        motion=motion)
