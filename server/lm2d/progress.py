"""Counts, rate and ETA for the long loops of lm2d's commands. On a terminal a live tqdm bar; when
stderr goes to a log (CI, nohup, a pipe) a plain line each time an item ends, at most one every
LOG_INTERVAL seconds plus the last one, so the counts and the ETA reach the log as well."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

LOG_INTERVAL = 10.0   # seconds between log lines when stderr is not a terminal
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]{postfix}"


class Progress:
    def __init__(self, total: int, desc: str, unit: str = "it", enabled: bool = True,
                 log_interval: float = LOG_INTERVAL):
        self.total, self.desc, self.unit = total, desc, unit
        live = enabled and sys.stderr.isatty()
        self.logging = enabled and not live
        self.log_interval = log_interval
        self.bar = tqdm(total=total, desc=desc, unit=unit, disable=not live, dynamic_ncols=True, leave=False)
        self.done = 0
        self.started = time.monotonic()
        self._logged_at = self.started

    def update(self, count: int = 1, note: str = "") -> None:
        """`count` more items finished; note: what the last one was (a name, a loss)."""
        self.done += count
        self.bar.set_postfix_str(note, refresh=False)
        self.bar.update(count)
        now = time.monotonic()
        if self.logging and (now - self._logged_at >= self.log_interval or self.done >= self.total):
            self._logged_at = now
            print(self.line(now, note), file=sys.stderr, flush=True)

    def line(self, now: float, note: str = "") -> str:
        return tqdm.format_meter(self.done, self.total, now - self.started, prefix=self.desc, unit=self.unit,
                                 bar_format=LINE_FORMAT, postfix=note or None)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
