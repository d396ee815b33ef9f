"""Client for the lm2d inference server (standard library only: runs inside Blender's Python).

The server is a subprocess speaking JSON lines on stdin/stdout (lm2d.server.protocol). A reader
thread turns its output into events on a queue that Blender's main thread drains with poll()
from a timer or modal operator, so the UI never blocks. A server that exits, breaks the pipe or
stops answering is reported as an error event for each request in flight, and started again on
the next request.
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import subprocess
import threading
import time

PROTOCOL_VERSION = 1  # must equal lm2d.server.protocol.PROTOCOL_VERSION (a test checks)
FINAL_EVENTS = frozenset({"result", "loaded", "lyrics", "error", "cancelled", "hello"})


class ServerError(RuntimeError):
    """The server answered with an error event, died, or did not answer in time."""

    def __init__(self, message: str, code: str = "server"):
        super().__init__(message)
        self.code = code


class ServerClient:
    def __init__(self, python: str, env: dict | None = None, cwd: str | None = None,
                 stderr_lines: int = 50):
        self.python = python
        self.env = env
        self.cwd = cwd
        self.events: queue.Queue[dict] = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._ids = itertools.count(1)
        self._pending: dict = {}  # request id -> the server process it was sent to
        self._pending_lock = threading.Lock()
        self._stderr_tail = collections.deque(maxlen=stderr_lines)
        self._write_lock = threading.Lock()

    # -- process ---------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the running server (for diagnostics), None when none runs."""
        return self._process.pid if self.alive else None

    def start(self) -> None:
        if self.alive:
            return
        if not self.python:
            raise ServerError("no Python for the dance server was found: press Install Server in the add-on "
                              "preferences, or set Python Interpreter there", code="no_interpreter")
        if not os.path.isfile(self.python):
            raise ServerError(f"{self.python}: the server's Python interpreter was not found; set it in the add-on "
                              "preferences, or clear it and press Install Server there", code="no_interpreter")
        env = dict(os.environ if self.env is None else self.env, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
        self._process = subprocess.Popen(
            [self.python, "-u", "-m", "lm2d.server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1, env=env, cwd=self.cwd)
        process = self._process
        stderr_reader = threading.Thread(target=self._read_stderr, args=(process,), daemon=True)
        stderr_reader.start()
        threading.Thread(target=self._read_events, args=(process, stderr_reader), daemon=True).start()

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the server to shut down (killing it after `timeout` s); returns its exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            if process.poll() is None:
                process.stdin.write(json.dumps({"type": "shutdown"}) + "\n")
                process.stdin.flush()
                process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
        return process.wait()

    def kill(self) -> None:
        """Kill the server outright (used when it stops answering)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _read_events(self, process: subprocess.Popen, stderr_reader: threading.Thread) -> None:
        for line in process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                self._stderr_tail.append(line.rstrip())
                continue
            if event.get("code") == "startup":  # the server could not start: say why when it exits
                self._stderr_tail.append(str(event.get("message", "")))
            with self._pending_lock:
                if event.get("type") in FINAL_EVENTS and isinstance(event.get("id"), (int, str)):
                    self._pending.pop(event["id"], None)
            self.events.put(event)
        code = process.wait()
        stderr_reader.join(timeout=2.0)   # its last lines say why the server stopped
        if any("No module named 'lm2d" in line for line in self._stderr_tail):
            message = (f"{self.python} has no lm2d: press Install Server in the add-on preferences, or set Python "
                       "Interpreter there to an environment with lm2d (Check lists what one has)")
        else:
            message = f"the server stopped (exit code {code})" + self._last_stderr()
        self._fail_pending(message, "server_died", process)

    def _read_stderr(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self._stderr_tail.append(line.rstrip())

    def _last_stderr(self) -> str:
        lines = [line for line in self._stderr_tail if line.strip()]
        return f": {lines[-1]}" if lines else ""

    def _fail_pending(self, message: str, code: str, process: subprocess.Popen | None) -> None:
        """An error event for each request still waiting on `process` (None: on any process).
        Requests already sent to a restarted server are not touched."""
        with self._pending_lock:
            failed = sorted((request_id for request_id, target in self._pending.items()
                             if process is None or target is process), key=str)
            for request_id in failed:
                del self._pending[request_id]
        for request_id in failed:
            self.events.put({"type": "error", "id": request_id, "code": code, "message": message})

    # -- requests --------------------------------------------------------------------------
    def send(self, request_type: str, **fields) -> int:
        """Send a request (starting or restarting the server if needed); returns its id."""
        request_id = next(self._ids)
        line = json.dumps({"type": request_type, "id": request_id, **fields}) + "\n"
        answered = request_type not in ("cancel", "shutdown")
        for attempt in (1, 2):
            self.start()
            process = self._process
            if answered:  # registered before writing: the answer may come back at once
                with self._pending_lock:
                    self._pending[request_id] = process
            try:
                with self._write_lock:
                    process.stdin.write(line)
                    process.stdin.flush()
                return request_id
            except (BrokenPipeError, OSError, ValueError):
                with self._pending_lock:
                    self._pending.pop(request_id, None)
                self.kill()  # a dead pipe: restart once and resend
        raise ServerError("could not send to the server" + self._last_stderr(), "server_died")

    def cancel(self, request_id: int | None = None) -> None:
        if self.alive:
            self.send("cancel", **({"target": request_id} if request_id is not None else {}))

    def poll(self) -> list[dict]:
        """All events received so far, without blocking (for Blender's main thread)."""
        events = []
        while True:
            try:
                events.append(self.events.get_nowait())
            except queue.Empty:
                return events

    def wait(self, request_id: int, timeout: float, on_event=None) -> dict:
        """Block until the final event of request_id; other events go to on_event.
        No event at all for `timeout` seconds means the server hangs: it is killed."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                # Fail first, then kill: the reader's "server stopped" would otherwise race this message.
                self._fail_pending(f"the server did not answer within {timeout:g} s", "timeout", None)
                self.kill()
                continue
            deadline = time.monotonic() + timeout  # any sign of life resets the clock
            if event.get("id") == request_id and event.get("type") in FINAL_EVENTS:
                return event
            if on_event is not None:
                on_event(event)

    def request(self, request_type: str, timeout: float = 120.0, on_event=None, **fields) -> dict:
        """Send and wait for the final event; raise ServerError for an error event."""
        event = self.wait(self.send(request_type, **fields), timeout, on_event)
        if event["type"] == "error":
            raise ServerError(event.get("message", "unknown error"), event.get("code", "server"))
        return event
