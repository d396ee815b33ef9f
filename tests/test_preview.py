"""The preview stage and contact sheet (lm2d_blender.preview, .contact_sheet) in real bpy: the
keyed camera keeps every joint in frame, captions show only during their line, and the contact
sheet has one tile per lyric line (evenly spaced tiles without lyrics), none of them empty."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from blender_scenes import make_result

from lm2d_blender.armature import new_dancer
from lm2d_blender.contact_sheet import INSTRUMENTAL_TILES, render_contact_sheet, sheet_layout
from lm2d_blender.keys import write_take
from lm2d_blender.preview import STAGE_PROP, VIEW_AZIMUTH, build_stage, camera_basis, facing_azimuth, joint_track
from lm2d_blender.skeleton import shipped_skeleton

SIZE = (192, 108)
LYRICS = [(0.4, 1.1, "one"), (1.2, 2.0, "two words"), (2.1, 2.9, "three and a longer line")]


def staged(lyrics=None, frames: int = 90):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    dancer = new_dancer(bpy.context, shipped_skeleton())
    write_take(dancer, make_result(frames=frames, lyrics=lyrics), scene)
    camera = build_stage(scene, dancer, SIZE)
    return scene, dancer, camera


def test_the_camera_keeps_the_whole_dancer_in_frame():
    scene, dancer, camera = staged(LYRICS)
    assert scene.camera == camera and (scene.render.resolution_x, scene.render.resolution_y) == SIZE
    frames = np.arange(scene.frame_start, scene.frame_end + 1, 4)
    joints = joint_track(scene, dancer, frames)
    positions = []
    for frame, frame_joints in zip(frames, joints):
        scene.frame_set(int(frame))
        positions.append(np.array(camera.matrix_world.translation))
        view = np.array([tuple(world_to_camera_view(scene, camera, Vector(point))) for point in frame_joints])
        assert view[:, :2].min() > 0.05 and view[:, :2].max() < 0.95, f"frame {frame}: {view[:, :2]}"
        assert view[:, 1].min() > 0.15          # above the caption band
        assert (view[:, 2] > 0).all()           # in front of the lens
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert steps.max() < 0.5                    # glides: no jumps between sampled frames


def hips_facing(fronts: np.ndarray) -> tuple[np.ndarray, list]:
    """A joint track (T, 24, 3) whose hip line faces `fronts` (radians on the floor, rest: -Y)."""
    names = list(shipped_skeleton().joint_names)
    joints = np.zeros((len(fronts), len(names), 3))
    across = np.stack([np.cos(fronts - np.pi / 2), np.sin(fronts - np.pi / 2), np.zeros_like(fronts)], axis=1)
    joints[:, names.index("left_hip")], joints[:, names.index("right_hip")] = -0.1 * across, 0.1 * across
    return joints, names


def test_the_three_quarter_view_follows_a_new_front_and_lets_a_spin_pass():
    fps, rest_front = 30.0, -np.pi / 2
    # A quarter turn after 5 s, held for 5 s: the camera comes round to 3/4 of the new front.
    fronts = np.where(np.arange(300) < 150, rest_front, 0.0)
    joints, names = hips_facing(fronts)
    azimuth = facing_azimuth(joints, names, fps)
    assert azimuth[0] == pytest.approx(rest_front, abs=0.02) and azimuth[-1] == pytest.approx(0.0, abs=0.02)
    forward = camera_basis(azimuth)[-1, 2]
    assert np.degrees(np.arccos(-forward[:2] @ [1.0, 0.0] / np.linalg.norm(forward[:2]))) == \
        pytest.approx(np.degrees(VIEW_AZIMUTH), abs=1.0)
    # A full spin in one second, then the old front: the view ends where it began, and never swings far.
    spin = np.arange(300)
    fronts = rest_front + np.where((spin >= 120) & (spin < 150), 2 * np.pi * (spin - 120) / 30, 0.0)
    azimuth = facing_azimuth(*hips_facing(fronts), fps)
    assert azimuth[-1] == pytest.approx(rest_front, abs=0.01)
    assert np.abs(np.angle(np.exp(1j * (azimuth - rest_front)))).max() < np.radians(30)


def test_captions_show_only_during_their_line():
    scene, _, _ = staged(LYRICS)
    captions = sorted((obj for obj in scene.objects if obj.type == 'FONT'), key=lambda obj: obj.name)
    assert [c.data.body for c in captions] == [text for _, _, text in LYRICS]
    assert all(STAGE_PROP in c for c in captions)
    for seconds, shown in ((0.1, None), (0.7, 0), (1.5, 1), (2.5, 2)):
        scene.frame_set(scene.frame_start + round(seconds * 30))
        visible = [i for i, c in enumerate(captions) if not c.hide_render]
        assert visible == ([] if shown is None else [shown]), seconds


def tiles_of(path, count):
    image = bpy.data.images.load(str(path))
    width, height = image.size
    pixels = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    columns, rows = sheet_layout(count)
    assert (width, height) == (columns * SIZE[0], rows * SIZE[1])
    sheet = pixels.reshape(height, width, 4)[::-1]     # top row first
    tiles = []
    for index in range(count):
        row, column = divmod(index, columns)
        in_row = min(columns, count - row * columns)
        left = (columns - in_row) * SIZE[0] // 2 + column * SIZE[0]
        tiles.append(sheet[row * SIZE[1]:(row + 1) * SIZE[1], left:left + SIZE[0], :3])
    return tiles


@pytest.mark.parametrize("lyrics, count", [(LYRICS, len(LYRICS)), (None, INSTRUMENTAL_TILES)])
def test_contact_sheet_has_a_tile_per_lyric_line_and_none_empty(tmp_path, lyrics, count):
    scene, _, _ = staged(lyrics)
    path = tmp_path / "sheet.png"
    assert render_contact_sheet(scene, path) == count
    for tile in tiles_of(path, count):
        wood = (tile[..., 0] > tile[..., 2] + 0.1).mean()   # the mannequin's warm colour
        assert wood > 0.01 and tile.std() > 0.05
    # the scene's own render settings are back
    assert scene.render.resolution_percentage == 100 and scene.display.render_aa == 'OFF'
    assert not any(obj.name.startswith("Contact Sheet") for obj in bpy.data.objects)


@pytest.mark.parametrize("count, layout", [(1, (1, 1)), (3, (3, 1)), (6, (3, 2)), (8, (4, 2)), (12, (4, 3)),
                                           (50, (10, 5))])
def test_sheet_layout_leaves_no_empty_row(count, layout):
    assert sheet_layout(count) == layout
