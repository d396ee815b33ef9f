"""The LM2D denoiser: EDGE's DanceDecoder with a second, separately droppable lyric condition.

Given a noisy window of motion x_t, the diffusion step t, the window's music features and its
lyric tokens, it predicts the clean window x0.

    motion queries ──► n_layers × [self-attn ─ cross-attn ─ FFN], each FiLM-modulated by
                                    time MLP + pooled music + pooled lyrics
    cross-attention memory = [music tokens (T) | null-lyric token | lyric tokens (K) | 2 time tokens]

Positions use rotary embeddings (RoPE) on queries and keys, in frames: motion and music tokens sit
at their frame index and each lyric token at its own frame time (float, relative to the window
start), so cross-attention sees how far a word is from each frame. Lyric tokens also get a
sinusoidal embedding of that time added, so the lyric encoder and the pooled FiLM vector know when
words fall. Null conditions are learned and separate for music (a token sequence that replaces the
encoded music) and lyrics (a learned token shown instead of the real ones), so guidance can weight
the two conditions independently (diffusion.GaussianDiffusion.predict_x0).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm2d.model.config import ModelConfig
from lm2d.model.diffusion import EncodedConditioning

TIME_TOKENS = 2          # EDGE appends two diffusion-time tokens to the cross-attention memory
NULL_LYRIC_TOKENS = 1    # learned tokens that stand in for dropped lyrics
MUSIC_ENCODER_LAYERS = 2
ROPE_BASE = 10000.0


def sinusoidal_embedding(positions: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(...,) float positions -> (..., dim) [sin | cos] features (transformer/DDPM style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=positions.device) / half)
    angles = positions.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def rotary(positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """RoPE's (cos, sin) for (S,) or (B, S) float positions, shaped to broadcast over (B, H, S, Dh/2).
    Positions may be fractional: lyric tokens sit between frames. Computed once per forward for
    each set of positions and shared by every layer and head that attends over them."""
    half = head_dim // 2
    freqs = ROPE_BASE ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[..., None] * freqs          # (S, half) or (B, S, half)
    if angles.dim() == 3:
        angles = angles[:, None]                             # broadcast over heads
    return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, rotation: tuple[Tensor, Tensor]) -> Tensor:
    """Rotate (B, H, S, Dh) queries or keys by rotary(positions, Dh) (rotate-half layout)."""
    cos, sin = (part.to(x.dtype) for part in rotation)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    """Multi-head attention with RoPE on queries and keys (nn.MultiheadAttention cannot rotate them)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, x_rot: tuple[Tensor, Tensor], context_rot: tuple[Tensor, Tensor],
                context_mask: Tensor | None = None) -> Tensor:
        """x_rot, context_rot: rotary() of the query and context positions. context_mask: (B, L)
        bool, True = attend. Every row needs at least one True."""
        batch, length, dim = x.shape
        head_dim = dim // self.heads
        q = self.to_q(x).view(batch, length, self.heads, head_dim).transpose(1, 2)
        k, v = self.to_kv(context).view(batch, -1, 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, x_rot), apply_rotary(k, context_rot)
        mask = None if context_mask is None else context_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.to_out(out.transpose(1, 2).reshape(batch, length, dim))


def feed_forward(dim: int, ff_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim))


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer (self-attention + FFN) for the music and lyric tokens."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.ff = feed_forward(dim, ff_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, rotation: tuple[Tensor, Tensor], mask: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, rotation, rotation, mask))
        return x + self.drop(self.ff(self.norm2(x)))


class FiLM(nn.Module):
    """(1 + scale) * x + shift, scale and shift from the conditioning vector (EDGE's DenseFiLM)."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Mish(), nn.Linear(dim, 2 * dim))

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale, shift = self.proj(cond)[:, None].chunk(2, dim=-1)
        return x * (1 + scale) + shift


class DecoderLayer(nn.Module):
    """EDGE's FiLMTransformerDecoderLayer: pre-norm self-attention, cross-attention and FFN, each
    FiLM-modulated and added back as a residual."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = Attention(dim, heads, dropout)
        self.cross_attn = Attention(dim, heads, dropout)
        self.ff = feed_forward(dim, ff_dim, dropout)
        self.film1, self.film2, self.film3 = FiLM(dim), FiLM(dim), FiLM(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, rotation: tuple[Tensor, Tensor], memory: Tensor, memory_rot: tuple[Tensor, Tensor],
                memory_mask: Tensor, film: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.film1(self.drop(self.self_attn(h, h, rotation, rotation)), film)
        h = self.norm2(x)
        x = x + self.film2(self.drop(self.cross_attn(h, memory, rotation, memory_rot, memory_mask)), film)
        return x + self.film3(self.drop(self.ff(self.norm3(x))), film)


def masked_mean(tokens: Tensor, visible: Tensor) -> Tensor:
    """Mean of the visible (B, K) tokens of (B, K, D); zeros for a row with none visible."""
    weights = visible.to(tokens.dtype)[..., None]
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class Denoiser(nn.Module):
    """Predicts x0 from (x_t, t, music, lyrics). See the module docstring for the layout."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        dim, heads, ff_dim, dropout = config.latent_dim, config.n_heads, config.ff_dim, config.dropout
        self.head_dim = dim // heads

        self.input_proj = nn.Linear(config.channels, dim)
        self.time_mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish())
        self.time_to_film = nn.Linear(4 * dim, dim)
        self.time_to_tokens = nn.Linear(4 * dim, TIME_TOKENS * dim)

        # Raw features mix scales (MFCCs in the hundreds, one-hots in {0, 1}): standardise each
        # channel with training-set statistics, saved with the weights (set_music_statistics).
        self.register_buffer("music_mean", torch.zeros(config.music_dim))
        self.register_buffer("music_std", torch.ones(config.music_dim))
        self.music_proj = nn.Linear(config.music_dim, dim)
        self.music_encoder = nn.ModuleList(
            EncoderLayer(dim, heads, ff_dim, dropout) for _ in range(MUSIC_ENCODER_LAYERS))
        self.null_music = nn.Parameter(torch.randn(config.n_frames, dim) * 0.02)
        self.music_to_film = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))

        if config.lyrics:
            self.lyric_proj = nn.Linear(config.text_dim, dim)
            self.lyric_encoder = EncoderLayer(dim, heads, ff_dim, dropout)
            self.null_lyrics = nn.Parameter(torch.randn(NULL_LYRIC_TOKENS, dim) * 0.02)
            self.lyrics_to_film = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))

        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ff_dim, dropout) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, config.channels)

    @torch.no_grad()
    def set_music_statistics(self, features: Tensor) -> None:
        """Per-channel mean and std of training music features (N, music_dim)."""
        features = torch.as_tensor(features, dtype=torch.float32).reshape(-1, self.config.music_dim)
        self.music_mean.copy_(features.mean(0))
        self.music_std.copy_(features.std(0).clamp_min(1e-3))

    def encode_conditions(self, music: Tensor, lyric_emb: Tensor | None = None, lyric_frames: Tensor | None = None,
                          lyric_mask: Tensor | None = None) -> EncodedConditioning:
        """Music and lyric tokens through their encoders. Depends on neither the diffusion step nor
        the drops, so a sampler encodes once and passes `encoded=` to every step and guidance branch."""
        frames = torch.arange(music.shape[1], device=music.device, dtype=torch.float32)
        music_tokens = self.music_proj((music - self.music_mean) / self.music_std)
        rotation = rotary(frames, self.head_dim)
        for layer in self.music_encoder:
            music_tokens = layer(music_tokens, rotation)
        if not self.config.lyrics or lyric_emb is None or lyric_emb.shape[1] == 0:
            return EncodedConditioning(music_tokens)
        lyric_frames = lyric_frames.float()
        lyric_tokens = self.lyric_proj(lyric_emb) + sinusoidal_embedding(lyric_frames, self.config.latent_dim)
        # A window without words would give an all-masked softmax (NaN): let such rows attend to
        # their padding instead; the decoder never sees those tokens (lyric_mask hides them).
        attend = lyric_mask | ~lyric_mask.any(dim=1, keepdim=True)
        lyric_tokens = self.lyric_encoder(lyric_tokens, rotary(lyric_frames, self.head_dim), attend)
        return EncodedConditioning(music_tokens, lyric_tokens, lyric_frames, lyric_mask)

    def forward(self, x_t: Tensor, t: Tensor | float, music: Tensor | None, lyric_emb: Tensor | None = None,
                lyric_frames: Tensor | None = None, lyric_mask: Tensor | None = None,
                drop_music: Tensor | bool | None = None, drop_lyrics: Tensor | bool | None = None,
                encoded: EncodedConditioning | None = None) -> Tensor:
        """x_t (B, T, C), t (B,) diffusion step (int or float), music (B, T, music_dim);
        lyric_emb (B, K, text_dim), lyric_frames (B, K) token times in frames from the window start,
        lyric_mask (B, K) True = real token (None or K = 0: the window has no lyrics);
        drop_music / drop_lyrics (B,) bool: replace that condition by its learned null. None draws
        drops with the config probabilities in training mode and means "keep" in eval mode.
        encoded: encode_conditions' result for these windows, used instead of music and lyrics.
        A model built with lyrics=False ignores every lyric argument. Returns x0 (B, T, C)."""
        batch, length, _ = x_t.shape
        if length > self.config.n_frames:
            raise ValueError(f"window of {length} frames is longer than the model's {self.config.n_frames}")
        device = x_t.device
        frames = torch.arange(length, device=device, dtype=torch.float32)
        if encoded is None:
            encoded = self.encode_conditions(music, lyric_emb, lyric_frames, lyric_mask)

        t = torch.as_tensor(t, device=device, dtype=torch.float32).expand(batch)
        time_hidden = self.time_mlp(sinusoidal_embedding(t, self.config.latent_dim))

        drop_music = self._resolve_drop(drop_music, self.config.music_drop_prob, batch, device)
        music_tokens = torch.where(drop_music[:, None, None], self.null_music[:length], encoded.music)
        film = self.time_to_film(time_hidden) + self.music_to_film(music_tokens.mean(1))

        memory = [music_tokens]
        memory_pos = [frames.expand(batch, length)]
        memory_mask = [torch.ones(batch, length, dtype=torch.bool, device=device)]
        if self.config.lyrics:
            drop_lyrics = self._resolve_drop(drop_lyrics, self.config.lyrics_drop_prob, batch, device)
            tokens, positions, visible = self._lyric_memory(encoded, drop_lyrics)
            film = film + self.lyrics_to_film(masked_mean(tokens, visible))
            memory.append(tokens), memory_pos.append(positions), memory_mask.append(visible)
        memory.append(self.time_to_tokens(time_hidden).view(batch, TIME_TOKENS, -1))
        memory_pos.append(torch.zeros(batch, TIME_TOKENS, device=device))
        memory_mask.append(torch.ones(batch, TIME_TOKENS, dtype=torch.bool, device=device))
        memory, memory_pos, memory_mask = (torch.cat(parts, dim=1) for parts in (memory, memory_pos, memory_mask))

        x = self.input_proj(x_t)
        rotation, memory_rot = rotary(frames, self.head_dim), rotary(memory_pos, self.head_dim)
        for layer in self.layers:
            x = layer(x, rotation, memory, memory_rot, memory_mask, film)
        return self.output(self.final_norm(x))

    def _resolve_drop(self, drop: Tensor | bool | None, prob: float, batch: int, device) -> Tensor:
        if drop is not None:
            return torch.as_tensor(drop, dtype=torch.bool, device=device).expand(batch)
        if self.training and prob > 0:
            return torch.rand(batch, device=device) < prob
        return torch.zeros(batch, dtype=torch.bool, device=device)

    def _lyric_memory(self, encoded: EncodedConditioning, drop: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Lyric part of the memory: [null token(s) | encoded real tokens], with positions and a
        visibility mask that shows the null for dropped rows and the real tokens otherwise."""
        batch, device = drop.shape[0], drop.device
        null = self.null_lyrics.expand(batch, -1, -1)
        null_pos = torch.zeros(batch, NULL_LYRIC_TOKENS, device=device)
        null_visible = drop[:, None].expand(batch, NULL_LYRIC_TOKENS)
        if encoded.lyric_emb is None:
            return null, null_pos, null_visible
        real_visible = encoded.lyric_mask & ~drop[:, None]
        return (torch.cat([null, encoded.lyric_emb], 1), torch.cat([null_pos, encoded.lyric_frames], 1),
                torch.cat([null_visible, real_visible], 1))
