"""Semantic routing over gRPC, against real routerd processes with the default embedder (MiniLM), in one run.

1. ``Router.Embed`` of one short text (about 10 words, a new text every call, so routerd's cache
   misses), p50, as a ratio to a bare gRPC echo of the same request bytes (bench/echo_server.py) and
   to MiniLM embedding the same text in this process (no cache); the three take turns in blocks of 20
   calls (``interleaved``), so all see the same machine load.
2. ``Router.SemanticRoute`` p50 with 1k and 10k utterances (10 and 100 routes of 100; past 5,000 the
   HNSW index serves): the query as an embedding (matching and gRPC only) and as a new text (MiniLM
   included); the in-process ``RouteSet.match`` on the same vectors and a bare echo of the same bytes
   beside them. Utterance vectors are seeded random unit vectors given to CreateRoute (MiniLM-embedding
   10,000 utterances would take a minute and does not change the cost of matching); an embedding
   query is an utterance's vector plus noise (similarity about 0.9 to it).
3. Ready time with the default embedder: process launch to a passing health check (polled every
   20 ms, a new channel each time), median of 5 launches, with an empty data dir (a new one each
   launch) and with 100 agents + 150 routes x 10 utterances (MiniLM vectors, stored); and the first
   SemanticRoute (a text) right after SERVING. Target (issue 9): ready <= 2 s.

Run: ``OPENBLAS_NUM_THREADS=1 python bench/bench_semantic_grpc.py [--calls N] [--starts N] [--json]``.
Prints one table (or one JSON object); nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.domain import RouteRecord, RouteSpec  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg  # noqa: E402
from routerd.model.embedders.minilm import NAME as MINILM  # noqa: E402
from routerd.model.embedders.minilm import MiniLMEmbedder  # noqa: E402
from routerd.semantic import RouteSet  # noqa: E402
from tests.harness.routerd import RouterdProcess  # noqa: E402

DIM = 384
PER_ROUTE = 100
READY_TARGET_S = 2.0

_WHO = ["I", "my manager", "our team", "the customer", "my daughter", "a colleague", "the new hire", "my landlord"]
_WANT = ["needs help with", "is asking about", "wants to cancel", "cannot find", "has a question about",
         "would like to change", "is worried about", "keeps getting errors with"]
_WHAT = ["the invoice", "a delayed parcel", "the login page", "a refund", "the mobile app", "two-factor codes",
         "the shipping address", "the monthly plan", "a broken charger", "the booking"]
_WHEN = ["since monday", "from last week", "for order {n}", "on ticket {n}", "again today", "after update {n}"]


def short_texts() -> Iterator[str]:
    """Distinct requests of about 10 words (never the same string twice)."""
    for n in itertools.count(1):
        for who, want, what, when in itertools.product(_WHO, _WANT, _WHAT, _WHEN):
            yield f"{who} {want} {what} {when.format(n=n * 7919 % 100_003)}"


def p50_us(xs: list[float]) -> float:
    return statistics.median(xs) * 1e6


def interleaved(calls: dict[str, Callable[[int], object]], n: int, warm: int = 30, block: int = 20) -> dict[str, float]:
    """p50 in microseconds of each call (``fn(i)`` for i in 0..n) after ``warm`` rounds: in blocks of
    ``block`` calls of one kind, the kinds taking turns, so all see the same machine load and each call
    but a block's first follows one of its own kind (a gRPC channel left idle for the ~10 ms of an
    embedding answers its next call about 0.5 ms slower here)."""
    for i in range(warm):
        for fn in calls.values():
            fn(-1 - i)
    times: dict[str, list[float]] = {k: [] for k in calls}
    for lo in range(0, n, block):
        for k, fn in calls.items():
            for i in range(lo, min(n, lo + block)):
                t = time.perf_counter()
                fn(i)
                times[k].append(time.perf_counter() - t)
    return {k: p50_us(v) for k, v in times.items()}


def start_echo() -> tuple[subprocess.Popen[str], str]:
    p = subprocess.Popen([sys.executable, str(ROOT / "bench" / "echo_server.py")], stdout=subprocess.PIPE,
                         stdin=subprocess.PIPE, text=True)
    assert p.stdout is not None
    return p, p.stdout.readline().split()[-1]


def unit(rows: np.ndarray) -> np.ndarray:
    out: np.ndarray = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out


# -- 1. Embed ---------------------------------------------------------------------------------------

def bench_embed(router: pbg.RouterStub, echo: Callable[..., Any], n: int) -> dict[str, float]:
    local = MiniLMEmbedder()  # no cache, and a process of its own: the same texts are new to it too
    texts = short_texts()
    grpc_texts = [next(texts) for _ in range(n + 30)]
    payloads = [pb.EmbedRequest(texts=[t]).SerializeToString() for t in grpc_texts]

    def via_grpc(i: int) -> object:
        return router.Embed(pb.EmbedRequest(texts=[grpc_texts[i]]), timeout=30)

    p = interleaved({"grpc": via_grpc, "echo": lambda i: echo(payloads[i], timeout=30),
                     "local": lambda i: local.embed([grpc_texts[i]])}, n)
    words = statistics.mean(len(t.split()) for t in grpc_texts)
    return {"words": words, "grpc_us": p["grpc"], "echo_us": p["echo"], "in_process_us": p["local"],
            "ratio_to_echo": p["grpc"] / p["echo"], "ratio_to_in_process": p["grpc"] / p["local"],
            "grpc_overhead_us": p["grpc"] - p["local"]}


# -- 2. SemanticRoute -------------------------------------------------------------------------------

def create_routes(routes: pbg.RoutesStub, first: int, last: int, rng: np.random.Generator,
                  records: list[RouteRecord]) -> None:
    for i in range(first, last):
        v = unit(rng.standard_normal((PER_ROUTE, DIM)))
        utts = [f"route {i} utterance {j}" for j in range(PER_ROUTE)]
        routes.CreateRoute(pb.CreateRouteRequest(route=pb.SemanticRoute(
            name=f"route-{i:03d}", utterances=utts, utterance_embeddings=[pb.Vector(values=r) for r in v.tolist()])),
            timeout=600)
        records.append(RouteRecord(RouteSpec(f"route-{i:03d}", tuple(utts)), v, MINILM, 0.0, 0.0))


def bench_match(router: pbg.RouterStub, echo: Callable[..., Any], records: list[RouteRecord], n: int,
                rng: np.random.Generator) -> dict[str, float]:
    matrix = np.concatenate([r.vectors for r in records])
    picks = matrix[rng.integers(len(matrix), size=n + 30)]
    queries = unit(picks + 0.025 * rng.standard_normal(picks.shape).astype(np.float32))
    reqs = [pb.SemanticRouteRequest(embedding=q.tolist(), top_k=3) for q in queries]
    payloads = [r.SerializeToString() for r in reqs]
    routes = RouteSet(records, default_threshold=0.5, background_build=False)
    texts = short_texts()
    text_reqs = [pb.SemanticRouteRequest(query=f"{next(texts)} ({len(records)})", top_k=3) for _ in range(n + 30)]

    def local(i: int) -> object:
        return routes.match(queries[i][None, :], 3, now=time.time(), user_tiers=[None], limiter=None, consume=False)

    p = interleaved({"embedding": lambda i: router.SemanticRoute(reqs[i], timeout=30),
                     "echo": lambda i: echo(payloads[i], timeout=30), "local": local,
                     "text": lambda i: router.SemanticRoute(text_reqs[i], timeout=30)}, n)
    hits = router.SemanticRoute(reqs[0], timeout=30)
    return {"utterances": len(matrix), "routes": len(records), "uses_ann": routes.uses_ann,
            "grpc_embedding_us": p["embedding"], "echo_us": p["echo"], "ratio_to_echo": p["embedding"] / p["echo"],
            "in_process_match_us": p["local"], "grpc_text_us": p["text"],
            "query_similarity": hits.matches[0].similarity if hits.matches else float("nan")}


# -- 3. Ready time ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serving(target: str) -> bool:
    with grpc.insecure_channel(target) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=0.2)
        except grpc.RpcError:
            return False
    return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def launch_to_serving(data_dir: Path, timeout: float = 60.0) -> tuple[float, float, subprocess.Popen[bytes], str]:
    """(seconds from launch to SERVING, ms of the first SemanticRoute after, the process, its target)."""
    port = free_port()
    target = f"127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "routerd", "serve", "--listen", target, "--data-dir", str(data_dir),
           "--embedder", "minilm"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TINYDANCER_LOG_LEVEL": "WARNING"}
    env.pop("TINYDANCER_EMBEDDER", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    # A new channel every poll, as a probe would: one channel that failed to connect waits out gRPC's
    # reconnect backoff (1 s, then more) and would count it as start-up time.
    while not serving(target):
        if proc.poll() is not None or time.perf_counter() - t0 > timeout:
            proc.kill()
            raise RuntimeError(f"routerd did not become SERVING (exit {proc.poll()})")
        time.sleep(0.02)
    ready = time.perf_counter() - t0
    with grpc.insecure_channel(target) as ch:
        t = time.perf_counter()
        pbg.RouterStub(ch).SemanticRoute(pb.SemanticRouteRequest(query="where is my parcel from last week"),
                                         timeout=30)
        first = (time.perf_counter() - t) * 1e3
    return ready, first, proc, target


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def populate(data_dir: Path, agents: int, routes: int, per_route: int) -> None:
    """``agents`` agents and ``routes`` routes of ``per_route`` texts each (embedded by MiniLM), stored."""
    with RouterdProcess(data_dir, extra_args=("--embedder", "minilm")) as proc, \
            grpc.insecure_channel(proc.target) as ch:
        reg, rts = pbg.AgentRegistryStub(ch), pbg.RoutesStub(ch)
        caps = ["billing", "shipping", "identity", "coding", "general"]
        for i in range(agents):
            reg.RegisterAgent(pb.RegisterAgentRequest(agent=pb.AgentSpec(
                name=f"agent-{i:03d}", agent_type="llm", capabilities=[caps[i % 5], caps[(i * 3 + 1) % 5]],
                cost=pb.CostModel(per_1k_input_tokens=0.001), latency_prior_ms=500, quality_prior=0.8)), timeout=30)
        texts = short_texts()
        for i in range(routes):
            rts.CreateRoute(pb.CreateRouteRequest(route=pb.SemanticRoute(
                name=f"route-{i:03d}", target_agent=f"agent-{i % agents:03d}",
                utterances=[next(texts) for _ in range(per_route)])), timeout=60)


def bench_ready(starts: int) -> dict[str, dict[str, float]]:
    out = {}
    with tempfile.TemporaryDirectory() as d:
        full = Path(d) / "populated"
        populate(full, 100, 150, 10)
        for label in ("empty", "populated"):
            ready, first = [], []
            for k in range(starts):
                data = Path(d) / f"empty-{k}" if label == "empty" else full
                r, f, proc, _ = launch_to_serving(data)
                stop(proc)
                ready.append(r)
                first.append(f)
            out[label] = {"median_s": statistics.median(ready), "min_s": min(ready), "max_s": max(ready),
                          "first_semantic_route_ms": statistics.median(first), "starts": starts}
    return out


# -- main -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=400, help="timed calls per measurement (default 400)")
    ap.add_argument("--starts", type=int, default=5, help="routerd launches per ready-time case (default 5)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(17)
    figures: dict[str, Any] = {"embedder": MINILM, "cpus": os.cpu_count()}
    echo_proc, echo_target = start_echo()
    try:
        with tempfile.TemporaryDirectory() as d, \
                RouterdProcess(Path(d) / "routerd", extra_args=("--embedder", "minilm")) as proc, \
                grpc.insecure_channel(proc.target) as ch, grpc.insecure_channel(echo_target) as ech:
            router, routes = pbg.RouterStub(ch), pbg.RoutesStub(ch)
            echo = ech.unary_unary("/bench.Echo/Echo")
            figures["embed"] = bench_embed(router, echo, args.calls)
            records: list[RouteRecord] = []
            figures["semantic_route"] = []
            for total in (1_000, 10_000):
                create_routes(routes, len(records), total // PER_ROUTE, rng, records)
                figures["semantic_route"].append(bench_match(router, echo, records, args.calls, rng))
    finally:
        echo_proc.kill()
        echo_proc.wait()
    figures["ready"] = bench_ready(args.starts)

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    e = figures["embed"]
    print(f"{MINILM}, {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"p50 of {args.calls} calls each (interleaved in blocks of 20)")
    print(f"{'measurement':68} {'p50':>11}  notes")

    def row(label: str, value: str, note: str = "") -> None:
        print(f"{label:68} {value:>11}  {note}")

    row(f"Router.Embed, 1 text (~{e['words']:.0f} words), cache missed", f"{e['grpc_us']:.0f} us",
        f"{e['ratio_to_echo']:.1f}x echo, {e['ratio_to_in_process']:.2f}x in process")
    row("  bare gRPC echo of the same bytes", f"{e['echo_us']:.0f} us")
    row("  MiniLM in process, the same texts", f"{e['in_process_us']:.0f} us",
        f"gRPC adds {e['grpc_overhead_us']:.0f} us")
    for m in figures["semantic_route"]:
        how = "HNSW" if m["uses_ann"] else "exact"
        row(f"SemanticRoute, {m['utterances']:,} utterances ({how}), embedding given",
            f"{m['grpc_embedding_us']:.0f} us", f"{m['ratio_to_echo']:.1f}x echo")
        row("  bare gRPC echo of the same bytes", f"{m['echo_us']:.0f} us")
        row("  RouteSet.match in process", f"{m['in_process_match_us']:.0f} us")
        row("  SemanticRoute, a new text each call (MiniLM included)", f"{m['grpc_text_us']:.0f} us")
    for label, r in figures["ready"].items():
        what = "empty data dir" if label == "empty" else "100 agents, 150 routes x 10 utterances"
        row(f"ready (launch -> SERVING), {what}", f"{r['median_s']:.2f} s",
            f"median of {r['starts']} ({r['min_s']:.2f}..{r['max_s']:.2f}), target <= {READY_TARGET_S:.0f} s")
        row("  first SemanticRoute (text) right after SERVING", f"{r['first_semantic_route_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
