"""Sentence embedders, one module per family, behind one protocol (``base.Embedder``).

``make_embedder`` builds the configured one and wraps it in the LRU cache (``cache.CachedEmbedder``).
The default, all-MiniLM-L6-v2 (``minilm``), imports onnxruntime and tokenizers only when one is built.
"""

from __future__ import annotations

from routerd.errors import InvalidArgument
from routerd.model.embedders.base import Embedder
from routerd.model.embedders.cache import CachedEmbedder
from routerd.model.embedders.hashing import DEFAULT_DIM, HashingEmbedder
from routerd.model.embedders.minilm import DIM as MINILM_DIM
from routerd.model.embedders.minilm import MiniLMEmbedder

__all__ = ["DEFAULT_DIM", "EMBEDDERS", "CachedEmbedder", "Embedder", "HashingEmbedder", "MiniLMEmbedder",
           "make_embedder"]

EMBEDDERS = ("minilm", "hashing")
_ALIASES = {"minilm": "minilm", "all-MiniLM-L6-v2": "minilm", "hashing": "hashing", "hashing-v2": "hashing"}


def make_embedder(name: str, dim: int = DEFAULT_DIM, cache_size: int = 65_536, *, max_seq_length: int = 256,
                  threads: int = 1) -> Embedder:
    """The embedder named by configuration. Unknown names are an error listing the valid ones.
    ``max_seq_length`` and ``threads`` apply to minilm only; minilm's dimension is fixed at 384."""
    family = _ALIASES.get(name)
    if family == "hashing":
        return CachedEmbedder(HashingEmbedder(dim), cache_size)
    if family == "minilm":
        if dim != MINILM_DIM:
            raise InvalidArgument("embedder.dim", f"{name} embeds in {MINILM_DIM} dimensions, got {dim}")
        return CachedEmbedder(MiniLMEmbedder(max_seq_length=max_seq_length, threads=threads), cache_size)
    raise InvalidArgument("embedder", f"unknown embedder {name!r}; valid: {', '.join(EMBEDDERS)}")
