"""`lm2d train-lifter`: train the landmark lifter that `lm2d video2motion` fits the skeleton to."""
from __future__ import annotations

import argparse
from pathlib import Path

from lm2d.commands import add_evaluator_training_arguments, positive_int

HELP = ("Train the landmark lifter (MediaPipe landmarks -> SMPL joints) on renders of known motion "
        "(tools/make_lifter_data.py).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="folder of tools/make_lifter_data.py's .npz clips")
    parser.add_argument("--out", type=Path, required=True, help="output path: writes OUT.safetensors and OUT.json")
    parser.add_argument("--held-out", type=float, default=0.1,
                        help="share of the clips kept out of training to report the error on (default 0.1)")
    add_evaluator_training_arguments(parser, steps=3000, batch_size=32, learning_rate=1e-3)
    parser.add_argument("--hidden", type=positive_int, default=128, help="channels of the convolutions")
    parser.add_argument("--window", type=positive_int, default=81, help="frames per training window (default 81)")


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    import numpy as np
    import torch

    from lm2d.errors import LM2DError
    from lm2d.progress import Progress
    from lm2d.video.lifter import LifterConfig, joint_error, read_lifter_data, save_lifter, train_lifter

    if not 0.0 <= args.held_out < 1.0:
        raise LM2DError(f"--held-out must be in [0, 1), got {args.held_out}")
    torch.set_num_threads(1)   # a small model on small batches: more threads only contend
    started = time.perf_counter()
    clips = read_lifter_data(args.data)
    names = sorted(clips)
    held = set(np.random.default_rng(args.seed).permutation(names)[:int(round(args.held_out * len(names)))])
    train = [view for name in names if name not in held for view in clips[name]]
    frames = sum(len(clip.features) for clip in train)
    print(f"train-lifter: {len(names) - len(held)} clips ({frames} frames with the mirrored copies), "
          f"{len(held)} held out", file=sys.stderr)
    progress = Progress(args.steps, "train-lifter", "steps")
    with progress:
        lifter = train_lifter(train, steps=args.steps, batch=args.batch_size, window=args.window,
                              learning_rate=args.learning_rate,
                              seed=args.seed, config=LifterConfig(hidden=args.hidden),
                              progress=lambda step, loss: progress.update(step - progress.done, f"loss {loss:.4f}"))
    notes = {"data": str(args.data), "clips": len(names) - len(held), "frames": frames, "steps": args.steps,
             "seed": args.seed, "seconds": round(time.perf_counter() - started, 1)}
    if held:
        with torch.no_grad():
            errors = [float(joint_error(lifter(torch.from_numpy(clip.features)[None])[0], torch.from_numpy(clip.joints)))
                      for name in sorted(held) for clip in clips[name][:1]]
        notes["held_out"] = {"clips": sorted(held), "joint_error_m": round(float(np.mean(errors)), 4)}
        print(f"held out: mean joint error {100 * np.mean(errors):.1f} cm over {len(held)} clips")
    weights = save_lifter(lifter, args.out, notes)
    print(f"train-lifter: wrote {weights} and {weights.with_suffix('.json')} in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return 0
