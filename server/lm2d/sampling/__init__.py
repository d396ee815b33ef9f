"""Sampling the dance model, in k-diffusion's manner (docs/ARCHITECTURE.md):

samplers.py    DDIM and k-step consistency as small functions (a Plan each) and the one step loop `run`
denoisers.py   denoise(x, level) callables: guided diffusion, the consistency student; cancellation
windows.py     the long-form window layout: split, overlap ties, stitching
inpainting.py  what an edit keeps (Kept), seam blending
song.py        `sample`: a whole song or an edit of one, the checkpoint's way
"""
from lm2d.errors import Cancelled
from lm2d.sampling.inpainting import BLEND_FRAMES, LOWER_BODY, Kept, joint_indices
from lm2d.sampling.samplers import DDIM_STEPS, Known, Plan, consistency, ddim, run
from lm2d.sampling.song import MAX_BATCH, SamplingSettings, default_steps, sample

__all__ = ["BLEND_FRAMES", "Cancelled", "DDIM_STEPS", "Kept", "Known", "LOWER_BODY", "MAX_BATCH", "Plan",
           "SamplingSettings", "consistency", "ddim", "default_steps", "joint_indices", "run", "sample"]
