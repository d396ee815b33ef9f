"""What the server's requests do, with the model kept loaded between them.

One Engine lives as long as the server process. It loads a checkpoint once (a generate without a
prior load takes the shipped default model) and counts loads, so a client can check that
generating again did not reload. librosa's compiled paths and the lyric encoder are warmed in a
background thread from the start, then, once a model is loaded, a rehearsal dance runs every
later stage once (lm2d.server.warmup), so the first song is not seconds slower than the next.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

import lm2d
from lm2d.errors import LM2DError, stop_if_asked
from lm2d.features import FPS, warm_up
from lm2d.model.checkpoint import LoadedModel, checkpoint_files, default_checkpoint_path
from lm2d.motion.skeleton import JOINT_NAMES
from lm2d.pipeline import (Resources, check_output_path, checkpoint_inputs, load_model, max_audio_seconds,
                           model_name, resolve_device, write_result)
from lm2d.feature_process import FeatureProcess
from lm2d.server.protocol import GenerateRequest
from lm2d.server.warmup import PENDING, READY, RUNNING, Warmup, write_rehearsal_song
from lm2d.song import Song
from lm2d.structure.repeat import generate_with_repeats


@dataclass(frozen=True)
class _LoadKey:
    """What makes two loads the same: resolved files, their modification times, the device."""
    weights: str
    weights_mtime: int
    meta_mtime: int
    device: str


def _load_key(checkpoint: str | None, device: str) -> _LoadKey | None:
    weights, meta = checkpoint_files(default_checkpoint_path() if checkpoint is None else checkpoint)
    try:
        return _LoadKey(str(weights.resolve()), weights.stat().st_mtime_ns, meta.stat().st_mtime_ns, device)
    except OSError:
        return None  # missing files: load_model says what is wrong


class Engine:
    def __init__(self, warm: bool = True, feature_process: FeatureProcess | None = None):
        """feature_process: where songs' features are computed (lm2d.feature_process);
        None: in this process."""
        self.features = feature_process
        self.resources = Resources()
        self.loaded: LoadedModel | None = None
        self.model_name: str | None = None
        self.device: str | None = None
        self.loads = 0                      # checkpoints actually read from disk
        self._key: _LoadKey | None = None
        self._checkpoint: str | None = None     # what was loaded (None: the shipped default)
        self._loading = False
        self._load_finished = threading.Event()   # a load has been tried (the rehearsal waits for it)
        self._serving = threading.Event()          # a request is running (the rehearsal gives way)
        # In this process, features first: every song needs them, only songs with lyrics need the
        # encoder. A feature process warms itself from its start, so its task only waits for it:
        # the encoder loads meanwhile, and the rehearsal (the last) starts seconds sooner.
        features = ("features", warm_up if feature_process is None else feature_process.wait_warm)
        lyrics = ("lyrics", self.resources.text_encoder)
        first = [features, lyrics] if feature_process is None else [lyrics, features]
        self.warmup = Warmup(first + [("dance", self.rehearse)])
        if warm:
            self.warmup.start()

    def describe(self) -> dict:
        model_state = READY if self.loaded is not None else RUNNING if self._loading else PENDING
        return {"lm2d": lm2d.__version__, "torch": torch.__version__,
                "device": self.device or resolve_device("auto"), "model": self.model_name,
                "kind": None if self.loaded is None else self.loaded.kind, "loads": self.loads,
                "warmup": self.warmup.states() | {"model": model_state}}

    def load(self, checkpoint: str | None = None, device: str = "auto") -> dict:
        """Load a checkpoint (None: the shipped default) unless that very one is loaded already."""
        device = resolve_device(device)
        key = _load_key(checkpoint, device)
        if self.loaded is None or key is None or key != self._key:
            self._loading = True
            try:
                loaded = load_model(checkpoint, device)
            finally:
                self._loading = False
                self._load_finished.set()
            self.loaded, self._key, self.device, self._checkpoint = loaded, key, device, checkpoint
            self.model_name = model_name(checkpoint)
            self.loads += 1
        return {"model": self.model_name, "device": self.device, "kind": self.loaded.kind, "loads": self.loads}

    @contextlib.contextmanager
    def serving(self):
        """Around each request: the rehearsal stops while one runs."""
        self._serving.set()
        try:
            yield
        finally:
            self._serving.clear()

    def rehearse(self):
        """One whole dance to a synthetic song (lm2d.server.warmup.write_rehearsal_song) once the
        client's load has finished, in memory: what a first song pays for after the features
        (the first network calls on full-size batches, the section map's compiled code, the repeat
        layer, foot lock, the allocator's first big arrays) is paid here instead. Gives way to any
        request (Cancelled, at its next check). Returns the rehearsal's Motion."""
        self._load_finished.wait()
        stop_if_asked(self._serving.is_set)   # before a second of writing the song
        if self.loaded is None:
            raise LM2DError("no model was loaded")
        with tempfile.TemporaryDirectory(prefix="lm2d-rehearsal-") as folder:
            path, segments = write_rehearsal_song(Path(folder))
            motion, _, _ = generate_with_repeats(self.loaded, self.song(path, cache=False), segments,
                                                 resources=self.resources.sharing_encoder(),
                                                 should_stop=self._serving.is_set)
        return motion

    def generate(self, request: GenerateRequest, progress, should_stop) -> dict:
        """Generate and write request.output (.npz) atomically; the output path is checked first."""
        edited = None if request.edit is None else request.edit.motion
        output = check_output_path(request.output, inputs=[request.audio, request.lyrics, edited,
                                                           *checkpoint_inputs(self._checkpoint)])
        if self.loaded is None:
            self.load(None, "auto")
        motion, lyric_lines, sections = generate_with_repeats(
            self.loaded, self.song(request.audio), request.lyrics if request.lyrics is not None else request.segments,
            seed=request.seed, steps=request.steps, music_guidance=request.music_guidance,
            lyrics_guidance=request.lyrics_guidance, start_seconds=request.start_seconds,
            end_seconds=request.end_seconds, edit=request.edit, beat_accent=request.beat_accent,
            foot_lock=request.foot_lock, repeat_sections=request.repeat_sections, on_progress=progress,
            should_stop=should_stop, resources=self.resources)
        progress("writing", 0.0)
        write_result(motion, output, lyric_lines, sections)
        progress("writing", 1.0)
        return {"path": os.fspath(output), "frames": motion.n_frames, "fps": float(FPS),
                "joint_names": list(JOINT_NAMES)}

    def prepare(self, audio: str) -> dict:
        """A song's features into the cache, so its generate starts with sampling: the add-on
        asks for this when the user chooses a song, while they are still setting up."""
        return {"frames": self.song(audio).features.n_frames}

    def song(self, path: str, cache: bool = True) -> Song:
        """The song (checked here), its features from the feature process when there is one."""
        return Song(path, max_audio_seconds(), cache,
                    features_from=None if self.features is None else self.features.features)

    def parse_lyrics(self, path: str, audio: str | None = None) -> list[dict]:
        """Timed lyric lines as {start, end, text, words: [{start, end, text}]} (seconds)."""
        from lm2d.lyrics import load_lyrics, lyrics_to_json
        from lm2d.song import Song

        song = None if audio is None else Song(audio)
        return json.loads(lyrics_to_json(load_lyrics(path, song)))["segments"]
