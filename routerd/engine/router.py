"""The router: per-request estimates, the feasibility rules, the objective's utility, the choice.

For a request r and an agent a (DESIGN.md, "What a routing decision is"):

* tokens_in(r) = the caller's input_tokens, else ceil(len(text) / 4) (about four characters a
  token for English); tokens_out(r, a) = the caller's output_tokens, else a's typical_output_tokens.
* latency(a) = a's observed p95 once it has outcomes, else its latency prior (ms).
* cost(r, a) = tokens_in/1000·in_price + tokens_out/1000·out_price + per_call + latency/1000·per_second.
* quality(r, a) = the ``QualityModel``'s prediction: the live learned model's per-request quality
  blended with the observed quality (``routerd.engine.learning``), else the prior blended with
  recorded outcomes, the same for every request (``routerd.engine.quality``).
* confidence = with a learned model, the chosen agent's quality (a calibrated P(adequate)); else the
  softmax of the utilities (``routerd.engine.objectives.confidence``).

Feasible agents pass every rule of ``routerd.engine.feasibility.RULES`` (active, circuit not open, not
excluded, every required capability, max_cost, budget_remaining, max_latency_ms, min_quality on
these estimates); an infeasible agent keeps the first rule it failed as its reason. Among the
feasible agents the highest utility wins (``routerd.engine.objectives``), first of equals.

Semantic routes (``routerd.semantic``): when routes exist, every request is matched first. With
``infer_capabilities`` the classifier's capabilities above the threshold join the requirements. A
request whose best route clears its threshold and conditions prefers the route's target agent when
that agent is feasible (the decision's confidence is then the match's calibrated probability);
otherwise the scorer's choice stands and the reasoning says why the target was not used.

There is one path: the estimates, the quality matrix and the static rules are computed the same way
for one request or many; the bound rules, utility, argmax and confidence then run in the compiled
kernel for a single request (``routerd.engine.kernel``) and in numpy for a batch, the same formulas.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from routerd.engine import kernel
from routerd.engine.budgets import BudgetLimits
from routerd.engine.decision import Decision, new_decision_id
from routerd.engine.feasibility import BUDGET, BUDGET_LIMIT, OK, apply_bounds, bounds_of, static_codes
from routerd.engine.objectives import C0, TEMPERATURE, WEIGHTS, confidence, utility, utility_kind
from routerd.engine.quality import ObservedQuality, QualityModel
from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable
from routerd.model.embedders import Embedder
from routerd.semantic import RateLimiter, RouteSet

CAPABILITY_THRESHOLD = 0.5  # default of RouteRequest.capability_threshold


class Router:
    """Routes validated queries against an ``AgentTable``. Pure: no I/O."""

    def __init__(self, embedder: Embedder, model: QualityModel | None = None):
        self.embedder = embedder
        self.model: QualityModel = model or ObservedQuality()

    def route(self, table: AgentTable, queries: Sequence[RouteQuery], *, now: float | None = None,
              batch_budget: float | None = None, routes: RouteSet | None = None,
              limiter: RateLimiter | None = None, limits: BudgetLimits | None = None) -> list[Decision]:
        """``limits``: the configured budgets' (``BudgetBook.limits`` for these queries); each routed
        request is charged in it, in order."""
        now = time.time() if now is None else now
        embeddings = None
        matched: list[Any] | None = None
        inferred: list[tuple[str, ...]] | None = None
        if routes is not None and len(routes):
            embeddings = self._embeddings(queries)
            queries, inferred = self._infer_capabilities(table, routes, queries, embeddings)
            matched = routes.match(embeddings, 1, now=now, user_tiers=[q.context.get("user_tier") for q in queries],
                                   limiter=limiter, consume=True)
        prefer = None
        if matched is not None:
            prefer = np.array([table.index.get(r.matches[0].spec.target_agent or "", -1) if r.matches else -1
                               for r in matched])
        decisions = self._route(table, queries, now, batch_budget, embeddings, prefer, limits)
        if matched is not None:
            for i, (d, result) in enumerate(zip(decisions, matched, strict=True)):
                if inferred is not None:
                    d.inferred_capabilities = inferred[i]
                if result.matches:
                    self._prefer_target(d, result.matches[0], embeddings[i] if embeddings is not None else None)
        return decisions

    @staticmethod
    def _infer_capabilities(table: AgentTable, routes: RouteSet, queries: Sequence[RouteQuery],
                            embeddings: np.ndarray) -> tuple[Sequence[RouteQuery], list[tuple[str, ...]] | None]:
        if not any(q.infer_capabilities for q in queries):
            return queries, None
        caps = {name: sorted(c) for name, c in zip(table.names, table.capabilities, strict=True)}
        out = list(queries)
        inferred: list[tuple[str, ...]] = [()] * len(queries)
        for i, q in enumerate(queries):
            if not q.infer_capabilities:
                continue
            threshold = q.capability_threshold if q.capability_threshold is not None else CAPABILITY_THRESHOLD
            need = routes.classify(embeddings[i], len(routes), caps).capabilities
            have = set(q.required_capabilities)
            added = tuple(c.capability for c in need if c.probability >= threshold and c.capability not in have)
            if added:
                inferred[i] = added
                out[i] = dataclasses.replace(q, required_capabilities=(*q.required_capabilities, *added))
        return out, inferred

    def _prefer_target(self, d: Decision, match: Any, embedding: np.ndarray | None) -> None:
        """Record the route ``d``'s request matched; choose its target agent when that is feasible."""
        spec, t = match.spec, d.table
        d.route_name, d.route_similarity = spec.name, float(match.similarity)
        how = f"route {spec.name} matched (similarity {match.similarity:.3f} >= threshold {match.threshold:.3f})"
        target = spec.target_agent
        if not target:
            d.route_note = f"; {how}, it names no target agent"
            return
        i = t.index.get(target)
        if i is None:
            d.route_note = f"; {how}, its target {target} is not registered: the scorer chose"
            return
        if d.codes[i] != OK:
            d.route_note = f"; {how}, its target {target} was not used ({d.reason_for(i)}): the scorer chose"
            return
        if d.chosen == i:
            d.route_note = f"; {how}, its target {target} is also the scorer's choice"
            d.confidence = max(d.confidence, float(match.confidence))
            return
        d.route_note = f"; {how}: routed to its target {target}"
        if d.chosen >= 0:
            d.route_note += f" over the scorer's choice {t.names[d.chosen]} ({d.objective})"
        d.by_route = True
        d.chosen, d.ranked = i, None
        d.agent_name = target
        d.confidence = float(match.confidence)
        d.estimated_cost = float(d.cost[i])
        d.estimated_latency_ms = float(t.latency[i])
        d.expected_quality = float(d.quality[i])
        if embedding is not None:
            norm = float(np.linalg.norm(embedding))
            d.similarity = float(embedding @ t.cap_embeddings[i]) / norm if norm > 0 else 0.0

    def _route(self, table: AgentTable, queries: Sequence[RouteQuery], now: float, batch_budget: float | None,
               embeddings: np.ndarray | None, prefer: np.ndarray | None = None,
               limits: BudgetLimits | None = None) -> list[Decision]:
        """The scorer's decisions. ``prefer`` (a route's target per request, -1 for none) only matters
        under a batch budget or budgets: a feasible preferred agent is what the request spends."""
        n, a = len(queries), len(table)
        model = self.model  # one model for the whole call, whatever a promotion swaps in meanwhile
        version = model.version
        if a == 0:
            empty = np.zeros(0)
            return [Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0, version,
                             q, table, empty, empty, empty, empty.astype(np.int8), -1) for q in queries]
        if embeddings is None and model.needs_embeddings:
            embeddings = self._embeddings(queries)
        quality = model.predict(table, queries, embeddings)
        cost = self._cost(table, queries)
        codes = static_codes(table, queries, now)
        reference = self._reference_costs(codes, cost, quality)
        if n == 1 and batch_budget is None and limits is None:
            d = self._decide_one(table, queries[0], cost[0], quality[0], codes[0], now, version, embeddings)
            if model.calibrated and d.chosen >= 0:
                d.confidence = d.expected_quality  # P(the chosen agent's answer is adequate)
            d.reference_cost = reference[0]
            return [d]

        apply_bounds(codes, queries, (cost, table.latency, quality))
        feasible = codes == OK
        util = self._utilities(queries, quality, cost, table.log_latency, feasible)
        masked = np.where(feasible, util, -np.inf)
        chosen = np.argmax(masked, axis=1)
        notes = [""] * n
        lefts: list[float | None] = [None] * n
        if batch_budget is not None or limits is not None:
            # Sequential by nature: each routed request spends from what the next ones may use.
            remaining = batch_budget if batch_budget is not None else math.inf
            for i in range(n):
                if limits is not None:
                    self._apply_limits(limits, i, queries[i], codes, feasible, util, masked, chosen, quality, cost,
                                       table.log_latency)
                if batch_budget is not None:
                    lefts[i] = remaining
                    over = feasible[i] & (cost[i] > remaining)
                    if over.any():
                        codes[i, over] = BUDGET
                        feasible[i, over] = False
                        masked[i, over] = -np.inf
                        chosen[i] = int(np.argmax(masked[i]))
                        notes[i] = f"; batch budget left ${remaining:.6g}"
                spend = chosen[i]
                if prefer is not None and prefer[i] >= 0 and np.isfinite(masked[i, prefer[i]]):
                    spend = prefer[i]  # the route's target will be chosen (Router._prefer_target)
                if np.isfinite(masked[i, spend]):
                    remaining -= float(cost[i, spend])
                    if limits is not None:
                        limits.charge(i, int(spend), float(cost[i, spend]))
        rows = np.arange(n)
        best = masked[rows, chosen]
        routed = np.isfinite(best)
        sims = self._similarities(table, queries, chosen, embeddings)
        est_cost = cost[rows, chosen]
        est_q = quality[rows, chosen]
        conf = np.where(routed, est_q, 0.0) if model.calibrated else confidence(masked, best, routed)
        decisions = []
        for i, (q, c, ok) in enumerate(zip(queries, chosen.tolist(), routed.tolist(), strict=True)):
            if ok:
                d = Decision(
                    new_decision_id(), now, q.objective, table.names[c], float(conf[i]), float(est_cost[i]),
                    float(table.latency[c]), float(est_q[i]), float(sims[i]), version,
                    q, table, cost[i], quality[i], util[i], codes[i], c, notes[i], lefts[i])
            else:
                d = Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0,
                             version, q, table, cost[i], quality[i], util[i], codes[i], -1, notes[i], lefts[i])
            d.reference_cost = reference[i]
            if limits is not None:
                d.charges, d.budget_limits, d.budget_row = limits.charges_of(i), limits, i
            decisions.append(d)
        return decisions

    @staticmethod
    def _reference_costs(codes: np.ndarray, cost: np.ndarray, quality: np.ndarray) -> list[float | None]:
        """Per request, the estimated cost on the usable agent (static rules) of highest expected
        quality: what sending it to the best agent would have cost (analytics' savings)."""
        usable = codes == OK
        best = np.argmax(np.where(usable, quality, -np.inf), axis=1)
        rows = np.arange(len(codes))
        ref = cost[rows, best]
        return [float(r) if ok else None for r, ok in zip(ref.tolist(), usable.any(axis=1).tolist(), strict=True)]

    def _apply_limits(self, limits: BudgetLimits, i: int, q: RouteQuery, codes: np.ndarray, feasible: np.ndarray,
                      util: np.ndarray, masked: np.ndarray, chosen: np.ndarray, quality: np.ndarray, cost: np.ndarray,
                      log_latency: np.ndarray) -> None:
        """Request ``i`` under the budgets: agents over a hard budget's headroom (or a spent soft one)
        become infeasible; a soft budget past half spent weighs the cost term ``pace`` times:
        utility -= (pace - 1) * w * delta_c, w the objective's cost weight (0.1 for quality_per_dollar;
        with a willingness to pay, (pace - 1) * cost / wtp)."""
        headroom, spent, weights = limits.row(i)
        over = feasible[i] & ((cost[i] > headroom) | spent)
        if not over.any() and weights is None:
            return
        codes[i, over] = BUDGET_LIMIT
        feasible[i, over] = False
        row = self._utilities([q], quality[i:i + 1], cost[i:i + 1], log_latency, feasible[i:i + 1])[0]
        if weights is not None:
            if q.willingness_to_pay:
                row = row - (weights - 1.0) * cost[i] / q.willingness_to_pay
            else:
                wc = 0.1 if q.objective == "quality_per_dollar" else WEIGHTS[q.objective][1]
                logc = np.log10(cost[i] + C0)
                lo = logc[feasible[i]].min() if feasible[i].any() else 0.0
                row = row - (weights - 1.0) * wc * (logc - lo)
        util[i] = row
        masked[i] = np.where(feasible[i], row, -np.inf)
        chosen[i] = int(np.argmax(masked[i]))

    def _decide_one(self, t: AgentTable, q: RouteQuery, cost: np.ndarray, quality: np.ndarray, codes: np.ndarray,
                    now: float, version: str, embeddings: np.ndarray | None) -> Decision:
        util = np.empty(len(t))
        quality = np.ascontiguousarray(quality, dtype=np.float64)
        chosen, conf = kernel.route_one(cost, t.latency, t.log_latency, quality, codes, util, bounds_of(q),
                                        *utility_kind(q.objective, q.willingness_to_pay), C0, TEMPERATURE)
        d = Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0, version, q, t,
                     cost, quality, util, codes, chosen)
        if chosen >= 0:
            d.agent_name = t.names[chosen]
            d.confidence = conf
            d.estimated_cost = float(cost[chosen])
            d.estimated_latency_ms = float(t.latency[chosen])
            d.expected_quality = float(quality[chosen])
            d.similarity = float(self._similarities(t, [q], np.array([chosen]), embeddings)[0])
        return d

    @staticmethod
    def _cost(table: AgentTable, queries: Sequence[RouteQuery]) -> np.ndarray:
        """(n, a) estimated cost of each request on each agent (USD)."""
        if len(queries) == 1:
            q = queries[0]
            tin = q.input_tokens if q.input_tokens is not None else math.ceil(len(q.text) / 4)
            cost = tin * table.in_per_token + table.base_cost
            if q.output_tokens is not None:
                cost += (q.output_tokens - table.typical_out) / 1000.0 * table.out1k
            return cost[None, :]
        tins = np.array([q.input_tokens if q.input_tokens is not None else math.ceil(len(q.text) / 4)
                         for q in queries], dtype=np.float64)
        costs = tins[:, None] * table.in_per_token + table.base_cost
        for i, q in enumerate(queries):
            if q.output_tokens is not None:
                costs[i] += (q.output_tokens - table.typical_out) / 1000.0 * table.out1k
        return np.asarray(costs)

    @staticmethod
    def _utilities(queries: Sequence[RouteQuery], quality: np.ndarray, cost: np.ndarray, log_latency: np.ndarray,
                   feasible: np.ndarray) -> np.ndarray:
        objectives = [q.objective for q in queries]
        kinds = set(objectives)
        wtp = (np.array([q.willingness_to_pay or 0.0 for q in queries])
               if any(q.willingness_to_pay for q in queries) else None)
        if len(kinds) == 1:
            return utility(objectives[0], wtp, quality, cost, log_latency, feasible)
        out = np.empty(cost.shape, dtype=np.float64)
        for obj in kinds:
            rows = np.array([o == obj for o in objectives])
            out[rows] = utility(obj, None if wtp is None else wtp[rows], quality[rows], cost[rows], log_latency,
                                feasible[rows])
        return out

    def _embeddings(self, queries: Sequence[RouteQuery]) -> np.ndarray:
        """(n, dim): each request's embedding, given or computed (texts embedded in one batch)."""
        emb = np.empty((len(queries), self.embedder.dim), dtype=np.float32)
        texts = [(i, q.text) for i, q in enumerate(queries) if not q.has_embedding]
        if texts:
            emb[[i for i, _ in texts]] = self.embedder.embed([t for _, t in texts])
        for i, q in enumerate(queries):
            if q.has_embedding:
                emb[i] = q.embedding
        return emb

    def _similarities(self, table: AgentTable, queries: Sequence[RouteQuery], chosen: np.ndarray,
                      embeddings: np.ndarray | None) -> np.ndarray:
        """Cosine similarity of each request to its chosen agent's capability text."""
        if len(queries) == 1 and embeddings is None:
            q = queries[0]
            if q.embedding is not None and q.embedding.size:
                norm = math.sqrt(float(q.embedding @ q.embedding))
                dot = float(q.embedding @ table.cap_embeddings[chosen[0]])
                return np.array([dot / norm if norm > 0 else 0.0])
            # embedder rows are unit-length (or zero), so the dot product is the cosine
            return np.array([float(self.embedder.embed([q.text])[0] @ table.cap_embeddings[chosen[0]])])
        emb = embeddings if embeddings is not None else self._embeddings(queries)
        norms = np.sqrt(np.einsum("ij,ij->i", emb, emb))
        norms[norms == 0] = np.inf
        return np.asarray(np.einsum("ij,ij->i", emb, table.cap_embeddings[chosen]) / norms)
