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
