"""What a generation asks the server for: the Dance panel's settings read into a GenerationSettings
(the protocol's generate request). InputError: something the user has to set or fix first."""
from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from .armature import missing_bones
from .lyrics_track import text_strips_to_segments
from .props import audio_path_of, scene_settings
from .skeleton import shipped_skeleton
from .song_range import song_start_frame


class InputError(ValueError):
    """Something the user has to set or fix before a job can start; the message says what."""


@dataclass(frozen=True)
class GenerationSettings:
    audio: str
    lyrics: str | None = None               # a lyrics file ...
    segments: tuple[dict, ...] | None = None  # ... or lyric lines given directly (seconds)
    seed: int = 0
    steps: int | None = None                # None: the model's default
    music_guidance: float | None = None
    lyrics_guidance: float | None = None
    end_seconds: float | None = None        # dance the song up to here (None: to its end)
    beat_accent: float | None = None        # how firmly the body settles on each beat (None: the server's default)
    foot_lock: bool = True                  # planted feet stay where they were put down
    repeat_sections: float | None = None    # 0 off .. 1 repeated sections dance alike (None: the server's default)
    start_frame: int = 1                    # scene frame where the song's time 0 lies
    armature: str | None = None             # armature that receives the take; None: a new one
    edit: dict | None = None                # the protocol's edit{} (takes edited from a result file)

    def request_fields(self, output: str) -> dict:
        """The protocol's generate request."""
        fields = {"audio": self.audio, "output": output, "seed": self.seed, "lyrics": self.lyrics,
                  "segments": None if self.segments is None else list(self.segments), "steps": self.steps,
                  "music_guidance": self.music_guidance, "lyrics_guidance": self.lyrics_guidance,
                  "end_seconds": self.end_seconds, "beat_accent": self.beat_accent,
                  "foot_lock": self.foot_lock, "repeat_sections": self.repeat_sections, "edit": self.edit}
        return {key: value for key, value in fields.items() if value is not None}


def lyric_inputs(scene, start_frame: int) -> tuple[str | None, tuple[dict, ...] | None]:
    """(lyrics file, lyric lines) as the scene's settings choose; lines before the song starts are cut."""
    settings = scene_settings(scene)
    if settings.lyrics_source == 'FILE':
        path = bpy.path.abspath(settings.lyrics_path) if settings.lyrics_path else ""
        if not path:
            raise InputError("no lyrics file chosen (or set Lyrics to None)")
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such lyrics file")
        return path, None
    if settings.lyrics_source == 'STRIPS':
        lines = tuple({**line, "start": max(line["start"], 0.0)}
                      for line in text_strips_to_segments(scene, settings.lyrics_channel, start_frame)
                      if line["end"] > 0.0 and line["text"].strip())
        if not lines:
            raise InputError(f"channel {settings.lyrics_channel} of the Video Sequencer has no text strips "
                             "with lyrics (or set Lyrics to None)")
        return None, lines
    return None, None


def scene_generation_settings(context, audio: str | None = None, start_frame: int | None = None) -> GenerationSettings:
    """The Dance panel's settings; the take goes onto the active armature (when the target is
    Active and it has the SMPL bones) or onto a new one. Raises InputError."""
    scene = context.scene
    settings = scene_settings(scene)
    if audio is None:
        try:
            audio = audio_path_of(scene)
        except ValueError as err:
            raise InputError(str(err)) from None
    start = song_start_frame(scene) if start_frame is None else start_frame
    lyrics, segments = lyric_inputs(scene, start)
    active = context.active_object
    armature = (active.name if settings.target == 'ACTIVE' and active is not None
                and not missing_bones(active, shipped_skeleton()) else None)
    return GenerationSettings(audio=audio, lyrics=lyrics, segments=segments, seed=settings.seed,
                              steps=int(settings.steps), music_guidance=settings.music_guidance,
                              lyrics_guidance=settings.lyrics_guidance, end_seconds=settings.dance_seconds or None,
                              beat_accent=settings.beat_accent, foot_lock=settings.foot_lock,
                              repeat_sections=settings.repeat_sections,
                              start_frame=start, armature=armature)
