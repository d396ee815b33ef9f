"""EDGE's 35-dim "baseline" music features at 30 FPS, cached per song.

Follows EDGE's data/audio_extraction/baseline_features.py (Stanford-TML/EDGE) column for column:
librosa at 15360 Hz with hop 512, so one hop is one 30 FPS frame. One deliberate difference:
EDGE seeds beat tracking with a tempo parsed from AIST++ file names; lm2d tracks the tempo from
the audio (librosa's tempo estimate on the same onset envelope, prior centred on 120 BPM).

Frame count: librosa frames are centred, so T = 1 + floor(N / 512) for N samples, i.e.
T = 30 x duration, +1 at most (tests check |T - 30 x duration| <= 1).
"""
from __future__ import annotations

import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import librosa
import numpy as np

from lm2d.audio import DEFAULT_MAX_SECONDS
from lm2d.cache import cache_dir, cache_key, file_digest
from lm2d.errors import LM2DError, warn
from lm2d.safe_write import write_npz

FPS = 30
HOP_LENGTH = 512
N_FFT = 2048                    # librosa's default, for the mel spectrogram and the tuning estimate
CHROMA_BINS_PER_OCTAVE = 36     # chroma_cens's default
SAMPLE_RATE = FPS * HOP_LENGTH  # 15360
N_MFCC = 20
N_CHROMA = 12
BEAT_TIGHTNESS = 100
FEATURE_DIM = 1 + N_MFCC + N_CHROMA + 2
# Bump when the computation changes so stale cache entries are never read.
FEATURES_VERSION = 1

_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")  # librosa's chroma order
FEATURE_NAMES = (
    "onset_envelope",
    *(f"mfcc_{i}" for i in range(N_MFCC)),
    *(f"chroma_cens_{pitch}" for pitch in _PITCH_CLASSES),
    "onset_peak",
    "beat",
)
ONSET_COLUMN = FEATURE_NAMES.index("onset_envelope")
MFCC_COLUMNS = slice(FEATURE_NAMES.index("mfcc_0"), FEATURE_NAMES.index("mfcc_0") + N_MFCC)
CHROMA_COLUMNS = slice(FEATURE_NAMES.index("chroma_cens_C"), FEATURE_NAMES.index("chroma_cens_C") + N_CHROMA)
ONSET_PEAK_COLUMN = FEATURE_NAMES.index("onset_peak")
BEAT_COLUMN = FEATURE_NAMES.index("beat")
assert len(FEATURE_NAMES) == FEATURE_DIM == 35


@dataclass
class MusicFeatures:
    features: np.ndarray      # (T, 35) float32, columns as FEATURE_NAMES
    beat_times: np.ndarray    # (B,) float64 seconds, the frames marked in the beat column
    tempo: float              # BPM, tracked from the audio
    duration: float           # seconds of audio
    fps: int = FPS

    @property
    def n_frames(self) -> int:
        return int(self.features.shape[0])


def extract_features(path: str | os.PathLike, cache: bool = True,
                     max_seconds: float = DEFAULT_MAX_SECONDS) -> MusicFeatures:
    """Features of a whole song file (lm2d.song.Song(path).features). Bad files raise LM2DError
    (see lm2d.audio)."""
    from lm2d.song import Song   # Song builds on this module

    return Song(path, max_seconds, cache).features


def cached_features(path: str | os.PathLike, compute: Callable[[], MusicFeatures], cache: bool = True) -> MusicFeatures:
    """The features of the file at `path` from the cache (keyed by its content), else compute()
    and cache them."""
    entry = cache_dir("features") / f"{_cache_key(path)}.npz" if cache else None
    if entry is not None and (cached := _read_cached(entry)) is not None:
        return cached
    result = compute()
    if entry is not None:
        try:
            _write_cached(entry, result)
        except OSError as err:  # a full or read-only cache must not cost the user the result
            warn(f"could not cache features: {err}", path=entry)
    return result


def features_from_array(y: np.ndarray, sr: int = SAMPLE_RATE) -> MusicFeatures:
    """Features of mono samples y at rate sr (resampled to 15360 Hz if needed)."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono samples of shape (N,), got {y.shape}")
    duration = len(y) / sr
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")

    # One magnitude STFT (librosa's defaults: n_fft 2048, hann, centred) serves three features
    # that would each compute it from y: the log-mel spectrogram under onset_strength and mfcc
    # (power 2, 128 slaney mels), and the tuning estimate of the CQT under chroma_cens, which
    # is then handed the tuning. Two threads share the rest (numpy, scipy's FFT and librosa's
    # compiled loops release the GIL): the tuning estimate, half the frames each, then the CQT,
    # the slowest part, in one thread while the other computes everything else. The values are
    # the ones the plain librosa calls give, to the bit.
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    with ThreadPoolExecutor(1, thread_name_prefix="lm2d-features") as pool:
        chroma_job = pool.submit(_chroma_cens, y, _estimate_tuning(magnitude, pool))
        log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=magnitude ** 2, sr=SAMPLE_RATE))
        envelope = librosa.onset.onset_strength(S=log_mel, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
        mfcc = librosa.feature.mfcc(S=log_mel, sr=SAMPLE_RATE, n_mfcc=N_MFCC)
        peak_frames = librosa.onset.onset_detect(onset_envelope=envelope, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
        tempo, beat_frames = librosa.beat.beat_track(onset_envelope=envelope, sr=SAMPLE_RATE,
                                                     hop_length=HOP_LENGTH, tightness=BEAT_TIGHTNESS)
        chroma = chroma_job.result()
    features = np.concatenate([envelope[:, None], mfcc.T, chroma.T,
                               _one_hot(peak_frames, len(envelope))[:, None],
                               _one_hot(beat_frames, len(envelope))[:, None]], axis=1)
    return MusicFeatures(
        features=features.astype(np.float32),
        beat_times=librosa.frames_to_time(beat_frames, sr=SAMPLE_RATE, hop_length=HOP_LENGTH),
        tempo=float(np.atleast_1d(tempo)[0]),
        duration=float(duration),
    )


def warm_up() -> None:
    """Compile librosa's numba paths (beat tracking, peak picking, ...) once, so the first real
    song does not pay seconds of JIT. Uses 3 s of clicks at 44.1 kHz to cover resampling too."""
    rate = 44100
    clicks = librosa.clicks(times=np.arange(0.0, 3.0, 0.5), sr=rate, length=3 * rate)
    features_from_array(clicks.astype(np.float32), rate)


def _estimate_tuning(magnitude: np.ndarray, pool: ThreadPoolExecutor) -> float:
    """librosa.estimate_tuning(S=magnitude, ...) for chroma_cens's bins per octave (its CQT would
    estimate the tuning from its own STFT of y), with the first half of the frames in `pool`
    and the second in this thread. piptrack treats each frame on its own, so the halves side by
    side are the whole's pitches and magnitudes, and the rest is estimate_tuning's own steps: the
    estimate is librosa's exactly."""
    if magnitude.shape[1] < 2:
        return librosa.estimate_tuning(S=magnitude, sr=SAMPLE_RATE, bins_per_octave=CHROMA_BINS_PER_OCTAVE)
    first, second = np.array_split(magnitude, 2, axis=1)
    first_tracked = pool.submit(librosa.piptrack, S=first, sr=SAMPLE_RATE)
    second_tracked = librosa.piptrack(S=second, sr=SAMPLE_RATE)
    pitch, strength = (np.concatenate(halves, axis=1) for halves in zip(first_tracked.result(), second_tracked))
    pitched = pitch > 0
    threshold = np.median(strength[pitched]) if pitched.any() else 0.0
    return librosa.pitch_tuning(pitch[(strength >= threshold) & pitched], bins_per_octave=CHROMA_BINS_PER_OCTAVE)


def _chroma_cens(y: np.ndarray, tuning: float) -> np.ndarray:
    return librosa.feature.chroma_cens(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, n_chroma=N_CHROMA,
                                       bins_per_octave=CHROMA_BINS_PER_OCTAVE, tuning=tuning)


def _one_hot(frames: np.ndarray, length: int) -> np.ndarray:
    column = np.zeros(length, dtype=np.float32)
    column[frames] = 1.0
    return column


def _cache_key(path: str | os.PathLike) -> str:
    parameters = {"sample_rate": SAMPLE_RATE, "hop_length": HOP_LENGTH, "n_mfcc": N_MFCC,
                  "n_chroma": N_CHROMA, "beat_tightness": BEAT_TIGHTNESS, "librosa": librosa.__version__}
    return cache_key("features", file_digest(path), parameters, FEATURES_VERSION)


def _read_cached(entry: Path) -> MusicFeatures | None:
    """The cached result, or None when absent or unreadable (a damaged entry is recomputed)."""
    try:
        with np.load(entry, allow_pickle=False) as data:
            return MusicFeatures(features=data["features"], beat_times=data["beat_times"],
                                 tempo=float(data["tempo"]), duration=float(data["duration"]),
                                 fps=int(data["fps"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _write_cached(entry: Path, result: MusicFeatures) -> None:
    # Atomic: concurrent jobs (server + CLI) never see a half-written entry. A cache that cannot
    # be written (full disk) costs only time, so it warns instead of failing the job.
    try:
        write_npz(entry, {"features": result.features, "beat_times": result.beat_times,
                          "tempo": result.tempo, "duration": result.duration, "fps": result.fps})
    except LM2DError as err:
        warn(f"could not cache the features: {err.message}", path=entry)
