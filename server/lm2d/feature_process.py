"""Music features computed in a process of their own (the server, `lm2d generate`).

A fresh process has two slow start-ups ahead of its first song, both mostly Python and so held to
one core by the GIL when they share a process: librosa's (numba compiles about twenty ufuncs
when librosa.beat and librosa.util are imported, ~2.3 s) and the lyric encoder's (transformers,
~2 s). Here the features (decode, EDGE's features, the on-disk feature cache) run in a spawned
child that starts first and warms itself (lm2d.features.warm_up) while the parent imports torch
and loads the model and the encoder, on the other core; in a batch it also computes songs'
features beside the sampling without sharing its GIL. The child runs the same code
(lm2d.song.Song(...).local_features()) in the same environment, so the values are the same bit
for bit. (numpy's BLAS thread count, which OMP_NUM_THREADS sets when numpy starts, changes the
last bits of the features: the child inherits the parent's environment, and so its count.)
Should the child fail to start or die, the features are computed in the parent, as before.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor

from lm2d.errors import LM2DError, LM2DWarning, warn


class FeatureProcess:
    def __init__(self):
        self._lock = threading.Lock()
        try:
            self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up)
            self._warm = self._pool.submit(os.getpid)   # done once the child has warmed up
        except OSError as err:   # no process to spare (limits): the server computes features itself
            warn(f"features run in the server process: no feature process ({err})")
            self._pool = self._warm = None

    def wait_warm(self) -> int | None:
        """Block until the child has warmed up (the server's "features" warm-up task): its
        process id. A child that could not start warms the server process's own librosa
        instead (None)."""
        try:
            if self._warm is not None:
                return self._warm.result()
        except BrokenExecutor:
            self._drop_pool()
        from lm2d.features import warm_up

        warm_up()
        return None

    def features(self, song):
        """song's MusicFeatures (lm2d.song.Song's features_from), computed by the child."""
        with self._lock:
            pool = self._pool
        if pool is not None:
            try:
                outcome = pool.submit(_song_features, os.fspath(song.path), song.max_seconds, song.cache).result()
            except BrokenExecutor:   # the child died (killed, out of memory): carry on without it
                self._drop_pool()
            else:
                return _unpacked(outcome)
        return song.local_features()

    def close(self) -> None:
        self._drop_pool()

    def __enter__(self) -> "FeatureProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _drop_pool(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


# --- in the child --------------------------------------------------------------------------------

def _warm_up() -> None:
    from lm2d.features import warm_up

    _exit_with_parent()
    warm_up()


def _exit_with_parent() -> None:
    """End this child when the server ends, however it ends (a shutdown's os._exit, a kill): the
    executor's own shutdown message may never come."""
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)
    threading.Thread(target=watch, name="lm2d-watch-server", daemon=True).start()


def _song_features(path: str, max_seconds: float, cache: bool):
    """("ok", MusicFeatures, warnings) or ("error", LM2DError's fields, warnings): an LM2DError
    does not survive pickling with its path and code, so its fields travel instead."""
    from lm2d.song import Song

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LM2DWarning)
        try:
            outcome = ("ok", Song(path, max_seconds, cache).local_features())
        except LM2DError as err:
            outcome = ("error", (err.message, err.path, err.line, err.code))
    return outcome + ([str(w.message) for w in caught if issubclass(w.category, LM2DWarning)],)


def _unpacked(outcome):
    kind, value, messages = outcome
    for message in messages:
        warn(message)
    if kind == "error":
        message, path, line, code = value
        raise LM2DError(message, path=path, line=line, code=code)
    return value
