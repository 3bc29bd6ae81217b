"""Objectives: one utility function, in units of expected quality, higher is better.

Costs and latencies enter as log10 ratios to the cheapest/fastest feasible agent, so they are
unit-free and "ten times the price" weighs the same whatever the currency scale (``C0`` keeps free
agents finite):

* quality:            q − 0.01·Δc − 0.005·Δl        (cost and latency only break near-ties)
* cost:               −Δc + 0.01·q − 0.001·Δl
* latency:            −Δl + 0.01·q − 0.001·Δc
* balanced:           q − 0.1·Δc − 0.05·Δl          (a 10× dearer agent must be 0.1 better)
* quality_per_dollar: 0.1·log10(q / (cost + C0))    (the ratio, ranked by its logarithm)
* willingness_to_pay w (overrides the objective): q − cost / w, with w the USD paid for +1 quality.

with Δc = log10((cost + C0)/(min cost + C0)) and Δl = log10(latency / min latency), the minima over
the request's feasible agents.

Without a learned model, confidence is the softmax probability of the chosen agent over the feasible
agents' utilities at temperature ``TEMPERATURE`` (utilities differing by TEMPERATURE quality units
give odds of e:1): 1.0 with one feasible agent, 1/n when n agents tie; it is not calibrated against
outcomes. With a learned model live it is the chosen agent's calibrated quality instead
(``routerd.engine.router``).

The compiled kernel (``routerd.engine.kernel``) computes the same numbers for one request; a test
holds it equal to ``utility``.
"""

from __future__ import annotations

import numpy as np

C0 = 1e-6  # USD: the price below which costs stop mattering
TEMPERATURE = 0.05

# Kinds of utility, as the kernel numbers them.
LINEAR, PER_DOLLAR, WTP = 0, 1, 2

# Per linear objective: the weights of quality, Δc and Δl in ``wq·q − wc·Δc − wl·Δl``.
WEIGHTS: dict[str, tuple[float, float, float]] = {
    "quality": (1.0, 0.01, 0.005),
    "cost": (0.01, 1.0, 0.001),
    "latency": (0.01, 0.001, 1.0),
    "balanced": (1.0, 0.1, 0.05),
}


def utility_kind(objective: str, wtp: float | None) -> tuple[int, float, float, float]:
    """(kind, wq, wc, wl) for one request; for WTP, wq is the willingness to pay."""
    if wtp:
        return WTP, wtp, 0.0, 0.0
    if objective == "quality_per_dollar":
        return PER_DOLLAR, 0.0, 0.0, 0.0
    return (LINEAR, *WEIGHTS[objective])


def _minus_feasible_min(x: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """x − (min of x over the feasible agents), row-wise; 0 where a row has no feasible agent."""
    lo = np.where(feasible, x, np.inf).min(axis=1, keepdims=True)
    return np.asarray(x - np.where(lo == np.inf, 0.0, lo))


def utility(objective: str, wtp: np.ndarray | None, q: np.ndarray, cost: np.ndarray, log_lat: np.ndarray,
            feasible: np.ndarray) -> np.ndarray:
    """(n, a) utilities for n requests sharing ``objective``; rows with wtp > 0 use it instead.
    ``q`` and ``cost`` are (n, a); ``log_lat`` is log10 of the latencies (at least 1e-3 ms)."""
    if objective == "quality_per_dollar":
        u = 0.1 * np.log10(np.maximum(q, 1e-9) / (cost + C0))
    else:
        wq, wc, wl = WEIGHTS[objective]
        u = (wq * q - wc * _minus_feasible_min(np.log10(cost + C0), feasible)
             - wl * _minus_feasible_min(np.broadcast_to(log_lat, cost.shape), feasible))
    if wtp is not None:
        has_wtp = wtp > 0
        u = np.where(has_wtp[:, None], q - cost / np.where(has_wtp, wtp, 1.0)[:, None], u)
    return np.asarray(u)


def confidence(masked: np.ndarray, best: np.ndarray, routed: np.ndarray) -> np.ndarray:
    """Softmax probability of each row's best utility; ``masked`` has −inf for infeasible agents, so
    they drop out by themselves (an unrouted row sums to 0 and keeps confidence 0)."""
    mass = np.exp((masked - np.where(routed, best, 0.0)[:, None]) / TEMPERATURE).sum(axis=1)
    return np.asarray(np.divide(1.0, mass, out=np.zeros_like(mass), where=mass > 0))
