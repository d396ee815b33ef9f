"""Plain lyrics without timing, spread over the sung part of the song.

The sung part is found in the audio: REPET-SIM (librosa's nearest-neighbour filter, as in
librosa's vocal separation example) removes what repeats - the accompaniment - and the
remaining foreground's energy in the vocal band (200-3500 Hz), smoothed over a second, marks a
frame as sung when it is within VOCAL_THRESHOLD_DB of its loudest. The song's lines are then
laid end to end from the first to the last sung frame, each taking time in proportion to its
syllable count (vowel groups; characters for scripts without Latin vowels). This is a rough
placement, and a warning says so; word timing stays unknown.

Blank lines and section labels on a line of their own ("[Chorus]") are skipped.
On "On the run" (288 s) this finds 11.6-274.0 s as the sung part; its UltraStar file says 11.25-273.7 s."""
from __future__ import annotations

import os
import re

import librosa
import numpy as np
import scipy.ndimage

from lm2d.audio import load_audio
from lm2d.errors import LM2DError, warn
from lm2d.lyrics.segments import Lyrics, Segment

SECTION_LABEL = re.compile(r"\[[^\]]*\]")
VOWEL_GROUPS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+")
VOCAL_BAND_HZ = (200.0, 3500.0)
VOCAL_THRESHOLD_DB = -20.0
# A coarse grid (7.5 frames per second at 15360 Hz) keeps the similarity filter cheap: about
# 1 s per minute of song instead of 10 s at the 30 FPS feature rate, with the same result.
SPAN_N_FFT = 2048
SPAN_HOP = 2048
REPEAT_SIMILARITY_SECONDS = 2.0  # neighbours closer in time than this do not count as repeats


def lyric_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each line that is sung."""
    return [(number, " ".join(line.split())) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not SECTION_LABEL.fullmatch(line.strip())]


def parse_plain(text: str, path: str | os.PathLike, audio_path: str | os.PathLike | None) -> Lyrics:
    lines = lyric_lines(text)
    if not lines:
        raise LM2DError("no lyric lines found", path=path)
    if audio_path is None:
        raise LM2DError("has no timestamps; untimed lyrics need the audio to be placed "
                        "(give the song with --audio)", path=path)
    samples, sample_rate = load_audio(audio_path)
    span = vocal_span(samples, sample_rate)
    if span is None:
        span = (0.0, len(samples) / sample_rate)
        warn(f"found no singing in {os.fspath(audio_path)}; spreading the untimed lyrics over the whole song",
             path=path)
    warn(f"has no timestamps: {len(lines)} lines spread by syllable count over the sung part "
         f"{span[0]:.1f}-{span[1]:.1f} s of {os.fspath(audio_path)} (approximate timing)", path=path)
    return Lyrics(spread_lines(lines, *span), {}, "plain")


def spread_lines(lines: list[tuple[int, str]], start: float, end: float) -> list[Segment]:
    weights = np.array([syllable_count(text) for _, text in lines], dtype=np.float64)
    bounds = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [Segment(float(bounds[i]), float(bounds[i + 1]), text, [], number)
            for i, (number, text) in enumerate(lines)]


def syllable_count(text: str) -> int:
    count = 0
    for word in text.casefold().split():
        vowel_groups = len(VOWEL_GROUPS.findall(word))
        # Latin script: a syllable per vowel group; others (CJK, ...): about one per character.
        count += vowel_groups or sum(char.isalnum() for char in word)
    return max(count, 1)


def vocal_span(samples: np.ndarray, sample_rate: int) -> tuple[float, float] | None:
    """(first, last) second where singing is heard, or None when the song seems instrumental."""
    spectrum = np.abs(librosa.stft(samples, n_fft=SPAN_N_FFT, hop_length=SPAN_HOP))
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=SPAN_N_FFT)
    spectrum = spectrum[(freqs >= VOCAL_BAND_HZ[0]) & (freqs <= VOCAL_BAND_HZ[1])]
    frames_per_second = sample_rate / SPAN_HOP
    repeating = librosa.decompose.nn_filter(spectrum, aggregate=np.median, metric="cosine",
                                            width=int(REPEAT_SIMILARITY_SECONDS * frames_per_second))
    repeating = np.minimum(spectrum, repeating)
    # Soft mask of what does not repeat (margin 10, as in librosa's vocal separation example).
    foreground = librosa.util.softmask(spectrum - repeating, 10 * repeating, power=2) * spectrum
    energy_db = librosa.power_to_db((foreground ** 2).sum(axis=0), ref=np.max)
    smoothed = scipy.ndimage.median_filter(energy_db, size=int(frames_per_second) | 1)
    sung = np.flatnonzero(smoothed > VOCAL_THRESHOLD_DB)
    if sung.size == 0:
        return None
    return float(sung[0] / frames_per_second), float(min((sung[-1] + 1) / frames_per_second,
                                                         len(samples) / sample_rate))
