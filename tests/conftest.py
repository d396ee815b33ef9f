"""Shared fixtures. Real data lives in ../shared/data beside the repository (never copied in).

A fresh clone has no ../shared: the tests that need it skip, saying why. CI sets
LM2D_REQUIRE_SHARED_DATA=1 (.ci/run), which turns those skips into failures so they always run
there. LM2D_SHARED_DATA names another folder holding the same files."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dance_data import write_tiny_checkpoint

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LM2D_SHARED_DATA") or REPO.parent / "shared" / "data")
REQUIRE_SHARED_DATA = os.environ.get("LM2D_REQUIRE_SHARED_DATA", "") not in ("", "0")

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
        reason = f"needs the third-party test data in {SHARED_DATA} (see README, Tests)"
        if REQUIRE_SHARED_DATA:
            pytest.fail(f"{reason}; LM2D_REQUIRE_SHARED_DATA is set", pytrace=False)
        pytest.skip(reason)
    return SHARED_DATA


# --- fixtures shared by several test modules ------------------------------------------------------

@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    """A private feature/clip cache for this module (restored afterwards)."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("lm2d_cache")
        patch.setenv("LM2D_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def encoder():
    from lm2d.lyrics import TextEncoder
    return TextEncoder()


@pytest.fixture(scope="module")
def sample_result(shared_data, tmp_path_factory):
    """A real SMPL motion (the AIST++-layout sample), written by lm2d and read by the add-on."""
    from lm2d.motion.io import load_motion, save_result_npz
    from lm2d_blender.result_file import read_result

    path = tmp_path_factory.mktemp("take") / "sample.npz"
    save_result_npz(load_motion(shared_data / "motion" / "smpl_sample_127f.pkl"), path)
    return read_result(path)


# --- a briefly trained teacher and its distilled student (test_distill.py, test_editing.py) --------

def session_dir(tmp_path_factory, name: str) -> Path:
    """A directory shared by test_distill.py and test_editing.py within one pytest session: the
    module that runs first builds the dataset, teacher and student there; the other loads them."""
    return tmp_path_factory.getbasetemp() / f"lm2d_distill_{name}"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """LM2D_CACHE in the session directory, so the clip features are computed once a session."""
    with pytest.MonkeyPatch.context() as patch:
        path = session_dir(tmp_path_factory, "cache")
        path.mkdir(exist_ok=True)
        patch.setenv("LM2D_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def distill_dataset(tmp_path_factory, shared_data, shared_cache) -> Path:
    """Two clips of the test dataset (dance_data.write_dataset)."""
    from dance_data import CLIPS, write_dataset

    root = session_dir(tmp_path_factory, "data")
    if not root.exists():
        staging = root.with_name(root.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        write_dataset(staging, shared_data, clips=CLIPS[:2])
        staging.rename(root)
    return root


@pytest.fixture(scope="module")
def distill_train_set(distill_dataset, encoder):
    from dance_data import TINY_CONFIG

    from lm2d.train.config import load_run_config
    from lm2d.train.dataset import DanceDataset

    tiny = load_run_config(TINY_CONFIG)
    return DanceDataset(distill_dataset, "train", tiny.model, stride=15, encoder=encoder)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory, distill_train_set) -> Path:
    """configs/tiny.json trained for a few seconds: a teacher that has learnt something."""
    from dance_data import SINGLE, TEACHER_STEPS, TINY_CONFIG

    from lm2d.train.config import load_run_config
    from lm2d.train.trainer import Trainer

    run = session_dir(tmp_path_factory, "teacher")
    if not (run / "checkpoint" / "model.json").is_file():
        run.mkdir(exist_ok=True)
        config = load_run_config(TINY_CONFIG).replace_train(
            steps=TEACHER_STEPS, batch_size=8, learning_rate=2e-3, checkpoint_every=TEACHER_STEPS, log_every=50)
        Trainer(config, distill_train_set.normalizer, run, SINGLE, progress=False).run(distill_train_set,
                                                                                     TEACHER_STEPS)
    return run


@pytest.fixture(scope="module")
def teacher(teacher_run):
    from lm2d.distill.distiller import load_teacher

    return load_teacher(teacher_run)


@pytest.fixture(scope="module")
def student_run(tmp_path_factory, teacher, distill_train_set) -> Path:
    """The teacher distilled for STUDENT_STEPS steps."""
    from dance_data import SINGLE, STUDENT_STEPS, fast_config

    from lm2d.distill.distiller import Distiller

    run = session_dir(tmp_path_factory, "student")
    if not (run / "checkpoint" / "model.json").is_file():
        run.mkdir(exist_ok=True)
        Distiller(teacher, fast_config(), run, SINGLE, progress=False).run(distill_train_set, STUDENT_STEPS)
    return run


@pytest.fixture(scope="module")
def student(student_run):
    from lm2d.model.checkpoint import load_checkpoint

    return load_checkpoint(student_run / "checkpoint")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, shared_data) -> Path:
    """An untrained tiny checkpoint, one per test module (the CLI's model in its tests)."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("cli") / "tiny", shared_data)


@pytest.fixture
def private_cache(tmp_path_factory, monkeypatch):
    """lm2d's cache in this test run's own folder, shared by the CLI tests."""
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path_factory.getbasetemp() / "cli_cache"))
