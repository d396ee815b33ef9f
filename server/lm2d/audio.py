"""Loading songs: wav/ogg/flac/mp3 -> mono float32 at the model's sample rate.

Every way a user's file can be unusable (missing, empty, corrupt, truncated, not audio,
silent, too long) becomes one LM2DError naming the file, raised before any feature work."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from lm2d.errors import LM2DError

SUPPORTED_EXTENSIONS = (".wav", ".ogg", ".flac", ".mp3")
DEFAULT_SAMPLE_RATE = 15360    # 30 FPS x hop 512 (lm2d.features)
DEFAULT_MAX_SECONDS = 900.0
# Chroma CENS's lowest CQT octave needs about 2.5 s of signal at 15360 Hz; shorter songs give
# degenerate features (and librosa warnings), and are too short to dance to anyway.
MIN_SECONDS = 3.0
# Peak amplitude below which a song counts as silent (-80 dBFS): features of silence are
# meaningless (chroma and onsets of nothing) and the dance would be noise.
SILENCE_PEAK = 1e-4
# mp3 headers give an estimated length (Xing/bitrate); only a real shortfall means truncation.
MP3_LENGTH_TOLERANCE = 0.98
MPG123_NOISE = re.compile(r"(Warning|Note|Error): |\[src/libmpg123/|\[.*mpg123.*\]")


@dataclass(frozen=True)
class AudioInfo:
    """What the header says, read without decoding the audio."""
    frames: int
    sample_rate: int
    channels: int
    log: str = ""  # libsndfile's parse log (it records truncation it noticed)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_duration(path: str | os.PathLike) -> float:
    """Length in seconds from the header only (cheap): for validating a job before starting it."""
    return probe_audio(path).duration


def validate_audio_file(path: str | os.PathLike, max_seconds: float = DEFAULT_MAX_SECONDS) -> AudioInfo:
    """Header-level checks (exists, format, not empty, 3 s to max_seconds long) without decoding."""
    info = probe_audio(path)
    if info.duration < MIN_SECONDS:
        raise LM2DError(f"is only {info.duration:.1f} s long; a song needs at least {MIN_SECONDS:g} s", path=path)
    if info.duration > max_seconds:
        raise LM2DError(f"is {info.duration:.1f} s long; the limit is {max_seconds:g} s", path=path)
    return info


def probe_audio(path: str | os.PathLike) -> AudioInfo:
    _check_is_candidate_file(path)
    try:
        with mpg123_quieted(path):
            raw = sf.info(os.fspath(path))
        info = AudioInfo(int(raw.frames), int(raw.samplerate), int(raw.channels), raw.extra_info)
    except sf.LibsndfileError as err:
        if not _needs_audioread(path):
            raise _unreadable(path, err) from err
        info = _probe_with_audioread(path)
    if info.frames <= 0:
        raise LM2DError("contains no audio frames", path=path)
    _check_not_cut_off(path, info)
    return info


def load_audio(path: str | os.PathLike, sample_rate: int = DEFAULT_SAMPLE_RATE,
               max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Decode, mix to mono and resample. Returns (samples float32 (N,), sample_rate)."""
    return decode_audio(path, validate_audio_file(path, max_seconds), sample_rate), sample_rate


def decode_audio(path: str | os.PathLike, info: AudioInfo, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """The samples of a file whose header `info` was validated (validate_audio_file): decoded,
    mixed to mono and resampled to sample_rate, float32 (N,)."""
    samples, native_rate = _decode(path)
    if _extension(path) == ".mp3" and samples.shape[0] < MP3_LENGTH_TOLERANCE * info.frames:
        raise LM2DError(f"is truncated: its header announces {info.duration:.1f} s but only "
                        f"{samples.shape[0] / native_rate:.1f} s could be decoded", path=path)
    mono = _mix_to_mono(samples)
    if not np.isfinite(mono).all():
        raise LM2DError("holds samples that are not numbers (NaN or infinite): the file is damaged", path=path)
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise LM2DError("is silent (every sample is below -80 dBFS)", path=path)
    if native_rate != sample_rate:
        # soxr_hq is librosa.load's own default, so this matches what EDGE's features saw.
        mono = librosa.resample(mono, orig_sr=native_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _mix_to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,): the channels' mean, equal bit for bit to librosa.to_mono
    (numpy adds a few channels in order), but a contiguous column sum instead of a strided
    reduction over the interleaved frames, which costs ~0.1 s on a 3-minute song."""
    mono = samples[:, 0].copy()
    for channel in range(1, samples.shape[1]):
        mono += samples[:, channel]
    if samples.shape[1] > 1:
        mono /= np.float32(samples.shape[1])
    return mono


def _check_is_candidate_file(path: str | os.PathLike) -> None:
    file = Path(path)
    try:
        file.stat()
    except FileNotFoundError:
        raise LM2DError("no such audio file", path=path) from None
    except OSError as err:   # a symlink loop, no permission on a folder
        raise LM2DError(f"cannot open the audio file: {err.strerror or err}", path=path) from None
    if not file.is_file():
        raise LM2DError("is not a file", path=path)
    if _extension(path) not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(ext[1:] for ext in SUPPORTED_EXTENSIONS)
        raise LM2DError(f"unsupported audio format '{file.suffix}' (use {supported})", path=path)
    if file.stat().st_size == 0:
        raise LM2DError("is empty (0 bytes)", path=path)


@contextlib.contextmanager
def mpg123_quieted(path: str | os.PathLike):
    """libsndfile's mp3 decoder (libmpg123) prints its own notes on damaged files ("Warning: Xing
    stream size off by more than 1%") straight to file descriptor 2, before lm2d's one-line error.
    For mp3s, fd 2 goes to a temp file meanwhile; whatever else was written there is passed on."""
    if _extension(path) != ".mp3":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not MPG123_NOISE.match(line)]
            sys.stderr.write("".join(kept))


def _extension(path: str | os.PathLike) -> str:
    return Path(path).suffix.lower()


def _unreadable(path: str | os.PathLike, err: Exception) -> LM2DError:
    fmt = _extension(path)[1:]
    message = f"cannot be decoded as {fmt} audio (corrupt, truncated or not audio)"
    # libsndfile's reason helps for wav/ogg/flac ("Format not recognised", "flac decoder lost
    # sync"); for any unreadable mp3 it says "File does not exist or is not a regular file".
    if fmt != "mp3":
        message += ": " + " ".join(str(err).replace(f"'{os.fspath(path)}'", "the file").split())
    return LM2DError(message, path=path)


def _decode(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the file's own sample rate."""
    try:
        with mpg123_quieted(path):
            samples, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        if not _needs_audioread(path):
            raise _unreadable(path, err) from err
        samples, rate = _decode_with_audioread(path)
    if samples.shape[0] == 0:
        raise LM2DError("contains no audio frames", path=path)
    return samples, int(rate)


def _check_not_cut_off(path: str | os.PathLike, info: AudioInfo) -> None:
    """libsndfile decodes what is there of a cut-off file without complaint; catch that here,
    since a song silently missing its end would give a dance that stops early. (mp3 headers
    only estimate the length: load_audio compares it with what decodes.)"""
    # libsndfile's own parse log notes a WAV whose data chunk is shorter than its header says
    # ("data : 441000 (should be 220478)") and an Ogg stream without its end-of-stream page.
    declared = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", info.log, re.MULTILINE)
    if declared:
        announced_bytes, present_bytes = int(declared.group(1)), int(declared.group(2))
        if present_bytes < announced_bytes:
            announced = info.duration * announced_bytes / max(present_bytes, 1)
            raise LM2DError(f"is truncated: its header announces {announced:.1f} s "
                            f"but the file holds only {info.duration:.1f} s", path=path)
    if "lacks an end-of-stream" in info.log:
        raise LM2DError(f"is truncated: the Ogg stream stops after {info.duration:.1f} s "
                        "without its end-of-stream page", path=path)


# --- mp3 with libsndfile < 1.1 (no mpeg support): audioread (ffmpeg, GStreamer, Core Audio) ---

def _needs_audioread(path: str | os.PathLike) -> bool:
    return _extension(path) == ".mp3" and not soundfile_reads_mp3()


def soundfile_reads_mp3() -> bool:
    return "MP3" in sf.available_formats()


def _no_mp3_decoder(path: str | os.PathLike, err: Exception) -> LM2DError:
    import audioread

    reason = ("audioread found no decoder" if isinstance(err, audioread.NoBackendError)
              else f"audioread: {' '.join(str(err).split())}")
    return LM2DError(f"cannot be decoded as mp3: libsndfile {sf.__libsndfile_version__} has no mp3 support "
                     f"and {reason}; install soundfile >= 0.12 (libsndfile >= 1.1) or ffmpeg, "
                     "or convert the song to wav/ogg/flac", path=path)


def _probe_with_audioread(path: str | os.PathLike) -> AudioInfo:
    import audioread  # a librosa dependency

    try:
        with audioread.audio_open(os.fspath(path)) as source:
            return AudioInfo(round(source.duration * source.samplerate), source.samplerate, source.channels)
    except (audioread.DecodeError, OSError) as err:
        raise _no_mp3_decoder(path, err) from err


def _decode_with_audioread(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    import audioread

    try:
        with audioread.audio_open(os.fspath(path)) as source:
            pcm = [librosa.util.buf_to_float(block, dtype=np.float32) for block in source]
            rate, channels = source.samplerate, source.channels
    except (audioread.DecodeError, OSError) as err:
        raise _no_mp3_decoder(path, err) from err
    samples = np.concatenate(pcm) if pcm else np.zeros(0, np.float32)
    return samples.reshape(-1, channels), rate
