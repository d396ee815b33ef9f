#!/usr/bin/env python3
"""Project commands. Each one makes sure .venv exists and is current, then runs.

    python build.py demo        generate a dance for the bundled demo song (writes demo_out/)
    python build.py test        run the test suite
    python build.py bench       run bench/ and write bench/RESULTS.md
    python build.py extension   build the installable Blender extension zip into dist/

Uses only the standard library so it runs with any Python 3.11 before the venv exists.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".lm2d-install-stamp"
# The install is redone only when one of these changes.
INSTALL_INPUTS = ("pyproject.toml", "constraints.txt")


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _install_fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for name in INSTALL_INPUTS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> Path:
    """Create or refresh .venv; a no-op (well under a second) when already current."""
    fingerprint = _install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint and venv_python().exists():
        return venv_python()
    if not venv_python().exists():
        print("build.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("build.py: installing lm2d and its dependencies into .venv", flush=True)
    subprocess.run(
        [str(venv_python()), "-m", "pip", "install", "--quiet",
         "-c", str(ROOT / "constraints.txt"), "torch==2.13.0", "-e", f"{ROOT}[dev]"],
        check=True,
    )
    STAMP.write_text(fingerprint)
    return venv_python()


def run(args: list[str]) -> int:
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(args, cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    commands = {
        "test": lambda py, rest: run([str(py), "-m", "pytest", *rest]),
        "demo": lambda py, rest: run([str(py), str(ROOT / "tools" / "demo.py"), *rest]),
        "bench": lambda py, rest: run([str(py), str(ROOT / "bench" / "run.py"), *rest]),
        "extension": lambda py, rest: run([str(py), str(ROOT / "tools" / "build_extension.py"), *rest]),
    }
    if len(argv) < 1 or argv[0] not in commands:
        print(__doc__)
        return 2
    python = ensure_venv()
    return commands[argv[0]](python, argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
