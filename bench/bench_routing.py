"""routerd speed, measured in one run as ratios to a floor (DESIGN.md, "Targets").

1. In-process decision with 100 agents, embedding given, every constraint set: p50/p99 (target
   p50 ≤ 50 µs, p99 ≤ 250 µs), through Engine.route (validation + decision log included).
2. gRPC Route on loopback against a real routerd subprocess, p50 as a ratio to a bare gRPC echo of
   the same request bytes against a same-shaped server, calls interleaved (target ≤ 1.2).
3. BatchRoute of 10,000 requests with embeddings: decisions per second.

Run: `make bench` (or `python bench/bench_routing.py`). Prints one table; nothing is asserted.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.domain import AgentSpec, CostModel  # noqa: E402
from routerd.engine.engine import Engine  # noqa: E402
from routerd.engine.query import RouteQuery  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg  # noqa: E402
from routerd.model.embedders import HashingEmbedder  # noqa: E402
from routerd.store import open_store  # noqa: E402
from tests.routerd_proc import RouterdProcess  # noqa: E402

N_AGENTS = 100
rng = np.random.default_rng(7)


def specs(n: int = N_AGENTS) -> list[AgentSpec]:
    caps = ["coding", "general", "reasoning", "vision", "math"]
    return [AgentSpec(f"agent-{i:03d}", "llm", (caps[i % 5], caps[(i * 3 + 1) % 5]),
                      CostModel(float(rng.uniform(0.0001, 0.03)), float(rng.uniform(0.0002, 0.06))),
                      float(rng.uniform(100, 2000)), float(rng.uniform(0.5, 0.97))) for i in range(n)]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e6, q))


def in_process(n_agents: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(open_store(f"sqlite://{d}/b.db"), HashingEmbedder())
        for s in specs(n_agents):
            engine.registry.register(s)
        q = RouteQuery(embedding=rng.standard_normal(384).astype(np.float32), objective="balanced",
                       required_capabilities=("coding",), excluded_agents=("agent-001",), max_cost=0.05,
                       max_latency_ms=1800, min_quality=0.55, budget_remaining=10.0, input_tokens=200)
        for _ in range(500):
            engine.route(q)
        times = []
        for _ in range(20000):
            t = time.perf_counter()
            engine.route(q)
            times.append(time.perf_counter() - t)
        engine.close()
        return pct(times, 50), pct(times, 99)


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
    return pct(tr, 50), pct(te, 50)


def main() -> None:
    for n in (8, N_AGENTS):
        p50, p99 = in_process(n)
        print(f"in-process decision, {n} agents, all constraints: p50 {p50:.1f} us, p99 {p99:.1f} us "
              f"(targets 50 / 250)")
    echo_proc, echo_target = start_echo()
    for n in (8, N_AGENTS):
        grpc_case(n, echo_target)
    echo_proc.kill()
    echo_proc.wait()


def grpc_case(n_agents: int, echo_target: str) -> None:
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
        for label, k in (("top-3 alternatives", 3), (f"all {n_agents - 1} alternatives", None)):
            req = pb.RouteRequest(embedding=emb, objective="balanced", max_alternatives=k,
                                  constraints=pb.Constraints(max_cost=0.05, min_quality=0.55))
            r, e = grpc_ratio(proc.target, echo_target, req)
            print(f"gRPC Route, {n_agents} agents ({label}): p50 {r:.0f} us vs bare echo {e:.0f} us "
                  f"-> ratio {r / e:.2f} (target <= 1.2)")
        batch = pb.BatchRouteRequest(requests=[
            pb.RouteRequest(embedding=[float(x) for x in rng.standard_normal(384)], max_alternatives=1)
            for _ in range(10000)])
        with grpc.insecure_channel(proc.target, options=[("grpc.max_receive_message_length", 256 << 20),
                                                         ("grpc.max_send_message_length", 256 << 20)]) as ch:
            router = pbg.RouterStub(ch)
            router.BatchRoute(batch)
            t = time.perf_counter()
            out = router.BatchRoute(batch)
            dt = time.perf_counter() - t
        print(f"BatchRoute 10,000 requests with embeddings, {n_agents} agents: "
              f"{len(out.decisions) / dt:,.0f} decisions/s ({dt * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
