"""Sentence embedders. Every embedder returns L2-normalised float32 rows of ``dim`` columns.

``HashingEmbedder`` is the dependency-free default: signed feature hashing of word unigrams,
word bigrams and character trigrams. It is deterministic across processes and machines (it uses
CRC32, never Python's salted ``hash``), so stored vectors stay valid after a restart.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from routerd.errors import InvalidArgument

DEFAULT_DIM = 384
_WORD = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row unit-length (or zero for an empty text)."""


class HashingEmbedder:
    def __init__(self, dim: int = DEFAULT_DIM, cache_size: int = 4096):
        if dim < 8:
            raise InvalidArgument("embedder.dim", f"must be at least 8, got {dim}")
        self.dim = dim
        self.name = f"hashing-v1-{dim}"
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        feats = [f"w:{w}" for w in words]
        feats += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        for w in words:
            padded = f"<{w}>"
            feats += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
        return feats

    def _embed_one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for f in self._features(text):
            h = zlib.crc32(f.encode())
            weight = 1.0 if f[0] != "c" else 0.5  # characters help with morphology, words carry meaning
            vec[h % self.dim] += weight if (h >> 31) & 1 else -weight
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm > 0 else vec

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            with self._lock:
                hit = self._cache.get(t)
                if hit is not None:
                    self._cache.move_to_end(t)
            if hit is None:
                hit = self._embed_one(t)
                with self._lock:
                    self._cache[t] = hit
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            out[i] = hit
        return out


def make_embedder(name: str, dim: int = DEFAULT_DIM) -> Embedder:
    """The embedder named by configuration. Unknown names are an error listing the valid ones."""
    if name in ("hashing", "hashing-v1"):
        return HashingEmbedder(dim)
    raise InvalidArgument("embedder", f"unknown embedder {name!r}; valid: hashing")
