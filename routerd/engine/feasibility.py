"""The feasibility rules, declared once, in the order they are checked.

``RULES`` is the single source of three things: which agents a request may use (the mask), why an
agent may not (the first rule it fails, in list order: its code and its explanation), and the order
of the checks. Each rule is either *static* (a property of the agent or of the request's lists) or a
*bound* (an estimate compared with a number the request gives); the compiled kernel is handed the
bound rules from this same list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable

if TYPE_CHECKING:
    from routerd.engine.decision import Decision

OK = 0

# Estimates a bound rule may compare (the kernel's numbering).
COST, LATENCY, QUALITY = 0, 1, 2


@dataclass(frozen=True)
class Rule:
    code: int
    name: str  # short, for counts in a decision's reasoning
    # static rules: (table, queries, now) -> (n, a) or (a,) bool "violated", or None when it cannot apply
    static: Callable[[AgentTable, Sequence[RouteQuery], float], np.ndarray | None] | None = None
    # bound rules: the query field holding the bound, the estimate, and whether exceeding it fails
    field: str = ""
    estimate: int = COST
    above_fails: bool = True
    explain: Callable[[Decision, int], str] | None = None


def _inactive(t: AgentTable, qs: Sequence[RouteQuery], now: float) -> np.ndarray | None:
    return ~t.active if t.any_inactive else None


def _circuit_open(t: AgentTable, qs: Sequence[RouteQuery], now: float) -> np.ndarray | None:
    return t.open_until > now if t.any_open else None


def _excluded(t: AgentTable, qs: Sequence[RouteQuery], now: float) -> np.ndarray | None:
    if not any(q.excluded_agents for q in qs):
        return None
    out = np.zeros((len(qs), len(t)), dtype=bool)
    for i, q in enumerate(qs):
        out[i, [j for j in map(t.index.get, q.excluded_agents) if j is not None]] = True
    return out[0] if len(qs) == 1 else out


def _lacks(t: AgentTable, required: tuple[str, ...]) -> np.ndarray:
    """(a,) True where an agent lacks one of ``required`` (table.lacks caches the single ones)."""
    if len(required) == 1:
        return t.lacks(required[0])
    have = np.ones(len(t), dtype=bool)
    for cap in required:
        have &= ~t.lacks(cap)
    return ~have


def _missing_capability(t: AgentTable, qs: Sequence[RouteQuery], now: float) -> np.ndarray | None:
    if len(qs) == 1:
        return _lacks(t, qs[0].required_capabilities) if qs[0].required_capabilities else None
    if not any(q.required_capabilities for q in qs):
        return None
    out = np.zeros((len(qs), len(t)), dtype=bool)
    for i, q in enumerate(qs):
        if q.required_capabilities:
            out[i] = _lacks(t, q.required_capabilities)
    return out


def _why_open(d: Decision, i: int) -> str:
    return f"circuit open after repeated failures ({d.table.state[i]})"


def _why_missing(d: Decision, i: int) -> str:
    missing = [c for c in d.query.required_capabilities if c not in d.table.capabilities[i]]
    return f"missing capability: {', '.join(missing)}"


def _why_cost(d: Decision, i: int) -> str:
    assert d.query.max_cost is not None
    return f"estimated cost ${d.cost[i]:.6g} exceeds max_cost ${d.query.max_cost:.6g}"


def _why_budget(d: Decision, i: int) -> str:
    q = d.query
    if q.budget_remaining is not None and d.cost[i] > q.budget_remaining:
        return f"estimated cost ${d.cost[i]:.6g} exceeds the remaining budget ${q.budget_remaining:.6g}"
    left = d.batch_left if d.batch_left is not None else 0.0
    return f"estimated cost ${d.cost[i]:.6g} exceeds what is left of the batch budget, ${left:.6g}"


def _why_latency(d: Decision, i: int) -> str:
    assert d.query.max_latency_ms is not None
    return f"expected latency {d.table.latency[i]:.6g} ms exceeds max_latency_ms {d.query.max_latency_ms:.6g}"


def _why_quality(d: Decision, i: int) -> str:
    assert d.query.min_quality is not None
    return f"expected quality {d.quality[i]:.3f} is below min_quality {d.query.min_quality:.3f}"


INACTIVE, CIRCUIT_OPEN, EXCLUDED, MISSING_CAPABILITY, MAX_COST, BUDGET, MAX_LATENCY, MIN_QUALITY = range(1, 9)

RULES: tuple[Rule, ...] = (
    Rule(INACTIVE, "inactive", static=_inactive, explain=lambda d, i: "inactive"),
    Rule(CIRCUIT_OPEN, "circuit open", static=_circuit_open, explain=_why_open),
    Rule(EXCLUDED, "excluded", static=_excluded, explain=lambda d, i: "excluded by the request"),
    Rule(MISSING_CAPABILITY, "missing capability", static=_missing_capability, explain=_why_missing),
    Rule(MAX_COST, "max_cost", field="max_cost", estimate=COST, explain=_why_cost),
    # The batch budget of BatchRoute is checked under this code too (after routing each request).
    Rule(BUDGET, "budget_remaining", field="budget_remaining", estimate=COST, explain=_why_budget),
    Rule(MAX_LATENCY, "max_latency_ms", field="max_latency_ms", estimate=LATENCY, explain=_why_latency),
    Rule(MIN_QUALITY, "min_quality", field="min_quality", estimate=QUALITY, above_fails=False,
         explain=_why_quality),
)
BY_CODE = {r.code: r for r in RULES}


def _why_budget_limit(d: Decision, i: int) -> str:
    limits = d.budget_limits
    return limits.explain(d.budget_row, i, float(d.cost[i])) if limits is not None else "over a budget"


# Configured budgets (routerd.engine.budgets): checked after the rules above, request by request in
# the order the call routes them, so not part of RULES (neither static nor a request's own bound).
BUDGET_LIMIT = len(RULES) + 1
BY_CODE[BUDGET_LIMIT] = Rule(BUDGET_LIMIT, "budget", explain=_why_budget_limit)
STATIC_RULES = tuple(r for r in RULES if r.static is not None)
BOUND_RULES = tuple(r for r in RULES if r.static is None)
assert [r.code for r in RULES] == list(range(1, len(RULES) + 1)), "codes follow the order of the checks"
assert all(r.code > s.code for r in BOUND_RULES for s in STATIC_RULES), "static rules come first"


def static_codes(table: AgentTable, queries: Sequence[RouteQuery], now: float) -> np.ndarray:
    """(n, a) int8: the code of the first static rule each agent fails for each request, else OK."""
    codes = np.zeros((len(queries), len(table)), dtype=np.int8)
    row = codes[0] if len(queries) == 1 else None
    for rule in reversed(STATIC_RULES):  # earlier rules overwrite later ones: the first failed wins
        assert rule.static is not None
        violated = rule.static(table, queries, now)
        if violated is None:
            continue
        if row is not None:  # one request: (a,) masks, no broadcasting
            row[violated] = rule.code
        else:
            codes[np.broadcast_to(violated, codes.shape)] = rule.code
    return codes


def bounds_of(q: RouteQuery) -> tuple[tuple[int, int, bool, float], ...]:
    """The bound rules a request sets, in order: (code, estimate, above_fails, bound)."""
    out = []
    for r in BOUND_RULES:
        v = getattr(q, r.field)
        if v is not None:
            out.append((r.code, r.estimate, r.above_fails, float(v)))
    return tuple(out)


def apply_bounds(codes: np.ndarray, queries: Sequence[RouteQuery], estimates: Sequence[np.ndarray]) -> None:
    """Set, where ``codes`` is still OK, the code of the first bound rule each agent fails.
    ``estimates`` are the (n, a) or (a,) arrays numbered COST, LATENCY, QUALITY."""
    n = len(queries)
    for r in reversed(BOUND_RULES):
        values = [getattr(q, r.field) for q in queries]
        if all(v is None for v in values):
            continue
        default = np.inf if r.above_fails else -np.inf
        bound: float | np.ndarray = (values[0] if n == 1 and values[0] is not None else
                                     np.array([default if v is None else v for v in values])[:, None])
        est = estimates[r.estimate]
        violated = est > bound if r.above_fails else est < bound
        violated = np.broadcast_to(violated, codes.shape)
        codes[violated & ((codes == OK) | (codes > r.code))] = r.code
