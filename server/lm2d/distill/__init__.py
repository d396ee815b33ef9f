"""Consistency distillation of the LM2D diffusion model, 1-to-k-step sampling and motion editing
(docs/DISTILLATION.md)."""
from lm2d.distill.consistency import ConsistencyConfig, consistency_function, heun_step, karras_sigmas, step_sigmas
from lm2d.distill.sampler import (LOWER_BODY, consistency_sample, consistency_settings, continue_motion, generate,
                                  keep_joints, regenerate_range)

__all__ = [
    "LOWER_BODY", "ConsistencyConfig", "consistency_function", "consistency_sample", "consistency_settings",
    "continue_motion", "generate", "heun_step", "karras_sigmas", "keep_joints", "regenerate_range", "step_sigmas",
]
