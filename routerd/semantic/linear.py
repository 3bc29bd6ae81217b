"""The pure math of semantic routing: numpy in, numpy out, no routes, no state.

Everything here works on rows: ``(n, d)`` request embeddings, ``(N, d)`` utterance matrices, ``(n, R)``
route scores. Nothing validates its input; the callers in ``routerd.semantic`` do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FloatArray = np.ndarray


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 rows of length 1 (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def segment_max(scores: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per row, the maximum of each segment of columns; segment j is ``starts[j] .. starts[j+1]``.

    With the utterance matrix laid out route by route, this turns (n, N) utterance similarities into
    (n, R) route similarities (the max cosine to each route's utterances). Segments must be non-empty."""
    return np.maximum.reduceat(scores, starts, axis=1)


def centroids(vectors: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The unit-length mean of each segment of rows (route centroids), float32 (R, d)."""
    sums = np.add.reduceat(vectors.astype(np.float64), starts, axis=0)
    return unit_rows(sums)


def ranked(scores: np.ndarray, ids: np.ndarray, priority: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row, best first: by score, then by ``priority[id]`` (higher first),
    then by id. ``scores`` and ``ids`` are (n, K); returns (scores, ids), each (n, min(k, K))."""
    n, width = scores.shape
    if k < width:
        # argpartition finds the k best in O(K); ties at the cut are settled by the full sort below
        # only among the kept columns, which is what a bounded top-k can promise.
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(scores, part, axis=1)
        ids = np.take_along_axis(ids, part, axis=1)
    keys = (ids, -priority[np.maximum(ids, 0)], -scores)
    order = np.lexsort(keys, axis=-1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


def softmax_with_null(logits: np.ndarray, null_logit: float) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax over the columns of ``logits`` plus one extra "none of these" class whose logit
    is ``null_logit``. Returns (probabilities (n, K), null probability (n,)); each row sums to 1 with it.
    Columns holding -inf get probability 0."""
    top = np.maximum(logits.max(axis=1, initial=-np.inf), null_logit)
    e = np.exp(logits - top[:, None])
    e_null = np.exp(null_logit - top)
    z = e.sum(axis=1) + e_null
    return e / z[:, None], e_null / z


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with ``bins`` equal-width bins over [0, 1]: the mean over bins of
    |accuracy - mean confidence|, weighted by the share of predictions in the bin."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    acc_sum = np.bincount(which, weights=correct, minlength=bins)
    return float(np.abs(acc_sum - conf_sum).sum() / confidence.size)


def minimize_lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, *,
                   iterations: int, memory: int = 10, tolerance: float = 1e-6) -> np.ndarray:
    """Minimise a smooth function with limited-memory BFGS and a backtracking (Armijo) line search.

    ``fun(x)`` returns (value, gradient). Stops after ``iterations`` steps or when the largest gradient
    component is below ``tolerance``. Deterministic: no randomness, no threads of its own."""
    x = np.asarray(x0, dtype=np.float64).copy()
    fx, g = fun(x)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    for _ in range(iterations):
        if float(np.abs(g).max(initial=0.0)) < tolerance:
            break
        q = g.copy()
        alphas: list[float] = []
        for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = float(s @ q) / float(y @ s)
            alphas.append(a)
            q -= a * y
        if s_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for s, y, a in zip(s_hist, y_hist, reversed(alphas), strict=True):
            b = float(y @ q) / float(y @ s)
            q += s * (a - b)
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction (curvature information went stale): restart
            direction, slope = -g, -float(g @ g)
            s_hist.clear()
            y_hist.clear()
        step = 1.0
        while True:
            xn = x + step * direction
            fn, gn = fun(xn)
            if fn <= fx + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = xn - x, gn - g
        if float(s @ y) > 1e-12:  # keep the pair only if it carries positive curvature
            s_hist.append(s)
            y_hist.append(y)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        x, fx, g = xn, fn, gn
    return x


def cosine_softmax_prototypes(vectors: np.ndarray, labels: np.ndarray, init: np.ndarray, *, scale: float,
                              pull: float, iterations: int) -> np.ndarray:
    """Unit prototypes, one per class, that maximise the likelihood of a softmax over ``scale`` times the
    cosine between each row of ``vectors`` and each prototype (a "cosine classifier"), with an L2 pull
    of strength ``pull`` towards ``init`` (the class centroids) so that classes with few rows stay near
    their centroid. ``vectors`` are unit rows (n, d), ``labels`` class indices (n,), ``init`` (R, d)
    unit rows. Returns float32 (R, d) unit rows."""
    n, d = vectors.shape
    r = init.shape[0]
    x = vectors.astype(np.float32, copy=False)
    onehot_rows = np.arange(n)
    anchor = init.astype(np.float32)

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        raw = w.reshape(r, d).astype(np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        norms = np.maximum(norms, 1e-12)
        protos = raw / norms
        logits = scale * (x @ protos.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        log_lik = np.log(np.maximum(p[onehot_rows, labels], 1e-30), dtype=np.float64).sum()
        diff = protos - anchor
        loss = -log_lik / n + 0.5 * pull * float((diff * diff).sum())
        p[onehot_rows, labels] -= 1.0
        grad_protos = (scale / n) * (p.T @ x) + pull * diff
        # through the normalisation: d protos / d raw = (I - protos protos^T) / |raw|
        grad_raw = (grad_protos - (grad_protos * protos).sum(axis=1, keepdims=True) * protos) / norms
        return float(loss), grad_raw.ravel().astype(np.float64)

    w = minimize_lbfgs(fun, anchor.ravel().astype(np.float64), iterations=iterations)
    return unit_rows(w.reshape(r, d))
