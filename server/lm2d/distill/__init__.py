"""Consistency distillation of the LM2D diffusion model (docs/DISTILLATION.md). Sampling the
student (1 to k steps, whole songs, editing) is lm2d.sampling's."""
from lm2d.distill.consistency import (ConsistencyConfig, consistency_function, consistency_settings, heun_step,
                                      karras_sigmas, step_sigmas)

__all__ = ["ConsistencyConfig", "consistency_function", "consistency_settings", "heun_step", "karras_sigmas",
           "step_sigmas"]
