"""The engine: registry, router, decision log, feedback and analytics behind one object.

Servicers (and tests, benchmarks, the CLI in-process) call this; it never imports gRPC or SQL.
Each concept lives in its own module; this one wires them and keeps the routing table current.

Observability seam: an optional ``observer`` (the ``Observer`` protocol below, plain method calls;
routerd.observability implements it with prometheus-client) is told of every decision made (after it
is stored), every outcome recorded, every embedder call and every decision or outcome the store
could not take. Without one the engine pays nothing; the engine never knows what is done with it.

Tracing seam: an optional ``tracer`` (the ``Tracer`` protocol: ``span(name)``, a context manager)
wraps the phases of a route or batch call: "engine.validate", "engine.route", "engine.commit" (the
decision log). routerd.tracing implements it with OpenTelemetry; the default, ``NO_TRACER``, is a
no-op (about 0.1 µs a phase) and the engine never imports opentelemetry.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from routerd.domain import AgentRecord, ChargeRecord, DecisionRecord, OutcomeRecord
from routerd.engine.analytics import RoutingStats, routing_stats
from routerd.engine.budgets import RESERVATION_TTL_S, BudgetBook, BudgetLimits
from routerd.engine.decision import Decision
from routerd.engine.decision_log import DecisionLog
from routerd.engine.feasibility import BUDGET_LIMIT, OK
from routerd.engine.feedback import Feedback
from routerd.engine.health import AgentWindows, BreakerPolicy
from routerd.engine.learning import ModelManager
from routerd.engine.multi import STRATEGIES, MultiPlan, plan_multi
from routerd.engine.objectives import confidence
from routerd.engine.optimize import BudgetPlan, plan_budget, solve_batch
from routerd.engine.quality import QualityModel
from routerd.engine.query import RouteQuery, validate_query
from routerd.engine.registry import Registry
from routerd.engine.router import Router
from routerd.engine.routes import RouteCatalog
from routerd.engine.table import AgentTable
from routerd.engine.validation import TEXT_MAX, check_number, check_text, check_time
from routerd.errors import BatchTooLarge, BudgetConflict, InvalidArgument, StoreUnavailable
from routerd.model.embedders import Embedder
from routerd.semantic import Classification, MatchResult
from routerd.store._analytics import AnalyticsRow
from routerd.store.base import Store

BATCH_MAX = 100_000  # default of Config.batch_max_requests
EMBED_MAX = 1024  # default of Config.embed_max_texts
ROUTE_THRESHOLD = 0.5  # default of Config.route_threshold
TOP_K_MAX = 100
BATCH_CELLS_MAX = 5_000_000  # default of Config.batch_max_cells: requests x agents of one batch
CHUNK_CELLS = 1 << 19  # a batch is routed in chunks of about this many cells (bounds the temporaries)


class Observer(Protocol):
    """What the engine reports (routerd.observability.Metrics). Calls must be cheap and must not raise."""

    def decided(self, decisions: Sequence[Decision], seconds: float, call: str) -> None:
        """``decisions`` were made and stored by one ``call`` ("route" | "batch") in ``seconds``."""

    def outcome_recorded(self, outcome: OutcomeRecord) -> None:
        """An outcome was stored (its agent, success and cost as recorded)."""

    def embedded(self, texts: int, seconds: float) -> None:
        """The embedder embedded ``texts`` texts in one call of ``seconds``."""

    def store_error(self, operation: str) -> None:
        """The store was unavailable for ``operation`` ("decisions" | "outcomes"): the call failed."""


class Tracer(Protocol):
    """What the engine asks of a tracer (routerd.tracing.Tracing). ``span`` must not raise."""

    def span(self, name: str) -> AbstractContextManager[Any]:
        """A context manager around one phase named ``name``."""


class _NoSpan:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _NoTracer:
    """The default tracer: every span is the same no-op context manager."""

    __slots__ = ()
    _span = _NoSpan()

    def span(self, name: str) -> _NoSpan:
        return self._span


NO_TRACER: Tracer = _NoTracer()


class ObservedEmbedder:
    """An embedder whose ``embed`` calls are reported to an observer (name, dim, the rest delegated)."""

    def __init__(self, inner: Any, observer: Observer):
        self.inner = inner
        self.name: str = inner.name
        self.dim: int = inner.dim
        self._observer = observer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        out: np.ndarray = self.inner.embed(texts)
        self._observer.embedded(len(texts), time.perf_counter() - t0)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _top_k(value: int, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if not 0 < value <= maximum:
        raise InvalidArgument("top_k", f"must be in 1..{maximum} (0 means {default}), got {value}")
    return value


BATCH_OBJECTIVES = ("", "in_order", "total_cost")
BUDGET_RETRIES = 8  # routings of one call when other routerd keep spending the same hard budgets
OPTIMISTIC_TRIES = 2  # routings on a snapshot of the budgets before one under their lock
MIX_MAX = 2000  # requests of a recorded mix OptimizeBudget scores (an even sample of the period)
MIX_SCAN_MAX = 200_000  # decisions of a period it reads at most


def provider_of(rec: AgentRecord) -> str:
    """The agent's provider for RouteMulti's diversity: metadata "provider", else its type."""
    try:
        meta = json.loads(rec.spec.metadata or "{}")
    except ValueError:
        meta = {}
    provider = meta.get("provider") if isinstance(meta, dict) else None
    return provider if isinstance(provider, str) and provider else rec.spec.agent_type


def reassign(d: Decision, j: int, note: str) -> None:
    """Make agent ``j`` (-1: none) the decision's choice (a batch-level solve re-chose it)."""
    t = d.table
    d.budget_note = note
    d.ranked = None
    d.chosen = j
    if j < 0:
        d.agent_name = None
        d.confidence = d.estimated_cost = d.estimated_latency_ms = d.expected_quality = d.similarity = 0.0
        return
    d.agent_name = t.names[j]
    d.estimated_cost = float(d.cost[j])
    d.estimated_latency_ms = float(t.latency[j])
    d.expected_quality = float(d.quality[j])
    feasible = d.codes == OK
    util = np.where(feasible, d.utility, -np.inf)
    d.confidence = float(confidence(util[None, :], np.array([util[j]]), np.array([True]))[0])


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetOptimisation:
    plan: BudgetPlan
    agents: list[str]
    mix_requests: int
    scale: float
    period_days: float
    applied_to_budget: str


class Engine:
    def __init__(self, store: Store, embedder: Embedder, *, policy: BreakerPolicy | None = None,
                 clock: Callable[[], float] = time.time,
                 model: QualityModel | None = None, batch_max_requests: int = BATCH_MAX,
                 batch_max_cells: int = BATCH_CELLS_MAX, embed_max_texts: int = EMBED_MAX,
                 route_threshold: float = ROUTE_THRESHOLD, reembed_routes: bool = False,
                 retrain_interval_s: float = 0.0, retrain_min_outcomes: int = 200,
                 observer: Observer | None = None, tracer: Tracer | None = None,
                 reservation_ttl_s: float = RESERVATION_TTL_S):
        self.observer = observer
        self.tracer = tracer if tracer is not None else NO_TRACER
        if observer is not None:
            embedder = ObservedEmbedder(embedder, observer)
        self.store = store
        self.embedder = embedder
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self.batch_max_requests = batch_max_requests
        self.batch_max_cells = batch_max_cells
        self.embed_max_texts = embed_max_texts
        self.registry = Registry(store, embedder, clock)
        self.routes = RouteCatalog(store, embedder, self.registry, default_threshold=route_threshold, clock=clock,
                                   reembed=reembed_routes)
        self.router = Router(embedder, model)
        self.windows = AgentWindows()
        self._table: AgentTable | None = None
        self._table_lock = threading.Lock()
        for rec in self.registry.snapshot()[1]:
            recent = store.recent_outcomes(rec.name, self.windows.size, rec.created_at)
            self.windows.seed(rec.name, [lat for lat, _ in recent], [ok for _, ok in recent])
        # Every route returns after its decisions are committed (group commit, see decision_log).
        self.budgets = BudgetBook(store, self.registry.exists, clock, reservation_ttl_s)
        self.decisions = DecisionLog(store, self.budgets.checks)
        self.feedback = Feedback(store, self.registry, self.decisions, self.windows, self.policy, clock, self.budgets)
        self.record_outcome = self.feedback.record_outcome if observer is None else self._observed_outcome
        self.table()  # embeds the agents' capability texts now, not in the first request
        self.list_outcomes = self.feedback.list_outcomes
        self.cancel_decision = self.feedback.cancel_decision
        # The live learned model replaces ``model`` (a test's or the observed quality) when one exists.
        self.models = ModelManager(store, embedder, self.registry, self.table, self._set_model, clock)
        if model is not None and self.models.live is None:
            self.router.model = model
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self.synced_at: float | None = None
        self._retrainer: threading.Thread | None = None
        if retrain_interval_s > 0:
            self._retrainer = threading.Thread(
                target=self.models.run_schedule, args=(retrain_interval_s, retrain_min_outcomes, self._stop),
                name="retrain", daemon=True)
            self._retrainer.start()

    def decision_time(self) -> float:
        """Now, to the microsecond: the decision log's times are what PostgreSQL's timestamptz (and a
        query's time bounds) can say exactly."""
        return round(self.clock(), 6)

    def _set_model(self, model: QualityModel) -> None:
        self.router.model = model

    # -- routing ------------------------------------------------------------------------------
    def table(self) -> AgentTable:
        t = self._table
        if t is None or t.version != self.registry.version:
            with self._table_lock:
                version, records = self.registry.snapshot()
                t = self._table
                if t is None or t.version != version:
                    t = AgentTable(version, records, self.registry.capability_vectors, self.policy)
                    self._table = t
        return t

    def _observed_outcome(self, **kw: Any) -> tuple[OutcomeRecord, AgentRecord]:
        assert self.observer is not None
        try:
            outcome, rec = self.feedback.record_outcome(**kw)
        except StoreUnavailable:
            self.observer.store_error("outcomes")
            raise
        self.observer.outcome_recorded(outcome)
        return outcome, rec

    def _store(self, decisions: Sequence[Decision], t0: float, call: str,
               charges: Sequence[ChargeRecord] = ()) -> None:
        """Commit ``decisions`` (the decision log, with their budget ``charges``, already reserved in
        the book: released if the write fails) and report them to the observer, if any."""
        obs = self.observer
        with self.tracer.span("engine.commit"):
            try:
                self.decisions.append(decisions)
            except BaseException as exc:
                if charges:
                    self.budgets.release(charges)
                if obs is not None and isinstance(exc, StoreUnavailable):
                    obs.store_error("decisions")
                raise
        if obs is not None:
            obs.decided(decisions, time.perf_counter() - t0, call)

    def _route_budgeted(self, queries: Sequence[RouteQuery], route: Callable[..., list[Decision]]
                        ) -> tuple[list[Decision], list[ChargeRecord]]:
        """Route under the configured budgets: from reading what they have left to reserving what
        these decisions take, under the book's lock (``routerd.engine.budgets``)."""
        book = self.budgets
        # Optimistic first: route on a snapshot of what the budgets have left (outside the lock, so
        # budgeted calls route in parallel), then reserve under the lock if it all still fits.
        for _ in range(OPTIMISTIC_TRIES):
            with book.lock:
                qs = book.with_willingness(queries)
                table = self.table()
                now = self.decision_time()
                limits = book.limits(table, qs, now)
            ds = route(table, qs, now, limits)
            with book.lock:
                if book.fits(ds, now):
                    return ds, self._reserve(ds)
        with book.lock:  # contended: route holding the lock, so nothing changes in between
            qs = book.with_willingness(queries)
            table = self.table()
            now = self.decision_time()
            limits = book.limits(table, qs, now)
            ds = route(table, qs, now, limits)
            return ds, self._reserve(ds)

    def _reserve(self, ds: Sequence[Decision]) -> list[ChargeRecord]:
        """Reserve the decisions' charges in the book (under its lock) and attach their store rows."""
        book = self.budgets
        charges = book.charge_records(ds)
        if charges:
            by_id: dict[str, list[ChargeRecord]] = {}
            for c in charges:
                by_id.setdefault(c.decision_id, []).append(c)
            for d in ds:
                d.charge_rows = tuple(by_id.get(d.decision_id, ()))
            book.reserve(charges)
        return charges

    def _budgeted(self, queries: Sequence[RouteQuery], route: Callable[..., list[Decision]], t0: float,
                  call: str) -> list[Decision]:
        """Route under the budgets and store; when the store finds a hard budget spent meanwhile by
        another routerd (``BudgetConflict``: nothing was stored), re-read it and route again."""
        for _ in range(BUDGET_RETRIES - 1):
            ds, charges = self._route_budgeted(queries, route)
            try:
                self._store(ds, t0, call, charges)
                return ds
            except BudgetConflict as exc:
                self.budgets.reload(exc.budgets)
        ds, charges = self._route_budgeted(queries, route)
        self._store(ds, t0, call, charges)
        return ds

    def route(self, query: RouteQuery) -> Decision:
        t0 = time.perf_counter()
        span = self.tracer.span
        with span("engine.validate"):
            validate_query(query, self.embedder.dim)
        with span("engine.route"):
            if self.budgets:
                return self._budgeted((query,), self._route_one, t0, "route")[0]
            d = self.router.route(self.table(), (query,), now=self.decision_time(), routes=self.routes.routes,
                                  limiter=self.routes.limiter)[0]
        self._store((d,), t0, "route")
        return d

    def _route_one(self, table: AgentTable, queries: Sequence[RouteQuery], now: float,
                   limits: BudgetLimits | None) -> list[Decision]:
        return self.router.route(table, queries, now=now, routes=self.routes.routes, limiter=self.routes.limiter,
                                 limits=limits)

    def route_batch(self, queries: Sequence[RouteQuery], *, batch_budget: float | None = None,
                    batch_objective: str = "") -> list[Decision]:
        """Route ``queries`` at one instant, in order (``batch_budget`` spent from the first on). The size
        is checked before any work (``batch_max_requests``; ``batch_max_cells`` requests x agents, else
        ``BatchTooLarge``) and the routing runs in chunks, so memory is bounded by the limits."""
        t0 = time.perf_counter()
        if len(queries) > self.batch_max_requests:
            raise InvalidArgument("requests", f"at most {self.batch_max_requests} requests a batch "
                                              f"(batch_max_requests), got {len(queries)}")
        if batch_budget is not None and not (math.isfinite(batch_budget) and batch_budget >= 0):
            raise InvalidArgument("batch_budget", f"must be a finite number >= 0, got {batch_budget!r}")
        if batch_objective not in BATCH_OBJECTIVES:
            raise InvalidArgument("batch_objective", f"unknown batch objective {batch_objective!r}; valid: "
                                                     "in_order, total_cost")
        if batch_objective == "total_cost":
            if batch_budget is None:
                raise InvalidArgument("batch_budget", "is required with batch_objective total_cost")
            return self._route_total_cost(queries, batch_budget, t0)
        dim = self.embedder.dim
        with self.tracer.span("engine.validate"):
            for i, q in enumerate(queries):
                validate_query(q, dim, prefix=f"requests[{i}].")
        if not queries:
            return []
        with self.tracer.span("engine.route"):
            self._check_cells(len(queries))
            if self.budgets:
                return self._budgeted(
                    queries, lambda table, qs, now, limits: self._route_chunks(table, qs, now, batch_budget, limits),
                    t0, "batch")
            ds = self._route_chunks(self.table(), queries, self.decision_time(), batch_budget, None)
        self._store(ds, t0, "batch")
        return ds

    def _route_total_cost(self, queries: Sequence[RouteQuery], budget: float, t0: float) -> list[Decision]:
        """BatchRoute total_cost: every request routed as usual (its constraints), then the agents
        re-chosen to maximise the batch's total expected quality within ``budget``
        (``routerd.engine.optimize.solve_batch``); configured budgets are then applied request by request
        in order (a re-chosen agent that does not fit them leaves its request unrouted)."""
        dim = self.embedder.dim
        with self.tracer.span("engine.validate"):
            for i, q in enumerate(queries):
                validate_query(q, dim, prefix=f"requests[{i}].")
        if not queries:
            return []
        with self.tracer.span("engine.route"):
            self._check_cells(len(queries))
            table = self.table()
            ds = self._route_chunks(table, queries, self.decision_time(), None, None)
            if not len(table):
                self._store(ds, t0, "batch")
                return ds
            cost = np.stack([d.cost for d in ds])
            quality = np.stack([d.quality for d in ds])
            feasible = np.stack([d.codes for d in ds]) == OK
            sol = solve_batch(cost, quality, feasible, budget)
            note = f"; batch total_cost: lambda {sol.lam:.6g} quality per USD, batch budget ${budget:.6g}"
            for d, j in zip(ds, sol.choice.tolist(), strict=True):
                reassign(d, int(j), note)
            charges: list[ChargeRecord] = []
            if self.budgets:
                with self.budgets.lock:
                    limits = self.budgets.limits(table, queries, ds[0].decided_at)
                    if limits is not None:
                        for i, d in enumerate(ds):
                            if not d.routed:
                                continue
                            headroom, spent, _ = limits.row(i)
                            j = d.chosen
                            if d.cost[j] > headroom[j] or spent[j]:
                                d.codes[j] = BUDGET_LIMIT
                                reassign(d, -1, note)
                            else:
                                limits.charge(i, j, float(d.cost[j]))
                                d.charges = limits.charges_of(i)
                            d.budget_limits, d.budget_row = limits, i
                        charges = self._reserve(ds)
        self._store(ds, t0, "batch", charges)  # BudgetConflict (another routerd spent them): the caller retries
        return ds

    def _check_cells(self, n: int) -> None:
        a = max(len(self.table()), 1)
        if n * a > self.batch_max_cells:
            raise BatchTooLarge("requests", f"{n} requests x {a} agents is over the limit of "
                                            f"{self.batch_max_cells} (batch_max_cells); send at most "
                                            f"{max(1, self.batch_max_cells // a)} requests a batch")

    def _route_chunks(self, table: AgentTable, queries: Sequence[RouteQuery], now: float,
                      batch_budget: float | None, limits: BudgetLimits | None) -> list[Decision]:
        a = max(len(table), 1)
        step = max(1, CHUNK_CELLS // a)
        ds: list[Decision] = []
        remaining = batch_budget
        for start in range(0, len(queries), step):
            chunk_limits = limits.slice(start, start + step) if limits is not None else None
            chunk = self.router.route(table, queries[start:start + step], now=now, batch_budget=remaining,
                                      routes=self.routes.routes, limiter=self.routes.limiter, limits=chunk_limits)
            if remaining is not None:
                last = chunk[-1]
                assert last.batch_left is not None
                remaining = last.batch_left - (last.estimated_cost if last.routed else 0.0)
            ds.extend(chunk)
        return ds

    # -- several agents for one request -----------------------------------------------------------
    def route_multi(self, query: RouteQuery, num_agents: int, strategy: str) -> tuple[Decision, MultiPlan]:
        """Plan ``num_agents`` agents for one request (``routerd.engine.multi``). The decision logged
        is the request's single-agent decision (its id names the plan); the plan's agents are chosen
        among those feasible under the request's constraints and the configured budgets, but only
        that decision is charged. For a pipeline, the capability rule is applied to the stages
        together: each agent need not have them all."""
        t0 = time.perf_counter()
        validate_query(query, self.embedder.dim, prefix="request.")
        if strategy not in STRATEGIES:
            raise InvalidArgument("strategy", f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
        table = self.table()
        if isinstance(num_agents, bool) or not isinstance(num_agents, int) or not 1 <= num_agents <= len(table):
            raise InvalidArgument("num_agents", f"must be in 1..{len(table)} (the registered agents), got {num_agents}")
        required = tuple(query.required_capabilities)
        routed_query = query
        if strategy == "pipeline" and required:
            routed_query = dataclasses.replace(query, required_capabilities=())
        if self.budgets:
            ds = self._budgeted((routed_query,), self._route_one, t0, "route")
        else:
            ds = self._route_one(table, (routed_query,), self.decision_time(), None)
            self._store(ds, t0, "route")
        d = ds[0]
        required = (*required, *d.inferred_capabilities)
        providers = [provider_of(r) for r in d.table.records]
        plan = plan_multi(strategy, num_agents, names=d.table.names, capabilities=d.table.capabilities,
                          providers=providers, cost=d.cost, latency=d.table.latency, quality=d.quality,
                          utility=np.nan_to_num(d.utility, nan=0.0, neginf=-1e9, posinf=1e9),
                          feasible=d.codes == OK, required=required if strategy == "pipeline" else (),
                          budget_remaining=query.budget_remaining)
        return d, plan

    # -- analytics and budget optimisation -----------------------------------------------------
    def routing_analytics(self, *, start: float | None, end: float | None, group_by: str) -> list[AnalyticsRow]:
        for name, t in (("start", start), ("end", end)):
            if t is not None:
                check_time(t, name)
        return self.store.routing_analytics(start=start, end=end, group_by=group_by or "agent")

    def list_decisions(self, *, start: float | None = None, end: float | None = None, limit: int = 1000,
                       after: tuple[float, str] | None = None) -> list[DecisionRecord]:
        for name, t in (("start", start), ("end", end)):
            if t is not None:
                check_time(t, name)
        return self.store.list_decisions(start=start, end=end, limit=limit, after=after)

    def optimize_budget(self, budget: float, *, period_days: float = 30.0, start: float | None = None,
                        end: float | None = None, queries: Sequence[RouteQuery] = (), mix_days: float | None = None,
                        quality_threshold: float | None = None, latency_threshold_ms: float | None = None,
                        apply_to_budget: str = "") -> BudgetOptimisation:
        """The willingness to pay whose routing spends ``budget`` over ``period_days`` on a request
        mix (``routerd.engine.optimize.plan_budget``): the given requests, or a sample of at most
        ``MIX_MAX`` of the decisions of [start, end) (default the last 7 days), scaled to the period."""
        budget = check_number(budget, "budget", strict=True, maximum=1e12)
        period_days = check_number(period_days, "period_days", strict=True, maximum=3660.0)
        if quality_threshold is not None:
            quality_threshold = check_number(quality_threshold, "quality_threshold", maximum=1.0)
        if latency_threshold_ms is not None:
            latency_threshold_ms = check_number(latency_threshold_ms, "latency_threshold_ms", strict=True)
        if apply_to_budget:
            self.budgets.get(apply_to_budget)  # BudgetNotFound before any work
        now = self.clock()
        if queries:
            for i, q in enumerate(queries):
                validate_query(q, self.embedder.dim, prefix=f"requests[{i}].")
            mix = list(queries)
            days = check_number(mix_days, "mix_days", strict=True, maximum=3660.0) if mix_days is not None \
                else period_days
            weight = 1.0
        else:
            end = check_time(end, "end") if end is not None else now
            start = check_time(start, "start") if start is not None else end - 7 * 86400.0
            if not start < end:
                raise InvalidArgument("start", "must be before end")
            mix, weight = self._recorded_mix(start, end)
            if not mix:
                raise InvalidArgument("requests", "the mix is empty: no decisions were made in the time range; "
                                                  "give requests, or a range with decisions")
            days = (end - start) / 86400.0
        table = self.table()
        if not len(table):
            raise InvalidArgument("budget", "no agent is registered")
        embeddings = self.router._embeddings(mix) if self.router.model.needs_embeddings else None
        quality = np.asarray(self.router.model.predict(table, mix, embeddings), dtype=np.float64)
        cost = self.router._cost(table, mix)
        eligible = np.broadcast_to(table.active & ~(table.open_until > now), cost.shape).copy()
        if quality_threshold is not None:
            eligible &= quality >= quality_threshold
        if latency_threshold_ms is not None:
            eligible &= (table.latency <= latency_threshold_ms)[None, :]
        scale = period_days / days * weight
        plan = plan_budget(cost, quality, eligible, budget, scale=scale)
        applied = ""
        if apply_to_budget:
            wtp = plan.willingness_to_pay
            self.budgets.update(apply_to_budget, lambda s: dataclasses.replace(s, willingness_to_pay=wtp))
            applied = apply_to_budget
        return BudgetOptimisation(plan, list(table.names), len(mix), scale, period_days, applied)

    def _recorded_mix(self, start: float, end: float) -> tuple[list[RouteQuery], float]:
        """The requests of the decisions made in [start, end), at most MIX_MAX of them evenly spread,
        and how many decisions each stands for."""
        records: list[DecisionRecord] = []
        after = None
        while True:
            page = self.store.list_decisions(start=start, end=end, limit=10_000, after=after)
            records.extend(page)
            if len(page) < 10_000 or len(records) >= MIX_SCAN_MAX:
                break
            after = (page[-1].decided_at, page[-1].decision_id)
        total = len(records)
        if total > MIX_MAX:
            records = [records[i] for i in np.linspace(0, total - 1, MIX_MAX).astype(int).tolist()]
        mix = []
        for r in records:
            emb = np.frombuffer(r.request_embedding, dtype="<f4").astype(np.float32) \
                if r.request_embedding else None
            if emb is not None and emb.shape != (self.embedder.dim,):
                emb = None
            if not r.request_text and emb is None:
                continue
            mix.append(RouteQuery(text=r.request_text, embedding=emb, objective=r.objective))
        return mix, (total / len(records) if records else 1.0)

    # -- embeddings and semantic routes ---------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            raise InvalidArgument("texts", "give at least one text")
        if len(texts) > self.embed_max_texts:
            raise InvalidArgument("texts", f"at most {self.embed_max_texts} texts a call (embed_max_texts), "
                                           f"got {len(texts)}")
        for i, t in enumerate(texts):
            check_text(t, f"texts[{i}]", TEXT_MAX, minimum=1)
        return self.embedder.embed(list(texts))

    def _query_vector(self, text: str, embedding: np.ndarray | None, text_field: str) -> np.ndarray:
        return self.routes.embed_queries([text], [embedding], text_field)

    def semantic_route(self, text: str, embedding: np.ndarray | None, top_k: int = 0,
                       context: Mapping[str, str] | None = None) -> MatchResult:
        k = _top_k(top_k, 3, TOP_K_MAX)
        vector = self._query_vector(text, embedding, "query")
        tier = (context or {}).get("user_tier")
        return self.routes.routes.match(vector, k, now=self.clock(), user_tiers=[tier],
                                        limiter=self.routes.limiter, consume=True)[0]

    def classify(self, text: str, embedding: np.ndarray | None, top_k: int = 0) -> Classification:
        k = _top_k(top_k, 10, 1000)
        vector = self._query_vector(text, embedding, "text")
        caps = {r.name: list(r.spec.capabilities) for r in self.registry.snapshot()[1]}
        return self.routes.routes.classify(vector[0], k, caps)

    def remove_agent(self, name: str) -> AgentRecord:
        rec = self.registry.remove(name)
        self.windows.forget(name)
        return rec

    # -- decision log ------------------------------------------------------------
    def flush(self) -> None:
        """Wait for the decisions other threads are committing. Safe to call from any thread."""
        self.decisions.flush()

    # -- several routerd on one store ------------------------------------------------------------
    def start_sync(self, interval_s: float) -> None:
        """Follow the changes other routerd make to a shared store (PostgreSQL): agents, routes, budgets
        and the live model are re-read on each notification (LISTEN/NOTIFY, milliseconds) and all of
        them, with the agents' stats and the budgets' spend, every ``interval_s`` seconds (the safety
        net for a notification missed while the connection was down)."""
        if not self.store.shared or interval_s <= 0 or self._syncer is not None:
            return
        self._syncer = threading.Thread(target=self.store.listen, args=(self.sync, self._stop, interval_s),
                                        name="store-sync", daemon=True)
        self._syncer.start()

    def sync(self, kind: str | None = None) -> None:
        """Re-read ``kind`` (agents | routes | budgets | model) from the store, or everything."""
        if kind in (None, "agents"):
            self.registry.reload()
        if kind in (None, "routes"):
            self.routes.reload()
        if kind in (None, "budgets"):
            self.budgets.reload()
        if kind in (None, "model"):
            self.models.reload()
        self.synced_at = self.clock()

    def close(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5.0)
        self.decisions.close()

    # -- analytics ----------------------------------------------------------------------------
    def stats(self) -> RoutingStats:
        _, records = self.registry.snapshot()
        return routing_stats(records, decisions=self.store.count_decisions(),
                             outcomes=self.store.count_outcomes(), policy=self.policy, now=self.clock(),
                             model_version=self.router.model.version)
