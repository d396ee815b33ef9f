"""Jobs: requests sent to the lm2d server through the shared session (server_session.py) and the
handling of the events that come back, until one final state. Plain objects: the operators
(operators_generate.py) run them modally or to the end, and the headless demo and the tests drive
them directly.

The .blend is touched only once the result is in: a failed or cancelled generation leaves it
exactly as it was, and a finished one adds its take (a new action on a new NLA track, never an
edit of the user's actions) and pushes one undo step. Jobs keep names, not Blender objects: undo
and file loads reallocate those while a job runs.
"""
from __future__ import annotations

import os
import time
import traceback
import uuid

import bpy

from .armature import missing_bones, new_dancer
from .client import FINAL_EVENTS, ServerError
from .generation_settings import GenerationSettings, InputError
from .keys import write_take
from .lyrics_track import segments_to_text_strips, sound_strip_for
from .model_kind import remember_loaded
from .prefs import results_dir
from .progress import clear_status_bar, describe_server, redraw_panels, show_progress
from .props import scene_settings, session_state
from .result_file import read_result, result_skeleton
from .server_session import session
from .takes import TAKE_AUDIO_PROP

RUNNING, FINISHED, FAILED, CANCELLED = "RUNNING", "FINISHED", "FAILED", "CANCELLED"
TIMER_STEP = 0.1            # seconds between event checks
SILENCE_LIMIT = 300.0       # seconds without any event before the server counts as hung
# stage -> (overall progress at its start, at its end, what the user reads)
STAGES = {"features": (0.0, 0.25, "Analysing the music"), "lyrics": (0.25, 0.35, "Reading the lyrics"),
          "sampling": (0.35, 0.95, "Dancing"), "repeats": (0.95, 0.95, "Dancing the repeated sections alike"),
          "writing": (0.95, 1.0, "Saving the dance")}


def push_undo(message: str) -> None:
    """One undo step for what a job wrote, so Ctrl+Z takes it back in one go."""
    if bpy.ops.ed.undo_push.poll():
        bpy.ops.ed.undo_push(message=message)


class Job:
    """Requests sent to the server and the handling of their events, until one final state:
    FINISHED, FAILED (message says why) or CANCELLED."""

    cancellable = False

    def __init__(self, context):
        self.session = session(context)
        self.requests: list[int] = []   # ids of the requests sent, in order
        self.open: set = set()          # ids still waiting for their final event
        self.state = RUNNING
        self.message = ""
        self.warnings: list[str] = []
        self.cancel_requested = False
        self._last_event = time.monotonic()

    def send(self, request_type: str, **fields) -> int:
        try:
            request_id = self.session.send(request_type, **fields)
        except ServerError as err:
            self.fail(str(err))
            raise
        self.requests.append(request_id)
        self.open.add(request_id)
        return request_id

    def step(self, context, wait: float = 0.0) -> str:
        """Handle the events that arrived (wait: seconds to block for the first one)."""
        events = self.session.take(self.requests, wait)
        now = time.monotonic()
        if events:
            self._last_event = now
        for event in events:
            if self.state != RUNNING:
                break
            if event["type"] in FINAL_EVENTS:
                self.open.discard(event["id"])
            if event["type"] == "warning":
                self.warnings.append(event.get("message", ""))
            elif event["type"] == "error":
                self.fail(event.get("message", "the server reported an unknown error"))
            else:
                self._handle_safely(context, event)
        if self.state == RUNNING and now - self._last_event > SILENCE_LIMIT:
            self.session.client.kill()
            self.fail(f"the server did not answer for {SILENCE_LIMIT:g} s and was stopped")
        return self.state

    def handle(self, context, event: dict) -> None:
        """One event (not an error or warning: step() deals with those) of this job's requests."""
        raise NotImplementedError

    def _handle_safely(self, context, event: dict) -> None:
        """A bug while handling an event ends the job with a message instead of leaving a modal
        operator dead with its timer running and the panel stuck on 'running'."""
        try:
            self.handle(context, event)
        except Exception as err:
            traceback.print_exc()
            self.fail(f"internal error in the add-on: {type(err).__name__}: {err}")

    def run_to_end(self, context) -> str:
        """Block until the job ends (scripts and background mode: no event loop to wait in)."""
        while self.step(context, wait=TIMER_STEP) == RUNNING:
            pass
        return self.state

    def fail(self, message: str) -> None:
        self.state, self.message = FAILED, message
        self._drop_open_requests()

    def cancel(self) -> None:
        """Ask the server to stop; the job ends when it says 'cancelled'."""
        self.cancel_requested = True
        self._drop_open_requests()

    def abandon(self) -> None:
        """Cancel without waiting for the server's answer (Blender is ending the operator)."""
        self.cancel()
        self.state = CANCELLED

    def _drop_open_requests(self) -> None:
        for request_id in sorted(self.open):
            self.session.cancel(request_id)

    def finish(self, context) -> None:
        """Tidy up once the job has ended: later events for it are dropped, the UI is reset."""
        self.session.forget(self.requests)
        clear_status_bar(context)
        redraw_panels(context)


class CheckServerJob(Job):
    """hello + load: is the server there, which torch and device, which model."""

    def __init__(self, context):
        super().__init__(context)
        self.hello = self.loaded = None
        self.send("hello")
        self.send("load", **self.session.settings.load_fields())

    def handle(self, context, event):
        if event["type"] == "hello":
            self.hello = event
        elif event["type"] == "loaded":
            self.loaded = event
            remember_loaded(context, self.session.settings.checkpoint, event)
        if self.hello is not None and self.loaded is not None:
            self.state = FINISHED

    def finish(self, context) -> None:
        state = session_state(context)
        if self.hello is not None:
            state.server = describe_server(self.hello, self.loaded)
        if self.state == FAILED:
            state.server = f"{state.server} · not ready: {self.message}" if self.hello else f"not ready: {self.message}"
        super().finish(context)


class LyricsImportJob(Job):
    """Parse a lyrics file on the server (any format it reads) and lay it out as text strips."""

    def __init__(self, context, path: str, channel: int, start_frame: int, audio: str | None = None):
        super().__init__(context)
        self.path, self.channel, self.start_frame = path, channel, start_frame
        self.strips = 0
        self.send("lyrics", path=path, **({"audio": audio} if audio else {}))

    def handle(self, context, event):
        if event["type"] != "lyrics":
            return
        lines = [{"start": s["start"], "end": s["end"], "text": s["text"]} for s in event["segments"]]
        self.strips = len(segments_to_text_strips(context.scene, lines, self.channel, self.start_frame))
        settings = scene_settings(context.scene)
        settings.lyrics_path = self.path
        settings.lyrics_source = 'STRIPS'   # generate from what the user sees (and may retime)
        self.state = FINISHED
        push_undo("LM2D: import lyrics")


class GenerationJob(Job):
    """load + generate; on the result, the take is written (the only moment the .blend changes)."""

    cancellable = True
    stages = STAGES                           # the server's progress stages, as the user reads them
    _running: "GenerationJob | None" = None   # one generation at a time

    def __init__(self, context, settings: GenerationSettings, output: str):
        if GenerationJob._running is not None:
            raise InputError("a dance is being generated already: wait for it or cancel it")
        super().__init__(context)
        self.settings = settings
        self.model = None
        self.armature = self.action = self.track = None
        self.stage_seconds: dict[str, float] = {}   # server stage -> seconds, as its progress events tell, + keying
        self._stage = None
        self.send_requests(output)
        GenerationJob._running = self
        state = session_state(context)
        state.is_running = True
        show_progress(context, "Waiting for the dance server", 0.0)

    def send_requests(self, output: str) -> None:
        self.send("load", **self.session.settings.load_fields())
        self.send("generate", **self.settings.request_fields(output))

    @classmethod
    def running(cls) -> "GenerationJob | None":
        return cls._running

    def handle(self, context, event):
        kind = event["type"]
        if kind == "cancelled":
            self.state = CANCELLED
        elif kind == "loaded":
            self.model = event.get("model")
            remember_loaded(context, self.session.settings.checkpoint, event)
            show_progress(context, f"Model {self.model} ready", 0.0)
        elif kind == "progress" and event.get("stage") in self.stages:
            self._time_stage(event["stage"])
            start, end, label = self.stages[event["stage"]]
            show_progress(context, label, start + (end - start) * float(event.get("fraction", 0.0)))
        elif kind == "result":
            self._time_stage(None)
            if self.cancel_requested:  # the result crossed the cancel on its way: drop it
                remove_file(event["path"])
                self.state = CANCELLED
            else:
                self.write_take(context, event["path"])

    def _time_stage(self, stage: str | None) -> None:
        if stage == self._stage:
            return
        now = time.monotonic()
        if self._stage is not None:
            self.stage_seconds[self._stage] = now - self._stage_started
        self._stage, self._stage_started = stage, now

    def write_take(self, context, path: str) -> None:
        started = time.monotonic()
        try:
            self.armature, self.action, self.track = apply_result(context, self.settings, path)
        except ValueError as err:   # ResultFileError (read_result checks everything), or a take that does not fit
            self.fail(str(err))
            return
        self.state = FINISHED
        push_undo(f"LM2D: {self.action.name}")
        self.stage_seconds["keying"] = time.monotonic() - started   # this side's own stage

    def finish(self, context) -> None:
        if GenerationJob._running is self:
            GenerationJob._running = None
        state = session_state(context)
        state.is_running = False
        state.progress = 1.0 if self.state == FINISHED else 0.0
        if self.state == FINISHED:
            state.status = f"{self.action.name} ready"
        else:
            state.status = "Cancelled" if self.state == CANCELLED else f"Failed: {self.message}"
        super().finish(context)


def remove_file(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def new_result_path(audio: str) -> str:
    """A fresh result file for a take of `audio` in the add-on's results folder (results are
    kept: edits start from them)."""
    stem = os.path.splitext(os.path.basename(audio))[0]
    return os.path.join(results_dir(), f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.npz")


def start_generation(context, settings: GenerationSettings, output: str | None = None) -> GenerationJob:
    """Send the generation to the server; nothing in the .blend changes until its result."""
    return GenerationJob(context, settings, output or new_result_path(settings.audio))


def apply_result(context, settings: GenerationSettings, path: str):
    """Write a result as a new take: onto settings.armature when it is still there with the SMPL
    bones, otherwise onto a new dancer; add the song's sound strip when the scene lacks it.
    The result is read and checked before anything is created. Returns (armature, action, track)."""
    result = read_result(path)
    skeleton = result_skeleton(result)
    armature_obj = bpy.data.objects.get(settings.armature) if settings.armature else None
    if armature_obj is None or missing_bones(armature_obj, skeleton):
        if context.mode != 'OBJECT':
            bpy.ops.object.mode_set(mode='OBJECT')
        armature_obj = new_dancer(context, skeleton)
    action, track, _strip = write_take(armature_obj, result, context.scene, start_frame=settings.start_frame,
                                       source=path)
    action[TAKE_AUDIO_PROP] = settings.audio
    if os.path.isfile(settings.audio):   # it may have gone while the server worked
        sound_strip_for(context.scene, settings.audio, start_frame=settings.start_frame)
    return armature_obj, action, track
