"""Cost of `lm2d evaluate`'s scoring on this machine.

No trained checkpoint and no dataset with a test split exist yet, so this times the metric side
only: N synthetic 3-minute dances (lm2d.corpus's procedural choreographer on a 120 BPM beat grid,
timed lyric lines every 5 s) scored as ground truth plus one "model" (the same dances half a
beat late), with FID against a reference of N more dances and an untrained semantic matcher (its
cost does not depend on its weights). Generation time per song is measured in bench_model.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from lm2d.corpus.choreographer import choreograph
from lm2d.evaluation.beat_align import beat_alignment_score
from lm2d.evaluation.evaluate import EvalSong, MotionSet, motion_features, score_sets, song_examples
from lm2d.evaluation.foot_contact import physical_foot_contact
from lm2d.evaluation.matcher import MatcherConfig, SemanticMatcher, encode_texts, semantic_scores
from lm2d.lyrics import TextEncoder

SONGS = 4
SECONDS = 180.0
FPS = 30
BEAT_SECONDS = 0.5
LINE_SECONDS = 5.0
WORDS = ("up to the sky", "down to the floor", "hands on my heart", "wave goodbye", "spin around",
         "jump", "fly away", "clap your hands", "reach for me", "hold me close")


def synthetic_song(index: int) -> EvalSong:
    beat_times = np.arange(BEAT_SECONDS, SECONDS, BEAT_SECONDS)
    joints = choreograph(beat_times, SECONDS, seed=index).joints()
    lines = [(start, start + LINE_SECONDS - 0.2, f"{WORDS[(index + k) % len(WORDS)]} {k}")
             for k, start in enumerate(np.arange(0.0, SECONDS - LINE_SECONDS, LINE_SECONDS))]
    return EvalSong(f"song{index}", joints, np.zeros((len(joints), 35), np.float32),
                    np.rint(beat_times * FPS).astype(int), lines)


def half_a_beat_late(joints: np.ndarray) -> np.ndarray:
    """The dance delayed by half a beat (the first pose held meanwhile): its beats fall between."""
    delay = int(round(BEAT_SECONDS * FPS / 2))
    return np.concatenate([np.repeat(joints[:1], delay, axis=0), joints[:-delay]])


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def run() -> list[tuple[str, str]]:
    torch.set_num_threads(1)
    songs = [synthetic_song(i) for i in range(SONGS)]
    reference = [synthetic_song(SONGS + i).joints for i in range(SONGS)]
    generated = MotionSet("half a beat late", "", None, [half_a_beat_late(s.joints) for s in songs])
    encoder = TextEncoder()
    texts = [t for s in songs for t in song_examples(s.joints, s).texts]
    vectors = encode_texts(texts, lambda lines: [e.sentence for e in encoder.encode_lines(lines)])
    matcher = SemanticMatcher(MatcherConfig()).eval()

    song, joints = songs[0], songs[0].joints
    _, bas = timed(beat_alignment_score, joints, song.beat_frames)
    _, pfc = timed(physical_foot_contact, joints)
    _, features = timed(motion_features, [joints])
    _, semantic = timed(semantic_scores, matcher, song_examples(joints, song), vectors)
    ground_truth = MotionSet("ground truth", "", None, [s.joints for s in songs])
    evaluation, total = timed(score_sets, songs, [ground_truth, generated], reference, matcher, vectors)
    return [
        ("data", f"{SONGS} synthetic {SECONDS / 60:.0f}-min dances ({len(joints)} frames each) + {SONGS} "
                 f"as FID reference; no trained checkpoint or test split exists yet"),
        ("BAS, one 3-min dance", f"{bas * 1e3:.1f} ms"),
        ("PFC, one 3-min dance", f"{pfc * 1e3:.1f} ms"),
        ("kinetic + geometric features, one 3-min dance (9 segments)", f"{features * 1e3:.1f} ms"),
        ("semantic matcher, one 3-min dance "
         f"({len(song_examples(joints, song).texts)} windows)", f"{semantic * 1e3:.1f} ms"),
        (f"score_sets: {SONGS} songs x 2 runs, all metrics, FID vs {SONGS} reference dances", f"{total:.2f} s"),
        ("scoring cost per song and run", f"{total / (2 * SONGS) * 1e3:.0f} ms"),
        ("BAS ground truth / half a beat late (sanity)",
         f"{evaluation.rows[0]['bas']:.3f} / {evaluation.rows[1]['bas']:.3f}"),
    ]


if __name__ == "__main__":
    for name, value in run():
        print(f"{name}: {value}")
