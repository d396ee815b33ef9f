"""`lm2d sections SONG [--lyrics FILE] --format json|text`: the song's form (lm2d.structure)."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Print a song's sections (intro, verse, chorus, ... with start and end on beats) as JSON or text."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path, help="the song (wav, ogg, flac or mp3)")
    parser.add_argument("--lyrics", type=Path, metavar="FILE",
                        help="its lyrics (any format lm2d reads; untimed text is placed by the audio): "
                             "repeated lines find and name the chorus")
    parser.add_argument("--format", choices=("json", "text"), default="text",
                        help='json: {"sections": [{"label", "occurrence", "start", "end"}, ...]} in seconds; '
                             "text: one line per section (default)")


def run(args: argparse.Namespace) -> int:
    # Not lm2d.pipeline: a section map needs no torch, and importing it costs seconds.
    from lm2d.audio import DEFAULT_MAX_SECONDS
    from lm2d.lyrics.parse import load_lyrics
    from lm2d.song import Song
    from lm2d.structure import section_map, sections_to_json, sections_to_text

    song = Song(args.audio, DEFAULT_MAX_SECONDS)
    lyrics = None if args.lyrics is None else load_lyrics(args.lyrics, song)
    sections = section_map(song.features.features, lyrics)
    print(sections_to_json(sections) if args.format == "json" else sections_to_text(sections))
    return 0
