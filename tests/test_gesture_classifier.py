"""The lyric-gesture classifier and hit rate on a tiny corpus built by lm2d.corpus.build: six
synthesised 45-second songs (one held out), danced by the choreographer with its lyric gestures.
(Corpus v2's base dance turns and spins too, so telling the spin gesture from the base takes more
than four songs and a 32-wide network.)"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lm2d.cli import main
from lm2d.corpus.build import build_corpus, synth_source
from lm2d.corpus.choreographer import choreograph
from lm2d.errors import LM2DError
from lm2d.evaluation.gesture_classifier import (MIN_NEGATIVES_PER_CLIP, NONE, SEGMENT_FRAMES, GestureClassifierConfig,
                                                classifier_scores, corpus_gesture_events, load_gesture_classifier,
                                                lyric_gesture_hit_rate, mirrored, predict_gestures,
                                                save_gesture_classifier, segment_features, split_examples,
                                                split_gesture_events, time_shifted, train_gesture_classifier)
from lm2d.motion.io import load_motion

SONGS, SECONDS, SEED = 6, 45.0, 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gesture_corpus") / "corpus"
    build_corpus(root, songs=SONGS, seconds=SECONDS, seed=SEED)
    return root


@pytest.fixture(scope="module")
def test_clip(corpus):
    """The held-out clip: its id, real joints and recorded gesture events."""
    (clip_id, events), = split_gesture_events(corpus, "test").items()
    assert events, "the held-out song must sing some gesture keywords"
    return clip_id, load_motion(corpus / "test" / clip_id / "motion.npz").joints(), events


@pytest.fixture(scope="module")
def classifier(corpus):
    config = GestureClassifierConfig(width=64)
    examples = split_examples(corpus, "train", config.labels, augment=True, copies=4)
    return train_gesture_classifier(examples, config, steps=300, batch_size=64, seed=0)


def test_classifier_names_held_out_gestures(corpus, classifier):
    scores = classifier_scores(classifier, split_examples(corpus, "test", classifier.config.labels))
    chance = 1.0 / len(classifier.config.labels)
    assert scores["events"] >= 3 and scores["none_windows"] >= MIN_NEGATIVES_PER_CLIP
    assert scores["event_accuracy"] >= 0.5 > 5 * chance
    assert scores["none_false_positive_rate"] <= 0.25


def test_hit_rate_follows_the_lyrics(classifier, test_clip):
    clip_id, joints, events = test_clip
    on_time = lyric_gesture_hit_rate(classifier, joints, events)
    out_of_step = lyric_gesture_hit_rate(classifier, time_shifted(joints, 5.0), events)

    # The same song danced by the choreographer without lyrics: its base dance, no gestures.
    clip = synth_source(int(clip_id.split("_")[1]), SEED, SECONDS).make()
    assert clip.clip_id == clip_id
    music_only = choreograph(clip.beat_times, clip.duration, None, energy=clip.energy, style=clip.style,
                             seed=clip.seed, beats_per_bar=clip.beats_per_bar, n_frames=clip.n_frames)
    without_lyrics = lyric_gesture_hit_rate(classifier, music_only, events)

    assert on_time >= 0.5
    assert out_of_step < on_time and without_lyrics < on_time
    seen = predict_gestures(classifier, music_only.joints(), [(e.start, e.end) for e in events])
    assert seen.count(NONE) >= len(events) // 2


def test_ground_truth_hit_rate_is_the_classifiers_event_accuracy(corpus, classifier, test_clip):
    _, joints, events = test_clip
    scores = classifier_scores(classifier, split_examples(corpus, "test", classifier.config.labels))
    assert lyric_gesture_hit_rate(classifier, joints, events) == pytest.approx(scores["event_accuracy"])
    assert np.isnan(lyric_gesture_hit_rate(classifier, joints, []))


def test_save_load_round_trip_predicts_identically(tmp_path, corpus, classifier, test_clip):
    _, joints, events = test_clip
    weights = save_gesture_classifier(classifier, tmp_path / "gestures", notes={"why": "test"})
    loaded = load_gesture_classifier(weights.with_suffix(".json"))
    assert loaded.config == classifier.config
    features = torch.from_numpy(segment_features(joints, [(e.start, e.end) for e in events]))
    with torch.no_grad():
        assert torch.equal(loaded(features), classifier(features))
    assert json.loads(weights.with_suffix(".json").read_text())["notes"] == {"why": "test"}

    (tmp_path / "matcher.json").write_text(json.dumps({"kind": "semantic_matcher", "config": {}}))
    shutil.copy(weights, tmp_path / "matcher.safetensors")
    with pytest.raises(LM2DError, match="not a gesture classifier"):
        load_gesture_classifier(tmp_path / "matcher.safetensors")
    with pytest.raises(LM2DError, match="not found"):
        load_gesture_classifier(tmp_path / "missing")


def test_features_ignore_where_the_dancer_stands_and_faces(test_clip):
    _, joints, events = test_clip
    windows = [(e.start, e.end) for e in events]
    angle = 2.0
    turn = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    moved = joints @ turn.T.astype(np.float32) + np.array([3.0, -1.0, 0.0], np.float32)
    features = segment_features(joints, windows)
    assert features.shape == (len(windows), SEGMENT_FRAMES, features.shape[2])
    np.testing.assert_allclose(segment_features(moved, windows), features, atol=1e-4)
    np.testing.assert_array_equal(mirrored(mirrored(joints)), joints)
    assert not np.allclose(segment_features(mirrored(joints), windows), features, atol=1e-2)


def test_events_come_from_the_lyrics_without_corpus_json(tmp_path, corpus, test_clip):
    clip_id, _, recorded = test_clip
    bare = tmp_path / "bare"
    shutil.copytree(corpus / "test", bare / "test")
    assert corpus_gesture_events(bare) is None
    (from_lyrics,) = split_gesture_events(bare, "test").values()
    assert [e.gesture for e in from_lyrics] == [e.gesture for e in recorded]
    # The LRC file keeps word times to 10 ms.
    np.testing.assert_allclose([(e.start, e.end) for e in from_lyrics], [(e.start, e.end) for e in recorded],
                               atol=0.02)


def test_corpus_json_errors_name_the_file(tmp_path):
    (tmp_path / "corpus.json").write_text('{"clips": [{"id": "a", "gesture_events": [{"gesture": "wave"}]}]}')
    with pytest.raises(LM2DError, match="corpus.json"):
        corpus_gesture_events(tmp_path)
    (tmp_path / "corpus.json").write_text('{"clips": [\n')
    with pytest.raises(LM2DError, match=r"corpus\.json:2: not valid JSON"):
        corpus_gesture_events(tmp_path)


def test_cli_trains_and_evaluate_reports_the_hit_rate(tmp_path, corpus, cache_root, capsys):
    out = tmp_path / "gestures"
    assert main(["train-gesture-classifier", "--data", str(corpus), "--out", str(out), "--steps", "60",
                 "--batch-size", "32", "--width", "16"]) == 0
    notes = json.loads(out.with_suffix(".json").read_text())["notes"]
    held_out = notes["test_scores"]
    assert held_out["events"] >= 3 and 0.0 <= held_out["none_false_positive_rate"] <= 1.0
    assert "test:" in capsys.readouterr().out

    results = tmp_path / "eval"
    assert main(["evaluate", "--data", str(corpus), "--gesture-classifier", str(out.with_suffix(".safetensors")),
                 "--out", str(results)]) == 0
    with open(results / "results.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["label"] == "ground truth"
    assert float(row["gesture_hit"]) == pytest.approx(held_out["event_accuracy"])
    markdown = (results / "results.md").read_text()
    assert "gesture hit ↑" in markdown and f"/{held_out['events']} |" in markdown
    assert "out of step with its lyrics" in markdown
