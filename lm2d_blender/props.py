"""Per-scene settings and job state of the Dance panel (Scene.lm2d)."""
from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .armature import armature_skeleton
from .body import show_bodies
from .lyrics_track import LYRICS_CHANNEL, text_strips_in_channel, top_level_strips
from .song_range import song_frame_range

TARGET_ITEMS = [
    ('ACTIVE', "Active Armature",
     "Key the active armature when it has the SMPL bones, otherwise create a new SMPL armature"),
    ('NEW', "New Armature", "Create a new SMPL armature for every take"),
]


def _song_chosen(settings, context) -> None:
    from . import warm_start   # (imported here: warm_start needs this module's properties)

    warm_start.request(context)   # the server prepares the song's features while the user sets up


LYRICS_ITEMS = [('FILE', "File", "A lyrics file with timing (LRC or UltraStar)"),
                ('STRIPS', "Text Strips", "Text strips of one Video Sequencer channel, one per lyric line"),
                ('NONE', "None", "Dance to the music alone")]
UNSET = -2**31   # (the lowest int) a stored choice the user has not made yet: the getters below supply the default


def _get_lyrics_source(self) -> int:
    """The user's choice; until they make one, Text Strips when the lyrics channel has any, else
    None (a File with no path would fail the first Generate)."""
    if self.lyrics_source_choice != UNSET:
        return self.lyrics_source_choice
    has_strips = any(strip.text.strip() for strip in text_strips_in_channel(self.id_data, self.lyrics_channel))
    return 1 if has_strips else 2


def _set_lyrics_source(self, value: int) -> None:
    self.lyrics_source_choice = value


def _song_range(self) -> tuple[int, int]:
    """The chosen song's first and last frame; 1–250 while no readable song is chosen."""
    try:
        return song_frame_range(self.id_data, audio_path_of(self.id_data)) or (1, 250)
    except ValueError:
        return 1, 250


def _get_range_start(self) -> int:
    return self.range_start_choice if self.range_start_choice != UNSET else _song_range(self)[0]


def _set_range_start(self, value: int) -> None:
    self.range_start_choice = value


def _get_range_end(self) -> int:
    return self.range_end_choice if self.range_end_choice != UNSET else _song_range(self)[1]


def _set_range_end(self, value: int) -> None:
    self.range_end_choice = value


def _show_bodies(settings, context) -> None:
    show_bodies(context, settings.show_mannequin)


class LM2DSceneSettings(bpy.types.PropertyGroup):
    audio_source: EnumProperty(
        name="Audio", description="Where the song comes from",
        items=[('FILE', "File", "An audio file on disk"),
               ('STRIP', "Sound Strip", "A sound strip of this scene's Video Sequencer")])
    audio_path: StringProperty(name="Audio File", description="Song to dance to (any format librosa reads)",
                               subtype='FILE_PATH', update=_song_chosen)
    audio_strip: StringProperty(name="Sound Strip", description="Sound strip whose file is the song",
                                update=_song_chosen)
    lyrics_source: EnumProperty(
        name="Lyrics", description="Where the timed lyrics come from (until chosen: the sequencer's text "
                                   "strips when the lyrics channel has any, otherwise none)",
        items=LYRICS_ITEMS, get=_get_lyrics_source, set=_set_lyrics_source)
    lyrics_source_choice: IntProperty(default=UNSET, options={'HIDDEN'})
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
        name="Steps", description="Sampling steps of the distilled model (the shipped one is best at 1)",
        items=[('1', "1", "One network evaluation: fastest, and the shipped model's most lyric gestures"),
               ('2', "2", "Two evaluations: a little smoother, fewer lyric gestures"),
               ('4', "4", "Four evaluations: smoother still, fewer gestures again")],
        default='1')
    music_guidance: FloatProperty(name="Music Guidance", description="How strongly the dance follows the music "
                                  "(a diffusion model only: a distilled model's guidance is fixed)",
                                  default=3.0, min=0.0, soft_max=10.0)
    lyrics_guidance: FloatProperty(name="Lyrics Guidance", description="How strongly the dance follows the lyrics "
                                   "(a diffusion model only: a distilled model's guidance is fixed)",
                                   default=6.0, min=0.0, soft_max=10.0)
    # 0.15 = lm2d.motion.retime.DEFAULT_STRENGTH (the add-on cannot import the server package).
    beat_accent: FloatProperty(name="Beat Accent", description="How firmly the body settles on each beat "
                               "(a retiming: poses are unchanged; 0 keeps the model's own timing)",
                               default=0.15, min=0.0, max=0.9, subtype='FACTOR')
    foot_lock: BoolProperty(name="Lock Feet", description="Planted feet stay where the dance put them down, on the floor "
                            "(the legs reach them by IK); off keeps the model's feet as they are, sliding a little",
                            default=True)
    # 1.0 = lm2d.structure.repeat.DEFAULT_STRENGTH.
    repeat_sections: FloatProperty(name="Repeat Sections", description="Repeated sections (every chorus, ...) "
                                   "dance alike: 1 the same moves, 0 off, in between a variation of them",
                                   default=1.0, min=0.0, max=1.0, subtype='FACTOR')
    apply_to_repeats: BoolProperty(name="Apply to All Repeats", description="Regenerate Range and Keep Lower Body also redo the "
                                   "same part of every other occurrence of the range's section (every chorus)",
                                   default=False)
    dance_seconds: FloatProperty(
        name="Dance Length", description="How much of the song to dance, from its start (0: all of it); "
                                         "Continue Dance extends a take later",
        default=0.0, min=0.0, soft_max=600.0, unit='TIME_ABSOLUTE')
    range_start: IntProperty(name="Start", description="First frame of the range to edit (until set: the song's "
                             "first frame)", get=_get_range_start, set=_set_range_start)
    range_start_choice: IntProperty(default=UNSET, options={'HIDDEN'})
    range_end: IntProperty(name="End", description="Last frame of the range to edit (until set: the song's "
                           "last frame)", get=_get_range_end, set=_set_range_end)
    range_end_choice: IntProperty(default=UNSET, options={'HIDDEN'})
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
    warmup: StringProperty(name="Warm-up", description="How far the dance server has warmed up "
                                                       "(it starts when the Dance panel is first shown)")
    default_model_kind: StringProperty(name="Default Model Kind",
                                       description="Kind of the model shipped with lm2d (diffusion or "
                                                   "consistency), as the server last reported it")


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
