"""Budget optimisation in numpy: a batch routed under one total budget, and the multiplier that meets a
period's budget on a request mix.

Both rest on the Lagrangian of "maximise quality subject to spend <= budget": for a multiplier λ
(quality units per USD) every request independently takes

    x_i(λ) = argmax_j  q[i, j] − λ·c[i, j]        over its allowed agents j

and the batch's spend S(λ) = Σ_i c[i, x_i(λ)] is a non-increasing step function of λ. As λ falls from
+∞ to 0 request i walks up the upper-left convex hull of its points (c[i, j], q[i, j]): from its
cheapest point to its best one, one hull edge at a time, and edge k (Δc_k > 0, Δq_k > 0) is taken
exactly when λ < Δq_k / Δc_k, its marginal quality per dollar. So the breakpoints of S are the hull
edges' ratios and the smallest λ with S(λ) <= budget is found exactly by sorting them, with no
bisection (``_hull`` and ``_Steps``).

* ``solve_batch``: BatchRoute's ``total_cost`` objective, a multiple-choice knapsack
  (max Σ q[i, x_i] s.t. Σ c[i, x_i] <= budget, x_i ∈ feasible agents ∪ {none}).
* ``plan_budget``: OptimizeBudget; the λ whose routing rule q − c/w with w = 1/λ spends a period's
  budget on a recorded mix, with the projection of that rule and of the seed's proportional split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from routerd.errors import InvalidArgument

# Rows per block when a pass runs over the whole (n, a) matrix: a block of each array stays in cache.
_BLOCK_ELEMENTS = 1 << 16
# Rounds of the skip-and-continue greedy before the last pass takes over (each round is vectorised; in
# practice a handful are needed).
_GREEDY_ROUNDS = 64
# Hull edges forced into the solution in turn by the exchange pass of ``solve_batch``.
_EXCHANGE_TRIES = 8
# Rounds of 1-for-1 exchanges on small batches (each a pass over all (request, agent) pairs).
_SWAP_ROUNDS = 16
# Batches up to this many (request, agent) entries fill every exchange trial, larger ones the best only.
_SMALL_BATCH = 100_000
# The seed's cost-efficiency term 1 / (price + 0.001).
_SEED_PRICE_OFFSET = 0.001


@dataclass(frozen=True, slots=True)
class BatchSolution:
    """``choice[i]``: agent of request i, −1 when unrouted. ``total_cost = float(cost[r, choice[r]].sum())``
    and ``total_quality = float(quality[r, choice[r]].sum())`` over the routed rows r; ``lam`` is the
    Lagrange multiplier (quality per USD) of the relaxation, 0 when the budget does not bind."""

    choice: np.ndarray
    total_cost: float
    total_quality: float
    lam: float


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """The routing that a period's budget buys on a request mix, and the seed's proportional split.

    ``lam``: quality units per USD (0 when the budget does not bind, +inf when it cannot be met);
    ``willingness_to_pay`` = 1/λ for the router (None when λ is 0 or +inf). Per agent (a,):
    ``requests`` (scale × count), ``spend`` (scale × USD), ``quality`` (mean expected quality of the
    requests it gets, 0 if none), ``proportional_budget`` (the seed's allocation). Totals:
    ``projected_spend`` = scale × Σ c[i, x_i], ``projected_quality`` = mean q[i, x_i] over the met
    requests, ``minimum_spend`` = scale × the spend of the cheapest routing, ``unmet`` = requests with
    no eligible agent, and the proportional split's ``proportional_spend`` / ``proportional_quality``.
    """

    lam: float
    willingness_to_pay: float | None
    binding: bool
    feasible: bool
    choice: np.ndarray
    requests: np.ndarray
    spend: np.ndarray
    quality: np.ndarray
    projected_spend: float
    projected_quality: float
    minimum_spend: float
    unmet: int
    proportional_spend: float
    proportional_quality: float
    proportional_budget: np.ndarray


# ----------------------------------------------------------------------------------------------------
# Validation


def _matrices(cost: object, quality: object, mask: object, mask_field: str) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    try:
        c = np.asarray(cost, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidArgument("cost", f"not an array of numbers ({e})") from None
    try:
        q = np.asarray(quality, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidArgument("quality", f"not an array of numbers ({e})") from None
    m = np.asarray(mask)
    if c.ndim != 2:
        raise InvalidArgument("cost", f"expected an (n, a) matrix, got shape {c.shape}")
    if q.shape != c.shape:
        raise InvalidArgument("quality", f"shape {q.shape} differs from cost's {c.shape}")
    if m.shape != c.shape:
        raise InvalidArgument(mask_field, f"shape {m.shape} differs from cost's {c.shape}")
    if m.dtype != np.bool_:
        raise InvalidArgument(mask_field, f"expected booleans, got {m.dtype}")
    return c, q, m


def _budget(budget: object) -> float:
    try:
        b = float(budget)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgument("budget", f"not a number: {budget!r}") from None
    if not math.isfinite(b) or b < 0:
        raise InvalidArgument("budget", f"must be finite and >= 0, got {b}")
    return b


def spend_of(cost: np.ndarray, choice: np.ndarray) -> float:
    """Σ cost[i, choice[i]] over the routed rows, summed as a caller would: numpy's sum of the gathered
    costs in row order. Every budget check here uses exactly this number."""
    rows = np.flatnonzero(choice >= 0)
    return float(cost[rows, choice[rows]].sum())


def _quality_of(quality: np.ndarray, choice: np.ndarray) -> float:
    rows = np.flatnonzero(choice >= 0)
    return float(quality[rows, choice[rows]].sum())


# ----------------------------------------------------------------------------------------------------
# Per-request convex hulls


@dataclass(frozen=True, slots=True)
class _Hull:
    """Vertices of every row's upper-left hull, row by row, each row's by increasing cost (and
    strictly increasing quality): ``col`` −1 is "none" (cost 0, quality 0). Row i owns vertices
    ``start[i]:start[i + 1]``; its first vertex is its choice as λ → ∞, its last its choice at λ = 0."""

    row: np.ndarray
    col: np.ndarray
    c: np.ndarray
    q: np.ndarray
    start: np.ndarray


def _hull(cost: np.ndarray, quality: np.ndarray, allowed: np.ndarray, with_none: bool) -> _Hull:
    """Upper-left hull of each row's points {(c[i, j], q[i, j]) : allowed[i, j]} (∪ {(0, 0)} with
    ``with_none``), and the validation of the allowed entries (the only ones ever read: the others may
    hold anything, NaN for "not estimated").

    Left end L: the cheapest point, of those the best. Right end R: the best point. One blocked pass
    over the matrix finds L, R and M = argmax q − s·c with s the slope of the chord L–R (the point
    farthest above it, a hull vertex) and keeps only the points on or above the line L–M or the line
    M–R, i.e. not under the polyline L–M–R (a concave polyline is the minimum of its segments' lines),
    with a 1e-9 slack for the rounding of the slopes. The survivors (a handful per request on random
    data; most of them when every point lies near one concave price–quality curve) are sorted by
    (row, cost, column) and go through a monotone chain, all rows at once (``_chain``)."""
    n, a = cost.shape
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(a, 1))
    keep_all = np.empty((n, a), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for lo in range(0, n, rows_per_block):
            hi = min(n, lo + rows_per_block)
            ok = allowed[lo:hi]
            c = np.where(ok, cost[lo:hi], np.inf)
            q = np.where(ok, quality[lo:hi], -np.inf)
            ar = np.arange(hi - lo)
            j_min = np.argmin(c, axis=1) if a else np.zeros(hi - lo, np.int64)
            j_max = np.argmax(q, axis=1) if a else np.zeros(hi - lo, np.int64)
            c_min = c[ar, j_min] if a else np.full(hi - lo, np.inf)
            q_max, c_at_max = (q[ar, j_max], c[ar, j_max]) if a else (np.full(hi - lo, -np.inf), c_min)
            # argmin/argmax stop at a NaN; an allowed cost of +inf or quality of −inf is never chosen.
            if np.isnan(c_min).any() or (c_min < 0).any():
                raise InvalidArgument("cost", "costs of allowed agents must be numbers >= 0")
            if np.isnan(q_max).any() or (q_max == np.inf).any():
                raise InvalidArgument("quality", "qualities of allowed agents must be finite")
            # R from the first best point: a cheaper one of the same quality is above the chord and
            # survives to the exact steps below.
            if with_none:
                # none is (0, 0): the left end is a zero-cost agent with q >= 0, or none itself.
                c_left = np.zeros(hi - lo)
                q_left = np.zeros(hi - lo)
                z = np.flatnonzero(c_min == 0)
                if z.size:
                    q_left[z] = np.maximum(np.where(c[z] == 0, q[z], -np.inf).max(axis=1), 0.0)
            else:
                c_left = c_min
                q_left = np.where(c == c_min[:, None], q, -np.inf).max(axis=1, initial=-np.inf)
            # One vertex when L is also the best, or the best costs no more than L (it dominates all).
            one = (q_max <= q_left) | (c_at_max <= c_left)
            c_left = np.where(one & (q_max > q_left), c_at_max, c_left)
            q_left = np.where(one, np.maximum(q_max, q_left), q_left)
            q_right = np.where(one, q_left, q_max)
            c_right = np.where(one, c_left, c_at_max)
            # The lines below are in slope form (two operations per entry each); ``tol`` keeps the
            # points the rounding of a slope could put just under a line they are on.
            tol = 1e-9 * (1.0 + np.abs(q_left) + np.abs(q_right))
            s0 = np.where(one, 0.0, (q_right - q_left) / np.where(one, 1.0, c_right - c_left))
            if a:
                m = np.argmax(q - s0[:, None] * c, axis=1)  # farthest above the chord L–R
                c_mid, q_mid = c[ar, m], q[ar, m]
            else:
                c_mid, q_mid = c_left, q_left
            split = ~one & ((q_mid - q_left) * (c_right - c_left) > (q_right - q_left) * (c_mid - c_left))
            c_mid = np.where(split, c_mid, c_left)
            q_mid = np.where(split, q_mid, q_left)
            s1 = np.where(split, (q_mid - q_left) / np.where(split, c_mid - c_left, 1.0), s0)
            s2 = np.where(split, (q_right - q_mid) / np.where(split, c_right - c_mid, 1.0), s0)
            # On or above the line L–M or the line M–R (M a hull vertex: each line, extended, is above
            # the hull's other side, so the union is exactly "not under the hull L–M–R").
            line = np.minimum(s1[:, None] * c + (q_left - s1 * c_left - tol)[:, None],
                              s2[:, None] * c + (q_mid - s2 * c_mid - tol)[:, None])
            np.greater_equal(q, line, out=keep_all[lo:hi])
            keep_all[lo:hi] &= ok  # rows with nothing allowed compare NaN lines, but say so
    if keep_all.sum() * 4 > keep_all.size:
        # Dense (every point near one concave price–quality curve): mask the matrix in place of
        # gathering the points.
        pc = np.full((n, a + int(with_none)), np.inf)
        pq = np.full((n, a + int(with_none)), -np.inf)
        pj = np.full((n, a + int(with_none)), -1, dtype=np.int64)
        np.copyto(pc[:, :a], cost, where=keep_all)
        np.copyto(pq[:, :a], quality, where=keep_all)
        np.copyto(pj[:, :a], np.arange(a), where=keep_all)
        if with_none:
            pc[:, a], pq[:, a], pj[:, a] = 0.0, 0.0, a
    else:
        row, col = np.nonzero(keep_all)
        pc, pq, pj = _padded(n, row, col, cost[row, col], quality[row, col], with_none, a)
    # Each row by cost (stable: equal costs stay in column order, none last), then the monotone chain.
    width = pc.shape[1]
    # Gathered straight into the (W, n) layout the chain walks column by column.
    o = (np.argsort(pc, axis=1, kind="stable") + (np.arange(n) * width)[:, None]).T
    row, col, pc, pq = _chain(pc.ravel()[o], pq.ravel()[o], pj.ravel()[o])
    row = row.astype(np.int64)
    col = np.where(col == a, -1, col).astype(np.int64)
    start = np.searchsorted(row, np.arange(n + 1))
    return _Hull(row=row, col=col, c=pc, q=pq, start=start)


def _chain(pc: np.ndarray, pq: np.ndarray, pj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Andrew's monotone chain for every row at once, one row of the (W, n) layout (the k-th point of
    every request) per step: each request's points sorted by cost (equal costs in column order), pads
    (column −1) at the end. A new point is pushed
    only if better than the top of its row's stack (else a dearer point no better: dominated); before
    that it pops a top of its own cost (it is better) and every top strictly below the segment from the
    one beneath it to the new point (on the segment stays: collinear vertices are finer steps).
    Returns the stacks flattened row by row: (row, column, cost, quality)."""
    width, n = pc.shape
    cs, qs, js = pc, pq, pj
    depth = max(width, 1)
    st_c, st_q = np.empty((depth, n)), np.empty((depth, n))
    st_j = np.empty((depth, n), dtype=np.int64)
    size = np.zeros(n, dtype=np.int64)
    for k in range(width):
        act = np.flatnonzero(js[k] >= 0)
        if act.size == 0:
            break
        c_new, q_new = cs[k, act], qs[k, act]
        s = size[act]
        top_q = np.where(s > 0, st_q[np.maximum(s - 1, 0), act], -np.inf)
        better = q_new > top_q
        act, c_new, q_new = act[better], c_new[better], q_new[better]
        cand = np.arange(act.size)
        while cand.size:
            r = act[cand]
            s = size[r]
            has = s >= 1
            cand, r, s = cand[has], r[has], s[has]
            tc, tq = st_c[s - 1, r], st_q[s - 1, r]
            cn, qn = c_new[cand], q_new[cand]
            pop = tc == cn
            two = np.flatnonzero((s >= 2) & ~pop)
            if two.size:
                bc, bq = st_c[s[two] - 2, r[two]], st_q[s[two] - 2, r[two]]
                pop[two] = (tq[two] - bq) * (cn[two] - bc) < (qn[two] - bq) * (tc[two] - bc)
            size[r[pop]] -= 1
            cand = cand[pop]
        s = size[act]
        st_c[s, act], st_q[s, act], st_j[s, act] = c_new, q_new, js[k, act]
        size[act] += 1
    row, slot = np.nonzero(np.arange(depth)[None, :] < size[:, None])
    return row, st_j[slot, row], st_c[slot, row], st_q[slot, row]


def _padded(n: int, row: np.ndarray, col: np.ndarray, c: np.ndarray, q: np.ndarray, with_none: bool,
            a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-sorted points as (n, P) matrices of cost (+inf pad), quality (−inf pad) and column (−1 pad);
    with ``with_none`` every row also gets the point (0, 0) as column ``a``, after its agents."""
    counts = np.bincount(row, minlength=n)
    pos = np.arange(row.size) - (np.cumsum(counts) - counts)[row]
    width = int(counts.max(initial=0)) + int(with_none)
    pc = np.full((n, width), np.inf)
    pq = np.full((n, width), -np.inf)
    pj = np.full((n, width), -1, dtype=np.int64)
    pc[row, pos], pq[row, pos], pj[row, pos] = c, q, col
    if with_none:
        ar = np.arange(n)
        pc[ar, counts], pq[ar, counts], pj[ar, counts] = 0.0, 0.0, a
    return pc, pq, pj


@dataclass(frozen=True, slots=True)
class _Steps:
    """The hull edges of every row, sorted by marginal quality per dollar r = Δq/Δc, highest first
    (a row's edges stay in their hull order: r falls along a hull, and the sort is stable). Edge s
    moves row ``row[s]`` to hull vertex ``to[s]``."""

    row: np.ndarray
    to: np.ndarray
    dc: np.ndarray
    dq: np.ndarray
    r: np.ndarray


def _steps(h: _Hull) -> _Steps:
    edge = np.flatnonzero(h.row[1:] == h.row[:-1]) + 1
    dc = h.c[edge] - h.c[edge - 1]
    dq = h.q[edge] - h.q[edge - 1]
    with np.errstate(over="ignore"):
        r = dq / dc
    order = np.argsort(-r, kind="stable")
    return _Steps(row=h.row[edge][order], to=edge[order], dc=dc[order], dq=dq[order], r=r[order])


def _choice_from_counts(h: _Hull, taken: np.ndarray, n: int) -> np.ndarray:
    """Each row at its first vertex plus ``taken[i]`` hull edges (−1 for rows without vertices)."""
    has = h.start[1:] > h.start[:-1]
    choice = np.full(n, -1, dtype=np.int64)
    choice[has] = h.col[h.start[:-1][has] + taken[has]]
    return choice


# ----------------------------------------------------------------------------------------------------
# solve_batch


def _greedy(st: _Steps, order: np.ndarray, taken: np.ndarray, left: float,
            n: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Take hull edges in the order ``order`` (indices into ``st``: each row's edges in hull order,
    starting at its next one) while they fit in ``left``; an edge that does not fit ends its own row's
    climb and the others go on ("skip and continue"). Returns (taken, left, the edges in the order
    taken). Running sums: the caller checks the result against the budget exactly (``_repair``)."""
    taken = taken.copy()
    log: list[np.ndarray] = []
    rem = order
    for _ in range(_GREEDY_ROUNDS):
        if rem.size == 0:
            break
        cs = np.cumsum(st.dc[rem])
        k = int(np.searchsorted(cs, left, side="right"))
        if k:
            log.append(rem[:k])
            taken += np.bincount(st.row[rem[:k]], minlength=n)
            left -= float(cs[k - 1])
            rem = rem[k:]
        # Edges dearer than what is left never fit again, and neither do the later edges of their rows.
        bad = st.dc[rem] > left
        if not bad.any():
            if k == 0:
                break
            continue
        pos = np.arange(rem.size)
        first_bad = np.full(n, rem.size)
        np.minimum.at(first_bad, st.row[rem[bad]], pos[bad])
        rem = rem[pos < first_bad[st.row[rem]]]
    return taken, left, (np.concatenate(log) if log else np.zeros(0, np.int64))


def _repair(cost: np.ndarray, h: _Hull, st: _Steps, taken: np.ndarray, log: np.ndarray, budget: float,
            n: int) -> np.ndarray:
    """The choice of ``taken``, giving back the last-taken edges while the exact spend
    ``spend_of`` passes the budget (running sums and numpy's pairwise sum differ in the last bits)."""
    taken = taken.copy()
    choice = _choice_from_counts(h, taken, n)
    i = log.size
    while spend_of(cost, choice) > budget and i > 0:
        i -= 1
        r = int(st.row[log[i]])
        taken[r] -= 1
        choice[r] = h.col[h.start[r] + taken[r]]
    return choice


def _hull_quality(h: _Hull, taken: np.ndarray) -> float:
    has = h.start[1:] > h.start[:-1]
    return float(h.q[h.start[:-1][has] + taken[has]].sum())


def _exchange(h: _Hull, st: _Steps, taken: np.ndarray, left: float, n: int,
              tries: int) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Step 3 of ``solve_batch``. For each of the first ``tries`` edges the greedy left out
    (a row's next edge, by decreasing ratio) force it in, make room by giving back taken edges of other
    rows, either (A) the lowest-ratio ones until it fits, (B) the single last edge of a row that frees
    enough and loses the least quality, or (C) rows' last edges by increasing quality lost until it
    fits, and rerun the greedy. Returns (hull quality, taken, log of the rerun) of every trial."""
    nxt = h.start[:-1] + taken + 1  # hull position of each row's next vertex
    is_next = (nxt < h.start[1:])[st.row] & (st.to == nxt[st.row])
    candidates = np.flatnonzero(is_next)[:tries]
    inside = st.to < nxt[st.row]  # edges within each row's taken prefix
    give_back = np.flatnonzero(inside)[::-1]  # lowest ratio first; a row's later edges before its earlier
    last = give_back[st.to[give_back] == nxt[st.row[give_back]] - 1]  # each row's last taken edge
    trials: list[tuple[float, np.ndarray, np.ndarray]] = []
    for s in candidates:
        row = st.row[s]
        need = float(st.dc[s]) - left
        options: list[np.ndarray] = []
        if need <= 0:
            options.append(np.zeros(0, np.int64))
        else:
            gb = give_back[st.row[give_back] != row]
            cs = np.cumsum(st.dc[gb])
            k = int(np.searchsorted(cs, need, side="left"))
            if k < gb.size:
                options.append(gb[:k + 1])
            others = last[st.row[last] != row]
            lb = others[st.dc[others] >= need]
            if lb.size:
                options.append(lb[np.argmin(st.dq[lb])][None])
            by_loss = others[np.argsort(st.dq[others], kind="stable")]
            k = int(np.searchsorted(np.cumsum(st.dc[by_loss]), need, side="left"))
            if k < by_loss.size:
                options.append(by_loss[:k + 1])
        for back in options:
            t = taken.copy()
            t[row] += 1
            t -= np.bincount(st.row[back], minlength=n)
            left_t = left - float(st.dc[s]) + float(st.dc[back].sum())
            if left_t < 0:
                continue
            order = np.flatnonzero(st.to >= (h.start[:-1] + t + 1)[st.row])
            t2, _, log = _greedy(st, order, t, left_t, n)
            trials.append((_hull_quality(h, t2), t2, log))
    return trials


def _fill(cost: np.ndarray, quality: np.ndarray, feasible: np.ndarray, choice: np.ndarray,
          budget: float) -> np.ndarray:
    """Spend what is left on the best single upgrades that fit, to any feasible agent, not only hull
    vertices: per round every row offers its largest quality gain Δq = q[i, j] − q[i, x_i] with
    Δc = c[i, j] − c[i, x_i] <= left (ties: smaller Δc, lower j), the offers are taken by decreasing Δq
    while they fit, and the rows that moved offer again. An unrouted row may also take a zero-quality
    agent (Δq = 0), last: at λ = 0 the Lagrangian routes every request whose best value is >= 0."""
    n, a = cost.shape
    choice = choice.copy()
    left = budget - spend_of(cost, choice)
    if a == 0 or n == 0 or left < 0:
        return choice
    r, j = _offers(cost, quality, feasible, choice, left)
    moves_r: list[np.ndarray] = []
    moves_prev: list[np.ndarray] = []
    while r.size:
        cur = choice[r]
        routed = cur >= 0
        c_cur = np.where(routed, cost[r, np.maximum(cur, 0)], 0.0)
        q_cur = np.where(routed, quality[r, np.maximum(cur, 0)], 0.0)
        dc = cost[r, j] - c_cur
        dq = quality[r, j] - q_cur
        ok = (dc <= left) & ((dq > 0) | (~routed & (dq == 0)))
        r, j, dc, dq = r[ok], j[ok], dc[ok], dq[ok]
        if r.size == 0:
            break
        # Per row its best offer: sort by (row, −Δq, Δc, column), keep each row's first.
        o = np.lexsort((j, dc, -dq, r))
        best = o[np.concatenate([[True], r[o][1:] != r[o][:-1]])]
        best = best[np.lexsort((j[best], dc[best], -dq[best]))]
        cs = np.cumsum(dc[best])
        k = max(1, int(np.searchsorted(cs, left, side="right")))  # every offer fits alone
        rows = r[best[:k]]
        moves_r.append(rows)
        moves_prev.append(choice[rows].copy())
        choice[rows] = j[best[:k]]
        left -= float(cs[k - 1])
        stale = np.isin(r, rows)
        nr, nj = _offers(cost[rows], quality[rows], feasible[rows], choice[rows], left)
        r = np.concatenate([r[~stale], rows[nr]])
        j = np.concatenate([j[~stale], nj])
    undo_r = np.concatenate(moves_r) if moves_r else np.zeros(0, np.int64)
    undo_prev = np.concatenate(moves_prev) if moves_prev else np.zeros(0, np.int64)
    i = undo_r.size
    while spend_of(cost, choice) > budget and i > 0:  # running sums vs the exact one: undo the last
        i -= 1
        choice[undo_r[i]] = undo_prev[i]
    return choice


def _swap(cost: np.ndarray, quality: np.ndarray, feasible: np.ndarray, choice: np.ndarray,
          budget: float) -> np.ndarray | None:
    """The best 1-for-1 exchange, or None when none gains: move request i up to agent j although it
    does not fit (need t = c[i, j] − c[i, x_i] − left > 0, gain g = q[i, j] − q[i, x_i]) while
    request k ≠ i moves down to an agent or to none that frees f >= t at a quality loss l; maximises
    g − l. Every (i, j) and every (k, j') is looked at: the downgrades sorted by f, a prefix minimum of l
    (with the best of another request beside it) answers each upgrade in one search."""
    n, a = cost.shape
    routed = choice >= 0
    idx = np.maximum(choice, 0)
    ar = np.arange(n)
    c_cur = np.where(routed, cost[ar, idx], 0.0)
    q_cur = np.where(routed, quality[ar, idx], 0.0)
    left = budget - spend_of(cost, choice)
    with np.errstate(invalid="ignore"):
        up = feasible & (quality > q_cur[:, None]) & (cost - c_cur[:, None] > left)
        down = feasible & (cost < c_cur[:, None])
    ui, uj = np.nonzero(up)
    di, dj = np.nonzero(down)
    none_rows = np.flatnonzero(routed)  # moving down to none frees the whole cost
    d_row = np.concatenate([di, none_rows])
    d_col = np.concatenate([dj, np.full(none_rows.size, -1)])
    d_free = np.concatenate([c_cur[di] - cost[di, dj], c_cur[none_rows]])
    d_loss = np.concatenate([q_cur[di] - quality[di, dj], q_cur[none_rows]])
    if ui.size == 0 or d_row.size == 0:
        return None
    need = cost[ui, uj] - c_cur[ui] - left
    gain = quality[ui, uj] - q_cur[ui]
    o = np.argsort(-d_free, kind="stable")
    d_row, d_col, d_free, d_loss = d_row[o], d_col[o], d_free[o], d_loss[o]
    # Prefix minimum of the loss and its request; and the best of another request than that one: where
    # the minimum's request changes, the previous minimum (another request's) starts a running minimum
    # of the entries from other requests (a segmented running minimum).
    pos = np.arange(d_loss.size)
    is_new = np.concatenate([[True], d_loss[1:] < np.minimum.accumulate(d_loss)[:-1]])
    at = np.maximum.accumulate(np.where(is_new, pos, 0))
    min1, row1 = d_loss[at], d_row[at]
    seg_start = np.concatenate([[True], row1[1:] != row1[:-1]])
    seg = np.cumsum(seg_start) - 1
    first_of_seg = np.flatnonzero(seg_start)
    prev_min = np.concatenate([[np.inf], min1[first_of_seg[1:] - 1]])[seg]
    other = np.where(d_row != row1, d_loss, np.inf)
    span = float(np.ptp(np.where(np.isfinite(other), other, 0.0))) + 1.0
    shift = 4.0 * span * seg
    running = np.minimum.accumulate(np.where(np.isfinite(other), other - shift, np.inf)) + shift
    running = np.where(np.isfinite(running), running, np.inf)
    # A running minimum may reach back into an earlier segment only through values at least 4·span
    # larger, so it is the segment's own; entries of row1 are excluded as +inf.
    min2 = np.minimum(prev_min, running)
    p = np.searchsorted(-d_free, -need, side="right") - 1  # last downgrade freeing >= need
    valid = p >= 0
    pc = np.maximum(p, 0)
    best_loss = np.where(row1[pc] != ui, min1[pc], min2[pc])
    score = np.where(valid, gain - best_loss, -np.inf)
    u = int(np.argmax(score))
    if not score[u] > 1e-12:
        return None
    i, j = int(ui[u]), int(uj[u])
    ok = (d_free >= need[u]) & (d_row != i)
    if not ok.any():
        return None
    d = int(np.flatnonzero(ok)[np.argmin(d_loss[ok])])
    if not gain[u] - d_loss[d] > 1e-12:
        return None
    trial = choice.copy()
    trial[i] = j
    trial[d_row[d]] = d_col[d]
    return trial if spend_of(cost, trial) <= budget else None


def _offers(cost: np.ndarray, quality: np.ndarray, feasible: np.ndarray, choice: np.ndarray,
            left: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, agent) pairs that may raise a row's quality (or route an unrouted row at quality 0) within
    ``left`` USD more; a superset, refined by the caller. Blocked: two comparisons per entry, then only
    the few hits are looked at."""
    n, a = cost.shape
    routed = choice >= 0
    idx = np.maximum(choice, 0)
    ar = np.arange(n)
    c_lim = np.where(routed, cost[ar, idx], 0.0) + left
    q_floor = np.where(routed, quality[ar, idx], 0.0)
    out_r: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(a, 1))
    with np.errstate(invalid="ignore"):
        for lo in range(0, n, rows_per_block):
            hi = min(n, lo + rows_per_block)
            hit = (quality[lo:hi] >= q_floor[lo:hi, None]) & (cost[lo:hi] <= c_lim[lo:hi, None])
            r, j = np.nonzero(hit)
            r += lo
            ok = feasible[r, j]
            out_r.append(r[ok])
            out_j.append(j[ok])
    return (np.concatenate(out_r), np.concatenate(out_j)) if out_r else (np.zeros(0, np.int64),
                                                                        np.zeros(0, np.int64))


def solve_batch(cost: np.ndarray, quality: np.ndarray, feasible: np.ndarray, budget: float) -> BatchSolution:
    """Maximise Σ_i q[i, x_i] subject to Σ_i c[i, x_i] <= budget, x_i ∈ {j : feasible[i, j]} ∪ {−1}
    (−1: unrouted, quality 0, cost 0); BatchRoute's ``total_cost`` objective.

    1. Lagrangian: x_i(λ) = argmax over feasible j ∪ {none} of q[i, j] − λ·c[i, j] (none: value 0; an
       agent that ties with none is taken). The breakpoints of Σ c[i, x_i(λ)] are the ratios Δq/Δc of
       the hull edges (module docstring); ``lam`` = the smallest λ whose solution fits: sorted by ratio,
       the edges up to the first that does not fit are taken and λ = that edge's ratio (0 when all fit:
       every request on its best feasible agent).
    2. Greedy: the remaining edges, by decreasing ratio, are taken while they fit; an edge that does
       not fit stops its own request only ("skip and continue").
    3. Exchange: the relaxation's optimum takes a fraction of the first edge that does not fit; forcing
       it (and in turn the next few left-out edges) in and giving back other edges until it fits, then
       redoing 2, guards against the greedy's one-big-item failure (``_exchange``).
    4. Fill: what is left buys the best single upgrades that fit, to any feasible agent (``_fill``).
    5. Swap (small batches only): the best 1-for-1 exchange, one request up to an agent that did not
       fit and another down (to any cheaper agent or none) to pay for it, then 4 again, while it gains
       (``_swap``); it catches optima off the hulls that 1–4 miss.
       On small batches (n·a <= 10⁵) 8 edges are tried and every result is filled, the best kept; on
       larger ones (where one request moves the total by ~1/n) one edge is tried and only the better of
       it and the greedy is filled: a fill is a pass over the matrix.

    The spend never exceeds the budget, checked exactly as ``float(cost[r, choice[r]].sum())`` over
    the routed rows r. Cost: a few blocked passes over the (n, a) matrices plus sorts of the hull
    vertices (a handful per request)."""
    c, q, m = _matrices(cost, quality, feasible, "feasible")
    b = _budget(budget)
    n, a = c.shape
    if n == 0 or a == 0 or not m.any():
        return BatchSolution(choice=np.full(n, -1, dtype=np.int64), total_cost=0.0, total_quality=0.0, lam=0.0)
    h = _hull(c, q, m, with_none=True)
    st = _steps(h)
    p = int(np.searchsorted(np.cumsum(st.dc), b, side="right"))
    lam = float(st.r[p]) if p < st.r.size else 0.0
    zero = np.zeros(n, dtype=np.int64)
    taken, left, log = _greedy(st, np.arange(st.r.size), zero, b, n)
    small = n * a <= _SMALL_BATCH
    finals = [(_hull_quality(h, taken), taken, log)]
    if p < st.r.size:
        finals += _exchange(h, st, taken, left, n, _EXCHANGE_TRIES if small else 1)
    finals.sort(key=lambda t: -t[0])  # stable: the greedy's own result first among equals
    best: np.ndarray | None = None
    best_q = -np.inf
    for _, t, lg in finals:
        ch = _repair(c, h, st, t, lg, b, n)
        if spend_of(c, ch) > b:  # an exchange trial whose forced edge the rounding alone undoes
            continue
        ch = _fill(c, q, m, ch, b)
        qv = _quality_of(q, ch)
        if qv > best_q:
            best, best_q = ch, qv
        if not small:
            break  # large batches fill only the best that fits
    assert best is not None  # the greedy's own result always fits once repaired (its log reaches λ = ∞)
    for _ in range(_SWAP_ROUNDS if small else 0):
        swapped = _swap(c, q, m, best, b)
        if swapped is None:
            break
        ch = _fill(c, q, m, swapped, b)
        qv = _quality_of(q, ch)
        if not qv > best_q:
            break
        best, best_q = ch, qv
    return BatchSolution(choice=best, total_cost=spend_of(c, best), total_quality=best_q, lam=lam)


# ----------------------------------------------------------------------------------------------------
# plan_budget


def _route(cost: np.ndarray, quality: np.ndarray, eligible: np.ndarray, wtp: float | None) -> np.ndarray:
    """The router's rule on the mix: argmax over eligible agents of q − c / w (``wtp`` w; q alone when
    None), first of equals as numpy's argmax, −1 for a request with no eligible agent. The same
    expression as ``routerd.engine.objectives.utility`` with a willingness to pay."""
    n, a = cost.shape
    out = np.full(n, -1, dtype=np.int64)
    if a == 0:
        return out
    rows_per_block = max(1, _BLOCK_ELEMENTS // a)
    with np.errstate(invalid="ignore", over="ignore"):
        for lo in range(0, n, rows_per_block):
            hi = min(n, lo + rows_per_block)
            ok = eligible[lo:hi]
            u = quality[lo:hi] if wtp is None else quality[lo:hi] - cost[lo:hi] / wtp
            best = np.argmax(np.where(ok, u, -np.inf), axis=1)
            out[lo:hi] = np.where(ok.any(axis=1), best, -1)
    return out


def _smallest_lam(cost: np.ndarray, quality: np.ndarray, eligible: np.ndarray, h: _Hull, base: float,
                  scale: float, budget: float) -> tuple[float, np.ndarray] | None:
    """The smallest λ > 0 whose routing ``_route(w = 1/λ)`` spends scale·Σc <= budget.

    Exact breakpoints: with b_1 < … < b_m the distinct hull-edge ratios and D_k the cost of the edges
    of ratio b_k, every λ in (b_k, b_{k+1}) (b_0 = 0, b_{m+1} = ∞) routes with spend
    S_k = base + Σ_{j>k} D_j, base the cheapest routing's. The first interval k with scale·S_k <= budget
    holds the answer; its left end b_k is tried first (at a breakpoint the tie goes to the lower agent
    index, which may be the dearer one), then b_k·(1 + ε) for ε = 1e-14 … 1e-9, then interior points;
    every candidate is checked by routing the mix with the router's own expression, so the projection
    is what the router will do. None when no candidate fits (not seen; the caller falls back to λ = ∞)."""
    st = _steps(h)
    ratios, inverse = np.unique(st.r, return_inverse=True)
    weight = np.bincount(inverse, weights=st.dc, minlength=ratios.size)
    # 0-based: on the interval (ratios[k-1], ratios[k]) the edges of ratios[k:] are taken.
    suffix = np.concatenate([np.cumsum(weight[::-1])[::-1], [0.0]])
    spends = scale * (base + suffix)
    fits = np.flatnonzero(spends <= budget)
    first = int(fits[0]) if fits.size else ratios.size
    for k in range(first, ratios.size + 1):
        lo = float(ratios[k - 1]) if k >= 1 else 0.0
        hi = float(ratios[k]) if k < ratios.size else math.inf
        tries: list[float] = []
        if lo > 0:
            tries += [lo] + [lo * (1 + e) for e in (1e-14, 1e-12, 1e-10, 1e-9) if lo * (1 + e) < hi]
        if math.isfinite(hi):
            tries += [math.sqrt(lo * hi)] if lo > 0 else [hi * 1e-9, hi * 1e-6, hi * 1e-3, hi / 2]
        else:
            tries += [lo * 2.0 ** e for e in (1, 4, 16)] if lo > 0 else [1.0, 1e3, 1e6]
        for lam in tries:
            if not lam > 0 or not math.isfinite(1.0 / lam):
                continue
            choice = _route(cost, quality, eligible, 1.0 / lam)
            if scale * spend_of(cost, choice) <= budget:
                return lam, choice
    return None


def _proportional(cost: np.ndarray, quality: np.ndarray, eligible: np.ndarray, met: np.ndarray, budget: float,
                  scale: float, usage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed's split and its projection. Per agent a over the requests it is eligible for:
    quality_a = mean q, price_a = mean cost, value_a = quality_a · 1/(price_a + 0.001) · ln(usage_a)
    (0 for usage_a <= 1, as ln(1) = 0: the seed's newly added agent; negative values 0), and
    budget_a = budget · value_a / Σ value (all 0 when Σ value = 0). Agent a can then pay for
    floor(budget_a / (scale · price_a)) requests of the mix (unbounded when price_a = 0 and budget_a > 0).
    Requests are assigned best quality first: in rounds, every unassigned request asks its best-quality
    eligible agent that still has room, and an agent with less room than askers takes the highest
    quality ones. Returns (budget_a, assignment with −1 for requests left out)."""
    n, a = cost.shape
    count = eligible.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_mean = np.where(count > 0, np.where(eligible, quality, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
        price = np.where(count > 0, np.where(eligible, cost, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
        log_usage = np.log(np.maximum(usage, 1.0))
    value = np.maximum(np.where(count > 0, q_mean / (price + _SEED_PRICE_OFFSET) * log_usage, 0.0), 0.0)
    total = float(value.sum())
    alloc = value / total * budget if total > 0 else np.zeros(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(price > 0, np.floor(alloc / (scale * np.where(price > 0, price, 1.0))),
                        np.where(alloc > 0, n, 0)).astype(np.int64)
    assign = np.full(n, -1, dtype=np.int64)
    open_agent = room > 0
    pending = np.flatnonzero(met)
    while pending.size and open_agent.any():
        ok = eligible[pending] & open_agent
        has = ok.any(axis=1)
        pending = pending[has]
        if pending.size == 0:
            break
        qs = np.where(ok[has], quality[pending], -np.inf)
        want = np.argmax(qs, axis=1)
        qw = qs[np.arange(pending.size), want]
        order = np.lexsort((-qw, want))
        want_o, rows_o = want[order], pending[order]
        first_of = np.searchsorted(want_o, np.arange(a))
        rank = np.arange(order.size) - first_of[want_o]
        take = rank < room[want_o]
        assign[rows_o[take]] = want_o[take]
        got = np.bincount(want_o[take], minlength=a)
        room -= got
        open_agent = room > 0  # an agent that turned someone away is full: the rest ask elsewhere
        pending = rows_o[~take]
    return alloc, assign


def plan_budget(cost: np.ndarray, quality: np.ndarray, eligible: np.ndarray, budget: float, *, scale: float = 1.0,
                usage: np.ndarray | None = None, lam_max: float | None = None) -> BudgetPlan:
    """OptimizeBudget on a request mix: the multiplier λ (quality per USD) whose routing rule
    x_i = argmax over eligible j of q[i, j] − c[i, j] / w, w = 1/λ (the router's willingness-to-pay
    utility; first of equals), spends scale · Σ_i c[i, x_i] as close to ``budget`` as possible without
    going over. ``scale`` = period / span of the mix (a month's budget on a day's mix: 30).

    spend(λ) is a non-increasing step function; the smallest λ with scale·spend(λ) <= budget is found
    from the exact breakpoints (``_smallest_lam``), each candidate checked by routing the mix. Cases:

    * not binding: the routing at λ = 0 (every request on its best-quality eligible agent, first of
      equals) fits: λ = 0, ``willingness_to_pay`` None (the caller keeps its objective), binding False;
    * binding: λ > 0 and ``willingness_to_pay`` = 1/λ;
    * infeasible: even the cheapest routing (each request on its cheapest eligible agent, of those the
      best, then the first; λ → ∞) spends more, or the λ needed exceeds ``lam_max``: feasible False,
      the plan is the routing at the largest λ allowed, λ = ``lam_max`` (w = 1/lam_max) when given,
      else λ = +inf, the cheapest routing, ``willingness_to_pay`` None (route by cost).

    Requests with no eligible agent are ``unmet``: counted, never routed, left out of the means.
    ``minimum_spend`` is always the cheapest routing's (scaled). ``usage`` (a,) is the seed's per-agent
    request count for the proportional baseline (``_proportional``); default: how many requests of the
    mix have each agent as their best-quality eligible agent."""
    c, q, m = _matrices(cost, quality, eligible, "eligible")
    b = _budget(budget)
    try:
        sc = float(scale)
    except (TypeError, ValueError):
        raise InvalidArgument("scale", f"not a number: {scale!r}") from None
    if not (math.isfinite(sc) and sc > 0):
        raise InvalidArgument("scale", f"must be finite and > 0, got {sc}")
    if lam_max is not None:
        try:
            lam_max = float(lam_max)
        except (TypeError, ValueError):
            raise InvalidArgument("lam_max", f"not a number: {lam_max!r}") from None
        if not lam_max > 0:
            raise InvalidArgument("lam_max", f"must be > 0, got {lam_max}")
    n, a = c.shape
    h = _hull(c, q, m, with_none=False)  # also validates the eligible entries
    met = np.asarray(m.any(axis=1))
    n_met = int(met.sum())
    best_q = _route(c, q, m, None)
    if usage is None:
        use = np.bincount(best_q[best_q >= 0], minlength=a).astype(np.float64)
    else:
        use = np.asarray(usage, dtype=np.float64)
        if use.shape != (a,) or not np.isfinite(use).all() or (use < 0).any():
            raise InvalidArgument("usage", f"expected {a} finite counts >= 0, got shape {use.shape}")
    cheapest = _choice_from_counts(h, np.zeros(n, dtype=np.int64), n)
    minimum = sc * spend_of(c, cheapest)
    lam: float
    wtp: float | None
    if sc * spend_of(c, best_q) <= b:
        lam, wtp, binding, feasible, choice = 0.0, None, False, True, best_q
    else:
        found = _smallest_lam(c, q, m, h, spend_of(c, cheapest), sc, b) if minimum <= b else None
        binding = True
        if found is not None and (lam_max is None or found[0] <= lam_max):
            lam, choice = found
            wtp, feasible = 1.0 / lam, True
        elif lam_max is not None and math.isfinite(lam_max):
            lam = lam_max
            wtp, feasible = 1.0 / lam, False
            choice = _route(c, q, m, wtp)
        else:
            lam, wtp, choice = math.inf, None, cheapest
            feasible = found is not None or minimum <= b
    routed = np.flatnonzero(choice >= 0)
    picked = choice[routed]
    counts = np.bincount(picked, minlength=a).astype(np.float64)
    q_sum = np.bincount(picked, weights=q[routed, picked], minlength=a)
    alloc, assign = _proportional(c, q, m, met, b, sc, use)
    return BudgetPlan(
        lam=lam, willingness_to_pay=wtp, binding=binding, feasible=feasible, choice=choice,
        requests=sc * counts, spend=sc * np.bincount(picked, weights=c[routed, picked], minlength=a),
        quality=np.divide(q_sum, counts, out=np.zeros(a), where=counts > 0),
        projected_spend=sc * spend_of(c, choice),
        projected_quality=_quality_of(q, choice) / n_met if n_met else 0.0,
        minimum_spend=minimum, unmet=n - n_met,
        proportional_spend=sc * spend_of(c, assign),
        proportional_quality=_quality_of(q, assign) / n_met if n_met else 0.0,
        proportional_budget=alloc)
