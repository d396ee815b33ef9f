"""Shared fixtures. Real data lives in ../shared/data beside the repository (never copied in).

A fresh clone has no ../shared: the tests that need it skip, saying why. CI sets
LM2D_REQUIRE_SHARED_DATA=1 (.ci/run), which turns those skips into failures so they always run
there. LM2D_SHARED_DATA names another folder holding the same files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LM2D_SHARED_DATA") or REPO.parent / "shared" / "data")
REQUIRE_SHARED_DATA = os.environ.get("LM2D_REQUIRE_SHARED_DATA", "") not in ("", "0")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Set before torch is imported (here and in every server subprocess): the tests' tiny models gain
# nothing from threads, and on a shared 2-core machine two threads spin and stall each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        reason = f"needs the third-party test data in {SHARED_DATA} (see README, Tests)"
        if REQUIRE_SHARED_DATA:
            pytest.fail(f"{reason}; LM2D_REQUIRE_SHARED_DATA is set", pytrace=False)
        pytest.skip(reason)
    return SHARED_DATA
