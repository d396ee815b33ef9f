"""The one generation path: song (+ lyrics) -> Motion. The server, `lm2d generate`, the
evaluation suite and the Blender demo all come through here, so they give the same dance for the
same inputs and seed.

    song (checked once) ─► lyrics: parse ─► features (cached) ─► lyrics: encode (cached), crop ─► sample
    stages reported:                          "features"            "lyrics"                     "sampling"
    (the song is decoded at most once, for the features and for placing untimed lyrics)
                   ─► beat accent (lm2d.motion.retime: the body settles on each beat)

The caller writes the result (write_result, stage "writing"). Times: a request may cover part of
the song (start_seconds .. end_seconds); the returned motion and lyric lines then start at 0 =
start_seconds, since the result file's frame 0 is the first generated frame.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from lm2d.audio import DEFAULT_MAX_SECONDS
from lm2d.errors import LM2DError, stop_if_asked, warn
from lm2d.features import BEAT_COLUMN, FPS
from lm2d.limits import MAX_SONG_SECONDS, MIN_RESULT_FRAMES
from lm2d.model.checkpoint import LoadedModel, checkpoint_files, default_checkpoint_path, load_checkpoint
from lm2d.model.diffusion import EncodingMemo
from lm2d.motion import retime
from lm2d.motion.footlock import lock_feet
from lm2d.motion.io import LyricLine, save_result_npz
from lm2d.motion.representation import Motion
from lm2d.motion.skeleton import JOINT_NAMES
from lm2d.safe_write import check_output
from lm2d.sampling import LOWER_BODY, MAX_BATCH, Kept, SamplingSettings, joint_indices, sample
from lm2d.song import Song
from lm2d.validate.numbers import check_number

MAX_SECONDS_ENV = "LM2D_MAX_AUDIO_SECONDS"
RESULT_SUFFIXES = (".npz", ".bvh")

ProgressCallback = Callable[[str, float], None]
StopCallback = Callable[[], bool]


def max_audio_seconds() -> float:
    """The longest song accepted: $LM2D_MAX_AUDIO_SECONDS (at most 30 minutes), else 15 minutes."""
    raw = os.environ.get(MAX_SECONDS_ENV)
    if not raw:
        return DEFAULT_MAX_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_SONG_SECONDS:
        raise LM2DError(f"{MAX_SECONDS_ENV}={raw!r} must be a number of seconds above 0 and at most "
                        f"{MAX_SONG_SECONDS:g}")
    return value


# --- model --------------------------------------------------------------------------------------

def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise LM2DError("device 'cuda' was asked for but torch sees no CUDA GPU (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise LM2DError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


def load_model(checkpoint: str | os.PathLike | None = None, device: str = "auto") -> LoadedModel:
    """A checkpoint (directory or file of the pair), or the shipped default model when None."""
    path = default_checkpoint_path() if checkpoint is None else Path(checkpoint)
    if checkpoint is None and not all(file.is_file() for file in checkpoint_files(path)):
        raise LM2DError(f"no default model is installed: {path} holds no model.json + model.safetensors; "
                        "give a checkpoint (--checkpoint DIR, or the add-on's Model setting)")
    return load_checkpoint(path, resolve_device(device))


def checkpoint_inputs(checkpoint: str | os.PathLike | None) -> tuple[Path, Path]:
    """The checkpoint's two files, which no output may overwrite."""
    return checkpoint_files(default_checkpoint_path() if checkpoint is None else checkpoint)


def model_name(checkpoint: str | os.PathLike | None) -> str:
    path = default_checkpoint_path() if checkpoint is None else Path(checkpoint)
    return path.stem if path.suffix in (".safetensors", ".json") else path.name


# --- resources shared across generations ---------------------------------------------------------

class Resources:
    """What a long-lived process keeps between generations: the lyric text encoder (its line
    encodings are cached in memory and on disk by lm2d.lyrics.TextEncoder itself) and the last
    song's encoded conditions (EncodingMemo: the repeat layer's second pass reuses them).
    Thread-safe, so a background warm-up and the first request share one load."""

    def __init__(self):
        self._encoder = None
        self._encoder_source: Resources | None = None
        self._lock = threading.Lock()
        self.encodings = EncodingMemo()

    def text_encoder(self):
        if self._encoder_source is not None:
            return self._encoder_source.text_encoder()
        with self._lock:
            if self._encoder is None:
                from lm2d.lyrics import TextEncoder

                self._encoder = TextEncoder()
            return self._encoder

    def sharing_encoder(self) -> "Resources":
        """Resources with this one's encoder (loaded once for both) but an encoding memo of their
        own: for a job that runs beside this one's (the server's rehearsal)."""
        other = Resources()
        other._encoder_source = self
        return other


# --- the generation path -------------------------------------------------------------------------

def generate_dance(loaded: LoadedModel, audio: str | os.PathLike | Song,
                   lyrics: str | os.PathLike | Sequence | None = None, *, seed: int = 0,
                   steps: int | None = None, music_guidance: float | None = None,
                   lyrics_guidance: float | None = None, start_seconds: float = 0.0,
                   end_seconds: float | None = None, edit=None, beat_accent: float | None = None, foot_lock: bool = True,
                   on_progress: ProgressCallback | None = None, should_stop: StopCallback | None = None,
                   resources: Resources | None = None, max_seconds: float | None = None,
                   cache: bool = True) -> tuple[Motion, list[LyricLine]]:
    """The dance for a song: (Motion at 30 FPS, lyric lines (start, end, text) on its time axis).

    audio: the song's file, or the lm2d.song.Song already opened (and checked) for it; max_seconds
    and cache apply when a file is given. lyrics: a lyrics file, a list of segments (objects or dicts with start, end, text, in song
    seconds), or None. steps/guidance None: the checkpoint's defaults (lm2d.sampling.SamplingSettings).
    edit: an EditSpec (lm2d.server.protocol): keep part of an existing
    result of this song and regenerate the rest; it covers that motion's frames (plus
    continue_frames new ones) from start_seconds, so end_seconds does not apply. beat_accent: 0..1
    (lm2d.motion.retime; None: its DEFAULT_STRENGTH, 0: the network's timing as it is); an edit
    retimes only the frames it regenerates. foot_lock: pin planted feet (lm2d.motion.footlock), on the
    regenerated frames only for an edit.
    on_progress(stage, fraction); should_stop() -> True cancels (LM2DError code "cancelled")."""
    def report(stage: str, fraction: float) -> None:
        if on_progress is not None:
            on_progress(stage, fraction)
        stop_if_asked(should_stop)

    resources = resources or Resources()
    max_seconds = max_audio_seconds() if max_seconds is None else max_seconds

    settings = SamplingSettings.for_model(loaded, steps, music_guidance, lyrics_guidance, seed)
    beat_accent = retime.DEFAULT_STRENGTH if beat_accent is None else retime.check_strength(beat_accent)
    source = None if edit is None else read_edit_motion(edit)
    kept = None if edit is None else kept_for(edit, source)
    # Cheap checks first: a bad song or lyrics file fails before seconds of feature extraction.
    song = audio if isinstance(audio, Song) else Song(audio, max_seconds, cache)
    audio_path = song.path
    song_lyrics = read_lyrics(lyrics, song) if lyrics is not None else None
    # The lyrics are encoded (the encoder loaded, on a first song) in a thread while the features
    # are computed: neither needs the other, and each leaves a core to spare for the other.
    encoding = pool = None
    if song_lyrics is not None and loaded.config.lyrics:
        pool = ThreadPoolExecutor(1, thread_name_prefix="lm2d-lyrics")
        encoding = pool.submit(encode_lyrics, song_lyrics, loaded, resources)
    try:
        report("features", 0.0)
        music = song.features
        first, count = frame_range(music.n_frames, start_seconds, end_seconds, audio_path)
        if source is not None:
            count = edit_length(edit, source.n_frames)
            if first + count > music.n_frames:
                raise LM2DError(f"the edited motion needs {count} frames of music from {first / FPS:g} s, but the "
                                f"song ends {(music.n_frames - first) / FPS:.2f} s after that", path=audio_path)
        report("features", 1.0)

        tokens = None
        if song_lyrics is not None:
            report("lyrics", 0.0)
            if encoding is not None:
                tokens = crop_tokens(encoding.result(), first, count)
            else:
                warn("this model was trained without lyrics: they are kept in the result but do not "
                     "steer the dance")
            report("lyrics", 1.0)
    finally:
        if pool is not None:   # a failed or cancelled request does not wait for the encoder
            pool.shutdown(wait=False, cancel_futures=True)

    report("sampling", 0.0)
    motion = sample(loaded, music.features[first:first + count], tokens, kept, settings,
                    lambda fraction: report("sampling", fraction), should_stop, MAX_BATCH, resources.encodings)
    beats = np.flatnonzero(music.features[first:first + count, BEAT_COLUMN] > 0.5)
    hold = None if edit is None else frames_to_hold(edit, source.n_frames)
    motion = retime.accent_beats(motion, beats, beat_accent, hold)
    if foot_lock:
        motion = lock_feet(motion, hold)
    if not (np.isfinite(motion.root_translation).all() and np.isfinite(motion.local_rotmats).all()):
        raise LM2DError("the model produced NaN or infinite values for this song: the checkpoint or its "
                        "settings are broken (guidance, steps); nothing was written")
    lines = [] if song_lyrics is None else lyric_lines_in(song_lyrics, first / FPS, motion.duration)
    return motion, lines


def frame_range(n_frames: int, start_seconds: float, end_seconds: float | None,
                audio_path: str | os.PathLike) -> tuple[int, int]:
    """(first frame, frame count) of the requested part of a song of n_frames frames."""
    duration = n_frames / FPS
    check_number(start_seconds, "start", 0, MAX_SONG_SECONDS, path=audio_path)
    if end_seconds is not None:
        check_number(end_seconds, "end", 0, MAX_SONG_SECONDS, path=audio_path)
    if start_seconds < 0 or (end_seconds is not None and end_seconds <= start_seconds):
        raise LM2DError(f"need 0 <= start < end, got start {start_seconds:g} s, end {end_seconds} s",
                        path=audio_path)
    first = int(round(start_seconds * FPS))
    if first >= n_frames:
        raise LM2DError(f"start {start_seconds:g} s is past the end of the song ({duration:.2f} s)", path=audio_path)
    end = n_frames if end_seconds is None else min(n_frames, int(round(end_seconds * FPS)))
    if end_seconds is not None and end_seconds > duration + 1.0 / FPS:
        warn(f"end {end_seconds:g} s is past the end of the song; generating to its end ({duration:.2f} s)",
             path=audio_path)
    if end - first < MIN_RESULT_FRAMES:
        raise LM2DError(f"{start_seconds:g} s to {min(end_seconds or duration, duration):g} s is less than "
                        f"{MIN_RESULT_FRAMES} frames ({MIN_RESULT_FRAMES / FPS:.3f} s): nothing to dance",
                        path=audio_path)
    return first, end - first


# --- lyrics --------------------------------------------------------------------------------------

def read_lyrics(lyrics, song: Song):
    """Parse a lyrics file, or check segments given directly, into lm2d.lyrics.Lyrics (which is
    taken as it is: lm2d.structure.repeat parses once and passes the result on)."""
    from lm2d.lyrics import Lyrics, Segment, load_lyrics
    from lm2d.lyrics.parse import check_segments

    if isinstance(lyrics, Lyrics):
        return lyrics
    if isinstance(lyrics, (str, os.PathLike)):
        return load_lyrics(lyrics, song)
    segments = [Segment(float(_field(item, "start")), float(_field(item, "end")), str(_field(item, "text")),
                        line=index + 1) for index, item in enumerate(lyrics)]
    check_segments(segments, "lyric segments", song.duration)
    return Lyrics(segments, source="segments")


def _field(item, name: str):
    return item[name] if isinstance(item, dict) else getattr(item, name)


def encode_lyrics(song_lyrics, loaded: LoadedModel, resources: Resources):
    """Token embeddings on the song's frame axis, from the encoder the checkpoint was trained with."""
    from lm2d.lyrics import encode_song_lyrics

    encoder = resources.text_encoder()
    if encoder.dim != loaded.config.text_dim:
        trained_with = loaded.meta.get("text_encoder", {}).get("name", "another encoder")
        raise LM2DError(f"the model expects {loaded.config.text_dim}-dim lyric embeddings ({trained_with}) "
                        f"but the text encoder {encoder.name} gives {encoder.dim}")
    return encode_song_lyrics(song_lyrics, encoder)


def crop_tokens(tokens, first: int, count: int):
    """The song's tokens that fall in frames [first, first + count), re-timed to start at 0."""
    keep = (tokens.frames >= first) & (tokens.frames < first + count)
    return replace(tokens, embeddings=tokens.embeddings[keep], frames=tokens.frames[keep] - first,
                   line_index=tokens.line_index[keep], line_start_frames=tokens.line_start_frames - first,
                   line_end_frames=tokens.line_end_frames - first)


def lyric_lines_in(song_lyrics, offset: float, duration: float) -> list[LyricLine]:
    """Lines overlapping [offset, offset + duration) on the result's time axis, clipped to it."""
    lines = []
    for segment in song_lyrics.segments:
        start, end = segment.start - offset, segment.end - offset
        if end > 0 and start < duration:
            lines.append((max(start, 0.0), min(end, duration), segment.text))
    return lines


# --- editing -------------------------------------------------------------------------------------

def edit_length(edit, motion_frames: int) -> int:
    return motion_frames + edit.continue_frames


def kept_frames(edit, motion_frames: int) -> np.ndarray:
    """(edit_length,) bool: the frames an edit keeps whole, around a regenerated range and before a
    continuation. An edit that only keeps joints keeps no whole frame: it regenerates every
    frame's other joints."""
    frame_edit = edit.regenerate is not None or edit.continue_frames > 0
    kept = (np.arange(edit_length(edit, motion_frames)) < motion_frames) & frame_edit
    if edit.regenerate is not None:
        first, end = edit.regenerate
        if end > motion_frames:
            raise LM2DError(f"regenerate range {first}..{end} runs past the motion's {motion_frames} frames",
                            path=edit.motion)
        kept[first:end] = False
    return kept


def frames_to_hold(edit, motion_frames: int) -> np.ndarray:
    """The frames of an edit's result that beat accent and foot lock must not change: its kept frames, or every
    frame when it keeps joints, since those are kept on all of them."""
    if edit.keep_joints:
        return np.ones(edit_length(edit, motion_frames), bool)
    return kept_frames(edit, motion_frames)


def kept_for(edit, motion: Motion) -> Kept:
    """What `edit` keeps of `motion` (lm2d.sampling.Kept, which checks it)."""
    kept_joints = np.zeros(len(JOINT_NAMES), bool)
    if edit.keep_joints:
        if edit.continue_frames:
            raise LM2DError("keep_joints cannot be combined with continue_frames: the new frames have "
                            "no joints to keep", path=edit.motion)
        kept_joints[joint_indices(expand_joint_groups(edit.keep_joints))] = True
    # The root path goes with the pelvis: keeping one without the other makes the body slide.
    return Kept(motion, kept_frames(edit, motion.n_frames), kept_joints, translation=bool(kept_joints[0]),
                source=edit.motion)


def expand_joint_groups(names: Sequence[str]) -> list[str]:
    """SMPL joint names, with the groups "lower_body" (lm2d.sampling.LOWER_BODY) and "root" (the
    pelvis, which brings the root path with it) expanded."""
    groups = {"lower_body": LOWER_BODY, "root": ("pelvis",)}
    return list(dict.fromkeys(joint for name in names for joint in groups.get(name, (name,))))


def read_edit_motion(edit) -> Motion:
    from lm2d.motion.io import load_result_npz

    return load_result_npz(edit.motion)[0]


# --- writing -------------------------------------------------------------------------------------

def check_output_path(path: str | os.PathLike, suffixes: Sequence[str] = RESULT_SUFFIXES,
                      inputs: Sequence[str | os.PathLike | None] = ()) -> Path:
    """Fail before any work when the result could not be written (lm2d.safe_write.check_output):
    wrong suffix, a directory in the way, no permission, or the same file as one of `inputs`."""
    return check_output(path, inputs=inputs, suffixes=suffixes, what="result")


def write_result(motion: Motion, path: str | os.PathLike, lyric_lines: Sequence[LyricLine] = (),
                 sections: Sequence = ()) -> Path:
    """Write .npz (the add-on's result file, with the lyric track and the song's sections,
    lm2d.structure) or .bvh, atomically."""
    path = Path(path)
    if path.suffix.lower() == ".bvh":
        from lm2d.motion.bvh import write_bvh

        write_bvh(motion, path)
    else:
        save_result_npz(motion, path, lyric_lines=list(lyric_lines) or None, sections=list(sections) or None)
    return path
