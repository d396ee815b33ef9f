#!/usr/bin/env python3
"""The pictures in README.md and docs/, remade from what the project produces:

    docs/images/demo.webp            a few seconds of the demo's preview, animated (README's top)
    docs/images/contact_sheet.png    the demo's contact sheet, scaled down
    docs/images/beat_alignment.png   the demo dance's kinetic velocity against the demo song's beats
    docs/images/evaluation.png       the held-out evaluation table of docs/MODEL_CARD.md, as bars per model

Run `python build.py demo` first (it writes demo_out/), then
    .venv/bin/python tools/make_doc_images.py [--demo-out demo_out]
Each image is kept well under 1.5 MB. Training curves need the runs' metrics.csv
(`lm2d train` and `lm2d distill` write one): pass --metrics PATH (repeatable) to add docs/images/training.png."""
from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
MODEL_CARD = ROOT / "docs" / "MODEL_CARD.md"
DEMO_SONG = ROOT / "server" / "lm2d" / "assets" / "demo" / "demo.ogg"
ANIMATION_SECONDS = (4.4, 11.2)     # the first two lyric lines of the demo song
ANIMATION_SIZE, ANIMATION_FPS = (480, 270), 15
SHEET_WIDTH = 1200
PLOTTED_METRICS = (("BAS", "BAS ↑ (beat alignment)"), ("FID_k", "FID_k ↓ (kinetic realism)"),
                   ("SM R@3", "SM R@3 ↑ (lyrics match)"), ("gesture hit", "gesture hit ↑"))


def render_animation(blend: Path, out: Path) -> None:
    """Render the demo scene's frames (Workbench, as the preview) and write an animated WebP."""
    import bpy
    from PIL import Image

    sys.path.insert(0, str(ROOT))   # the add-on package lives at the repository root
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    render = scene.render
    render.resolution_x, render.resolution_y = ANIMATION_SIZE
    render.image_settings.media_type = 'IMAGE'
    render.image_settings.file_format = 'PNG'
    scene.display.render_aa = 'FXAA'
    step = round(render.fps / render.fps_base / ANIMATION_FPS)
    first, last = (scene.frame_start + round(s * render.fps / render.fps_base) for s in ANIMATION_SECONDS)
    frames = []
    with tempfile.TemporaryDirectory() as scratch:
        for frame in range(first, last, step):
            scene.frame_set(frame)
            render.filepath = str(Path(scratch) / f"{frame:05d}.png")
            bpy.ops.render.render(write_still=True)
            frames.append(Image.open(render.filepath).convert("RGB"))
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=round(1000 / ANIMATION_FPS),
                   loop=0, quality=60, method=4)


def shrink_sheet(sheet: Path, out: Path) -> None:
    from PIL import Image

    image = Image.open(sheet).convert("RGB")
    height = round(image.height * SHEET_WIDTH / image.width)
    image.resize((SHEET_WIDTH, height), Image.LANCZOS).quantize(colors=128).save(out, optimize=True)


def plot_beat_alignment(result: Path, song: Path, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lm2d.evaluation.beat_align import (beat_alignment_score, beat_times_to_frames, motion_beats,
                                            smoothed_kinetic_velocity)
    from lm2d.features import extract_features

    with np.load(result) as data:
        joints, fps = data["joint_positions"], float(data["fps"])
    music = extract_features(song, cache=False)
    beats = beat_times_to_frames(music.beat_times, fps)
    beats = beats[beats < len(joints) - 1]
    velocity = smoothed_kinetic_velocity(joints)
    dance_beats = motion_beats(joints)
    score = beat_alignment_score(joints, beats)
    seconds = np.arange(len(velocity)) / fps
    figure, axis = plt.subplots(figsize=(9, 3.0), dpi=110)
    for i, beat in enumerate(beats):
        axis.axvline(beat / fps, color="#4c72b0", alpha=0.35, lw=1, label="music beat" if i == 0 else None)
    axis.plot(seconds, velocity, color="#333333", lw=1.2, label="kinetic velocity (smoothed)")
    axis.plot(dance_beats / fps, velocity[dance_beats], "o", color="#dd8452", ms=4, label="motion beat")
    axis.set(xlabel="seconds", ylabel="m / frame", xlim=(0, seconds[-1]), ylim=(0, 1.15 * velocity.max()),
             title=f"Beat alignment, {song.name} ({music.tempo:.0f} BPM): BAS {score:.2f} (shipped model, seed 0)")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=8, ncol=3, frameon=False)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def held_out_rows(card: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the model card's held-out evaluation table (the one with a BAS column)."""
    lines = card.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model | sampler |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return header, rows


def short_label(row: list[str], column: dict) -> str:
    """'student v3/cm2' -> 'student v3\n2 steps'; 'baseline (music only)/ddim50' -> 'music only\nDDIM 50'."""
    name = row[0].replace("*", "").split("/")[0].replace("baseline (music only)", "music only")
    steps = row[column["steps"]]
    if not steps.isdigit():
        return name
    return f"{name}\n{'DDIM ' + steps if row[column['sampler']] == 'ddim' else steps + ' step' + 's' * (steps != '1')}"


def plot_evaluation(card: Path, out: Path) -> None:
    """Bars per model (network alone and with the beat accent), one panel per metric."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    header, rows = held_out_rows(card)
    column = {re.sub(r"\s*[↑↓→]$", "", name): i for i, name in enumerate(header)}
    models, plain, accented = [], {}, {}
    for row in rows:
        name = row[0].replace("*", "")
        if name.startswith("+ accent"):
            accented[models[-1]] = row
            continue
        if name.startswith(("teacher v2", "student v2")):
            continue                                  # superseded models: the table keeps them, the plot not
        models.append(name)
        plain[name] = row
    figure, axes = plt.subplots(2, 2, figsize=(10, 5.6), dpi=100)
    axes = axes.ravel()
    positions = np.arange(len(models))
    for axis, (metric, title) in zip(axes, PLOTTED_METRICS):
        values = [float(plain[m][column[metric]]) for m in models]
        with_accent = [float(accented[m][column[metric]]) if m in accented else np.nan for m in models]
        axis.bar(positions - 0.2, values, 0.4, color="#8c8c8c", label="network")
        axis.bar(positions + 0.2, with_accent, 0.4, color="#dd8452", label="as written (beat accent, foot lock)")
        axis.set_title(title, fontsize=10)
        axis.set_xticks(positions, [short_label(plain[m], column) for m in models], fontsize=7)
    axes[1].legend(fontsize=8, loc="upper left")
    figure.suptitle("Held-out evaluation, corpus v2 test split (docs/MODEL_CARD.md)", fontsize=11)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


NOT_LOSSES = ("step", "lr", "windows_per_s")


def plot_training(runs: list[Path], out: Path) -> None:
    """One panel per run's metrics.csv (`lm2d train`: total and its terms; `lm2d distill`: loss),
    each loss as its logged points and a running mean over 10 of them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.2), dpi=100, squeeze=False)
    for axis, metrics in zip(axes[0], runs):
        with open(metrics, newline="") as handle:
            rows = list(csv.DictReader(handle))
        steps = np.array([float(row["step"]) for row in rows])
        for name in [name for name in rows[0] if name not in NOT_LOSSES]:
            values = np.array([float(row[name]) for row in rows])
            line, = axis.plot(steps, values, lw=0.6, alpha=0.35)
            kernel = np.ones(min(10, len(values))) / min(10, len(values))
            axis.plot(steps[len(kernel) - 1:], np.convolve(values, kernel, mode="valid"), lw=1.4,
                      color=line.get_color(), label=name)
        axis.set(xlabel="step", ylabel="loss", yscale="log", title=metrics.parent.name)
        axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-out", type=Path, default=ROOT / "demo_out", help="what `build.py demo` wrote")
    parser.add_argument("--metrics", type=Path, action="append", default=[],
                        help="a training or distillation run's metrics.csv, for training curves (repeatable)")
    args = parser.parse_args(argv)
    needed = [args.demo_out / name for name in ("dance.blend", "dance.npz", "dance_contact_sheet.png")]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        print(f"make_doc_images: {missing[0]}: missing (run `python build.py demo` first)", file=sys.stderr)
        return 2
    IMAGES.mkdir(parents=True, exist_ok=True)
    written = [IMAGES / "evaluation.png", IMAGES / "beat_alignment.png", IMAGES / "contact_sheet.png",
               IMAGES / "demo.webp"]
    plot_evaluation(MODEL_CARD, written[0])
    plot_beat_alignment(args.demo_out / "dance.npz", DEMO_SONG, written[1])
    shrink_sheet(args.demo_out / "dance_contact_sheet.png", written[2])
    render_animation(args.demo_out / "dance.blend", written[3])
    if args.metrics:
        written.append(IMAGES / "training.png")
        plot_training(args.metrics, written[-1])
    for path in written:
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
