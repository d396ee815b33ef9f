"""`lm2d train`: train a dance model. Multi-device: torchrun --nproc_per_node N -m lm2d.cli train ..."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.commands import add_training_run_arguments

HELP = "Train a dance diffusion model on a dataset directory (also under torchrun)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path,
                        help="training config JSON (configs/lm2d.json); --resume uses the run's own")
    parser.add_argument("--data", type=Path, required=True, help="dataset directory (docs/DATASET.md)")
    parser.add_argument("--out", type=Path, required=True,
                        help="run directory: checkpoint/, train_state/, metrics.csv")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--init", type=Path, metavar="CHECKPOINT",
                        help="start a new run from this diffusion checkpoint's weights (same architecture as "
                             "--config): fine-tune the shipped teacher on your data, or train a model further")
    add_training_run_arguments(parser, steps_help="total steps to train to (overrides the config)")


def run(args: argparse.Namespace) -> int:
    # Imported here so `lm2d --help` does not pay for torch.
    from lm2d.train.config import load_run_config
    from lm2d.train.distributed import run_as_worker
    from lm2d.train.trainer import describe, train

    def job(ctx) -> None:
        config = load_run_config(args.config) if args.config is not None else None
        result = train(config, args.data, args.out, ctx, resume=args.resume, steps=args.steps,
                       batch_size=args.batch_size, text_model=args.text_model, init=args.init,
                       progress=not args.no_progress)
        if ctx.is_main:
            describe(result)

    return run_as_worker(args.device, job)
