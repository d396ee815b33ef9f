"""Where the chosen song lies on the timeline and how long it lasts: the defaults of the Takes
panel's Start/End, and (takes.seconds_left) whether Continue has any song left to dance to.

Lengths come from Blender's own audio library (aud reads the file's header, milliseconds) and are
cached per file and modification time: panels ask on every redraw."""
from __future__ import annotations

import os

from .lyrics_track import top_level_strips
from .timeline import scene_fps

LM2D_FPS = 30.0   # lm2d dances a song at one frame per 1/30 s hop (lm2d.features.FPS)
_seconds: dict[tuple[str, float], float | None] = {}


def song_seconds(path: str) -> float | None:
    """Length of an audio file in seconds; None when it cannot be read."""
    try:
        key = (path, os.path.getmtime(path))
    except OSError:
        return None
    if key not in _seconds:
        try:
            import aud   # Blender's audio library (in Blender and in the bpy module)
            sound = aud.Sound(path)
            _seconds[key] = sound.length / sound.specs[0]
        except Exception:   # not audio aud can read: no length, no default from it
            _seconds[key] = None
    return _seconds[key]


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
    dance_frames = int(seconds * LM2D_FPS) + 1   # lm2d's count: one per hop, the first at 0 s
    return start, start + max(int(round(dance_frames * scene_fps(scene) / LM2D_FPS)), 1) - 1
