"""Routing through SQL, measured in one run against floors measured in the same run (DESIGN.md, "Targets").

1. One decision through SQL, p50, as a ratio to (`SELECT 1` p50 + bare gRPC echo p50), all measured
   interleaved (target ≤ 1.3 each): `decisions WHERE request = $1` (text) and
   `decisions WHERE request_embedding = $1` (a 384-d float4[] given); the echo carries the same
   RouteRequest bytes routerd would get. `tinydancer.route($1)` (plpgsql) is shown for reference.
2. A 10,000-row table of requests with 384-d embeddings routed in one statement
   (`tinydancer.route_embedded`, one BatchRoute per 5,000), decisions/s (target ≥ 5,000), against its
   floor: the same 10,000 requests sent straight to routerd's BatchRoute from this process.
3. `= ANY` over the 10,000 texts (a bound array parameter: hashed by PostgreSQL), decisions/s.

Where a target is missed, a breakdown measured in the same run follows: PostgreSQL's planning and
execution time (EXPLAIN ANALYZE, server side), routerd's own call (the same request over gRPC from
here), and what is left for the bridge and the FDW's Python.

Run: `make bench` (needs the bridge installed: `make bridge`). Prints one table; asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_routing import start_echo  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg  # noqa: E402
from tests.harness.agents import SQL_AGENTS as AGENTS  # noqa: E402
from tests.harness.cluster import bridge_cluster, running  # noqa: E402
from tests.harness.routerd import RouterdProcess  # noqa: E402
from tests.harness.sql import install  # noqa: E402

N_ROWS = 10_000
DIM = 384
N_ONE = 2000
TEXT = "summarise this support ticket"


def p50(xs: list[float]) -> float:
    return statistics.median(xs) * 1e6


def interleaved(fns: dict[str, Callable[[], Any]], n: int) -> dict[str, float]:
    """p50 µs of each function, called in turn n times (every one sees the same machine load)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: p50(v) for k, v in times.items()}


def explain(conn: psycopg.Connection[Any], sql: str, params: Any, n: int = 200) -> tuple[float, float]:
    """p50 µs of PostgreSQL's planning and execution time (server side) for ``sql``."""
    plan_t, exec_t = [], []
    for _ in range(n):
        out = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
        assert out is not None
        doc = out[0] if isinstance(out[0], list) else json.loads(out[0])
        plan_t.append(doc[0]["Planning Time"] / 1e3)
        exec_t.append(doc[0]["Execution Time"] / 1e3)
    return p50(plan_t), p50(exec_t)


def vec_text(v: np.ndarray) -> str:
    return "{" + ",".join(f"{x:.7g}" for x in v) + "}"


def main() -> None:
    rng = np.random.default_rng(3)
    emb1 = rng.standard_normal(DIM).astype(np.float32)
    emb1 /= np.linalg.norm(emb1)
    emb1_text = vec_text(emb1)
    echo_proc, echo_target = start_echo()
    with tempfile.TemporaryDirectory() as d, RouterdProcess(Path(d) / "routerd") as r, \
            running(bridge_cluster(env={"TINYDANCER_FDW_TIMING": "1"})) as pg:  # batch-path phase timers
        install(pg, r.target)
        with psycopg.connect(pg.dsn, autocommit=True) as conn, grpc.insecure_channel(echo_target) as ech, \
                grpc.insecure_channel(r.target) as rch:
            conn.execute(AGENTS)
            notices: list[str] = []
            conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
            echo = ech.unary_unary("/bench.Echo/Echo")
            router = pbg.RouterStub(rch)
            req_text = pb.RouteRequest(request=TEXT, objective="balanced", max_alternatives=0, omit_reasoning=True)
            req_emb = pb.RouteRequest(objective="balanced", embedding=emb1.tolist(), max_alternatives=0,
                                      omit_reasoning=True)
            text_bytes, emb_bytes = req_text.SerializeToString(), req_emb.SerializeToString()
            one_text = "SELECT agent_name FROM tinydancer.decisions WHERE request = %s AND optimize_for = 'balanced'"
            one_emb = ("SELECT agent_name FROM tinydancer.decisions WHERE request_embedding = %s::float4[] "
                       "AND optimize_for = 'balanced'")
            fn = "SELECT agent_name FROM tinydancer.route(%s)"
            fns: dict[str, Callable[[], Any]] = {
                "text": lambda: conn.execute(one_text, (TEXT,)).fetchall(),
                "embedding": lambda: conn.execute(one_emb, (emb1_text,)).fetchall(),
                "route()": lambda: conn.execute(fn, (TEXT,)).fetchall(),
                "select1": lambda: conn.execute("SELECT 1").fetchall(),
                "echo_text": lambda: echo(text_bytes),
                "echo_emb": lambda: echo(emb_bytes),
                "grpc_text": lambda: router.Route(req_text),
                "grpc_emb": lambda: router.Route(req_emb),
            }
            interleaved(fns, 200)  # warm: psycopg prepares after 5 runs, PostgreSQL settles on its plan
            t = interleaved(fns, N_ONE)
            print(f"floors: SELECT 1 p50 {t['select1']:.0f} us; bare gRPC echo p50 {t['echo_text']:.0f} us (text "
                  f"request), {t['echo_emb']:.0f} us (384-d embedding)")
            missed = []
            for name, q, params, echo_key, grpc_key in (("text", one_text, (TEXT,), "echo_text", "grpc_text"),
                                                         ("embedding", one_emb, (emb1_text,), "echo_emb", "grpc_emb")):
                floor = t["select1"] + t[echo_key]
                ratio = t[name] / floor
                print(f"one decision, {name:9} p50 {t[name]:6.0f} us / floor {floor:.0f} us = {ratio:.2f} "
                      f"(target <= 1.3){'' if ratio <= 1.3 else '  MISSED'}")
                if ratio > 1.3:
                    missed.append((name, q, params, grpc_key, floor))
            print(f"one decision, tinydancer.route($1) p50 {t['route()']:.0f} us = "
                  f"{t['route()'] / (t['select1'] + t['echo_text']):.2f} x floor (plpgsql, reference)")
            for name, q, params, grpc_key, floor in missed:
                plan_us, exec_us = explain(conn, q, params)
                route_us = t[grpc_key]
                print(f"  breakdown ({name}): SQL p50 {t[name]:.0f} us = PostgreSQL planning {plan_us:.0f} + "
                      f"execution {exec_us:.0f} (of which routerd Route over gRPC {route_us:.0f}, so bridge + FDW "
                      f"Python {max(exec_us - route_us, 0):.0f}) + client/protocol {t[name] - plan_us - exec_us:.0f} "
                      f"| routerd's handler over echo: {route_us - floor + t['select1']:.0f} us")

            conn.execute("CREATE TABLE requests (id int PRIMARY KEY, body text, embedding float4[])")
            embs = rng.standard_normal((N_ROWS, DIM)).astype(np.float32)
            embs /= np.linalg.norm(embs, axis=1, keepdims=True)
            bodies = [f"request {i}: please help with task {i % 97}" for i in range(N_ROWS)]
            with conn.cursor().copy("COPY requests FROM STDIN") as cp:
                for i in range(N_ROWS):
                    cp.write_row((i, bodies[i], vec_text(embs[i])))
            conn.execute("ANALYZE requests")

            batch_sql = ("WITH b AS (SELECT array_agg(id ORDER BY id) ids, array_agg(body ORDER BY id) bodies, "
                         "array_agg(embedding ORDER BY id) embs FROM requests) "
                         "SELECT b.ids[d.position], d.agent_name FROM b, tinydancer.route_embedded(b.bodies, b.embs) d")
            conn.execute(batch_sql.replace("FROM requests)", "FROM requests WHERE id < 10)")).fetchall()  # warm
            t0 = time.perf_counter()
            rows = conn.execute(batch_sql).fetchall()
            dt = time.perf_counter() - t0
            assert len(rows) == N_ROWS and rows[0][0] == 0 and rows[-1][0] == N_ROWS - 1
            rate = N_ROWS / dt
            # floor: the same requests straight to routerd, 5,000 per BatchRoute, from this process
            chunks = [pb.BatchRouteRequest(requests=[
                pb.RouteRequest(request=bodies[i], embedding=embs[i].tolist(), objective="balanced",
                                max_alternatives=0, omit_reasoning=True) for i in range(s, min(s + 5000, N_ROWS))])
                for s in range(0, N_ROWS, 5000)]
            t0 = time.perf_counter()
            for c in chunks:
                router.BatchRoute(c, timeout=120)
            direct = time.perf_counter() - t0
            print(f"{N_ROWS:,} rows with {DIM}-d embeddings, one statement (route_embedded): {rate:,.0f} decisions/s "
                  f"= {rate / 5000:.2f} x target 5,000/s; floor (BatchRoute from here, same requests) "
                  f"{N_ROWS / direct:,.0f}/s -> {direct / dt:.2f} of the floor{'' if rate >= 5000 else '  MISSED'}")
            fdw_t = next((json.loads(m.split(": ", 1)[1]) for m in reversed(notices)
                          if m.startswith("tinydancer fdw timing")), {})
            t0 = time.perf_counter()
            h = conn.execute("INSERT INTO tinydancer.batches (requests, embeddings) SELECT "
                             "array_agg(body ORDER BY id), array_agg(embedding ORDER BY id) FROM requests "
                             "RETURNING handle").fetchall()[0][0]
            stage = time.perf_counter() - t0
            conn.execute("DELETE FROM tinydancer.batches WHERE handle = %s", (h,))
            phases = {k: v for k, v in fdw_t.items() if isinstance(v, float)}
            print(f"  breakdown: statement {dt * 1e3:.0f} ms; staging alone (array_agg, the bridge's float4[] -> "
                  f"Python of {N_ROWS * DIM:,} floats, embeddings arriving as {fdw_t.get('embeddings arrive as')}, "
                  f"then numpy) {stage * 1e3:.0f} ms; FDW phases: "
                  + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in phases.items())
                  + f"; rest (PostgreSQL: function, rows, this client) "
                  f"{max(dt - stage - sum(v for k, v in phases.items() if k != 'embeddings to numpy'), 0) * 1e3:.0f}"
                  " ms")
            t0 = time.perf_counter()
            n = len(conn.execute("SELECT d.request, d.agent_name FROM tinydancer.decisions d "
                                 "WHERE d.request = ANY(%s)", (bodies,)).fetchall())
            dt = time.perf_counter() - t0
            texts_only = [pb.BatchRouteRequest(requests=[
                pb.RouteRequest(request=bodies[i], objective="", max_alternatives=0, omit_reasoning=True)
                for i in range(s, min(s + 5000, N_ROWS))]) for s in range(0, N_ROWS, 5000)]
            t0 = time.perf_counter()
            for c in texts_only:
                router.BatchRoute(c, timeout=120)
            direct = time.perf_counter() - t0
            print(f"= ANY($1), {n:,} texts (bound array, routerd embeds the texts): {n / dt:,.0f} decisions/s; "
                  f"floor (BatchRoute from here) {n / direct:,.0f}/s -> {direct / dt:.2f} of the floor")

            conn.execute("CREATE TABLE few AS SELECT * FROM requests WHERE id < 1000")
            conn.execute("ANALYZE few")
            t0 = time.perf_counter()
            n = len(conn.execute("SELECT f.id, d.agent_name FROM few f JOIN tinydancer.decisions d "
                                 "ON d.request_embedding = f.embedding AND d.request = f.body").fetchall())
            dt = time.perf_counter() - t0
            print(f"JOIN, {n:,} rows (parameterized nested loop: one Route per row, embeddings given): "
                  f"{n / dt:,.0f} decisions/s (reference)")
    echo_proc.kill()
    echo_proc.wait()


if __name__ == "__main__":
    main()
