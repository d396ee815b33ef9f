"""A stage for previews of a take: a camera that keeps the whole dancer in frame, a floor with a
grid and a contact shadow, the lyric line as a caption, and Workbench render settings.

Plain functions on bpy data, no UI context: tools/demo.py uses them for its MP4 and contact sheet,
and any bpy script can (build_stage(scene, armature_object)). The camera is keyed from the take's
own joint positions (smoothed), not held by a constraint, so it glides instead of jittering."""
from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Euler, Matrix

from .armature import armature_skeleton
from .keys import fcurve_maker, set_linear_keys, take_slot
from .lyrics_track import LYRICS_CHANNEL, text_strips_in_channel
from .mannequin import sole_height
from .sections_track import is_section_name

STAGE_PROP = "lm2d_stage"          # on objects this module made (camera, floor, captions)
LENS_MM, SENSOR_MM = 35.0, 36.0
VIEW_AZIMUTH = math.radians(35)    # the 3/4 view: this far round from straight in front of the dancer
VIEW_PITCH = math.radians(10)      # looking down this much
FRAME_MARGIN = 0.1                 # share of the half-frame kept free around the body
BODY_PAD = 0.1                     # metres around joint centres (limb thickness, hands, feet)
SKULL_ABOVE_HEAD_JOINT = 0.2       # metres, at SMPL size: the head joint sits low in the skull
SMPL_NECK_TO_HEAD = 0.09           # metres between SMPL's neck and head joints: how the skull scales
FOLLOW_SECONDS = 0.8               # smoothing of the camera's path (Gaussian sigma)
# Smoothing of the facing the 3/4 view keeps to (Gaussian sigma): a dancer who turns to a new
# front for a phrase is seen from 3/4 again a few seconds later, a spin passes by.
FACING_FOLLOW_SECONDS = 1.5
FLOOR_COLOUR, GRID_COLOUR, SHADOW_COLOUR = (0.95, 0.95, 0.97, 1), (0.8, 0.8, 0.84, 1), (0.42, 0.42, 0.46, 1)
SKY_COLOUR = (0.62, 0.66, 0.72)
CAPTION_COLOUR, CAPTION_BAND_COLOUR, LABEL_COLOUR = (1.0, 1.0, 1.0, 1), (0.06, 0.06, 0.07, 1), (0.05, 0.05, 0.06, 1)
CAPTION_HEIGHT = 0.075             # of the frame height
GRID_STEP, GRID_HALF_SIZE, GRID_LINE = 0.5, 12.0, 0.012   # metres


# --- what the dancer does: joint positions over the frame range ------------------------------------

def joint_track(scene, armature_obj, frames) -> np.ndarray:
    """(T, J, 3) world joint positions (skeleton order) at `frames`, by evaluating the scene."""
    names = armature_skeleton(armature_obj).joint_names
    track = np.empty((len(frames), len(names), 3))
    for row, frame in enumerate(frames):
        scene.frame_set(int(frame))
        world = np.array(armature_obj.matrix_world)
        heads = np.array([armature_obj.pose.bones[name].head for name in names])
        track[row] = heads @ world[:3, :3].T + world[:3, 3]
    return track


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0, edges held."""
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    radius = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(values[:1], radius, 0), values, np.repeat(values[-1:], radius, 0)])
    return np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(values.shape[1])], axis=1)


def running_max(values: np.ndarray, half_window: int) -> np.ndarray:
    padded = np.concatenate([np.full(half_window, -np.inf), values, np.full(half_window, -np.inf)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1)
    return windows.max(axis=1)


def key_channels(obj, frames, channels: dict) -> None:
    """Key obj's channels {(data_path, index): values per frame} in a new action of its own."""
    action = bpy.data.actions.new(f"{obj.name} Keys")
    make = fcurve_maker(action, obj.name)
    frames = np.asarray(frames, dtype=float)
    for (path, index), values in channels.items():
        set_linear_keys(make(path, index, obj.name), frames, np.asarray(values, dtype=float))
    animation = obj.animation_data_create()
    animation.action = action
    if take_slot(action) is not None:
        animation.action_slot = take_slot(action)


# --- the camera ------------------------------------------------------------------------------------

def facing_azimuth(joints: np.ndarray, names, fps: float) -> np.ndarray:
    """(T,) radians: the dancer's front on the floor (square to the hip line), smoothed on the
    circle (as a unit vector), so a full spin comes back to where it started."""
    across = joints[:, names.index("right_hip")] - joints[:, names.index("left_hip")]
    front = np.arctan2(across[:, 1], across[:, 0]) + math.pi / 2     # the rest pose faces -Y
    smoothed = smooth(np.stack([np.cos(front), np.sin(front)], axis=1), FACING_FOLLOW_SECONDS * fps)
    return np.arctan2(smoothed[:, 1], smoothed[:, 0])


def camera_basis(front_azimuth: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rows (right, up, forward) of a camera looking at the dancer from 3/4 of its
    front, tilted down."""
    azimuth = front_azimuth + VIEW_AZIMUTH          # where the camera stands, seen from the dancer
    towards_dancer = -np.stack([np.cos(azimuth), np.sin(azimuth), np.zeros_like(azimuth)], axis=1)
    forward = towards_dancer * math.cos(VIEW_PITCH) - np.array([0.0, 0.0, math.sin(VIEW_PITCH)])
    right_axis = np.cross(forward, [0.0, 0.0, 1.0])
    right_axis /= np.linalg.norm(right_axis, axis=1, keepdims=True)
    return np.stack([right_axis, np.cross(right_axis, forward), forward], axis=1)


def body_points(joints: np.ndarray, names, floor: float) -> np.ndarray:
    """(T, J+2, 3): joints plus the top of the skull and a point on the floor under the pelvis."""
    head, neck = joints[:, names.index("head")], joints[:, names.index("neck")]
    span = np.linalg.norm(head - neck, axis=1, keepdims=True).clip(1e-6)
    skull = head + (head - neck) / span * SKULL_ABOVE_HEAD_JOINT * (span.mean() / SMPL_NECK_TO_HEAD)
    ground = joints[:, names.index("pelvis")].copy()
    ground[:, 2] = floor
    return np.concatenate([joints, skull[:, None], ground[:, None]], axis=1)


def camera_path(joints: np.ndarray, names, floor: float, aspect: float, fps: float):
    """Camera positions (T, 3) and bases (T, 3, 3): from 3/4 of the dancer's smoothed front, aimed
    at the smoothed pelvis, far enough back that every body point fits inside the frame with a
    margin, the distance itself smoothed."""
    basis = camera_basis(facing_azimuth(joints, names, fps))
    right, up, forward = basis[:, 0], basis[:, 1], basis[:, 2]
    points = body_points(joints, names, floor)
    pelvis = smooth(joints[:, names.index("pelvis")], FOLLOW_SECONDS * fps)
    height = points[..., 2].max(axis=1) - floor
    aim = pelvis.copy()
    aim[:, 2] = floor + 0.5 * np.percentile(height, 90)
    half_width = SENSOR_MM / 2 / LENS_MM                        # tan of the half field of view
    half_height = half_width / aspect
    relative = points - aim[:, None]
    across, upward, depth = (np.einsum("tjc,tc->tj", relative, axis) for axis in (right, up, forward))
    # Frame units (-1..1): the body stays inside the margin and above the caption.
    top, bottom, side = 1 - FRAME_MARGIN, 1 - FRAME_MARGIN - 2.6 * CAPTION_HEIGHT, 1 - FRAME_MARGIN
    limit = np.where(upward > 0, top, bottom) * half_height
    needed = np.maximum((np.abs(across) + BODY_PAD) / (side * half_width) - depth,
                        (np.abs(upward) + BODY_PAD) / limit - depth).max(axis=1)
    window = int(fps)
    distance = smooth(running_max(needed, window)[:, None], window / 3)[:, 0]
    distance = np.maximum(distance, needed)
    return aim - distance[:, None] * forward, basis


def add_camera(scene, joints: np.ndarray, names, frames, floor: float):
    """The keyed preview camera, made the scene camera."""
    render = scene.render
    aspect = render.resolution_x / render.resolution_y
    positions, basis = camera_path(joints, names, floor, aspect, render.fps / render.fps_base)
    data = bpy.data.cameras.new("Preview Camera")
    data.lens, data.sensor_width, data.sensor_fit = LENS_MM, SENSOR_MM, 'HORIZONTAL'
    camera = bpy.data.objects.new("Preview Camera", data)
    scene.collection.objects.link(camera)
    camera[STAGE_PROP] = True
    camera.rotation_mode = 'XYZ'
    eulers, previous = [], Euler()
    for rows in basis:              # columns: camera X, Y, and -view; each Euler continues the last
        previous = Matrix(np.stack([rows[0], rows[1], -rows[2]], axis=1).tolist()).to_euler('XYZ', previous)
        eulers.append(tuple(previous))
    eulers = np.array(eulers)
    key_channels(camera, frames, {**{("location", axis): positions[:, axis] for axis in range(3)},
                                  **{("rotation_euler", axis): eulers[:, axis] for axis in range(3)}})
    scene.camera = camera
    return camera


def view_half_size(scene, depth: float = 1.0) -> tuple[float, float]:
    """Half the width and height the preview camera sees at `depth` metres in front of the lens."""
    half_width = SENSOR_MM / 2 / LENS_MM * depth
    return half_width, half_width * scene.render.resolution_y / scene.render.resolution_x


# --- floor, grid and contact shadow ----------------------------------------------------------------

def _flat_material(name: str, colour) -> bpy.types.Material:
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = colour
    return material


def _stage_mesh(scene, name: str, vertices, faces, colour):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.asarray(vertices, dtype=float).tolist(), [], faces)
    mesh.materials.append(_flat_material(f"LM2D {name}", colour))
    obj = bpy.data.objects.new(name, mesh)
    obj[STAGE_PROP] = True
    scene.collection.objects.link(obj)
    return obj


def _quads(corners: np.ndarray):
    """Vertices and faces of (N, 4, 3) quads."""
    return corners.reshape(-1, 3), [tuple(range(4 * i, 4 * i + 4)) for i in range(len(corners))]


def add_floor(scene, centre, floor: float):
    """A floor plane, grid lines a shade darker, both centred under the take's mean position."""
    cx, cy = GRID_STEP * np.round(np.asarray(centre[:2]) / GRID_STEP)
    h = GRID_HALF_SIZE
    plane = np.array([[[cx - h, cy - h, 0], [cx + h, cy - h, 0], [cx + h, cy + h, 0], [cx - h, cy + h, 0]]])
    floor_obj = _stage_mesh(scene, "Floor", *_quads(plane), FLOOR_COLOUR)
    floor_obj.location.z = floor
    lines = []
    w = GRID_LINE / 2
    for offset in np.arange(-h, h + 1e-9, GRID_STEP):
        lines.append([[cx + offset - w, cy - h, 0], [cx + offset + w, cy - h, 0],
                      [cx + offset + w, cy + h, 0], [cx + offset - w, cy + h, 0]])
        lines.append([[cx - h, cy + offset - w, 0], [cx + h, cy + offset - w, 0],
                      [cx + h, cy + offset + w, 0], [cx - h, cy + offset + w, 0]])
    grid = _stage_mesh(scene, "Floor Grid", *_quads(np.array(lines)), GRID_COLOUR)
    grid.location.z = floor + 0.001
    return floor_obj, grid


def add_contact_shadow(scene, pelvis: np.ndarray, frames, floor: float, radius: float = 0.32):
    """A dark disc on the floor under the pelvis, keyed per frame; smaller as the body rises."""
    segments = 32
    angle = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    rim = np.stack([np.cos(angle) * radius, np.sin(angle) * radius * 0.8, np.zeros(segments)], axis=1)
    disc = _stage_mesh(scene, "Contact Shadow", np.vstack([rim, [0, 0, 0]]),
                       [(i, (i + 1) % segments, segments) for i in range(segments)], SHADOW_COLOUR)
    lift = pelvis[:, 2] - floor
    scale = np.clip(1.25 - 0.5 * lift / max(np.median(lift), 1e-6), 0.4, 1.0)
    disc.location.z = floor + 0.002
    key_channels(disc, frames, {**{("location", axis): pelvis[:, axis] for axis in range(2)},
                                **{("scale", axis): scale for axis in range(2)}})
    return disc


# --- captions: the current lyric line --------------------------------------------------------------

def lyric_lines(scene, channel: int = LYRICS_CHANNEL) -> list[tuple[int, int, str]]:
    """(first frame, frame after the last, text) per lyric line: the text strips of the lyrics
    channel, or else the timeline markers other than the song's sections (each line lasting until the next)."""
    strips = text_strips_in_channel(scene, channel)
    if strips:
        return [(int(s.frame_final_start), int(s.frame_final_end), s.text) for s in strips]
    markers = sorted((m.frame, m.name) for m in scene.timeline_markers if not is_section_name(m.name))
    ends = [frame for frame, _ in markers[1:]] + [scene.frame_end + 1]
    return [(frame, end, name) for (frame, name), end in zip(markers, ends)]


def camera_text(scene, camera, name: str, body: str, height: float, align_x: str = 'CENTER', corner=(0.0, -0.93),
                colour=CAPTION_COLOUR):
    """A text object fixed in the camera's view: `height` a share of the frame height, `corner`
    the anchor point in frame units (-1..1 across, -1..1 up), aligned from there by align_x.
    Long text shrinks to fit the width."""
    depth = 1.0                                      # metres in front of the lens
    half_width, half_height = view_half_size(scene, depth)
    data = bpy.data.curves.new(name, type='FONT')
    data.body = body
    data.align_x, data.align_y = align_x, ('BOTTOM' if corner[1] < 0 else 'TOP')
    data.size = height * 2 * half_height
    data.materials.append(_flat_material(f"LM2D Text {colour[0]:.2f}", colour))
    text = bpy.data.objects.new(name, data)
    text[STAGE_PROP] = True
    scene.collection.objects.link(text)
    text.parent = camera
    text.location = (corner[0] * half_width, corner[1] * half_height, -depth)
    bpy.context.view_layer.update()                 # text dimensions exist once evaluated
    fit = 2 * half_width * 0.94 / max(text.dimensions.x, 1e-6)
    text.scale = (min(1.0, fit),) * 3
    return text


def add_caption_band(scene, camera):
    """A dark band across the bottom of the view for the captions to stand on."""
    depth = 1.001                                     # just behind the captions
    half_width, half_height = view_half_size(scene, depth)
    top = -1 + 2.6 * CAPTION_HEIGHT
    corners = [[-half_width, -half_height, -depth], [half_width, -half_height, -depth],
               [half_width, top * half_height, -depth], [-half_width, top * half_height, -depth]]
    band = _stage_mesh(scene, "Caption Band", corners, [(0, 1, 2, 3)], CAPTION_BAND_COLOUR)
    band.parent = camera
    return band


def key_shown_during(obj, intervals) -> None:
    """Key obj visible during the [first, after-last) frame intervals and hidden elsewhere."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:   # a one-frame gap is not worth a flicker
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    frames = [frame for start, end in merged for frame in (start - 1, start, end - 1, end)]
    hidden = [1, 0, 0, 1] * len(merged)
    key_channels(obj, frames, {("hide_render", 0): hidden, ("hide_viewport", 0): hidden})


def add_captions(scene, camera, lines) -> list:
    """One caption per lyric line on a dark band at the bottom of the view, both shown only while
    the line lasts (keyed visibility)."""
    if not lines:
        return []
    key_shown_during(add_caption_band(scene, camera), [(start, end) for start, end, _ in lines])
    captions = []
    for number, (start, end, words) in enumerate(lines, start=1):
        caption = camera_text(scene, camera, f"Lyric {number:03d}", words, CAPTION_HEIGHT)
        key_shown_during(caption, [(start, end)])
        captions.append(caption)
    return captions


# --- putting it together ----------------------------------------------------------------------------

def set_up_workbench(scene, size: tuple[int, int]) -> None:
    """Workbench (what renders headless in bpy): studio light, material colours, FXAA."""
    render = scene.render
    render.engine = 'BLENDER_WORKBENCH'
    render.resolution_x, render.resolution_y = size
    render.resolution_percentage = 100
    render.use_sequencer = False      # the sequencer holds the song and lyric strips, not the picture
    shading = scene.display.shading
    shading.light, shading.color_type = 'STUDIO', 'MATERIAL'
    # Mesa's software OpenGL at 640x360, CPU per frame: no anti-aliasing 32 ms, FXAA 118 ms, 8
    # samples 266 ms; shadows a third more. Movies go without (H.264 softens the edges anyway);
    # stills (contact_sheet.py) take 8 samples.
    shading.show_shadows = False
    scene.display.render_aa = 'OFF'
    scene.view_settings.view_transform = 'Standard'   # colours as set, not AgX's filmic grey
    scene.world = scene.world or bpy.data.worlds.new("Preview Sky")
    scene.world.color = SKY_COLOUR


def build_stage(scene, armature_obj, size: tuple[int, int] = (640, 360)):
    """Camera, floor, contact shadow, captions and render settings for previews of the dancer's
    take over the scene's frame range. Returns the camera."""
    set_up_workbench(scene, size)
    frames = np.arange(scene.frame_start, scene.frame_end + 1)
    joints = joint_track(scene, armature_obj, frames)
    names = armature_skeleton(armature_obj).joint_names
    feet = joints[:, [names.index("left_foot"), names.index("right_foot")], 2]
    floor = float(feet.min()) - sole_height(armature_skeleton(armature_obj)) * armature_obj.matrix_world.to_scale().z
    pelvis = joints[:, names.index("pelvis")]
    add_floor(scene, pelvis.mean(axis=0), floor)
    add_contact_shadow(scene, pelvis, frames, floor)
    camera = add_camera(scene, joints, names, frames, floor)
    add_captions(scene, camera, lyric_lines(scene))
    scene.frame_set(scene.frame_start)
    return camera
