"""The hashing embedder, dependency-free: signed feature hashing of word unigrams, word
bigrams (CRC32) and the character trigrams of each word (a fixed integer hash). A word's features
are cached, since words repeat across requests far more than whole texts do. It is deterministic
across processes and machines (never Python's salted ``hash``), so stored vectors stay valid after a
restart.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from routerd.errors import InvalidArgument

DEFAULT_DIM = 384
_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    TRIGRAM_WEIGHT = 0.5  # characters help with morphology; words carry the meaning
    WORD_CACHE = 100_000

    def __init__(self, dim: int = DEFAULT_DIM):
        if dim < 8:
            raise InvalidArgument("embedder.dim", f"must be at least 8, got {dim}")
        self.dim = dim
        self.name = f"hashing-v2-{dim}"
        # Words repeat across requests far more than texts do; a racing duplicate insert is harmless.
        self._words: dict[str, tuple[tuple[int, float], ...]] = {}

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
            out[i] = self._compute(t)
        return out
