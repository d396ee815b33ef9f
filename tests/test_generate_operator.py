"""The add-on's server operators end to end in real bpy (background mode): a real `python -m
lm2d.server` subprocess with a tiny untrained checkpoint, real songs and lyrics.

Background mode has no event loop, so the operators run through execute(), which drives the same
job to its end that the modal invoke() drives from a timer; cancelling is driven step by step.
One server serves the whole module (as one serves a Blender session)."""
from __future__ import annotations

import dataclasses
import sys

import bpy
import numpy as np
import pytest

from blender_scenes import keys_of, posed_heads, take_fcurves
from dance_data import write_tiny_checkpoint

import lm2d_blender
from lm2d_blender import jobs, server_session
from lm2d_blender.generation_settings import InputError, scene_generation_settings
from lm2d_blender.jobs import CANCELLED, RUNNING, STAGES, start_generation
from lm2d_blender.lyrics_track import segments_to_text_strips, text_strips_in_channel, top_level_strips
from lm2d_blender.result_file import read_result
from lm2d_blender.server_session import ServerSettings
from lm2d_blender.skeleton import shipped_skeleton
from lm2d_blender.takes import (TAKE_AUDIO_PROP, TAKE_PROP, TAKE_SOURCE_PROP, TAKE_START_PROP, current_take,
                                model_frame_range, panel_range_edit, take_edit_settings)

SONG = "music/sorohanro_-_solo-trumpet-06.ogg"       # 5.3 s: 161 frames at 30 FPS
LONG_SONG = "music/Kevin_MacLeod_-_Vibe_Ace.ogg"     # 61.5 s: long enough to cancel halfway
SONG_FRAMES = 161
LINES = [{"start": 0.4, "end": 2.0, "text": "Blow the horn"}, {"start": 2.5, "end": 4.5, "text": "hear it ring"}]


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory, shared_data):
    """A tiny checkpoint; the server gets its own feature cache and one thread (the machine is shared)."""
    root = tmp_path_factory.mktemp("server")
    checkpoint = write_tiny_checkpoint(root / "tiny", shared_data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LM2D_CACHE", str(root / "cache"))   # the server copies this environment at start
        patch.setenv("OMP_NUM_THREADS", "1")
        lm2d_blender.register()
        yield ServerSettings(sys.executable, str(checkpoint), "cpu")
        lm2d_blender.unregister()                         # stops the server
    server_session.use_settings(None)


@pytest.fixture()
def addon(server_settings, tmp_path, monkeypatch):
    """A fresh scene at 30 fps; results go to tmp_path instead of Blender's user folder."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0
    server_session.use_settings(server_settings)
    monkeypatch.setattr(jobs, "results_dir", lambda: str(tmp_path))
    return bpy.context


def use_song(context, shared_data, song=SONG, lyrics='NONE'):
    settings = context.scene.lm2d
    settings.audio_source, settings.audio_path = 'FILE', str(shared_data / song)
    settings.lyrics_source, settings.target = lyrics, 'ACTIVE'
    settings.steps = '2'


def add_user_animation(context):
    """What a user already has: a keyed object of their own, a marker and a frame range."""
    cube = bpy.data.objects.new("User Cube", bpy.data.meshes.new("User Cube"))
    context.scene.collection.objects.link(cube)
    for frame, height in ((1, 0.0), (40, 2.0)):
        cube.location.z = height
        cube.keyframe_insert("location", index=2, frame=frame)
    context.scene.timeline_markers.new("user marker", frame=12)
    context.scene.frame_start, context.scene.frame_end = 5, 77
    return cube


def action_values(action) -> dict:
    return {(fcurve.data_path, fcurve.array_index): keys_of(fcurve).tolist() for fcurve in take_fcurves(None, action)}


def blend_snapshot(context) -> dict:
    """Everything a generation could leave behind in the file."""
    scene = context.scene
    editor = scene.sequence_editor
    return {
        "ids": {name: sorted(getattr(bpy.data, name).keys())
                for name in ("objects", "collections", "actions", "armatures", "meshes", "sounds")},
        "scene objects": sorted(obj.name for obj in scene.collection.all_objects),
        "keys": {action.name: action_values(action) for action in bpy.data.actions},
        "animation": {obj.name: (obj.animation_data.action.name if obj.animation_data.action else None,
                                 [track.name for track in obj.animation_data.nla_tracks])
                      for obj in bpy.data.objects if obj.animation_data},
        "frame range": (scene.frame_start, scene.frame_end),
        "markers": sorted((marker.name, marker.frame) for marker in scene.timeline_markers),
        "strips": sorted(strip.name for strip in top_level_strips(editor)) if editor else [],
        "active": context.view_layer.objects.active.name if context.view_layer.objects.active else None,
    }


def bone_channels(action, bone: str, channel: str) -> np.ndarray:
    """(frames, components) key values of one bone channel."""
    path = f'pose.bones["{bone}"].{channel}'
    fcurves = sorted((fc for fc in take_fcurves(None, action) if fc.data_path == path), key=lambda fc: fc.array_index)
    return np.stack([keys_of(fc)[:, 1] for fc in fcurves], axis=1)


def same_rotations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame: do quaternions a and b (T, 4) give the same rotation (q and -q do)?"""
    return np.abs(np.sum(a * b, axis=1)) > 1 - 1e-5


def generate_take(context):
    assert bpy.ops.lm2d.generate() == {'FINISHED'}
    return context.active_object, current_take(context.active_object)


# --- server and lyrics -------------------------------------------------------------------------

def test_without_an_interpreter_generation_says_where_to_set_it(addon, shared_data):
    """Runs first: the session is then restarted with the real interpreter (the module's server)."""
    server_session.use_settings(ServerSettings("/nonexistent/bin/python3"))
    use_song(addon, shared_data)
    add_user_animation(addon)
    before = blend_snapshot(addon)
    with pytest.raises(RuntimeError, match="nonexistent/bin/python3: the server's Python interpreter was not "
                                           "found; set it in the add-on preferences"):
        bpy.ops.lm2d.generate()
    assert blend_snapshot(addon) == before
    assert not addon.window_manager.lm2d.is_running and bpy.ops.lm2d.generate.poll()


def test_check_server_shows_torch_device_and_model(addon):
    import torch

    assert bpy.ops.lm2d.check_server() == {'FINISHED'}
    server = addon.window_manager.lm2d.server
    assert f"torch {torch.__version__}" in server and "CPU" in server and "model tiny (diffusion)" in server


def test_import_lyrics_lays_out_the_servers_lines_as_text_strips(addon, shared_data):
    from lm2d.lyrics import load_lyrics

    song = shared_data / "songs" / "on_the_run"
    use_song(addon, shared_data, song="songs/on_the_run/audio.ogg")
    addon.scene.lm2d.lyrics_channel = 3
    assert bpy.ops.lm2d.import_lyrics(filepath=str(song / "song.txt")) == {'FINISHED'}
    strips = text_strips_in_channel(addon.scene, 3)
    expected = load_lyrics(song / "song.txt").segments
    assert [strip.text for strip in strips] == [segment.text for segment in expected]
    assert [strip.frame_final_start for strip in strips] == [1 + round(segment.start * 30) for segment in expected]
    assert strips[0].frame_final_start == 1 + round(11.25 * 30)   # "So" starts at 11.25 s
    assert addon.scene.lm2d.lyrics_source == 'STRIPS'             # the next generation dances to them


# --- generating ----------------------------------------------------------------------------------

def test_generate_keys_a_take_from_song_and_lyric_strips(addon, shared_data):
    use_song(addon, shared_data, lyrics='STRIPS')
    segments_to_text_strips(addon.scene, LINES, channel=addon.scene.lm2d.lyrics_channel)
    cube = add_user_animation(addon)
    user_keys = action_values(cube.animation_data.action)

    dancer, take = generate_take(addon)

    assert dancer.name == "LM2D Dancer" and take[TAKE_PROP] == 1
    bones = shipped_skeleton().joint_names
    fcurves = take_fcurves(dancer, take)
    assert len(fcurves) == 24 * 4 + 3   # a quaternion per bone and the pelvis location
    assert {fc.data_path.split('"')[1] for fc in fcurves} == set(bones)
    for fcurve in fcurves:   # a key on every frame of the song
        np.testing.assert_array_equal(keys_of(fcurve)[:, 0], np.arange(1, SONG_FRAMES + 1))
    assert (addon.scene.frame_start, addon.scene.frame_end) == (1, SONG_FRAMES)

    # The take poses the armature as the server's result file says.
    result = read_result(take[TAKE_SOURCE_PROP])
    for frame in (1, 80, SONG_FRAMES):
        np.testing.assert_allclose(posed_heads(dancer, frame), result["joint_positions"][frame - 1], atol=1e-3)
    assert take[TAKE_AUDIO_PROP] == str(shared_data / SONG)
    sounds = [s for s in top_level_strips(addon.scene.sequence_editor) if s.type == 'SOUND']
    assert len(sounds) == 1 and bpy.path.abspath(sounds[0].sound.filepath) == str(shared_data / SONG)
    markers = {marker.name: marker.frame for marker in addon.scene.timeline_markers}
    assert markers["Blow the horn"] == 1 + round(0.4 * 30) and markers["hear it ring"] == 1 + round(2.5 * 30)

    # The user's own animation is untouched; the panel shows the finished job.
    assert action_values(cube.animation_data.action) == user_keys
    state = addon.window_manager.lm2d
    assert not state.is_running and state.progress == 1.0 and state.status == "LM2D take 1 ready"

    # Generating again with the dancer active adds a second take on its own NLA track.
    assert bpy.ops.lm2d.generate() == {'FINISHED'}
    assert [track.name for track in dancer.animation_data.nla_tracks] == ["LM2D take 1", "LM2D take 2"]


def test_a_failing_generation_changes_nothing_and_names_the_file(addon, shared_data, tmp_path):
    corrupt = tmp_path / "corrupt.ogg"
    corrupt.write_bytes(b"OggS" + bytes(range(256)) * 40)
    use_song(addon, shared_data)
    addon.scene.lm2d.audio_path = str(corrupt)
    add_user_animation(addon)
    before = blend_snapshot(addon)
    with pytest.raises(RuntimeError, match="corrupt.ogg"):
        bpy.ops.lm2d.generate()
    assert blend_snapshot(addon) == before
    state = addon.window_manager.lm2d
    assert not state.is_running and state.status.startswith("Failed:") and "corrupt.ogg" in state.status


def test_cancel_mid_generation_changes_nothing(addon, shared_data, tmp_path):
    use_song(addon, shared_data, song=LONG_SONG)
    add_user_animation(addon)
    before = blend_snapshot(addon)
    output = tmp_path / "cancelled.npz"
    settings = dataclasses.replace(scene_generation_settings(addon), steps=50)
    job = start_generation(addon, settings, output=str(output))
    state = addon.window_manager.lm2d
    stage_labels = {label for _, _, label in STAGES.values()}
    while job.step(addon, wait=0.1) == RUNNING and state.status not in stage_labels:
        pass   # until the server reports work on this song
    assert job.state == RUNNING and state.is_running
    assert bpy.ops.lm2d.cancel() == {'FINISHED'}
    assert job.run_to_end(addon) == CANCELLED
    job.finish(addon)
    assert blend_snapshot(addon) == before
    assert not output.exists()
    assert not state.is_running and state.status == "Cancelled"
    assert not bpy.ops.lm2d.cancel.poll() and bpy.ops.lm2d.generate.poll()


# --- editing a take ------------------------------------------------------------------------------

def test_edit_ranges_go_from_scene_frames_to_the_result_files_frames():
    # A take starting at frame 1, played at 24 fps: scene frames 40..80 cover 39/24 s up to 80/24 s,
    # which are frames 48.75 (rounded: 49) up to 100 at 30 FPS.
    assert model_frame_range(40, 80, 1, 24.0, 161, 30.0) == (49, 100)
    assert model_frame_range(40, 80, 1, 30.0, 161, 30.0) == (39, 80)
    assert model_frame_range(40, 80, 1, 30.0, 161, 60.0) == (78, 160)  # counted in the result file's frames
    assert model_frame_range(-10, 1000, 1, 30.0, 161, 30.0) == (0, 161)      # clipped to the take
    with pytest.raises(InputError, match="do not overlap the take"):
        model_frame_range(200, 300, 1, 30.0, 161, 30.0)


def test_regenerate_range_keeps_every_frame_outside_it(addon, shared_data):
    use_song(addon, shared_data)
    dancer, first = generate_take(addon)
    addon.scene.lm2d.range_start, addon.scene.lm2d.range_end = 40, 80
    addon.scene.lm2d.beat_accent = 0.5
    request = take_edit_settings(addon, panel_range_edit(addon)).request_fields("out.npz")
    assert request["edit"] == {"motion": first[TAKE_SOURCE_PROP], "regenerate": [39, 80]}
    assert request["beat_accent"] == 0.5 and request["foot_lock"] is True
    assert request["audio"] == str(shared_data / SONG) and "end_seconds" not in request

    assert bpy.ops.lm2d.regenerate_range() == {'FINISHED'}
    second = current_take(dancer)
    assert second != first and second[TAKE_PROP] == 2 and second[TAKE_START_PROP] == 1
    outside = np.r_[0:39, 80:SONG_FRAMES]   # key indices of scene frames 1..39 and 81..161
    for bone in shipped_skeleton().joint_names:
        same = same_rotations(bone_channels(first, bone, "rotation_quaternion"),
                              bone_channels(second, bone, "rotation_quaternion"))
        assert same[outside].all(), bone
    np.testing.assert_allclose(bone_channels(second, "pelvis", "location")[outside],
                               bone_channels(first, "pelvis", "location")[outside], atol=1e-5)
    inside_changed = [not same_rotations(bone_channels(first, bone, "rotation_quaternion")[39:80],
                                         bone_channels(second, bone, "rotation_quaternion")[39:80]).all()
                      for bone in shipped_skeleton().joint_names]
    assert any(inside_changed)


def test_keep_lower_body_keeps_the_legs_and_dances_the_rest_anew(addon, shared_data):
    from lm2d.sampling import LOWER_BODY

    use_song(addon, shared_data)
    dancer, first = generate_take(addon)
    addon.scene.lm2d.range_start, addon.scene.lm2d.range_end = 1, SONG_FRAMES
    assert bpy.ops.lm2d.keep_lower_body() == {'FINISHED'}
    second = current_take(dancer)
    for bone in shipped_skeleton().joint_names:
        same = same_rotations(bone_channels(first, bone, "rotation_quaternion"),
                              bone_channels(second, bone, "rotation_quaternion"))
        assert same.all() == (bone in LOWER_BODY), bone
    np.testing.assert_allclose(bone_channels(second, "pelvis", "location"),
                               bone_channels(first, "pelvis", "location"), atol=1e-5)


def test_continue_extends_the_take_and_keeps_what_was_there(addon, shared_data):
    use_song(addon, shared_data)
    addon.scene.lm2d.dance_seconds = 3.0
    dancer, first = generate_take(addon)
    assert addon.scene.frame_end == 90
    addon.scene.lm2d.continue_seconds = 1.5
    assert getattr(bpy.ops.lm2d, "continue")() == {'FINISHED'}   # `continue` is a Python keyword
    second = current_take(dancer)
    assert len(keys_of(take_fcurves(dancer, second)[0])) == 135 and addon.scene.frame_end == 135
    for bone in ("pelvis", "left_knee", "right_wrist", "head"):
        assert same_rotations(bone_channels(first, bone, "rotation_quaternion"),
                              bone_channels(second, bone, "rotation_quaternion")[:90]).all(), bone


def test_continue_is_disabled_when_the_take_reaches_the_end_of_its_song(addon, shared_data):
    use_song(addon, shared_data)
    dancer, take = generate_take(addon)               # the whole song
    assert bpy.ops.lm2d.regenerate_range.poll()
    assert not getattr(bpy.ops.lm2d, "continue").poll()
    with pytest.raises(RuntimeError, match="reaches the end of its song: nothing is left to dance to"):
        getattr(bpy.ops.lm2d, "continue")()
