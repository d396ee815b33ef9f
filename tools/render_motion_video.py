#!/usr/bin/env python3
"""Render a result file's motion on the wooden mannequin (lm2d_blender.mannequin) to an MP4 with bpy (Workbench):
the known-motion input of the video-to-motion tests and bench (tests/test_video.py,
bench/bench_video.py).

    python tools/render_motion_video.py take.npz -o take.mp4 [--camera front|three_quarter]
        [--size 480x640] [--frames N] [--fps 30] [--audio song.wav] [--hide FIRST-LAST] [--still FRAME]
        [--yaw DEG] [--orbit DEG] [--distance M] [--height M] [--lens MM]

The camera stands still (so the root trajectory shows in the picture), level, 4 m from where the
dancer starts: `front` looks at the figure's face, `three_quarter` from 45 degrees to its left.
--yaw sets any such angle; --orbit swings the camera that many more degrees round the start
position over the movie (the varied views the landmark lifter trains on: tools/make_lifter_data.py).
--still FRAME writes that one frame as a PNG instead of the movie: to look at.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

CAMERA_DISTANCE = 4.0     # metres from the dancer's start position
CAMERA_HEIGHT = 1.0       # metres above the floor
CAMERA_LENS = 40.0        # mm on Blender's 36 mm sensor: about 2.9 m of the scene top to bottom at 4 m
CAMERA_YAW = {"front": 0.0, "three_quarter": 45.0}   # degrees about Z, from the figure's front


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--camera", choices=sorted(CAMERA_YAW), default="front")
    parser.add_argument("--yaw", type=float, help="the camera's angle from the figure's front, degrees "
                        "(instead of --camera)")
    parser.add_argument("--orbit", type=float, default=0.0, help="degrees the camera swings over the movie")
    parser.add_argument("--distance", type=float, default=CAMERA_DISTANCE, help="metres from the start position")
    parser.add_argument("--height", type=float, default=CAMERA_HEIGHT, help="metres above the floor")
    parser.add_argument("--lens", type=float, default=CAMERA_LENS, help="mm on a 36 mm sensor")
    parser.add_argument("--size", default="480x640", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, help="render only the first N frames")
    parser.add_argument("--fps", type=int, default=30, help="the movie's frame rate (the motion is resampled)")
    parser.add_argument("--audio", type=Path, help="a sound track for the movie")
    parser.add_argument("--still", type=int, metavar="FRAME", help="write this frame (1-based) as a PNG instead")
    parser.add_argument("--hide", metavar="FIRST-LAST", help="frames (1-based) where the figure is hidden: "
                        "nobody in the picture")
    return parser.parse_args(argv)


def hide_figure(armature_obj, first: int, last: int) -> None:
    """Key every part of the figure hidden from `first` to `last` (constant keys: no blending)."""
    from lm2d_blender.mannequin import mannequins_of

    for obj in mannequins_of(armature_obj):
        for frame, hidden in ((first - 1, False), (first, True), (last + 1, False)):
            obj.hide_render = hidden
            obj.keyframe_insert("hide_render", frame=frame)


def camera_yaw(frame: int, frames: int, yaw: float, orbit: float) -> float:
    """The camera's yaw (degrees from the figure's front) at 0-based `frame` of `frames`."""
    return yaw + orbit * frame / max(frames - 1, 1)


def camera_location(start, floor_z: float, yaw: float, distance: float = CAMERA_DISTANCE,
                    height: float = CAMERA_HEIGHT) -> tuple[float, float, float]:
    """Where a level camera `distance` from the start position (x, y) stands at `yaw` degrees;
    it looks back at that position, its rotation being (90°, 0, yaw)."""
    yaw = math.radians(yaw)
    return (start[0] + distance * math.sin(yaw), start[1] - distance * math.cos(yaw), floor_z + height)


def set_up_scene(result_path: Path, camera: str, size: tuple[int, int], fps: int, audio: Path | None,
                 hide: str | None, yaw: float | None = None, orbit: float = 0.0, distance: float = CAMERA_DISTANCE,
                 height: float = CAMERA_HEIGHT, lens: float = CAMERA_LENS, frames: int | None = None):
    import bpy
    import numpy as np

    from lm2d_blender.armature import new_dancer
    from lm2d_blender.keys import write_take
    from lm2d_blender.mannequin import sole_height
    from lm2d_blender.preview import set_up_workbench
    from lm2d_blender.result_file import read_result, result_skeleton

    bpy.ops.wm.read_factory_settings(use_empty=True)
    context = bpy.context
    scene = context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0      # write_take keys at the scene's rate
    result = read_result(result_path)
    skeleton = result_skeleton(result)
    dancer = new_dancer(context, skeleton)        # with the wooden mannequin body
    write_take(dancer, result, scene)
    if frames:
        scene.frame_end = min(scene.frame_end, scene.frame_start + frames - 1)
    if hide:
        hide_figure(dancer, *(int(frame) for frame in hide.split("-")))
    set_up_workbench(scene, size)

    start = result["joint_positions"][0]
    floor_z = float(np.asarray(result["joint_positions"])[..., 2].min()) - sole_height(skeleton)
    floor = bpy.data.objects.new("Floor", bpy.data.meshes.new("Floor"))
    floor.data.from_pydata([(-20, -20, 0), (20, -20, 0), (20, 20, 0), (-20, 20, 0)], [], [(0, 1, 2, 3)])
    floor.location.z = floor_z
    scene.collection.objects.link(floor)

    # The figure faces -Y: the front camera stands at -Y looking along +Y, level.
    yaw = CAMERA_YAW[camera] if yaw is None else yaw
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.data.lens = lens
    frames = scene.frame_end - scene.frame_start + 1
    for frame in range(frames if orbit else 1):      # an orbit is keyed frame by frame
        angle = camera_yaw(frame, frames, yaw, orbit)
        cam.location = camera_location(start[0], floor_z, angle, distance, height)
        cam.rotation_euler = (math.radians(90), 0.0, math.radians(angle))
        if orbit:
            cam.keyframe_insert("location", frame=scene.frame_start + frame)
            cam.keyframe_insert("rotation_euler", frame=scene.frame_start + frame)
    scene.collection.objects.link(cam)
    scene.camera = cam
    if audio is not None:
        scene.sequence_editor_create()
        scene.sequence_editor.strips.new_sound("audio", str(audio.resolve()), 1, 1)
    return scene


def main(argv=None) -> int:
    import bpy

    from demo import set_movie_output

    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.output = args.output.resolve()   # Blender reads relative paths from the .blend's folder
    width, height = (int(side) for side in args.size.lower().split("x"))
    scene = set_up_scene(args.result, args.camera, (width, height), args.fps, args.audio, args.hide,
                         args.yaw, args.orbit, args.distance, args.height, args.lens, args.frames)
    if args.still:
        scene.frame_set(args.still)
        settings = scene.render.image_settings
        if hasattr(settings, "media_type"):   # Blender 5.0 sorts formats into image / video
            settings.media_type = 'IMAGE'
        settings.file_format = 'PNG'
        scene.render.filepath = str(args.output)
        bpy.ops.render.render(write_still=True)
        return 0
    set_movie_output(scene, args.output)
    if args.audio is None:
        scene.render.ffmpeg.audio_codec = 'NONE'
    else:
        scene.render.use_sequencer = True    # the strip gives the sound; with no picture strips the 3-D scene shows
    bpy.ops.render.render(animation=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
