"""Issue 7 through SQL: no silent wrong value, no spurious failure of a concurrent UPDATE, linear batch
routing, clear errors from the read-only tables, filters that are filters, every joined input used,
and no JIT for a join of a thousand requests."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import SQL_AGENTS as AGENTS
from tests.harness.routerd import Client
from tests.harness.sql import SQL


def error(sql: SQL, statement: str, params: object = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        sql.q(statement, params)
    e = info.value
    assert "Error in python" not in str(e) and e.sqlstate != "XX000", e
    assert e.diag.message_hint, f"no HINT: {e}"
    return e


def counts(sql: SQL) -> tuple[int, int]:
    return sql.one("SELECT count(*) FROM tinydancer.agents"), sql.one("SELECT count(*) FROM tinydancer.outcomes")


# -- item 5 ----------------------------------------------------------------------------------------

def test_no_silent_wrong_values(sql: SQL) -> None:
    sql.q(AGENTS)
    before = counts(sql)
    for col, value in [("total_requests", "5"), ("health", "'open'"), ("success_rate", "0.5"),
                       ("expected_quality", "0.5"), ("created_at", "now()")]:
        e = error(sql, f"INSERT INTO tinydancer.agents (name, agent_type, {col}) VALUES ('x', 'llm', {value})")
        assert col in str(e)
    for value in ("'{{coding,reasoning}}'", "ARRAY[['a'], ['b']]"):
        e = error(sql, f"INSERT INTO tinydancer.agents (name, agent_type, capabilities) VALUES ('x', 'llm', {value})")
        assert "capabilities" in str(e) and "dimension" in str(e)
    assert counts(sql) == before
    grpc = Client(sql.routerd.target)
    spec = grpc.registry.GetAgent(pb.GetAgentRequest(name="premium")).spec
    for col, default in [("typical_output_tokens", "256"), ("cost_per_call", "0"), ("cost_per_1k_input_tokens", "0"),
                         ("metadata", "'{}'"), ("capabilities", "'{}'")]:
        e = error(sql, f"UPDATE tinydancer.agents SET {col} = NULL WHERE name = 'premium'")
        assert col in str(e) and e.sqlstate == "22004" and default in (e.diag.message_hint or "")
    error(sql, "UPDATE tinydancer.agents SET capabilities = '{{a}}' WHERE name = 'premium'")
    assert grpc.registry.GetAgent(pb.GetAgentRequest(name="premium")).spec == spec  # nothing changed
    assert spec.typical_output_tokens == 256
    sql.q("INSERT INTO tinydancer.agents (name, agent_type, cost_per_call) VALUES ('z', 'llm', '-0')")
    sql.q("UPDATE tinydancer.agents SET cost_per_second = -0.0 WHERE name = 'z'")
    assert sql.q("SELECT cost_per_call::text, cost_per_second::text FROM tinydancer.agents WHERE name = 'z'") == [
        ("0", "0")]
    e = error(sql, "SELECT * FROM tinydancer.route('x', required_capabilities => '{{coding}}')")
    assert "required_capabilities" in str(e)


# -- item 6 ----------------------------------------------------------------------------------------

def test_concurrent_update_while_outcomes_stream(sql: SQL) -> None:
    sql.q(AGENTS)
    grpc = Client(sql.routerd.target)
    stop = threading.Event()
    recorded = [0]

    def stream() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            grpc.feedback.RecordOutcome(pb.RecordOutcomeRequest(agent_name="premium", latency_ms=100 + i % 500,
                                                                success=i % 3 > 0, quality=0.5))
            recorded[0] += 1

    t = threading.Thread(target=stream)
    t.start()
    failures = []
    try:
        for i in range(60):
            try:
                sql.q(f"UPDATE tinydancer.agents SET quality_score = {0.5 + i / 200} WHERE name = 'premium'")
                sql.q(f"UPDATE tinydancer.agents SET active = true, latency_prior_ms = {800 + i} "
                      "WHERE agent_type = 'llm' AND name <> 'budget'")
            except psycopg.Error as e:
                failures.append(str(e))
    finally:
        stop.set()
        t.join()
    assert recorded[0] > 60, recorded  # outcomes really streamed meanwhile
    assert failures == []
    final = sql.one("SELECT quality_score FROM tinydancer.agents WHERE name = 'premium'")
    assert final == pytest.approx(0.5 + 59 / 200)
    err = error(sql, "UPDATE tinydancer.agents SET avg_latency_ms = 1 WHERE name = 'premium'")  # still checked
    assert "avg_latency_ms" in str(err)


# -- item 13 ---------------------------------------------------------------------------------------

def _timed(sql: SQL, statement: str, n: int) -> float:
    t = time.perf_counter()
    assert len(sql.q(statement)) == n
    return time.perf_counter() - t


def test_batch_routing_through_sql_is_linear(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("DROP TABLE IF EXISTS reqs")
    sql.q("CREATE TABLE reqs AS SELECT i AS id, 'request ' || i AS body FROM generate_series(1, 40000) i")
    small, big = 5000, 40000
    times = {}
    for n in (small, big):
        times[n] = _timed(sql, f"SELECT request, agent_name FROM tinydancer.route_batch("
                               f"ARRAY(SELECT body FROM reqs WHERE id <= {n} ORDER BY id), 'cost')", n)
    # 8 times the requests: linear is ~8x (measured 6x), the quadratic recheck of the former
    # `request = ANY(requests)` was ~28x (5k 0.6 s, 40k 17 s)
    assert times[big] / times[small] < 14, times
    rows = sql.q("SELECT request, position FROM tinydancer.route_batch(ARRAY['b', 'a', NULL, 'b'])")
    assert rows == [("b", 1), ("a", 2)]  # in order, duplicates and NULLs routed once / not at all
    # honest estimates: one row per request, for an array constant and for a staged batch
    texts = [f"r{i}" for i in range(300)]
    plan = sql.one("EXPLAIN (FORMAT JSON) SELECT * FROM tinydancer.decisions WHERE request = ANY(%s)", (texts,))
    assert plan[0]["Plan"]["Plan Rows"] == 300 and "JIT" not in plan[0]
    handle = sql.one("INSERT INTO tinydancer.batches (requests) VALUES (%s) RETURNING handle", (texts,))
    plan = sql.one(f"EXPLAIN (FORMAT JSON) SELECT * FROM tinydancer.decisions WHERE batch = '{handle}'")
    assert plan[0]["Plan"]["Plan Rows"] == 300
    sql.q(f"DELETE FROM tinydancer.batches WHERE handle = '{handle}'")


# -- item 15 ---------------------------------------------------------------------------------------

def test_read_only_tables_and_null_batches_fail_clearly(sql: SQL) -> None:
    sql.q(AGENTS)
    for statement in ("INSERT INTO tinydancer.decisions (request) VALUES ('x')",
                      "DELETE FROM tinydancer.decisions WHERE request = 'x'",
                      "UPDATE tinydancer.decisions SET max_cost = 1 WHERE request = 'x'",
                      "UPDATE tinydancer.stats SET agents = 1",
                      "INSERT INTO tinydancer.stats (agents) VALUES (1)",
                      "DELETE FROM tinydancer.capability_matches WHERE capability = 'x'"):
        e = error(sql, statement)
        assert "read-only" in str(e) and e.sqlstate == "0A000"
    e = error(sql, "SELECT * FROM tinydancer.route_batch(NULL)")
    assert e.sqlstate == "22004"
    assert sql.one("SELECT count(*) FROM tinydancer.agents") == 4


def test_filters_are_filters(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success) VALUES ('premium', 10, true)")
    for statement in ("SELECT count(*) FROM tinydancer.agents WHERE agent_type = 'robot'",
                      "SELECT count(*) FROM tinydancer.agents WHERE agent_type = 'LLM'",
                      "SELECT count(*) FROM tinydancer.agents WHERE name = 'not a valid name'",
                      "SELECT count(*) FROM tinydancer.agents WHERE agent_type = 'llm' AND agent_type = 'tool'",
                      "SELECT count(*) FROM tinydancer.outcomes WHERE agent_name = 'not a valid name'",
                      "SELECT count(*) FROM tinydancer.outcomes WHERE decision_id = 'no such id!'",
                      "SELECT count(*) FROM tinydancer.decisions WHERE request = ANY(NULL::text[])"):
        assert sql.one(statement) == 0, statement
    assert sql.one("SELECT count(*) FROM tinydancer.agents WHERE agent_type = 'multimodal'") == 1
    assert sql.one("SELECT count(*) FROM tinydancer.outcomes WHERE recorded_at > '0001-01-01'") == 1
    assert sql.one("SELECT count(*) FROM tinydancer.outcomes WHERE recorded_at < 'infinity'") == 1


# -- items 18 and 19 -------------------------------------------------------------------------------

def _requests(sql: SQL, n: int) -> None:
    sql.q("DROP TABLE IF EXISTS jreq")
    sql.q(f"""CREATE TABLE jreq AS
              SELECT i AS id, 'request ' || i AS body, (0.0001 * (1 + i % 7))::float8 AS budget,
                     (ARRAY['cost', 'quality'])[1 + i % 2] AS objective
              FROM generate_series(1, {n}) i""")
    sql.q("ANALYZE jreq")


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN"])
def test_per_row_inputs_from_a_joined_table(sql: SQL, join: str) -> None:
    sql.q(AGENTS)
    _requests(sql, 60)
    rows = sql.dicts(f"""SELECT r.id, r.budget, r.objective, d.max_cost, d.optimize_for, d.agent_name,
                                d.estimated_cost, d.routed
                         FROM jreq r {join} tinydancer.decisions d
                           ON d.request = r.body AND d.max_cost = r.budget AND d.optimize_for = r.objective
                         ORDER BY r.id""")
    assert [r["id"] for r in rows] == list(range(1, 61))
    for r in rows:
        assert r["max_cost"] == r["budget"] and r["optimize_for"] == r["objective"], r  # not dropped
        assert not r["routed"] or r["estimated_cost"] <= r["budget"] + 1e-12, r
    assert {r["agent_name"] for r in rows if r["objective"] == "quality" and r["routed"]} <= {"standard", "budget"}


def test_a_join_of_1000_requests_compiles_no_jit(sql: SQL) -> None:
    sql.q(AGENTS)
    _requests(sql, 1000)
    assert sql.one("SHOW jit") == "on" and sql.one("SHOW jit_above_cost") == "100000"
    for statement in ("SELECT r.id, d.* FROM jreq r JOIN tinydancer.decisions d ON d.request = r.body "
                      "AND d.max_cost = r.budget AND d.optimize_for = r.objective ORDER BY r.id",
                      "SELECT r.id, d.agent_name FROM jreq r LEFT JOIN tinydancer.decisions d "
                      "ON d.request = r.body WHERE d.optimize_for = 'cost'"):
        plan = sql.one("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)[0]
        assert "JIT" not in plan or plan["JIT"]["Functions"] == 0, plan.get("JIT")
        assert plan["Plan"]["Total Cost"] < 100_000
