#!/usr/bin/env python3
"""Body usage of models on songs outside the training corpus (issue targets, docs/MODEL_CARD.md).

    .venv/bin/python tools/body_usage_outside.py [--checkpoint DIR ...] [--reference-motion CLIP.npz]

Synthesises songs with seeds the corpus never uses (one per dance style family) and takes the
bundled demo song, generates each with every checkpoint through `lm2d generate` (the path users
run, beat accent included), and prints one markdown row per model: the mean body usage over the
songs (lm2d.evaluation.body_usage), beside the choreographer's own dance of the synthesised songs
and, optionally, a real capture's.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lm2d.corpus.build import make_synth_song
from lm2d.corpus.choreographer import choreograph, frame_count
from lm2d.corpus.music_synth import random_spec
from lm2d.corpus.song_audio import write_audio
from lm2d.evaluation.body_usage import FIELD_NAMES, FIELDS, body_usage, mean_body_usage
from lm2d.lyrics import lyrics_to_lrc
from lm2d.motion.io import load_result_npz
from lm2d.motion.representation import FPS

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "server" / "lm2d" / "assets" / "demo"
DEFAULT_CHECKPOINT = ROOT / "server" / "lm2d" / "checkpoints" / "default"
STYLES = ("pop", "hiphop", "electronic", "ballad")
FIRST_SEED = 777000          # the corpus draws its songs from seeds 0 .. 999 x 1000 + songs


def outside_songs(folder: Path, seconds: float) -> tuple[list[tuple[Path, Path]], list[np.ndarray]]:
    """(audio, lyrics) of the outside songs, and the choreographer's dance of the synthesised ones."""
    songs, choreographed = [], []
    for index, style in enumerate(STYLES):
        spec = random_spec(FIRST_SEED + index, seconds, style=style)
        song = make_synth_song(spec, title=f"outside_{style}")
        audio = write_audio(folder / f"outside_{style}.ogg", song.audio, song.plan.sr)
        lyrics = folder / f"outside_{style}.lrc"
        lyrics.write_text(lyrics_to_lrc(song.lyrics), encoding="utf-8")
        songs.append((audio, lyrics))
        n_frames = frame_count(song.duration)
        dance = choreograph(song.plan.beat_times, song.duration, song.lyrics, style=style, seed=spec.seed,
                            energy=song.plan.energy_curve(FPS, n_frames), n_frames=n_frames,
                            beats_per_bar=song.plan.meter.beats_per_bar)
        choreographed.append(dance.joints())
    songs.append((DEMO / "demo.ogg", DEMO / "demo.lrc"))
    return songs, choreographed


def generated_joints(checkpoint: Path, songs: list[tuple[Path, Path]], folder: Path) -> list[np.ndarray]:
    joints = []
    for audio, lyrics in songs:
        out = folder / f"{checkpoint.parent.name}_{checkpoint.name}_{audio.stem}.npz"
        subprocess.run([sys.executable, "-m", "lm2d", "generate", str(audio), "--lyrics", str(lyrics), "-o", str(out),
                        "--checkpoint", str(checkpoint)], check=True, capture_output=True)
        joints.append(load_result_npz(out)[0].joints())
    return joints


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, action="append", help="model folder (repeatable; default: the shipped model)")
    parser.add_argument("--reference-motion", type=Path, action="append", default=[],
                        help="a real dance as an lm2d clip (.npz from lm2d import-mocap)")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each synthesised song")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        songs, choreographed = outside_songs(folder, args.seconds)
        rows.append(("choreographer (synthesised songs)", mean_body_usage(choreographed)))
        for checkpoint in args.checkpoint or [DEFAULT_CHECKPOINT]:
            rows.append((str(checkpoint), mean_body_usage(generated_joints(checkpoint, songs, folder))))
    for path in args.reference_motion:
        rows.append((f"real: {path.name}", body_usage(load_result_npz(path)[0].joints())))
    print("| | " + " | ".join(f"{name} ({unit})" if unit else name for name, unit in FIELDS.items()) + " |")
    print("|---" * (len(FIELDS) + 1) + "|")
    for label, usage in rows:
        print(f"| {label} | " + " | ".join(f"{usage[name]:.3g}" for name in FIELD_NAMES) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
