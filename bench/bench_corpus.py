"""The corpus builder: synthesis and choreography speed, a small corpus build, and the
procedural choreographer's own dance metrics (it is a deterministic baseline generator).

Metrics are over one 30 s synthesised song per style (pop, hip-hop, electronic, ballad,
waltz, folk), danced to their true beats with their written lyrics: beat alignment (Bailando's
BAS), PFC (EDGE's, x 10^4), foot skating (mean horizontal speed of feet in EDGE contact).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

SECONDS = 30.0
STYLES = ("pop", "hiphop", "electronic", "ballad", "waltz", "folk")


def _timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def run() -> list[tuple[str, str]]:
    from lm2d.corpus.build import build_corpus, make_synth_song
    from lm2d.corpus.choreographer import choreograph, frame_count
    from lm2d.corpus.music_synth import plan_song, random_spec
    from lm2d.corpus.song_audio import render_song
    from lm2d.evaluation.beat_align import beat_alignment_score, beat_times_to_frames
    from lm2d.evaluation.foot_contact import physical_foot_contact
    from lm2d.motion.skeleton import FOOT_JOINTS

    long_plan = plan_song(random_spec(1, 180.0, style="pop"))
    _, render_time = _timed(lambda: render_song(long_plan))
    long_frames = frame_count(long_plan.duration)
    long_motion, dance_time = _timed(lambda: choreograph(long_plan.beat_times, long_plan.duration, None, style="pop"))

    scores = {"bas": [], "pfc": [], "skate": [], "floor": []}
    for index, style in enumerate(STYLES):
        song = make_synth_song(random_spec(100 + index, SECONDS, style=style))
        n_frames = frame_count(song.duration)
        motion = choreograph(song.plan.beat_times, song.duration, song.lyrics,
                             energy=song.plan.energy_curve(30, n_frames), style=style, seed=index,
                             beats_per_bar=song.plan.meter.beats_per_bar)
        joints = motion.joints()
        contact = motion.foot_contacts()[1:]
        speed = np.linalg.norm(np.diff(joints[:, list(FOOT_JOINTS), :2], axis=0), axis=-1) * 30.0
        scores["bas"].append(beat_alignment_score(joints, beat_times_to_frames(song.plan.beat_times, 30)))
        scores["pfc"].append(physical_foot_contact(joints))
        scores["skate"].append(speed[contact].mean())
        scores["floor"].append(np.abs(joints[:, list(FOOT_JOINTS), 2].min(axis=1)).max())

    with tempfile.TemporaryDirectory() as scratch:
        _, build_time = _timed(lambda: build_corpus(Path(scratch) / "corpus", songs=6, seconds=30.0, seed=0))

    return [
        (f"synthesise a {long_plan.duration:.0f} s song (no vocals)", f"{render_time:.2f} s"),
        (f"choreograph a {long_plan.duration:.0f} s song ({long_frames} frames)",
         f"{dance_time:.2f} s ({long_motion.n_frames / dance_time:.0f} frames/s)"),
        ("build a 6-song corpus of 30 s songs (synth + lyrics + dance + files)", f"{build_time:.1f} s"),
        ("choreographer BAS, 6 styles (mean, min)", f"{np.mean(scores['bas']):.3f}, {np.min(scores['bas']):.3f}"),
        ("choreographer PFC x10^4 (mean)", f"{np.mean(scores['pfc']):.4f}"),
        ("foot skating in EDGE contact (mean)", f"{np.mean(scores['skate']) * 100:.2f} cm/s"),
        ("lowest foot's distance from the floor (max, jumps included)", f"{np.max(scores['floor']) * 100:.1f} cm"),
    ]


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
