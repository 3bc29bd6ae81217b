"""What metrics and JSON logs cost a decision (issue 12), measured in one run, interleaved, as ratios.

1. In process: Engine.route (100 agents, embedding given, every constraint set, decision log included)
   with the Prometheus observer (routerd.observability.Metrics) vs without, on two engines with the
   same agents, calls alternating; and the observer's own cost per decision (Metrics.decided).
2. Over gRPC: Route against three real routerd processes, calls alternating between them: defaults
   (no metrics, text logs; the request-id interceptor is always on), --metrics-listen, and
   --metrics-listen with --log-format json (one JSON line per RPC written to the process's stderr
   file), p50 of each and its ratio to the defaults. Target: <= 1.05.
3. Tracing (routerd.tracing): in process, Engine.route with an OpenTelemetry tracer (spans of the
   engine's phases, batch-exported to a sink that drops them) vs the default no-op tracer, and the
   no-op tracer's own cost (three phases) against Router.route; over gRPC, --otlp-endpoint pointed at
   a local HTTP sink (POST /v1/traces answered 200) vs the defaults, in the same interleaved run.

Run: `make bench` (or `python bench/bench_observability.py`). Prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_routing import specs  # noqa: E402  (the same 100 agents as bench_routing)
from routerd.engine.engine import NO_TRACER, Engine  # noqa: E402
from routerd.engine.query import RouteQuery  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg  # noqa: E402
from routerd.model.embedders import HashingEmbedder  # noqa: E402
from routerd.observability import Metrics  # noqa: E402
from routerd.store import open_store  # noqa: E402
from routerd.tracing import start_tracing  # noqa: E402
from tests.harness.routerd import RouterdProcess  # noqa: E402

N_AGENTS = 100
rng = np.random.default_rng(11)


def query() -> RouteQuery:
    return RouteQuery(embedding=rng.standard_normal(384).astype(np.float32), objective="balanced",
                      required_capabilities=("coding",), excluded_agents=("agent-001",), max_cost=0.05,
                      max_latency_ms=1800, min_quality=0.55, budget_remaining=10.0, input_tokens=200)


def interleaved(fns: list[Callable[[], object]], n: int, warm: int) -> list[float]:
    """p50 (µs) of each function, called in turn n times after ``warm`` rounds."""
    for _ in range(warm):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for fn, out in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return [statistics.median(t) * 1e6 for t in times]


def in_process(d: str, n: int) -> None:
    metrics = Metrics()
    off = Engine(open_store(f"sqlite://{d}/off.db"), HashingEmbedder())
    on = Engine(open_store(f"sqlite://{d}/on.db"), HashingEmbedder(), observer=metrics)
    metrics.bind(on)
    for s in specs():
        off.registry.register(s)
        on.registry.register(s)
    q = query()
    p_off, p_on = interleaved([lambda: off.route(q), lambda: on.route(q)], n, 500)
    print(f"in process, Engine.route, {N_AGENTS} agents, every constraint, decision log included:")
    print(f"  p50 without metrics {p_off:.1f} us, with metrics {p_on:.1f} us -> ratio {p_on / p_off:.3f} "
          f"(target <= 1.05)")
    d1 = on.route(q)
    infeasible = on.route(RouteQuery(embedding=q.embedding, max_cost=0.0))
    costs = {}
    for label, dec in (("routed", d1), ("infeasible", infeasible)):
        k = 20000
        t = time.perf_counter()
        for _ in range(k):
            metrics.decided((dec,), 3e-5, "route")
        costs[label] = (time.perf_counter() - t) / k * 1e6
        print(f"  Metrics.decided, one {label} decision: {costs[label]:.2f} us")
    # The decision without the log's commit (Router.route alone, as in bench_routing.py): what the
    # observer adds (Metrics.decided and two perf_counter reads) against it.
    table = off.table()
    (p_router,) = interleaved([lambda: off.router.route(table, (q,), now=time.time())], n, 500)
    clock = interleaved([time.perf_counter], n, 500)[0]
    extra = costs["routed"] + 2 * clock
    print(f"  Router.route alone (no decision log) p50 {p_router:.1f} us; + the observer's {extra:.2f} us "
          f"-> ratio {(p_router + extra) / p_router:.3f}")
    for e in (off, on):
        e.close()
        e.store.close()


class _Drop:
    """A span exporter that drops what it is given (the SDK's cost without a collector's)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def tracing_in_process(d: str, n: int) -> None:
    tracing = start_tracing("http://127.0.0.1:4318", exporter=_Drop())
    off = Engine(open_store(f"sqlite://{d}/t_off.db"), HashingEmbedder())
    on = Engine(open_store(f"sqlite://{d}/t_on.db"), HashingEmbedder(), tracer=tracing)
    for s in specs():
        off.registry.register(s)
        on.registry.register(s)
    q = query()
    p_off, p_on = interleaved([lambda: off.route(q), lambda: on.route(q)], n, 500)
    print("in process, Engine.route, tracing (3 engine spans a decision, batch-exported and dropped):")
    print(f"  p50 no-op tracer {p_off:.1f} us, OpenTelemetry tracer {p_on:.1f} us -> ratio {p_on / p_off:.3f}")

    def noop_phases() -> None:
        span = NO_TRACER.span
        with span("engine.validate"):
            pass
        with span("engine.route"):
            pass
        with span("engine.commit"):
            pass

    (p_noop,) = interleaved([noop_phases], n, 500)
    table = off.table()
    (p_router,) = interleaved([lambda: off.router.route(table, (q,), now=time.time())], n, 500)
    print(f"  tracing off: the no-op tracer's three phases {p_noop:.2f} us against Router.route alone "
          f"{p_router:.1f} us -> ratio {(p_router + p_noop) / p_router:.3f}")
    for e in (off, on):
        e.close()
        e.store.close()
    tracing.shutdown()


class _SinkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def register(target: str) -> None:
    with grpc.insecure_channel(target) as ch:
        reg = pbg.AgentRegistryStub(ch)
        for s in specs():
            reg.RegisterAgent(pb.RegisterAgentRequest(agent=pb.AgentSpec(
                name=s.name, agent_type=s.agent_type, capabilities=list(s.capabilities),
                cost=pb.CostModel(per_1k_input_tokens=s.cost.per_1k_input_tokens,
                                  per_1k_output_tokens=s.cost.per_1k_output_tokens),
                latency_prior_ms=s.latency_prior_ms, quality_prior=s.quality_prior)))


def over_grpc(d: str, n: int, sink: str) -> None:
    variants = [("defaults (no metrics, text logs)", ()),
                ("--otlp-endpoint (a local sink)", ("--otlp-endpoint", sink)),
                ("--metrics-listen", ("--metrics-listen", "127.0.0.1:0")),
                ("--metrics-listen --log-format json", ("--metrics-listen", "127.0.0.1:0", "--log-format", "json"))]
    procs = [RouterdProcess(Path(d) / f"r{i}", extra_args=args) for i, (_, args) in enumerate(variants)]
    try:
        for p in procs:
            p.start()
            register(p.target)
        channels = [grpc.insecure_channel(p.target) for p in procs]
        req = pb.RouteRequest(embedding=[float(x) for x in rng.standard_normal(384)], objective="balanced",
                              max_alternatives=3, constraints=pb.Constraints(max_cost=0.05, min_quality=0.55),
                              input_tokens=200)
        routes = [pbg.RouterStub(ch).Route for ch in channels]
        p50 = interleaved([lambda r=r: r(req) for r in routes], n, 300)  # type: ignore[misc]
        print(f"gRPC Route, {N_AGENTS} agents, top-3 alternatives, {n} calls each, interleaved:")
        for (label, _), median in zip(variants, p50, strict=True):
            print(f"  {label:40} p50 {median:6.0f} us -> ratio {median / p50[0]:.3f} (target <= 1.05)")
        for ch in channels:
            ch.close()
        size = procs[-1].stderr_path.stat().st_size
        print(f"  JSON log of the last: {size / 1e6:.1f} MB for {n + 300 + N_AGENTS + 2} RPCs")
    finally:
        for p in procs:
            p.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="calls per variant")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        in_process(d, args.n * 4)
        tracing_in_process(d, args.n * 4)
        with otlp_sink() as sink:
            over_grpc(d, args.n, sink)


if __name__ == "__main__":
    main()
