"""Operators that talk to the lm2d server: generate a dance, edit a take (regenerate a range, keep
the lower body, continue it), import lyrics as text strips, check the server, cancel.

Each operator is a thin shell (io_anim_bvh style) around a job (jobs.py): from the UI it runs
modally (a 0.1 s timer drains the events, Blender stays usable, Esc cancels); from scripts and in
background mode, where modal operators and timers never tick, execute() runs it to the end.
"""
from __future__ import annotations

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from .client import ServerError
from .generation_settings import InputError, scene_generation_settings, song_start_frame
from .jobs import (CANCELLED, FAILED, FINISHED, RUNNING, TIMER_STEP, CheckServerJob, GenerationJob, Job,
                   LyricsImportJob, start_generation)
from .operators import report_take
from .progress import show_progress
from .props import audio_path_of, scene_settings, session_state
from .server_session import shutdown
from .song_range import LM2D_FPS
from .takes import continue_edit, current_take, panel_range_edit, seconds_left, take_edit_settings


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

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        left = seconds_left(current_take(context.active_object))
        if left is not None and left * LM2D_FPS < 1.0:
            cls.poll_message_set("The take already reaches the end of its song: nothing is left to dance to")
            return False
        return True

    def edit(self, context):
        return continue_edit(context)


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
