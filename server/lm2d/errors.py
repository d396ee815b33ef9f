"""User-facing errors: one line that names the file (and line) and what is wrong."""
from __future__ import annotations

import os
import warnings


def one_line(text: str) -> str:
    """`text` with its line breaks shown as escapes: input quoted into a message (a file name, a
    config key) must not break the message over lines."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


class LM2DError(Exception):
    """Bad input from the user. The CLI prints str(err) as one line and exits 2; the server
    turns it into an error event with `code`. Never raised for bugs in lm2d itself."""

    def __init__(self, message: str, path: str | os.PathLike | None = None,
                 line: int | None = None, code: str = "bad_input"):
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        return one_line(f"{where}: {self.message}" if where else self.message)


class LM2DWarning(UserWarning):
    """Something the user should know but that does not stop the job (printed as one line)."""


def warn(message: str, path: str | os.PathLike | None = None, line: int | None = None) -> None:
    where = "" if path is None else os.fspath(path) + ("" if line is None else f":{line}")
    warnings.warn(one_line(f"{where}: {message}" if where else message), LM2DWarning, stacklevel=2)


class Cancelled(LM2DError):
    """The user (the client's cancel, a CLI interrupt hook) asked the job to stop."""

    def __init__(self):
        super().__init__("generation cancelled", code="cancelled")


def stop_if_asked(should_stop) -> None:
    """The one place a job is cancelled: raise Cancelled when should_stop() says so. The pipeline
    calls it between stages and the sampler before every network call."""
    if should_stop is not None and should_stop():
        raise Cancelled()
