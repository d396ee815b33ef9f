"""Numbers from the command line and the protocol: finite, in range, one message for both."""
from __future__ import annotations

import argparse
import math

from lm2d.errors import LM2DError
from lm2d.limits import MAX_SEED


def number_problem(value, low: float | None = None, high: float | None = None, *, integer: bool = False,
                   low_open: bool = False) -> str | None:
    """Why `value` is not an acceptable number (None when it is). Bools are not numbers; ints
    are accepted where floats are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        return f"must be {'int' if integer else 'float'}, got {type(value).__name__}"
    if not integer:
        try:
            if not math.isfinite(value):
                return f"must be a finite number, got {value}"
        except OverflowError:   # an int too large for a float
            return f"must be a finite number, got {_short(value)}"
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            return f"must be {'above' if low_open else 'between'} {_short(low)} " \
                   f"{'and at most' if low_open else 'and'} {_short(high)}, got {_short(value)}"
        if too_low:
            return f"must be {'above' if low_open else 'at least'} {_short(low)}, got {_short(value)}"
        return f"must be at most {_short(high)}, got {_short(value)}"
    return None


def check_number(value, name: str, low: float | None = None, high: float | None = None, *,
                 integer: bool = False, low_open: bool = False, path=None):
    problem = number_problem(value, low, high, integer=integer, low_open=low_open)
    if problem:
        raise LM2DError(f"{name} {problem}", path=path)
    return value


def _short(value) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


def cli_number(low: float | None = None, high: float | None = None, *, integer: bool = False,
               low_open: bool = False):
    """An argparse `type=` that accepts only finite numbers in [low, high] (a bad one: usage + one
    error line, exit 2, like any other argparse error)."""
    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            short = text if len(text) <= 24 else text[:10] + "..."
            raise argparse.ArgumentTypeError(f"{short!r} is not {'a whole number' if integer else 'a number'}") from None
        problem = number_problem(value, low, high, integer=integer, low_open=low_open)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


seed = cli_number(0, MAX_SEED, integer=True)   # the server's range (lm2d.server.protocol) too
