"""Evaluation of routers on held-out routing data: cost–quality curves over a willingness-to-pay sweep,
their area, accuracy at fractions of the best agent's cost, baselines, and RouteLLM's metrics.

**Decision rule.** routerd with a willingness to pay W (USD for +1.0 of expected quality) chooses, per
request, ``argmax_a q̂_a − ĉ_a / W`` over the feasible agents, first of equals
(``routerd.engine.objectives.utility``, the WTP branch: no normalisation, no C0, latency unused);
``decide`` calls that very function. q̂ is the router's predicted quality, ĉ routerd's estimated cost
(``routerd.model.datasets.PriceModel``); the curve is scored with the *true* quality and cost.

**Sweep.** Per request the choice is piecewise constant in W and changes only where two agents'
utilities cross, at W = Δĉ/Δq̂ along the upper envelope of the lines q̂_a − ĉ_a·(1/W). ``sweep`` walks
every envelope exactly, so the curve has every distinct decision set from "always the cheapest
predicted agent" (W → 0) to "always the best predicted" (W → ∞), each point with a W inside its
interval (``wtp``; the first and last are the extreme breakpoints /10 and ×10). ``wtp_grid`` gives a
log-spaced list instead; ``curve_at`` scores any list of W.

**Curve, hull, area.** A point is (mean true cost per request, mean true quality). ``upper_hull`` is
the non-decreasing upper convex hull of a set of points (RouterBench's AIQ construction): mixing two
operating points at random reaches every point on the segment between them, so it is achievable.
R(x) is the hull's quality at cost x (linear between vertices, its best quality beyond its dearest
vertex, undefined below its cheapest). **AUC** = (1/(c_hi − c_lo)) ∫_{c_lo}^{c_hi} R(x) dx with
c_lo = the cheapest single agent's mean cost and c_hi = the best single agent's (highest mean true
quality, cheaper on ties), R = 0 where undefined: a mean quality over that cost range, in quality
units (a degenerate range gives R(c_lo)). **Accuracy at fraction f** is R(f·c_best) (NaN if the
curve cannot be that cheap) and, deterministically, the best point whose cost ≤ f·c_best
(``at_fraction_points``). **Cost to match** is the least cost at which R reaches the best agent's
quality, as a fraction of its cost. **Dominance** over a set of points is min(R(cost) − quality) over
them (>= 0: dominates); a point cheaper than the curve's cheapest is not dominated (−inf), so it is
also reported over the agents the curve reaches, with the cheaper ones named.

**Baselines**, on the same split: every single agent (a point each); random routing at matched cost
(the hull of the single-agent points: a random mixture of two agents, in expectation); the
cheapest-correct oracle (per request the cheapest agent among those with the request's best true
quality; its sweep with true q and c is the "oracle" curve); k-NN (cosine on embeddings, k chosen by
leave-one-out Brier score on the training part); per-agent L2 logistic regression (Newton's method,
λ chosen on a held-out fifth of the training part); the task-aware router (per-category mean quality).

**RouteLLM metrics** (two models): routing the top share s of requests by a score to the strong model
gives accuracy acc(s); PGR(s) = (acc(s) − acc_weak)/(acc_strong − acc_weak); APGR = ∫_0^1 PGR(s) ds
(trapezoids over every distinct threshold, the limit of RouteLLM's quantile bins); CPT(x) = the least
share with PGR ≥ x (linear between points). A random router's expected APGR is 0.5.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routerd.engine.objectives import utility
from routerd.errors import FailedPrecondition, InvalidArgument

FRACTIONS = (0.05, 0.10, 0.25, 0.50, 0.60)


def _matrix(x: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise InvalidArgument(name, f"must be an (n, agents) matrix, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise InvalidArgument(name, f"has shape {a.shape}, expected {shape}")
    if not np.isfinite(a).all():
        raise InvalidArgument(name, "has NaN or infinite values (evaluate on complete rows: RoutingDataset.complete)")
    return a


# -- the decision rule and the sweep ---------------------------------------------------------------

def decide(q_hat: np.ndarray, c_hat: np.ndarray, wtp: float) -> np.ndarray:
    """(n,) the agent routerd picks for each request at willingness to pay ``wtp`` (> 0)."""
    q = _matrix(q_hat, "q_hat")
    c = _matrix(c_hat, "c_hat", q.shape)
    if not (wtp > 0 and math.isfinite(wtp)):
        raise InvalidArgument("wtp", f"must be a positive finite number, got {wtp!r}")
    n = q.shape[0]
    u = utility("balanced", np.full(n, float(wtp)), q, c, np.zeros(q.shape[1]), np.ones(q.shape, dtype=bool))
    return np.asarray(np.argmax(u, axis=1))  # argmax: first of equals, as routerd


def _envelope(q: np.ndarray, c: np.ndarray) -> tuple[int, list[tuple[float, int]]]:
    """One request's choices as W grows: the start agent (W → 0) and (W at which it changes, new agent)."""
    lo = c.min()
    cand = np.flatnonzero(c == lo)
    start = cur = int(cand[np.argmax(q[cand])])  # cheapest, then best, then first
    steps: list[tuple[float, int]] = []
    while True:
        better = q > q[cur]
        if not better.any():
            return start, steps
        t = np.full(q.shape, -np.inf)
        # cur is on the envelope, so every better agent is dearer: the division is by a positive number.
        t[better] = (q[better] - q[cur]) / (c[better] - c[cur])
        t_max = t.max()
        tied = np.flatnonzero(t == t_max)
        nxt = int(tied[np.argmax(c[tied])])  # past a common crossing the dearest line is on top
        steps.append((1.0 / t_max, nxt))
        cur = nxt


@dataclass(frozen=True, eq=False)
class Curve:
    """Operating points of one router: mean true cost and quality per request, in the order of ``wtp``."""

    name: str
    cost: np.ndarray
    quality: np.ndarray
    wtp: np.ndarray  # a W that gives each point (NaN for points that are not a W of a sweep)

    def hull(self) -> tuple[np.ndarray, np.ndarray]:
        return upper_hull(self.cost, self.quality)


def sweep(q_hat: np.ndarray, c_hat: np.ndarray, q_true: np.ndarray, c_true: np.ndarray, name: str = "router") -> Curve:
    """Every distinct operating point of the decision rule over W ∈ (0, ∞) (module docstring)."""
    q = _matrix(q_hat, "q_hat")
    c = _matrix(c_hat, "c_hat", q.shape)
    qt = _matrix(q_true, "q_true", q.shape)
    ct = _matrix(c_true, "c_true", q.shape)
    n = q.shape[0]
    if n == 0 or q.shape[1] == 0:
        raise InvalidArgument("q_hat", "needs at least one request and one agent")
    starts = np.empty(n, dtype=int)
    ev_w: list[float] = []
    ev_row: list[int] = []
    ev_from: list[int] = []
    ev_to: list[int] = []
    for i in range(n):
        s, steps = _envelope(q[i], c[i])
        starts[i] = s
        prev = s
        for w, a in steps:
            ev_w.append(w)
            ev_row.append(i)
            ev_from.append(prev)
            ev_to.append(a)
            prev = a
    rows = np.arange(n)
    cost_sum = float(ct[rows, starts].sum())
    qual_sum = float(qt[rows, starts].sum())
    w_arr = np.array(ev_w)
    order = np.argsort(w_arr, kind="stable")
    w_sorted = w_arr[order]
    r = np.array(ev_row, dtype=int)[order]
    f = np.array(ev_from, dtype=int)[order]
    t = np.array(ev_to, dtype=int)[order]
    dc = ct[r, t] - ct[r, f]
    dq = qt[r, t] - qt[r, f]
    # One point per distinct W: the decisions change at every event with that W at once.
    if w_sorted.size:
        last = np.flatnonzero(np.r_[w_sorted[1:] != w_sorted[:-1], True])
        costs = cost_sum + np.cumsum(dc)[last]
        quals = qual_sum + np.cumsum(dq)[last]
        bw = w_sorted[last]
        mids = np.sqrt(bw[:-1] * bw[1:])
        wtp = np.r_[bw[0] / 10.0, mids, bw[-1] * 10.0]
        cost = np.r_[cost_sum, costs] / n
        qual = np.r_[qual_sum, quals] / n
    else:
        cost, qual, wtp = np.array([cost_sum / n]), np.array([qual_sum / n]), np.array([1.0])
    return Curve(name, cost, qual, wtp)


def wtp_grid(q_hat: np.ndarray, c_hat: np.ndarray, n: int = 200) -> np.ndarray:
    """``n`` log-spaced W from a tenth of the smallest crossing to ten times the largest: the first
    routes every request to its cheapest predicted agent, the last to its best."""
    q = _matrix(q_hat, "q_hat")
    c = _matrix(c_hat, "c_hat", q.shape)
    ws = [w for i in range(q.shape[0]) for w, _ in _envelope(q[i], c[i])[1]]
    if not ws:
        return np.array([1.0])
    return np.asarray(np.geomspace(min(ws) / 10.0, max(ws) * 10.0, n))


def curve_at(q_hat: np.ndarray, c_hat: np.ndarray, q_true: np.ndarray, c_true: np.ndarray, wtps: Sequence[float],
             name: str = "router") -> Curve:
    """The operating points of ``decide`` at each W of ``wtps``."""
    qt = _matrix(q_true, "q_true")
    ct = _matrix(c_true, "c_true", qt.shape)
    rows = np.arange(qt.shape[0])
    picks = [decide(q_hat, c_hat, w) for w in wtps]
    return Curve(name, np.array([ct[rows, p].mean() for p in picks]), np.array([qt[rows, p].mean() for p in picks]),
                 np.asarray(wtps, dtype=np.float64))


def chosen_calibration(q_hat: np.ndarray, c_hat: np.ndarray, q_true: np.ndarray, wtps: Sequence[float] | None = None,
                       n_bins: int = 15) -> float:
    """Expected calibration error of the predicted quality of the agent routerd CHOSE, pooled over the
    W of ``wtps`` (default: ``wtp_grid(q_hat, c_hat, 25)``): equal-width bins on [0, 1],
    Σ_b (n_b / N) |mean q̂_b − mean q_b| over every (W, request) pair."""
    q = _matrix(q_hat, "q_hat")
    qt = _matrix(q_true, "q_true", q.shape)
    ws = wtp_grid(q, c_hat, 25) if wtps is None else np.asarray(wtps, dtype=np.float64)
    rows = np.arange(q.shape[0])
    picks = [decide(q, c_hat, float(w)) for w in ws]
    p = np.concatenate([q[rows, k] for k in picks])
    y = np.concatenate([qt[rows, k] for k in picks])
    bins = np.minimum((np.clip(p, 0.0, 1.0) * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=p, minlength=n_bins) - np.bincount(bins, weights=y, minlength=n_bins))
    return float(gap[counts > 0].sum() / p.size)


# -- hulls, areas, fractions -----------------------------------------------------------------------

def pareto(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (no other point is as cheap and as good, one strictly),
    by increasing cost; of identical points the first."""
    c = np.asarray(cost, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    order = np.lexsort((np.arange(c.size), -q, c))
    keep: list[int] = []
    best = -np.inf
    for i in order:
        if q[i] > best:
            keep.append(int(i))
            best = q[i]
    return np.array(keep, dtype=int)


def upper_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (cost ascending) of the non-decreasing upper convex hull of the points."""
    c = np.asarray(cost, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    front = pareto(c, q)
    xs: list[float] = []
    ys: list[float] = []
    for i in front:
        x, y = float(c[i]), float(q[i])
        # Drop the last vertex while it lies on or below the chord from the one before it to (x, y).
        while len(xs) >= 2 and (ys[-1] - ys[-2]) * (x - xs[-2]) <= (y - ys[-2]) * (xs[-1] - xs[-2]):
            xs.pop()
            ys.pop()
        xs.append(x)
        ys.append(y)
    return np.array(xs), np.array(ys)


def hull_value(hull: tuple[np.ndarray, np.ndarray], x: float | np.ndarray) -> np.ndarray:
    """R(x): the hull's quality at cost x; NaN below its cheapest vertex, its best beyond the dearest."""
    hx, hy = hull
    xv = np.asarray(x, dtype=np.float64)
    out = np.interp(xv, hx, hy)
    return np.asarray(np.where(xv < hx[0], np.nan, out))


def area(hull: tuple[np.ndarray, np.ndarray], lo: float, hi: float) -> float:
    """(1/(hi − lo)) ∫_lo^hi R(x) dx with R = 0 where undefined (R(lo) when hi == lo)."""
    if hi <= lo:
        v = float(hull_value(hull, lo))
        return 0.0 if math.isnan(v) else v
    hx, hy = hull
    knots = np.unique(np.r_[lo, hi, hx[(hx > lo) & (hx < hi)]])
    vals = np.nan_to_num(hull_value(hull, knots), nan=0.0)
    # The hull's cheapest vertex is a knot when inside (lo, hi): pieces left of it count 0 (R jumps there).
    total = 0.0
    for a, b, va, vb in zip(knots[:-1], knots[1:], vals[:-1], vals[1:], strict=True):
        if a >= hx[0]:
            total += (b - a) * (va + vb) / 2.0
    return float(total / (hi - lo))


def best_within(curve: Curve, budget: float) -> float:
    """The best true quality among the curve's own points costing at most ``budget`` (NaN if none)."""
    ok = curve.cost <= budget * (1 + 1e-12)
    return float(curve.quality[ok].max()) if ok.any() else math.nan


def cost_to_reach(hull: tuple[np.ndarray, np.ndarray], target: float) -> float:
    """The least cost at which R reaches ``target`` (NaN if it never does)."""
    hx, hy = hull
    if hy[-1] < target - 1e-12:
        return math.nan
    if hy[0] >= target - 1e-12:
        return float(hx[0])
    k = int(np.flatnonzero(hy >= target - 1e-12)[0])
    x0, x1, y0, y1 = hx[k - 1], hx[k], hy[k - 1], hy[k]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def dominance_margin(hull: tuple[np.ndarray, np.ndarray], cost: np.ndarray, quality: np.ndarray) -> float:
    """min over the points of (R(cost) − quality): >= 0 when the hull dominates every point (a point
    cheaper than the hull reaches counts as −inf)."""
    v = hull_value(hull, np.asarray(cost, dtype=np.float64))
    return float(np.min(np.where(np.isnan(v), -np.inf, v - np.asarray(quality, dtype=np.float64))))


# -- the report ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RouterResult:
    name: str
    curve: Curve
    hull: tuple[np.ndarray, np.ndarray]
    auc: float
    at_fraction: dict[float, float]  # on the hull
    at_fraction_points: dict[float, float]  # best deterministic point within the budget
    cost_to_match_best: float  # fraction of the best agent's cost (NaN: never)
    dominates_single_agents: float  # dominance margin over every single agent's point (−inf: one is cheaper)
    covered_margin: float  # the margin over the single agents at least as dear as the curve's cheapest point
    cheaper_agents: tuple[str, ...]  # single agents cheaper than any point of the curve
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        hx, hy = self.hull
        return {
            "name": self.name, "auc": _num(self.auc),
            "at_fraction": {f"{k:g}": _num(v) for k, v in self.at_fraction.items()},
            "at_fraction_points": {f"{k:g}": _num(v) for k, v in self.at_fraction_points.items()},
            "cost_to_match_best": _num(self.cost_to_match_best),
            "dominance_margin_over_single_agents": _num(self.dominates_single_agents),
            "dominance_margin_over_covered_agents": _num(self.covered_margin),
            "agents_cheaper_than_the_curve": list(self.cheaper_agents),
            "hull": [[float(x), float(y)] for x, y in zip(hx, hy, strict=True)],
            "points": [[float(c), float(q), _num(w)] for c, q, w in
                       zip(self.curve.cost, self.curve.quality, self.curve.wtp, strict=True)],
            **self.extra,
        }


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


@dataclass(frozen=True, eq=False)
class Evaluation:
    agents: tuple[str, ...]
    single: dict[str, tuple[float, float]]  # agent -> (mean cost, mean quality)
    best_agent: str
    cheapest_agent: str
    cost_range: tuple[float, float]
    fractions: tuple[float, ...]
    oracle_point: tuple[float, float]
    routers: dict[str, RouterResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "agents": list(self.agents), "n_fractions": list(self.fractions),
            "single_agents": {a: {"cost": c, "quality": q} for a, (c, q) in self.single.items()},
            "best_agent": self.best_agent, "cheapest_agent": self.cheapest_agent,
            "auc_cost_range": list(self.cost_range),
            "oracle": {"cost": self.oracle_point[0], "quality": self.oracle_point[1]},
            "routers": {n: r.to_json() for n, r in self.routers.items()},
        }

    def table(self, per: float = 1000.0) -> str:
        """A plain-text table; costs in USD per ``per`` requests."""
        lines = [f"{'agent':38s} {'quality':>8s} {'$/' + format(per, 'g'):>9s}"]
        for a, (c, q) in sorted(self.single.items(), key=lambda kv: kv[1][0]):
            lines.append(f"{a:38s} {q:8.4f} {c * per:9.4f}")
        lines.append(f"{'cheapest-correct oracle':38s} {self.oracle_point[1]:8.4f} {self.oracle_point[0] * per:9.4f}")
        lines.append("")
        fr = "  ".join(f"@{f:.0%}".rjust(6) for f in self.fractions)
        lines.append(f"{'router':24s} {'AUC':>6s}  {fr}  {'match best':>10s}  {'dom.':>7s}  cheaper agents")
        for name, r in self.routers.items():
            vals = "  ".join(_fmt(r.at_fraction[f]).rjust(6) for f in self.fractions)
            lines.append(f"{name:24s} {r.auc:6.4f}  {vals}  {_fmt(r.cost_to_match_best, pct=True):>10s}  "
                         f"{r.covered_margin:+7.3f}  {', '.join(r.cheaper_agents) or '-'}")
        lines.append(f"(AUC: mean hull quality over ${self.cost_range[0] * per:.4f}..${self.cost_range[1] * per:.4f} "
                     f"per {per:g}; @f: hull quality at f x {self.best_agent}'s cost; match best: cost fraction at "
                     f"which it reaches {self.best_agent}'s quality; dom.: min margin over the single agents the "
                     f"curve reaches, >= 0 dominates them; cheaper agents: single agents cheaper than the curve's "
                     f"cheapest point, which it therefore does not dominate)")
        return "\n".join(lines)


def _fmt(v: float, pct: bool = False) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{v:.1%}" if pct else f"{v:.4f}"


def oracle_choice(q_true: np.ndarray, c_true: np.ndarray) -> np.ndarray:
    """(n,) the cheapest agent among those with the request's best true quality (first on ties)."""
    qt = _matrix(q_true, "q_true")
    ct = _matrix(c_true, "c_true", qt.shape)
    best = qt == qt.max(axis=1, keepdims=True)
    return np.asarray(np.argmin(np.where(best, ct, np.inf), axis=1))


def result_of(curve: Curve, single_cost: np.ndarray, single_quality: np.ndarray, best: int,
              cost_range: tuple[float, float], fractions: Sequence[float] = FRACTIONS,
              agents: Sequence[str] | None = None) -> RouterResult:
    hull = curve.hull()
    c_best, q_best = float(single_cost[best]), float(single_quality[best])
    at = {f: float(hull_value(hull, f * c_best)) for f in fractions}
    at_pts = {f: best_within(curve, f * c_best) for f in fractions}
    match = cost_to_reach(hull, q_best)
    covered = single_cost >= hull[0][0]
    names = list(agents) if agents is not None else [str(j) for j in range(single_cost.size)]
    return RouterResult(curve.name, curve, hull, area(hull, *cost_range), at, at_pts,
                        match / c_best if c_best > 0 else math.nan,
                        dominance_margin(hull, single_cost, single_quality),
                        dominance_margin(hull, single_cost[covered], single_quality[covered]) if covered.any()
                        else math.inf,
                        tuple(n for n, ok in zip(names, covered, strict=True) if not ok))


def evaluate(predictions: Mapping[str, np.ndarray], c_hat: np.ndarray, q_true: np.ndarray, c_true: np.ndarray,
             agents: Sequence[str], fractions: Sequence[float] = FRACTIONS,
             c_hats: Mapping[str, np.ndarray] | None = None) -> Evaluation:
    """Score each router's predicted quality (name → (n, A)) with routerd's rule over the W sweep, next
    to the single agents, random at matched cost and the oracle. ``c_hat`` is the estimated cost every
    router uses unless ``c_hats`` gives one of its own."""
    qt = _matrix(q_true, "q_true")
    ct = _matrix(c_true, "c_true", qt.shape)
    if len(agents) != qt.shape[1]:
        raise InvalidArgument("agents", f"names {len(agents)} agents for {qt.shape[1]} columns")
    sc, sq = ct.mean(axis=0), qt.mean(axis=0)
    best = int(np.lexsort((sc, -sq))[0])
    cheapest = int(np.lexsort((-sq, sc))[0])
    cost_range = (float(sc[cheapest]), float(sc[best]))
    rows = np.arange(qt.shape[0])
    oc = oracle_choice(qt, ct)
    results: dict[str, RouterResult] = {}
    hx, hy = upper_hull(sc, sq)
    random_curve = Curve("random (matched cost)", hx, hy, np.full(hx.shape, np.nan))
    results[random_curve.name] = result_of(random_curve, sc, sq, best, cost_range, fractions, agents)
    for name, q_hat in predictions.items():
        ch = c_hat if c_hats is None or name not in c_hats else c_hats[name]
        results[name] = result_of(sweep(q_hat, ch, qt, ct, name), sc, sq, best, cost_range, fractions, agents)
    results["oracle"] = result_of(sweep(qt, ct, qt, ct, "oracle"), sc, sq, best, cost_range, fractions, agents)
    return Evaluation(tuple(agents), {a: (float(sc[j]), float(sq[j])) for j, a in enumerate(agents)},
                      agents[best], agents[cheapest], cost_range, tuple(fractions),
                      (float(ct[rows, oc].mean()), float(qt[rows, oc].mean())), results)


# -- baselines -------------------------------------------------------------------------------------

def _unit(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return np.asarray(a / np.where(norm > 0, norm, 1.0))


def _fill(q: np.ndarray) -> np.ndarray:
    """Missing qualities as the agent's mean (so neighbours without a value do not count as 0)."""
    mean = np.nan_to_num(np.nanmean(np.where(np.isnan(q), np.nan, q), axis=0), nan=0.5)
    return np.asarray(np.where(np.isnan(q), mean, q))


class KNNRouter:
    """Predicted quality = mean quality of the k most cosine-similar training requests. With ``k`` None,
    k is chosen from ``ks`` by leave-one-out Brier score on the training part."""

    def __init__(self, k: int | None = None, ks: Sequence[int] = (1, 2, 3, 5, 8, 13, 20, 30, 50, 80, 120, 200),
                 block: int = 2048):
        self.k = k
        self.ks = tuple(ks)
        self.block = block

    def fit(self, x: np.ndarray, q: np.ndarray) -> KNNRouter:
        self.x_ = _unit(x)
        self.q_ = _fill(np.asarray(q, dtype=np.float64))
        n = self.x_.shape[0]
        if n < 2:
            raise InvalidArgument("x", "k-NN needs at least two training requests")
        if self.k is not None:
            self.k_ = min(self.k, n)
            return self
        ks = [k for k in self.ks if k < n] or [n - 1]
        errs = np.zeros(len(ks))
        obs = ~np.isnan(np.asarray(q, dtype=np.float64))
        for start in range(0, n, self.block):
            idx = np.arange(start, min(n, start + self.block))
            s = self.x_[idx] @ self.x_.T
            s[np.arange(idx.size), idx] = -np.inf  # leave the request itself out
            order = np.argsort(-s, axis=1, kind="stable")[:, :max(ks)]
            csum = np.cumsum(self.q_[order], axis=1)  # (b, kmax, A)
            for j, k in enumerate(ks):
                pred = csum[:, k - 1] / k
                err = (pred - self.q_[idx]) ** 2
                errs[j] += float(err[obs[idx]].sum())
        self.k_ = ks[int(np.argmin(errs))]
        self.loo_brier_ = dict(zip(ks, (errs / max(1, int(obs.sum()))).tolist(), strict=True))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        xs = _unit(x)
        out = np.empty((xs.shape[0], self.q_.shape[1]))
        for start in range(0, xs.shape[0], self.block):
            s = xs[start:start + self.block] @ self.x_.T
            top = np.argpartition(-s, self.k_ - 1, axis=1)[:, :self.k_] if self.k_ < s.shape[1] else \
                np.broadcast_to(np.arange(s.shape[1]), s.shape)
            out[start:start + self.block] = self.q_[top].mean(axis=1)
        return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _logistic_fit(x: np.ndarray, y: np.ndarray, lam: float, w0: np.ndarray | None = None,
                  iters: int = 30, tol: float = 1e-8) -> np.ndarray:
    """Weights (bias last, unpenalised) minimising mean cross-entropy + (λ/2n)·||w||² on soft labels
    y ∈ [0, 1], by Newton's method."""
    n, d = x.shape
    xb = np.column_stack([x, np.ones(n)])
    w = np.zeros(d + 1) if w0 is None else w0.copy()
    pen = np.full(d + 1, lam)
    pen[-1] = 1e-8  # bias: unpenalised (a tiny ridge keeps an all-equal label set solvable)
    for _ in range(iters):
        p = _sigmoid(xb @ w)
        g = xb.T @ (p - y) + pen * w
        h = (xb.T * (p * (1 - p))) @ xb
        h[np.diag_indices_from(h)] += pen
        step = np.linalg.solve(h, g)
        w -= step
        if float(np.abs(step).max()) < tol:
            break
    return w


class LogisticRouter:
    """Per-agent L2 logistic regression on embeddings (numpy, Newton). With ``l2`` None, λ is chosen
    from ``l2s`` by Brier score on a seeded held-out fifth of the training part, then refitted on all."""

    def __init__(self, l2: float | None = None, l2s: Sequence[float] = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0),
                 seed: int = 0):
        self.l2 = l2
        self.l2s = tuple(l2s)
        self.seed = seed

    def fit(self, x: np.ndarray, q: np.ndarray) -> LogisticRouter:
        xa = np.asarray(x, dtype=np.float64)
        qa = np.asarray(q, dtype=np.float64)
        self.mu_ = xa.mean(axis=0)
        xa = xa - self.mu_  # centred: the bias carries the mean, λ shrinks only the directions
        if self.l2 is None:
            rng = np.random.default_rng(self.seed)
            perm = rng.permutation(xa.shape[0])
            val, tr = perm[: max(1, xa.shape[0] // 5)], perm[max(1, xa.shape[0] // 5):]
            scores = []
            for lam in sorted(self.l2s, reverse=True):
                err, cnt = 0.0, 0
                for j in range(qa.shape[1]):
                    ok = ~np.isnan(qa[tr, j])
                    w = _logistic_fit(xa[tr][ok], qa[tr, j][ok], lam)
                    okv = ~np.isnan(qa[val, j])
                    p = _sigmoid(np.column_stack([xa[val][okv], np.ones(int(okv.sum()))]) @ w)
                    err += float(((p - qa[val, j][okv]) ** 2).sum())
                    cnt += int(okv.sum())
                scores.append((err / max(cnt, 1), lam))
            self.val_brier_ = {lam: s for s, lam in scores}
            self.l2_ = min(scores)[1]
        else:
            self.l2_ = self.l2
        self.w_ = np.column_stack([_logistic_fit(xa[~np.isnan(qa[:, j])], qa[~np.isnan(qa[:, j]), j], self.l2_)
                                   for j in range(qa.shape[1])])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        xa = np.asarray(x, dtype=np.float64) - self.mu_
        return _sigmoid(np.column_stack([xa, np.ones(xa.shape[0])]) @ self.w_)


class TaskAwareRouter:
    """Knows only the task name: predicted quality = the agent's mean quality on training requests of
    the same category (the agent's overall mean for a category it has not seen)."""

    def fit(self, categories: Sequence[str | None], q: np.ndarray) -> TaskAwareRouter:
        qa = np.asarray(q, dtype=np.float64)
        self.overall_ = np.nan_to_num(np.nanmean(qa, axis=0), nan=0.5)
        self.by_category_: dict[str | None, np.ndarray] = {}
        cats = np.array([str(c) for c in categories], dtype=object)
        for cat in dict.fromkeys(categories):
            rows = qa[cats == str(cat)]
            m = np.nanmean(np.where(np.isnan(rows), np.nan, rows), axis=0) if rows.size else self.overall_
            self.by_category_[cat] = np.where(np.isnan(m), self.overall_, m)
        return self

    def predict(self, categories: Sequence[str | None]) -> np.ndarray:
        return np.array([self.by_category_.get(c, self.overall_) for c in categories], dtype=np.float64)


# -- RouteLLM's metrics ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PGRCurve:
    share: np.ndarray  # share of requests sent to the strong model, 0 .. 1
    accuracy: np.ndarray
    pgr: np.ndarray
    apgr: float
    cpt: dict[float, float]  # x -> least strong share reaching PGR x (NaN: never)


def pgr_curve(score: np.ndarray, q_strong: np.ndarray, q_weak: np.ndarray,
              targets: Sequence[float] = (0.5, 0.8)) -> PGRCurve:
    """Route the requests with the highest ``score`` to the strong model, at every distinct threshold
    (tied scores go together), and compute PGR, APGR and CPT (module docstring)."""
    s = np.asarray(score, dtype=np.float64).ravel()
    qs = np.asarray(q_strong, dtype=np.float64).ravel()
    qw = np.asarray(q_weak, dtype=np.float64).ravel()
    n = s.size
    if n == 0 or qs.size != n or qw.size != n or not (np.isfinite(s).all() and np.isfinite(qs).all()
                                                      and np.isfinite(qw).all()):
        raise InvalidArgument("score", "score, q_strong and q_weak must be finite and of one length > 0")
    acc_s, acc_w = float(qs.mean()), float(qw.mean())
    if acc_s == acc_w:
        raise InvalidArgument("q_strong", "the strong and weak models are equally accurate: PGR is undefined")
    order = np.argsort(-s, kind="stable")
    gain = np.cumsum((qs - qw)[order])
    ends = np.flatnonzero(np.r_[s[order][1:] != s[order][:-1], True])  # last index of each tie group
    share = np.r_[0.0, (ends + 1) / n]
    acc = np.r_[acc_w, acc_w + gain[ends] / n]
    pgr = (acc - acc_w) / (acc_s - acc_w)
    apgr = float(np.sum((share[1:] - share[:-1]) * (pgr[1:] + pgr[:-1]) / 2.0))
    cpt: dict[float, float] = {}
    for x in targets:
        hit = np.flatnonzero(pgr >= x - 1e-12)
        if not hit.size:
            cpt[x] = math.nan
        elif hit[0] == 0:
            cpt[x] = 0.0
        else:
            k = int(hit[0])
            cpt[x] = float(share[k - 1] + (x - pgr[k - 1]) * (share[k] - share[k - 1]) / (pgr[k] - pgr[k - 1]))
    return PGRCurve(share, acc, pgr, apgr, cpt)


# -- plot ------------------------------------------------------------------------------------------

def plot(evaluation: Evaluation, path: str, size: tuple[float, float] = (8.0, 5.0), dpi: int = 100,
         per: float = 1000.0) -> None:
    """Write the cost–quality curves as a PNG of size[0]·dpi × size[1]·dpi pixels. Needs matplotlib
    (an optional extra): ``FailedPrecondition`` when it is not installed."""
    try:  # imported by name: matplotlib is optional and has no stubs here
        matplotlib: Any = importlib.import_module("matplotlib")
    except ImportError:
        raise FailedPrecondition("--plot needs matplotlib, which is not installed (pip install matplotlib)") \
            from None
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    for name, r in evaluation.routers.items():
        hx, hy = r.hull
        ax.plot(hx * per, hy, marker="." if hx.size < 30 else None, label=f"{name} (AUC {r.auc:.3f})")
    for a, (c, q) in evaluation.single.items():
        ax.scatter([c * per], [q], marker="x", color="grey")
        ax.annotate(a.split("/")[-1], (c * per, q), fontsize=6, alpha=0.7)
    ax.scatter([evaluation.oracle_point[0] * per], [evaluation.oracle_point[1]], marker="*", color="black",
               label="cheapest-correct oracle")
    ax.set_xscale("log")
    ax.set_xlabel(f"mean cost, USD per {per:g} requests (log)")
    ax.set_ylabel("mean quality")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)
    plt.close(fig)
