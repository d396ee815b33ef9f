"""Lyrics and song in the Video Sequencer: one text strip per lyric line, and the song as a sound strip.

Segments are dicts {'start', 'end', 'text'} in seconds; time 0 sits on `start_frame` (as for takes)."""
from __future__ import annotations

import os

import bpy

from .timeline import frame_to_seconds, scene_fps, seconds_to_frame

LYRICS_CHANNEL = 2
SOUND_CHANNEL = 1


def top_level_strips(editor):
    """Blender 4.4 renamed SequenceEditor.sequences to .strips; 5.0 removed the old name."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def strips_collection_name(editor) -> str:
    """Attribute name of the top-level strips, for UILayout.prop_search."""
    return "strips" if hasattr(editor, "strips") else "sequences"


def _new_effect_strip(strips, name: str, strip_type: str, channel: int, start: int, end: int):
    # Blender 4.2/4.3 take frame_end; 4.4+ take length (and reject a zero length).
    if "length" in strips.bl_rna.functions["new_effect"].parameters:
        return strips.new_effect(name, strip_type, channel, start, length=end - start)
    return strips.new_effect(name, strip_type, channel, start, frame_end=end)


def text_strips_in_channel(scene, channel: int) -> list:
    editor = scene.sequence_editor
    if editor is None:
        return []
    return sorted((strip for strip in top_level_strips(editor) if strip.type == 'TEXT' and strip.channel == channel),
                  key=lambda strip: strip.frame_final_start)


def segments_to_text_strips(scene, segments, channel: int = LYRICS_CHANNEL, start_frame: int = 1,
                            name_prefix: str = "Lyric") -> list:
    """Replace the text strips in `channel` with one strip per segment (other channels and strip
    types are left alone). Times snap to whole frames; a segment is at least one frame long."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = top_level_strips(editor)
    for old in text_strips_in_channel(scene, channel):
        strips.remove(old)
    fps = scene_fps(scene)
    created = []
    for number, segment in enumerate(segments, start=1):
        start = seconds_to_frame(float(segment["start"]), fps, start_frame)
        end = max(seconds_to_frame(float(segment["end"]), fps, start_frame), start + 1)
        strip = _new_effect_strip(strips, f"{name_prefix} {number:03d}", 'TEXT', channel, start, end)
        strip.text = str(segment["text"])
        strip.location = (0.5, 0.08)  # bottom centre, like subtitles
        strip.wrap_width = 0.9
        created.append(strip)
    return created


def text_strips_to_segments(scene, channel: int = LYRICS_CHANNEL, start_frame: int = 1) -> list[dict]:
    """The text strips of `channel` as segments (seconds), in time order: lets users retime or
    edit lyric lines in the sequencer and generate from them."""
    fps = scene_fps(scene)
    return [{"start": frame_to_seconds(strip.frame_final_start, fps, start_frame),
             "end": frame_to_seconds(strip.frame_final_end, fps, start_frame),
             "text": strip.text}
            for strip in text_strips_in_channel(scene, channel)]


def _same_file(a: str, b: str) -> bool:
    a, b = bpy.path.abspath(a), bpy.path.abspath(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a) == os.path.normpath(b)


def sound_strip_for(scene, audio_path: str, channel: int = SOUND_CHANNEL, start_frame: int = 1):
    """The scene's sound strip playing `audio_path`, added at `start_frame` when there is none."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = top_level_strips(editor)
    for strip in strips:
        if strip.type == 'SOUND' and strip.sound is not None and _same_file(strip.sound.filepath, audio_path):
            return strip
    if not os.path.isfile(bpy.path.abspath(audio_path)):
        raise FileNotFoundError(f"{audio_path}: no such audio file")
    return strips.new_sound(os.path.basename(audio_path), audio_path, channel, start_frame)
