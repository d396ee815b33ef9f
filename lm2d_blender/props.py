"""Per-scene settings and job state of the Dance panel (Scene.lm2d)."""
from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .armature import armature_skeleton
from .lyrics_track import LYRICS_CHANNEL, top_level_strips
from .body import show_bodies

TARGET_ITEMS = [
    ('ACTIVE', "Active Armature",
     "Key the active armature when it has the SMPL bones, otherwise create a new SMPL armature"),
    ('NEW', "New Armature", "Create a new SMPL armature for every take"),
]


def _show_bodies(settings, context) -> None:
    show_bodies(context, settings.show_mannequin)


class LM2DSceneSettings(bpy.types.PropertyGroup):
    audio_source: EnumProperty(
        name="Audio", description="Where the song comes from",
        items=[('FILE', "File", "An audio file on disk"),
               ('STRIP', "Sound Strip", "A sound strip of this scene's Video Sequencer")])
    audio_path: StringProperty(name="Audio File", description="Song to dance to (any format librosa reads)",
                               subtype='FILE_PATH')
    audio_strip: StringProperty(name="Sound Strip", description="Sound strip whose file is the song")
    lyrics_source: EnumProperty(
        name="Lyrics", description="Where the timed lyrics come from",
        items=[('FILE', "File", "A lyrics file with timing (LRC or UltraStar)"),
               ('STRIPS', "Text Strips", "Text strips of one Video Sequencer channel, one per lyric line"),
               ('NONE', "None", "Dance to the music alone")])
    lyrics_path: StringProperty(name="Lyrics File", description="Timed lyrics for the song", subtype='FILE_PATH')
    lyrics_channel: IntProperty(name="Channel", description="Video Sequencer channel holding the lyric text strips",
                                default=LYRICS_CHANNEL, min=1, max=128)
    show_mannequin: BoolProperty(name="Mannequin", default=True, update=_show_bodies,
                                 description="Show the wooden mannequin body on the scene's SMPL dancers "
                                             "(built where missing); off hides it from viewport and renders")
    target: EnumProperty(name="Target", description="Armature that receives the take", items=TARGET_ITEMS)
    seed: IntProperty(name="Seed", description="Random seed: the same inputs and seed give the same dance",
                      default=0, min=0)
    steps: EnumProperty(
        name="Steps", description="Sampling steps of the distilled model: more steps, more detail, slower",
        items=[('1', "1", "One network evaluation: fastest"),
               ('2', "2", "Two evaluations"),
               ('4', "4", "Four evaluations: most detail")],
        default='2')
    music_guidance: FloatProperty(name="Music Guidance", description="How strongly the dance follows the music "
                                  "(a diffusion model only: a distilled model's guidance is fixed)",
                                  default=3.0, min=0.0, soft_max=10.0)
    lyrics_guidance: FloatProperty(name="Lyrics Guidance", description="How strongly the dance follows the lyrics "
                                   "(a diffusion model only: a distilled model's guidance is fixed)",
                                   default=6.0, min=0.0, soft_max=10.0)
    # 0.25 = lm2d.motion.retime.DEFAULT_STRENGTH (the add-on cannot import the server package).
    beat_accent: FloatProperty(name="Beat Accent", description="How firmly the body settles on each beat "
                               "(a retiming: poses are unchanged; 0 keeps the model's own timing)",
                               default=0.25, min=0.0, max=0.9, subtype='FACTOR')
    dance_seconds: FloatProperty(
        name="Dance Length", description="How much of the song to dance, from its start (0: all of it); "
                                         "Continue Dance extends a take later",
        default=0.0, min=0.0, soft_max=600.0, unit='TIME_ABSOLUTE')
    range_start: IntProperty(name="Start", description="First frame of the range to edit", default=1)
    range_end: IntProperty(name="End", description="Last frame of the range to edit", default=250)
    continue_seconds: FloatProperty(name="Continue By", description="How much new dance Continue Dance adds "
                                    "after the take's end (the song must go on that long)",
                                    default=5.0, min=0.1, soft_max=60.0, unit='TIME_ABSOLUTE')


class LM2DSessionState(bpy.types.PropertyGroup):
    """Job progress and what the server said about itself (WindowManager.lm2d). Kept on the
    window manager, not the scene: it is not part of the document, is never saved, and undo
    (which restores scenes) cannot rewind it under a running job."""
    status: StringProperty(name="Status", description="What the dance generator is doing")
    progress: FloatProperty(name="Progress", subtype='FACTOR', min=0.0, max=1.0)
    is_running: BoolProperty(name="Running", description="A generation job is under way")
    server: StringProperty(name="Server", description="The dance server's torch, device and model, "
                                                      "as it last reported them")


def scene_settings(scene) -> LM2DSceneSettings:
    return scene.lm2d


def audio_path_of(scene) -> str:
    """Absolute path of the song the settings name. Raises ValueError saying what is missing."""
    settings = scene_settings(scene)
    if settings.audio_source == 'STRIP':
        editor = scene.sequence_editor
        strip = top_level_strips(editor).get(settings.audio_strip) if editor else None
        if strip is None or strip.type != 'SOUND' or strip.sound is None:
            raise ValueError(f"'{settings.audio_strip}' is not a sound strip of scene '{scene.name}'")
        path = bpy.path.abspath(strip.sound.filepath, library=strip.sound.library)
    elif settings.audio_path:
        path = bpy.path.abspath(settings.audio_path)
    else:
        raise ValueError("no audio file chosen")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such audio file")
    return path


def session_state(context) -> LM2DSessionState:
    return context.window_manager.lm2d


# --- the bone map on a retarget target armature ------------------------------------------------

class LM2DBonePair(bpy.types.PropertyGroup):
    source: StringProperty(name="Source Bone", description="Bone of the source armature (the SMPL dancer)")
    target: StringProperty(name="Target Bone", description="Bone of this armature that follows it")


def _is_armature(_owner, obj) -> bool:
    return obj.type == 'ARMATURE'


def bone_map_pairs(obj) -> list[tuple[str, str]]:
    """The object's bone map as (source, target) pairs; rows with an empty side are skipped."""
    return [(pair.source, pair.target) for pair in obj.lm2d_bone_map if pair.source and pair.target]


def set_bone_map(obj, pairs) -> None:
    obj.lm2d_bone_map.clear()
    for source, target in pairs:
        pair = obj.lm2d_bone_map.add()
        pair.source, pair.target = source, target
    obj.lm2d_bone_map_index = 0


def retarget_source(context, target):
    """The armature the target's map reads from: the one chosen, else the scene's only SMPL dancer."""
    if target.lm2d_retarget_source is not None:
        return target.lm2d_retarget_source
    dancers = [obj for obj in context.scene.objects if obj != target and armature_skeleton(obj) is not None]
    return dancers[0] if len(dancers) == 1 else None


def retarget_target(context):
    """The armature retargeting works on: the active one, in Object Mode."""
    obj = context.active_object
    return obj if obj is not None and obj.type == 'ARMATURE' and context.mode == 'OBJECT' else None


def register() -> None:
    bpy.utils.register_class(LM2DSceneSettings)
    bpy.utils.register_class(LM2DSessionState)
    bpy.utils.register_class(LM2DBonePair)
    bpy.types.Scene.lm2d = bpy.props.PointerProperty(type=LM2DSceneSettings)
    bpy.types.WindowManager.lm2d = bpy.props.PointerProperty(type=LM2DSessionState)
    bpy.types.Object.lm2d_bone_map = bpy.props.CollectionProperty(
        type=LM2DBonePair, name="Bone Map",
        description="Which source bone drives which bone of this armature when a take is retargeted")
    bpy.types.Object.lm2d_bone_map_index = bpy.props.IntProperty(name="Bone Pair", default=0, min=0)
    bpy.types.Object.lm2d_retarget_source = bpy.props.PointerProperty(
        type=bpy.types.Object, name="Source Armature", poll=_is_armature,
        description="Armature whose take is retargeted onto this one (default: the scene's only SMPL dancer)")


def unregister() -> None:
    del bpy.types.Object.lm2d_retarget_source
    del bpy.types.Object.lm2d_bone_map_index
    del bpy.types.Object.lm2d_bone_map
    del bpy.types.WindowManager.lm2d
    del bpy.types.Scene.lm2d
    bpy.utils.unregister_class(LM2DBonePair)
    bpy.utils.unregister_class(LM2DSessionState)
    bpy.utils.unregister_class(LM2DSceneSettings)
