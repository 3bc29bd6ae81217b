"""The compiled routing kernel for one request (``_kernel.c``), or its numpy equivalent.

``route_one`` has one meaning, written twice: in C for speed (built by the project's install as the
extension ``routerd.engine._kernel``) and below in numpy from the same functions the batch path
uses. tests/unit/test_kernel.py holds them equal; ``COMPILED`` says which one runs here.
"""

from __future__ import annotations

import numpy as np

from routerd.engine.feasibility import OK
from routerd.engine.objectives import C0, LINEAR, PER_DOLLAR, TEMPERATURE

Bounds = tuple[tuple[int, int, bool, float], ...]


def route_one_numpy(cost: np.ndarray, latency: np.ndarray, log_latency: np.ndarray, quality: np.ndarray,
                    codes: np.ndarray, utility: np.ndarray, bounds: Bounds, kind: int, wq: float, wc: float,
                    wl: float, c0: float = C0, temperature: float = TEMPERATURE) -> tuple[int, float]:
    """Bound rules, utility, argmax and confidence for one request; fills ``codes`` and ``utility``."""
    estimates = (cost, latency, quality)
    for code, which, above_fails, bound in reversed(bounds):
        e = estimates[which]
        violated = e > bound if above_fails else e < bound
        codes[violated & ((codes == OK) | (codes > code))] = code
    feasible = codes == OK
    if kind == LINEAR:
        lc = np.log10(cost + c0)
        if feasible.any():
            lc_min, ll_min = lc[feasible].min(), log_latency[feasible].min()
        else:
            lc_min = ll_min = 0.0
        utility[:] = wq * quality - wc * (lc - lc_min) - wl * (log_latency - ll_min)
    elif kind == PER_DOLLAR:
        utility[:] = 0.1 * np.log10(np.maximum(quality, 1e-9) / (cost + c0))
    else:
        utility[:] = quality - cost / wq
    if not feasible.any():
        return -1, 0.0
    masked = np.where(feasible, utility, -np.inf)
    chosen = int(np.argmax(masked))
    mass = float(np.exp((masked - masked[chosen]) / temperature).sum())
    return chosen, 1.0 / mass


try:
    from routerd.engine._kernel import route_one as _compiled
except ImportError:  # no compiler at install time: the numpy version is the same routing, slower
    route_one = route_one_numpy
    COMPILED = False
else:
    route_one = _compiled
    COMPILED = True
