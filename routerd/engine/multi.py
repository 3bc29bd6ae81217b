"""Several agents for one request (RouteMulti): plans of ``pipeline``, ``parallel`` or ``ensemble`` stages.

Pure numpy over one request's per-agent rows (cost, latency, quality, utility, feasibility, as the
router computed them); no store, no gRPC. Utilities are in quality units (typically 0..1), which is
what the diversity weights of ``parallel`` are scaled to.

pipeline
    Ordered stages that run one after another, each on the previous one's output.
    With ``required`` capabilities: greedy weighted set cover. At each stage, among the feasible agents
    not used yet whose cost fits what is left of ``budget_remaining``, take those adding the most
    still-uncovered required capabilities, and of those the highest utility (then the lower index).
    Stop when everything is covered, ``k`` stages are used, or no agent adds anything. Greedy set
    cover uses at most H(m) <= ln(m) + 1 times the fewest stages that cover the m required
    capabilities (Johnson 1974, Chvatal 1979); tests/unit/test_multi.py measures how often it is
    exactly optimal on small instances. A stage's ``capabilities`` are the ones it newly covers.
    Without ``required``: the ``k`` feasible agents of highest utility, in that order, each taken
    only if it fits what the earlier ones left of the budget.
    total_cost = sum c_i, total_latency_ms = sum l_i (stages are sequential),
    expected_quality = prod q_i: every stage must succeed, assuming the stages fail independently.

parallel
    ``k`` feasible agents asked at once, chosen for diversity. The first is the one of highest
    utility; each next one maximises
        score_i = u_i + 0.5 * [provider_i differs from every chosen agent's provider]
                      + 0.5 * min_{j chosen} (1 - |C_i & C_j| / |C_i | C_j|)
    (C = capability sets; the Jaccard distance of two empty sets is 0). At 0.5 each, a different
    provider outweighs a utility gap of up to half a quality unit, and so do completely different
    capabilities: an agent of the same provider and the same capabilities must be 0.5 (or 1.0) better
    to be preferred to one that differs in one (or both). Each next agent must fit what is left of
    the budget. total_cost = sum c_i, total_latency_ms = max l_i (all run at once),
    expected_quality = max q_i: the caller keeps the best answer, assumed recognisable.

ensemble
    The ``k`` feasible agents of highest expected quality (ties: higher utility, then lower index),
    taken in that order, each only if it fits what is left of the budget (a greedy choice, not a
    knapsack optimum). total_cost = sum c_i, total_latency_ms = max l_i,
    expected_quality = 1 - prod (1 - q_i): the probability that at least one answer is adequate when
    the agents fail independently (an upper bound when their errors are correlated).

The budget check allows a relative 1e-12 of ``budget_remaining`` for rounding in the running sum.
A stage's ``score`` is the agent's utility (``parallel``: the diversity score above). A plan with
no stage is not routed (routed = False, totals 0). For ``pipeline`` with ``required`` the caller's
``feasible`` must not already demand every required capability of each agent, or every plan has one
stage; ``parallel`` and ``ensemble`` ignore ``required`` (there ``feasible`` carries it).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routerd.errors import InvalidArgument

STRATEGIES = ("pipeline", "parallel", "ensemble")
PROVIDER_BONUS = 0.5  # for a provider no chosen agent has (quality units)
CAPABILITY_BONUS = 0.5  # times the Jaccard distance of the capabilities to the closest chosen agent's
_BUDGET_RTOL = 1e-12


@dataclass(frozen=True, slots=True)
class MultiStage:
    index: int
    agent_name: str
    # pipeline with required: the required capabilities this stage newly covers; otherwise the
    # capabilities it contributes that earlier stages did not (sorted).
    capabilities: tuple[str, ...]
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class MultiPlan:
    strategy: str
    stages: list[MultiStage]
    total_cost: float
    total_latency_ms: float
    expected_quality: float
    uncovered: tuple[str, ...]  # required capabilities no stage covers (pipeline)
    routed: bool
    reasoning: str


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


class _Budget:
    """What is left of ``budget_remaining`` as the stages are chosen (None: unlimited)."""

    def __init__(self, budget: float | None):
        self.budget = budget
        self.spent = 0.0

    def fits(self, cost: np.ndarray) -> np.ndarray:
        if self.budget is None:
            return np.ones(cost.shape, dtype=bool)
        return np.asarray(self.spent + cost <= self.budget + _BUDGET_RTOL * abs(self.budget))

    def take(self, cost: float) -> None:
        self.spent += cost

    @property
    def left_text(self) -> str:
        assert self.budget is not None
        return f"${max(0.0, self.budget - self.spent):.6g}"


def _validate(strategy: str, k: int, names: Sequence[str], capabilities: Sequence[frozenset[str]],
              providers: Sequence[str], arrays: dict[str, np.ndarray],
              budget_remaining: float | None) -> int:
    if strategy not in STRATEGIES:
        raise InvalidArgument("strategy", f"must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    a = len(names)
    try:
        k = operator.index(k)
    except TypeError:
        raise InvalidArgument("num_agents", f"must be an integer, got {k!r}") from None
    if not 1 <= k <= a:
        raise InvalidArgument("num_agents", f"must be in 1..{a}, got {k}")
    if len(capabilities) != a:
        raise InvalidArgument("capabilities", f"expected {a} entries (one per agent), got {len(capabilities)}")
    if len(providers) != a:
        raise InvalidArgument("providers", f"expected {a} entries (one per agent), got {len(providers)}")
    for field, x in arrays.items():
        if x.shape != (a,):
            raise InvalidArgument(field, f"expected shape ({a},), got {x.shape}")
    feasible = arrays["feasible"]
    for field in ("cost", "latency", "quality", "utility"):
        bad = feasible & ~np.isfinite(arrays[field])
        if bad.any():
            raise InvalidArgument(field, f"not finite for feasible agent {names[int(np.argmax(bad))]!r}")
    if budget_remaining is not None and math.isnan(budget_remaining):
        raise InvalidArgument("budget_remaining", "must be a number, got nan")
    return k


def plan_multi(strategy: str, k: int, *, names: Sequence[str], capabilities: Sequence[frozenset[str]],
               providers: Sequence[str], cost: np.ndarray, latency: np.ndarray, quality: np.ndarray,
               utility: np.ndarray, feasible: np.ndarray, required: Sequence[str] = (),
               budget_remaining: float | None = None) -> MultiPlan:
    """The plan of at most ``k`` stages for one request (see the module docstring for each strategy).

    Every array is (a,), one row per agent, in ``names``' order; ``feasible`` is True where the
    agent may be used (the router's code == OK). Raises InvalidArgument ("strategy", "num_agents"
    for k outside 1..a, or the field whose shape or values are wrong).
    """
    arrays = {
        "cost": np.asarray(cost, dtype=np.float64), "latency": np.asarray(latency, dtype=np.float64),
        "quality": np.asarray(quality, dtype=np.float64), "utility": np.asarray(utility, dtype=np.float64),
        "feasible": np.asarray(feasible, dtype=bool),
    }
    k = _validate(strategy, k, names, capabilities, providers, arrays, budget_remaining)
    rows = _Rows(names, capabilities, providers, arrays, _Budget(budget_remaining))
    req = list(dict.fromkeys(required))
    uncovered: list[str] = []
    note = ""
    if strategy == "pipeline" and req:
        picks, uncovered, note = _cover(rows, k, req)
    elif strategy == "pipeline":
        picks = _ranked(rows, k, "utility")
    elif strategy == "parallel":
        picks = _diverse(rows, k)
    else:
        picks = _ranked(rows, k, "quality")
    return _assemble(strategy, k, rows, picks, uncovered, note, bool(req))


class _Rows:
    def __init__(self, names: Sequence[str], capabilities: Sequence[frozenset[str]], providers: Sequence[str],
                 arrays: dict[str, np.ndarray], budget: _Budget):
        self.names = names
        self.capabilities = capabilities
        self.providers = providers
        self.cost = arrays["cost"]
        self.latency = arrays["latency"]
        self.quality = arrays["quality"]
        self.utility = arrays["utility"]
        self.feasible = arrays["feasible"]
        self.budget = budget
        self.index = np.arange(len(names))


# A pick: (agent index, capabilities it contributes, score, reason).
_Pick = tuple[int, tuple[str, ...], float, str]


def _cover(rows: _Rows, k: int, req: list[str]) -> tuple[list[_Pick], list[str], str]:
    """Greedy set cover of ``req``; returns the picks, what stays uncovered, and why it stays."""
    a, m = len(rows.names), len(req)
    has = np.array([[c in caps for c in req] for caps in rows.capabilities], dtype=bool).reshape(a, m)
    open_ = np.ones(m, dtype=bool)  # required capabilities not covered yet
    unused = rows.feasible.copy()
    picks: list[_Pick] = []
    while open_.any() and len(picks) < k:
        gain = np.where(unused, (has & open_).sum(axis=1), 0)
        fits = rows.budget.fits(rows.cost)
        eligible = (gain > 0) & fits
        if not eligible.any():
            break
        best = int(gain[eligible].max())
        tied = eligible & (gain == best)
        # Highest utility among the tied, then the lower index (argmax takes the first maximum).
        i = int(np.argmax(np.where(tied, rows.utility, -np.inf)))
        newly = [req[j] for j in np.flatnonzero(has[i] & open_)]
        n_tied = int(tied.sum())
        adding = _plural(best, "capability", "capabilities")
        if n_tied == 1:
            why = f"covers {', '.join(newly)}; the only agent adding {adding}"
        else:
            why = f"covers {', '.join(newly)}; highest utility of {n_tied} agents adding {adding}"
        # Agents that would have been chosen but for the budget.
        better = (gain > best) | ((gain == best) & (rows.utility > rows.utility[i]))
        priced_out = int((unused & ~fits & (gain > 0) & better).sum())
        if priced_out:
            why += (f" ({_plural(priced_out, 'better agent')} over the remaining budget "
                    f"{rows.budget.left_text})")
        picks.append((i, tuple(newly), float(rows.utility[i]), why))
        rows.budget.take(float(rows.cost[i]))
        unused[i] = False
        open_ &= ~has[i]
    uncovered = [req[j] for j in np.flatnonzero(open_)]
    note = ""
    if uncovered:
        nobody = [c for c, j in zip(req, range(m), strict=True) if open_[j] and not has[rows.feasible, j].any()]
        rest = [c for c in uncovered if c not in nobody]
        parts = []
        if nobody:
            parts.append(f"no feasible agent has {', '.join(nobody)}")
        if rest:
            cause = f"all {_plural(k, 'stage')} used" if len(picks) == k else "no agent covering them fits the budget"
            parts.append(f"{', '.join(rest)} left uncovered ({cause})")
        note = "; ".join(parts)
    return picks, uncovered, note


def _contributes(rows: _Rows, i: int, picks: list[_Pick]) -> tuple[str, ...]:
    earlier: set[str] = set()
    for j, *_ in picks:
        earlier |= rows.capabilities[j]
    return tuple(sorted(rows.capabilities[i] - earlier))


def _ranked(rows: _Rows, k: int, by: str) -> list[_Pick]:
    """The first ``k`` feasible agents that fit the budget, by utility (pipeline) or by quality, then
    utility (ensemble); ties in the lower index."""
    u, q = rows.utility, rows.quality
    keys = (rows.index, -u) if by == "utility" else (rows.index, -u, -q)
    order = [int(i) for i in np.lexsort(keys) if rows.feasible[i]]
    picks: list[_Pick] = []
    skipped = 0  # better-ranked agents passed over for the budget
    for i in order:
        if len(picks) == k:
            break
        if not rows.budget.fits(rows.cost[i:i + 1])[0]:
            skipped += 1
            continue
        left = len(order) - len(picks)  # feasible agents not used yet, this one included
        if by == "utility":
            why = f"highest utility ({u[i]:.4f}) of {_plural(left, 'unused feasible agent')}"
        else:
            why = f"highest expected quality ({q[i]:.3f}) of {_plural(left, 'unused feasible agent')}"
        if skipped:
            why += f" ({_plural(skipped, 'better agent')} over the remaining budget {rows.budget.left_text})"
        picks.append((i, _contributes(rows, i, picks), float(u[i]), why))
        rows.budget.take(float(rows.cost[i]))
    return picks


def _diverse(rows: _Rows, k: int) -> list[_Pick]:
    """Greedy diversity selection (module docstring, parallel)."""
    a = len(rows.names)
    universe = sorted(set().union(*rows.capabilities)) if a else []
    col = {c: j for j, c in enumerate(universe)}
    member = np.zeros((a, len(universe)), dtype=np.float64)
    for i, caps in enumerate(rows.capabilities):
        member[i, [col[c] for c in caps]] = 1.0
    sizes = member.sum(axis=1)
    _, provider_code = np.unique(np.array(list(rows.providers), dtype=str), return_inverse=True)
    new_provider = np.ones(a, dtype=bool)  # provider differs from every chosen agent's
    distance = np.ones(a)  # Jaccard distance to the closest chosen agent (1 before any is chosen)
    unused = rows.feasible.copy()
    picks: list[_Pick] = []
    while len(picks) < k:
        fits = rows.budget.fits(rows.cost)
        eligible = unused & fits
        if not eligible.any():
            break
        if picks:
            bonus_p = PROVIDER_BONUS * new_provider
            bonus_c = CAPABILITY_BONUS * distance
            score = rows.utility + bonus_p + bonus_c
        else:
            score = rows.utility.copy()
        i = int(np.argmax(np.where(eligible, score, -np.inf)))
        n_eligible = int(eligible.sum())
        priced_out = int((unused & ~fits & (score > score[i])).sum())
        if picks:
            why = (f"utility {rows.utility[i]:.4f} + diversity {score[i] - rows.utility[i]:.4f} "
                   f"({'new provider' if new_provider[i] else 'provider already chosen'} "
                   f"{rows.providers[i]}, capability distance {distance[i]:.2f}); "
                   f"best of {_plural(n_eligible, 'remaining agent')}")
        else:
            why = f"highest utility ({rows.utility[i]:.4f}) of {_plural(n_eligible, 'feasible agent')}"
            if rows.budget.budget is not None:
                why += " within the budget"
        if priced_out:
            why += f" ({_plural(priced_out, 'better agent')} over the remaining budget {rows.budget.left_text})"
        picks.append((i, _contributes(rows, i, picks), float(score[i]), why))
        rows.budget.take(float(rows.cost[i]))
        unused[i] = False
        new_provider &= provider_code != provider_code[i]
        inter = member @ member[i]
        union = sizes + sizes[i] - inter
        d = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 0.0)
        distance = np.minimum(distance, d)
    return picks


def _assemble(strategy: str, k: int, rows: _Rows, picks: list[_Pick], uncovered: list[str], note: str,
              with_required: bool) -> MultiPlan:
    stages = [MultiStage(n, rows.names[i], caps, float(rows.cost[i]), float(rows.latency[i]),
                         float(rows.quality[i]), score, why)
              for n, (i, caps, score, why) in enumerate(picks)]
    nf = int(rows.feasible.sum())
    a = len(rows.names)
    if not stages:
        if nf == 0:
            why = f"no feasible agent among {a}"
        elif note:  # pipeline with required: nobody has them, or those who do are over the budget
            why = f"no stage: {note} ({nf} of {a} agents feasible)"
        else:
            why = f"no feasible agent fits budget_remaining ${rows.budget.budget:.6g} ({nf} of {a} feasible)"
        return MultiPlan(strategy, [], 0.0, 0.0, 0.0, tuple(uncovered), False, why)
    idx = [i for i, *_ in picks]
    q = rows.quality[idx]
    total_cost = float(rows.cost[idx].sum())
    if strategy == "pipeline":
        latency, quality = float(rows.latency[idx].sum()), float(np.prod(q))
        how = "sequential: latency summed, quality the product of independent stages"
    elif strategy == "parallel":
        latency, quality = float(rows.latency[idx].max()), float(q.max())
        how = "at once: latency the slowest, quality the best stage's"
    else:
        latency, quality = float(rows.latency[idx].max()), float(1.0 - np.prod(1.0 - q))
        how = "at once: latency the slowest, quality 1 - prod(1 - q), independent failures"
    n = len(stages)
    text = (f"{strategy} of {_plural(n, 'stage')} ({', '.join(rows.names[i] for i in idx)}), {how}: "
            f"estimated cost ${total_cost:.6g}, latency {latency:.0f} ms, expected quality {quality:.3f}")
    if with_required and strategy == "pipeline":
        if not uncovered:
            text += f"; all required capabilities covered in {n} of at most {k} stages"
    elif n < k:  # parallel, ensemble, pipeline without required: short of agents or of money
        if nf < k:
            text += f"; only {_plural(nf, 'feasible agent')} for {k} stages"
        elif rows.budget.budget is not None:
            text += f"; only {n} of {k} stages fit budget_remaining ${rows.budget.budget:.6g}"
    if note:
        text += f"; {note}"
    return MultiPlan(strategy, stages, total_cost, latency, quality, tuple(uncovered), True, text)
