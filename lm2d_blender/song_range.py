"""Where the chosen song lies on the timeline and how long it and a take last: the defaults of
the Takes panel's Start/End and whether Continue has any song left to dance to.

Lengths come from Blender's own audio library (aud reads the file's header, milliseconds) and are
cached per file and modification time: panels ask on every redraw."""
from __future__ import annotations

import os

import numpy as np

from .lyrics_track import top_level_strips
from .timeline import scene_fps

MODEL_FPS = 30.0   # lm2d's frame rate: result files count their frames in it
_lengths: dict[tuple[str, str, float], float | None] = {}


def _cached(kind: str, path: str, measure) -> float | None:
    try:
        key = (kind, path, os.path.getmtime(path))
    except OSError:
        return None
    if key not in _lengths:
        try:
            _lengths[key] = measure(path)
        except Exception:   # unreadable or not audio/a result: no length, no default from it
            _lengths[key] = None
    return _lengths[key]


def song_seconds(path: str) -> float | None:
    """Length of an audio file in seconds; None when it cannot be read."""
    def measure(audio_path: str) -> float:
        import aud   # Blender's audio library (in Blender and in the bpy module)
        sound = aud.Sound(audio_path)
        return sound.length / sound.specs[0]
    return _cached("song", path, measure)


def take_seconds(result_path: str) -> float | None:
    """How long the dance in a result file lasts; None when it cannot be read."""
    def measure(path: str) -> float:
        with np.load(path) as result:
            return len(result["root_translation"]) / MODEL_FPS
    return _cached("take", result_path, measure)


def song_start_frame(scene) -> int:
    """Where the song's time 0 lies: at its sound strip's start, otherwise on frame 1, where Load
    Take, the lyric strips and the added sound strip put it too."""
    settings = scene.lm2d
    if settings.audio_source == 'STRIP' and scene.sequence_editor is not None:
        strip = top_level_strips(scene.sequence_editor).get(settings.audio_strip)
        if strip is not None:
            return int(strip.frame_start)
    return 1


def song_frame_range(scene, audio_path: str) -> tuple[int, int] | None:
    """First and last scene frame of the song; None when its length cannot be read."""
    seconds = song_seconds(audio_path)
    if not seconds:
        return None
    start = song_start_frame(scene)
    dance_frames = int(seconds * MODEL_FPS) + 1   # lm2d's count: one per 1/30 s hop, the first at 0 s
    return start, start + max(int(round(dance_frames * scene_fps(scene) / MODEL_FPS)), 1) - 1


def seconds_left_after(take_result: str, audio_path: str) -> float | None:
    """Song left after a take's end (what Continue can dance to); None when unknown."""
    song, take = song_seconds(audio_path), take_seconds(take_result)
    return None if song is None or take is None else song - take
