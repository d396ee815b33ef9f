"""Start the dance server before the user asks for a dance, so the first Generate does not pay for
the interpreter, torch, the model, librosa's compiled code and the lyric encoder.

The Dance panel's draw() calls request(). A panel's draw runs on every redraw and in a restricted
context, so request() only registers a one-shot bpy.app.timers callback (once per server
interpreter and chosen song); choosing a song calls it too. The timer (tick) starts the shared
server session and sends hello + load (the preferences' model and device) and, once a song is
chosen, prepare (its features, computed into the server's cache while the user sets up); the
server warms librosa and the lyric encoder in the background meanwhile, then rehearses one dance
with the loaded model (lm2d.server.warmup).
Until the server reports everything ready, tick() asks for hello again every POLL_SECONDS and
shows the warm-up state on the panel (WindowManager.lm2d.warmup). Headless drivers and tests
call tick() themselves.
"""
from __future__ import annotations

import time

import bpy

from .client import FINAL_EVENTS, ServerError
from .jobs import FAILED, FINISHED, RUNNING, TIMER_STEP, Job
from .progress import redraw_panels
from .props import audio_path_of, session_state
from .server_session import current_settings

POLL_SECONDS = 1.0
WARMUP_PARTS = ("model", "features", "lyrics", "dance")   # as the server's hello names them
DONE = ("ready", "failed", "skipped")   # skipped: the rehearsal dance gave way to a request

_job: "WarmStartJob | None" = None
_wanted: tuple[str, str | None] | None = None   # (interpreter, chosen song) last asked for


class WarmStartJob(Job):
    """hello + load (+ prepare the song), then hello every POLL_SECONDS until the warm-up is done."""

    def __init__(self, context, song: str | None):
        super().__init__(context)
        self.song = song
        self.warmup: dict[str, str] = {}
        self.loaded = False
        self.prepared = song is None
        self._hello_open = False
        self._next_hello = 0.0
        self._ask()
        self.send("load", **self.session.settings.load_fields())
        # Not one of the job's own requests: a song that cannot be prepared fails nothing here
        # (Generate reports it), so its events are read apart from step()'s.
        self._prepare_id = self.session.send("prepare", audio=song) if song is not None else None

    def _ask(self) -> None:
        self.send("hello")
        self._hello_open = True

    def poll(self, context) -> str:
        """Handle what arrived and ask again when due; the job's state."""
        if self._prepare_id is not None and any(
                event["type"] in FINAL_EVENTS for event in self.session.take([self._prepare_id])):
            self.session.forget([self._prepare_id])
            self._prepare_id, self.prepared = None, True
        if self.step(context) == RUNNING and not self._hello_open and time.monotonic() >= self._next_hello:
            self._ask()
        return self.state

    def handle(self, context, event):
        if event["type"] == "hello":
            self._hello_open = False
            self._next_hello = time.monotonic() + POLL_SECONDS
            self.warmup = dict(event.get("warmup") or {})
        elif event["type"] == "loaded":
            self.loaded = True
        warmed = all(self.warmup.get(part) in DONE for part in WARMUP_PARTS if part != "model")
        if self.loaded and self.prepared and warmed:
            self.state = FINISHED
        session_state(context).warmup = describe_warmup(self.warmup, self.loaded, self.state == FINISHED)
        redraw_panels(context)

    def finish(self, context) -> None:
        """Drop later events; unlike a generation it leaves the status bar alone (one may be running)."""
        self.session.forget(self.requests + ([self._prepare_id] if self._prepare_id is not None else []))
        redraw_panels(context)


def describe_warmup(warmup: dict, loaded: bool, done: bool) -> str:
    """One line for the panel: what is ready and what is still warming up."""
    if done:
        failed = [part for part in WARMUP_PARTS if warmup.get(part) == "failed"]
        return "Dance server ready" + (f" ({', '.join(failed)}: loads on first use)" if failed else "")
    states = dict(warmup, model="ready" if loaded else warmup.get("model", "pending"))
    ready = sum(states.get(part) == "ready" for part in WARMUP_PARTS)
    waiting = [part for part in WARMUP_PARTS if states.get(part) != "ready"]
    return f"Dance server warming up ({ready}/{len(WARMUP_PARTS)} ready; {', '.join(waiting)} next)"


def chosen_song(context) -> str | None:
    try:
        return audio_path_of(context.scene)
    except ValueError:   # none chosen yet, or not a file (Generate says what is wrong)
        return None


def request(context) -> None:
    """Warm the server up soon (from a timer), once per server interpreter and chosen song.
    Cheap: safe in draw()."""
    global _wanted
    wanted = (current_settings(context).python, chosen_song(context))
    if wanted == _wanted:
        return
    _wanted = wanted
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.0, persistent=True)   # survives opening a file


def tick() -> float | None:
    """The timer: start the job, then drive it; seconds until the next call, None when done."""
    global _job
    context = bpy.context
    if _job is None:
        try:
            _job = WarmStartJob(context, _wanted[1] if _wanted else None)
        except ServerError as err:   # no interpreter set yet: Generate will say where to set it
            session_state(context).warmup = f"Dance server not started: {err}"
            return None
    state = _job.poll(context)
    if state == RUNNING:
        return TIMER_STEP
    if state == FAILED:
        session_state(context).warmup = f"Dance server: {_job.message}"
    _job.finish(context)
    done, _job = (_job.session.settings.python, _job.song), None
    # Another interpreter or song was chosen while this job ran: warm that one too.
    return 0.0 if done != _wanted else None


def register() -> None:
    pass  # nothing to register: the panel's draw() asks for the warm start


def unregister() -> None:
    """Forget the warm start (the server is stopped after this, by operators_generate)."""
    global _job, _wanted
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    _job, _wanted = None, None
