"""The one lm2d server of a Blender session, shared by every operator that talks to it.

Started lazily with the interpreter named in the add-on preferences, and started again when that
interpreter changes. Each job takes only the events of its own requests, so two jobs in flight
(say, a generation and a server check) never take each other's events. Scripts that run the add-on
without enabling it (the headless demo, the tests) name the server with use_settings()."""
from __future__ import annotations

import os
import queue
from dataclasses import dataclass

import bpy

from .client import ServerClient
from .prefs import addon_preferences, managed_env_dir
from .server_env import find_interpreter


@dataclass(frozen=True)
class ServerSettings:
    python: str                      # interpreter of an environment with lm2d (and torch) installed
    checkpoint: str | None = None    # None: the model shipped with lm2d
    device: str = "auto"             # auto | cpu | cuda

    def load_fields(self) -> dict:
        """The fields of the protocol's load request."""
        return {"device": self.device, **({"checkpoint": self.checkpoint} if self.checkpoint else {})}


class Session:
    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.client = ServerClient(settings.python)
        self._inbox: list[dict] = []   # events not yet taken, in arrival order
        self._live: set = set()        # ids whose events someone still wants

    def send(self, request_type: str, **fields) -> int:
        request_id = self.client.send(request_type, **fields)
        self._live.add(request_id)
        return request_id

    def cancel(self, request_id: int) -> None:
        self.client.cancel(request_id)

    def take(self, request_ids, wait: float = 0.0) -> list[dict]:
        """Events received for request_ids, in order. wait > 0 blocks up to that long for the
        first one to arrive (headless drivers); 0 never blocks (Blender's main thread)."""
        self._receive(self.client.poll())
        if wait > 0 and not any(event["id"] in request_ids for event in self._inbox):
            try:
                self._receive([self.client.events.get(timeout=wait)])
            except queue.Empty:
                pass
            self._receive(self.client.poll())
        taken = [event for event in self._inbox if event["id"] in request_ids]
        self._inbox = [event for event in self._inbox if event["id"] not in request_ids]
        return taken

    def forget(self, request_ids) -> None:
        """The caller is done with these requests: later events for them are dropped."""
        self._live.difference_update(request_ids)
        self._inbox = [event for event in self._inbox if event["id"] in self._live]

    def _receive(self, events) -> None:
        self._inbox.extend(event for event in events if event.get("id") in self._live)

    def stop(self) -> None:
        self.client.stop()


_session: Session | None = None
_override: ServerSettings | None = None


def use_settings(settings: ServerSettings | None) -> None:
    """Name the server explicitly (None: go back to the add-on preferences)."""
    global _override
    _override = settings


def settings_from_preferences(context) -> ServerSettings:
    """The preferences' interpreter (or the one found: server_env.find_interpreter), checkpoint
    and device; an empty interpreter when none is found or the add-on runs without being enabled
    (the client then says to set it in the preferences)."""
    preferences = addon_preferences(context)
    if preferences is None:
        return ServerSettings(python="")
    checkpoint = bpy.path.abspath(preferences.checkpoint_path) if preferences.checkpoint_path else None
    interpreter = find_interpreter(preferred_python(preferences), managed_env_dir())
    return ServerSettings(python=interpreter.python if interpreter else "", checkpoint=checkpoint,
                          device=preferences.device.lower())


def preferred_python(preferences) -> str:
    """The interpreter the preferences name (absolute), or "" to detect one."""
    return os.path.normpath(bpy.path.abspath(preferences.python_path)) if preferences.python_path else ""


def current_settings(context) -> ServerSettings:
    return _override if _override is not None else settings_from_preferences(context)


def session(context) -> Session:
    """The shared session, (re)created when the interpreter changed; checkpoint and device
    changes need no restart: every job sends its own load request, which the server skips when
    that model is loaded already."""
    global _session
    settings = current_settings(context)
    if _session is not None and _session.settings.python != settings.python:
        shutdown()
    if _session is None:
        _session = Session(settings)
    _session.settings = settings
    return _session


def shutdown() -> None:
    """Stop the server (add-on unregistered, or its interpreter changed)."""
    global _session
    if _session is not None:
        _session.stop()
        _session = None
