"""The heads on the FastGRNN encoder, their loss, and their calibration (pure numpy, float64).

Per-agent head, one row per known agent::

    P(agent a's answer adequate | request) = σ(v_aᵀ h + c_a)

Agent-embedding head, for any agent given its capability/description embedding ``e`` (the same
embedder as the requests; centred on the known agents' mean), so an agent registered after training
gets a per-request prediction::

    P(adequate | request, agent) = σ(hᵀ (v̄ + M e) + w_eᵀ e + c̄ + b_e)

``v̄``/``c̄`` are the mean row and bias of the per-agent head (tied, not separate parameters), so an
agent described like the average known agent is predicted as the average known agent; the bilinear
term lets the request decide *which* capabilities matter and ``w_eᵀ e`` moves the agent's level. M
and w_e carry their own, stronger weight decay, so with few training agents the head stays near that
mean instead of memorising the agents. For a fixed agent list the head folds into per-agent rows
(``v = v̄ + M e``, ``c = w_eᵀ e + c̄ + b_e``), so inference runs it at the cost of the per-agent head.

Targets are in [0, 1] (soft labels allowed); missing entries are masked out of the loss.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def sigmoid(x: F64) -> F64:
    # tanh form: one transcendental call and no overflow warning for large |x|.
    return np.asarray(0.5 * np.tanh(0.5 * x) + 0.5, dtype=np.float64)


def masked_bce(logits: F64, targets: F64, observed: F64) -> tuple[float, F64]:
    """Mean binary cross-entropy over the observed entries, and its gradient w.r.t. ``logits``.

    ``observed`` is 1.0 where a target exists and 0.0 elsewhere; ``targets`` must be finite everywhere
    (missing entries carry any value, e.g. 0). With no observed entry the loss is 0 and so is the
    gradient."""
    count = float(observed.sum())
    if count == 0.0:
        return 0.0, np.zeros_like(logits)
    # softplus(l) - y l, written stably.
    elementwise = np.maximum(logits, 0.0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    loss = float((elementwise * observed).sum() / count)
    grad = (sigmoid(logits) - targets) * (observed / count)
    return loss, grad


def agent_head_forward(h: F64, V: F64, c: F64) -> F64:
    """(n, A) logits of the per-agent head; ``V`` is (A, H), ``c`` (A,)."""
    return np.asarray(h @ V.T + c, dtype=np.float64)


def agent_head_backward(h: F64, V: F64, dlogits: F64) -> tuple[F64, F64, F64]:
    """Gradients (dV, dc, dh) of the per-agent head."""
    return dlogits.T @ h, dlogits.sum(axis=0), dlogits @ V


def embedding_head_rows(M: F64, v: F64, w: F64, b: F64, E: F64) -> tuple[F64, F64]:
    """The embedding head folded for the agents whose embeddings are the rows of ``E`` (A', d_e):
    per-agent rows ``K = v + E Mᵀ`` (A', H) and offsets ``E w + b`` (A',)."""
    return E @ M.T + v, E @ w + b[0]


def embedding_head_forward(h: F64, M: F64, v: F64, w: F64, b: F64, E: F64) -> F64:
    """(n, A') logits of the embedding head; ``M`` is (H, d_e), ``v`` (H,), ``w`` (d_e,), ``b`` (1,)."""
    K, offset = embedding_head_rows(M, v, w, b, E)
    return np.asarray(h @ K.T + offset, dtype=np.float64)


def embedding_head_backward(h: F64, M: F64, v: F64, E: F64, dlogits: F64) -> tuple[F64, F64, F64, F64, F64]:
    """Gradients (dM, dv, dw, db, dh) of the embedding head."""
    K = E @ M.T + v
    dK = dlogits.T @ h  # (A', H)
    col = dlogits.sum(axis=0)  # (A',)
    return dK.T @ E, dK.sum(axis=0), E.T @ col, np.array([col.sum()]), dlogits @ K


def fit_temperature(logits: F64, targets: F64, observed: F64) -> float:
    """Temperature scaling (Guo et al., 2017): the T > 0 minimising the masked cross-entropy of
    σ(logits / T). The loss is convex in β = 1/T, so its derivative is monotone and bisection on
    log β finds the minimum; T is kept within [0.01, 100]."""
    o = observed.astype(bool)
    lo_, y = logits[o], targets[o]
    if lo_.size == 0 or not np.any(lo_):
        return 1.0

    def slope(log_beta: float) -> float:
        return float(((sigmoid(np.exp(log_beta) * lo_) - y) * lo_).sum())

    lo, hi = -np.log(100.0), np.log(100.0)
    if slope(lo) >= 0.0:
        return float(np.exp(-lo))
    if slope(hi) <= 0.0:
        return float(np.exp(-hi))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0.0:
            hi = mid
        else:
            lo = mid
    return float(np.exp(-0.5 * (lo + hi)))


def expected_calibration_error(probs: F64, targets: F64, observed: F64 | None = None, n_bins: int = 15) -> float:
    """Binned ECE over every observed entry: Σ_b (n_b / N) |mean p_b − mean y_b| with equal-width
    bins on [0, 1] (soft targets enter by their value)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if observed is not None:
        keep = np.asarray(observed).astype(bool)
        p, y = p[keep], y[keep]
    else:
        keep = ~np.isnan(y)
        p, y = p[keep], y[keep]
    if p.size == 0:
        return 0.0
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    used = counts > 0
    return float(np.abs(sum_p[used] - sum_y[used]).sum() / p.size)
