"""The engine: registry, router, feedback and the decision log behind one object.

Servicers (and tests, benchmarks, the CLI in-process) call this; it never imports gRPC or SQL.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from routerd.domain import CLOSED, HALF_OPEN, OPEN, AgentRecord, DecisionRecord, OutcomeRecord
from routerd.engine.health import AgentWindows, BreakerPolicy, health_after
from routerd.engine.registry import Registry, check_number, validate_id, validate_name
from routerd.engine.router import MODEL_VERSION, AgentTable, Decision, RouteQuery, Router, validate_query
from routerd.errors import AgentNotFound, DecisionNotFound, InvalidArgument
from routerd.model.embedder import Embedder
from routerd.store.base import Store

log = logging.getLogger(__name__)

RECENT_DECISIONS = 100_000  # decisions remembered in memory for outcome lookups
PENDING_MAX = 1_000_000  # decisions buffered while the store is unavailable; older ones are dropped
BATCH_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Stats:
    agents: int
    active_agents: int
    decisions: int
    outcomes: int
    total_spend: float
    mean_quality: float | None
    success_rate: float | None
    open_circuits: int
    model_version: str


class Engine:
    def __init__(self, store: Store, embedder: Embedder, *, policy: BreakerPolicy | None = None,
                 clock: Callable[[], float] = time.time, flush_interval_s: float = 0.2):
        self.store = store
        self.embedder = embedder
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self.registry = Registry(store, embedder, clock)
        self.router = Router(embedder, self.policy)
        self.windows = AgentWindows()
        self._table: AgentTable | None = None
        self._table_lock = threading.Lock()
        self._outcome_lock = threading.Lock()
        self._pending: list[DecisionRecord] = []
        # decision id -> (agent or None, estimated cost), for outcomes that name only the decision
        self._recent: OrderedDict[str, tuple[str | None, float | None]] = OrderedDict()
        self._log_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        for rec in self.registry.snapshot()[1]:
            recent = store.recent_outcomes(rec.name, self.windows.size, rec.created_at)
            self.windows.seed(rec.name, [lat for lat, _ in recent], [ok for _, ok in recent])
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_interval_s,),
                                         name="decision-log", daemon=True)
        self._flusher.start()

    # -- routing ------------------------------------------------------------------------------
    def table(self) -> AgentTable:
        t = self._table
        if t is None or t.version != self.registry.version:
            with self._table_lock:
                version, records = self.registry.snapshot()
                t = self._table
                if t is None or t.version != version:
                    t = AgentTable(version, records, self.embedder, self.policy)
                    self._table = t
        return t

    def route(self, query: RouteQuery) -> Decision:
        validate_query(query, self.embedder.dim)
        d = self.router.route(self.table(), [query], now=self.clock())[0]
        self._log([d])
        return d

    def route_batch(self, queries: Sequence[RouteQuery], *, batch_budget: float | None = None) -> list[Decision]:
        if len(queries) > BATCH_MAX:
            raise InvalidArgument("requests", f"at most {BATCH_MAX} requests a batch, got {len(queries)}")
        if batch_budget is not None and not (math.isfinite(batch_budget) and batch_budget >= 0):
            raise InvalidArgument("batch_budget", f"must be a finite number >= 0, got {batch_budget!r}")
        for i, q in enumerate(queries):
            validate_query(q, self.embedder.dim, prefix=f"requests[{i}].")
        if not queries:
            return []
        ds = self.router.route(self.table(), queries, now=self.clock(), batch_budget=batch_budget)
        self._log(ds)
        return ds

    def remove_agent(self, name: str) -> AgentRecord:
        rec = self.registry.remove(name)
        self.windows.forget(name)
        return rec

    # -- decision log -------------------------------------------------------------------------
    def _log(self, decisions: Sequence[Decision]) -> None:
        recs = [DecisionRecord(d.decision_id, d.decided_at, d.agent_name, d.objective,
                               d.query.text[:1000].replace("\x00", ""),
                               d.estimated_cost if d.routed else None,
                               d.estimated_latency_ms if d.routed else None,
                               d.expected_quality if d.routed else None,
                               d.confidence if d.routed else None, d.model_version) for d in decisions]
        with self._log_lock:
            self._pending.extend(recs)
            for r in recs:
                self._recent[r.decision_id] = (r.agent_name, r.estimated_cost)
            while len(self._recent) > RECENT_DECISIONS:
                self._recent.popitem(last=False)

    def flush(self) -> None:
        """Write the buffered decision log. Safe to call from any thread."""
        with self._flush_lock:
            with self._log_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self.store.append_decisions(batch)
            except Exception:
                with self._log_lock:  # keep them for the next try, within bounds
                    self._pending[:0] = batch
                    if len(self._pending) > PENDING_MAX:
                        dropped = len(self._pending) - PENDING_MAX
                        del self._pending[:dropped]
                        log.error("decision log: store unavailable, dropped %d oldest decisions", dropped)
                raise

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except Exception:
                log.exception("decision log flush failed; will retry")

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(timeout=5)
        self.flush()

    # -- feedback -----------------------------------------------------------------------------
    def _decision(self, decision_id: str) -> tuple[str, float | None]:
        """The agent a decision routed to and its estimated cost."""
        with self._log_lock:
            hit = self._recent.get(decision_id)
        if hit is None:
            rec = self.store.get_decision(decision_id)
            if rec is None:
                raise DecisionNotFound(decision_id)
            hit = (rec.agent_name, rec.estimated_cost)
        agent, estimate = hit
        if agent is None:
            raise InvalidArgument("decision_id", f"decision {decision_id!r} routed to no agent")
        return agent, estimate

    def record_outcome(self, *, decision_id: str = "", agent_name: str = "", latency_ms: float,
                       success: bool, quality: float | None = None, cost: float | None = None,
                       input_tokens: int = 0, output_tokens: int = 0,
                       recorded_at: float | None = None) -> tuple[OutcomeRecord, AgentRecord]:
        if not decision_id and not agent_name:
            raise InvalidArgument("decision_id", "give the decision_id or the agent_name")
        if decision_id:
            validate_id(decision_id, "decision_id")
        if agent_name:
            validate_name(agent_name, "agent_name")
        check_number(latency_ms, "latency_ms")
        if quality is not None:
            check_number(quality, "quality", maximum=1.0)
        if cost is not None:
            check_number(cost, "cost")
        for name, v in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if v < 0:
                raise InvalidArgument(name, f"must be >= 0, got {v}")
        now = self.clock()
        if recorded_at is not None and not math.isfinite(recorded_at):
            raise InvalidArgument("recorded_at", "must be a valid time")
        if decision_id:
            decided: str | None
            try:
                decided, estimate = self._decision(decision_id)
            except DecisionNotFound:
                if not agent_name:
                    raise
                decided = agent_name  # the decision log lost it (crash before flush): trust the caller
            else:
                if cost is None:
                    cost = estimate  # spend is counted at the estimate when the caller knows no better
            if agent_name and decided != agent_name:
                raise InvalidArgument("agent_name",
                                      f"decision {decision_id!r} routed to {decided!r}, not {agent_name!r}")
            agent_name = decided or agent_name
        outcome = OutcomeRecord(os.urandom(12).hex(), agent_name, recorded_at if recorded_at is not None else now,
                                latency_ms, success, decision_id or None, quality, cost, input_tokens, output_tokens)
        with self._outcome_lock:
            try:
                rec = self.registry.get(agent_name)
            except AgentNotFound:
                raise AgentNotFound(agent_name, "agent_name") from None
            latencies, flags = self.windows.add(agent_name, latency_ms, success)
            health = health_after(self.policy, rec.stats, success, latencies, flags, now)
            if health.breaker_state == CLOSED and self.policy.effective_state(rec.stats, now) == HALF_OPEN:
                self.windows.reset_flags(agent_name)  # recovered: old failures must not reopen it
            try:
                stats = self.store.record_outcome(outcome, health)
            except Exception:
                self.windows.seed(agent_name, latencies[:-1], flags[:-1])
                raise
            self.registry.set_stats(agent_name, stats)
            return outcome, self.registry.get(agent_name)

    def list_outcomes(self, *, start: float | None = None, end: float | None = None, agent_name: str = "",
                      decision_id: str = "", limit: int = 1000,
                      after: tuple[float, str] | None = None) -> list[OutcomeRecord]:
        if decision_id:
            validate_id(decision_id, "decision_id")
        if agent_name:
            validate_name(agent_name, "agent_name")
        for name, t in (("start", start), ("end", end)):
            if t is not None and not math.isfinite(t):
                raise InvalidArgument(name, "must be a valid time")
        return self.store.list_outcomes(start=start, end=end, agent_name=agent_name or None,
                                        decision_id=decision_id or None, limit=limit, after=after)

    # -- analytics ----------------------------------------------------------------------------
    def stats(self) -> Stats:
        _, records = self.registry.snapshot()
        with self._log_lock:
            pending = len(self._pending)
        qsum = sum(r.stats.quality_sum for r in records)
        qn = sum(r.stats.quality_count for r in records)
        total = sum(r.stats.total_requests for r in records)
        ok = sum(r.stats.successes for r in records)
        now = self.clock()
        return Stats(
            agents=len(records), active_agents=sum(r.spec.active for r in records),
            decisions=self.store.count_decisions() + pending, outcomes=self.store.count_outcomes(),
            total_spend=sum(r.stats.total_spend for r in records),
            mean_quality=qsum / qn if qn else None, success_rate=ok / total if total else None,
            open_circuits=sum(self.policy.effective_state(r.stats, now) == OPEN for r in records),
            model_version=MODEL_VERSION)
