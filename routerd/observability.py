"""routerd's metrics, request ids and structured logs (issue 12).

**Metrics** (prometheus-client, on their own HTTP port: ``metrics_listen``, off by default). ``Metrics``
implements the engine's ``Observer`` seam (routerd.engine.engine) and counts what the engine reports;
``ObservingInterceptor`` times every RPC; a collector reads the registry and the live model when
Prometheus scrapes, so states cost nothing per request:

    tinydancer_decisions_total{agent, objective, outcome="routed|infeasible"}   counter
        decisions made and stored; agent="" when infeasible
    tinydancer_infeasible_reasons_total{rule}                                   counter
        per infeasible decision, +1 for each feasibility rule (routerd.engine.feasibility, names in
        snake case) that rejected at least one agent; rule="no_agents" when none is registered
    tinydancer_decision_seconds{call="route|batch"}                             histogram
        one engine call (validate, route, commit to the decision log); a batch is one observation
    tinydancer_rpc_seconds{method, code}                                        histogram
        every gRPC call, by full method name and status code name (OK, INVALID_ARGUMENT, ...)
    tinydancer_embed_seconds, tinydancer_embedded_texts_total                  histogram, counter
    tinydancer_outcomes_total{agent, success="true|false"}                     counter
    tinydancer_outcome_cost_dollars_total{agent}                               counter (spend)
    tinydancer_store_errors_total{operation="decisions|outcomes"}              counter
        calls that failed because the store was unavailable (StoreUnavailable)
    tinydancer_circuit_state{agent, state="closed|open|half_open"}             gauge, 1 for the state
    tinydancer_circuits{state}                                                 gauge, agents per state
    tinydancer_agents{active="true|false"}                                     gauge
    tinydancer_model_version                                                   gauge (0: no model live)
    tinydancer_model_info{version}                                             gauge, 1
    tinydancer_decision_log_pending                                            gauge
    process_*                                                                  the process collector

Agent label values are capped: the first ``max_agent_labels`` agent names seen keep their own
label, later ones are counted as ``_other`` (a name no agent can have: names start with a letter or
a digit). No label carries request text, a decision id or a request id. Budgets do not exist yet
(issue 11), so there are no budget metrics.

**Request ids.** Every call has one: the ``x-request-id`` gRPC metadata when it is 1..128 printable
ASCII characters, else a generated uuid4 hex. The interceptor keeps it in a context variable for
the call (``current_request_id``; the servicers put it on the RouteQuery, so it is stored with each
decision of the call, one id for a whole BatchRoute), returns it in the trailing metadata
(``x-request-id``) and puts it on every log line written during the call.

**Logs.** ``log_format = "json"`` writes one JSON object a line (ts, level, logger, message,
request_id when known, and any extra fields) and one line per RPC at INFO on the logger
``routerd.rpc`` (method, code, duration_ms, request_id; health checks and reflection excepted). An
access log is what JSON logs are for, so it is on at INFO, not DEBUG: the line (about 10 µs of
formatting and writing) is written from grpc's end-of-call callback, after the reply has gone, so a
caller does not wait for it (bench/bench_observability.py: Route p50 within 1 % of the defaults).
With ``text`` (the default, as before) the per-RPC line is DEBUG.

**Spans.** With ``otlp_endpoint`` set the same interceptor opens one OpenTelemetry span per call
(routerd.tracing, which owns everything OpenTelemetry; the request id is its
``tinydancer.request_id`` attribute). Without it the interceptor does not touch tracing at all.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import math
import threading
import time
import uuid
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

from routerd.config import parse_host_port
from routerd.domain import BREAKER_STATES, OutcomeRecord
from routerd.engine.decision import Decision
from routerd.engine.feasibility import OK, RULES
from routerd.engine.query import valid_request_id
from routerd.errors import InvalidArgument

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from routerd.engine.engine import Engine
    from routerd.tracing import Tracing

__all__ = ["REQUEST_ID_KEY", "AgentLabels", "JsonFormatter", "Metrics", "MetricsServer", "ObservingInterceptor",
           "configure_logging", "current_request_id", "new_request_id", "start_metrics_server"]

REQUEST_ID_KEY = "x-request-id"
OTHER_AGENT = "_other"
NO_AGENTS = "no_agents"
RULE_LABELS = {r.code: r.name.replace(" ", "_") for r in RULES}
_QUIET_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# Seconds. Decisions take tens of microseconds in process; RPCs and embeddings up to seconds.
DECISION_BUCKETS = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                    2.5, 10.0)
RPC_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
               30.0, 120.0)
EMBED_BUCKETS = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)

# -- request ids --------------------------------------------------------------------------------

_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The request id of the call this thread is serving (None outside a call)."""
    return _REQUEST_ID.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_of(metadata: Iterable[Any] | None) -> str:
    """The caller's ``x-request-id`` if it is valid (routerd.engine.query.valid_request_id), else a new one."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            return value if valid_request_id(value) else new_request_id()
    return new_request_id()


# -- label capping -----------------------------------------------------------------------------

class AgentLabels:
    """Agent name -> label value: the first ``limit`` names keep their own, later ones are ``_other``."""

    def __init__(self, limit: int):
        if limit < 1:
            raise InvalidArgument("max_agent_labels", f"must be at least 1, got {limit}")
        self.limit = limit
        self._admitted: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str:
        if name in self._admitted:
            return name
        with self._lock:
            if name in self._admitted or len(self._admitted) < self.limit:
                self._admitted.add(name)
                return name
        return OTHER_AGENT


# -- metrics -----------------------------------------------------------------------------------

class Metrics:
    """The Prometheus metrics of one routerd (its own registry), fed by the engine (``Observer``) and
    the interceptor; ``bind(engine)`` adds the gauges read at scrape time."""

    def __init__(self, max_agent_labels: int = 200, *, process: bool = True):
        self.registry = CollectorRegistry(auto_describe=True)
        self.agent_label = AgentLabels(max_agent_labels)
        r = self.registry
        self.decisions = _DecisionStats(self.agent_label)  # the hot path: one lock, no label lookups
        r.register(self.decisions)
        self.infeasible = Counter("tinydancer_infeasible_reasons",
                                  "Infeasible decisions by each feasibility rule that rejected an agent.",
                                  ["rule"], registry=r)
        self.rpc_seconds = Histogram("tinydancer_rpc_seconds", "gRPC calls by method and status code.",
                                     ["method", "code"], buckets=RPC_BUCKETS, registry=r)
        self.embed_seconds = Histogram("tinydancer_embed_seconds", "One call of the embedder.",
                                       buckets=EMBED_BUCKETS, registry=r)
        self.embedded_texts = Counter("tinydancer_embedded_texts", "Texts embedded.", registry=r)
        self.outcomes = Counter("tinydancer_outcomes", "Outcomes recorded.", ["agent", "success"], registry=r)
        self.spend = Counter("tinydancer_outcome_cost_dollars", "Cost of the recorded outcomes (USD).",
                             ["agent"], registry=r)
        self.store_errors = Counter("tinydancer_store_errors",
                                    "Calls that failed because the store was unavailable.", ["operation"],
                                    registry=r)
        for rule in (*RULE_LABELS.values(), NO_AGENTS):  # every series exists from the start, at 0
            self.infeasible.labels(rule)
        for op in ("decisions", "outcomes"):
            self.store_errors.labels(op)
        self._rule_children = {code: self.infeasible.labels(label) for code, label in RULE_LABELS.items()}
        self._no_agents = self.infeasible.labels(NO_AGENTS)
        # label children by key: .labels() costs about 1 µs, a dict hit 50 ns
        self._rpc_children: dict[tuple[str, str], Any] = {}
        self._outcome_children: dict[tuple[str, bool], tuple[Any, Any]] = {}
        if process:
            ProcessCollector(registry=r)

    def bind(self, engine: Engine) -> None:
        self.registry.register(_EngineCollector(engine, self.agent_label))

    # -- the engine's Observer
    def decided(self, decisions: Sequence[Decision], seconds: float, call: str) -> None:
        if self.decisions.add(decisions, seconds, call):
            for d in decisions:
                if d.agent_name is None:
                    self._reasons(d)

    def _reasons(self, d: Decision) -> None:
        if not d.codes.size:
            self._no_agents.inc()
            return
        for code in np.unique(d.codes).tolist():
            if code != OK:
                self._rule_children[code].inc()

    def outcome_recorded(self, outcome: OutcomeRecord) -> None:
        key = (outcome.agent_name, outcome.success)
        children = self._outcome_children.get(key)
        if children is None:
            label = self.agent_label(outcome.agent_name)
            children = (self.outcomes.labels(label, "true" if outcome.success else "false"), self.spend.labels(label))
            self._outcome_children[key] = children
        children[0].inc()
        if outcome.cost:
            children[1].inc(outcome.cost)

    def embedded(self, texts: int, seconds: float) -> None:
        self.embed_seconds.observe(seconds)
        self.embedded_texts.inc(texts)

    def store_error(self, operation: str) -> None:
        self.store_errors.labels(operation).inc()

    # -- the interceptor
    def rpc(self, method: str, code: str, seconds: float) -> None:
        child = self._rpc_children.get((method, code))
        if child is None:
            child = self._rpc_children[(method, code)] = self.rpc_seconds.labels(method, code)
        child.observe(seconds)


class _DecisionStats:
    """tinydancer_decisions_total and tinydancer_decision_seconds, kept as plain numbers under one
    lock (about 0.4 µs a decision; prometheus-client's labelled Counter and Histogram cost 1.1 µs)
    and exposed as metric families when Prometheus scrapes."""

    CALLS = ("route", "batch")

    def __init__(self, agent_label: AgentLabels):
        self.agent_label = agent_label
        self._lock = threading.Lock()
        self._labels: dict[tuple[str | None, str], tuple[str, str, str]] = {}
        self._counts: dict[tuple[str, str, str], int] = {}
        self._buckets = {call: [0] * (len(DECISION_BUCKETS) + 1) for call in self.CALLS}
        self._sums = dict.fromkeys(self.CALLS, 0.0)
        self._created = time.time()

    def _label(self, agent: str | None, objective: str) -> tuple[str, str, str]:
        key = self._labels.get((agent, objective))
        if key is None:
            key = (("", objective, "infeasible") if agent is None else (self.agent_label(agent), objective, "routed"))
            self._labels[(agent, objective)] = key
        return key

    def add(self, decisions: Sequence[Decision], seconds: float, call: str) -> bool:
        """Count ``decisions``; True if one of them is infeasible."""
        if len(decisions) == 1:
            d = decisions[0]
            keys: Iterable[tuple[tuple[str, str, str], int]] = ((self._label(d.agent_name, d.objective), 1),)
            infeasible = d.agent_name is None
        else:
            tally = Tally((d.agent_name, d.objective) for d in decisions)
            keys = [(self._label(agent, objective), n) for (agent, objective), n in tally.items()]
            infeasible = any(agent is None for agent, _ in tally)
        bucket = bisect_left(DECISION_BUCKETS, seconds)
        counts = self._counts
        with self._lock:
            for key, n in keys:
                counts[key] = counts.get(key, 0) + n
            self._buckets[call][bucket] += 1
            self._sums[call] += seconds
        return infeasible

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = dict(self._counts)
            buckets = {call: list(b) for call, b in self._buckets.items()}
            sums = dict(self._sums)
        decisions = CounterMetricFamily("tinydancer_decisions", "Routing decisions made and stored.",
                                        labels=["agent", "objective", "outcome"])
        for key, n in sorted(counts.items()):
            decisions.add_metric(list(key), n, created=self._created)
        seconds = HistogramMetricFamily("tinydancer_decision_seconds",
                                        "Engine time of one route or batch call, decision log commit included.",
                                        labels=["call"])
        for call in self.CALLS:
            cumulative, total = [], 0
            for bound, n in zip((*DECISION_BUCKETS, math.inf), buckets[call], strict=True):
                total += n
                cumulative.append((floatToGoString(bound), total))
            seconds.add_metric([call], cumulative, sums[call])
        yield decisions
        yield seconds


class _EngineCollector:
    """Gauges read from the engine when Prometheus scrapes: circuit states, agents, the live model."""

    def __init__(self, engine: Engine, agent_label: AgentLabels):
        self.engine = engine
        self.agent_label = agent_label

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only: registration must not call the engine

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        now = e.clock()
        _, records = e.registry.snapshot()
        state = GaugeMetricFamily("tinydancer_circuit_state", "Each agent's circuit breaker state (1: current).",
                                  labels=["agent", "state"])
        circuits = GaugeMetricFamily("tinydancer_circuits", "Agents by circuit breaker state.", labels=["state"])
        agents = GaugeMetricFamily("tinydancer_agents", "Registered agents.", labels=["active"])
        per_state = dict.fromkeys(BREAKER_STATES, 0)
        active = 0
        for rec in records:
            s = e.policy.effective_state(rec.stats, now)
            per_state[s] = per_state.get(s, 0) + 1
            active += bool(rec.spec.active)
            label = self.agent_label(rec.name)
            if label != OTHER_AGENT:
                for candidate in BREAKER_STATES:
                    state.add_metric([label, candidate], 1.0 if candidate == s else 0.0)
        for s, n in per_state.items():
            circuits.add_metric([s], n)
        agents.add_metric(["true"], active)
        agents.add_metric(["false"], len(records) - active)
        live = e.models.live
        version = GaugeMetricFamily("tinydancer_model_version", "The live model's version number (0: none).")
        version.add_metric([], live.number if live is not None else 0)
        info = GaugeMetricFamily("tinydancer_model_info", "The live quality model.", labels=["version"])
        info.add_metric([e.router.model.version], 1)
        pending = GaugeMetricFamily("tinydancer_decision_log_pending", "Decisions waiting for their commit.")
        pending.add_metric([], e.decisions.pending)
        yield from (state, circuits, agents, version, info, pending)
        # Budgets are declared by operators (a bounded set): one series each.
        amount = GaugeMetricFamily("tinydancer_budget_amount_dollars", "Each budget's amount (USD) per window.",
                                   labels=["budget", "mode"])
        used = GaugeMetricFamily("tinydancer_budget_used_dollars", "Spent and reserved in each budget's current "
                                 "window (USD).", labels=["budget", "mode"])
        for spec, spent in e.budgets.usage():
            amount.add_metric([spec.name, spec.mode], spec.amount)
            used.add_metric([spec.name, spec.mode], spent)
        yield from (amount, used)
        if e.synced_at is not None:
            age = GaugeMetricFamily("tinydancer_store_sync_age_seconds", "Seconds since this routerd last re-read "
                                    "the shared store's agents, routes, budgets and model (replicas).")
            age.add_metric([], max(0.0, now - e.synced_at))
            yield age


# -- the metrics HTTP server -------------------------------------------------------------------

class MetricsServer:
    """prometheus-client's HTTP server (GET /metrics) on its own thread."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread):
        self.httpd = httpd
        self.thread = thread
        self.port: int = httpd.server_address[1]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def start_metrics_server(listen: str, registry: CollectorRegistry) -> MetricsServer:
    """Serve ``registry`` on ``listen`` ("host:port", port 0: a free one). A port in use, or an address
    that cannot be bound, is ``InvalidArgument("metrics_listen", ...)`` at once."""
    host, port = parse_host_port(listen, "metrics_listen")
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise InvalidArgument("metrics_listen", f"cannot serve metrics on {listen}: "
                                                f"{exc.strerror or exc}") from None
    return MetricsServer(httpd, thread)


# -- the interceptor ---------------------------------------------------------------------------

def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()  # set by abort/set_code (grpcio >= 1.38)
    if code is None:
        if not context.is_active():  # the client went away (a stream may still end without an error)
            return "CANCELLED"
        return "UNKNOWN" if failed else "OK"
    return str(code.name)


class ObservingInterceptor(grpc.ServerInterceptor):
    """One interceptor for all four handler shapes: the call's request id (context variable, trailing
    metadata, log lines), its latency by method and code (``metrics``, if any) and one log line per
    call at ``rpc_log_level`` (health checks and reflection excepted), and its span (``tracing``, if
    any; health checks and reflection excepted)."""

    def __init__(self, metrics: Metrics | None = None, rpc_log_level: int = logging.DEBUG,
                 tracing: Tracing | None = None):
        self.metrics = metrics
        self.tracing = tracing
        self.rpc_log_level = rpc_log_level
        self.log = logging.getLogger("routerd.rpc")
        self._wrapped: dict[tuple[str, int], tuple[Any, Any]] = {}

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED, no label for made-up names
            return None
        method = details.method
        key = (method, id(handler))  # a method may get several handlers (the token check's refusal)
        hit = self._wrapped.get(key)
        if hit is not None and hit[0] is handler:
            return hit[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[key] = (handler, wrapped)
        return wrapped

    def _finish(self, context: grpc.ServicerContext, method: str, rid: str, t0: float, code: str,
                quiet: bool) -> None:
        seconds = time.perf_counter() - t0
        trailing = tuple(context.trailing_metadata() or ())
        context.set_trailing_metadata((*trailing, (REQUEST_ID_KEY, rid)))
        if self.metrics is not None:
            self.metrics.rpc(method, code, seconds)
        if not quiet and self.log.isEnabledFor(self.rpc_log_level):
            line = functools.partial(self._log_line, method, code, seconds, rid)
            # written once the call has ended (grpc's callback), off the caller's wait; inline if it has
            if not context.add_callback(line):
                line()

    def _log_line(self, method: str, code: str, seconds: float, rid: str) -> None:
        self.log.log(self.rpc_log_level, "%s %s %.3f ms", method, code, seconds * 1e3,
                     extra={"method": method, "code": code, "duration_ms": round(seconds * 1e3, 3),
                            "request_id": rid})

    def _wrap(self, handler: Any, method: str) -> Any:
        quiet = method.startswith(_QUIET_METHODS)
        finish = self._finish
        tracing = None if quiet else self.tracing

        def call(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def unary_response(request: Any, context: grpc.ServicerContext) -> Any:
                metadata = context.invocation_metadata()
                rid = request_id_of(metadata)
                token = _REQUEST_ID.set(rid)
                span = tracing.start_rpc(method, rid, metadata) if tracing is not None else None
                t0 = time.perf_counter()
                failed = True
                try:
                    response = behavior(request, context)
                    failed = False
                    return response
                finally:
                    code = _code_name(context, failed)
                    finish(context, method, rid, t0, code, quiet)
                    if span is not None:
                        tracing.end_rpc(span, code)  # type: ignore[union-attr]
                    _REQUEST_ID.reset(token)
            return unary_response

        def stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def stream_response(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                metadata = context.invocation_metadata()
                rid = request_id_of(metadata)
                t0 = time.perf_counter()
                token = _REQUEST_ID.set(rid)
                span = tracing.start_rpc(method, rid, metadata) if tracing is not None else None
                failed = True
                try:
                    yield from behavior(request, context)
                    failed = False
                finally:
                    code = _code_name(context, failed)
                    finish(context, method, rid, t0, code, quiet)
                    if span is not None:
                        tracing.end_rpc(span, code)  # type: ignore[union-attr]
                    try:
                        _REQUEST_ID.reset(token)
                    except ValueError:  # closed from another thread (a cancelled call collected late)
                        pass
            return stream_response

        if handler.unary_unary is not None:
            return handler._replace(unary_unary=call(handler.unary_unary))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=call(handler.stream_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=stream(handler.unary_stream))
        return handler._replace(stream_stream=stream(handler.stream_stream))


# -- logs --------------------------------------------------------------------------------------

_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                                                        "taskName"}


_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601, ms), level, logger, message, request_id (the
    record's, else the current call's), the record's extra fields, exc (a traceback) when there is one.
    A few µs a line (the date is formatted once a second, the encoder built once)."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        out: dict[str, Any] = {"ts": f"{self._stamp}.{int(record.msecs):03d}Z", "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        fields = record.__dict__
        rid = fields.get("request_id") or _REQUEST_ID.get()
        if rid:
            out["request_id"] = rid
        for key in fields.keys() - _RECORD_FIELDS:
            if key not in out:
                out[key] = fields[key]
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(out)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str, level: str | int = "INFO") -> None:
    """The root logger's one stderr handler: text (as before) or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
