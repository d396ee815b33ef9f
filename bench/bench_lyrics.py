"""Lyrics: parsing, placing untimed lyrics, and the text encoder (cold load, cold and warm cache).

Songs: ../shared/data/songs/on_the_run (UltraStar, 53 lines, 288 s) and Karissa Hobbs'
"Let's Go Fishin'" (133 s, with vocals) for placing plain text. Everything runs in a fresh
interpreter with an empty LM2D_CACHE, so "cold" really is cold.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ULTRASTAR = DATA / "songs" / "on_the_run" / "song.txt"
VOCAL_SONG = DATA / "music" / "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"

_FRESH_PROCESS = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
clock = time.perf_counter
t0 = clock()
from lm2d.lyrics import TextEncoder, encode_song_lyrics, load_lyrics
from lm2d.song import Song
t1 = clock()
lyrics = load_lyrics(sys.argv[1])
t2 = clock()
encoder = TextEncoder()
t3 = clock()
identity = encoder.identity
t4 = clock()
tokens = encode_song_lyrics(lyrics, encoder)
t5 = clock()
encoder.memory_cache.clear()
encode_song_lyrics(lyrics, encoder)
t6 = clock()
encode_song_lyrics(lyrics, encoder)
t7 = clock()
with open(sys.argv[3], "w") as handle:
    handle.write("Let's go fishing down by the river\\nCast a line\\nWe'll catch the biggest one tonight\\n")
plain = load_lyrics(sys.argv[3], Song(sys.argv[2]))
t8 = clock()
print(json.dumps({"import": t1 - t0, "parse": t2 - t1, "load": t3 - t2, "identity": t4 - t3,
                  "cold": t5 - t4, "disk": t6 - t5, "memory": t7 - t6, "plain": t8 - t7,
                  "lines": len(lyrics.segments), "tokens": int(len(tokens.frames)),
                  "span": [plain.segments[0].start, plain.segments[-1].end]}))
"""


def run() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "LM2D_CACHE": os.path.join(scratch, "cache")}
        result = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(ULTRASTAR), str(VOCAL_SONG),
                                 os.path.join(scratch, "plain.txt")],
                                env=env, capture_output=True, text=True, check=True)
    t = json.loads(result.stdout.strip().splitlines()[-1])
    ms = lambda seconds: f"{seconds * 1000:.1f} ms"  # noqa: E731
    return [
        ("import lm2d.lyrics (fresh process)", f"{t['import']:.2f} s"),
        ("parse On the run's UltraStar file", ms(t["parse"])),
        ("load the encoder, cold (torch + transformers import, all-MiniLM-L6-v2 weights)", f"{t['load']:.2f} s"),
        ("encoder identity (sha-256 of config, tokenizer, 91 MB weights)", f"{t['identity']:.2f} s"),
        (f"encode On the run: {t['lines']} lines, {t['tokens']} tokens, empty cache", f"{t['cold']:.2f} s"),
        ("same, from the disk cache", ms(t["disk"])),
        ("same, from the memory cache", ms(t["memory"])),
        ("place 3 untimed lines over a 133 s song (decode + vocal span)",
         f"{t['plain']:.2f} s (sung part found: {t['span'][0]:.1f}-{t['span'][1]:.1f} s)"),
    ]


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
