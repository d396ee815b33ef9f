"""`lm2d train-gesture-classifier`: train the classifier behind `lm2d evaluate --gesture-classifier`."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.commands import add_evaluator_training_arguments, positive_int

HELP = ("Train the lyric-gesture classifier (motion segment -> gesture or none) on a corpus's "
        "gesture events (docs/METRICS.md).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset directory (docs/DATASET.md); its corpus.json gives the gesture events, "
                             "else the clips' lyrics do")
    parser.add_argument("--split", default="train", help="split to train on (default: train)")
    parser.add_argument("--eval-split", default="test",
                        help="split to report held-out accuracy on, if present (default: test)")
    parser.add_argument("--out", type=Path, required=True, help="output path: writes OUT.safetensors and OUT.json")
    add_evaluator_training_arguments(parser, steps=1000, batch_size=128, learning_rate=2e-3)
    parser.add_argument("--width", type=positive_int, default=64, help="channels of the convolutions")


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    import torch

    from lm2d.errors import LM2DError
    from lm2d.progress import Progress
    from lm2d.evaluation.gesture_classifier import (GestureClassifierConfig, classifier_scores,
                                                    save_gesture_classifier, split_examples,
                                                    train_gesture_classifier)

    torch.set_num_threads(1)   # a small model on small batches: more threads only contend
    config = GestureClassifierConfig(width=args.width)
    started = time.perf_counter()
    examples = split_examples(args.data, args.split, config.labels, seed=args.seed, augment=True)
    counts = dict(zip(config.labels, torch.bincount(torch.from_numpy(examples.labels),
                                                    minlength=len(config.labels)).tolist()))
    print(f"train-gesture-classifier: {len(examples.labels)} windows (jittered, mirrored): "
          + ", ".join(f"{label} {count}" for label, count in counts.items() if count), file=sys.stderr)
    progress = Progress(args.steps, "train-gesture-classifier", "steps")

    def log(step: int, loss: float) -> None:
        progress.update(step - progress.done, f"loss {loss:.4f}")

    with progress:
        classifier = train_gesture_classifier(examples, config, steps=args.steps, batch_size=args.batch_size,
                                              learning_rate=args.learning_rate, seed=args.seed, log=log)
    notes = {"data": str(args.data), "split": args.split, "windows": len(examples.labels), "steps": args.steps,
             "seed": args.seed, "seconds": round(time.perf_counter() - started, 1)}
    for split in (args.split, args.eval_split):
        try:
            held = split_examples(args.data, split, config.labels, seed=args.seed)
        except LM2DError as err:
            print(f"train-gesture-classifier: no {split!r} scores ({err})", file=sys.stderr)
            continue
        scores = classifier_scores(classifier, held)
        notes[f"{split}_scores"] = scores
        print(f"{split}: gesture events {scores['events']}, accuracy {scores['event_accuracy']:.3f}; "
              f"none windows {scores['none_windows']}, false positives {scores['none_false_positive_rate']:.3f}; "
              f"all windows {scores['accuracy']:.3f}")
    weights = save_gesture_classifier(classifier, args.out, notes)
    print(f"train-gesture-classifier: wrote {weights} and {weights.with_suffix('.json')} "
          f"in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0
