"""The routing decision: feasibility, per-request estimates, objectives and confidence.

For a request r and an agent a (DESIGN.md, "What a routing decision is"):

* tokens_in(r) = the caller's input_tokens, else ceil(len(text) / 4) (about four characters a
  token for English); tokens_out(r, a) = the caller's output_tokens, else a's typical_output_tokens.
* latency(a) = a's observed p95 once it has outcomes, else its latency prior (ms).
* cost(r, a) = tokens_in/1000·in_price + tokens_out/1000·out_price + per_call + latency/1000·per_second.
* quality(a) = blended quality × smoothed success rate, where blended quality is the prior worth
  ``PRIOR_WEIGHT`` observations plus every reported quality, and the success rate starts at
  ``PRIOR_WEIGHT`` successes. (A learned per-request model replaces this when it exists.)

Feasible agents are active, not behind an open circuit, not excluded, have every required
capability and meet max_cost, budget_remaining, max_latency_ms and min_quality on these estimates.
Each infeasible agent keeps the first rule it failed, in that order, as its reason.

Utilities, all in units of expected quality, higher is better. Costs and latencies enter as
log10 ratios to the cheapest/fastest feasible agent, so they are unit-free and "ten times the price"
weighs the same whatever the currency scale (``C0`` keeps free agents finite):

* quality:            q − 0.01·Δc − 0.005·Δl        (cost and latency only break near-ties)
* cost:               −Δc + 0.01·q − 0.001·Δl
* latency:            −Δl + 0.01·q − 0.001·Δc
* balanced:           q − 0.1·Δc − 0.05·Δl          (a 10× dearer agent must be 0.1 better)
* quality_per_dollar: 0.1·log10(q / (cost + C0))    (the ratio, ranked by its logarithm)
* willingness_to_pay w (overrides the objective): q − cost / w, with w the USD paid for +1 quality.
with Δc = log10((cost + C0)/(min cost + C0)) and Δl = log10(latency / min latency).

Confidence is the softmax probability of the chosen agent over the feasible agents' utilities at
temperature ``TEMPERATURE`` (utilities differing by TEMPERATURE quality units give odds of e:1):
1.0 with one feasible agent, 1/n when n agents tie. It is not yet calibrated against outcomes.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routerd.domain import OBJECTIVES, OPEN, AgentRecord
from routerd.engine.health import BreakerPolicy
from routerd.engine.registry import capability_text, check_number
from routerd.errors import InvalidArgument
from routerd.model.embedder import Embedder

PRIOR_WEIGHT = 10.0
C0 = 1e-6  # USD: the price below which costs stop mattering
TEMPERATURE = 0.05
TEXT_MAX = 1_000_000
MODEL_VERSION = "observed-quality/1"
SMALL_TABLE = 32  # up to this many agents a single request is routed in Python floats (see _route_one)

# Rejection reasons, in the order the rules are checked.
OK, INACTIVE, CIRCUIT_OPEN, EXCLUDED, MISSING_CAPABILITY, MAX_COST, BUDGET, MAX_LATENCY, MIN_QUALITY = range(9)
_SHORT = {INACTIVE: "inactive", CIRCUIT_OPEN: "circuit open", EXCLUDED: "excluded",
          MISSING_CAPABILITY: "missing capability", MAX_COST: "max_cost", BUDGET: "budget_remaining",
          MAX_LATENCY: "max_latency_ms", MIN_QUALITY: "min_quality"}


@dataclass(frozen=True, slots=True)
class RouteQuery:
    text: str = ""
    embedding: np.ndarray | None = None
    objective: str = "balanced"
    required_capabilities: tuple[str, ...] = ()
    excluded_agents: tuple[str, ...] = ()
    max_cost: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    budget_remaining: float | None = None
    willingness_to_pay: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    context: Mapping[str, str] = field(default_factory=dict)


def validate_query(q: RouteQuery, dim: int, prefix: str = "") -> RouteQuery:
    """Raise ``InvalidArgument`` naming the field (with ``prefix``, e.g. "requests[3].")."""
    if not q.text and (q.embedding is None or q.embedding.size == 0):
        raise InvalidArgument(f"{prefix}request", "give the request text or its embedding")
    if len(q.text) > TEXT_MAX:
        raise InvalidArgument(f"{prefix}request", f"is {len(q.text)} characters; at most {TEXT_MAX}")
    if q.embedding is not None and q.embedding.size:
        if q.embedding.shape != (dim,):
            got = q.embedding.size if q.embedding.ndim == 1 else f"an array of shape {q.embedding.shape}"
            raise InvalidArgument(f"{prefix}embedding", f"expected {dim} dimensions, not {got}")
        if not np.isfinite(q.embedding).all():
            raise InvalidArgument(f"{prefix}embedding", "must contain only finite numbers")
    if q.objective not in OBJECTIVES:
        raise InvalidArgument(f"{prefix}objective",
                              f"unknown objective {q.objective!r}; valid: {', '.join(OBJECTIVES)}")
    c = f"{prefix}constraints."
    for value, name, strict, high in ((q.max_cost, f"{c}max_cost", False, None),
                                       (q.max_latency_ms, f"{c}max_latency_ms", True, None),
                                       (q.min_quality, f"{c}min_quality", False, 1.0),
                                       (q.budget_remaining, f"{prefix}budget_remaining", False, None),
                                       (q.willingness_to_pay, f"{prefix}willingness_to_pay", True, None)):
        if value is not None:
            check_number(value, name, strict=strict, maximum=high)
    for name, v in (("input_tokens", q.input_tokens), ("output_tokens", q.output_tokens)):
        if v is not None and v < 0:
            raise InvalidArgument(f"{prefix}{name}", f"must be >= 0, got {v}")
    for i, cap in enumerate(q.required_capabilities):
        if not cap:
            raise InvalidArgument(f"{c}required_capabilities[{i}]", "must not be empty")
    return q


class AgentTable:
    """The registry as arrays, rebuilt when the registry's version changes."""

    def __init__(self, version: int, records: Sequence[AgentRecord], embedder: Embedder,
                 policy: BreakerPolicy):
        self.version = version
        self.records = list(records)
        self.names = [r.name for r in self.records]
        self.index = {n: i for i, n in enumerate(self.names)}
        n = len(self.records)
        f8 = np.float64
        self.active = np.array([r.spec.active for r in self.records], dtype=bool)
        self.open_until = np.array(
            [(r.stats.breaker_opened_at or 0.0) + policy.cooldown_s if r.stats.breaker_state == OPEN
             else -math.inf for r in self.records], dtype=f8)
        self.any_open = bool(np.isfinite(self.open_until).any())
        self.any_inactive = not bool(self.active.all())
        self.state = [r.stats.breaker_state for r in self.records]
        self.in1k = np.array([r.spec.cost.per_1k_input_tokens for r in self.records], dtype=f8)
        self.out1k = np.array([r.spec.cost.per_1k_output_tokens for r in self.records], dtype=f8)
        self.per_call = np.array([r.spec.cost.per_call for r in self.records], dtype=f8)
        self.per_second = np.array([r.spec.cost.per_second for r in self.records], dtype=f8)
        self.typical_out = np.array([r.spec.typical_output_tokens for r in self.records], dtype=f8)
        self.latency = np.array(
            [r.stats.p95_latency_ms if r.stats.p95_latency_ms is not None else r.spec.latency_prior_ms
             for r in self.records], dtype=f8)
        self.quality = np.array([expected_quality(r) for r in self.records], dtype=f8)
        self.caps: dict[str, np.ndarray] = {}
        for i, r in enumerate(self.records):
            for cap in r.spec.capabilities:
                self.caps.setdefault(cap, np.zeros(n, dtype=bool))[i] = True
        self.cap_embeddings = (embedder.embed([capability_text(r.spec) for r in self.records])
                               if n else np.zeros((0, embedder.dim), dtype=np.float32))
        # The cost part that does not depend on the request.
        self.base_cost = (self.per_call + self.latency / 1000.0 * self.per_second
                          + self.typical_out / 1000.0 * self.out1k)
        self.in_per_token = self.in1k / 1000.0
        self.log_latency = np.log10(np.maximum(self.latency, 1e-3))
        # The same columns as Python lists and sets, for the small-request fast path.
        self.l_in_per_token = self.in_per_token.tolist()
        self.l_base_cost = self.base_cost.tolist()
        self.l_out1k = self.out1k.tolist()
        self.l_typical_out = self.typical_out.tolist()
        self.l_latency = self.latency.tolist()
        self.l_quality = self.quality.tolist()
        self.l_open_until = self.open_until.tolist()
        self.l_active = self.active.tolist()
        self.l_caps = [frozenset(r.spec.capabilities) for r in self.records]


def expected_quality(r: AgentRecord) -> float:
    s = r.stats
    blended = (r.spec.quality_prior * PRIOR_WEIGHT + s.quality_sum) / (PRIOR_WEIGHT + s.quality_count)
    success = (s.successes + PRIOR_WEIGHT) / (s.total_requests + PRIOR_WEIGHT)
    return float(min(1.0, max(0.0, blended * success)))


@dataclass(slots=True)
class Alternative:
    agent_name: str
    score: float | None
    feasible: bool
    reason: str
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float


@dataclass(slots=True)
class Decision:
    decision_id: str
    decided_at: float
    objective: str
    agent_name: str | None
    confidence: float
    estimated_cost: float
    estimated_latency_ms: float
    expected_quality: float
    similarity: float
    model_version: str
    query: RouteQuery
    # Row data for the lazily built explanations.
    table: AgentTable
    cost: np.ndarray
    utility: np.ndarray
    codes: np.ndarray
    chosen: int
    budget_note: str = ""
    batch_left: float | None = None  # what the batch budget had left when this request was routed
    ranked: np.ndarray | None = None  # cache of ranked_feasible()

    @property
    def routed(self) -> bool:
        return self.agent_name is not None

    def reason_for(self, i: int) -> str:
        t, q, code = self.table, self.query, int(self.codes[i])
        if code == INACTIVE:
            return "inactive"
        if code == CIRCUIT_OPEN:
            return f"circuit open after repeated failures ({t.state[i]})"
        if code == EXCLUDED:
            return "excluded by the request"
        if code == MISSING_CAPABILITY:
            missing = [c for c in q.required_capabilities if c not in t.records[i].spec.capabilities]
            return f"missing capability: {', '.join(missing)}"
        if code == MAX_COST:
            return f"estimated cost ${self.cost[i]:.6g} exceeds max_cost ${q.max_cost:.6g}"
        if code == BUDGET:
            if q.budget_remaining is not None and self.cost[i] > q.budget_remaining:
                return f"estimated cost ${self.cost[i]:.6g} exceeds the remaining budget ${q.budget_remaining:.6g}"
            left = self.batch_left if self.batch_left is not None else 0.0
            return f"estimated cost ${self.cost[i]:.6g} exceeds what is left of the batch budget, ${left:.6g}"
        if code == MAX_LATENCY:
            return f"expected latency {t.latency[i]:.6g} ms exceeds max_latency_ms {q.max_latency_ms:.6g}"
        if code == MIN_QUALITY:
            return f"expected quality {t.quality[i]:.3f} is below min_quality {q.min_quality:.3f}"
        gap = self.utility[self.chosen] - self.utility[i] if self.chosen >= 0 else 0.0
        why = []
        c = self.chosen
        if t.quality[i] < t.quality[c]:
            why.append("lower quality")
        if self.cost[i] > self.cost[c]:
            why.append("costlier")
        if t.latency[i] > t.latency[c]:
            why.append("slower")
        return f"utility {gap:.4f} below the chosen agent" + (f" ({', '.join(why)})" if why else "")

    def ranked_feasible(self) -> np.ndarray:
        """Indices of the feasible agents other than the chosen one, best first."""
        if self.ranked is None:
            feasible = self.codes == OK
            order = np.argsort(-np.where(feasible, self.utility, -np.inf), kind="stable")
            order = order[feasible[order]]
            self.ranked = np.asarray(order[order != self.chosen])
        return self.ranked

    def alternatives(self, limit: int | None = None) -> list[Alternative]:
        """Every other agent (at most ``limit``), feasible ones best first, then infeasible ones."""
        if limit == 0:
            return []
        t = self.table
        order = np.concatenate([self.ranked_feasible(), np.flatnonzero(self.codes != OK)])
        if limit is not None:
            order = order[:limit]
        out = []
        for i in order.tolist():
            ok = bool(self.codes[i] == OK)
            out.append(Alternative(t.names[i], float(self.utility[i]) if ok else None, ok, self.reason_for(i),
                                   float(self.cost[i]), float(t.latency[i]), float(t.quality[i])))
        return out

    @property
    def reasoning(self) -> str:
        t = self.table
        n = len(t.names)
        nf = int((self.codes == OK).sum())
        how = (f"willingness_to_pay ${self.query.willingness_to_pay:g} per unit of quality"
               if self.query.willingness_to_pay else f"objective {self.objective}")
        if not self.routed:
            if n == 0:
                return "no agent is registered"
            counts: dict[str, int] = {}
            for code in self.codes:
                counts[_SHORT[int(code)]] = counts.get(_SHORT[int(code)], 0) + 1
            parts = ", ".join(f"{k}: {v}" for k, v in counts.items())
            return f"no feasible agent among {n} ({parts}){self.budget_note}; see alternatives for each reason"
        c = self.chosen
        text = (f"chose {t.names[c]} by {how}: expected quality {t.quality[c]:.3f}, estimated cost "
                f"${self.cost[c]:.6g}, expected latency {t.latency[c]:.0f} ms; {nf} of {n} agents feasible")
        if nf > 1:
            r = int(self.ranked_feasible()[0])
            text += f"; runner-up {t.names[r]} by {self.utility[c] - self.utility[r]:.4f} utility"
        return text + self.budget_note


def _minus_feasible_min(x: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """x − (min of x over the feasible agents), row-wise; 0 where a row has no feasible agent.
    On logarithms this is the log of the ratio to the cheapest (fastest) feasible agent."""
    lo = np.where(feasible, x, np.inf).min(axis=1, keepdims=True)
    return np.asarray(x - np.where(lo == np.inf, 0.0, lo))


# Per objective: the weights of quality, Δc and Δl in ``wq·q − wc·Δc − wl·Δl`` (see the module docstring).
WEIGHTS: dict[str, tuple[float, float, float]] = {
    "quality": (1.0, 0.01, 0.005),
    "cost": (0.01, 1.0, 0.001),
    "latency": (0.01, 0.001, 1.0),
    "balanced": (1.0, 0.1, 0.05),
}


def utilities(objective: str, wtp: np.ndarray | None, q: np.ndarray, cost: np.ndarray, log_lat: np.ndarray,
              feasible: np.ndarray) -> np.ndarray:
    """(n, a) utilities for requests sharing ``objective``; rows with wtp > 0 use it instead.
    ``log_lat`` is log10 of the latencies (at least 1e-3 ms), which the table keeps ready."""
    if objective == "quality_per_dollar":
        u = 0.1 * np.log10(np.maximum(q, 1e-9) / (cost + C0))
    else:
        wq, wc, wl = WEIGHTS[objective]
        u = (wq * q - wc * _minus_feasible_min(np.log10(cost + C0), feasible)
             - wl * _minus_feasible_min(log_lat, feasible))
    if wtp is not None:
        has_wtp = wtp > 0
        u = np.where(has_wtp[:, None], q - cost / np.where(has_wtp, wtp, 1.0)[:, None], u)
    return np.asarray(u)


def utility_one(objective: str, wtp: float | None, q: float, cost: float, lat: float, min_cost: float,
                min_lat: float) -> float:
    """``utilities`` for one agent and one request, on Python floats (the small-request fast path)."""
    if wtp:
        return q - cost / wtp
    if objective == "quality_per_dollar":
        return 0.1 * math.log10(max(q, 1e-9) / (cost + C0))
    wq, wc, wl = WEIGHTS[objective]
    return (wq * q - wc * math.log10((cost + C0) / (min_cost + C0))
            - wl * math.log10(max(lat, 1e-3) / max(min_lat, 1e-3)))


_ID_PREFIX = os.urandom(6).hex()  # per process, so ids stay unique across restarts and replicas
_id_counter = itertools.count(1)


def new_decision_id() -> str:
    """24 hex digits: a random per-process prefix and a counter (cheaper than urandom per call)."""
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


class Router:
    """Routes batches of validated queries against an ``AgentTable``. Pure: no I/O."""

    def __init__(self, embedder: Embedder, policy: BreakerPolicy):
        self.embedder = embedder
        self.policy = policy

    def route(self, table: AgentTable, queries: Sequence[RouteQuery], *, now: float | None = None,
              batch_budget: float | None = None) -> list[Decision]:
        now = time.time() if now is None else now
        n, a = len(queries), len(table.names)
        if n == 1 and batch_budget is None and 0 < a <= SMALL_TABLE:
            return [self._route_one(table, queries[0], now)]
        if a == 0:
            empty = np.zeros(0)
            return [Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0, MODEL_VERSION,
                             q, table, empty, empty, empty.astype(np.int8), -1) for q in queries]
        f8 = np.float64
        tin = np.array([q.input_tokens if q.input_tokens is not None else math.ceil(len(q.text) / 4)
                        for q in queries], dtype=f8)
        cost = tin[:, None] * table.in_per_token + table.base_cost
        outs = [(i, q.output_tokens) for i, q in enumerate(queries) if q.output_tokens is not None]
        for i, o in outs:
            cost[i] += (o - table.typical_out) / 1000.0 * table.out1k

        codes = np.zeros((n, a), dtype=np.int8)

        def column(values: list[float | None], default: float) -> float | np.ndarray:
            """One bound per request, as a column (a plain float for a single request)."""
            if n == 1:
                return default if values[0] is None else values[0]
            return np.array([default if v is None else v for v in values])[:, None]

        # Constraint columns are built only when some request sets them (the common case is none).
        if any(q.min_quality is not None for q in queries):
            codes[table.quality[None, :] < column([q.min_quality for q in queries], -math.inf)] = MIN_QUALITY
        if any(q.max_latency_ms is not None for q in queries):
            codes[table.latency[None, :] > column([q.max_latency_ms for q in queries], math.inf)] = MAX_LATENCY
        if any(q.budget_remaining is not None for q in queries):
            codes[cost > column([q.budget_remaining for q in queries], math.inf)] = BUDGET
        if any(q.max_cost is not None for q in queries):
            codes[cost > column([q.max_cost for q in queries], math.inf)] = MAX_COST
        for i, q in enumerate(queries):
            if q.required_capabilities:
                have = np.ones(a, dtype=bool)
                for cap in q.required_capabilities:
                    m = table.caps.get(cap)
                    have &= m if m is not None else False
                codes[i, ~have] = MISSING_CAPABILITY
            for name in q.excluded_agents:
                j = table.index.get(name)
                if j is not None:
                    codes[i, j] = EXCLUDED
        if table.any_open:
            codes[:, table.open_until > now] = CIRCUIT_OPEN
        if table.any_inactive:
            codes[:, ~table.active] = INACTIVE
        feasible = codes == OK

        objectives = [q.objective for q in queries]
        kinds = set(objectives)
        wtp = (np.array([q.willingness_to_pay or 0.0 for q in queries])
               if any(q.willingness_to_pay for q in queries) else None)
        if len(kinds) == 1:
            utility = utilities(objectives[0], wtp, table.quality, cost, table.log_latency, feasible)
        else:
            utility = np.empty((n, a), dtype=f8)
            for obj in kinds:
                rows = np.array([o == obj for o in objectives])
                utility[rows] = utilities(obj, None if wtp is None else wtp[rows], table.quality, cost[rows],
                                          table.log_latency, feasible[rows])

        masked = np.where(feasible, utility, -np.inf)
        chosen = np.argmax(masked, axis=1)
        notes = [""] * n
        lefts: list[float | None] = [None] * n
        if batch_budget is not None:
            # Sequential by nature: each routed request spends from what the next ones may use.
            codes = codes.copy()
            remaining = batch_budget
            for i in range(n):
                lefts[i] = remaining
                over = feasible[i] & (cost[i] > remaining)
                if over.any():
                    codes[i, over] = BUDGET
                    masked[i, over] = -np.inf
                    chosen[i] = int(np.argmax(masked[i]))
                    notes[i] = f"; batch budget left ${remaining:.6g}"
                if np.isfinite(masked[i, chosen[i]]):
                    remaining -= float(cost[i, chosen[i]])
        rows = np.arange(n)
        best = masked[rows, chosen]
        routed = np.isfinite(best)
        # Softmax of the chosen utility; exp(-inf) is 0, so infeasible agents drop out by themselves
        # (an unrouted row sums to 0 and keeps confidence 0).
        mass = np.exp((masked - np.where(routed, best, 0.0)[:, None]) / TEMPERATURE).sum(axis=1)
        conf = np.divide(1.0, mass, out=np.zeros_like(mass), where=mass > 0)
        sims = self._similarities(table, queries, chosen)
        est_cost = cost[rows, chosen]
        decisions = []
        for i, (q, c, ok) in enumerate(zip(queries, chosen.tolist(), routed.tolist(), strict=True)):
            if ok:
                decisions.append(Decision(
                    new_decision_id(), now, q.objective, table.names[c], float(conf[i]), float(est_cost[i]),
                    float(table.latency[c]), float(table.quality[c]), float(sims[i]), MODEL_VERSION,
                    q, table, cost[i], utility[i], codes[i], c, notes[i], lefts[i]))
            else:
                decisions.append(Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0,
                                          MODEL_VERSION, q, table, cost[i], utility[i], codes[i], -1, notes[i],
                                          lefts[i]))
        return decisions

    def _route_one(self, t: AgentTable, q: RouteQuery, now: float) -> Decision:
        """``route`` for one request over a small table, in Python floats: numpy's per-call overhead
        dominates at this size, and twice so when the CPU is cold between network calls. It must
        agree with the vectorised path exactly (tests/unit/test_router.py checks it does)."""
        a = len(t.names)
        tin = q.input_tokens if q.input_tokens is not None else math.ceil(len(q.text) / 4)
        cost = [tin * ipt + base for ipt, base in zip(t.l_in_per_token, t.l_base_cost, strict=True)]
        if q.output_tokens is not None:
            cost = [c + (q.output_tokens - to) / 1000.0 * o
                    for c, to, o in zip(cost, t.l_typical_out, t.l_out1k, strict=True)]
        required = frozenset(q.required_capabilities)
        excluded = frozenset(q.excluded_agents)
        codes = [OK] * a
        for i in range(a):
            if not t.l_active[i]:
                codes[i] = INACTIVE
            elif t.l_open_until[i] > now:
                codes[i] = CIRCUIT_OPEN
            elif t.names[i] in excluded:
                codes[i] = EXCLUDED
            elif required and not required <= t.l_caps[i]:
                codes[i] = MISSING_CAPABILITY
            elif q.max_cost is not None and cost[i] > q.max_cost:
                codes[i] = MAX_COST
            elif q.budget_remaining is not None and cost[i] > q.budget_remaining:
                codes[i] = BUDGET
            elif q.max_latency_ms is not None and t.l_latency[i] > q.max_latency_ms:
                codes[i] = MAX_LATENCY
            elif q.min_quality is not None and t.l_quality[i] < q.min_quality:
                codes[i] = MIN_QUALITY
        feasible = [i for i in range(a) if codes[i] == OK]
        utility = [-math.inf] * a
        chosen = -1
        if feasible:
            min_cost = min(cost[i] for i in feasible)
            min_lat = min(max(t.l_latency[i], 1e-3) for i in feasible)
            for i in range(a):
                utility[i] = utility_one(q.objective, q.willingness_to_pay, t.l_quality[i], cost[i], t.l_latency[i],
                                         min_cost, min_lat)
            chosen = max(feasible, key=lambda i: (utility[i], -i))  # first of equals, as np.argmax
        d = Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0, MODEL_VERSION, q, t,
                     np.array(cost), np.array(utility), np.array(codes, dtype=np.int8), chosen)
        if chosen < 0:
            return d
        best = utility[chosen]
        d.agent_name = t.names[chosen]
        d.confidence = 1.0 / sum(math.exp((utility[i] - best) / TEMPERATURE) for i in feasible)
        d.estimated_cost = cost[chosen]
        d.estimated_latency_ms = t.l_latency[chosen]
        d.expected_quality = t.l_quality[chosen]
        d.similarity = float(self._similarities(t, [q], np.array([chosen]))[0])
        return d

    def _similarities(self, table: AgentTable, queries: Sequence[RouteQuery], chosen: np.ndarray) -> np.ndarray:
        """Cosine similarity of each request to its chosen agent's capability text."""
        if len(queries) == 1:
            q = queries[0]
            if q.embedding is not None and q.embedding.size:
                norm = math.sqrt(float(q.embedding @ q.embedding))
                dot = float(q.embedding @ table.cap_embeddings[chosen[0]])
                return np.array([dot / norm if norm > 0 else 0.0])
            # embedder rows are unit-length (or zero), so the dot product is the cosine
            return np.array([float(self.embedder.embed([q.text])[0] @ table.cap_embeddings[chosen[0]])])
        emb = np.empty((len(queries), self.embedder.dim), dtype=np.float32)
        texts = [(i, q.text) for i, q in enumerate(queries) if q.embedding is None or not q.embedding.size]
        if texts:
            emb[[i for i, _ in texts]] = self.embedder.embed([t for _, t in texts])
        for i, q in enumerate(queries):
            if q.embedding is not None and q.embedding.size:
                emb[i] = q.embedding
        norms = np.sqrt(np.einsum("ij,ij->i", emb, emb))
        norms[norms == 0] = np.inf
        return np.asarray(np.einsum("ij,ij->i", emb, table.cap_embeddings[chosen]) / norms)
