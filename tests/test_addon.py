"""The add-on as Blender sees it: registration, operators, preferences, settings and the sequencer
lyric track, in real bpy (background mode)."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest

from blender_scenes import make_result, save_result

import lm2d_blender
from lm2d_blender import panel, prefs
from lm2d_blender.armature import armature_skeleton
from lm2d_blender.lyrics_track import segments_to_text_strips, sound_strip_for, text_strips_to_segments
from lm2d_blender.props import audio_path_of
from lm2d_blender.skeleton import shipped_skeleton
from lm2d_blender.takes import TAKE_PROP

REPO = Path(__file__).resolve().parents[1]
OPERATOR_CLASSES = ("LM2D_OT_add_smpl_armature", "LM2D_OT_load_take")
PANEL_CLASSES = ("VIEW3D_PT_lm2d_dance", "VIEW3D_PT_lm2d_generate", "VIEW3D_PT_lm2d_takes")
MENU_HOOKS = ("VIEW3D_MT_armature_add", "TOPBAR_MT_file_import", "VIEW3D_MT_object")


def registered(base, name: str) -> bool:
    return base.bl_rna_get_subclass_py(name) is not None


def menu_draw_functions(menu_name: str) -> list:
    return list(getattr(getattr(bpy.types, menu_name).draw, "_draw_funcs", []))


def lm2d_menu_hooks() -> list:
    return [f for menu in MENU_HOOKS for f in menu_draw_functions(menu) if f.__module__.startswith("lm2d_blender")]


@pytest.fixture()
def addon():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    lm2d_blender.register()
    yield lm2d_blender
    lm2d_blender.unregister()


def test_register_unregister_register_leaves_nothing_behind():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for _ in range(2):
        lm2d_blender.register()
        assert all(registered(bpy.types.Operator, name) for name in OPERATOR_CLASSES)
        assert all(registered(bpy.types.Panel, name) for name in PANEL_CLASSES)
        assert registered(bpy.types.AddonPreferences, "LM2DPreferences")
        assert bpy.context.scene.lm2d.steps == '1'
        assert len(lm2d_menu_hooks()) >= 3
        lm2d_blender.unregister()
        assert not any(registered(bpy.types.Operator, name) for name in OPERATOR_CLASSES)
        assert not any(registered(bpy.types.Panel, name) for name in PANEL_CLASSES)
        assert not registered(bpy.types.Menu, "VIEW3D_MT_lm2d_dance")
        assert not registered(bpy.types.AddonPreferences, "LM2DPreferences")
        assert not hasattr(bpy.types.Scene, "lm2d")
        assert lm2d_menu_hooks() == []


def test_operators_have_tooltips_and_a_menu_entry(addon):
    """Every LM2D operator (this module's and any other registered one) has a tooltip and sits in
    Object › Dance, which F3 menu search finds."""
    lm2d_operators = [cls for cls in bpy.types.Operator.__subclasses__()
                      if cls.__module__.startswith("lm2d_blender") and panel.operator_registered(cls.bl_idname)]
    assert {cls.__name__ for cls in lm2d_operators} >= set(OPERATOR_CLASSES)
    menu_idnames = {entry[0] for entry in panel.MENU_ENTRIES if entry}
    for cls in lm2d_operators:
        assert cls.bl_description and not cls.bl_description.endswith(" "), cls.__name__
        assert cls.bl_idname in menu_idnames, cls.__name__
        assert 'REGISTER' in cls.bl_options, cls.__name__
    for name in OPERATOR_CLASSES:   # these change the scene in one go: one undo step each
        assert 'UNDO' in bpy.types.Operator.bl_rna_get_subclass_py(name).bl_options
    assert not panel.operator_registered("lm2d.no_such_operator")


def test_shipped_skeleton_equals_the_servers():
    from lm2d.motion import skeleton as server_skeleton

    shipped = shipped_skeleton()
    assert shipped.joint_names == tuple(server_skeleton.JOINT_NAMES)
    assert shipped.parents == tuple(server_skeleton.PARENTS)
    np.testing.assert_allclose(shipped.rest_positions, server_skeleton.rest_positions(), rtol=0, atol=1e-6)


def test_add_smpl_armature_operator(addon):
    bpy.context.scene.cursor.location = (1.0, 2.0, 0.0)
    assert bpy.ops.lm2d.add_smpl_armature() == {'FINISHED'}
    obj = bpy.context.active_object
    assert obj.type == 'ARMATURE' and armature_skeleton(obj).joint_names == shipped_skeleton().joint_names
    assert tuple(obj.location) == (1.0, 2.0, 0.0)
    assert sum(1 for o in bpy.data.objects if o.parent == obj) == 16  # the mannequin's parts
    assert bpy.ops.lm2d.add_smpl_armature(preview_mesh=False) == {'FINISHED'}
    assert not any(o.parent == bpy.context.active_object for o in bpy.data.objects)
    # Undo: Ctrl+Z needs a window; in background mode ed.undo cannot run, so undo is covered by
    # bl_options {'UNDO'} (checked above) and by the interactive check in the README.
    assert not bpy.ops.ed.undo.poll()


def test_load_take_operator_new_then_active(addon, tmp_path):
    path = save_result(tmp_path / "song.npz", make_result(frames=24, seed=11))
    assert bpy.ops.lm2d.load_take(filepath=path, target='NEW') == {'FINISHED'}
    dancer = bpy.context.active_object
    assert armature_skeleton(dancer) is not None
    assert dancer.animation_data.action[TAKE_PROP] == 1
    assert bpy.ops.lm2d.load_take(filepath=path, target='ACTIVE', start_frame=101) == {'FINISHED'}
    assert bpy.context.active_object == dancer     # the active SMPL armature got the second take
    assert [track.name for track in dancer.animation_data.nla_tracks] == ["LM2D take 1", "LM2D take 2"]
    # The factory scene runs at 24 fps: 24 frames at 30 fps become round(24 · 24 / 30) = 19.
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (101, 119)


def test_load_take_reports_a_bad_file_by_name(addon, tmp_path):
    bad = tmp_path / "broken.npz"
    np.savez(bad, fps=np.float64(30))
    with pytest.raises(RuntimeError, match=r"broken\.npz: missing key\(s\) joint_names"):
        bpy.ops.lm2d.load_take(filepath=str(bad), target='NEW')
    assert not bpy.data.objects and not bpy.data.actions


def test_preferences_and_results_folder(addon, tmp_path, monkeypatch):
    assert prefs.LM2DPreferences.bl_idname == "lm2d_blender"
    assert prefs.addon_preferences(bpy.context) is None   # registered from source, not enabled as an add-on
    assert {item.identifier for item in prefs.LM2DPreferences.bl_rna.properties["device"].enum_items} \
        == {'AUTO', 'CPU', 'CUDA'}
    # Registered from source, results go to Blender's user data folder (here a private one),
    # created on first use and writable.
    monkeypatch.setenv("BLENDER_USER_DATAFILES", str(tmp_path / "datafiles"))
    folder = prefs.results_dir()
    assert Path(folder) == tmp_path / "datafiles" / "lm2d_blender" / "results" and Path(folder).is_dir()
    (Path(folder) / "take.npz").write_bytes(b"")


# --- the sequencer lyric track --------------------------------------------------------------

def test_lyrics_to_text_strips_and_back(addon):
    scene = bpy.context.scene
    scene.render.fps = 30
    segments = [{"start": 0.0, "end": 1.5, "text": "So we run"},
                {"start": 1.5, "end": 2.0, "text": "on the run"},
                {"start": 4.0, "end": 6.1, "text": "ünïcode — and a longer line of lyrics"}]
    strips = segments_to_text_strips(scene, segments, channel=3)
    assert [strip.frame_final_start for strip in strips] == [1, 46, 121]
    back = text_strips_to_segments(scene, channel=3)
    assert [s["text"] for s in back] == [s["text"] for s in segments]
    for got, want in zip(back, segments):
        assert got["start"] == pytest.approx(want["start"], abs=1e-9)
        assert got["end"] == pytest.approx(want["end"], abs=1e-9)
    # A re-import replaces the channel's text strips; other channels are left alone.
    segments_to_text_strips(scene, segments[:1], channel=4)
    segments_to_text_strips(scene, segments[1:], channel=3)
    assert [s["text"] for s in text_strips_to_segments(scene, channel=3)] == [s["text"] for s in segments[1:]]
    assert [s["text"] for s in text_strips_to_segments(scene, channel=4)] == ["So we run"]


def test_lyric_times_snap_to_frames_at_other_rates(addon):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30000, 1001    # 29.97
    segments = [{"start": 0.37, "end": 1.91, "text": "one"}, {"start": 2.0, "end": 2.001, "text": "blink"}]
    segments_to_text_strips(scene, segments, channel=2)
    back = text_strips_to_segments(scene, channel=2)
    fps = 30000 / 1001
    assert len(back) == 2
    for got, want in zip(back, segments):
        assert abs(got["start"] - want["start"]) <= 0.5 / fps
        assert got["end"] > got["start"]   # a line is at least one frame long


def test_sound_strip_is_added_once_and_feeds_the_audio_setting(addon, shared_data):
    scene = bpy.context.scene
    song = shared_data / "music" / "sorohanro_-_solo-trumpet-06.ogg"
    strip = sound_strip_for(scene, str(song))
    assert strip.type == 'SOUND' and strip.frame_final_start == 1
    assert sound_strip_for(scene, str(song)) == strip
    settings = scene.lm2d
    settings.audio_source = 'STRIP'
    settings.audio_strip = strip.name
    assert audio_path_of(scene) == str(song)
    settings.audio_strip = "nothing"
    with pytest.raises(ValueError, match="'nothing' is not a sound strip"):
        audio_path_of(scene)
    settings.audio_source = 'FILE'
    settings.audio_path = str(song.with_name("missing.ogg"))
    with pytest.raises(ValueError, match="missing.ogg: no such audio file"):
        audio_path_of(scene)
    with pytest.raises(FileNotFoundError, match="missing.ogg"):
        sound_strip_for(scene, str(song.with_name("missing.ogg")))


def test_panel_guidance_accent_and_steps_defaults_are_the_servers(addon):
    """The add-on cannot import lm2d, so its guidance, beat accent and steps defaults are copies
    (steps: of the shipped model's own default): keep them equal."""
    from lm2d.model.diffusion import LYRICS_GUIDANCE, MUSIC_GUIDANCE
    from lm2d.motion.retime import DEFAULT_STRENGTH
    from lm2d.pipeline import load_model
    from lm2d.sampling.song import default_steps

    settings = bpy.context.scene.lm2d
    assert (settings.music_guidance, settings.lyrics_guidance) == (MUSIC_GUIDANCE, LYRICS_GUIDANCE)
    assert settings.beat_accent == pytest.approx(DEFAULT_STRENGTH)
    assert settings.steps == str(default_steps(load_model(None, "cpu")))


# --- honest controls -----------------------------------------------------------------------------

def test_lyrics_default_to_the_sequencers_text_strips_else_none(addon):
    scene = bpy.context.scene
    settings = scene.lm2d
    assert settings.lyrics_source == 'NONE'          # a File with no path would fail the first Generate
    segments_to_text_strips(scene, [{"start": 0.0, "end": 1.0, "text": "la la"}], channel=settings.lyrics_channel)
    assert settings.lyrics_source == 'STRIPS'
    settings.lyrics_channel += 1                     # nothing in that channel
    assert settings.lyrics_source == 'NONE'
    settings.lyrics_source = 'FILE'                  # the user's choice stays, whatever the sequencer holds
    settings.lyrics_channel -= 1
    assert settings.lyrics_source == 'FILE'


def test_edit_range_defaults_to_the_chosen_songs_frames(addon, shared_data):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    settings = scene.lm2d
    assert (settings.range_start, settings.range_end) == (1, 250)     # no song chosen yet
    settings.audio_source, settings.audio_path = 'FILE', str(shared_data / "music" / "sorohanro_-_solo-trumpet-06.ogg")
    assert (settings.range_start, settings.range_end) == (1, 161)     # 5.33 s: lm2d's 161 frames at 30 FPS
    strip = sound_strip_for(scene, settings.audio_path, start_frame=11)
    settings.audio_source, settings.audio_strip = 'STRIP', strip.name
    assert (settings.range_start, settings.range_end) == (11, 171)
    scene.render.fps = 60
    assert (settings.range_start, settings.range_end) == (11, 332)
    settings.range_start = 40                                          # set by the user: kept
    assert (settings.range_start, settings.range_end) == (40, 332)


def test_guidance_is_baked_only_for_a_distilled_model(addon):
    from lm2d_blender.model_kind import checkpoint_kind, guidance_is_baked, remember_loaded
    from lm2d_blender.server_session import ServerSettings, use_settings

    checkpoints = REPO / "server" / "lm2d" / "checkpoints"
    assert checkpoint_kind(str(checkpoints / "default")) == "consistency"
    assert checkpoint_kind(str(checkpoints / "teacher" / "model.safetensors")) == "diffusion"
    assert checkpoint_kind(str(REPO)) is None
    try:
        use_settings(ServerSettings("python", str(checkpoints / "default")))
        assert guidance_is_baked(bpy.context)
        use_settings(ServerSettings("python", str(checkpoints / "teacher")))
        assert not guidance_is_baked(bpy.context)
        use_settings(ServerSettings("python"))      # the shipped default: unknown until the server says
        assert not guidance_is_baked(bpy.context)
        # ... or until found on disk beside the interpreter's lm2d (here: a checkout's .venv, editable)
        use_settings(ServerSettings(str(REPO / ".venv" / "bin" / "python")))
        assert guidance_is_baked(bpy.context)
        use_settings(ServerSettings("python"))
        remember_loaded(bpy.context, None, {"type": "loaded", "kind": "consistency"})
        assert guidance_is_baked(bpy.context)
    finally:
        use_settings(None)


def test_generate_panel_greys_out_guidance_for_a_distilled_model(addon):
    from types import SimpleNamespace

    from lm2d_blender.model_kind import BAKED_GUIDANCE
    from lm2d_blender.server_session import ServerSettings, use_settings
    from test_server_env import RecordingLayout

    checkpoints = REPO / "server" / "lm2d" / "checkpoints"
    drawn = {}
    try:
        for name in ("default", "teacher"):
            use_settings(ServerSettings("python", str(checkpoints / name)))
            shown: list = []
            panel.VIEW3D_PT_lm2d_generate.draw(SimpleNamespace(layout=RecordingLayout(shown)), bpy.context)
            drawn[name] = shown
    finally:
        use_settings(None)
    for name, baked in (("default", True), ("teacher", False)):
        guidance = [item[2] for item in drawn[name] if item[:2] in (("prop", "music_guidance"), ("prop", "lyrics_guidance"))]
        assert len(guidance) == 2 and all(layout.enabled is not baked for layout in guidance), name
        assert (("label", BAKED_GUIDANCE, 'INFO') in drawn[name]) is baked, name
        seed = next(item[2] for item in drawn[name] if item[:2] == ("prop", "seed"))
        assert seed.enabled   # the other settings stay live
