"""A routing decision and its explanations (reasoning, ranked alternatives), built only when read."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerd.engine.feasibility import BY_CODE, OK
from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable

_ID_PREFIX = os.urandom(6).hex()  # per process, so ids stay unique across restarts and replicas
_id_counter = itertools.count(1)


def new_decision_id() -> str:
    """24 hex digits: a random per-process prefix and a counter (cheaper than urandom per call)."""
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


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
    # Per-agent rows of this request, for the explanations.
    table: AgentTable
    cost: np.ndarray
    quality: np.ndarray
    utility: np.ndarray
    codes: np.ndarray
    chosen: int
    budget_note: str = ""
    batch_left: float | None = None  # what the batch budget had left when this request was routed
    ranked: np.ndarray | None = None  # cache of ranked_feasible()
    # The semantic route the request matched (routerd.engine.routes), and what came of it.
    route_name: str | None = None
    route_similarity: float = 0.0
    route_note: str = ""  # why the route's target was or was not used
    inferred_capabilities: tuple[str, ...] = ()
    by_route: bool = False  # the route's target was chosen instead of the best utility
    # Configured budgets (routerd.engine.budgets): what this decision reserved, (budget, USD) each,
    # and the call's limits with this request's row in them (for the explanations).
    charges: tuple[tuple[str, float], ...] = ()
    charge_rows: tuple[Any, ...] = ()  # the same as store rows (ChargeRecord), set by the BudgetBook
    budget_limits: Any = None
    budget_row: int = -1
    # The estimated cost on the agent of highest expected quality (analytics' counterfactual).
    reference_cost: float | None = None

    @property
    def routed(self) -> bool:
        return self.agent_name is not None

    def reason_for(self, i: int) -> str:
        code = int(self.codes[i])
        if code != OK:
            explain = BY_CODE[code].explain
            assert explain is not None
            return explain(self, i)
        t, c = self.table, self.chosen
        gap = self.utility[c] - self.utility[i] if c >= 0 else 0.0
        if self.by_route and gap < 0:
            return f"not route {self.route_name}'s target (utility {-gap:.4f} above it)"
        why = []
        if self.quality[i] < self.quality[c]:
            why.append("lower quality")
        if self.cost[i] > self.cost[c]:
            why.append("costlier")
        if t.latency[i] > t.latency[c]:
            why.append("slower")
        return f"utility {gap:.4f} below the chosen agent" + (f" ({', '.join(why)})" if why else "")

    def ranked_feasible(self) -> np.ndarray:
        """Indices of the feasible agents other than the chosen one, best first, equal utilities in
        the agents' order. (A full argsort: at registry sizes it beats any partial selection.)"""
        if self.ranked is None:
            key = np.where(self.codes == OK, self.utility, -np.inf)
            if self.chosen >= 0:
                key[self.chosen] = -np.inf
            order = np.argsort(-key, kind="stable")
            self.ranked = order[:int(np.isfinite(key).sum())]
        return self.ranked

    def alternatives(self, limit: int | None = None) -> list[Alternative]:
        """Every other agent (at most ``limit``), feasible ones best first, then infeasible ones."""
        if limit == 0:
            return []
        ranked = self.ranked_feasible()
        if limit is not None and limit <= len(ranked):
            order = ranked[:limit].tolist()
        else:
            order = np.concatenate([ranked, np.flatnonzero(self.codes != OK)])[:limit].tolist()
        t, codes, utility, cost, quality = self.table, self.codes, self.utility, self.cost, self.quality
        out = []
        for i in order:
            ok = bool(codes[i] == OK)
            out.append(Alternative(t.names[i], float(utility[i]) if ok else None, ok, self.reason_for(i),
                                   float(cost[i]), float(t.latency[i]), float(quality[i])))
        return out

    @property
    def reasoning(self) -> str:
        t = self.table
        n = len(t.names)
        if self.by_route:
            how = f"semantic route {self.route_name}"
        elif self.query.willingness_to_pay:
            how = f"willingness_to_pay ${self.query.willingness_to_pay:g} per unit of quality"
        else:
            how = f"objective {self.objective}"
        if not self.routed:
            if n == 0:
                return "no agent is registered"
            counts: dict[str, int] = {}
            for code, k in zip(*np.unique(self.codes, return_counts=True), strict=True):
                counts[BY_CODE[int(code)].name] = int(k)
            parts = ", ".join(f"{k}: {v}" for k, v in counts.items())
            return (f"no feasible agent among {n} ({parts}){self.budget_note}{self._inferred_note}{self.route_note}; "
                    "see alternatives for each reason")
        c = self.chosen
        nf = int((self.codes == OK).sum())
        text = (f"chose {t.names[c]} by {how}: expected quality {self.quality[c]:.3f}, estimated cost "
                f"${self.cost[c]:.6g}, expected latency {t.latency[c]:.0f} ms; {nf} of {n} agents feasible")
        if nf > 1 and not self.by_route:
            r = int(self.ranked_feasible()[0])
            text += f"; runner-up {t.names[r]} by {self.utility[c] - self.utility[r]:.4f} utility"
        return text + self.budget_note + self._inferred_note + self.route_note

    @property
    def _inferred_note(self) -> str:
        if not self.inferred_capabilities:
            return ""
        return f"; inferred required capabilities: {', '.join(self.inferred_capabilities)}"
