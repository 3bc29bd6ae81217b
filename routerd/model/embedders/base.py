"""What an embedder is. Every embedder returns L2-normalised float32 rows of ``dim`` columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # stored with every vector, so vectors of another embedder are never mixed in
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row unit-length (or zero for an empty text)."""
