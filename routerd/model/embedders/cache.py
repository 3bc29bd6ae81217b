"""An LRU cache of embeddings by text, a wrapper any embedder gets (``make_embedder`` applies it)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from routerd.model.embedders.base import Embedder


class CachedEmbedder:
    """``inner`` with the last ``size`` texts' vectors kept. Results are copies: a caller mutating
    one cannot poison the cache. Misses of one call are embedded in one batch."""

    def __init__(self, inner: Embedder, size: int = 65_536):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not self.size:
            return self.inner.embed(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is None:
                    missing.setdefault(t, []).append(i)
                else:
                    self._cache.move_to_end(t)
                    out[i] = hit
        if missing:
            todo = list(missing)
            vectors = self.inner.embed(todo)
            with self._lock:
                for t, v in zip(todo, vectors, strict=True):
                    out[missing[t]] = v
                    self._cache[t] = v
                    self._cache.move_to_end(t)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return out
