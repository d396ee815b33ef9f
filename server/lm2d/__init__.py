"""LM2D: lyrics- and music-driven dance synthesis (the inference and training side)."""
import os

from lm2d.cache import cache_root

__version__ = "0.1.0"

# librosa compiles its numba functions with cache=True: point numba's on-disk cache at lm2d's own
# (writable) cache folder, so a new process loads that machine code instead of compiling it for
# seconds. numba reads the variable once, when it is first imported, hence here; a value the user
# set wins.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_root() / "numba"))
