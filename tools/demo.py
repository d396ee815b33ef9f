#!/usr/bin/env python3
"""`python build.py demo`: a dance for the bundled demo song and lyrics, made in Blender without a
window, the way the add-on makes it.

Blender runs as a Python module (bpy) with the add-on registered. The lm2d server is started as a
real subprocess with this interpreter and driven through the add-on's own jobs
(lm2d_blender.operators_generate; there is no event loop to run the modal operators in): check
the server and load the model, import the lyrics as text strips, generate, key the take. Then:

    demo_out/dance.blend               the scene: dancer with the take, song (packed), lyric strips, camera
    demo_out/dance.bvh                 the take through Blender's own BVH exporter
    demo_out/dance.mp4                 a Workbench preview with the song (H.264 + AAC)
    demo_out/dance_contact_sheet.png   the pose at the start of each lyric line, labelled with it
    demo_out/dance.npz                 the server's result file (what the take was keyed from)

Exit status: 0 done; 2 when something to start from is missing (the default model until the team
ships one, a song or lyrics file); 1 when generating or rendering fails (the message says why).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_ASSETS = ROOT / "server" / "lm2d" / "assets" / "demo"
DEFAULT_CHECKPOINT = ROOT / "server" / "lm2d" / "checkpoints" / "default"
MODEL_FPS = 30
CONTACT_SHEET_POSES = 8
CONTACT_SHEET_COLUMNS = 4


class DemoError(Exception):
    """A failure worth one line; `status` is the exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python build.py demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, metavar="DIR",
                        help=f"model checkpoint folder (default: the shipped model, {DEFAULT_CHECKPOINT})")
    parser.add_argument("--audio", type=Path, default=DEMO_ASSETS / "demo.ogg", help="the song (default: the demo song)")
    parser.add_argument("--lyrics", type=Path, default=DEMO_ASSETS / "demo.lrc",
                        help="its timed lyrics (default: the demo lyrics)")
    parser.add_argument("--out", type=Path, default=ROOT / "demo_out", help="output folder (default: demo_out/)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    parser.add_argument("--preview-fps", type=int, choices=(10, 15, 30), default=15,
                        help="frame rate of the MP4 preview (default 15: half the frames to render)")
    parser.add_argument("--preview-size", default="320x240", metavar="WxH", help="MP4 frame size (default 320x240)")
    parser.add_argument("--preview-seconds", type=float, metavar="S",
                        help="render only the first S seconds into the MP4 (default: the whole dance)")
    return parser.parse_args(argv)


def check_inputs(args: argparse.Namespace) -> Path:
    """Fail in one line, before Blender starts, when something to start from is missing."""
    checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
    if not (checkpoint / "model.json").is_file() and not checkpoint.with_suffix(".json").is_file():
        if args.checkpoint is None:
            raise DemoError(f"no default model: {DEFAULT_CHECKPOINT} is missing (README › Training your own "
                            "model makes one); pass --checkpoint DIR to use another", status=2)
        raise DemoError(f"{checkpoint}: not a checkpoint (no model.json)", status=2)
    for label, path in (("song", args.audio), ("lyrics", args.lyrics)):
        if not path.is_file():
            raise DemoError(f"{path}: no such {label} file", status=2)
    try:
        width, height = (int(side) for side in args.preview_size.lower().split("x"))
    except ValueError:
        raise DemoError(f"--preview-size {args.preview_size!r}: expected WIDTHxHEIGHT, e.g. 320x240", status=2)
    args.preview_size = (width, height)
    return checkpoint


class Console:
    """The demo's own lines. Standard output and error go to demo_out/blender.log while Blender
    works (it prints a line per rendered frame, EGL notices, operator reports)."""

    def __init__(self):
        self.stream = sys.stdout
        self.stages: list[tuple[str, float]] = []

    def say(self, line: str = "") -> None:
        print(line, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str):
        self.say(f"demo: {name} …")
        started = time.perf_counter()
        yield
        self.stages.append((name, time.perf_counter() - started))

    @contextmanager
    def blender_output_to(self, log_path: Path):
        sys.stdout.flush()
        sys.stderr.flush()
        saved = (os.dup(1), os.dup(2))
        self.stream = os.fdopen(os.dup(1), "w", buffering=1)
        with open(log_path, "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                for fd, copy in zip((1, 2), saved):
                    os.dup2(copy, fd)
                    os.close(copy)
                self.stream.close()
                self.stream = sys.stdout

    @staticmethod
    def log_exit_noise(log_path: Path) -> None:
        """Blender's GPU teardown complains (harmlessly) on standard error at exit: into the log."""
        sys.stderr.flush()
        with open(log_path, "a") as log:
            os.dup2(log.fileno(), 2)


# --- generating through the add-on ------------------------------------------------------------

def run_job(context, job, what: str, console: Console):
    from lm2d_blender.operators_generate import FINISHED

    job.run_to_end(context)
    job.finish(context)
    for warning in job.warnings:
        console.say(f"demo: warning: {warning}")
    if job.state != FINISHED:
        raise DemoError(f"{what} failed: {job.message or job.state.lower()}")
    return job


def generate(context, args, checkpoint: Path, console: Console):
    """The add-on's path: server check, lyrics → text strips, generation, take. Returns the job."""
    from lm2d_blender import server_session
    from lm2d_blender.generation_settings import scene_generation_settings
    from lm2d_blender.jobs import CheckServerJob, LyricsImportJob, start_generation
    from lm2d_blender.props import scene_settings, session_state

    scene = context.scene
    scene.render.fps, scene.render.fps_base = MODEL_FPS, 1.0
    settings = scene_settings(scene)
    settings.audio_source, settings.audio_path = 'FILE', str(args.audio.resolve())
    settings.target, settings.seed = 'NEW', args.seed
    server_session.use_settings(server_session.ServerSettings(sys.executable, str(checkpoint.resolve()),
                                                              args.device))
    with console.stage("starting the server and loading the model"):
        run_job(context, CheckServerJob(context), "starting the server", console)
    console.say(f"demo: server: {session_state(context).server}")
    with console.stage("reading the lyrics into text strips"):
        run_job(context, LyricsImportJob(context, str(args.lyrics.resolve()), settings.lyrics_channel,
                                         scene.frame_start, settings.audio_path), "reading the lyrics", console)
    # The panel's Steps are for distilled models; the demo leaves them to the model unless told.
    generation = dataclasses.replace(scene_generation_settings(context), steps=args.steps)
    with console.stage("generating the dance"):
        return run_job(context, start_generation(context, generation, output=str(args.out / "dance.npz")),
                       "generating the dance", console)


# --- the scene around the dancer ------------------------------------------------------------------

def add_camera_and_floor(scene, armature, floor_height: float):
    """A camera that follows the pelvis sideways (the dancer may travel) and a floor to stand on."""
    import bpy

    camera = bpy.data.objects.new("Preview Camera", bpy.data.cameras.new("Preview Camera"))
    camera.data.lens = 40
    camera.location = (0.0, -4.5, floor_height + 1.0)
    camera.rotation_euler = (math.radians(84), 0.0, 0.0)
    follow = camera.constraints.new('COPY_LOCATION')
    follow.target, follow.subtarget = armature, "pelvis"
    follow.use_z, follow.use_offset = False, True
    scene.collection.objects.link(camera)
    scene.camera = camera

    floor = bpy.data.objects.new("Floor", bpy.data.meshes.new("Floor"))
    half = 30.0
    floor.data.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [],
                           [(0, 1, 2, 3)])
    floor.location.z = floor_height
    scene.collection.objects.link(floor)


def lowest_point(result_path: Path) -> float:
    """Height of the lowest joint over the whole take: where the floor goes."""
    import numpy as np

    with np.load(result_path) as result:
        return float(result["joint_positions"][..., 2].min())


def set_up_render(scene, size: tuple[int, int]) -> None:
    import bpy

    render = scene.render
    render.engine = 'BLENDER_WORKBENCH'
    render.resolution_x, render.resolution_y = size
    render.resolution_percentage = 100
    render.use_sequencer = False      # the sequencer holds the song and lyric strips, not the picture
    shading = scene.display.shading
    shading.light, shading.color_type = 'STUDIO', 'RANDOM'
    # Render time per frame with Mesa's software OpenGL: shadows cost a third more, 8× anti-aliasing
    # (the default) twice what FXAA does.
    shading.show_shadows = False
    scene.display.render_aa = 'FXAA'
    scene.world = scene.world or bpy.data.worlds.new("Preview Sky")
    scene.world.color = (0.55, 0.6, 0.68)   # Workbench renders the world colour behind the dancer


def set_movie_output(scene, path: Path) -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):   # Blender 5.0 sorts formats into image / multilayer / video
        settings.media_type = 'VIDEO'
    settings.file_format = 'FFMPEG'
    ffmpeg = scene.render.ffmpeg
    ffmpeg.format, ffmpeg.codec, ffmpeg.audio_codec = 'MPEG4', 'H264', 'AAC'
    ffmpeg.constant_rate_factor = 'MEDIUM'
    scene.render.filepath = str(path)


def set_image_output(scene) -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = 'IMAGE'
    settings.file_format = 'PNG'


# --- outputs -------------------------------------------------------------------------------------

def save_blend(path: Path) -> None:
    import bpy

    bpy.ops.file.pack_all()   # the song travels inside the .blend
    bpy.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False, compress=True)


def export_bvh(context, armature, path: Path) -> None:
    import bpy

    for obj in context.selected_objects:
        obj.select_set(False)
    armature.select_set(True)
    context.view_layer.objects.active = armature
    scene = context.scene
    bpy.ops.export_anim.bvh(filepath=str(path), frame_start=scene.frame_start, frame_end=scene.frame_end,
                            rotate_mode='NATIVE', root_transform_only=False)


def render_preview(scene, path: Path, fps: int, seconds: float | None) -> int:
    """The MP4, at `fps`: the scene stays at 30 FPS and frame_map plays the animation faster, so
    the movie has fps frames a second of dance. Returns how many frames were rendered."""
    import bpy

    render = scene.render
    step = MODEL_FPS // fps
    last = scene.frame_end if seconds is None else min(scene.frame_end, scene.frame_start + round(seconds * MODEL_FPS) - 1)
    saved = (render.fps, render.frame_map_old, render.frame_map_new, scene.frame_start, scene.frame_end)
    render.fps, render.frame_map_old, render.frame_map_new = fps, step, 1
    scene.frame_end = scene.frame_start + (last - scene.frame_start) // step
    set_movie_output(scene, path)
    try:
        bpy.ops.render.render(animation=True)
        return scene.frame_end - scene.frame_start + 1
    finally:
        render.fps, render.frame_map_old, render.frame_map_new, scene.frame_start, scene.frame_end = saved


def contact_sheet_frames(scene, count: int) -> list[int]:
    """Frames of the first `count` lyric lines (markers), or evenly spaced frames without lyrics."""
    markers = sorted({marker.frame for marker in scene.timeline_markers
                      if scene.frame_start <= marker.frame <= scene.frame_end})
    if markers:
        return markers[:count]
    span = scene.frame_end - scene.frame_start
    return [scene.frame_start + round(span * (i + 0.5) / count) for i in range(count)]


def render_contact_sheet(scene, path: Path, frames: list[int], scratch: Path) -> None:
    """One still per frame, stamped with the lyric line starting there, tiled into one PNG."""
    import bpy
    import numpy as np

    render = scene.render
    set_image_output(scene)
    render.use_stamp = True
    for option in ("date", "time", "render_time", "frame", "frame_range", "camera", "lens", "scene",
                   "filename", "memory", "hostname", "sequencer_strip", "note"):
        setattr(render, f"use_stamp_{option}", False)
    render.use_stamp_marker = render.use_stamp_time = True
    render.use_stamp_labels = False
    render.stamp_font_size = 10
    tiles = []
    for frame in frames:
        scene.frame_set(frame)
        still = scratch / f"pose_{frame:05d}.png"
        render.filepath = str(still)
        bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(str(still))
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        tiles.append(pixels.reshape(height, width, 4))
        bpy.data.images.remove(image)
        still.unlink()
    render.use_stamp = False
    columns = min(CONTACT_SHEET_COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    height, width = tiles[0].shape[:2]
    sheet = np.full((rows * height, columns * width, 4), (0.2, 0.2, 0.2, 1.0), dtype=np.float32)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top = (rows - 1 - row) * height          # Blender images start at the bottom row
        sheet[top:top + height, column * width:(column + 1) * width] = tile
    image = bpy.data.images.new("LM2D contact sheet", columns * width, rows * height, alpha=True)
    image.pixels.foreach_set(sheet.ravel())
    image.filepath_raw, image.file_format = str(path), 'PNG'
    image.save()
    bpy.data.images.remove(image)


# --- main ------------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    checkpoint = check_inputs(args)
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {"blend": args.out / "dance.blend", "bvh": args.out / "dance.bvh", "mp4": args.out / "dance.mp4",
               "png": args.out / "dance_contact_sheet.png", "npz": args.out / "dance.npz"}
    console = Console()
    with console.blender_output_to(args.out / "blender.log"):
        with console.stage("starting Blender with the add-on"):
            import bpy

            sys.path.insert(0, str(ROOT))   # the add-on package lives at the repository root
            import lm2d_blender

            bpy.ops.wm.read_factory_settings(use_empty=True)
            lm2d_blender.register()
        context = bpy.context
        try:
            job = generate(context, args, checkpoint, console)
            scene = context.scene
            add_camera_and_floor(scene, job.armature, lowest_point(outputs["npz"]))
            set_up_render(scene, args.preview_size)
            set_movie_output(scene, outputs["mp4"])
            with console.stage("saving the .blend"):
                save_blend(outputs["blend"])
            with console.stage("exporting the BVH (Blender's exporter)"):
                export_bvh(context, job.armature, outputs["bvh"])
            with console.stage(f"rendering the MP4 preview ({args.preview_fps} fps)"):
                rendered = render_preview(scene, outputs["mp4"], args.preview_fps, args.preview_seconds)
            with console.stage("rendering the contact sheet"):
                render_contact_sheet(scene, outputs["png"], contact_sheet_frames(scene, CONTACT_SHEET_POSES),
                                     args.out)
        finally:
            lm2d_blender.unregister()   # stops the server
    frames = scene.frame_end - scene.frame_start + 1
    console.say()
    console.say(f"song      {args.audio.name}: {frames / MODEL_FPS:.1f} s, lyrics {args.lyrics.name} "
                f"({len(scene.timeline_markers)} lines)")
    console.say(f"dance     {frames} frames at {MODEL_FPS} FPS on '{job.armature.name}' ({job.action.name}), "
                f"model {job.model}, seed {args.seed}")
    console.say(f"preview   {rendered} frames at {args.preview_fps} fps, "
                f"{args.preview_size[0]}x{args.preview_size[1]}")
    for name, seconds in console.stages:
        console.say(f"  {seconds:7.2f} s  {name}")
        if name == "generating the dance":
            for stage, stage_seconds in job.stage_seconds.items():
                console.say(f"  {'':9}  {stage_seconds:7.2f} s  server: {stage}")
    console.say(f"  {sum(seconds for _, seconds in console.stages):7.2f} s  total")
    for path in outputs.values():
        console.say(f"wrote     {path}")
    console.log_exit_noise(args.out / "blender.log")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except DemoError as err:
        print(f"demo: {err}", file=sys.stderr)
        return err.status


if __name__ == "__main__":
    sys.exit(main())
