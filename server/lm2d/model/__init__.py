"""The LM2D dance model: denoiser, diffusion, normaliser, checkpoints. Sampling it is lm2d.sampling's."""
from lm2d.model.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from lm2d.model.config import ModelConfig
from lm2d.model.denoiser import Denoiser
from lm2d.model.diffusion import Conditioning, GaussianDiffusion
from lm2d.model.normalizer import Normalizer

__all__ = ["Conditioning", "Denoiser", "GaussianDiffusion", "LoadedModel", "ModelConfig", "Normalizer",
           "load_checkpoint", "save_checkpoint"]
