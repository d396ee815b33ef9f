"""Shared fixtures. Real data lives in ../shared/data beside the repository (never copied in)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Set before torch is imported (here and in every server subprocess): the tests' tiny models gain
# nothing from threads, and on a shared 2-core machine two threads spin and stall each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# One numba cache for the whole run (every test server has its own LM2D_CACHE, which would
# otherwise hold its own numba cache and compile librosa's functions again, for seconds).
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "lm2d" / "numba"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: the tests read real files from ../shared/data")
    return SHARED_DATA
