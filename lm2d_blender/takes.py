"""Takes: the properties a take action carries, which take an armature is showing, the result file
it was keyed from, and the edit requests (regenerate a range, continue) made from it.

A take is an Action keyed from a result file (keys.write_take) on its own NLA track. Edits start
from its result file, counted in that file's frames at its own frame rate."""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from .generation_settings import GenerationSettings, InputError, scene_generation_settings
from .props import scene_settings
from .song_range import song_seconds
from .timeline import scene_fps

TAKE_PROP = "lm2d_take"                  # on take actions: the take number
TAKE_START_PROP = "lm2d_start_frame"     # frame where the take's time 0 lies
TAKE_FPS_PROP = "lm2d_fps"               # frame rate the keys were written at
TAKE_SOURCE_PROP = "lm2d_source"         # the result file the take was keyed from (edits start from it)
TAKE_AUDIO_PROP = "lm2d_audio"           # the song the take dances to (edits need it)


def current_take(armature_obj):
    """The take an edit starts from: the armature's active action when it is an LM2D take,
    otherwise the top-most NLA track holding one. None when it has no take."""
    animation = getattr(armature_obj, "animation_data", None)
    if animation is None:
        return None
    if animation.action is not None and TAKE_PROP in animation.action:
        return animation.action
    for track in reversed(animation.nla_tracks):
        for strip in track.strips:
            if strip.action is not None and TAKE_PROP in strip.action:
                return strip.action
    return None


def take_source(take) -> str:
    """The result file a take was keyed from, which edits start from. Raises InputError."""
    source = take.get(TAKE_SOURCE_PROP)
    if not source:
        raise InputError(f"take '{take.name}' has no result file to edit (it was not made by LM2D)")
    if not os.path.isfile(source):
        raise InputError(f"{source}: the result file of take '{take.name}' is gone; edits start from it")
    return source


def take_start(take) -> int:
    return int(take.get(TAKE_START_PROP, 1))


def result_timing(source: str) -> tuple[int, float]:
    """(frames, fps) of a take's result file (checked when the take was keyed from it)."""
    with np.load(source) as result:
        return len(result["root_translation"]), float(result["fps"])


def model_frame_range(first_frame: int, last_frame: int, take_start: int, fps: float, frames: int,
                      result_fps: float) -> tuple[int, int]:
    """Scene frames first..last (inclusive) of a take starting at take_start, played at `fps`, as
    the result's [first, end) at its own `result_fps`, clipped to its `frames`. Raises InputError
    when nothing of the range falls on the take."""
    scale = result_fps / fps
    first = max(int(round((first_frame - take_start) * scale)), 0)
    end = min(int(round((last_frame + 1 - take_start) * scale)), frames)
    if first >= end:
        raise InputError(f"frames {first_frame}–{last_frame} do not overlap the take "
                         f"(frames {take_start}–{take_start + round(frames / scale) - 1})")
    return first, end


def active_take(context):
    """The active armature's current take. Raises InputError when it has none."""
    take = current_take(context.active_object)
    if take is None:
        name = context.active_object.name if context.active_object is not None else "nothing"
        raise InputError(f"the active object ({name}) has no LM2D take to edit")
    return take


def take_edit_settings(context, edit: dict) -> GenerationSettings:
    """Settings for editing the active armature's current take; the new take goes onto the same
    armature, at the same start frame, dancing to the same song. Raises InputError."""
    armature_obj = context.active_object
    take = active_take(context)
    source = take_source(take)
    audio = take.get(TAKE_AUDIO_PROP) or None
    settings = scene_generation_settings(context, audio=audio, start_frame=take_start(take))
    # An edit covers the take's frames (plus any continuation): the dance length does not apply.
    return dataclasses.replace(settings, armature=armature_obj.name, end_seconds=None,
                               edit={"motion": source, **edit})


def panel_range_edit(context) -> dict:
    """edit{} regenerating the panel's frame range (Start–End) of the active armature's take."""
    take = active_take(context)
    settings = scene_settings(context.scene)
    frames, fps = result_timing(take_source(take))
    first, end = model_frame_range(settings.range_start, settings.range_end, take_start(take),
                                   scene_fps(context.scene), frames, fps)
    return {"regenerate": [first, end], **({"apply_to_repeats": True} if settings.apply_to_repeats else {})}


def continue_edit(context) -> dict:
    """edit{} continuing the active armature's take by the panel's Continue By time."""
    take = active_take(context)
    _frames, fps = result_timing(take_source(take))
    return {"continue_frames": max(int(round(scene_settings(context.scene).continue_seconds * fps)), 1)}


def seconds_left(take) -> float | None:
    """Song left after the take's end: what Continue can dance to; None when unknown."""
    source, audio = take.get(TAKE_SOURCE_PROP, ""), take.get(TAKE_AUDIO_PROP, "")
    song = song_seconds(audio) if audio else None
    if song is None or not os.path.isfile(source):
        return None
    frames, fps = result_timing(source)
    return song - frames / fps
