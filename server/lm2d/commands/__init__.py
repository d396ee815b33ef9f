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


def add_text_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-model", type=Path,
                        help="lyric encoder folder (default: the packaged all-MiniLM-L6-v2)")


def add_training_run_arguments(parser: argparse.ArgumentParser, steps_help: str) -> None:
    """The arguments every training command (train, distill) takes after its own."""
    parser.add_argument("--steps", type=positive_int, help=steps_help)
    parser.add_argument("--batch-size", type=positive_int, help="windows per step and device (overrides the config)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_text_model_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
