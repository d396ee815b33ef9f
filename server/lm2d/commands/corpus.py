"""`lm2d corpus --out DIR`: build a training corpus of danced songs (docs/DATASET.md layout)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = ("Build a training corpus: synthesised songs with written lyrics plus the shared real "
        "clips, each danced by the procedural choreographer, and your own real dances (--danced), "
        "split train/test by song.")

# ../shared/data beside the repository, when lm2d runs from a checkout.
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="corpus folder to create (empty or new)")
    parser.add_argument("--songs", type=int, default=40, help="synthesised songs (default 40)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="length of each synthesised song (default: drawn between 20 and 60 s)")
    parser.add_argument("--seed", type=int, default=0, help="seed: the same seed builds the same corpus")
    parser.add_argument("--shared-data", type=Path, default=None,
                        help="folder with music/ and songs/ of real clips to add (default: "
                             f"{DEFAULT_SHARED_DATA} if it exists)")
    parser.add_argument("--no-shared-data", action="store_true", help="synthesised songs only")
    parser.add_argument("--danced", type=Path, metavar="DIR",
                        help="your own real dances to add, one folder per song: audio.*, motion.npz (e.g. from "
                             "`lm2d import-mocap`), optional lyrics.* (docs/DATASET.md); written as they are")


def run(args: argparse.Namespace) -> int:
    import torch

    from lm2d.corpus.build import build_corpus
    from lm2d.corpus.danced import danced_sources

    torch.set_num_threads(1)   # forward kinematics on small batches: threads only add overhead
    shared = None if args.no_shared_data else args.shared_data
    if shared is None and not args.no_shared_data and DEFAULT_SHARED_DATA.is_dir():
        shared = DEFAULT_SHARED_DATA
    started = time.perf_counter()
    metadata = build_corpus(args.out, songs=args.songs, seconds=args.seconds, seed=args.seed,
                            shared_data=shared, progress=lambda line: print(line, file=sys.stderr, flush=True),
                            extra_sources=danced_sources(args.danced, args.seed) if args.danced else ())
    events = sum(len(clip["gesture_events"]) for clip in metadata["clips"])
    print(f"{args.out}: {len(metadata['splits']['train'])} train and {len(metadata['splits']['test'])} test "
          f"clips, {events} gesture events, in {time.perf_counter() - started:.0f} s")
    return 0
