"""routerd speed, measured in one run as ratios to a floor (DESIGN.md, "Targets").

1. In-process decision with 100 agents, embedding given, every constraint set: p50/p99 (targets
   p50 ≤ 50 µs, p99 ≤ 250 µs), through Engine.route (validation + decision log included), with the
   phases measured one by one (validation, table, quality, cost, static rules, kernel, similarity,
   decision log).
2. gRPC Route on loopback against a real routerd subprocess, 100 agents, embedding given, top-3
   alternatives, p50 as a ratio to a bare gRPC echo of the same request bytes, calls interleaved
   (target ≤ 1.2); with and without the reasoning text, and with every alternative. The handler's own
   phases (parse, convert, route, build the reply, serialize) are measured in process on the same bytes.
3. BatchRoute of 10,000 requests with embeddings: in process (target ≥ 20,000 decisions/s) and over gRPC.
4. The same in-process decision with a trained FastGRNN live (int8 encoder + heads on the path, blended
   with observed quality), next to the observed-quality model in the same run; each also without the
   decision log (Router.route alone), since the log's commit is most of a decision's time.

Run: `make bench` (or `python bench/bench_routing.py`). Prints one table; nothing is asserted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.api.convert import decision_to_proto, query_from_proto  # noqa: E402
from routerd.domain import AgentSpec, CostModel  # noqa: E402
from routerd.engine import kernel  # noqa: E402
from routerd.engine.engine import Engine  # noqa: E402
from routerd.engine.feasibility import bounds_of, static_codes  # noqa: E402
from routerd.engine.objectives import C0, TEMPERATURE, utility_kind  # noqa: E402
from routerd.engine.query import RouteQuery, validate_query  # noqa: E402
from routerd.engine.router import Router  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg  # noqa: E402
from routerd.model.embedders import HashingEmbedder  # noqa: E402
from routerd.store import open_store  # noqa: E402
from tests.harness.routerd import RouterdProcess  # noqa: E402

N_AGENTS = 100
rng = np.random.default_rng(7)


def specs(n: int = N_AGENTS) -> list[AgentSpec]:
    caps = ["coding", "general", "reasoning", "vision", "math"]
    return [AgentSpec(f"agent-{i:03d}", "llm", (caps[i % 5], caps[(i * 3 + 1) % 5]),
                      CostModel(float(rng.uniform(0.0001, 0.03)), float(rng.uniform(0.0002, 0.06))),
                      float(rng.uniform(100, 2000)), float(rng.uniform(0.5, 0.97))) for i in range(n)]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e6, q))


def timed(fn: Callable[[], object], n: int = 20000, warm: int = 500) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def full_query() -> RouteQuery:
    return RouteQuery(embedding=rng.standard_normal(384).astype(np.float32), objective="balanced",
                      required_capabilities=("coding",), excluded_agents=("agent-001",), max_cost=0.05,
                      max_latency_ms=1800, min_quality=0.55, budget_remaining=10.0, input_tokens=200)


def in_process(engine: Engine, n_agents: int) -> None:
    q = full_query()
    times = timed(lambda: engine.route(q))
    p50, p99 = pct(times, 50), pct(times, 99)
    print(f"in-process decision, {n_agents} agents, embedding given, all constraints: p50 {p50:.1f} us, "
          f"p99 {p99:.1f} us (targets 50 / 250){'' if kernel.COMPILED else ' [numpy kernel: not compiled]'}")
    if n_agents != N_AGENTS:
        return
    # Where the time goes, phase by phase (each measured alone, so the sum is only indicative).
    t = engine.table()
    router: Router = engine.router
    qual = router.model.predict(t, [q], None)
    cost = Router._cost(t, [q])
    codes = static_codes(t, [q], 0.0)
    util = np.empty(len(t))
    bounds = bounds_of(q)
    kind = utility_kind(q.objective, q.willingness_to_pay)
    d = engine.route(q)
    phases: dict[str, Callable[[], object]] = {
        "validate": lambda: validate_query(q, 384),
        "table (cached)": engine.table,
        "quality model": lambda: router.model.predict(t, [q], None),
        "cost": lambda: Router._cost(t, [q]),
        "static rules": lambda: static_codes(t, [q], 0.0),
        "kernel": lambda: kernel.route_one(cost[0], t.latency, t.log_latency, qual[0], codes[0].copy(), util,
                                           bounds, *kind, C0, TEMPERATURE),
        "similarity": lambda: router._similarities(t, [q], np.array([d.chosen]), None),
        "decision log": lambda: engine.decisions.append((d,)),
    }
    print("  phases (p50 us): " + ", ".join(f"{k} {pct(timed(f, 5000, 200), 50):.1f}" for k, f in phases.items()))


def with_model(engine: Engine) -> None:
    """Train a FastGRNN on synthetic outcomes of the engine's 100 agents, then time decisions with it."""
    from routerd.engine.learning import TrainOptions
    from routerd.model.datasets import RoutingDataset, validate_record

    q = full_query()
    t = engine.table()
    before = pct(timed(lambda: engine.route(q)), 50)
    before_router = pct(timed(lambda: engine.router.route(t, (q,))), 50)
    names = list(t.names)
    g = np.random.default_rng(3)
    direction = g.standard_normal((len(names), 384))
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    recs = []
    for i in range(2000):
        text = " ".join(g.choice(words, size=6))
        x = engine.embedder.embed([text])[0]
        p = 1 / (1 + np.exp(-(direction @ x)))
        recs.append(validate_record({"prompt": text, "agents": {
            n: {"quality": float(g.random() < p[j]), "cost": 0.001} for j, n in enumerate(names)}}, f"bench:{i + 1}"))
    ds = RoutingDataset.from_records(recs, "bench")
    job = engine.models.start_training(TrainOptions(dataset=ds, hyperparameters={"epochs": 5}))
    rec = job.result()
    if rec.status != "live":
        engine.models.promote(rec.version)
    live = engine.models.live
    assert live is not None
    t = engine.table()
    after = timed(lambda: engine.route(q))
    after_router = pct(timed(lambda: engine.router.route(t, (q,))), 50)
    heads = live._table_heads(t).heads
    x = q.embedding
    assert x is not None
    model_only = pct(timed(lambda: live.inference.predict_one(x, heads)), 50)
    predict = pct(timed(lambda: live.predict(t, [q], None)), 50)
    print(f"in-process decision with FastGRNN {live.version} live ({live.inference.nbytes_encoder:,} B int8 "
          f"encoder, {N_AGENTS} agents, embedding given, all constraints): p50 {pct(after, 50):.1f} us, "
          f"p99 {pct(after, 99):.1f} us (observed quality, same run: p50 {before:.1f} us)")
    qs = [RouteQuery(embedding=rng.standard_normal(384).astype(np.float32), objective="balanced") for _ in range(10000)]
    engine.route_batch(qs)
    t0 = time.perf_counter()
    engine.route_batch(qs)
    rate = len(qs) / (time.perf_counter() - t0)
    print(f"  BatchRoute in process with the model, 10,000 requests with embeddings: {rate:,.0f} decisions/s "
          "(target >= 20,000)")
    print(f"  without the decision log (Router.route): {after_router:.1f} us with the model vs {before_router:.1f} us "
          f"without (target p50 <= 50); encoder + heads {model_only:.1f} us (target <= 10), "
          f"with the evidence blend {predict:.1f} us")


def batch_in_process(engine: Engine) -> None:
    qs = [RouteQuery(embedding=rng.standard_normal(384).astype(np.float32), objective="balanced") for _ in range(10000)]
    engine.route_batch(qs)
    t = time.perf_counter()
    engine.route_batch(qs)
    dt = time.perf_counter() - t
    print(f"BatchRoute in process, 10,000 requests with embeddings, {N_AGENTS} agents: {len(qs) / dt:,.0f} "
          f"decisions/s (target >= 20,000)")


def handler_phases(engine: Engine, request: pb.RouteRequest, label: str) -> None:
    """The Route handler's work on these request bytes, phase by phase (in process)."""
    data = request.SerializeToString()
    msg = pb.RouteRequest.FromString(data)
    query = query_from_proto(msg)
    d = engine.route(query)
    limit = msg.max_alternatives if msg.HasField("max_alternatives") else None
    reply = decision_to_proto(d, limit, reasoning=not msg.omit_reasoning)
    phases: dict[str, Callable[[], object]] = {
        "parse": lambda: pb.RouteRequest.FromString(data),
        "convert": lambda: query_from_proto(msg),
        "route": lambda: engine.route(query),
        "reply": lambda: decision_to_proto(d, limit, reasoning=not msg.omit_reasoning),
        "serialize": reply.SerializeToString,
    }
    print(f"  handler phases, {label} (p50 us): "
          + ", ".join(f"{k} {pct(timed(f, 5000, 200), 50):.1f}" for k, f in phases.items()))


def start_echo() -> tuple[subprocess.Popen[str], str]:
    p = subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_server.py")], stdout=subprocess.PIPE,
                         stdin=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    return p, line.split()[-1]


def grpc_ratio(target: str, echo_target: str, request: pb.RouteRequest, n: int = 5000) -> tuple[float, float]:
    with grpc.insecure_channel(target) as ch, grpc.insecure_channel(echo_target) as ech:
        route = pbg.RouterStub(ch).Route
        echo = ech.unary_unary("/bench.Echo/Echo")
        payload = request.SerializeToString()
        for _ in range(300):
            route(request)
            echo(payload)
        tr, te = [], []
        for _ in range(n):  # interleaved, so both see the same machine load
            t = time.perf_counter()
            route(request)
            tr.append(time.perf_counter() - t)
            t = time.perf_counter()
            echo(payload)
            te.append(time.perf_counter() - t)
    return statistics.median(tr) * 1e6, statistics.median(te) * 1e6


def grpc_case(n_agents: int, echo_target: str, engine: Engine) -> None:
    with tempfile.TemporaryDirectory() as d, RouterdProcess(Path(d) / "routerd") as proc:
        with grpc.insecure_channel(proc.target) as ch:
            reg = pbg.AgentRegistryStub(ch)
            for s in specs(n_agents):
                reg.RegisterAgent(pb.RegisterAgentRequest(agent=pb.AgentSpec(
                    name=s.name, agent_type=s.agent_type, capabilities=list(s.capabilities),
                    cost=pb.CostModel(per_1k_input_tokens=s.cost.per_1k_input_tokens,
                                      per_1k_output_tokens=s.cost.per_1k_output_tokens),
                    latency_prior_ms=s.latency_prior_ms, quality_prior=s.quality_prior)))
        emb = [float(x) for x in rng.standard_normal(384)]
        cases = [("top-3 alternatives", 3, False), ("top-3 alternatives, omit_reasoning", 3, True),
                 (f"all {n_agents - 1} alternatives", None, False)]
        for label, k, omit in cases:
            req = pb.RouteRequest(embedding=emb, objective="balanced", max_alternatives=k, omit_reasoning=omit,
                                  constraints=pb.Constraints(max_cost=0.05, min_quality=0.55))
            r, e = grpc_ratio(proc.target, echo_target, req)
            print(f"gRPC Route, {n_agents} agents ({label}): p50 {r:.0f} us vs bare echo {e:.0f} us "
                  f"-> ratio {r / e:.2f} (target <= 1.2)")
            if n_agents == N_AGENTS:
                handler_phases(engine, req, label)
        batch = pb.BatchRouteRequest(requests=[
            pb.RouteRequest(embedding=[float(x) for x in rng.standard_normal(384)], max_alternatives=1,
                            omit_reasoning=True)
            for _ in range(10000)])
        with grpc.insecure_channel(proc.target, options=[("grpc.max_receive_message_length", 256 << 20),
                                                         ("grpc.max_send_message_length", 256 << 20)]) as ch:
            router = pbg.RouterStub(ch)
            router.BatchRoute(batch)
            t = time.perf_counter()
            out = router.BatchRoute(batch)
            dt = time.perf_counter() - t
        print(f"BatchRoute over gRPC, 10,000 requests with embeddings, {n_agents} agents: "
              f"{len(out.decisions) / dt:,.0f} decisions/s ({dt * 1000:.0f} ms)")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        engines = {}
        for n in (8, N_AGENTS):
            engines[n] = Engine(open_store(f"sqlite://{d}/b{n}.db"), HashingEmbedder())
            for s in specs(n):
                engines[n].registry.register(s)
            in_process(engines[n], n)
        batch_in_process(engines[N_AGENTS])
        echo_proc, echo_target = start_echo()
        for n in (8, N_AGENTS):
            grpc_case(n, echo_target, engines[N_AGENTS])
        echo_proc.kill()
        echo_proc.wait()
        with_model(engines[N_AGENTS])
        for e in engines.values():
            e.close()


if __name__ == "__main__":
    main()
