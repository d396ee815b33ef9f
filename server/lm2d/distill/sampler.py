"""Sampling a consistency-distilled LM2D model: 1 to k steps, whole songs, and editing.

k-step sampling (Song et al. 2023, Algorithm 1): x = f(σ_1·z, σ_1); then for each further σ_i,
x = f(x + sqrt(σ_i² − ε²)·z, σ_i). The σ_i are k points evenly spaced in index along the Karras grid
the student was distilled on (consistency.step_sigmas: 2 steps on the 18-point grid: 80, 3.26).

Whole songs go through the model package's long-form generation (lm2d.model.longform): all
windows of a song are one batch (split into chunks of max_batch windows), EDGE's overlap tie
("the head of window i+1 := the tail of window i") is applied between steps, and overlaps are
cross-faded at the end. With one step there is nothing between steps, so the cross-fade alone
joins windows; docs/DISTILLATION.md has the measured seam jumps.

Editing re-imposes the known part of the motion, re-noised to the current σ, before every
evaluation; the returned Motion then takes every kept frame / joint verbatim from the input (in
unnormalised space, so kept values are bit-identical) and pulls the regenerated frames next to
each seam onto the kept motion with an offset that fades out over a short blend zone inside the
regenerated range. The editing functions also accept a diffusion checkpoint (DDIM in-painting).
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lm2d.distill.consistency import ConsistencyConfig, SigmaToStep, consistency_function, step_sigmas
from lm2d.errors import LM2DError
from lm2d.model.checkpoint import LoadedModel
from lm2d.model.diffusion import (LYRICS_GUIDANCE, MUSIC_GUIDANCE, Conditioning, GaussianDiffusion,
                                  encode_in_chunks)
from lm2d.model.longform import (check_music_features, generate_long, stitch_windows, tie_overlaps,
                                 window_conditioning, window_starts)
from lm2d.model.sampling import Cancelled, Known, ddim_sample, evaluating, noise_source
from lm2d.motion.representation import FPS, Motion
from lm2d.motion.rotation import matrix_to_quaternion, quaternion_to_matrix, slerp
from lm2d.motion.skeleton import JOINT_NAMES, NUM_JOINTS

DDIM_STEPS = 50          # a diffusion checkpoint's default steps
BLEND_FRAMES = 15        # 0.5 s: regenerated frames pulled onto the kept motion at each seam
LOWER_BODY = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
              "left_foot", "right_foot")
DISTILLATION_KEY = "distillation"    # where a consistency checkpoint keeps its ConsistencyConfig


# --- one batch of windows -----------------------------------------------------------------

def consistency_sample(model: nn.Module, cond: Conditioning, steps: int | None = None, seed: int | None = None,
                       known: Known | None = None, schedule: ConsistencyConfig = ConsistencyConfig(),
                       x_init: Tensor | None = None, on_step: Callable[[float], None] | None = None,
                       should_stop: Callable[[], bool] | None = None,
                       after_step: Callable[[Tensor], Tensor] | None = None,
                       max_batch: int | None = None, clip: bool = True, bf16: bool = True) -> Tensor:
    """(B, T, C) normalised windows for the conditioning batch `cond` in `steps` evaluations.

    known: in-painting (values in normalised x0 space, mask True = kept); re-noised to each step's
    σ and written over x before each evaluation, and exact in the result. x_init: the start noise
    z (standard normal, scaled by σ_max here) instead of drawing it. after_step(x) runs on the
    re-noised x between steps. clip: clamp each f to [-1, 1], the normalised data range.
    bf16: autocast to bfloat16 on CUDA (no effect on CPU). on_step / should_stop as ddim_sample.
    The same seed gives the same sample on any device."""
    sigmas = step_sigmas(schedule.sigmas(), schedule.default_steps if steps is None else steps)
    device = cond.music.device
    shape = (len(cond), cond.music.shape[1], model.config.channels)
    noise = noise_source(seed)
    z = noise(shape, device) if x_init is None else x_init.to(device)
    known = None if known is None else known.to(device)
    to_step = SigmaToStep(GaussianDiffusion(model.config))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")

    x = sigmas[0] * z
    with evaluating(model), torch.inference_mode(), autocast:
        encoded = encode_in_chunks(model, cond, max_batch)   # the same for every step
        for index, sigma in enumerate(sigmas):
            if should_stop is not None and should_stop():
                raise Cancelled()
            if index > 0:
                x = x + math.sqrt(sigma ** 2 - schedule.sigma_min ** 2) * noise(shape, device)
                if after_step is not None:
                    x = after_step(x)
            if known is not None:
                x = torch.where(known.mask, known.values + sigma * noise(shape, device), x)
            x = consistency_function(model, x, sigma, cond, schedule, to_step, max_batch, encoded).float()
            if clip:
                x = x.clamp(-1.0, 1.0)
            if on_step is not None:
                on_step((index + 1) / len(sigmas))
    if known is not None:
        x = torch.where(known.mask, known.values, x)
    return x


# --- checkpoints --------------------------------------------------------------------------

def consistency_settings(loaded: LoadedModel) -> ConsistencyConfig:
    """The σ schedule, baked guidance and default steps a consistency checkpoint was distilled with."""
    if loaded.kind != "consistency":
        raise LM2DError(f"this is a {loaded.kind!r} checkpoint, not a consistency-distilled one")
    stored = loaded.meta.get("training", {}).get(DISTILLATION_KEY)
    if not isinstance(stored, dict):
        raise LM2DError(f'consistency checkpoint without its "training.{DISTILLATION_KEY}" settings')
    try:
        return ConsistencyConfig.from_dict(stored)
    except (TypeError, ValueError) as err:
        raise LM2DError(f"bad consistency settings in the checkpoint: {err}") from err


def default_steps(loaded: LoadedModel) -> int:
    return consistency_settings(loaded).default_steps if loaded.kind == "consistency" else DDIM_STEPS


def window_sampler(loaded: LoadedModel, bf16: bool = True) -> Callable[..., Tensor]:
    """A sampler with generate_long's interface (plus known=) for this checkpoint's kind: DDIM for a
    diffusion model, consistency sampling for a distilled one (whose guidance is baked in, so the
    weights passed are not used)."""
    if loaded.kind == "diffusion":
        return ddim_sample
    schedule = consistency_settings(loaded)

    def sample(model, diffusion, cond, *, steps, music_weight, lyrics_weight, seed, on_step=None,
               should_stop=None, after_step=None, max_batch=None, known=None) -> Tensor:
        return consistency_sample(model, cond, steps=steps, seed=seed, known=known, schedule=schedule,
                                  on_step=on_step, should_stop=should_stop, after_step=after_step,
                                  max_batch=max_batch, bf16=bf16)
    return sample


_COMPILED: "weakref.WeakKeyDictionary[nn.Module, nn.Module]" = weakref.WeakKeyDictionary()


def network_for(loaded: LoadedModel, compile: bool) -> nn.Module:
    """The model, torch.compile'd (once per model) when asked and on CUDA; CPU runs it eagerly."""
    model = loaded.model
    if not compile or next(model.parameters()).device.type != "cuda":
        return model
    if model not in _COMPILED:
        _COMPILED[model] = torch.compile(model)
    return _COMPILED[model]


# --- whole songs --------------------------------------------------------------------------

def generate(loaded: LoadedModel, music_features: np.ndarray, song_tokens=None, steps: int | None = None,
             seed: int | None = None, on_progress: Callable[[float], None] | None = None,
             should_stop: Callable[[], bool] | None = None, max_batch: int = 64,
             compile: bool = False) -> Motion:
    """A Motion of exactly len(music_features) frames (lm2d.model.generate_long with this
    checkpoint's sampler). steps: default the checkpoint's (consistency) or 50 (DDIM)."""
    return generate_long(network_for(loaded, compile), loaded.diffusion, loaded.normalizer, music_features,
                         song_tokens, sampler=window_sampler(loaded),
                         steps=default_steps(loaded) if steps is None else steps,
                         seed=seed, on_progress=on_progress, should_stop=should_stop, max_batch=max_batch)


# --- editing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Kept:
    """What an edit keeps from the input motion: whole frames, and joints / root translation on
    every frame. Everything else is regenerated."""
    frames: np.ndarray                       # (T,) bool
    joints: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, bool))
    translation: bool = False

    def channel_mask(self, contact_dim: int) -> np.ndarray:
        """(T, contact_dim + 147) bool over the model's channels. Foot contacts are known only on
        kept frames: on other frames they depend on joints that are being regenerated."""
        per_frame = np.concatenate([np.zeros(contact_dim + 3, bool), np.repeat(self.joints, 6)])
        per_frame[contact_dim:contact_dim + 3] = self.translation
        return self.frames[:, None] | per_frame[None, :]


def regenerate_range(loaded: LoadedModel, music_features: np.ndarray, song_tokens, motion: Motion,
                     first: int, end: int, steps: int | None = None, seed: int | None = None,
                     blend_frames: int = BLEND_FRAMES, **options) -> Motion:
    """The motion with frames first..end-1 regenerated for the music there; all other frames are
    the input's exactly. options: max_batch, on_progress, should_stop, compile."""
    if not 0 <= first < end <= motion.n_frames:
        raise LM2DError(f"frame range {first}..{end} is not inside the motion's 0..{motion.n_frames} "
                        f"(first must be < end)")
    frames = np.ones(motion.n_frames, bool)
    frames[first:end] = False
    return edit_motion(loaded, music_features, song_tokens, motion, Kept(frames), motion.n_frames,
                       steps, seed, blend_frames, **options)


def keep_joints(loaded: LoadedModel, music_features: np.ndarray, song_tokens, motion: Motion,
                joints: Iterable[int | str] = LOWER_BODY, keep_translation: bool = True,
                steps: int | None = None, seed: int | None = None, **options) -> Motion:
    """The motion with `joints` (SMPL names or indices; default the lower body) and, with
    keep_translation, the root path kept exactly on every frame; the other joints regenerated."""
    kept_joints = np.zeros(NUM_JOINTS, bool)
    kept_joints[joint_indices(joints)] = True
    if kept_joints.all() and keep_translation:
        raise LM2DError("keeping every joint and the root path leaves nothing to regenerate")
    kept = Kept(np.zeros(motion.n_frames, bool), kept_joints, keep_translation)
    return edit_motion(loaded, music_features, song_tokens, motion, kept, motion.n_frames, steps, seed, 0, **options)


def continue_motion(loaded: LoadedModel, music_features: np.ndarray, song_tokens, motion: Motion,
                    n_new_frames: int, steps: int | None = None, seed: int | None = None,
                    blend_frames: int = BLEND_FRAMES, **options) -> Motion:
    """The input motion followed by n_new_frames generated for music_features[T:T + n_new_frames]
    (the features cover the whole result, from the input's first frame)."""
    if n_new_frames < 1:
        raise LM2DError(f"n_new_frames must be at least 1, got {n_new_frames}")
    length = motion.n_frames + n_new_frames
    frames = np.arange(length) < motion.n_frames
    return edit_motion(loaded, music_features, song_tokens, motion, Kept(frames), length, steps, seed,
                       blend_frames, **options)


def joint_indices(joints: Iterable[int | str]) -> list[int]:
    indices = []
    for joint in joints:
        if isinstance(joint, str):
            if joint not in JOINT_NAMES:
                raise LM2DError(f"unknown joint {joint!r}; SMPL joints are {', '.join(JOINT_NAMES)}")
            indices.append(JOINT_NAMES.index(joint))
        elif isinstance(joint, (int, np.integer)) and 0 <= joint < NUM_JOINTS:
            indices.append(int(joint))
        else:
            raise LM2DError(f"joint {joint!r} is neither an SMPL joint name nor an index 0..{NUM_JOINTS - 1}")
    if not indices:
        raise LM2DError("no joints given to keep")
    return indices


def edit_motion(loaded: LoadedModel, music_features: np.ndarray, song_tokens, motion: Motion, kept: Kept,
                length: int, steps: int | None, seed: int | None, blend_frames: int,
                max_batch: int = 64, on_progress: Callable[[float], None] | None = None,
                should_stop: Callable[[], bool] | None = None, compile: bool = False,
                music_weight: float = MUSIC_GUIDANCE, lyrics_weight: float = LYRICS_GUIDANCE) -> Motion:
    """Regenerate what `kept` does not keep over `length` frames (>= the input's; extra frames are
    new) by in-painting the windows that hold anything to regenerate, then restore the kept values
    exactly and blend the seams. The guidance weights apply to a diffusion model (a student's is baked in)."""
    config = loaded.config
    if motion.fps != FPS:
        raise LM2DError(f"the motion is at {motion.fps:g} FPS; editing works at {FPS:g} (lm2d.motion.resample)")
    features = check_music_features(music_features, config.music_dim)
    if features.shape[0] < length:
        raise LM2DError(f"the music features have {features.shape[0]} frames; this edit needs {length}")
    features = features[:length]
    source = _extend(motion, length)

    values = loaded.normalizer.normalize(
        np.concatenate([source.foot_contacts().astype(np.float32), source.to_vector()], axis=1))
    mask = kept.channel_mask(config.contact_dim)
    starts = window_starts(length, config.n_frames)
    needed = [i for i, start in enumerate(starts) if not mask[start:start + config.n_frames].all()]
    chosen = slice(needed[0], needed[-1] + 1)
    cond = window_conditioning(features, song_tokens, starts, config)[chosen]
    known = Known(torch.from_numpy(_windows(values, starts[chosen], config.n_frames)),
                  torch.from_numpy(_windows(mask, starts[chosen], config.n_frames)))

    model = network_for(loaded, compile)
    device = next(model.parameters()).device
    sample = window_sampler(loaded)
    windows = sample(model, loaded.diffusion, cond.to(device), steps=default_steps(loaded) if steps is None else steps,
                     music_weight=music_weight, lyrics_weight=lyrics_weight, seed=seed, on_step=on_progress,
                     should_stop=should_stop, after_step=tie_overlaps, max_batch=max_batch, known=known)
    offset = starts[chosen][0]
    generated = stitch_windows(loaded.normalizer.unnormalize(windows.float().cpu())[..., config.contact_dim:],
                               length=length - offset, fps=motion.fps)

    covered = slice(offset, offset + generated.n_frames)    # frames past it are all kept
    root, rotmats = source.root_translation.copy(), source.local_rotmats.copy()
    root[covered], rotmats[covered] = generated.root_translation, generated.local_rotmats
    root, rotmats = blend_seams(root, rotmats, ~kept.frames, blend_frames)
    keep_root = kept.frames | kept.translation
    keep_rotation = kept.frames[:, None] | kept.joints[None, :]
    root = np.where(keep_root[:, None], source.root_translation, root)
    rotmats = np.where(keep_rotation[..., None, None], source.local_rotmats, rotmats)
    return Motion(root, rotmats, motion.fps)


def _extend(motion: Motion, length: int) -> Motion:
    """The motion held on its last frame up to `length` frames (placeholder values for new frames,
    which are regenerated)."""
    extra = length - motion.n_frames
    if extra <= 0:
        return motion
    return Motion(np.concatenate([motion.root_translation, np.repeat(motion.root_translation[-1:], extra, 0)]),
                  np.concatenate([motion.local_rotmats, np.repeat(motion.local_rotmats[-1:], extra, 0)]),
                  motion.fps)


def _windows(per_frame: np.ndarray, starts: Sequence[int], window: int) -> np.ndarray:
    """(T, C) -> (W, window, C) at `starts`; frames past the end (the last window's padding) are
    zero / False, i.e. not kept."""
    padded = np.pad(per_frame, ((0, max(0, starts[-1] + window - len(per_frame))), (0, 0)))
    return np.stack([padded[start:start + window] for start in starts])


# --- seams --------------------------------------------------------------------------------

def blend_seams(root: np.ndarray, rotmats: np.ndarray, regenerated: np.ndarray, blend_frames: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pull each regenerated run's frames next to a kept neighbour onto the kept motion: the
    first regenerated frame is moved to where the kept motion would be one frame later (its
    last velocity continued), and that correction fades out with a half cosine over the blend
    zone (at most blend_frames, at most half the run when it has kept frames on both sides, at
    least one frame; blend_frames = 0 turns blending off). Kept frames are not touched."""
    if blend_frames < 1:
        return root, rotmats
    root, rotmats = root.astype(np.float64), rotmats.astype(np.float64)
    length = len(regenerated)
    for start, end in _runs(regenerated):
        sides = (start > 0) + (end < length)
        zone = max(1, min(blend_frames, (end - start) // max(sides, 1)))
        if start > 0:
            _fade_in_correction(root, rotmats, np.arange(start, start + zone), start - 1, max(start - 2, 0))
        if end < length:
            _fade_in_correction(root, rotmats, np.arange(end - 1, end - 1 - zone, -1), end, min(end + 1, length - 1))
    return root.astype(np.float32), rotmats.astype(np.float32)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _fade_in_correction(root: np.ndarray, rotmats: np.ndarray, frames: np.ndarray, anchor: int,
                        before_anchor: int) -> None:
    """In place: frames[0] is corrected to the kept motion continued one frame past `anchor`
    (moving as it did from before_anchor to anchor), frames[j] by a half-cosine share of that."""
    weights = 0.5 * (1 + np.cos(np.pi * np.arange(len(frames)) / len(frames)))
    target_root = 2 * root[anchor] - root[before_anchor]
    root[frames] += weights[:, None] * (target_root - root[frames[0]])

    rot = torch.from_numpy(rotmats)
    step = rot[anchor] @ rot[before_anchor].transpose(-1, -2)
    target = step @ rot[anchor]
    correction = matrix_to_quaternion(target @ rot[frames[0]].transpose(-1, -2))    # (24, 4)
    identity = torch.zeros_like(correction)
    identity[..., 0] = 1.0
    shares = slerp(identity.expand(len(frames), -1, -1), correction.expand(len(frames), -1, -1),
                   torch.from_numpy(weights)[:, None].expand(-1, NUM_JOINTS))
    rotmats[frames] = (quaternion_to_matrix(shares) @ rot[frames]).numpy()
