"""What a durable decision log costs: decisions/s and Route p50, in process and over gRPC.

Every Route/BatchRoute returns only after its decisions are committed to the store (group commit:
one committer thread writes whatever decisions are waiting in one transaction, so concurrent calls
share an fsync). This prints, on the default SQLite store (WAL, ``synchronous=FULL``):

1. in process (Engine.route): sequential, and 8 and 16 threads routing at once: decisions/s, p50;
2. over gRPC against a real routerd subprocess: sequential, and 8 and 16 concurrent clients (one
   channel each): decisions/s and Route p50; BatchRoute of 1,000 requests: decisions/s;
3. for each case, how many of the returned decisions were already in the store when the calls
   returned (``durable at return``), read from the store file before anything is shut down.

Run: ``python bench/bench_durability.py`` (``--seconds S`` per concurrent case, default 3). Nothing is
asserted; the figures go into the issue's closing note.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.engine.engine import Engine  # noqa: E402
from routerd.engine.query import RouteQuery  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from routerd.model.embedders import HashingEmbedder  # noqa: E402
from routerd.store import open_store  # noqa: E402
from tests.harness.agents import agent  # noqa: E402
from tests.harness.engine import spec  # noqa: E402
from tests.harness.routerd import Client, RouterdProcess  # noqa: E402

N_AGENTS = 8
SEQUENTIAL_CALLS = 1500


def stored(db: Path) -> int:
    """Decisions in the SQLite file, read by a connection of its own (what a crash would keep)."""
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])


def run_clients(n_clients: int, seconds: float, make_call: Callable[[int], Callable[[int], int]]
                ) -> tuple[int, float, list[float]]:
    """``n_clients`` threads calling for ``seconds``; each call returns how many decisions it made.
    Returns (decisions, elapsed s, latencies of the calls)."""
    stop = threading.Event()
    counts = [0] * n_clients
    lat: list[list[float]] = [[] for _ in range(n_clients)]
    start = threading.Barrier(n_clients + 1)

    def work(k: int) -> None:
        call = make_call(k)
        start.wait()
        i = 0
        while not stop.is_set():
            t = time.perf_counter()
            counts[k] += call(i)
            lat[k].append(time.perf_counter() - t)
            i += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - t0, [x for xs in lat for x in xs]


def line(label: str, n: int, dt: float, lats: list[float], durable: str) -> None:
    p50 = statistics.median(lats) * 1e6 if lats else float("nan")
    print(f"  {label:38} {n / dt:>9,.0f} decisions/s   p50 {p50:>8.0f} us   durable at return: {durable}")


def in_process(tmp: Path, seconds: float) -> None:
    db = tmp / "inproc.db"
    engine = Engine(open_store(f"sqlite://{db}"), HashingEmbedder())
    try:
        for i in range(N_AGENTS):
            engine.registry.register(spec(f"agent-{i}", per_call=0.001 * (i + 1), quality=0.5 + i * 0.05))
        for i in range(50):
            engine.route(RouteQuery(text=f"warm {i}"))
        engine.flush()
        base = stored(db)
        lats = []
        t0 = time.perf_counter()
        for i in range(SEQUENTIAL_CALLS):
            t = time.perf_counter()
            engine.route(RouteQuery(text=f"request {i}", objective="balanced"))
            lats.append(time.perf_counter() - t)
        dt = time.perf_counter() - t0
        kept = stored(db) - base
        line("Engine.route, sequential", SEQUENTIAL_CALLS, dt, lats, f"{kept}/{SEQUENTIAL_CALLS}")
        for n_threads in (8, 16):
            engine.flush()
            base = stored(db)

            def make(k: int) -> Callable[[int], int]:
                def call(i: int) -> int:
                    engine.route(RouteQuery(text=f"t{k} request {i}", objective="balanced"))
                    return 1
                return call

            n, dt, lats = run_clients(n_threads, seconds, make)
            kept = stored(db) - base
            line(f"Engine.route, {n_threads} threads", n, dt, lats, f"{kept}/{n}")
    finally:
        engine.close()
        engine.store.close()


def over_grpc(tmp: Path, seconds: float) -> None:
    data = tmp / "grpc"
    with RouterdProcess(data) as proc:
        db = data / "routerd.db"
        setup = Client(proc.target)
        for i in range(N_AGENTS):
            setup.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(f"agent-{i}")))
        for i in range(50):
            setup.router.Route(pb.RouteRequest(request=f"warm {i}"))
        time.sleep(0.5)  # let a buffered log (the code before group commit) flush the warm-up
        base = stored(db)
        lats = []
        t0 = time.perf_counter()
        for i in range(SEQUENTIAL_CALLS):
            t = time.perf_counter()
            setup.router.Route(pb.RouteRequest(request=f"request {i}", max_alternatives=3), timeout=10)
            lats.append(time.perf_counter() - t)
        dt = time.perf_counter() - t0
        kept = stored(db) - base
        line("gRPC Route, sequential", SEQUENTIAL_CALLS, dt, lats, f"{kept}/{SEQUENTIAL_CALLS}")
        for n_clients in (8, 16):
            time.sleep(0.5)
            base = stored(db)
            clients = [Client(proc.target) for _ in range(n_clients)]

            def make(k: int, clients: list[Client] = clients) -> Callable[[int], int]:
                c = clients[k]

                def call(i: int) -> int:
                    c.router.Route(pb.RouteRequest(request=f"c{k} request {i}", max_alternatives=3), timeout=30)
                    return 1
                return call

            n, dt, lats = run_clients(n_clients, seconds, make)
            kept = stored(db) - base
            line(f"gRPC Route, {n_clients} concurrent clients", n, dt, lats, f"{kept}/{n}")
            for c in clients:
                c.close()
        time.sleep(0.5)
        base = stored(db)
        batch = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"batch {i}", max_alternatives=0)
                                               for i in range(1000)])
        lats = []
        t0 = time.perf_counter()
        for _ in range(5):
            t = time.perf_counter()
            setup.router.BatchRoute(batch, timeout=60)
            lats.append(time.perf_counter() - t)
        dt = time.perf_counter() - t0
        kept = stored(db) - base
        line("gRPC BatchRoute of 1,000, sequential", 5000, dt, lats, f"{kept}/5000")
        setup.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each concurrent case")
    args = p.parse_args()
    print(f"decision log durability, SQLite store, {N_AGENTS} agents (p50 is per call)")
    with tempfile.TemporaryDirectory() as d:
        in_process(Path(d), args.seconds)
        over_grpc(Path(d), args.seconds)


if __name__ == "__main__":
    main()
