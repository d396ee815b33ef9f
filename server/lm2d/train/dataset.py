"""Training data: clips of (audio, motion, optional lyrics) cut into fixed-length windows.

Two directory layouts are read (docs/DATASET.md):
  lm2d:    DIR/<split>/<clip_id>/audio.<wav|ogg|flac|mp3>, motion.<pkl|npz>, optional lyrics.<any>
  AIST++:  DIR/motions/<name>.pkl, DIR/wavs/<music_id>.wav, DIR/splits/crossmodal_<split>.txt
           (optional ignore_list.txt in DIR or DIR/splits); no lyrics.

Each clip is turned once into aligned arrays (music features, motion vectors with foot contacts,
lyric token encodings) cached as .npz under lm2d.cache.cache_dir("clips"), keyed by the files'
content, so a moved or re-listed dataset reuses the work and an edited file is redone.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lm2d.cache import cache_dir, cache_key, file_digest
from lm2d.errors import LM2DError, warn
from lm2d.features import FEATURES_VERSION, FPS, extract_features
from lm2d.lyrics import SongLyricTokens, TextEncoder, encode_song_lyrics, load_lyrics, window_tokens
from lm2d.model.config import ModelConfig
from lm2d.model.normalizer import Normalizer
from lm2d.motion.io import load_motion
from lm2d.motion.kinematics import CONTACT_SPEED
from lm2d.safe_write import write_npz
from lm2d.song import Song

AUDIO_SUFFIXES = (".wav", ".ogg", ".flac", ".mp3")
MOTION_SUFFIXES = (".pkl", ".npz")
AIST_SPLIT_FILES = {"train": "crossmodal_train.txt", "val": "crossmodal_val.txt", "test": "crossmodal_test.txt"}
CLIP_CACHE_VERSION = 1
MAX_LENGTH_MISMATCH = FPS   # frames (1 s) between audio and motion before warning
CLIPPED_WARNING = 0.01      # fraction of a split's frames a given normaliser may clip before warning


@dataclass(frozen=True)
class ClipFiles:
    clip_id: str
    audio: Path
    motion: Path
    lyrics: Path | None = None


@dataclass
class Clip:
    clip_id: str
    x: np.ndarray                       # (T, 151) float32, unnormalised: [4 foot contacts, 147 motion]
    music: np.ndarray                   # (T, 35) float32
    lyrics: SongLyricTokens | None      # None: no lyrics file, or a music-only model

    @property
    def n_frames(self) -> int:
        return int(self.x.shape[0])


# --- finding clips ------------------------------------------------------------------------

def find_clips(root: str | os.PathLike, split: str) -> list[ClipFiles]:
    """The clips of one split, in a stable (sorted or split-file) order."""
    root = Path(root)
    if not root.is_dir():
        raise LM2DError("dataset directory not found", path=root)
    if (root / "motions").is_dir() and (root / "wavs").is_dir():
        clips = _aist_clips(root, split)
    else:
        clips = _split_folder_clips(root, split)
    if not clips:
        raise LM2DError(f"the {split!r} split has no clips", path=root)
    return clips


def _split_folder_clips(root: Path, split: str) -> list[ClipFiles]:
    split_dir = root / split
    if not split_dir.is_dir():
        raise LM2DError(f"no {split!r} split: expected {split}/<clip_id>/ folders with audio.* and motion.* "
                        f"(or an AIST++ layout with motions/ and wavs/), see docs/DATASET.md", path=root)
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [ClipFiles(folder.name, _named_file(folder, "audio", AUDIO_SUFFIXES),
                      _named_file(folder, "motion", MOTION_SUFFIXES),
                      _named_file(folder, "lyrics", None, required=False)) for folder in folders]


def _named_file(folder: Path, stem: str, suffixes: tuple[str, ...] | None, required: bool = True) -> Path | None:
    """The one file in `folder` called stem.<suffix> (any suffix when `suffixes` is None)."""
    matches = sorted(p for p in folder.iterdir() if p.is_file() and p.stem == stem
                     and (suffixes is None or p.suffix.lower() in suffixes))
    if len(matches) > 1:
        raise LM2DError(f"more than one {stem} file: {', '.join(p.name for p in matches)}", path=folder)
    if not matches and required:
        raise LM2DError(f"no {stem} file ({stem}{'|'.join(suffixes or ('.*',))})", path=folder)
    return matches[0] if matches else None


def _aist_clips(root: Path, split: str) -> list[ClipFiles]:
    split_file = root / "splits" / AIST_SPLIT_FILES.get(split, f"crossmodal_{split}.txt")
    if not split_file.is_file():
        raise LM2DError(f"AIST++ layout without a {split!r} split file", path=split_file)
    ignored = set()
    for ignore_list in (root / "ignore_list.txt", root / "splits" / "ignore_list.txt"):
        if ignore_list.is_file():
            ignored |= set(ignore_list.read_text().split())
    clips = []
    for line_number, line in enumerate(split_file.read_text().splitlines(), start=1):
        name = line.strip()
        if not name or name in ignored:
            continue
        motion = root / "motions" / f"{name}.pkl"
        audio = root / "wavs" / f"{_aist_music_id(name, split_file, line_number)}.wav"
        for needed in (motion, audio):
            if not needed.is_file():
                raise LM2DError(f"{needed} is missing for {name!r}", path=split_file, line=line_number)
        clips.append(ClipFiles(name, audio, motion))
    return clips


def _aist_music_id(name: str, split_file: Path, line_number: int) -> str:
    """gBR_sBM_cAll_d04_mBR0_ch01 -> mBR0 (the fifth field names the music)."""
    parts = name.split("_")
    if len(parts) < 5 or not parts[4].startswith("m"):
        raise LM2DError(f"{name!r} is not an AIST++ sequence name like gBR_sBM_cAll_d04_mBR0_ch01",
                        path=split_file, line=line_number)
    return parts[4]


# --- preparing clips ----------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """Content digest, computed once per file version (AIST++ shares one song among many motions)."""
    return file_digest(path)


def digest_of(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _music_features(path: str, size: int, mtime_ns: int) -> np.ndarray:
    return extract_features(path).features.astype(np.float32)


def motion_and_music(files: ClipFiles) -> tuple[np.ndarray, np.ndarray]:
    """(T, 151) contacts + motion vectors and (T, 35) features, cropped to the shorter of the two."""
    stat = files.audio.stat()
    music = _music_features(str(files.audio), stat.st_size, stat.st_mtime_ns)
    motion = load_motion(files.motion)
    x = np.concatenate([motion.foot_contacts().astype(np.float32), motion.to_vector()], axis=1)
    if abs(len(x) - len(music)) > MAX_LENGTH_MISMATCH:
        warn(f"motion has {len(x)} frames but the audio {len(music)} "
             f"({abs(len(x) - len(music)) / FPS:.1f} s apart); using the first {min(len(x), len(music))}",
             path=files.motion)
    length = min(len(x), len(music))
    return x[:length], music[:length]


def clip_cache_entry(files: ClipFiles) -> Path:
    """Where a clip's (x, music) arrays are cached: named by the audio and motion content."""
    key = cache_key("clip", CLIP_CACHE_VERSION, FEATURES_VERSION, CONTACT_SPEED,
                    digest_of(files.audio), digest_of(files.motion))
    return cache_dir("clips") / f"{key}.npz"


def lyrics_cache_entry(files: ClipFiles, encoder: TextEncoder) -> Path:
    key = cache_key("lyrics", CLIP_CACHE_VERSION, encoder.identity, digest_of(files.lyrics), digest_of(files.audio))
    return cache_dir("clips") / f"{key}.lyrics.npz"


def load_clip(files: ClipFiles, encoder: TextEncoder | None, cache: bool = True) -> Clip:
    """A clip's aligned arrays; `encoder` None skips lyrics (a music-only model)."""
    arrays = _read_npz(clip_cache_entry(files)) if cache else None
    if arrays is None:
        x, music = motion_and_music(files)
        if cache:
            _cache(clip_cache_entry(files), lambda path: write_npz(path, {"x": x, "music": music}))
    else:
        x, music = arrays["x"], arrays["music"]
    lyrics = None
    if encoder is not None and files.lyrics is not None:
        lyrics = _song_tokens(files, encoder, cache)
    return Clip(files.clip_id, x, music, lyrics)


def _song_tokens(files: ClipFiles, encoder: TextEncoder, cache: bool) -> SongLyricTokens:
    entry = lyrics_cache_entry(files, encoder) if cache else None
    if entry is not None and entry.is_file():
        return SongLyricTokens.load(entry)
    tokens = encode_song_lyrics(load_lyrics(files.lyrics, Song(files.audio)), encoder)
    if entry is not None:
        _cache(entry, tokens.save)
    return tokens


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError):   # a truncated entry is recomputed
        return None


def _cache(path: Path, write) -> None:
    """write(path), which writes atomically (concurrent readers never see half a file); a cache
    that cannot be written only warns."""
    try:
        write(path)
    except LM2DError as err:
        warn(f"could not cache: {err.message}", path=path)


# --- the dataset --------------------------------------------------------------------------

class DanceDataset(torch.utils.data.Dataset):
    """Windows of config.n_frames frames every `stride` frames over the clips of one split.

    Items (numpy, float32 unless noted): x (n_frames, 151) normalised; music (n_frames, 35);
    lyric_emb (K, text_dim), lyric_frames (K,), lyric_mask (K,) bool, K = config.max_lyric_tokens
    (K = 0 for a music-only model; all-False mask for a clip without lyrics: the null condition).
    With `gesture_events` (clip id -> lm2d.corpus.GestureEvent list), items also hold gesture_frames
    (n_frames,) bool: the frames inside a lyric gesture's window.
    `normalizer` None fits one on this split (do that on the train split and pass it to others).
    widen_normalizer: the given one is widened to cover this split (fine-tuning a checkpoint on new
    data: its range must not clip the new dances). A given normaliser that would still clip more than
    CLIPPED_WARNING of the frames is warned about.
    """

    def __init__(self, root: str | os.PathLike, split: str, config: ModelConfig, stride: int = 15,
                 encoder: TextEncoder | None = None, normalizer: Normalizer | None = None, cache: bool = True,
                 widen_normalizer: bool = False, gesture_events: dict[str, list] | None = None):
        if stride < 1:
            raise LM2DError(f"window stride must be at least 1 frame, got {stride}")
        self.config, self.stride = config, stride
        if config.lyrics and encoder is None:
            encoder = TextEncoder()
        if config.lyrics and encoder.dim != config.text_dim:
            raise LM2DError(f"the text encoder gives {encoder.dim}-dim embeddings but the model "
                            f"expects text_dim {config.text_dim}")
        clips = [load_clip(files, encoder if config.lyrics else None, cache) for files in find_clips(root, split)]
        self.clips = [clip for clip in clips if self._long_enough(clip, root)]
        if not self.clips:
            raise LM2DError(f"no clip in the {split!r} split is {config.n_frames} frames long", path=root)
        if normalizer is None:
            normalizer = fit_normalizer(self.clips)
        elif widen_normalizer:
            normalizer = normalizer.covering(fit_normalizer(self.clips))
        self.normalizer = normalizer
        if self.normalizer.channels != config.channels:
            raise LM2DError(f"normalizer has {self.normalizer.channels} channels, the model {config.channels}")
        clipped = np.average([normalizer.outside_fraction(clip.x) for clip in self.clips],
                             weights=[clip.n_frames for clip in self.clips])
        if clipped > CLIPPED_WARNING:
            warn(f"{100 * clipped:.0f}% of the {split!r} split's frames lie outside the normaliser's range "
                 f"and are clipped: the model cannot learn or make those poses (fine-tune with lm2d train "
                 f"--init, which widens the range)", path=root)
        self._normalized = [self.normalizer.normalize(clip.x).astype(np.float32) for clip in self.clips]
        self._gesture_frames = None if gesture_events is None else [
            event_frames(gesture_events.get(clip.clip_id, []), clip.n_frames) for clip in self.clips]
        self.windows = [(index, start) for index, clip in enumerate(self.clips)
                        for start in range(0, clip.n_frames - config.n_frames + 1, stride)]

    def _long_enough(self, clip: Clip, root) -> bool:
        if clip.n_frames >= self.config.n_frames:
            return True
        warn(f"clip {clip.clip_id!r} has {clip.n_frames} frames, fewer than one window "
             f"({self.config.n_frames}); skipped", path=root)
        return False

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        clip_index, start = self.windows[index]
        clip, frames = self.clips[clip_index], slice(start, start + self.config.n_frames)
        emb, token_frames, mask = self._lyric_window(clip, start)
        item = {"x": self._normalized[clip_index][frames], "music": clip.music[frames],
                "lyric_emb": emb, "lyric_frames": token_frames, "lyric_mask": mask}
        if self._gesture_frames is not None:
            item["gesture_frames"] = self._gesture_frames[clip_index][frames]
        return item

    def _lyric_window(self, clip: Clip, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        config = self.config
        if config.lyrics and clip.lyrics is not None:
            emb, frames, mask = window_tokens(clip.lyrics, start, config.n_frames, config.max_lyric_tokens)
            return emb.astype(np.float32), frames.astype(np.float32), mask.astype(bool)
        k = config.max_lyric_tokens if config.lyrics else 0
        return (np.zeros((k, config.text_dim), np.float32), np.zeros(k, np.float32), np.zeros(k, bool))


def event_frames(events, n_frames: int) -> np.ndarray:
    """(n_frames,) bool: the frames inside any event's [start, end) window (seconds, at FPS)."""
    inside = np.zeros(n_frames, bool)
    for event in events:
        inside[max(0, round(event.start * FPS)):max(0, round(event.end * FPS))] = True
    return inside


def fit_normalizer(clips: list[Clip]) -> Normalizer:
    """Min/max over every frame of every clip (from per-clip extremes: no giant concatenation)."""
    return Normalizer.fit(np.stack([clip.x.min(0) for clip in clips] + [clip.x.max(0) for clip in clips]))
