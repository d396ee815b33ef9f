"""Reading videos with PyAV (FFmpeg in the wheel: no system FFmpeg needed): frames as RGB arrays
with their times, and the sound track as a WAV. Every unreadable file is one LM2DError."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from lm2d.errors import LM2DError

MAX_SECONDS = 900.0          # the same ceiling lm2d.audio puts on songs
AUDIO_SAMPLE_RATE = 44100


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    n_frames: int            # from the container; an estimate when the header has no count
    width: int
    height: int
    has_audio: bool

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps


def _open(path: Path):
    import av

    if not path.is_file():
        raise LM2DError("video file not found", path=path, code="not_found")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise LM2DError(f"cannot read this as a video ({_reason(err)})", path=path) from None
    if not container.streams.video:
        container.close()
        raise LM2DError("has no video stream", path=path)
    return container


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err).split(":")[0] or type(err).__name__


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, frame count, size and whether there is sound, from the header (no decoding)."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not fps > 0:
            raise LM2DError("the video stream has no frame rate", path=path)
        frames = stream.frames
        if not frames and stream.duration and stream.time_base:
            frames = round(float(stream.duration * stream.time_base) * fps)
        if not frames and container.duration:
            frames = round(container.duration / 1e6 * fps)
        info = VideoInfo(path, fps, int(frames or 0), stream.codec_context.width, stream.codec_context.height,
                         bool(container.streams.audio))
    if info.duration > MAX_SECONDS:
        raise LM2DError(f"is {info.duration:.0f} s long; videos up to {MAX_SECONDS:.0f} s are supported", path=path)
    return info


def iter_frames(path: str | os.PathLike) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, H x W x 3 uint8 RGB) for every frame, in order. A file that breaks off
    part-way ends the iteration there (what was decoded is kept); one that gives no frame at all
    is an error."""
    import av

    path = Path(path)
    decoded = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        try:
            for frame in container.decode(stream):
                time = float(frame.time) if frame.time is not None else decoded / fps
                decoded += 1
                yield time, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as err:
            if not decoded:
                raise LM2DError(f"cannot decode the video ({_reason(err)})", path=path) from None
    if not decoded:
        raise LM2DError("the video has no frames", path=path)


def extract_audio(path: str | os.PathLike, wav_path: str | os.PathLike) -> bool:
    """Write the video's first sound track to `wav_path` as 16-bit stereo WAV (44.1 kHz) and return
    True; False, writing nothing, when the video has no sound."""
    import av
    import soundfile as sf

    path = Path(path)
    chunks = []
    with _open(path) as container:
        if not container.streams.audio:
            return False
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_SAMPLE_RATE)
        try:
            for frame in container.decode(container.streams.audio[0]):
                chunks.extend(resampled.to_ndarray() for resampled in resampler.resample(frame))
            chunks.extend(resampled.to_ndarray() for resampled in resampler.resample(None))
        except av.error.FFmpegError as err:
            if not chunks:
                raise LM2DError(f"cannot decode the sound track ({_reason(err)})", path=path) from None
    if not chunks:
        return False
    samples = np.concatenate(chunks, axis=1).T          # (n, 2)
    wav_path = Path(wav_path)
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = wav_path.with_name(wav_path.name + ".part")
    sf.write(tmp, samples, AUDIO_SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, wav_path)
    return True
