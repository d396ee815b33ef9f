"""`lm2d train-matcher`: train the semantic matching model used by `lm2d evaluate --matcher`."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.commands import add_evaluator_training_arguments, add_text_model_argument, positive_int

HELP = "Train the dance/lyrics semantic matcher (motion encoder vs frozen lyric embeddings)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset directory (docs/DATASET.md)")
    parser.add_argument("--split", default="train", help="split to train on (default: train)")
    parser.add_argument("--eval-split", default="test",
                        help="split to report ground truth vs time-shuffled scores on, if present (default: test)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output path: writes OUT.safetensors and OUT.json")
    add_evaluator_training_arguments(parser, steps=2000, batch_size=64, learning_rate=1e-3)
    parser.add_argument("--stride", type=positive_int, default=15, help="frames between training windows")
    parser.add_argument("--width", type=positive_int, default=128, help="hidden width of the encoders")
    parser.add_argument("--embed-dim", type=positive_int, default=128, help="size of the shared space")
    add_text_model_argument(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from lm2d.commands.evaluate import text_encoder_tag
    from lm2d.errors import LM2DError
    from lm2d.progress import Progress
    from lm2d.evaluation.evaluate import load_songs, song_examples
    from lm2d.evaluation.matcher import (MatcherConfig, concatenate_examples, encode_texts, examples_from_song,
                                         save_matcher, semantic_scores, shuffled_in_time, train_matcher)
    from lm2d.lyrics import TextEncoder

    encoder = TextEncoder(args.text_model)

    def encode(lines):
        return [e.sentence for e in encoder.encode_lines(lines)]

    songs = load_songs(args.data, args.split)
    examples = concatenate_examples([examples_from_song(s.joints, s.lyric_lines, args.stride) for s in songs])
    if not examples.texts:
        raise LM2DError(f"no window of the {args.split!r} split has lyrics to train on", path=args.data)
    print(f"train-matcher: {len(examples.texts)} windows, {len(set(examples.texts))} lyric texts, "
          f"{len(songs)} songs", file=sys.stderr)
    config = MatcherConfig(text_dim=encoder.dim, width=args.width, embed_dim=args.embed_dim,
                           text_encoder=text_encoder_tag(encoder))
    progress = Progress(args.steps, "train-matcher", "steps")

    def log(step: int, loss: float) -> None:
        progress.update(step - progress.done, f"loss {loss:.4f}")

    with progress:
        matcher = train_matcher(examples, encode_texts(examples.texts, encode), config, steps=args.steps,
                                batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
                                log=log)
    notes = {"data": str(args.data), "split": args.split, "windows": len(examples.texts), "steps": args.steps,
             "stride": args.stride, "seed": args.seed}

    try:
        held_out = load_songs(args.data, args.eval_split)
    except LM2DError:
        held_out = []
    if held_out:
        per_song = [song_examples(s.joints, s) for s in held_out]
        truth = concatenate_examples(per_song)
        if truth.texts:
            vectors = encode_texts(truth.texts, encode)
            real = semantic_scores(matcher, truth, vectors, seed=args.seed)
            shuffled = semantic_scores(matcher, shuffled_in_time(truth, [len(e.texts) for e in per_song], args.seed),
                                       vectors, seed=args.seed)
            for name, scores in (("ground truth", real), ("time-shuffled", shuffled)):
                print(f"{args.eval_split} {name}: cos {scores['cosine']:.4f}  R@1 {scores['top1']:.3f}  "
                      f"R@3 {scores['top3']:.3f}  ({scores['windows']} windows, {scores['candidates']} candidates)")
            notes[f"{args.eval_split}_scores"] = {"ground_truth": real, "time_shuffled": shuffled}
    weights = save_matcher(matcher, args.out, notes)
    print(f"train-matcher: wrote {weights} and {weights.with_suffix('.json')}", file=sys.stderr)
    return 0
