"""Import Dance from Video: the server turns a video into SMPL motion (MediaPipe Pose and a skeleton
fit, all in the server's Python: the add-on never imports torch or mediapipe) and the result becomes
a new take exactly like a generated one, with the video's sound as a sound strip when it has one.

The job is a GenerationJob that sends a `video2motion` request instead of `generate`: the same
progress bar, Esc to cancel, one take at a time, and nothing in the .blend changes before the
result is in (a failed or cancelled import leaves the file as it was).
"""
from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from .armature import missing_bones
from .generation_settings import GenerationSettings, InputError
from .jobs import GenerationJob, new_result_path
from .operators_generate import GenerationOperator, ServerJobOperator
from .props import scene_settings
from .skeleton import shipped_skeleton

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg")
# stage -> (overall progress at its start, at its end, what the user reads)
VIDEO_STAGES = {"landmarks": (0.0, 0.6, "Finding the dancer in the video"),
                "fit": (0.6, 0.9, "Fitting the skeleton"), "ground": (0.9, 0.98, "Planting the feet"),
                "writing": (0.98, 1.0, "Saving the dance")}


class VideoImportJob(GenerationJob):
    """video2motion; on the result, the take is written with the video's sound track."""

    stages = VIDEO_STAGES

    def __init__(self, context, video: str, settings: GenerationSettings, output: str):
        self.video = video
        super().__init__(context, settings, output)

    def send_requests(self, output: str) -> None:
        # settings.audio is where the server writes the sound track; apply_result adds the strip
        # only when the file is there (a silent video gets none).
        self.send("video2motion", video=self.video, output=output, audio_output=self.settings.audio)


def video_import_settings(context, video: str) -> GenerationSettings:
    """Where the take goes (the Dance panel's target, as for Generate) and where its sound goes."""
    if not os.path.isfile(video):
        raise InputError(f"{video}: no such video file")
    if os.path.splitext(video)[1].lower() not in VIDEO_EXTENSIONS:
        raise InputError(f"{video}: not a video file ({', '.join(VIDEO_EXTENSIONS)})")
    active = context.active_object
    armature = (active.name if scene_settings(context.scene).target == 'ACTIVE' and active is not None
                and not missing_bones(active, shipped_skeleton()) else None)
    sound = os.path.splitext(new_result_path(video))[0] + ".wav"
    return GenerationSettings(audio=sound, start_frame=context.scene.frame_start, armature=armature)


def start_video_import(context, video: str, output: str | None = None) -> VideoImportJob:
    settings = video_import_settings(context, video)
    return VideoImportJob(context, video, settings, output or os.path.splitext(settings.audio)[0] + ".npz")


class LM2D_OT_import_video(ImportHelper, GenerationOperator, bpy.types.Operator):
    bl_idname = "lm2d.import_video"
    bl_label = "Import Dance from Video"
    bl_description = ("Turn the dance in a video into a new take on an SMPL armature (pose estimation runs in the "
                      "dance server), with the video's sound as a sound strip; Esc cancels")
    bl_options = {'REGISTER'}

    filter_glob: StringProperty(default=";".join(f"*{ext}" for ext in VIDEO_EXTENSIONS), options={'HIDDEN'})

    def start_job(self, context):
        return start_video_import(context, bpy.path.abspath(self.filepath))

    def execute(self, context):
        """After the file browser: run modally when there is a window to stay responsive in (it
        takes minutes), to the end in scripts and background mode."""
        if bpy.app.background or context.window is None:
            return ServerJobOperator.execute(self, context)
        return ServerJobOperator.invoke(self, context, None)


def _draw_import_menu(self, context):
    self.layout.operator(LM2D_OT_import_video.bl_idname, text="Dance from Video (LM2D)", icon='FILE_MOVIE')


def register() -> None:
    bpy.utils.register_class(LM2D_OT_import_video)
    bpy.types.TOPBAR_MT_file_import.append(_draw_import_menu)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(_draw_import_menu)
    bpy.utils.unregister_class(LM2D_OT_import_video)
