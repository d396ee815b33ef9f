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
        self._cancelled_ids: set = set()
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
                self._cancel(request.body)
            elif request.type == "shutdown":
                break
            else:
                self.jobs.put(request)
        # shutdown, or stdin closed (the client is gone): stop the running job, drop the queue.
        self.stopping.set()
        self._cancel(None)
        self.jobs.put(None)
        worker.join()
        self.send("bye")

    def _cancel(self, target) -> None:
        """Cancel the running job (target None or its id) and drop queued ones with that id."""
        with self._lock:
            running = self.current
            if running is not None and (target is None or target == running.id):
                self.cancel_event.set()
            if target is not None and (running is None or running.id != target):
                self._cancelled_ids.add(target)

    # -- worker thread ---------------------------------------------------------------------
    def _work(self) -> None:
        while (request := self.jobs.get()) is not None:
            with self._lock:
                if self.stopping.is_set() or (request.id is not None and request.id in self._cancelled_ids):
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
        except Exception as err:  # a bug must not kill the server
            self._internal_error(request.id, err)

    def _internal_error(self, request_id, err: Exception) -> None:
        traceback.print_exc(file=sys.stderr)
        self.send("error", request_id, code="internal",
                  message=f"internal error: {type(err).__name__}: {err}".splitlines()[0])


class Handlers:
    """What each request does; the model stays loaded between requests."""

    def __init__(self):
        from lm2d.server.engine import Engine  # torch loads here, after the protocol is up

        self.engine = Engine()

    def describe(self) -> dict:
        return self.engine.describe() | {"protocol": PROTOCOL_VERSION}

    def handle(self, request: Request, progress: Callable[[str, float], None],
               should_stop: Callable[[], bool]) -> tuple[str, dict]:
        started = time.perf_counter()
        if request.type == "load":
            payload = self.engine.load(request.body.checkpoint, request.body.device)
            return "loaded", payload | {"seconds": round(time.perf_counter() - started, 3)}
        if request.type == "lyrics":
            return "lyrics", {"segments": self.engine.parse_lyrics(request.body.path, request.body.audio)}
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
    try:
        handlers = Handlers()
    except Exception as err:
        send("error", None, code="startup", message=f"the server could not start: {err}")
        return 1
    # Undecodable bytes become U+FFFD and then a "not valid JSON" error, never a crash.
    requests = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    Server(send, handlers).serve(requests)
    return 0
