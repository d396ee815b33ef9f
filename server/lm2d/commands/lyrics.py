"""`lm2d lyrics FILE [--audio SONG] [--format json|lrc]`: print a lyrics file as normalised timed lyrics."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Read lyrics (LRC, enhanced LRC, SRT, UltraStar, CSV, JSON or plain text) and print them "
        "as normalised timed lyrics.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="lyrics file")
    parser.add_argument("--audio", type=Path, metavar="SONG",
                        help="the song: ends the last LRC line with the song, checks times against its "
                             "length, and is needed to place untimed (plain text) lyrics")
    parser.add_argument("--format", choices=("json", "lrc"), default="json",
                        help="json (segments with word times; default) or lrc (enhanced LRC when words are timed)")


def run(args: argparse.Namespace) -> int:
    from lm2d.lyrics import load_lyrics, lyrics_to_json, lyrics_to_lrc
    from lm2d.song import Song

    lyrics = load_lyrics(args.file, None if args.audio is None else Song(args.audio))
    print((lyrics_to_json(lyrics) if args.format == "json" else lyrics_to_lrc(lyrics)).rstrip("\n"))
    return 0
