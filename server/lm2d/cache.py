"""On-disk cache shared by features and lyric encodings: keys hash file content + parameters."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_root() -> Path:
    """$LM2D_CACHE, else ~/.cache/lm2d (not created here)."""
    return Path(os.environ.get("LM2D_CACHE") or Path.home() / ".cache" / "lm2d")


def cache_dir(kind: str) -> Path:
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_key(*parts: object) -> str:
    """A stable key from JSON-serialisable parts (file digests, parameter dicts, versions)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
