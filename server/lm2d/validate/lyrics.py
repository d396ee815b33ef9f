"""Lyric times: every format's times end up checked here (lm2d.lyrics.parse.check_segments),
and the numbers they are written with are bounded in digits before int() or float() sees them."""
from __future__ import annotations

import math

from lm2d.errors import LM2DError
from lm2d.limits import MAX_LYRIC_SECONDS, MAX_TIME_DIGITS

# A regex piece for the digits of one time field: longer runs do not match at all, so a
# 400-digit minute is "malformed", not an OverflowError.
DIGITS = rf"\d{{1,{MAX_TIME_DIGITS}}}"


def time_problem(value: float) -> str | None:
    """Why `value` (seconds) cannot be a lyric time, or None."""
    if not math.isfinite(value):
        return f"is not a finite time ({value})"
    if value < 0:
        return f"is negative ({value:.3f} s)"
    if value > MAX_LYRIC_SECONDS:
        return f"is past {MAX_LYRIC_SECONDS / 3600:g} hours ({value:.0f} s)"
    return None


def check_time(value: float, what: str, path, line: int | None = None) -> None:
    problem = time_problem(value)
    if problem:
        raise LM2DError(f"{what} {problem}", path=path, line=line)
