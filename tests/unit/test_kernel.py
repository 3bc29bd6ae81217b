"""The compiled routing kernel computes what its numpy twin computes, and it is the one installed."""

from __future__ import annotations

import numpy as np
import pytest

from routerd.engine import kernel
from routerd.engine.feasibility import BOUND_RULES, COST, LATENCY, QUALITY
from routerd.engine.objectives import LINEAR, PER_DOLLAR, WEIGHTS, WTP


def test_the_project_install_built_the_kernel() -> None:
    # `make install` compiles routerd/engine/_kernel.c; without it routing silently loses its speed.
    assert kernel.COMPILED


def _case(rng: np.random.Generator, a: int) -> tuple[list[np.ndarray], tuple[tuple[int, int, bool, float], ...]]:
    cost = rng.choice([0.0, 1e-7, 0.003, 0.2], size=a) * rng.uniform(0.5, 2, size=a)
    latency = rng.uniform(1e-4, 3000, size=a)
    log_latency = np.log10(np.maximum(latency, 1e-3))
    quality = rng.choice([0.0, 0.5, 1.0, rng.uniform()], size=a)
    codes = np.where(rng.random(a) < 0.2, rng.integers(1, 5, size=a), 0).astype(np.int8)
    bounds = []
    for r in BOUND_RULES:
        if rng.random() < 0.5:
            est = {COST: cost, LATENCY: latency, QUALITY: quality}[r.estimate]
            bounds.append((r.code, r.estimate, r.above_fails, float(rng.choice(est)) if a else 0.0))
    return [cost, latency, log_latency, quality, codes], tuple(bounds)


KINDS = [(LINEAR, *w) for w in WEIGHTS.values()] + [(PER_DOLLAR, 0.0, 0.0, 0.0), (WTP, 0.01, 0.0, 0.0),
                                                     (WTP, 50.0, 0.0, 0.0)]


@pytest.mark.skipif(not kernel.COMPILED, reason="the kernel is not compiled here")
@pytest.mark.parametrize("seed", range(40))
def test_compiled_kernel_equals_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = int(rng.integers(0, 150))
    (cost, latency, log_latency, quality, codes), bounds = _case(rng, a)
    for kind in KINDS:
        c1, c2 = codes.copy(), codes.copy()
        u1, u2 = np.empty(a), np.empty(a)
        got = kernel.route_one(cost, latency, log_latency, quality, c1, u1, bounds, *kind, 1e-6, 0.05)
        want = kernel.route_one_numpy(cost, latency, log_latency, quality, c2, u2, bounds, *kind, 1e-6, 0.05)
        assert c1.tolist() == c2.tolist()
        assert got[0] == want[0]
        assert got[1] == pytest.approx(want[1], rel=1e-12)
        np.testing.assert_allclose(u1, u2, rtol=1e-12, atol=1e-15)


@pytest.mark.skipif(not kernel.COMPILED, reason="the kernel is not compiled here")
def test_kernel_rejects_wrong_arrays() -> None:
    f8, i1 = np.zeros(3), np.zeros(3, dtype=np.int8)
    with pytest.raises(TypeError, match="codes"):
        kernel.route_one(f8, f8, f8, f8, np.zeros(3), np.empty(3), (), LINEAR, 1.0, 0.1, 0.05, 1e-6, 0.05)
    with pytest.raises(ValueError, match="length"):
        kernel.route_one(f8, f8, f8, np.zeros(2), i1, np.empty(3), (), LINEAR, 1.0, 0.1, 0.05, 1e-6, 0.05)
    with pytest.raises(ValueError, match="estimate"):
        kernel.route_one(f8, f8, f8, f8, i1, np.empty(3), ((5, 7, True, 1.0),), LINEAR, 1.0, 0.1, 0.05, 1e-6, 0.05)
    with pytest.raises(ValueError, match="contiguous"):
        kernel.route_one(f8, f8, f8, f8, i1, np.empty(6)[::2], (), LINEAR, 1.0, 0.1, 0.05, 1e-6, 0.05)
