"""The song's form on the timeline: a marker per section start ("Chorus 2") beside the lyric
markers, and a text-strip track of the sections in their own Video Sequencer channel.

Sections are dicts {'label', 'occurrence', 'start', 'end', 'name'} in seconds (result_file.
section_segments); time 0 sits on `start_frame`, as for takes and lyrics."""
from __future__ import annotations

from .lyrics_track import segments_to_text_strips
from .timeline import seconds_to_frame

SECTIONS_CHANNEL = 3           # above the lyrics (2) and the song (1)
STRIP_LOCATION = (0.5, 0.92)   # top centre, clear of the lyric subtitles


def add_section_markers(scene, sections, start_frame: int, fps: float) -> None:
    """One timeline marker per section start, named as the user reads it; a section already
    marked there (an earlier take of the same song) is skipped."""
    for section in sections:
        frame = seconds_to_frame(section["start"], fps, start_frame)
        if any(marker.frame == frame and marker.name == section["name"] for marker in scene.timeline_markers):
            continue
        scene.timeline_markers.new(section["name"], frame=frame)


def show_sections(scene, sections, start_frame: int, fps: float, channel: int = SECTIONS_CHANNEL) -> list:
    """Markers and the sections' text strips (replacing the channel's old ones); no-op without sections."""
    if not sections:
        return []
    add_section_markers(scene, sections, start_frame, fps)
    strips = segments_to_text_strips(scene, [{**section, "text": section["name"]} for section in sections],
                                     channel, start_frame, name_prefix="Section")
    for strip in strips:
        strip.location = STRIP_LOCATION
    return strips
