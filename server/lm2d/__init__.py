"""LM2D: lyrics- and music-driven dance synthesis (the inference and training side)."""

__version__ = "0.1.0"
