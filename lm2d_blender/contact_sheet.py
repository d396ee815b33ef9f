"""A contact sheet of a take: one rendered still per lyric line (evenly spaced stills for a song
without lyrics), each labelled with its time (a text object in the camera's view), tiled into one PNG with no empty tiles.

Renders with the scene's camera and settings as they are (preview.build_stage sets them up, and
its captions show each line's words in its tile). Plain functions, no UI context."""
from __future__ import annotations

import math
import os
import tempfile

import bpy
import numpy as np

from .preview import LABEL_COLOUR, camera_text, lyric_lines

INSTRUMENTAL_TILES = 8
LARGE_SHEET_TILES = 12           # more tiles than this: each rendered at half size
LABEL_HEIGHT = 0.085             # time label height, share of the tile height
BACKGROUND = (0.12, 0.12, 0.13, 1.0)
SETTLE_SECONDS = 0.6             # show the pose a moment into each line, once the move is under way


def sheet_frames(scene) -> list[int]:
    """The frame of each tile: one per lyric line, or evenly spaced over the take without lyrics."""
    fps = scene.render.fps / scene.render.fps_base
    lines = [(start, end) for start, end, _ in lyric_lines(scene)
             if scene.frame_start <= start <= scene.frame_end]
    if lines:
        frames = [min(start + round(SETTLE_SECONDS * fps), (start + end - 1) // 2, scene.frame_end)
                  for start, end in lines]
    else:
        span = scene.frame_end - scene.frame_start
        frames = [scene.frame_start + round(span * (i + 0.5) / INSTRUMENTAL_TILES) for i in range(INSTRUMENTAL_TILES)]
    return frames


def time_label(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)}:{seconds:04.1f}"


def sheet_layout(count: int) -> tuple[int, int]:
    """(columns, rows) for `count` 16:9 tiles: a sheet a little wider than tall, with as few
    gaps in the last row as that allows (a short last row is centred, never padded with tiles)."""
    ideal = math.sqrt(count * 1.5)
    columns = min(range(1, count + 1), key=lambda c: (-count % c) + abs(c - ideal))
    return columns, math.ceil(count / columns)


def render_tile(scene, frame: int, label, path: str) -> np.ndarray:
    """(H, W, 4) pixels, bottom row first, of the scene at `frame` with the `label` text object
    saying the time."""
    render = scene.render
    scene.frame_set(frame)
    label.data.body = time_label((frame - scene.frame_start) / (render.fps / render.fps_base))
    render.filepath = path
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(path)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
        os.unlink(path)
    return pixels.reshape(height, width, 4)


def render_contact_sheet(scene, path) -> int:
    """Write the sheet PNG to `path`; returns the number of tiles."""
    render = scene.render
    tiles = sheet_frames(scene)
    saved = {name: getattr(render, name) for name in ("resolution_percentage", "filepath")}
    saved_aa = scene.display.render_aa
    scene.display.render_aa = '8'                  # stills: smooth edges are worth the time here
    output = render.image_settings
    saved_output = {name: getattr(output, name) for name in ("media_type", "file_format") if hasattr(output, name)}
    if "media_type" in saved_output:   # Blender 5.0 sorts formats into image / multilayer / video
        output.media_type = 'IMAGE'
    output.file_format = 'PNG'
    render.resolution_percentage = 50 if len(tiles) > LARGE_SHEET_TILES else 100
    label = camera_text(scene, scene.camera, "Contact Sheet Time", "0:00.0", LABEL_HEIGHT, 'LEFT', (-0.95, 0.93),
                        LABEL_COLOUR)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            images = [render_tile(scene, frame, label, os.path.join(scratch, f"tile_{i:03d}.png"))
                      for i, frame in enumerate(tiles)]
    finally:
        bpy.data.curves.remove(label.data)
        scene.display.render_aa = saved_aa
        for name, value in (*saved_output.items(), *saved.items()):
            setattr(output if name in saved_output else render, name, value)
    _save_sheet(images, str(path))
    return len(images)


def _save_sheet(images: list[np.ndarray], path: str) -> None:
    height, width = images[0].shape[:2]
    columns, rows = sheet_layout(len(images))
    sheet = np.empty((rows * height, columns * width, 4), dtype=np.float32)
    sheet[:] = BACKGROUND
    for index, tile in enumerate(images):
        row, column = divmod(index, columns)
        in_row = min(columns, len(images) - row * columns)
        left = (columns - in_row) * width // 2 + column * width     # a short last row sits centred
        top = (rows - 1 - row) * height                               # Blender images start at the bottom
        sheet[top:top + height, left:left + width] = tile
    image = bpy.data.images.new("LM2D contact sheet", columns * width, rows * height, alpha=True)
    try:
        image.pixels.foreach_set(sheet.ravel())
        image.filepath_raw, image.file_format = path, 'PNG'
        image.save()
    finally:
        bpy.data.images.remove(image)
