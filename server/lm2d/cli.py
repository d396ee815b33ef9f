"""`lm2d` command line. Each subcommand lives in lm2d/commands/<name>.py and defines
HELP, add_arguments(parser) and run(args) -> int. Bad input exits 2 with one line."""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from lm2d import __version__
from lm2d.errors import LM2DError, LM2DWarning

# Subcommands in the order `lm2d --help` lists them.
COMMANDS = [
    "features",
    "lyrics",
    "convert",
    "import-mocap",
    "export",
    "generate",
    "sections",
    "train",
    "distill",
    "train-matcher",
    "train-gesture-classifier",
    "evaluate",
    "corpus",
    "smpl-body",
    "video2motion",
    "dataset-from-videos",
    "train-lifter",
]


def _print_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, LM2DWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)


class OneLineErrorParser(argparse.ArgumentParser):
    """A bad argument is bad input like any other: one line, exit 2 (not argparse's usage block)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="lm2d", description="Lyrics- and music-driven dance synthesis.")
    parser.add_argument("--version", action="version", version=f"lm2d {__version__}",
                        help="print lm2d's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"lm2d.commands.{name.replace('-', '_')}")
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _print_warning
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except LM2DError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
