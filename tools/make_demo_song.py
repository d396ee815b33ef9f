#!/usr/bin/env python3
"""Make the bundled demo: a 36 s synthesised pop song (112 BPM, 4/4) whose lead sings lines
with gesture words, and its lyrics as enhanced LRC (word times).

    .venv/bin/python tools/make_demo_song.py        # writes server/lm2d/assets/demo/demo.ogg, demo.lrc

Deterministic: running it again writes the same song. Everything in it is made here (numpy
synthesis, our own lines), so it ships with the project under the project's licence.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lm2d.corpus.build import make_synth_song
from lm2d.corpus.music_synth import SongSpec
from lm2d.corpus.song_audio import write_audio
from lm2d.lyrics import lyrics_to_lrc

DEMO_DIR = Path(__file__).resolve().parents[1] / "server" / "lm2d" / "assets" / "demo"
SPEC = SongSpec(style="pop", meter="4/4", tempo=112.0, seconds=36.0, key=60, mode="major", seed=2024)
LINES = [
    "reach up to the sky",
    "wave hello to the sun",
    "hands on my heart",
    "spin around and around",
    "clap clap with me now",
    "jump into the light",
]
MAX_BYTES = 600_000


def main() -> int:
    song = make_synth_song(SPEC, lines=LINES, title="lm2d demo")
    sung = [segment.text for segment in song.lyrics.segments]
    if sung != LINES:
        print(f"error: only {len(sung)} of {len(LINES)} lines fit the song", file=sys.stderr)
        return 1
    song.lyrics.metadata.update({"artist": "lm2d", "length": f"{int(song.duration // 60):02d}:{song.duration % 60:05.2f}"})
    audio_path = write_audio(DEMO_DIR / "demo.ogg", song.audio, song.plan.sr)
    lrc_path = DEMO_DIR / "demo.lrc"
    lrc_path.write_text(lyrics_to_lrc(song.lyrics), encoding="utf-8")
    size = audio_path.stat().st_size
    if size > MAX_BYTES:
        print(f"error: {audio_path} is {size} bytes, over {MAX_BYTES}", file=sys.stderr)
        return 1
    print(f"{audio_path} ({song.duration:.1f} s, {size // 1000} KB), {lrc_path} ({len(sung)} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
