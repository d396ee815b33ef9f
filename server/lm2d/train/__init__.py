"""Training: dataset windows, EDGE's losses, the trainer (single process or torchrun DDP).
See docs/DATASET.md for the data layout and `lm2d train --help` for the command."""
from lm2d.train.config import LossWeights, RunConfig, TrainConfig, load_run_config
from lm2d.train.dataset import DanceDataset, find_clips
from lm2d.train.losses import LossTerms, diffusion_losses
from lm2d.train.trainer import Trainer, TrainResult, train

__all__ = ["DanceDataset", "LossTerms", "LossWeights", "RunConfig", "TrainConfig", "TrainResult", "Trainer",
           "diffusion_losses", "find_clips", "load_run_config", "train"]
