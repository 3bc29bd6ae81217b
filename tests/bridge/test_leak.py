"""The bridge leaks no memory: backend RSS stays flat over 100,000 scanned
rows and 10,000 rescans (after a warm-up run)."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

LIMIT_KB = 2048  # growth allowed after warm-up


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_flat_rss(pid, workload, capsys, label):
    """Two warm-up runs (caches, plans, Python allocator arenas), then three measured ones: the
    backend's RSS must grow by less than LIMIT_KB."""
    workload()
    workload()
    before = rss_kb(pid)
    for _ in range(3):
        workload()
    after = rss_kb(pid)
    with capsys.disabled():
        print(f"\n[leak] {label}: before={before} kB after={after} kB growth={after - before} kB")
    assert after - before < LIMIT_KB


@pytest.mark.skipif(os.geteuid() != 0, reason="reading the backend's /proc status needs root")
def test_no_leak_over_scans_and_rescans(db, capsys):
    db.table("leak_scan", "id int, name text, n numeric, t timestamp", n="100000")
    db.table("leak_param", "id int, name text", rows="[{'id': 1, 'name': 'x'}]",
             path_keys="[(('id',), 1)]", rel_size="(1000000, 100)")
    # The join's cost crosses jit_above_cost; LLVM JIT itself grows RSS by
    # ~75 MB once and ~150 kB per compiled query, which would hide what we measure.
    db.q("SET jit = off")
    db.q("SET enable_hashjoin = off")
    db.q("SET enable_mergejoin = off")
    db.q("SET enable_material = off")
    join = ("SELECT count(*) FROM generate_series(1, 10000) g "
            "JOIN leak_param f ON f.id = g AND f.name IN ('x', 'y')")
    plan = "\n".join(r[0] for r in db.q("EXPLAIN " + join))
    assert "Nested Loop" in plan and "Filter: ((name = ANY ('{x,y}'::text[])) AND (g.g = id))" in plan, plan
    pid = db.backend_pid()

    def workload():
        assert db.one("SELECT count(*) FROM leak_scan WHERE id >= 0 AND name IS NOT NULL") == 100000
        assert db.one(join) == 1

    assert_flat_rss(pid, workload, capsys, "scans + rescans (3 x (100,000 rows + 10,000 rescans))")


@pytest.mark.skipif(os.geteuid() != 0, reason="reading the backend's /proc status needs root")
def test_no_leak_on_error_paths_and_modify(db, capsys):
    db.table("leak_err", "id int, name text", n="100", fail_after="50")
    db.table("leak_ins", "id int, name text", rows="[]")
    db.q("SET jit = off")
    pid = db.backend_pid()

    def workload():
        for _ in range(300):
            try:
                db.q("SELECT * FROM leak_err")
            except psycopg.errors.InternalError:
                pass
        db.q("INSERT INTO leak_ins SELECT g, 'x' FROM generate_series(1, 10000) g")

    assert_flat_rss(pid, workload, capsys, "error paths + inserts (3 x (300 failing scans + 10,000 inserts))")



ANY_N = 100_000


def plan_cache_mb(db) -> float:
    """MB held by PostgreSQL's plan cache (prepared statements) in this backend."""
    return float(db.one("SELECT coalesce(sum(total_bytes), 0) / 1048576.0 FROM pg_backend_memory_contexts "
                        "WHERE name IN ('CachedPlanSource', 'CachedPlanQuery', 'CachedPlan')"))


@pytest.mark.skipif(os.geteuid() != 0, reason="reading the backend's /proc status needs root")
def test_no_leak_over_large_any_lists(db, capsys):
    """A 100,000-element ``request = ANY(array)`` (issue 7 item 14): the list qual converted at plan
    time and kept in the per-transaction memo, then one row per element (fdws.EchoListFDW); as a
    constant in the statement, as a bound parameter, and rescanned by a nested loop (the scan's cache
    of converted constants, handed out per rescan)."""
    db.q("DROP SERVER IF EXISTS leak_echo_srv CASCADE")
    db.q("CREATE SERVER leak_echo_srv FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.EchoListFDW')")
    db.table("leak_echo", "request text, n int", server="leak_echo_srv")
    db.q("SET jit = off")
    # psycopg prepares a statement it has run 5 times; a prepared statement is not a leak (below)
    db.conn.prepare_threshold = None
    pid = db.backend_pid()
    values = [f"request number {i}" for i in range(ANY_N)]
    literal = "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"
    by_literal = f"SELECT * FROM leak_echo WHERE request = ANY({literal})"

    def workload():
        assert db.one(f"SELECT count(*) FROM leak_echo WHERE request = ANY({literal})") == ANY_N
        rows = db.q(by_literal)
        assert len(rows) == ANY_N and rows[-1] == (values[-1], ANY_N - 1)
        assert len(db.q("SELECT * FROM leak_echo WHERE request = ANY(%s)", (values,))) == ANY_N
        assert db.one(f"SELECT count(*) FROM generate_series(1, 3) g, LATERAL (SELECT n FROM leak_echo "
                      f"WHERE request = ANY({literal}) AND n < g OFFSET 0) s") == 6

    assert_flat_rss(pid, workload, capsys, f"= ANY lists (3 x ({ANY_N:,}-element list, 4 statements))")

    # What grows a backend that runs such statements prepared (psycopg's default after 5 runs) is
    # PostgreSQL's plan cache: each prepared statement keeps its 100,000-constant query and plan
    # (about 40 MB here) until DEALLOCATE, whatever the FDW.
    assert plan_cache_mb(db) < 1
    db.conn.prepare_threshold = 5
    for _ in range(2):
        assert len(db.conn.execute(by_literal, prepare=True).fetchall()) == ANY_N
    held = plan_cache_mb(db)
    db.q("DEALLOCATE ALL")
    with capsys.disabled():
        print(f"[leak] one prepared {ANY_N:,}-element = ANY statement: plan cache {held:.1f} MB, "
              f"after DEALLOCATE {plan_cache_mb(db):.1f} MB")
    assert held > 20 and plan_cache_mb(db) < 1
