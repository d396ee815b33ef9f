"""`lm2d distill`: consistency-distil a trained diffusion model. Multi-device:
torchrun --nproc_per_node N -m lm2d.cli distill ..."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.commands import add_training_run_arguments

HELP = "Distil a trained diffusion model into a 1-to-few-step consistency model (also under torchrun)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", type=Path, required=True,
                        help="the diffusion model: a training run directory or a checkpoint")
    parser.add_argument("--data", type=Path, required=True, help="dataset directory (docs/DATASET.md)")
    parser.add_argument("--out", type=Path, required=True, help="run directory: checkpoint/, metrics.csv")
    parser.add_argument("--config", type=Path,
                        help="distillation config JSON (docs/DISTILLATION.md; default: the built-in settings)")
    parser.add_argument("--init", type=Path, metavar="CHECKPOINT",
                        help="start the student from this consistency checkpoint (same architecture as the "
                             "teacher) instead of from the teacher: re-distil after the teacher trained further")
    add_training_run_arguments(parser, steps_help="training steps (overrides the config)")


def run(args: argparse.Namespace) -> int:
    # Imported here so `lm2d --help` does not pay for torch.
    from lm2d.distill.distiller import distill, load_distill_config
    from lm2d.train.distributed import run_as_worker

    def job(ctx) -> None:
        result = distill(args.teacher, args.data, args.out, ctx, load_distill_config(args.config),
                         steps=args.steps, batch_size=args.batch_size, text_model=args.text_model,
                         init=args.init, progress=not args.no_progress)
        if ctx.is_main:
            print(f"distilled for {result.step} steps (last loss {result.last_loss:.4g}); "
                  f"checkpoint: {result.checkpoint}", flush=True)

    return run_as_worker(args.device, job)
