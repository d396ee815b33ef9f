"""One module per `lm2d` subcommand (each: HELP, add_arguments(parser), run(args)), and the
argument helpers they share."""
from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1 (steps, batch sizes, widths)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_int_list(text: str) -> list[int]:
    """argparse type for a comma-separated list of counts, each at least 1 ("1,2,4"). One
    argument, not nargs="+", so positional arguments after the option stay positional."""
    try:
        return [positive_int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers such as 1,2,4, got {text!r}") from None


def add_text_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-model", type=Path,
                        help="lyric encoder folder (default: the packaged all-MiniLM-L6-v2)")


def add_training_run_arguments(parser: argparse.ArgumentParser, steps_help: str) -> None:
    """The arguments every training command (train, distill) takes after its own."""
    parser.add_argument("--steps", type=positive_int, help=steps_help)
    parser.add_argument("--batch-size", type=positive_int, help="windows per step and device (overrides the config)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: cuda when available)")
    add_text_model_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_evaluator_training_arguments(parser: argparse.ArgumentParser, steps: int, batch_size: int,
                                     learning_rate: float) -> None:
    """What the evaluation models' trainers (train-matcher, train-gesture-classifier) share."""
    parser.add_argument("--steps", type=positive_int, default=steps, help=f"optimiser steps (default {steps})")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"windows per step (default {batch_size})")
    parser.add_argument("--learning-rate", type=float, default=learning_rate,
                        help=f"AdamW learning rate (default {learning_rate:g})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batches (default 0)")
