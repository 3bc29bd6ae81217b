"""Sentence embedders, one module per family, behind one protocol (``base.Embedder``).

``make_embedder`` builds the configured one and wraps it in the LRU cache (``cache.CachedEmbedder``).
"""

from __future__ import annotations

from routerd.errors import InvalidArgument
from routerd.model.embedders.base import Embedder
from routerd.model.embedders.cache import CachedEmbedder
from routerd.model.embedders.hashing import DEFAULT_DIM, HashingEmbedder

__all__ = ["DEFAULT_DIM", "CachedEmbedder", "Embedder", "HashingEmbedder", "make_embedder"]

EMBEDDERS = ("hashing",)


def make_embedder(name: str, dim: int = DEFAULT_DIM, cache_size: int = 65_536) -> Embedder:
    """The embedder named by configuration. Unknown names are an error listing the valid ones."""
    if name in ("hashing", "hashing-v2"):
        return CachedEmbedder(HashingEmbedder(dim), cache_size)
    raise InvalidArgument("embedder", f"unknown embedder {name!r}; valid: {', '.join(EMBEDDERS)}")
