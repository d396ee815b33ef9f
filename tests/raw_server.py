"""A `python -m lm2d.server` subprocess driven line by line in JSON (no client library), for the
tests that check the protocol itself."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

FINAL = {"hello", "loaded", "result", "lyrics", "prepared", "cancelled", "error"}


class RawServer:
    """A server subprocess driven line by line (no client library: this tests the protocol)."""

    def __init__(self, env: dict):
        self.process = subprocess.Popen([sys.executable, "-m", "lm2d.server"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.events: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 0

    def _read(self) -> None:
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def write(self, line: str | bytes) -> None:
        self.process.stdin.write(line if isinstance(line, bytes) else line.encode("utf-8"))
        self.process.stdin.write(b"\n")
        self.process.stdin.flush()

    def send(self, request_type: str, **fields) -> int:
        self._next_id += 1
        self.write(json.dumps({"type": request_type, "id": self._next_id, **fields}))
        return self._next_id

    def next_event(self, timeout: float = 60.0) -> dict:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s (server alive: {self.process.poll() is None})")

    def final(self, request_id, timeout: float = 120.0) -> tuple[dict, list[dict]]:
        """The final event of request_id and the events for it that came before."""
        before = []
        while True:
            event = self.next_event(timeout)
            if event.get("id") == request_id and event["type"] in FINAL:
                return event, before
            before.append(event)

    def request(self, request_type: str, timeout: float = 120.0, **fields) -> tuple[dict, list[dict]]:
        return self.final(self.send(request_type, **fields), timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.write(json.dumps({"type": "shutdown"}))
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
