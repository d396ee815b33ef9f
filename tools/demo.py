#!/usr/bin/env python3
"""`python build.py demo`: a dance for the bundled demo song and lyrics, made in Blender without a
window, the way the add-on makes it.

Blender runs as a Python module (bpy) with the add-on registered. The lm2d server is started as a
real subprocess with this interpreter and driven through the add-on's own jobs
(lm2d_blender.operators_generate; there is no event loop to run the modal operators in): check
the server and load the model, import the lyrics as text strips, generate, key the take. Then:

    demo_out/dance.blend               the scene: dancer with the take, song (packed), lyric strips, camera
    demo_out/dance.bvh                 the take through Blender's own BVH exporter
    demo_out/dance.mp4                 a Workbench preview with the song and the lyric line as a caption
                                       (H.264 + AAC): the mannequin, a camera keeping it in frame
    demo_out/dance_contact_sheet.png   the pose early in each lyric line, one tile each, labelled with the time
    demo_out/dance.npz                 the server's result file (what the take was keyed from)

Exit status: 0 done; 2 when something to start from is missing (the default model until the team
ships one, a song or lyrics file); 1 when generating or rendering fails (the message says why).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_ASSETS = ROOT / "server" / "lm2d" / "assets" / "demo"
DEFAULT_CHECKPOINT = ROOT / "server" / "lm2d" / "checkpoints" / "default"
MODEL_FPS = 30


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
    parser.add_argument("--preview-size", default="640x360", metavar="WxH", help="MP4 frame size (default 640x360)")
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
        raise DemoError(f"--preview-size {args.preview_size!r}: expected WIDTHxHEIGHT, e.g. 640x360", status=2)
    args.preview_size = (width, height)
    return checkpoint


class Console:
    """The demo's own lines. Standard output and error go to demo_out/blender.log while Blender
    works (it prints a line per rendered frame, EGL notices, operator reports)."""

    def __init__(self):
        self.stream = sys.stdout
        self.stages: list[tuple[str, float, float]] = []   # name, wall seconds, CPU seconds of this process

    def say(self, line: str = "") -> None:
        print(line, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str):
        self.say(f"demo: {name} …")
        started, cpu_started = time.perf_counter(), time.process_time()
        yield
        self.stages.append((name, time.perf_counter() - started, time.process_time() - cpu_started))

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


# --- outputs -------------------------------------------------------------------------------------

def set_movie_output(scene, path: Path) -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):   # Blender 5.0 sorts formats into image / multilayer / video
        settings.media_type = 'VIDEO'
    settings.file_format = 'FFMPEG'
    ffmpeg = scene.render.ffmpeg
    ffmpeg.format, ffmpeg.codec, ffmpeg.audio_codec = 'MPEG4', 'H264', 'AAC'
    ffmpeg.constant_rate_factor = 'MEDIUM'
    scene.render.filepath = str(path)


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
            from lm2d_blender.contact_sheet import render_contact_sheet
            from lm2d_blender.preview import build_stage

            bpy.ops.wm.read_factory_settings(use_empty=True)
            lm2d_blender.register()
        context = bpy.context
        try:
            job = generate(context, args, checkpoint, console)
            scene = context.scene
            with console.stage("setting the stage (camera, floor, captions)"):
                build_stage(scene, job.armature, args.preview_size)
            set_movie_output(scene, outputs["mp4"])
            with console.stage("saving the .blend"):
                save_blend(outputs["blend"])
            with console.stage("exporting the BVH (Blender's exporter)"):
                export_bvh(context, job.armature, outputs["bvh"])
            with console.stage(f"rendering the MP4 preview ({args.preview_fps} fps)"):
                rendered = render_preview(scene, outputs["mp4"], args.preview_fps, args.preview_seconds)
            with console.stage("rendering the contact sheet"):
                tiles = render_contact_sheet(scene, outputs["png"])
        finally:
            lm2d_blender.unregister()   # stops the server
    frames = scene.frame_end - scene.frame_start + 1
    console.say()
    console.say(f"song      {args.audio.name}: {frames / MODEL_FPS:.1f} s, lyrics {args.lyrics.name} "
                f"({len(scene.timeline_markers)} lines)")
    console.say(f"dance     {frames} frames at {MODEL_FPS} FPS on '{job.armature.name}' ({job.action.name}), "
                f"model {job.model}, seed {args.seed}")
    console.say(f"preview   {rendered} frames at {args.preview_fps} fps, "
                f"{args.preview_size[0]}x{args.preview_size[1]}; contact sheet {tiles} tiles")
    # CPU seconds are this process's (Blender and its render threads), not the server's: on a busy
    # machine they say what a stage costs when the wall time does not.
    for name, seconds, cpu in console.stages:
        console.say(f"  {seconds:7.2f} s  {name}  ({cpu:.1f} CPU-s)")
        if name == "generating the dance":
            for stage, stage_seconds in job.stage_seconds.items():
                console.say(f"  {'':9}  {stage_seconds:7.2f} s  server: {stage}")
    console.say(f"  {sum(seconds for _, seconds, _ in console.stages):7.2f} s  total")
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
