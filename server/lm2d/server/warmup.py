"""Warm-up that the user never waits for: what a server's first song would otherwise pay for
(librosa's compiled paths, the lyric encoder) is prepared in a background thread as soon as the
server has said hello, while the user is still choosing files.

Each task is an idempotent, thread-safe getter of one resource (features.warm_up, Resources.
text_encoder): a request that arrives mid-warm-up calls the same getter and so waits only for the
resource it needs - the encoder's own lock, Python's import lock and numba's compile lock make it
wait for a load in progress instead of doing it twice - and never behind a task it does not need
(a song without lyrics never waits for the encoder). The model is loaded by the client's `load`
request, which the server runs beside this thread. States go out in `hello` (docs/PROTOCOL.md).
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence

PENDING, RUNNING, READY, FAILED = "pending", "running", "ready", "failed"


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
        """name -> pending | running | ready | failed, in task order."""
        with self._lock:
            return dict(self._states)

    def seconds(self) -> dict[str, float]:
        """How long each finished task took (for the bench's timeline)."""
        with self._lock:
            return dict(self._seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every task has finished (or failed); True unless timed out."""
        return self._done.wait(timeout)
