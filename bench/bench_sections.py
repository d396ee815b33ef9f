"""Song structure: the section map of a 3-minute song (warm; target < 1 s), and the cost and
quality of repeat choreography with the shipped model on the same 3 minutes of On the run with
its lyrics (repeats off vs on, one process, same seed)."""
from __future__ import annotations

import tempfile
from dataclasses import replace
import time
from pathlib import Path

import numpy as np

SONG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "songs" / "on_the_run"
SECONDS = 180


def run() -> list[tuple[str, str]]:
    import soundfile as sf

    from lm2d.evaluation.beat_align import beat_alignment_score
    from lm2d.features import BEAT_COLUMN, extract_features
    from lm2d.lyrics import load_lyrics
    from lm2d.pipeline import load_model
    from lm2d.structure import repeats, section_map
    from lm2d.structure.measure import seam_ratio, section_distance
    from lm2d.structure.repeat import generate_with_repeats

    with tempfile.TemporaryDirectory() as scratch:
        song = Path(scratch) / "on_the_run_180s.wav"
        samples, rate = sf.read(SONG / "audio.ogg", frames=SECONDS * 44100, dtype="float32")
        sf.write(song, samples, rate)
        features = extract_features(song).features
        lyrics = load_lyrics(SONG / "song.txt")
        lyrics = replace(lyrics, segments=[s for s in lyrics.segments if s.end <= SECONDS])
        section_map(features, lyrics)                       # warm: librosa's JIT paths
        started = time.perf_counter()
        sections = section_map(features, lyrics)
        map_seconds = time.perf_counter() - started
        music_only = time.perf_counter()
        section_map(features)
        music_only = time.perf_counter() - music_only

        loaded = load_model(None, "cpu")
        beats = np.flatnonzero(features[:, BEAT_COLUMN] > 0.5)
        generate_with_repeats(loaded, song, lyrics, repeat_sections=0.0, seed=0, end_seconds=20.0)   # warm
        rows, scores = [], {}
        for strength in (0.0, 1.0):
            started = time.perf_counter()
            motion, _lines, found = generate_with_repeats(loaded, song, lyrics, repeat_sections=strength, seed=0)
            took = time.perf_counter() - started
            joints = motion.joints()
            parts = repeats(found)
            firsts = [s for s in found if s.occurrence == 1]
            same = np.mean([section_distance(joints, occ[0], other, beats) for occ in parts.values()
                            for other in occ[1:]])
            different = np.mean([section_distance(joints, a, b, beats) for i, a in enumerate(firsts)
                                 for b in firsts[i + 1:]])
            scores[strength] = took
            rows.append((f"repeats {'on (1.0)' if strength else 'off (0)'}: generation, 3 min with lyrics",
                         f"{took:.1f} s; same-part / different-part distance {same / different:.3f} "
                         f"({same * 100:.1f} / {different * 100:.1f} cm); seams {seam_ratio(joints, found):.2f}x; "
                         f"BAS {beat_alignment_score(joints, beats[beats < motion.n_frames]):.3f}"))
    names = ", ".join(section.name for section in sections)
    return [
        ("song", f"first {SECONDS} s of on_the_run with its UltraStar lyrics: {len(sections)} sections ({names})"),
        ("section map, warm (music + lyrics)", f"{map_seconds * 1000:.0f} ms"),
        ("section map, warm (music only)", f"{music_only * 1000:.0f} ms"),
        *rows,
        ("generation time, repeats on / off", f"{scores[1.0] / scores[0.0]:.2f}x"),
    ]
