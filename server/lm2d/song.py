"""A song decoded once: what every stage that listens to the song reads.

    Song(path) ─ header checked once (lm2d.audio.validate_audio_file: exists, format, length)
      .samples      mono float32 at 15360 Hz (30 FPS x hop 512), decoded on first use, once
      .features     EDGE's 35 music features (lm2d.features; cached on disk by file content)
      .vocal_span   (first, last) sung second, for placing untimed lyrics (lm2d.lyrics.plain)
      .duration     seconds, from the header

A feature-cache hit never decodes the song; plain-text lyrics decode it once for both.

Vocal span: REPET-SIM (librosa's nearest-neighbour filter, as in librosa's vocal separation
example) removes what repeats - the accompaniment - and the remaining foreground's energy in the
vocal band (200-3500 Hz), smoothed over a second, marks a frame as sung when it is within
VOCAL_THRESHOLD_DB of its loudest.
"""
from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import Callable

import librosa
import numpy as np
import scipy.ndimage

from lm2d.audio import DEFAULT_MAX_SECONDS, decode_audio, validate_audio_file
from lm2d.features import SAMPLE_RATE, MusicFeatures, cached_features, features_from_array

VOCAL_BAND_HZ = (200.0, 3500.0)
VOCAL_THRESHOLD_DB = -20.0
# A coarse grid (7.5 frames per second at 15360 Hz) keeps the similarity filter cheap: about
# 1 s per minute of song instead of 10 s at the 30 FPS feature rate, with the same result.
SPAN_N_FFT = 2048
SPAN_HOP = 2048
REPEAT_SIMILARITY_SECONDS = 2.0  # neighbours closer in time than this do not count as repeats


class Song:
    """One audio file, checked once and decoded at most once (module docstring)."""

    rate = SAMPLE_RATE

    def __init__(self, path: str | os.PathLike, max_seconds: float = DEFAULT_MAX_SECONDS, cache: bool = True,
                 features_from: Callable[["Song"], MusicFeatures] | None = None):
        """features_from(song): where the features come from instead of local_features() (a
        feature process, lm2d.feature_process: the server's, lm2d generate's)."""
        self.path = path
        self.info = validate_audio_file(path, max_seconds)
        self.max_seconds = max_seconds
        self.cache = cache
        self.features_from = features_from
        self._features: MusicFeatures | None = None
        self._features_lock = threading.Lock()   # threads asking at once wait for one computation

    @property
    def duration(self) -> float:
        return self.info.duration

    @cached_property
    def samples(self) -> np.ndarray:
        return decode_audio(self.path, self.info, self.rate)

    @property
    def features(self) -> MusicFeatures:
        with self._features_lock:
            if self._features is None:
                self._features = self.local_features() if self.features_from is None else self.features_from(self)
            return self._features

    def local_features(self) -> MusicFeatures:
        """The features computed (or read from the cache) in this process."""
        return cached_features(self.path, lambda: features_from_array(self.samples, self.rate), self.cache)

    @cached_property
    def vocal_span(self) -> tuple[float, float] | None:
        return vocal_span(self.samples, self.rate)


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
