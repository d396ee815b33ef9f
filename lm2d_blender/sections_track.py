"""The song's form on the timeline: a marker per section start ("Chorus 2") beside the lyric
markers, and a text-strip track of the sections in their own Video Sequencer channel.

Sections are dicts {'label', 'occurrence', 'start', 'end', 'name'} in seconds (result_file.
section_segments); time 0 sits on `start_frame`, as for takes and lyrics."""
from __future__ import annotations

import re

from .lyrics_track import segments_to_text_strips, top_level_strips
from .timeline import seconds_to_frame

SECTIONS_CHANNEL = 3           # above the lyrics (2) and the song (1), unless the user has something there
STRIP_PREFIX = "Section"
# What result_file.section_segments names a section: "Chorus 2", "A 1" (lm2d.structure.labels).
SECTION_NAME = re.compile(r"(Intro|Verse|Chorus|Bridge|Outro|[A-Z]|Part \d+) \d+")


def is_section_name(name: str) -> bool:
    """Whether a timeline marker's name is a section's, not a lyric line's."""
    return SECTION_NAME.fullmatch(name) is not None
STRIP_LOCATION = (0.5, 0.92)   # top centre, clear of the lyric subtitles


def add_section_markers(scene, sections, start_frame: int, fps: float) -> None:
    """One timeline marker per section start, named as the user reads it; a section already
    marked there (an earlier take of the same song) is skipped."""
    for section in sections:
        frame = seconds_to_frame(section["start"], fps, start_frame)
        if any(marker.frame == frame and marker.name == section["name"] for marker in scene.timeline_markers):
            continue
        scene.timeline_markers.new(section["name"], frame=frame)


def sections_channel(scene) -> int:
    """The first channel from SECTIONS_CHANNEL up that is empty or holds only section strips, so
    the track never replaces the user's own strips (lyrics moved to channel 3, say)."""
    editor = scene.sequence_editor
    taken: dict[int, list[bool]] = {}
    for strip in [] if editor is None else top_level_strips(editor):
        taken.setdefault(strip.channel, []).append(strip.type == 'TEXT' and strip.name.startswith(STRIP_PREFIX))
    return next(channel for channel in range(SECTIONS_CHANNEL, 129) if all(taken.get(channel, [True])))


def show_sections(scene, sections, start_frame: int, fps: float) -> list:
    """Markers and the sections' text strips (replacing earlier section strips); no-op without sections."""
    if not sections:
        return []
    add_section_markers(scene, sections, start_frame, fps)
    strips = segments_to_text_strips(scene, [{**section, "text": section["name"]} for section in sections],
                                     sections_channel(scene), start_frame, name_prefix=STRIP_PREFIX)
    for strip in strips:
        strip.location = STRIP_LOCATION
    return strips
