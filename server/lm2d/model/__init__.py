"""The LM2D dance model: denoiser, diffusion, DDIM sampling, long-form generation, checkpoints."""
from lm2d.model.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from lm2d.model.config import ModelConfig
from lm2d.model.denoiser import Denoiser
from lm2d.model.diffusion import Conditioning, GaussianDiffusion
from lm2d.model.longform import generate_long, split_windows, stitch_windows, window_starts
from lm2d.model.normalizer import Normalizer
from lm2d.model.sampling import Cancelled, Known, ddim_sample

__all__ = [
    "Cancelled", "Conditioning", "Denoiser", "GaussianDiffusion", "Known", "LoadedModel", "ModelConfig",
    "Normalizer", "ddim_sample", "generate_long", "load_checkpoint", "save_checkpoint", "split_windows",
    "stitch_windows", "window_starts",
]
