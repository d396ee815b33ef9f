"""tools/demo.py (`python build.py demo`) end to end: Blender as a module, the add-on, a real
server subprocess with a tiny untrained checkpoint, the bundled demo song and lyrics. Its outputs
are read back the way a person would use them: the .blend reopened, the BVH re-imported with
Blender's importer, the MP4 opened as a movie clip, the contact sheet as an image."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import av
import bpy
import numpy as np
import pytest

from blender_scenes import keys_of, take_fcurves
from dance_data import write_tiny_checkpoint

from lm2d_blender.lyrics_track import text_strips_in_channel
from lm2d_blender.mannequin import mannequins_of
from lm2d_blender.sections_track import SECTIONS_CHANNEL
from lm2d_blender.skeleton import shipped_skeleton
from lm2d_blender.takes import TAKE_PROP

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "tools" / "demo.py"
PREVIEW_SECONDS, PREVIEW_FPS = 1.0, 10


def load_demo_module():
    spec = importlib.util.spec_from_file_location("lm2d_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("demo")
    checkpoint = write_tiny_checkpoint(root / "tiny", shared_data)
    out = root / "out"
    env = dict(os.environ, LM2D_CACHE=str(root / "cache"), OMP_NUM_THREADS="1")
    completed = subprocess.run([sys.executable, str(DEMO), "--checkpoint", str(checkpoint), "--out", str(out),
                                "--preview-seconds", str(PREVIEW_SECONDS), "--preview-fps", str(PREVIEW_FPS)],
                               capture_output=True, text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out, completed.stdout


def result_frames(out: Path) -> int:
    with np.load(out / "dance.npz") as result:
        return len(result["root_translation"])


def test_demo_prints_a_summary(demo_run):
    out, stdout = demo_run
    frames = result_frames(out)
    assert f"dance     {frames} frames at 30 FPS" in stdout and "model tiny" in stdout
    assert "demo.ogg: 33.9 s" in stdout and "lyrics demo.lrc (6 lines)" in stdout
    for stage in ("generating the dance", "server: sampling", "rendering the MP4 preview", "total"):
        assert stage in stdout
    for name in ("dance.blend", "dance.bvh", "dance.mp4", "dance_contact_sheet.png"):
        assert f"wrote     {out / name}" in stdout
    chatter = 'Saved as "dance.blend"'   # Blender's own reports go to the log, not the summary
    assert chatter not in stdout and chatter in (out / "blender.log").read_text()


def test_the_blend_reopens_with_the_take_the_song_and_the_lyrics(demo_run):
    out, _ = demo_run
    frames = result_frames(out)
    bpy.ops.wm.open_mainfile(filepath=str(out / "dance.blend"))
    takes = [action for action in bpy.data.actions if TAKE_PROP in action]
    assert len(takes) == 1
    dancer = bpy.data.objects["LM2D Dancer"]
    assert len(mannequins_of(dancer)) == 16      # the wooden body rides on the bones
    fcurves = take_fcurves(dancer, takes[0])
    assert {fc.data_path.split('"')[1] for fc in fcurves} == set(shipped_skeleton().joint_names)
    assert all(len(keys_of(fc)) == frames for fc in fcurves)
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, frames) and scene.camera is not None
    assert all(sound.packed_file is not None for sound in bpy.data.sounds) and len(bpy.data.sounds) == 1
    lines = text_strips_in_channel(scene, 2)
    assert [strip.text for strip in lines][:2] == ["reach up to the sky", "wave hello to the sun"]
    sections = text_strips_in_channel(scene, SECTIONS_CHANNEL)     # the song's form, beside the lyrics
    assert len(lines) == 6 and sections
    assert sorted(m.name for m in scene.timeline_markers) == sorted([s.text for s in lines + sections])


def test_the_bvh_reimports_onto_the_same_poses(demo_run):
    out, _ = demo_run
    bvh = (out / "dance.bvh").read_text()
    frames = result_frames(out)
    assert f"Frames: {frames}" in bvh
    bpy.ops.wm.read_factory_settings(use_empty=True)
    # Blender's exporter writes its own Z-up axes: import them as they are.
    bpy.ops.import_anim.bvh(filepath=str(out / "dance.bvh"), axis_forward='Y', axis_up='Z', update_scene_fps=True)
    armature = bpy.context.active_object
    names = shipped_skeleton().joint_names
    assert sorted(bone.name for bone in armature.data.bones) == sorted(names)
    with np.load(out / "dance.npz") as result:
        expected = result["joint_positions"]
    for frame in (1, frames // 2, frames):
        bpy.context.scene.frame_set(frame)
        heads = np.array([armature.matrix_world @ armature.pose.bones[name].head for name in names])
        np.testing.assert_allclose(heads, expected[frame - 1], atol=1e-4)


def test_the_preview_movie_and_contact_sheet_show_the_dance(demo_run):
    out, _ = demo_run
    bpy.ops.wm.read_factory_settings(use_empty=True)
    clip = bpy.data.movieclips.load(str(out / "dance.mp4"))
    assert tuple(clip.size) == (640, 360)
    assert clip.frame_duration == round(PREVIEW_SECONDS * PREVIEW_FPS)
    assert b"avc1" in (out / "dance.mp4").read_bytes() and b"mp4a" in (out / "dance.mp4").read_bytes()  # H.264 + AAC
    with av.open(str(out / "dance.mp4")) as movie:                  # the song plays, not silence
        sound = np.concatenate([frame.to_ndarray().reshape(-1) for frame in movie.decode(audio=0)])
    assert np.sqrt(np.mean(sound.astype(np.float64) ** 2)) > 0.01

    sheet = bpy.data.images.load(str(out / "dance_contact_sheet.png"))
    assert tuple(sheet.size) == (3 * 640, 2 * 360)   # six lyric lines: two rows of three
    pixels = np.empty(sheet.size[0] * sheet.size[1] * 4, dtype=np.float32)
    sheet.pixels.foreach_get(pixels)
    assert pixels.reshape(-1, 4)[:, :3].std(axis=0).min() > 0.02   # a picture, not a blank


def test_without_a_model_the_demo_fails_in_one_line(tmp_path, monkeypatch, capsys):
    demo = load_demo_module()
    monkeypatch.setattr(demo, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "default")
    assert demo.main(["--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "no default model:" in message and "--checkpoint DIR" in message
    assert not (tmp_path / "out").exists()   # nothing started, nothing written
