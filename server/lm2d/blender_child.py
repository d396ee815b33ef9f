"""Running add-on code in Blender as a child process: how the server uses bpy without importing it.

The child is this same interpreter (which must have the `bpy` module, e.g. `pip install bpy==5.0.1`)
with the add-on package lm2d_blender importable; the add-on module's main(argv) does the work and
reports a failure as its last stderr line, `error: ...`."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from lm2d.errors import LM2DError

# The add-on sits beside server/ in a checkout (lm2d is installed from it in editable mode).
DEFAULT_ADDON = Path(__file__).resolve().parents[2] / "lm2d_blender"


def run_addon_module(module: str, args: list[str], addon: Path, what: str, path: str | os.PathLike) -> str:
    """Run `lm2d_blender.<module>.main` with `args` in Blender; returns its stdout. A failure raises
    LM2DError("Blender could not <what>: <the child's error line>") naming `path`."""
    if importlib.util.find_spec("bpy") is None:
        raise LM2DError(f"this Python ({sys.executable}) has no bpy module: `pip install bpy==5.0.1` "
                        f"(Blender as a Python module, Python 3.11) to {what}")
    addon = Path(addon).resolve()
    if not (addon / f"{module}.py").is_file():
        raise LM2DError(f"not the lm2d_blender add-on folder (no {module}.py); pass --addon", path=addon)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(addon.parent), env.get("PYTHONPATH")]))
    code = f"import sys; from {addon.name}.{module} import main; sys.exit(main())"
    child = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if child.returncode != 0:
        raise LM2DError(f"Blender could not {what}: {child_failure(child)}", path=path)
    return child.stdout


def child_failure(child: subprocess.CompletedProcess) -> str:
    """The cause of a failed child: its own "error:" line, else the operating system's reason (a
    traceback ends with Blender's "Location: .../bpy/ops.py" line, which says nothing)."""
    lines = [line.strip() for line in (child.stderr or child.stdout or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    for line in reversed(lines):
        if any(cause in line for cause in ("No space left", "Permission denied", "Read-only file system",
                                           "Disk quota", "Errno")):
            return line
    return lines[-1] if lines else f"exit status {child.returncode}"
