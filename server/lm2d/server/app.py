"""The server loop. The main thread reads requests; one worker thread runs them in order, so
'cancel' and 'hello' are answered while a long generation runs. Events go to the real stdout;
anything else that prints (libraries, warnings) goes to stderr so it cannot corrupt the protocol."""
from __future__ import annotations

import io
import os
import queue
import sys
import threading
import time
import traceback
import warnings
from typing import IO, Callable

from lm2d.errors import LM2DError, LM2DWarning, stop_if_asked
from lm2d.server.protocol import PROTOCOL_VERSION, BadRequest, Request, encode_event, parse_request


class EventWriter:
    """Thread-safe writer of protocol events (one JSON object per line)."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event_type: str, request_id=None, **payload) -> None:
        line = encode_event(event_type, request_id, **payload)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # the client is gone: nobody left to tell
                pass


class Server:
    def __init__(self, send: EventWriter, handlers: "Handlers"):
        self.send = send
        self.handlers = handlers
        self.jobs: queue.Queue[Request | None] = queue.Queue()
        self.current: Request | None = None
        self.cancel_event = threading.Event()
        self.stopping = threading.Event()
        self._cancelled_ids: set = set()     # queued requests to answer "cancelled" when their turn comes
        self._queued_ids: dict = {}           # id -> how many queued requests carry it
        self._lock = threading.Lock()

    # -- main thread -----------------------------------------------------------------------
    def serve(self, lines) -> None:
        worker = threading.Thread(target=self._work, name="lm2d-worker", daemon=True)
        worker.start()
        for line in lines:
            if not line.strip():
                continue
            try:
                request = parse_request(line)
            except BadRequest as err:
                self.send("error", err.request_id, code="bad_request", message=str(err))
                continue
            except Exception as err:  # a parser bug must not stop the server
                self._internal_error(None, err)
                continue
            if request.type == "hello":
                self.send("hello", request.id, **self.handlers.describe())
            elif request.type == "cancel":
                found = self._cancel(request.body)
                if request.id is not None:   # a cancel with an id gets its own final event
                    self._answer_cancel(request, found)
            elif request.type == "shutdown":
                break
            else:
                with self._lock:
                    if request.id is not None:
                        self._queued_ids[request.id] = self._queued_ids.get(request.id, 0) + 1
                self.jobs.put(request)
        # shutdown, or stdin closed (the client is gone): stop the running job, drop the queue.
        self.stopping.set()
        self._cancel(None)
        self.jobs.put(None)
        worker.join()
        self.send("bye")

    def _cancel(self, target) -> bool:
        """Cancel the running job (target None or its id) and queued ones with that id; returns
        whether anything matched. An id that is neither running nor queued is not remembered:
        a later request that happens to reuse it runs normally."""
        with self._lock:
            running = self.current
            found = False
            if running is not None and (target is None or target == running.id):
                self.cancel_event.set()
                found = True
            if target is not None and self._queued_ids.get(target):
                self._cancelled_ids.add(target)
                found = True
            return found

    def _answer_cancel(self, request: Request, found: bool) -> None:
        if found:
            self.send("cancelled", request.id)
        else:
            what = "no request is running" if request.body is None else f"no request {request.body!r} is running or queued"
            self.send("error", request.id, code="not_found", message=f"nothing to cancel: {what}")

    # -- worker thread ---------------------------------------------------------------------
    def _work(self) -> None:
        while (request := self.jobs.get()) is not None:
            with self._lock:
                if request.id is not None:
                    self._queued_ids[request.id] -= 1
                    if not self._queued_ids[request.id]:
                        del self._queued_ids[request.id]
                if self.stopping.is_set() or (request.id is not None and request.id in self._cancelled_ids):
                    if not self._queued_ids.get(request.id):
                        self._cancelled_ids.discard(request.id)
                    self.send("cancelled", request.id)
                    continue
                self.current = request
                self.cancel_event.clear()
            try:
                self._run(request)
            finally:
                with self._lock:
                    self.current = None

    def _run(self, request: Request) -> None:
        def progress(stage: str, fraction: float) -> None:
            stop_if_asked(self.cancel_event.is_set)
            self.send("progress", request.id, stage=stage, fraction=round(float(fraction), 4))

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", LM2DWarning)
                try:
                    event, payload = self.handlers.handle(request, progress, self.cancel_event.is_set)
                finally:  # warnings matter most when the job then fails
                    for warning in caught:
                        if issubclass(warning.category, LM2DWarning):
                            self.send("warning", request.id, message=str(warning.message))
            self.send(event, request.id, **payload)
        except LM2DError as err:
            if err.code == "cancelled":
                self.send("cancelled", request.id)
            else:
                self.send("error", request.id, code=err.code, message=str(err))
        except OSError as err:   # a file the request named (permission, full disk): the user's to fix
            where = f"{err.filename}: " if err.filename else ""
            self.send("error", request.id, code="io_error", message=f"{where}{err.strerror or err}")
        except Exception as err:  # a bug must not kill the server
            self._internal_error(request.id, err)

    def _internal_error(self, request_id, err: Exception) -> None:
        traceback.print_exc(file=sys.stderr)
        self.send("error", request_id, code="internal",
                  message=f"internal error: {type(err).__name__}: {err}".splitlines()[0])


class Handlers:
    """What each request does; the model stays loaded between requests."""

    def __init__(self, feature_process=None):
        from lm2d.server.engine import Engine  # torch loads here, after the protocol is up

        self.engine = Engine(feature_process=feature_process)

    def describe(self) -> dict:
        return self.engine.describe() | {"protocol": PROTOCOL_VERSION}

    def handle(self, request: Request, progress: Callable[[str, float], None],
               should_stop: Callable[[], bool]) -> tuple[str, dict]:
        with self.engine.serving():
            return self._handle(request, progress, should_stop)

    def _handle(self, request: Request, progress: Callable[[str, float], None],
                should_stop: Callable[[], bool]) -> tuple[str, dict]:
        started = time.perf_counter()
        if request.type == "load":
            payload = self.engine.load(request.body.checkpoint, request.body.device)
            return "loaded", payload | {"seconds": round(time.perf_counter() - started, 3)}
        if request.type == "lyrics":
            return "lyrics", {"segments": self.engine.parse_lyrics(request.body.path, request.body.audio)}
        if request.type == "prepare":
            payload = self.engine.prepare(request.body.audio)
            return "prepared", payload | {"seconds": round(time.perf_counter() - started, 3)}
        if request.type == "video2motion":
            from lm2d.video.convert import convert_video

            payload = convert_video(request.body.video, request.body.output, request.body.audio_output,
                                    request.body.field_of_view, progress)
            return "result", payload | {"seconds": round(time.perf_counter() - started, 3)}
        if request.type == "generate":
            payload = self.engine.generate(request.body, progress, should_stop)
            return "result", payload | {"seconds": round(time.perf_counter() - started, 3)}
        raise BadRequest(f"unknown request type '{request.type}'")


def main() -> int:
    # Keep the protocol on a private copy of stdout; everything else that writes to stdout
    # (print, or C code writing to file descriptor 1) lands on stderr.
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    send = EventWriter(protocol_out)
    from lm2d.feature_process import FeatureProcess

    with FeatureProcess() as features:   # first, so it warms up while this process imports torch
        try:
            handlers = Handlers(features)
        except Exception as err:
            send("error", None, code="startup", message=f"the server could not start: {err}")
            return 1
        # Undecodable bytes become U+FFFD and then a "not valid JSON" error, never a crash.
        requests = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        Server(send, handlers).serve(requests)
        return 0
