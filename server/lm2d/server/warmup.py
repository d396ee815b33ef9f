"""Warm-up that the user never waits for: what a server's first song would otherwise pay for
(librosa's compiled paths, the lyric encoder, the first pass of every later stage) is prepared in
a background thread as soon as the server has said hello, while the user is still choosing files.

Each task is an idempotent, thread-safe getter of one resource (features.warm_up, Resources.
text_encoder): a request that arrives mid-warm-up calls the same getter and so waits only for the
resource it needs - the encoder's own lock, Python's import lock and numba's compile lock make it
wait for a load in progress instead of doing it twice - and never behind a task it does not need
(a song without lyrics never waits for the encoder). The model is loaded by the client's `load`
request, which the server runs beside this thread. The last task, a rehearsal (Engine.rehearse:
one whole dance to a synthetic song once the model is loaded), gives way to any request: it
stops at its next check and is reported "skipped" (the request warms what it uses itself).
States go out in `hello` (docs/PROTOCOL.md).
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lm2d.errors import Cancelled

PENDING, RUNNING, READY, FAILED, SKIPPED = "pending", "running", "ready", "failed", "skipped"

REHEARSAL_SECONDS = 180        # a typical song: the allocator and the caches see full-size arrays
REHEARSAL_RATE = 44100         # what songs usually are, so the resampler is warmed too


class Warmup:
    def __init__(self, tasks: Sequence[tuple[str, Callable[[], object]]]):
        self._tasks = list(tasks)
        self._states = {name: PENDING for name, _ in self._tasks}
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="lm2d-warm-up", daemon=True).start()

    def _run(self) -> None:
        for name, task in self._tasks:
            self._set(name, RUNNING)
            started = time.perf_counter()
            try:
                task()
            except Cancelled:   # gave way to a request
                self._set(name, SKIPPED)
            except Exception:  # a failed warm-up only costs time: the request that needs it says what is wrong
                traceback.print_exc(file=sys.stderr)
                self._set(name, FAILED)
            else:
                self._set(name, READY, time.perf_counter() - started)
        self._done.set()

    def _set(self, name: str, state: str, seconds: float | None = None) -> None:
        with self._lock:
            self._states[name] = state
            if seconds is not None:
                self._seconds[name] = round(seconds, 3)

    def states(self) -> dict[str, str]:
        """name -> pending | running | ready | failed | skipped, in task order."""
        with self._lock:
            return dict(self._states)

    def seconds(self) -> dict[str, float]:
        """How long each finished task took (for the bench's timeline)."""
        with self._lock:
            return dict(self._seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every task has finished (or failed); True unless timed out."""
        return self._done.wait(timeout)


def write_rehearsal_song(folder: Path) -> tuple[Path, list[dict]]:
    """A synthetic song for the rehearsal and its lyric lines: a kick on every beat at 120 BPM
    under a four-chord loop, in an A A B A form with a line sung in each part, so every stage
    runs as on a real song (repeated sections included). (wav path, segments in song seconds)."""
    import soundfile as sf

    rate, beat, part = REHEARSAL_RATE, 0.5, 45.0

    def is_part_b(seconds):   # the third part of each A A B A
        return (seconds // part).astype(int) % 4 == 2

    time_axis = np.arange(REHEARSAL_SECONDS * rate) / rate
    chords = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9))
    bar = (time_axis // (4 * beat)).astype(int)
    part_b = is_part_b(time_axis)
    chord = np.asarray(chords)[(bar + 2 * part_b) % len(chords)]
    samples = 0.1 * np.sin(2 * np.pi * chord * time_axis[:, None]).sum(axis=1)
    since_beat = time_axis % beat
    samples += 0.6 * np.exp(-since_beat * 30.0) * np.sin(2 * np.pi * 60.0 * since_beat)
    path = folder / "rehearsal.wav"
    sf.write(path, samples.astype(np.float32), rate)
    starts = np.arange(0.0, REHEARSAL_SECONDS - 10, part)
    segments = [{"start": start + 4.0, "end": start + 8.0, "text": "B part, turn around" if b else "dance with me tonight"}
                for start, b in zip(starts, is_part_b(starts))]
    return path, segments
