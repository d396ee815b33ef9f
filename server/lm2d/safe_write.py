"""Every file lm2d writes goes through here, so that nothing the user has is ever overwritten by
mistake or left half-written.

- check_output(path, inputs=...): before any work, refuse an output that is a directory, is one
  of the job's inputs (the same file by any name), is read-only, or lies where nothing can be
  written (probed by creating a file there).
- atomic_output(path) / atomic_open(path): the data goes to a temp file in the target's folder,
  is fsynced, gets the target's mode (an existing file's, else 0666 minus the umask: 0644
  normally) and is renamed over the target in one step. On any failure, exceptions and Ctrl-C
  included, the temp file is removed and the target is untouched; a write error (full disk,
  permission) becomes one LM2DError line with code "io_error".
- A process killed mid-write (SIGKILL) leaves a temp file named TEMP_PREFIX<pid>-...; the next
  write into that folder removes it once that process is gone.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from lm2d.errors import LM2DError

TEMP_PREFIX = ".lm2d-partial-"
STALE_SECONDS = 24 * 3600     # a temp file this old is stale even if its pid is alive (pid reuse)


def current_umask() -> int:
    """The process umask, read without changing it (os.umask sets it, which races other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (hard links and symlinks included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:   # one of them does not exist (yet): compare where they would resolve to
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 suffixes: Sequence[str] | None = None, what: str = "output file") -> Path:
    """The absolute output path, or LM2DError when writing it would fail or destroy an input."""
    path = Path(path).expanduser().absolute()
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise LM2DError(f"unknown output format {path.suffix or '(no extension)'!r}: the {what} must end in "
                        f"{' or '.join(suffixes)}", path=path)
    if path.is_dir():
        raise LM2DError(f"is a directory; give a file name for the {what}", path=path)
    for source in inputs:
        if source is not None and same_file(path, source):
            raise LM2DError(f"is also an input of this command ({os.fspath(source)}); writing the {what} "
                            "there would destroy it: give another name", path=path)
    if path.exists() and not os.access(path, os.W_OK):
        raise LM2DError(f"is read-only; not replacing it (choose another {what} name)", path=path, code="io_error")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LM2DError(f"cannot write the {what} here: {existing} is not a directory", path=path, code="io_error")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise LM2DError(f"cannot write the {what} here: {err.strerror or err}", path=path, code="io_error") from err
    return path


def write_error(path: str | os.PathLike, err: OSError) -> LM2DError:
    return LM2DError(f"could not be written: {err.strerror or err}; nothing was changed", path=path,
                     code="io_error")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path in path's folder to write the whole file to; on success it becomes `path`.
    The temp name ends with path's name, so writers that add a suffix (np.savez) leave it alone."""
    path = Path(path)
    folder = _make_folder(path)
    remove_stale_partials(folder)
    try:
        handle, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=f"-{path.name}", dir=folder)
    except OSError as err:
        raise write_error(path, err) from err
    os.close(handle)
    temp = Path(temp)
    try:
        yield temp
        _publish(temp, path)
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise write_error(path, err) from err
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **open_args) -> Iterator[IO]:
    """atomic_output as an open stream (the name is kept exactly, e.g. no '.npy' appended)."""
    with atomic_output(path) as temp, open(temp, mode, **open_args) as stream:
        yield stream


@contextlib.contextmanager
def atomic_output_folder(path: str | os.PathLike) -> Iterator[Path]:
    """For writers that make several files (glTF + .bin): yield a temp folder beside `path`; what
    is written into it under path's name and its companions is moved beside `path`, `path` last."""
    path = Path(path)
    folder = _make_folder(path)
    remove_stale_partials(folder)
    try:
        temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=folder))
    except OSError as err:
        raise write_error(path, err) from err
    try:
        yield temp
        made = sorted(temp.iterdir(), key=lambda item: item.name == path.name)
        if not made or made[-1].name != path.name:
            raise LM2DError("the writer did not produce the file", path=path, code="io_error")
        for item in made:
            _publish(item, folder / item.name)
    except OSError as err:
        raise write_error(path, err) from err
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def remove_stale_partials(folder: str | os.PathLike) -> None:
    """Remove temp files (and folders) of writes that were killed: their process is gone, or
    they are older than STALE_SECONDS. Best effort: a folder that cannot be listed is skipped."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        pid_text = entry.name[len(TEMP_PREFIX):].split("-", 1)[0]
        try:
            pid = int(pid_text)
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
        except (ValueError, OSError):
            continue
        if pid == os.getpid() and not old:
            continue
        if old or not _process_alive(pid):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _make_folder(path: Path) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(path, err) from err
    return folder


def _publish(temp: Path, path: Path) -> None:
    """fsync, give the target's mode, rename over it, fsync the folder (so the rename survives a crash)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~current_umask()
    with open(temp, "rb+") as stream:
        os.fsync(stream.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a whole text file (UTF-8) atomically."""
    with atomic_open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def write_tensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write torch tensors as a safetensors file, atomically."""
    from safetensors.torch import save_file

    with atomic_output(path) as temp:
        save_file(tensors, os.fspath(temp), metadata=metadata)


def write_npz(path: str | os.PathLike, arrays: dict, compressed: bool = False) -> None:
    """Write arrays as an .npz atomically. The archive is built in memory first: numpy's zip writer
    streaming into a file that fails mid-way (full disk) leaves a ZipFile that raises again when it
    is collected, so the disk only ever sees one plain write."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    with atomic_open(path) as stream:
        stream.write(buffer.getbuffer())
