"""The `lm2d` command line as a whole: its version, help on every option, progress lines."""
from __future__ import annotations

import argparse
import subprocess
import sys

import lm2d
from lm2d.cli import build_parser
from lm2d.progress import Progress


def all_actions(parser: argparse.ArgumentParser, command: str = "lm2d"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_actions(sub, name)
        else:
            yield command, action


def test_every_option_and_argument_has_help():
    missing = [(command, action.option_strings or action.dest) for command, action in all_actions(build_parser())
               if not action.help or action.help == argparse.SUPPRESS]
    assert missing == []


def test_version_is_the_packages():
    done = subprocess.run([sys.executable, "-m", "lm2d", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"lm2d {lm2d.__version__}\n"


def test_progress_in_a_log_is_lines_with_counts_and_eta(capsys):
    with Progress(3, "evaluate", "dances", log_interval=0.0) as progress:
        for song in ("a", "b", "c"):
            progress.update(1, f"teacher: {song}")
    lines = capsys.readouterr().err.splitlines()      # pytest's stderr is not a terminal: no bar
    assert [line.split(" [")[0] for line in lines] == [f"evaluate: {n}/3 dances" for n in (1, 2, 3)]
    assert lines[-1].endswith("<00:00], teacher: c")   # elapsed<remaining, then what just finished


def test_progress_in_a_log_is_throttled_but_always_tells_the_end(capsys):
    with Progress(100, "train-matcher", "steps", log_interval=3600.0) as progress:
        for _ in range(100):
            progress.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("train-matcher: 100/100 steps [")


def test_progress_can_be_silenced(capsys):
    with Progress(2, "x", enabled=False) as progress:
        progress.update(2)
    assert capsys.readouterr().err == ""
