"""Music-feature extraction for a 3-minute song: cold process, warm process, cache hit.

The song is the first 180 s of ../shared/data/songs/on_the_run/audio.ogg (44.1 kHz stereo)
written to a temporary wav, so each run also pays decoding, mono mixing and resampling. The last
rows compare lm2d's extraction from decoded samples (one shared STFT, two threads) with EDGE's
recipe written as plain librosa calls, one after another, in the same run (their ratio is what
carries over to other machines; the values agree, tests/test_audio_features.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SONG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "songs" / "on_the_run" / "audio.ogg"
SECONDS = 180

# Runs in a fresh interpreter: times imports, optional warm_up() and one uncached extraction.
_FRESH_PROCESS = """
import json, sys, time
started = time.perf_counter()
from lm2d.features import extract_features, warm_up
imported = time.perf_counter()
if sys.argv[2] == "warm_up":
    warm_up()
warmed = time.perf_counter()
extract_features(sys.argv[1], cache=False)
print(json.dumps({"import": imported - started, "warm_up": warmed - imported,
                  "extract": time.perf_counter() - warmed}))
"""


def run() -> list[tuple[str, str]]:
    import soundfile as sf

    with tempfile.TemporaryDirectory() as scratch:
        song = Path(scratch) / "on_the_run_180s.wav"
        samples, rate = sf.read(SONG, frames=SECONDS * 44100, dtype="float32")
        sf.write(song, samples, rate)

        cold_wall, cold = _fresh_process(song, warm_up=False)
        _, after_warm_up = _fresh_process(song, warm_up=True)
        warm, music = _timed_in_this_process(song, cache=False, repeats=2)
        cached, _ = _timed_in_this_process(song, cache=True, repeats=2, cache_root=Path(scratch) / "cache")
        ours, plain = _against_plain_librosa(song)

    return [
        ("song", f"{SECONDS} s of on_the_run (44.1 kHz stereo wav) -> features {music.features.shape}, "
                 f"tempo {music.tempo:.1f} BPM, {len(music.beat_times)} beats"),
        ("cold process, cache off (interpreter + imports + JIT + extract)", f"{cold_wall:.2f} s"),
        ("  of which imports", f"{cold['import']:.2f} s"),
        ("  of which first extract (with JIT)", f"{cold['extract']:.2f} s"),
        ("fresh process: warm_up()", f"{after_warm_up['warm_up']:.2f} s"),
        ("fresh process: first extract after warm_up()", f"{after_warm_up['extract']:.2f} s"),
        ("warm process, cache off (second call)", f"{warm:.2f} s"),
        ("cache hit (same file again)", f"{cached * 1000:.0f} ms"),
        ("warm, from decoded samples: lm2d vs EDGE's recipe as plain librosa calls (median of 3)",
         f"{ours:.2f} vs {plain:.2f} s ({ours / plain:.2f}x)"),
    ]


def _against_plain_librosa(song: Path) -> tuple[float, float]:
    """Median seconds of lm2d.features.features_from_array and of the plain librosa recipe, on the
    song's samples at the feature rate, taken in turns so both see the same machine."""
    import librosa
    import numpy as np

    from lm2d.audio import load_audio
    from lm2d.features import BEAT_TIGHTNESS, HOP_LENGTH, N_CHROMA, N_MFCC, SAMPLE_RATE, features_from_array

    def plain(y):
        envelope = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE)
        librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=N_MFCC)
        librosa.feature.chroma_cens(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, n_chroma=N_CHROMA)
        librosa.onset.onset_detect(onset_envelope=envelope, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
        librosa.beat.beat_track(onset_envelope=envelope, sr=SAMPLE_RATE, hop_length=HOP_LENGTH,
                                tightness=BEAT_TIGHTNESS)

    y, _ = load_audio(song, SAMPLE_RATE)
    times = {features_from_array: [], plain: []}
    for _ in range(3):
        for extract in times:
            started = time.perf_counter()
            extract(y)
            times[extract].append(time.perf_counter() - started)
    return float(np.median(times[features_from_array])), float(np.median(times[plain]))


def _fresh_process(song: Path, warm_up: bool) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(song), "warm_up" if warm_up else "cold"],
                          check=True, capture_output=True, text=True)
    return time.perf_counter() - started, json.loads(done.stdout.strip().splitlines()[-1])


def _timed_in_this_process(song: Path, cache: bool, repeats: int, cache_root: Path | None = None):
    """(seconds, result) of the last of `repeats` calls (the earlier ones pay JIT or fill the cache)."""
    from lm2d.features import extract_features

    previous = os.environ.get("LM2D_CACHE")
    if cache_root is not None:
        os.environ["LM2D_CACHE"] = str(cache_root)
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            music = extract_features(song, cache=cache)
            took = time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop("LM2D_CACHE", None)
        else:
            os.environ["LM2D_CACHE"] = previous
    return took, music
