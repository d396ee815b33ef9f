"""Architecture and conditioning settings of the LM2D denoiser (saved in every checkpoint)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lm2d.errors import LM2DError


@dataclass
class ModelConfig:
    """Sizes of the denoiser and its training-time condition dropout.

    Channels: the network works on `channels` = contact_dim + motion_dim = 4 + 147 = 151 values per
    frame, laid out as EDGE does: [4 foot-contact flags (left ankle, right ankle, left foot, right
    foot), root translation (3), 24 x 6D rotation (144)]. The contacts are predicted only so the
    foot-contact loss can use them; generation drops them.

    Size: EDGE's DanceDecoder is 512 wide with 8 layers; on a 2-core laptop CPU one evaluation for all
    72 windows of a 3-minute song costs 6.7 s (13.5 s per guided step, ~11 min for DDIM-50), against
    ~1 s for 4 layers x 256 (REFERENCE.md). The defaults are the small size so generation stays
    interactive on a CPU; distillation then cuts the step count.
    """

    n_frames: int = 150              # window length (5 s at 30 FPS)
    motion_dim: int = 147            # root translation + 24 x 6D rotation
    contact_dim: int = 4             # EDGE's foot-contact channels, in front of the motion
    music_dim: int = 35              # EDGE's baseline music features
    text_dim: int = 384              # lyric token embedding size (all-MiniLM-L6-v2)
    latent_dim: int = 256
    ff_dim: int = 1024
    n_layers: int = 4
    n_heads: int = 4
    dropout: float = 0.1
    lyrics: bool = True              # False: the music-only EDGE baseline (no lyric parameters at all)
    max_lyric_tokens: int = 64       # lyric tokens per window
    music_drop_prob: float = 0.25    # classifier-free guidance dropout, drawn independently ...
    lyrics_drop_prob: float = 0.25   # ... for music and for lyrics
    diffusion_steps: int = 1000

    def __post_init__(self) -> None:
        if self.latent_dim % self.n_heads or (self.latent_dim // self.n_heads) % 2:
            raise LM2DError(f"latent_dim {self.latent_dim} must split into {self.n_heads} heads of even size")
        if self.n_frames < 2:
            raise LM2DError(f"n_frames must be at least 2, got {self.n_frames}")

    @property
    def channels(self) -> int:
        """Values per frame the denoiser reads and predicts (contacts + motion)."""
        return self.contact_dim + self.motion_dim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {field.name: field.type for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise LM2DError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**values)
