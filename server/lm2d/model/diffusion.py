"""Gaussian diffusion on normalised motion windows (cosine schedule, x0 prediction) and
compositional classifier-free guidance over the two conditions, music and lyrics."""
from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from lm2d.model.config import ModelConfig

# Classifier-free guidance weights a diffusion model samples with unless told otherwise (EDGE uses
# w = 2). Chosen by a sweep on songs outside the training corpus (docs/MODEL_CARD.md): stronger
# music guidance keeps closer to the beat, stronger lyric guidance performs more lyric gestures,
# both at some cost in foot contact.
MUSIC_GUIDANCE = 3.0
LYRICS_GUIDANCE = 6.0


@dataclass
class Conditioning:
    """What the denoiser is conditioned on, for a batch of B windows.

    music (B, T, music_dim); lyric_emb (B, K, text_dim), lyric_frames (B, K) float frames from the
    window start, lyric_mask (B, K) bool True = real token. The lyric fields are all None for
    windows without lyrics (or for a music-only model)."""

    music: Tensor
    lyric_emb: Tensor | None = None
    lyric_frames: Tensor | None = None
    lyric_mask: Tensor | None = None

    def __len__(self) -> int:
        return self.music.shape[0]

    def _map(self, fn) -> "Conditioning":
        return replace(self, **{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                                for f in fields(self)})

    def to(self, device: torch.device | str) -> "Conditioning":
        return self._map(lambda tensor: tensor.to(device))

    def __getitem__(self, index) -> "Conditioning":
        """Select windows (a slice, index tensor or bool mask along the batch)."""
        return self._map(lambda tensor: tensor[index])

    @classmethod
    def cat(cls, parts: list["Conditioning"]) -> "Conditioning":
        """The batches one after another."""
        return cls(**{f.name: None if getattr(parts[0], f.name) is None
                      else torch.cat([getattr(part, f.name) for part in parts]) for f in fields(cls)})

    def repeat(self, times: int) -> "Conditioning":
        """The batch stacked `times` times (for evaluating several guidance branches at once)."""
        return self._map(lambda tensor: tensor.repeat(times, *([1] * (tensor.dim() - 1))))

    def same_as(self, other: "Conditioning") -> bool:
        """The same windows, value for value."""
        mine, theirs = (tuple(getattr(c, f.name) for f in fields(c)) for c in (self, other))
        return all((a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                                 and a.device == b.device and torch.equal(a, b))
                   for a, b in zip(mine, theirs))

    def has_lyrics(self) -> Tensor:
        """(B,) bool: which windows have at least one real lyric token."""
        if self.lyric_mask is None or self.lyric_mask.shape[1] == 0:
            return torch.zeros(len(self), dtype=torch.bool, device=self.music.device)
        return self.lyric_mask.any(dim=1)


class EncodedConditioning(Conditioning):
    """A Conditioning after the denoiser's condition encoders (Denoiser.encode_conditions): the same
    fields, but music (B, T, latent_dim) and lyric_emb (B, K, latent_dim) are encoded tokens."""


def cosine_alphas_cumprod(steps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """ᾱ_t of the cosine schedule (Nichol & Dhariwal 2021), t = 0 .. steps-1, in float64."""
    x = torch.linspace(0, steps, steps + 1, dtype=torch.float64)
    f = torch.cos(((x / steps) + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1 - betas, dim=0)


class GaussianDiffusion:
    """Forward process q(x_t | x0) and guided x0 prediction. Steps are integers 0 .. steps-1
    (0 = least noise)."""

    def __init__(self, config: ModelConfig):
        self.steps = config.diffusion_steps
        self.alphas_cumprod = cosine_alphas_cumprod(self.steps).float()

    def _gather(self, values: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """values[t] shaped to broadcast against `like` (B, ...)."""
        out = values.to(like.device)[torch.as_tensor(t, device=like.device).long()]
        return out.reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·noise."""
        alpha = self._gather(self.alphas_cumprod, t, x0)
        return alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise

    def sigma_of(self, t: Tensor) -> Tensor:
        """Noise level of step t in variance-exploding terms, σ = sqrt((1-ᾱ)/ᾱ) (x_t/sqrt(ᾱ) = x0 + σ·ε),
        for converting this model into a consistency-distillation teacher."""
        t = torch.as_tensor(t)
        alpha = self.alphas_cumprod.to(t.device)[t.long()]
        return ((1 - alpha) / alpha).sqrt()

    def eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        alpha = self._gather(self.alphas_cumprod, t, x_t)
        return (x_t - alpha.sqrt() * x0) / (1 - alpha).sqrt()

    def predict_x0(self, model, x_t: Tensor, t: Tensor, cond: Conditioning,
                   music_weight: float = MUSIC_GUIDANCE, lyrics_weight: float = LYRICS_GUIDANCE,
                   max_batch: int | None = None, encoded: EncodedConditioning | None = None) -> Tensor:
        """Guided x0 prediction (compositional classifier-free guidance, Liu et al. 2022):

            x0 = x0(∅,∅) + w_m·(x0(m,∅) − x0(∅,∅)) + w_l·(x0(m,l) − x0(m,∅))
               = (1 − w_m)·x0(∅,∅) + (w_m − w_l)·x0(m,∅) + w_l·x0(m,l)

        with (m,l) music and lyrics kept, ∅ the learned null. w_m = w_l = 0: unconditional;
        w_m = 1, w_l = 0: music only; w_m = w_l = 1: fully conditional, unguided; EDGE's w = 2 pushes
        each condition past its conditional. Only branches with a non-zero coefficient are evaluated,
        stacked into one batch (split into chunks of max_batch windows). The lyric branch is skipped
        for a music-only model, and a window with no lyric tokens takes x0(m,∅) for x0(m,l): there is
        no word to guide towards, so it is guided as lyric-unconditional.
        encoded: encode_in_chunks(model, cond) when the caller reuses it across steps."""
        batch = x_t.shape[0]
        t = torch.as_tensor(t, device=x_t.device).expand(batch)
        has_words = cond.has_lyrics() if model.config.lyrics else torch.zeros(batch, dtype=torch.bool)
        has_words = has_words.to(x_t.device)
        if has_words.any():
            coefficients = {"none": 1.0 - music_weight, "music": music_weight - lyrics_weight,
                            "both": lyrics_weight}
        else:  # x0(m,l) = x0(m,∅) for every window: the lyric term vanishes
            coefficients = {"none": 1.0 - music_weight, "music": music_weight}
        branches = [name for name, weight in coefficients.items() if weight != 0.0]
        if "both" in branches and "music" not in branches and not has_words.all():
            branches.append("music")  # stands in for "both" on the windows without words
        drops = {"none": (True, True), "music": (False, True), "both": (False, False)}

        n = len(branches)
        drop_music = torch.tensor([drops[b][0] for b in branches], device=x_t.device).repeat_interleave(batch)
        drop_lyrics = torch.tensor([drops[b][1] for b in branches], device=x_t.device).repeat_interleave(batch)
        predictions = evaluate_in_chunks(model, x_t.repeat(n, 1, 1), t.repeat(n), cond.repeat(n), drop_music,
                                         drop_lyrics, max_batch, None if encoded is None else encoded.repeat(n))
        predictions = predictions.split(batch)
        predicted = dict(zip(branches, predictions))
        if "both" in predicted and not has_words.all():
            predicted["both"] = torch.where(has_words[:, None, None], predicted["both"], predicted["music"])
        return sum(coefficients[name] * predicted[name] for name in branches if coefficients[name] != 0.0)


def chunks(total: int, max_batch: int | None) -> list[slice]:
    size = max_batch or total
    return [slice(start, start + size) for start in range(0, total, size)]


def evaluate_in_chunks(model, x_t: Tensor, t: Tensor, cond: Conditioning, drop_music: Tensor,
                       drop_lyrics: Tensor, max_batch: int | None,
                       encoded: EncodedConditioning | None = None) -> Tensor:
    """model(...) over the batch in chunks of at most max_batch windows (bounds peak memory)."""
    outputs = []
    for part in chunks(x_t.shape[0], max_batch):
        c = cond[part]
        outputs.append(model(x_t[part], t[part], c.music, c.lyric_emb, c.lyric_frames, c.lyric_mask,
                             drop_music=drop_music[part], drop_lyrics=drop_lyrics[part],
                             encoded=None if encoded is None else encoded[part]))
    return torch.cat(outputs)


def encode_in_chunks(model, cond: Conditioning, max_batch: int | None = None,
                     memo: "EncodingMemo | None" = None) -> EncodedConditioning:
    """model.encode_conditions over the batch in chunks, joined back into one batch. memo: reuse
    the encoding of the previous call when it had this model, chunking and the same windows."""
    if memo is not None:
        return memo.encode(model, cond, max_batch)
    parts = [model.encode_conditions(c.music, c.lyric_emb, c.lyric_frames, c.lyric_mask)
             for c in (cond[part] for part in chunks(len(cond), max_batch))]
    return parts[0] if len(parts) == 1 else EncodedConditioning.cat(parts)


class EncodingMemo:
    """The last encode_in_chunks result, kept for a later pass over the same windows or some of
    them: the repeat layer (lm2d.structure.repeat) samples a song's windows again with the same
    music and lyrics (those that hold a seam), and a long song's encoding costs a third of a pass.
    The encoders see one window at a time, so those rows of the whole song's encoding are the
    encoding of those windows (tests/test_model.py checks this bit for bit). Reused only when the model object, the chunking and the autocast state match and every
    window value is the same. Thread-safe; holds one entry and no reference to the model."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entry = None    # (weakref to model, key, cond, encoded)

    def encode(self, model, cond: Conditioning, max_batch: int | None) -> EncodedConditioning:
        key = (max_batch, torch.is_autocast_enabled(cond.music.device.type))
        with self._lock:
            if self._entry is not None:
                model_ref, entry_key, entry_cond, encoded = self._entry
                if model_ref() is model and entry_key == key:
                    rows = _rows_within(entry_cond, cond)
                    if rows is not None:
                        return encoded[rows.to(encoded.music.device)]
            encoded = encode_in_chunks(model, cond, max_batch)
            self._entry = (weakref.ref(model), key, cond, encoded)
            return encoded


def _rows_within(whole: Conditioning, part: Conditioning) -> Tensor | None:
    """Indices of `whole`'s windows, in order, that are `part`'s windows value for value, or None."""
    if len(part) > len(whole) or part.music.shape[1:] != whole.music.shape[1:]:
        return None
    rows, candidate = [], 0
    for index in range(len(part)):
        window = part[index:index + 1]
        while candidate < len(whole) and not whole[candidate:candidate + 1].same_as(window):
            candidate += 1
        if candidate == len(whole):
            return None
        rows.append(candidate)
        candidate += 1
    return torch.tensor(rows, dtype=torch.long)
