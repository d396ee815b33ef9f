"""`lm2d train` under torchrun: two CPU workers (gloo) train in lock step and only rank 0 writes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


from dance_data import CLIPS, write_dataset

from lm2d.model.checkpoint import load_checkpoint
from lm2d.model.config import ModelConfig
from lm2d.model.denoiser import Denoiser
from lm2d.train.dataset import DanceDataset
from lm2d.train.distributed import parameter_digest
from lm2d.train.state import load_train_state

REPO = Path(__file__).resolve().parents[1]


def test_two_process_torchrun_keeps_ranks_identical(tmp_path, shared_data, monkeypatch):
    data = write_dataset(tmp_path / "data", shared_data, clips=CLIPS[:2])
    run = tmp_path / "run"
    monkeypatch.setenv("LM2D_CACHE", str(tmp_path / "cache"))
    # Fill the clip cache here, where librosa is likely warm already, instead of in rank 0.
    DanceDataset(data, "train", ModelConfig(n_frames=60, lyrics=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "lm2d.cli", "train", "--config", str(REPO / "configs" / "tiny.json"),
               "--data", str(data), "--out", str(run), "--steps", "4", "--batch-size", "2",
               "--device", "cpu", "--no-progress"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained to step 4") == 1          # rank 0 alone reports and writes

    state = load_train_state(run / "train_state")
    digests = state.notes["rank_weight_digests"]
    assert state.step == 4 and state.notes["world_size"] == 2 and len(digests) == 2
    assert digests[0] == digests[1]                               # both ranks hold the same weights
    model = Denoiser(ModelConfig.from_dict(state.config["model"]))
    model.load_state_dict(state.model)
    assert parameter_digest(model) == digests[0]                  # ... and they are the saved ones

    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["4"]
    assert load_checkpoint(run / "checkpoint").meta["training"]["step"] == 4
    assert not list(run.glob(".*saving"))
