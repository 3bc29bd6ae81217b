"""Routing through SQL, measured in one run against floors (DESIGN.md, "Targets").

1. One decision through SQL (`SELECT agent_name FROM tinydancer.route(...)`... and the bare
   `SELECT ... FROM tinydancer.decisions WHERE request = $1`), p50 as a ratio to
   (`SELECT 1` p50 + bare gRPC echo p50), all measured interleaved in this run (target ≤ 1.3).
2. Decisions per second for a 10,000-row request table: through the JOIN (a parameterized
   nested loop: one Route per row, embeddings given per row) and through `request = ANY(array)`
   (one BatchRoute call per 5,000 requests) (target ≥ 5,000/s on the batch path).

Run: `make bench` (needs the bridge installed: `make bridge`). Prints one table; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_routing import start_echo  # noqa: E402
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb  # noqa: E402
from tests.bridge.conftest import SERVER_PATH, ensure_bridge_installed, python_path_setting  # noqa: E402
from tests.pgcluster import PgCluster  # noqa: E402
from tests.routerd_proc import RouterdProcess  # noqa: E402
from tests.sql.conftest import install  # noqa: E402
from tests.sql.test_foreign_tables import AGENTS  # noqa: E402

N_ROWS = 10_000


def p50(xs: list[float]) -> float:
    return statistics.median(xs) * 1e6


def main() -> None:
    ensure_bridge_installed()
    rng = np.random.default_rng(3)
    echo_proc, echo_target = start_echo()
    with tempfile.TemporaryDirectory() as d, RouterdProcess(Path(d) / "routerd") as r, \
            PgCluster(settings={"multicorn.python_path": python_path_setting()},
                      env={"PATH": SERVER_PATH, "OPENBLAS_NUM_THREADS": "1"}) as pg:
        install(pg, r.target)
        with psycopg.connect(pg.dsn, autocommit=True) as conn, grpc.insecure_channel(echo_target) as ech:
            conn.execute(AGENTS)
            echo = ech.unary_unary("/bench.Echo/Echo")
            payload = pb.RouteRequest(request="summarise this support ticket", objective="balanced").SerializeToString()
            one = "SELECT agent_name FROM tinydancer.decisions WHERE request = %s AND optimize_for = 'balanced'"
            fn = "SELECT agent_name FROM tinydancer.route(%s)"
            text = "summarise this support ticket"
            for _ in range(200):
                conn.execute(one, (text,)).fetchall()
                conn.execute(fn, (text,)).fetchall()
                conn.execute("SELECT 1").fetchall()
                echo(payload)
            t_one, t_fn, t_sel, t_echo = [], [], [], []
            for _ in range(2000):  # interleaved: every floor sees the same machine load
                t = time.perf_counter()
                conn.execute(one, (text,)).fetchall()
                t_one.append(time.perf_counter() - t)
                t = time.perf_counter()
                conn.execute(fn, (text,)).fetchall()
                t_fn.append(time.perf_counter() - t)
                t = time.perf_counter()
                conn.execute("SELECT 1").fetchall()
                t_sel.append(time.perf_counter() - t)
                t = time.perf_counter()
                echo(payload)
                t_echo.append(time.perf_counter() - t)
            floor = p50(t_sel) + p50(t_echo)
            print(f"SELECT 1 p50 {p50(t_sel):.0f} us + bare gRPC echo p50 {p50(t_echo):.0f} us = floor {floor:.0f} us")
            print(f"one decision, decisions WHERE request = $1: p50 {p50(t_one):.0f} us -> ratio "
                  f"{p50(t_one) / floor:.2f} (target <= 1.3)")
            print(f"one decision, tinydancer.route($1):        p50 {p50(t_fn):.0f} us -> ratio "
                  f"{p50(t_fn) / floor:.2f}")

            conn.execute("CREATE TABLE requests (id int, body text, embedding float4[])")
            with conn.cursor().copy("COPY requests FROM STDIN") as cp:
                for i in range(N_ROWS):
                    emb = rng.standard_normal(384).astype(np.float32)
                    cp.write_row((i, f"request {i}: please help with task {i % 97}",
                                  "{" + ",".join(f"{x:.6g}" for x in emb) + "}"))
            conn.execute("ANALYZE requests")
            t = time.perf_counter()
            n = len(conn.execute("SELECT r.id, d.agent_name FROM requests r JOIN tinydancer.decisions d "
                                 "ON d.request_embedding = r.embedding AND d.request = r.body").fetchall())
            dt = time.perf_counter() - t
            print(f"JOIN, {n:,} rows (parameterized nested loop, embeddings given): {n / dt:,.0f} decisions/s")
            t = time.perf_counter()
            n = len(conn.execute("SELECT d.request, d.agent_name FROM tinydancer.decisions d "
                                 "WHERE d.request = ANY(ARRAY(SELECT body FROM requests))").fetchall())
            dt = time.perf_counter() - t
            print(f"= ANY(array), {n:,} rows (BatchRoute, routerd embeds the texts): {n / dt:,.0f} decisions/s "
                  "(target >= 5,000)")
    echo_proc.kill()
    echo_proc.wait()


if __name__ == "__main__":
    main()
