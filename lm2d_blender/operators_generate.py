"""Operators that talk to the lm2d server: generate a dance, edit a take (regenerate a range, keep
the lower body, continue it), import lyrics as text strips, check the server, cancel.

Each operator is a thin shell (io_anim_bvh style) around a job: a plain object that sends requests
through the shared server session (server_session.py) and handles the events that come back. From
the UI a job runs modally (a 0.1 s timer drains the events, Blender stays usable, Esc cancels);
from scripts and in background mode, where modal operators and timers never tick, execute() runs it
to the end before returning. The headless demo and the tests drive the same jobs directly.

The .blend is touched only once the result is in: a failed or cancelled generation leaves it
exactly as it was, and a finished one adds its take (a new action on a new NLA track, never an
edit of the user's actions) and pushes one undo step. Jobs keep names, not Blender objects: undo
and file loads reallocate those while a job runs.
"""
from __future__ import annotations

import dataclasses
import os
import time
import traceback
import uuid
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from .armature import missing_bones, new_dancer
from .client import FINAL_EVENTS, ServerError
from .keys import TAKE_PROP, TAKE_SOURCE_PROP, TAKE_START_PROP, write_take
from .lyrics_track import segments_to_text_strips, sound_strip_for, text_strips_to_segments, top_level_strips
from .operators import report_take
from .prefs import results_dir
from .props import audio_path_of, scene_settings, session_state
from .result_file import ResultFileError, read_result, result_skeleton
from .server_session import session, shutdown
from .skeleton import shipped_skeleton
from .timeline import scene_fps

RUNNING, FINISHED, FAILED, CANCELLED = "RUNNING", "FINISHED", "FAILED", "CANCELLED"
TIMER_STEP = 0.1            # seconds between event checks
SILENCE_LIMIT = 300.0       # seconds without any event before the server counts as hung
MODEL_FPS = 30.0            # lm2d's frame rate: edit ranges are counted in its frames
TAKE_AUDIO_PROP = "lm2d_audio"   # on take actions: the song the take dances to (edits need it)
# stage -> (overall progress at its start, at its end, what the user reads)
STAGES = {"features": (0.0, 0.25, "Analysing the music"), "lyrics": (0.25, 0.35, "Reading the lyrics"),
          "sampling": (0.35, 0.95, "Dancing"), "writing": (0.95, 1.0, "Saving the dance")}


class InputError(ValueError):
    """Something the user has to set or fix before a job can start; the message says what."""


# --- what to generate ------------------------------------------------------------------------

@dataclass(frozen=True)
class GenerationSettings:
    audio: str
    lyrics: str | None = None               # a lyrics file ...
    segments: tuple[dict, ...] | None = None  # ... or lyric lines given directly (seconds)
    seed: int = 0
    steps: int | None = None                # None: the model's default
    music_guidance: float | None = None
    lyrics_guidance: float | None = None
    end_seconds: float | None = None        # dance the song up to here (None: to its end)
    beat_accent: float | None = None        # how firmly the body settles on each beat (None: the server's default)
    start_frame: int = 1                    # scene frame where the song's time 0 lies
    armature: str | None = None             # armature that receives the take; None: a new one
    edit: dict | None = None                # the protocol's edit{} (takes edited from a result file)

    def request_fields(self, output: str) -> dict:
        """The protocol's generate request."""
        fields = {"audio": self.audio, "output": output, "seed": self.seed, "lyrics": self.lyrics,
                  "segments": None if self.segments is None else list(self.segments), "steps": self.steps,
                  "music_guidance": self.music_guidance, "lyrics_guidance": self.lyrics_guidance,
                  "end_seconds": self.end_seconds, "beat_accent": self.beat_accent, "edit": self.edit}
        return {key: value for key, value in fields.items() if value is not None}


def song_start_frame(scene) -> int:
    """Where the song's time 0 lies: at its sound strip's start, otherwise on frame 1, where Load
    Take, the lyric strips and the added sound strip put it too."""
    settings = scene_settings(scene)
    if settings.audio_source == 'STRIP' and scene.sequence_editor is not None:
        strip = top_level_strips(scene.sequence_editor).get(settings.audio_strip)
        if strip is not None:
            return int(strip.frame_start)
    return 1


def lyric_inputs(scene, start_frame: int) -> tuple[str | None, tuple[dict, ...] | None]:
    """(lyrics file, lyric lines) as the scene's settings choose; lines before the song starts are cut."""
    settings = scene_settings(scene)
    if settings.lyrics_source == 'FILE':
        path = bpy.path.abspath(settings.lyrics_path) if settings.lyrics_path else ""
        if not path:
            raise InputError("no lyrics file chosen (or set Lyrics to None)")
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such lyrics file")
        return path, None
    if settings.lyrics_source == 'STRIPS':
        lines = tuple({**line, "start": max(line["start"], 0.0)}
                      for line in text_strips_to_segments(scene, settings.lyrics_channel, start_frame)
                      if line["end"] > 0.0 and line["text"].strip())
        if not lines:
            raise InputError(f"channel {settings.lyrics_channel} of the Video Sequencer has no text strips "
                             "with lyrics (or set Lyrics to None)")
        return None, lines
    return None, None


def scene_generation_settings(context, audio: str | None = None, start_frame: int | None = None) -> GenerationSettings:
    """The Dance panel's settings; the take goes onto the active armature (when the target is
    Active and it has the SMPL bones) or onto a new one. Raises InputError."""
    scene = context.scene
    settings = scene_settings(scene)
    if audio is None:
        try:
            audio = audio_path_of(scene)
        except ValueError as err:
            raise InputError(str(err)) from None
    start = song_start_frame(scene) if start_frame is None else start_frame
    lyrics, segments = lyric_inputs(scene, start)
    active = context.active_object
    armature = (active.name if settings.target == 'ACTIVE' and active is not None
                and not missing_bones(active, shipped_skeleton()) else None)
    return GenerationSettings(audio=audio, lyrics=lyrics, segments=segments, seed=settings.seed,
                              steps=int(settings.steps), music_guidance=settings.music_guidance,
                              lyrics_guidance=settings.lyrics_guidance, end_seconds=settings.dance_seconds or None,
                              beat_accent=settings.beat_accent, start_frame=start, armature=armature)


# --- editing a take ----------------------------------------------------------------------------

def current_take(armature_obj):
    """The take an edit starts from: the armature's active action when it is an LM2D take,
    otherwise the top-most NLA track holding one. None when it has no take."""
    animation = getattr(armature_obj, "animation_data", None)
    if animation is None:
        return None
    if animation.action is not None and TAKE_PROP in animation.action:
        return animation.action
    for track in reversed(animation.nla_tracks):
        for strip in track.strips:
            if strip.action is not None and TAKE_PROP in strip.action:
                return strip.action
    return None


def take_source(take) -> str:
    """The result file a take was keyed from, which edits start from. Raises InputError."""
    source = take.get(TAKE_SOURCE_PROP)
    if not source:
        raise InputError(f"take '{take.name}' has no result file to edit (it was not made by LM2D)")
    if not os.path.isfile(source):
        raise InputError(f"{source}: the result file of take '{take.name}' is gone; edits start from it")
    return source


def take_start(take) -> int:
    return int(take.get(TAKE_START_PROP, 1))


def take_frames(source: str) -> int:
    with np.load(source) as result:
        return len(result["root_translation"])


def model_frame_range(first_frame: int, last_frame: int, take_start: int, fps: float, frames: int) -> tuple[int, int]:
    """Scene frames first..last (inclusive) of a take starting at take_start, played at `fps`, as
    the result's [first, end) at lm2d's 30 FPS, clipped to its `frames`. Raises InputError when
    nothing of the range falls on the take."""
    scale = MODEL_FPS / fps
    first = max(int(round((first_frame - take_start) * scale)), 0)
    end = min(int(round((last_frame + 1 - take_start) * scale)), frames)
    if first >= end:
        raise InputError(f"frames {first_frame}–{last_frame} do not overlap the take "
                         f"(frames {take_start}–{take_start + round(frames / scale) - 1})")
    return first, end


def take_edit_settings(context, edit: dict) -> GenerationSettings:
    """Settings for editing the active armature's current take; the new take goes onto the same
    armature, at the same start frame, dancing to the same song. Raises InputError."""
    armature_obj = context.active_object
    take = current_take(armature_obj)
    if take is None:
        name = armature_obj.name if armature_obj is not None else "nothing"
        raise InputError(f"the active object ({name}) has no LM2D take to edit")
    source = take_source(take)
    audio = take.get(TAKE_AUDIO_PROP) or None
    settings = scene_generation_settings(context, audio=audio, start_frame=take_start(take))
    # An edit covers the take's frames (plus any continuation): the dance length does not apply.
    return dataclasses.replace(settings, armature=armature_obj.name, end_seconds=None,
                               edit={"motion": source, **edit})


def panel_range_edit(context) -> dict:
    """edit{} regenerating the panel's frame range (Start–End) of the active armature's take."""
    take = current_take(context.active_object)
    if take is None:
        raise InputError("the active object has no LM2D take to edit")
    settings = scene_settings(context.scene)
    first, end = model_frame_range(settings.range_start, settings.range_end, take_start(take),
                                   scene_fps(context.scene), take_frames(take_source(take)))
    return {"regenerate": [first, end]}


# --- progress in the UI ------------------------------------------------------------------------

def redraw_panels(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {'VIEW_3D', 'PREFERENCES'}:
                area.tag_redraw()


def show_progress(context, status: str, fraction: float, cancellable: bool = True) -> None:
    state = session_state(context)
    state.status, state.progress = status, min(max(fraction, 0.0), 1.0)
    if context.workspace is not None:
        hint = " · Esc to cancel" if cancellable else ""
        context.workspace.status_text_set(f"LM2D: {status} {round(100 * state.progress)}%{hint}")
    redraw_panels(context)


def clear_status_bar(context) -> None:
    if context.workspace is not None:
        context.workspace.status_text_set(None)


def describe_server(hello: dict, loaded: dict | None) -> str:
    model = f"model {loaded['model']} ({loaded['kind']})" if loaded else "no model loaded"
    device = (loaded or hello).get("device", "?")
    return f"lm2d {hello.get('lm2d', '?')} · torch {hello.get('torch', '?')} · {device.upper()} · {model}"


def push_undo(message: str) -> None:
    """One undo step for what a job wrote, so Ctrl+Z takes it back in one go."""
    if bpy.ops.ed.undo_push.poll():
        bpy.ops.ed.undo_push(message=message)


# --- jobs ----------------------------------------------------------------------------------------

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
        self.stage_seconds: dict[str, float] = {}   # server stage -> seconds, as its progress events tell
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
        try:
            self.armature, self.action, self.track = apply_result(context, self.settings, path)
        except ResultFileError as err:
            self.fail(str(err))
            return
        self.state = FINISHED
        push_undo(f"LM2D: {self.action.name}")

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


# --- the operators ---------------------------------------------------------------------------------

class ServerJobOperator:
    """The shell around a job: invoke() runs it modally, execute() to the end. Subclasses define
    start_job(context) -> Job (raising InputError or ServerError) and report_finished(context, job)."""

    _timer = None

    def start_job(self, context) -> Job:
        raise NotImplementedError

    def report_finished(self, context, job: Job) -> None:
        raise NotImplementedError

    def _start(self, context) -> Job | None:
        try:
            self.job = self.start_job(context)
        except (InputError, ServerError) as err:
            self.report({'ERROR'}, str(err))
            return None
        return self.job

    def execute(self, context):
        if self._start(context) is None:
            return {'CANCELLED'}
        self.job.run_to_end(context)
        return self._end(context)

    def invoke(self, context, event):
        if self._start(context) is None:
            return {'CANCELLED'}
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_STEP, window=context.window)
        window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type == 'ESC' and event.value == 'PRESS' and self.job.cancellable:
            self.job.cancel()
            show_progress(context, "Cancelling", session_state(context).progress, cancellable=False)
            return {'RUNNING_MODAL'}
        if event.type == 'TIMER' and self.job.step(context) != RUNNING:
            return self._end(context)
        return {'PASS_THROUGH'}

    def cancel(self, context):
        """Blender ends the modal run (a file is loaded, the window closes): stop the job."""
        self.job.abandon()
        self._end(context)

    def _end(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        job = self.job
        job.finish(context)
        for warning in job.warnings:
            self.report({'WARNING'}, warning)
        if job.state == FINISHED:
            self.report_finished(context, job)
            return {'FINISHED'}
        if job.state == FAILED:
            self.report({'ERROR'}, job.message)
        else:
            self.report({'INFO'}, "Cancelled: nothing was changed")
        return {'CANCELLED'}


class GenerationOperator(ServerJobOperator):
    @classmethod
    def poll(cls, context):
        return GenerationJob.running() is None

    def report_finished(self, context, job: GenerationJob) -> None:
        report_take(self, job.armature, job.action, job.track)


class LM2D_OT_generate(GenerationOperator, bpy.types.Operator):
    bl_idname = "lm2d.generate"
    bl_label = "Generate Dance"
    bl_description = ("Generate a dance for the song and lyrics set in the Dance panel and key it as a new "
                      "take; Blender stays usable while the server works, Esc cancels")
    bl_options = {'REGISTER'}

    def start_job(self, context):
        return start_generation(context, scene_generation_settings(context))


class TakeEditOperator(GenerationOperator):
    @classmethod
    def poll(cls, context):
        return super().poll(context) and current_take(context.active_object) is not None

    def edit(self, context) -> dict:
        raise NotImplementedError

    def start_job(self, context):
        return start_generation(context, take_edit_settings(context, self.edit(context)))


class LM2D_OT_regenerate_range(TakeEditOperator, bpy.types.Operator):
    bl_idname = "lm2d.regenerate_range"
    bl_label = "Regenerate Range"
    bl_description = ("Dance the frames from Start to End of the active armature's take anew, keeping the rest; "
                      "the result is a new take")
    bl_options = {'REGISTER'}

    def edit(self, context):
        return panel_range_edit(context)


class LM2D_OT_keep_lower_body(TakeEditOperator, bpy.types.Operator):
    bl_idname = "lm2d.keep_lower_body"
    bl_label = "Keep Lower Body"
    bl_description = ("Keep the legs, hips and root path of the active armature's take and dance the upper "
                      "body anew from Start to End; the result is a new take")
    bl_options = {'REGISTER'}

    def edit(self, context):
        # The server's "lower_body" group: pelvis, hips, knees, ankles, feet (and the root path).
        return {**panel_range_edit(context), "keep_joints": ["lower_body"]}


class LM2D_OT_continue(TakeEditOperator, bpy.types.Operator):
    bl_idname = "lm2d.continue"
    bl_label = "Continue Dance"
    bl_description = ("Extend the active armature's take by the Continue By time, dancing on to the song; "
                      "the result is a new take")
    bl_options = {'REGISTER'}

    def edit(self, context):
        return {"continue_frames": max(int(round(scene_settings(context.scene).continue_seconds * MODEL_FPS)), 1)}


class LM2D_OT_cancel(bpy.types.Operator):
    bl_idname = "lm2d.cancel"
    bl_label = "Cancel Dance Generation"
    bl_description = "Stop the dance being generated; nothing in the file changes"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        return GenerationJob.running() is not None

    def execute(self, context):
        GenerationJob.running().cancel()
        show_progress(context, "Cancelling", session_state(context).progress, cancellable=False)
        return {'FINISHED'}


class LM2D_OT_check_server(ServerJobOperator, bpy.types.Operator):
    bl_idname = "lm2d.check_server"
    bl_label = "Check Dance Server"
    bl_description = ("Start the dance server with the interpreter from the preferences and load the model; "
                      "shows its torch version, device and model")
    bl_options = {'REGISTER'}

    def start_job(self, context):
        return CheckServerJob(context)

    def report_finished(self, context, job):
        self.report({'INFO'}, session_state(context).server)


class LM2D_OT_import_lyrics(ImportHelper, ServerJobOperator, bpy.types.Operator):
    bl_idname = "lm2d.import_lyrics"
    bl_label = "Import Lyrics as Strips"
    bl_description = ("Read a timed lyrics file (LRC, SRT, UltraStar, CSV, JSON or plain text) and lay it out as "
                      "text strips, one per line, in the lyrics channel of the Video Sequencer")
    bl_options = {'REGISTER'}

    filter_glob: StringProperty(default="*.lrc;*.srt;*.txt;*.csv;*.json", options={'HIDDEN'})

    def invoke(self, context, event):
        """The file browser first, then execute(): the server parses a lyrics file in well under a
        second once it runs (starting it takes seconds, once per session)."""
        path = scene_settings(context.scene).lyrics_path
        if path:
            self.filepath = bpy.path.abspath(path)
        return ImportHelper.invoke(self, context, event)

    def start_job(self, context):
        scene = context.scene
        settings = scene_settings(scene)
        try:
            audio = audio_path_of(scene)   # plain-text lyrics are placed by listening to the song
        except ValueError:
            audio = None
        return LyricsImportJob(context, bpy.path.abspath(self.filepath), settings.lyrics_channel,
                               song_start_frame(scene), audio)

    def report_finished(self, context, job):
        self.report({'INFO'}, f"{job.strips} lyric lines in channel {job.channel}")


CLASSES = (LM2D_OT_generate, LM2D_OT_cancel, LM2D_OT_check_server, LM2D_OT_import_lyrics,
           LM2D_OT_regenerate_range, LM2D_OT_keep_lower_body, LM2D_OT_continue)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()


def unregister() -> None:
    running = GenerationJob.running()
    if running is not None:
        running.cancel()
        GenerationJob._running = None
    shutdown()
    _unregister_classes()
