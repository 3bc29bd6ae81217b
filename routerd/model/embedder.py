"""Sentence embedders. Every embedder returns L2-normalised float32 rows of ``dim`` columns.

``HashingEmbedder`` is the dependency-free default: signed feature hashing of word unigrams, word
bigrams (CRC32) and the character trigrams of each word (a fixed integer hash). A word's features
are cached, since words repeat across requests far more than whole texts do. It is deterministic
across processes and machines (never Python's salted ``hash``), so stored vectors stay valid after a
restart.
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
    TRIGRAM_WEIGHT = 0.5  # characters help with morphology; words carry the meaning
    WORD_CACHE = 100_000

    def __init__(self, dim: int = DEFAULT_DIM, cache_size: int = 4096):
        if dim < 8:
            raise InvalidArgument("embedder.dim", f"must be at least 8, got {dim}")
        self.dim = dim
        self.name = f"hashing-v2-{dim}"
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._words: dict[str, tuple[tuple[int, float], ...]] = {}
        self._lock = threading.Lock()

    def _word(self, word: str) -> tuple[tuple[int, float], ...]:
        """(index, signed weight) of a word's own feature and of its character trigrams."""
        feats = self._words.get(word)
        if feats is None:
            wb = word.encode()
            h = zlib.crc32(b"w:" + wb)
            out = [(h % self.dim, 1.0 if h >> 31 & 1 else -1.0)]
            p = b"<" + wb + b">"
            for i in range(len(p) - 2):
                t = (p[i] * 0x9E3779B1 ^ p[i + 1] * 0x85EBCA77 ^ p[i + 2] * 0xC2B2AE3D) & 0xFFFFFFFF
                t ^= t >> 15
                t = (t * 0x2C1B3C6D) & 0xFFFFFFFF
                t ^= t >> 12
                out.append((t % self.dim, self.TRIGRAM_WEIGHT if t >> 31 else -self.TRIGRAM_WEIGHT))
            feats = tuple(out)
            if len(self._words) >= self.WORD_CACHE:
                self._words.clear()
            self._words[word] = feats
        return feats

    def _compute(self, text: str) -> np.ndarray:
        acc = [0.0] * self.dim
        words = _WORD.findall(text.lower())
        for w in words:
            for i, v in self._word(w):
                acc[i] += v
        for a, b in zip(words, words[1:], strict=False):
            h = zlib.crc32(f"b:{a} {b}".encode())
            acc[h % self.dim] += 1.0 if h >> 31 & 1 else -1.0
        vec = np.array(acc, dtype=np.float32)
        norm = float(np.sqrt(vec @ vec))
        return vec / norm if norm > 0 else vec

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            with self._lock:
                hit = self._cache.get(t)
                if hit is not None:
                    self._cache.move_to_end(t)
            if hit is None:
                hit = self._compute(t)
                if self._cache_size:
                    with self._lock:
                        self._cache[t] = hit
                        if len(self._cache) > self._cache_size:
                            self._cache.popitem(last=False)
            out[i] = hit
        return out


def make_embedder(name: str, dim: int = DEFAULT_DIM) -> Embedder:
    """The embedder named by configuration. Unknown names are an error listing the valid ones."""
    if name in ("hashing", "hashing-v2"):
        return HashingEmbedder(dim)
    raise InvalidArgument("embedder", f"unknown embedder {name!r}; valid: hashing")
