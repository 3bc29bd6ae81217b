"""Seeded synthetic routes for the semantic tests: unit vectors clustered around one centre per route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from routerd.domain import RouteRecord, RouteSpec

DIM = 32


def unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    out: np.ndarray = a / np.linalg.norm(a, axis=-1, keepdims=True)
    return out


def record(name: str, vectors: np.ndarray, **spec: Any) -> RouteRecord:
    """A route whose utterances are named after their row, with the given unit vectors."""
    vectors = unit(vectors)
    utterances = spec.pop("utterances", tuple(f"{name} example {i}" for i in range(len(vectors))))
    return RouteRecord(RouteSpec(name=name, utterances=utterances, **spec), vectors, "test", 0.0, 0.0)


def axis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def blend(a: np.ndarray, b: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` to the unit vector ``a``, in the plane of ``a`` and ``b``."""
    b = b - (b @ a) * a
    b = b / np.linalg.norm(b)
    out: np.ndarray = (cos * a + np.sqrt(1 - cos * cos) * b).astype(np.float32)
    return out


class Synthetic:
    """``routes`` routes in ``dim`` dimensions, ``per_route`` utterances each, drawn around a random
    centre with noise ``spread``; ``sample`` draws labelled requests, a share of them out of scope (from
    centres of routes that are not in the set)."""

    def __init__(self, routes: int = 12, per_route: int = 20, dim: int = DIM, spread: float = 0.7,
                 seed: int = 0, spread_jitter: float = 0.0):
        self.rng = np.random.default_rng(seed)
        self.dim = dim
        self.centres = unit(self.rng.standard_normal((routes, dim)))
        self.outside = unit(self.rng.standard_normal((routes, dim)))
        # routes differ in how tight they are, so that one threshold does not fit all
        self.spread = spread * (1 + spread_jitter * (self.rng.random(routes) - 0.5) * 2)
        self.names = [f"route-{i:02d}" for i in range(routes)]
        self.records = [record(n, self._around(self.centres[i], per_route, self.spread[i]))
                        for i, n in enumerate(self.names)]

    def _around(self, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
        noise = self.rng.standard_normal((n, self.dim)) * spread / np.sqrt(self.dim)
        return unit(centre[None, :] + noise)

    def sample(self, n: int, oos_share: float = 0.2) -> tuple[np.ndarray, list[str | None]]:
        labels: list[str | None] = []
        rows = []
        for _ in range(n):
            if self.rng.random() < oos_share:
                j = int(self.rng.integers(len(self.outside)))
                rows.append(self._around(self.outside[j], 1, 0.9)[0])
                labels.append(None)
            else:
                i = int(self.rng.integers(len(self.names)))
                rows.append(self._around(self.centres[i], 1, self.spread[i] * 1.3)[0])
                labels.append(self.names[i])
        return np.stack(rows), labels
