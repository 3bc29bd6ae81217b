"""FitRoutes: per-route thresholds, the route scorer and the confidence model, from labelled examples.

``fit_routes(routes, embeddings, labels, objective=...)`` takes examples labelled with a route name,
or None for out of scope, and returns new thresholds and a ``Calibration``. The algorithm:

1. **Prototypes.** A cosine classifier is trained on the routes' own utterances (not on the
   examples, which stay unseen by it): one unit prototype per route (``calibration`` module).
2. **Similarity blend.** For each weight w in ``UTTERANCE_WEIGHTS`` the route similarity is
   ``w * nearest-utterance cosine + (1 - w) * prototype cosine``. Each is scored by stratified
   ``FOLDS``-fold cross-validation on the examples with one global threshold fitted on the other
   folds; the w with the best pooled out-of-fold objective wins (ties: the larger w).
3. **Thresholds.** A global threshold is fitted first (every midpoint between observed top
   similarities is tried). Then coordinate ascent over the routes: for route r, every threshold that
   changes an answer (midpoints between the similarities of r in the examples it can win) is tried,
   the answers of those examples are recomputed exactly (the next route that clears its own
   threshold takes over when r stops clearing), and the best threshold is kept if it improves
   ``objective x n - kappa * sum_r ((θ_r - θ_global) / σ)^2``, σ the spread of the top similarities.
   The penalty shrinks routes with few examples towards the global threshold; kappa is chosen from
   ``SHRINKAGE`` by the same cross-validation (kappa = inf: one global threshold). Passes repeat
   until nothing changes. ``min_out_of_scope_recall`` is a hard constraint on the examples at every
   step (the global start satisfies it, and no step may break it).
4. **Confidence.** slope and null logit are fitted by maximum likelihood on the *out-of-fold*
   answers of step 3 (thresholds fitted without the example), so the probabilities are those of
   unseen requests, not of the examples the thresholds were tuned on.

Objectives: "accuracy" (the share of examples answered right: the right route, or none for out of
scope) and "f1" (macro F1 over the routes and "none", the classes present among labels or answers).
Conditions (time windows, tiers, rate limits) play no part in fitting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from routerd.engine.validation import check_number
from routerd.errors import InvalidArgument
from routerd.semantic.calibration import (
    CANDIDATES,
    Calibration,
    FitMetrics,
    RoutePrototype,
    confusion,
    evaluate,
    fit_confidence,
    label_indices,
    macro_f1,
    per_route_precision_recall,
)
from routerd.semantic.linear import centroids, cosine_softmax_prototypes, ranked, segment_max
from routerd.semantic.matcher import RouteSet
from routerd.semantic.spec import check_embeddings

OBJECTIVES = ("accuracy", "f1")
EXAMPLES_MAX = 100_000
UTTERANCE_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)
SHRINKAGE = (math.inf, 4.0, 1.0, 0.25, 0.0)
FOLDS = 5
PASSES = 4
PROTOTYPE_SCALE = 20.0
PROTOTYPE_PULL = 1e-3
PROTOTYPE_ITERATIONS = 40
PROTOTYPE_MAX_ROWS = 30_000  # utterances the prototypes are trained on (sampled per route beyond)
END_GAP = 0.01  # how far past the outermost similarity a threshold goes


@dataclass(frozen=True, slots=True)
class RouteFit:
    route: str
    threshold_before: float
    threshold_after: float
    support: int  # examples labelled with this route
    precision_before: float
    recall_before: float
    precision_after: float
    recall_after: float


@dataclass(frozen=True, slots=True)
class FitResult:
    objective: str
    routes: tuple[RouteFit, ...]
    before: FitMetrics
    after: FitMetrics
    thresholds: dict[str, float]  # the new threshold of every route
    calibration: Calibration
    route_set: RouteSet  # the input set with the new thresholds (fitted=True) and calibration
    utterance_weight: float  # the chosen blend (step 2)
    shrinkage: float  # the chosen kappa (step 3; inf = one global threshold)
    global_threshold: float
    seconds: float


class _Thresholds:
    """Answers of ranked candidates under per-route thresholds, and their objective."""

    def __init__(self, sims: np.ndarray, ids: np.ndarray, labels: np.ndarray, n_routes: int, objective: str,
                 min_recall: float):
        self.s, self.ids, self.y = sims, ids, labels
        self.n, self.c = sims.shape
        self.r = n_routes
        self.objective = objective
        self.oos = labels < 0
        self.n_oos = int(self.oos.sum())
        self.need_oos = math.ceil(min_recall * self.n_oos - 1e-9) if self.n_oos else 0
        flat = ids.ravel()
        order = np.argsort(flat, kind="stable")
        keys = flat[order]
        bounds = np.searchsorted(keys, np.arange(n_routes + 1))
        self.where = [order[bounds[k]:bounds[k + 1]] for k in range(n_routes)]  # flat positions per route

    def answers(self, theta: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(answer, position) per row: the first candidate clearing its threshold (-1 / c: none)."""
        s = self.s if rows is None else self.s[rows]
        ids = self.ids if rows is None else self.ids[rows]
        clear = (ids >= 0) & (s >= theta[np.maximum(ids, 0)])
        first = np.argmax(clear, axis=1)
        hit = clear[np.arange(len(s)), first]
        return np.where(hit, ids[np.arange(len(s)), first], -1), np.where(hit, first, self.c)

    def score(self, pred: np.ndarray) -> float:
        """The objective times n (so that it is comparable with the penalty, in examples)."""
        if self.objective == "accuracy":
            return float((pred == self.y).sum())
        return float(macro_f1(*confusion(pred, self.y, self.r + 1)) * self.n)

    def feasible(self, pred: np.ndarray) -> bool:
        return int((pred[self.oos] < 0).sum()) >= self.need_oos

    def global_fit(self) -> float:
        """The single threshold for all routes with the best objective that meets the recall floor."""
        s1 = self.s[:, 0]
        top = self.ids[:, 0]
        u = np.unique(s1[top >= 0])
        cands = np.concatenate([[0.0], (u[:-1] + u[1:]) / 2, [min(1.0, u[-1] + END_GAP)] if len(u) else [1.0]])
        cands = np.unique(np.clip(cands, 0.0, 1.0))
        if len(cands) > 512:
            cands = np.unique(np.quantile(cands, np.linspace(0, 1, 512)))
        best: list[float] = []
        best_score = -math.inf
        for t in cands:
            pred = np.where((top >= 0) & (s1 >= t), top, -1)
            if not self.feasible(pred):
                continue
            sc = self.score(pred)
            if sc > best_score + 1e-9:
                best, best_score = [float(t)], sc
            elif abs(sc - best_score) <= 1e-9:
                best.append(float(t))
        if not best:
            pred = np.where(s1 >= 1.0, top, -1)
            reachable = float((pred[self.oos] < 0).mean()) if self.n_oos else 1.0
            raise InvalidArgument("min_out_of_scope_recall",
                                  f"cannot be met on these examples: at most {reachable:.3f} is reachable")
        return best[len(best) // 2]  # the middle of the best run: the widest margin either way

    def ascent(self, theta_g: float, kappa: float, sigma: float) -> np.ndarray:
        theta = np.full(self.r, theta_g, dtype=np.float32)
        if math.isinf(kappa):
            return theta
        pred, pos = self.answers(theta)
        total = self.score(pred)
        penalty = np.zeros(self.r)
        for _ in range(PASSES):
            changed = False
            for r in range(self.r):
                flat = self.where[r]
                if len(flat) == 0:
                    continue
                rows, cols = flat // self.c, flat % self.c
                hit = cols <= pos[rows]
                if not hit.any():
                    continue
                rows, cols = rows[hit], cols[hit]
                s_r = self.s[rows, cols]
                old = pred[rows]
                # the answer when r does not clear: the current one, or (r answers now) the next
                # candidate after r that clears its threshold
                alt = old.copy()
                mine = old == r
                if mine.any():
                    rr, cc = rows[mine], cols[mine]
                    ids = self.ids[rr]
                    clear = (ids >= 0) & (self.s[rr] >= theta[np.maximum(ids, 0)])
                    clear &= np.arange(self.c)[None, :] > cc[:, None]
                    first = np.argmax(clear, axis=1)
                    got = clear[np.arange(len(rr)), first]
                    alt[mine] = np.where(got, ids[np.arange(len(rr)), first], -1)
                cands = self._candidates(s_r, float(theta[r]), theta_g)
                new = np.where(s_r[None, :] >= cands[:, None], r, alt[None, :])  # (T, m)
                scores = self._scores(total, pred, rows, old, new)
                oos_rows = self.oos[rows]
                base_oos = int((pred[self.oos] < 0).sum()) - int((old[oos_rows] < 0).sum())
                ok = base_oos + ((new[:, oos_rows] < 0).sum(axis=1)) >= self.need_oos
                pen = kappa * ((cands - theta_g) / sigma) ** 2 + 1e-9 * np.abs(cands - theta_g)
                value = np.where(ok, scores - pen, -np.inf)
                best = int(np.argmax(value))
                current = total - penalty[r] - 1e-9 * abs(float(theta[r]) - theta_g)
                if value[best] > current + 1e-9:
                    theta[r] = cands[best]
                    pred[rows] = new[best]
                    pos[rows] = self.answers(theta, rows)[1]
                    total = float(scores[best])
                    penalty[r] = float(kappa * ((cands[best] - theta_g) / sigma) ** 2)
                    changed = True
            if not changed:
                break
        return theta

    @staticmethod
    def _candidates(s_r: np.ndarray, current: float, theta_g: float) -> np.ndarray:
        """Thresholds that give every distinct answer for these similarities: in each gap between
        sorted similarities, the point nearest the global threshold that keeps a quarter of the gap
        of margin on both sides (past the ends, END_GAP)."""
        u = np.unique(s_r)
        lo = np.concatenate([[u[0] - 2 * END_GAP], u])
        hi = np.concatenate([u, [u[-1] + 2 * END_GAP]])
        gap = hi - lo
        pick = np.clip(theta_g, lo + gap / 4, hi - gap / 4)
        pick[0] = min(theta_g, u[0] - END_GAP) if theta_g < u[0] else pick[0]
        pick[-1] = max(theta_g, u[-1] + END_GAP) if theta_g > u[-1] else pick[-1]
        return np.unique(np.clip(np.concatenate([pick, [current]]), 0.0, 1.0)).astype(np.float32)

    def _scores(self, total: float, pred: np.ndarray, rows: np.ndarray, old: np.ndarray,
                new: np.ndarray) -> np.ndarray:
        """The objective x n for each candidate row of ``new`` (answers of ``rows``)."""
        y = self.y[rows]
        if self.objective == "accuracy":
            acc: np.ndarray = total - float((old == y).sum()) + (new == y[None, :]).sum(axis=1)
            return acc
        # macro F1: only the classes these rows touch change; recount them per candidate
        k = self.r + 1
        tp, fp, fn = confusion(pred, self.y, k)
        touched = np.unique(np.concatenate([np.where(old < 0, k - 1, old), np.where(y < 0, k - 1, y),
                                            np.where(new.ravel() < 0, k - 1, new.ravel())]))
        loc = np.full(k, -1)
        loc[touched] = np.arange(len(touched))
        yl = loc[np.where(y < 0, k - 1, y)]
        ol = loc[np.where(old < 0, k - 1, old)]
        nl = loc[np.where(new < 0, k - 1, new)]
        t_, f_, n_ = tp[touched].astype(np.float64), fp[touched].astype(np.float64), fn[touched].astype(np.float64)
        right = old == y
        np.subtract.at(t_, yl[right], 1)
        np.subtract.at(f_, ol[~right], 1)
        np.subtract.at(n_, yl[~right], 1)
        cands = new.shape[0]
        tp_c = np.tile(t_, (cands, 1))
        fp_c = np.tile(f_, (cands, 1))
        fn_c = np.tile(n_, (cands, 1))
        hit = new == y[None, :]
        row_idx = np.broadcast_to(np.arange(cands)[:, None], new.shape)
        ybc = np.broadcast_to(yl[None, :], new.shape)
        np.add.at(tp_c, (row_idx[hit], ybc[hit]), 1)
        np.add.at(fp_c, (row_idx[~hit], nl[~hit]), 1)
        np.add.at(fn_c, (row_idx[~hit], ybc[~hit]), 1)
        denom_all = 2 * tp + fp + fn
        present_all = denom_all > 0
        f1_all = np.divide(2 * tp, denom_all, out=np.zeros(k), where=present_all)
        others = np.ones(k, bool)
        others[touched] = False
        base_sum = float(f1_all[others & present_all].sum())
        base_n = int((others & present_all).sum())
        denom = 2 * tp_c + fp_c + fn_c
        present = denom > 0
        f1 = np.divide(2 * tp_c, denom, out=np.zeros_like(denom), where=present)
        count = base_n + present.sum(axis=1)
        out: np.ndarray = np.where(count > 0, (base_sum + f1.sum(axis=1)) / np.maximum(count, 1), 0.0) * self.n
        return out


def _folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per example, stratified by label (each label's examples dealt round-robin)."""
    fold = np.empty(len(labels), dtype=np.int64)
    start = 0
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + start) % k
        start += len(idx)  # rotate so small labels do not all land in fold 0
    return fold


def _train_prototypes(routes: RouteSet, rng: np.random.Generator) -> np.ndarray:
    matrix, starts, counts = routes._matrix, routes._starts, routes._counts
    cents = centroids(matrix, starts)
    rows = np.arange(len(matrix))
    if len(matrix) > PROTOTYPE_MAX_ROWS:
        per = max(1, PROTOTYPE_MAX_ROWS // len(routes))
        rows = np.concatenate([s + (rng.choice(c, per, replace=False) if c > per else np.arange(c))
                               for s, c in zip(starts.tolist(), counts.tolist(), strict=True)])
    return cosine_softmax_prototypes(matrix[rows], routes._route_of_row[rows], cents, scale=PROTOTYPE_SCALE,
                                     pull=PROTOTYPE_PULL, iterations=PROTOTYPE_ITERATIONS)


def _candidates_per_weight(routes: RouteSet, emb: np.ndarray, protos: np.ndarray, labels: np.ndarray) \
        -> dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each blend weight: the ranked top CANDIDATES (sims, ids) of every example and the
    similarity of its labelled route (for the likelihood when that route is not a candidate)."""
    n, r = len(emb), len(routes)
    width = min(CANDIDATES, r)
    out = {w: (np.empty((n, width), np.float32), np.empty((n, width), np.int64), np.zeros(n, np.float32))
           for w in UTTERANCE_WEIGHTS}
    ids_all = np.arange(r)
    step = max(1, (1 << 22) // max(1, routes.utterance_count, r))
    for lo in range(0, n, step):
        q = emb[lo:lo + step]
        utt = segment_max(q @ routes._matrix.T, routes._starts)
        pro = q @ protos.T
        lab = labels[lo:lo + step]
        for w in UTTERANCE_WEIGHTS:
            fused = (w * utt + (1 - w) * pro).astype(np.float32)
            s, ids = ranked(fused, np.broadcast_to(ids_all, fused.shape), routes._priority, width)
            out[w][0][lo:lo + step], out[w][1][lo:lo + step] = s, ids
            out[w][2][lo:lo + step] = np.where(lab >= 0, fused[np.arange(len(q)), np.maximum(lab, 0)], 0.0)
    return out


def _cross_validate(problem_rows: tuple[np.ndarray, np.ndarray], labels: np.ndarray, fold: np.ndarray,
                    n_routes: int, objective: str, min_recall: float, kappa: float) \
        -> tuple[float, float, np.ndarray]:
    """(pooled out-of-fold objective, pooled out-of-scope recall, out-of-fold thresholds per example)."""
    sims, ids = problem_rows
    pred = np.empty(len(labels), np.int64)
    thr = np.empty((len(labels), n_routes), np.float32)
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        if not train.any():  # too few examples to hold any out: in-sample
            train = test
        prob = _Thresholds(sims[train], ids[train], labels[train], n_routes, objective, min_recall)
        try:
            tg = prob.global_fit()
        except InvalidArgument:
            tg = 1.0
        sigma = max(float(np.std(sims[train, 0])), 1e-3)
        theta = prob.ascent(tg, kappa, sigma)
        test_prob = _Thresholds(sims[test], ids[test], labels[test], n_routes, objective, 0.0)
        pred[test] = test_prob.answers(theta)[0]
        thr[test] = theta
    whole = _Thresholds(sims, ids, labels, n_routes, objective, 0.0)
    oos = labels < 0
    recall = float((pred[oos] < 0).mean()) if oos.any() else 1.0
    return whole.score(pred) / len(labels), recall, thr


def fit_routes(routes: RouteSet, embeddings: np.ndarray, labels: Sequence[str | None], *,
               objective: str = "accuracy", min_out_of_scope_recall: float = 0.0,
               random_state: int = 0) -> FitResult:
    """Fit thresholds, the similarity blend and the confidence model of ``routes`` to labelled
    examples (module docstring). ``labels[i]`` names a route of the set, or is None / "" for out of
    scope. Returns the report and the fitted set; ``routes`` itself is not changed."""
    started = time.perf_counter()
    if objective not in OBJECTIVES:
        raise InvalidArgument("objective", f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    min_recall = check_number(min_out_of_scope_recall, "min_out_of_scope_recall", maximum=1.0)
    if not len(routes):
        raise InvalidArgument("examples", "there are no routes to fit")
    emb = check_embeddings(embeddings, dim=routes.dim, field="examples.embedding")
    if len(emb) == 0:
        raise InvalidArgument("examples", "needs at least one example")
    if len(emb) > EXAMPLES_MAX:
        raise InvalidArgument("examples", f"has {len(emb)} examples; at most {EXAMPLES_MAX}")
    if len(labels) != len(emb):
        raise InvalidArgument("examples", f"{len(emb)} embeddings but {len(labels)} labels")
    y = label_indices(labels, routes.names)
    r = len(routes)
    rng = np.random.default_rng(random_state)

    pred_before, conf_before = routes.predict(emb)
    before = evaluate(pred_before, conf_before, y, r)

    protos = _train_prototypes(routes, rng)
    per_weight = _candidates_per_weight(routes, emb, protos, y)
    fold = _folds(y, min(FOLDS, len(y)), rng) if len(y) >= 2 else np.zeros(len(y), np.int64)

    # step 2: the blend, each weight with one global threshold, by pooled out-of-fold objective
    best_w, best_w_score = 1.0, -math.inf
    for w in UTTERANCE_WEIGHTS:
        sims, ids, _ = per_weight[w]
        score, _, _ = _cross_validate((sims, ids), y, fold, r, objective, min_recall, math.inf)
        if score > best_w_score + 1e-9:
            best_w, best_w_score = w, score
    sims, ids, label_sim = per_weight[best_w]

    # step 3: the shrinkage, preferring settings whose out-of-fold recall meets the floor
    best_k, best_key, oof_thr = math.inf, (-1, -math.inf), np.empty(0)
    for kappa in SHRINKAGE:
        score, recall, thr = _cross_validate((sims, ids), y, fold, r, objective, min_recall, kappa)
        key = (int(recall >= min_recall - 1e-9), score if recall >= min_recall - 1e-9 else recall)
        if key > best_key:
            best_k, best_key, oof_thr = kappa, key, thr

    problem = _Thresholds(sims, ids, y, r, objective, min_recall)
    theta_g = problem.global_fit()
    sigma = max(float(np.std(sims[:, 0])), 1e-3)
    theta = problem.ascent(theta_g, best_k, sigma)

    # step 4: the confidence model on out-of-fold margins; the labelled route is added as a column
    # when it is not among the candidates, so every example has a likelihood
    rows = np.arange(len(y))
    margins = np.where(ids >= 0, sims - np.take_along_axis(oof_thr, np.maximum(ids, 0), axis=1), -np.inf)
    extra = np.full((len(y), 1), -np.inf)
    col = np.full(len(y), -1)
    found = (ids == y[:, None]) & (y[:, None] >= 0)
    has = found.any(axis=1)
    col[has] = np.argmax(found[has], axis=1)
    missing = (y >= 0) & ~has
    extra[missing, 0] = label_sim[missing] - oof_thr[rows[missing], y[missing]]
    col[missing] = ids.shape[1]
    slope, null_logit = fit_confidence(np.concatenate([margins, extra], axis=1), col)

    prototypes: dict[str, RoutePrototype] = {}
    if best_w < 1.0:
        prototypes = {name: RoutePrototype(routes.fingerprint(name), protos[i]) for i, name in enumerate(routes.names)}
    calibration = Calibration(slope=slope, null_logit=null_logit, utterance_weight=best_w, prototypes=prototypes,
                              embedder=routes.embedder, dim=routes.dim, global_threshold=float(theta_g))
    thresholds = {name: float(theta[i]) for i, name in enumerate(routes.names)}
    fitted = routes.with_changes(
        [replace(rec, spec=replace(rec.spec, threshold=thresholds[rec.spec.name], fitted=True))
         for rec in routes.records], calibration=calibration)
    pred_after, conf_after = fitted.predict(emb)
    after = evaluate(pred_after, conf_after, y, r)

    p_b, r_b, support = per_route_precision_recall(pred_before, y, r)
    p_a, r_a, _ = per_route_precision_recall(pred_after, y, r)
    fits = tuple(RouteFit(name, routes.threshold(name), thresholds[name], int(support[i]), float(p_b[i]),
                          float(r_b[i]), float(p_a[i]), float(r_a[i])) for i, name in enumerate(routes.names))
    return FitResult(objective=objective, routes=fits, before=before, after=after, thresholds=thresholds,
                     calibration=calibration, route_set=fitted, utterance_weight=best_w, shrinkage=best_k,
                     global_threshold=float(theta_g), seconds=time.perf_counter() - started)
