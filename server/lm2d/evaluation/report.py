"""The evaluation table as text, CSV and Markdown, and the PNG plots (when matplotlib imports)."""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from lm2d.safe_write import atomic_open, atomic_output, write_text


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    better: str        # "higher", "lower", "closer to ground truth" or "" (not a quality)
    digits: int


COLUMNS: tuple[Column, ...] = (
    Column("bas", "BAS", "higher", 4),
    Column("pfc", "PFC", "lower", 3),
    Column("fid_k", "FID_k", "lower", 2),
    Column("fid_g", "FID_g", "lower", 2),
    Column("div_k", "Div_k", "closer to ground truth", 2),
    Column("div_g", "Div_g", "closer to ground truth", 2),
    Column("sm_cosine", "SM cos", "higher", 4),
    Column("sm_top1", "SM R@1", "higher", 3),
    Column("sm_top3", "SM R@3", "higher", 3),
    Column("gesture_hit", "gesture hit", "higher", 3),
    Column("seconds_per_song", "s/song", "", 1),
)
# Body usage (evaluation/body_usage.py): how much of the body the dances use, in body heights.
# No arrow: more is not better, real dance is the yardstick (the reference rows).
BODY_COLUMNS: tuple[Column, ...] = (
    Column("wrist_speed", "wrist h/s", "", 3),
    Column("head_speed", "head h/s", "", 3),
    Column("pelvis_speed", "pelvis h/s", "", 3),
    Column("trunk_tilt_p95", "tilt p95 °", "", 1),
    Column("hip_yaw_rate", "hip yaw °/s", "", 1),
    Column("pelvis_height_std", "pelvis z std h", "", 4),
    Column("floor_travel", "travel h/s", "", 3),
    Column("jerk", "jerk h/s³", "", 0),
    Column("knee_flexion_p95", "knee p95 °", "", 1),
    Column("knee_flexion_std", "knee std °", "", 1),
    Column("legs_arms_ratio", "legs/arms", "", 2),
)
_ARROWS = {"higher": "↑", "lower": "↓", "closer to ground truth": "→", "": ""}

Row = Mapping[str, object]   # "label", "sampler", "steps" and COLUMNS keys (missing: not measured)


def _format(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.{digits}f}"


def _columns_in(rows: Sequence[Row], columns: Sequence[Column] = COLUMNS) -> list[Column]:
    return [c for c in columns if any(c.key in row for row in rows)]


def _cells(rows: Sequence[Row], columns: Sequence[Column] = COLUMNS) -> tuple[list[str], list[list[str]]]:
    columns = _columns_in(rows, columns)
    header = ["model", "sampler", "steps"] + [f"{c.title} {_ARROWS[c.better]}".strip() for c in columns]
    body = [[str(row["label"]), str(row.get("sampler", "")), _format(row.get("steps"), 0)]
            + [_format(row.get(c.key), c.digits) for c in columns] for row in rows]
    return header, body


def format_table(rows: Sequence[Row], columns: Sequence[Column] = COLUMNS) -> str:
    """Fixed-width text table for the terminal (BODY_COLUMNS: the body-usage table)."""
    header, body = _cells(rows, columns)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i >= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths)))
             for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(path: str | os.PathLike, rows: Sequence[Row]) -> Path:
    """One row per model with full-precision numbers (empty cell: not measured), body usage included."""
    path = Path(path)
    keys = ["label", "sampler", "steps"] + [c.key for c in _columns_in(rows, COLUMNS + BODY_COLUMNS)]
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(keys)
        for row in rows:
            writer.writerow(["" if row.get(k) is None else row.get(k) for k in keys])
    return path


def write_markdown(path: str | os.PathLike, rows: Sequence[Row], title: str,
                   notes: Sequence[str] = (), per_song: Sequence[Row] = (), body_rows: Sequence[Row] = ()) -> Path:
    """The table, what each arrow means, free-form notes, the body-usage table of `body_rows` (the
    runs' rows and real-mocap reference rows) and optionally a per-song table."""
    path = Path(path)
    header, body = _cells(rows)
    lines = [f"# {title}", "", _markdown_table(header, body), ""]
    lines.append("↑ higher is better, ↓ lower is better, → closer to the ground truth row is better. "
                 "Definitions: docs/METRICS.md.")
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    if _columns_in(body_rows, BODY_COLUMNS):
        header, body = _cells(body_rows, BODY_COLUMNS)
        lines += ["", "## Body usage", "", _markdown_table(header, body), "",
                  "Means over songs; lengths in body heights (h), speeds per second, the wrists and head "
                  "relative to the pelvis. Real dance (the reference rows) is the yardstick: docs/METRICS.md."]
    if per_song:
        song_header = ["song", "model", "BAS", "PFC", "SM cos", "windows", "gesture hits"]
        song_body = [[str(r["song"]), str(r["label"]), _format(r.get("bas"), 4), _format(r.get("pfc"), 3),
                      _format(r.get("sm_cosine"), 4), _format(r.get("sm_windows"), 0), _hits(r)] for r in per_song]
        lines += ["", "## Per song", "", _markdown_table(song_header, song_body)]
    write_text(path, "\n".join(lines) + "\n")
    return path


def _hits(song_row: Row) -> str:
    """'hits/events' of a per-song row scored with a gesture classifier, else '–'."""
    if song_row.get("gesture_events") is None:
        return "–"
    return f"{song_row['gesture_hits']}/{song_row['gesture_events']}"


def _markdown_table(header: list[str], body: list[list[str]]) -> str:
    align = ["---"] * 3 + ["--:"] * (len(header) - 3)
    return "\n".join("| " + " | ".join(line) + " |" for line in [header, align[:len(header)], *body])


# --- plots --------------------------------------------------------------------------------------

def matplotlib_pyplot():
    """pyplot on the file-only Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_beats(path: str | os.PathLike, title: str, velocities: Mapping[str, np.ndarray],
               motion_beats: Mapping[str, np.ndarray], music_beats: np.ndarray, fps: float = 30.0) -> Path | None:
    """Smoothed kinetic velocity of each model over time, music beats as vertical lines, each
    model's motion beats as dots on its curve. Returns None without matplotlib."""
    plt = matplotlib_pyplot()
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(14, 4.5))
    for beat in music_beats:
        axis.axvline(beat / fps, color="0.8", linewidth=0.8, zorder=0)
    for label, velocity in velocities.items():
        seconds = np.arange(len(velocity)) / fps
        (line,) = axis.plot(seconds, velocity, linewidth=1.0, label=label)
        beats = np.asarray(motion_beats.get(label, []), dtype=int)
        axis.plot(beats / fps, velocity[beats], "o", markersize=3, color=line.get_color())
    axis.set(title=f"{title}: kinetic velocity (grey lines: music beats, dots: motion beats)",
             xlabel="time (s)", ylabel="mean joint speed (m/frame, smoothed)")
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    with atomic_output(path) as temp:
        figure.savefig(temp, dpi=100)
    plt.close(figure)
    return Path(path)


def plot_metric_bars(path: str | os.PathLike, rows: Sequence[Row]) -> Path | None:
    """One bar chart per measured metric, one bar per model, in a grid in one PNG."""
    plt = matplotlib_pyplot()
    if plt is None:
        return None
    columns = [c for c in _columns_in(rows) if c.better]
    count = max(len(columns), 1)
    per_row = min(count, 3)
    figure, axes = plt.subplots(math.ceil(count / per_row), per_row, figsize=(5 * per_row, 3.6 * math.ceil(count / per_row)),
                                squeeze=False)
    labels = [str(row["label"]) for row in rows]
    for axis, column in zip(axes.flat, columns):
        values = [float("nan") if row.get(column.key) is None else float(row[column.key]) for row in rows]
        axis.bar(range(len(rows)), values, color=[f"C{i}" for i in range(len(rows))])
        axis.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize="small")
        axis.set_title(f"{column.title} ({column.better} is better)", fontsize="medium")
    for axis in list(axes.flat)[len(columns):]:
        axis.axis("off")
    figure.tight_layout()
    with atomic_output(path) as temp:
        figure.savefig(temp, dpi=100)
    plt.close(figure)
    return Path(path)
