"""The router: per-request estimates, the feasibility rules, the objective's utility, the choice.

For a request r and an agent a (DESIGN.md, "What a routing decision is"):

* tokens_in(r) = the caller's input_tokens, else ceil(len(text) / 4) (about four characters a
  token for English); tokens_out(r, a) = the caller's output_tokens, else a's typical_output_tokens.
* latency(a) = a's observed p95 once it has outcomes, else its latency prior (ms).
* cost(r, a) = tokens_in/1000·in_price + tokens_out/1000·out_price + per_call + latency/1000·per_second.
* quality(r, a) = the ``QualityModel``'s prediction (``routerd.engine.quality``; by default the prior
  blended with recorded outcomes, the same for every request).

Feasible agents pass every rule of ``routerd.engine.feasibility.RULES`` (active, circuit not open, not
excluded, every required capability, max_cost, budget_remaining, max_latency_ms, min_quality on
these estimates); an infeasible agent keeps the first rule it failed as its reason. Among the
feasible agents the highest utility wins (``routerd.engine.objectives``), first of equals.

There is one path: the estimates, the quality matrix and the static rules are computed the same way
for one request or many; the bound rules, utility, argmax and confidence then run in the compiled
kernel for a single request (``routerd.engine.kernel``) and in numpy for a batch, the same formulas.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from routerd.engine import kernel
from routerd.engine.decision import Decision, new_decision_id
from routerd.engine.feasibility import BUDGET, OK, apply_bounds, bounds_of, static_codes
from routerd.engine.objectives import C0, TEMPERATURE, confidence, utility, utility_kind
from routerd.engine.quality import ObservedQuality, QualityModel
from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable
from routerd.model.embedders import Embedder


class Router:
    """Routes validated queries against an ``AgentTable``. Pure: no I/O."""

    def __init__(self, embedder: Embedder, model: QualityModel | None = None):
        self.embedder = embedder
        self.model: QualityModel = model or ObservedQuality()

    def route(self, table: AgentTable, queries: Sequence[RouteQuery], *, now: float | None = None,
              batch_budget: float | None = None) -> list[Decision]:
        now = time.time() if now is None else now
        n, a = len(queries), len(table)
        version = self.model.version
        if a == 0:
            empty = np.zeros(0)
            return [Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0, version,
                             q, table, empty, empty, empty, empty.astype(np.int8), -1) for q in queries]
        embeddings = self._embeddings(queries) if self.model.needs_embeddings else None
        quality = self.model.predict(table, embeddings, n)
        cost = self._cost(table, queries)
        codes = static_codes(table, queries, now)
        if n == 1 and batch_budget is None:
            return [self._decide_one(table, queries[0], cost[0], quality[0], codes[0], now, version, embeddings)]

        apply_bounds(codes, queries, (cost, table.latency, quality))
        feasible = codes == OK
        util = self._utilities(queries, quality, cost, table.log_latency, feasible)
        masked = np.where(feasible, util, -np.inf)
        chosen = np.argmax(masked, axis=1)
        notes = [""] * n
        lefts: list[float | None] = [None] * n
        if batch_budget is not None:
            # Sequential by nature: each routed request spends from what the next ones may use.
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
        conf = confidence(masked, best, routed)
        sims = self._similarities(table, queries, chosen, embeddings)
        est_cost = cost[rows, chosen]
        est_q = quality[rows, chosen]
        decisions = []
        for i, (q, c, ok) in enumerate(zip(queries, chosen.tolist(), routed.tolist(), strict=True)):
            if ok:
                decisions.append(Decision(
                    new_decision_id(), now, q.objective, table.names[c], float(conf[i]), float(est_cost[i]),
                    float(table.latency[c]), float(est_q[i]), float(sims[i]), version,
                    q, table, cost[i], quality[i], util[i], codes[i], c, notes[i], lefts[i]))
            else:
                decisions.append(Decision(new_decision_id(), now, q.objective, None, 0.0, 0.0, 0.0, 0.0, 0.0,
                                          version, q, table, cost[i], quality[i], util[i], codes[i], -1, notes[i],
                                          lefts[i]))
        return decisions

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
