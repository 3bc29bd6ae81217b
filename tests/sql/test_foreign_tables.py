"""The foreign tables end to end: real PostgreSQL with the bridge, real routerd over gRPC."""

from __future__ import annotations

import json
import time

import grpc
import numpy as np
import psycopg
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg
from tests.harness.agents import SQL_AGENTS as AGENTS
from tests.harness.routerd import RouterdProcess
from tests.harness.sql import SQL


def registry(sql: SQL) -> pbg.AgentRegistryStub:
    return pbg.AgentRegistryStub(grpc.insecure_channel(sql.routerd.target))


def test_agents_crud_both_ways(sql: SQL) -> None:
    rows = sql.dicts(AGENTS + " RETURNING name, health, total_requests, quality_score")
    assert [r["name"] for r in rows] == ["premium", "standard", "budget", "vision"]
    assert all(r["health"] == "closed" and r["total_requests"] == 0 for r in rows)
    # SQL → gRPC
    reg = registry(sql)
    got = reg.GetAgent(pb.GetAgentRequest(name="premium"))
    assert list(got.spec.capabilities) == ["coding", "reasoning"] and got.spec.cost.per_1k_input_tokens == 0.03
    sql.q("UPDATE tinydancer.agents SET quality_score = 0.97, metadata = '{\"tier\": \"gold\"}' "
          "WHERE name = 'premium'")
    got = reg.GetAgent(pb.GetAgentRequest(name="premium"))
    assert got.spec.quality_prior == pytest.approx(0.97) and json.loads(got.spec.metadata_json) == {"tier": "gold"}
    sql.q("UPDATE tinydancer.agents SET active = false WHERE agent_type = 'multimodal'")
    assert not reg.GetAgent(pb.GetAgentRequest(name="vision")).spec.active
    sql.q("DELETE FROM tinydancer.agents WHERE name = 'budget'")
    assert [a.spec.name for a in reg.ListAgents(pb.ListAgentsRequest()).agents] == ["premium", "standard", "vision"]
    # gRPC → SQL
    reg.RegisterAgent(pb.RegisterAgentRequest(agent=pb.AgentSpec(name="from-grpc", agent_type="tool",
                                                                  capabilities=["search"])))
    row = sql.dicts("SELECT * FROM tinydancer.agents WHERE name = 'from-grpc'")[0]
    assert row["agent_type"] == "tool" and row["capabilities"] == ["search"] and row["active"] is True
    reg.RemoveAgent(pb.RemoveAgentRequest(name="standard"))
    assert sql.q("SELECT name FROM tinydancer.agents ORDER BY name") == [("from-grpc",), ("premium",), ("vision",)]
    assert sql.q("SELECT name FROM tinydancer.agents WHERE name = 'standard'") == []
    assert sql.q("SELECT name FROM tinydancer.agents WHERE name = 'not a valid name'") == []


@pytest.mark.parametrize(("statement", "needle"), [
    ("INSERT INTO tinydancer.agents (name, agent_type, cost_per_call) VALUES ('x', 'llm', -1)", "agent.cost.per_call"),
    ("INSERT INTO tinydancer.agents (name, agent_type) VALUES ('x', 'robot')", "agent.agent_type"),
    ("INSERT INTO tinydancer.agents (name, agent_type, quality_score) VALUES ('x', 'llm', 1.5)", "quality_prior"),
    ("INSERT INTO tinydancer.agents (name, agent_type) VALUES ('', 'llm')", "agent.name"),
    ("INSERT INTO tinydancer.agents (name, agent_type) VALUES ('premium', 'llm')", "already exists"),
    ("UPDATE tinydancer.agents SET total_requests = 5 WHERE name = 'premium'", "total_requests"),
    ("UPDATE tinydancer.agents SET name = 'renamed' WHERE name = 'premium'", "renamed"),
    ("DELETE FROM tinydancer.outcomes", "append-only"),
])
def test_agent_errors_name_the_field(sql: SQL, statement: str, needle: str) -> None:
    sql.q(AGENTS)
    sql.q("INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success) VALUES ('premium', 10, true)")
    with pytest.raises(psycopg.Error) as info:
        sql.q(statement)
    assert needle in str(info.value)
    assert sql.one("SELECT count(*) FROM tinydancer.outcomes") == 1
    assert sql.one("SELECT count(*) FROM tinydancer.agents") == 4  # nothing half-written
    assert sql.one("SELECT 1") == 1  # the connection still works


def test_route_one_and_reasons(sql: SQL) -> None:
    sql.q(AGENTS)
    d = sql.dicts("SELECT * FROM tinydancer.route('write a quicksort in Go', 'quality', '{coding}', 0.05)")[0]
    assert d["routed"] and d["agent_name"] == "premium" and d["request"] == "write a quicksort in Go"
    assert 0 < d["confidence"] <= 1 and d["estimated_cost"] <= 0.05 and d["decision_id"]
    alts = d["alternatives"]
    assert {a["agent_name"] for a in alts} == {"standard", "budget", "vision"}
    assert "missing capability: coding" in {a["agent_name"]: a["reason"] for a in alts}["budget"]
    cheap = sql.one("SELECT agent_name FROM tinydancer.decisions WHERE request = 'hi' AND optimize_for = 'cost'")
    assert cheap == "budget"


def test_infeasible_rows_say_so(sql: SQL) -> None:
    sql.q(AGENTS)
    rows = sql.dicts("SELECT * FROM tinydancer.decisions WHERE request = ANY(ARRAY['a', 'b']) "
                     "AND min_quality = 0.99")
    assert [r["request"] for r in rows] == ["a", "b"]
    for r in rows:
        assert r["routed"] is False and r["agent_name"] is None and r["min_quality"] == 0.99
        assert "no feasible agent" in r["reasoning"]
        assert all(not a["feasible"] and "min_quality" in a["reason"] for a in r["alternatives"])


def test_query_without_request_fails_with_hint(sql: SQL) -> None:
    sql.q(AGENTS)
    for statement in ("SELECT * FROM tinydancer.decisions",
                      "SELECT * FROM tinydancer.decisions WHERE optimize_for = 'cost'"):
        with pytest.raises(psycopg.Error) as info:
            sql.q(statement)
        assert "needs a request" in str(info.value)
        assert info.value.diag.message_hint and "WHERE request" in info.value.diag.message_hint
    with pytest.raises(psycopg.Error) as info:
        sql.q("SELECT * FROM tinydancer.decisions WHERE request = 'x' AND optimize_for = 'fastest'")
    assert "objective" in str(info.value) and info.value.diag.message_hint
    with pytest.raises(psycopg.Error) as info:
        sql.q("SELECT * FROM tinydancer.decisions WHERE request = 'x' AND max_cost < 1")
    assert "must be compared with =" in str(info.value)
    assert sql.one("SELECT count(*) FROM tinydancer.agents") == 4


def test_any_array_is_one_batch_call(sql: SQL) -> None:
    sql.q(AGENTS)
    texts = [f"request number {i}" for i in range(300)]
    before = sql.one("SELECT decisions FROM tinydancer.stats")
    rows = sql.dicts("SELECT request, agent_name, decided_at FROM tinydancer.decisions "
                     "WHERE request = ANY(%s) AND optimize_for = 'cost'", (texts,))
    assert [r["request"] for r in rows] == texts
    assert {r["agent_name"] for r in rows} == {"budget"}
    # One BatchRoute call decides every request at one instant; Route calls would each have their own.
    assert len({r["decided_at"] for r in rows}) == 1
    assert sql.one("SELECT decisions FROM tinydancer.stats") == before + 300
    batch = sql.dicts("SELECT * FROM tinydancer.route_batch(ARRAY['x', 'y', 'x'], 'quality')")
    assert [r["request"] for r in batch] == ["x", "y"] and {r["agent_name"] for r in batch} == {"premium"}


def test_join_of_1000_requests_respects_every_constraint(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("DROP TABLE IF EXISTS requests")
    sql.q("""CREATE TABLE requests AS
             SELECT i AS id, 'request ' || i || repeat(' lorem ipsum', i % 50) AS body,
                    (ARRAY['cost', 'quality', 'balanced', 'latency'])[1 + i % 4] AS objective,
                    CASE WHEN i % 3 = 0 THEN 0.004 ELSE 0.1 END AS max_cost,
                    CASE WHEN i % 5 = 0 THEN '{coding}'::text[] ELSE '{general}'::text[] END AS caps,
                    CASE WHEN i % 7 = 0 THEN 500.0 ELSE 5000.0 END AS max_latency,
                    CASE WHEN i % 11 = 0 THEN 0.9 ELSE 0.0 END AS min_q
             FROM generate_series(1, 1000) i""")
    sql.q("ANALYZE requests")
    join = """SELECT r.id, r.objective, r.max_cost, r.caps, r.max_latency, r.min_q, d.*
              FROM requests r JOIN tinydancer.decisions d
                ON d.request = r.body AND d.optimize_for = r.objective AND d.max_cost = r.max_cost
               AND d.required_capabilities = r.caps AND d.max_latency_ms = r.max_latency
               AND d.min_quality = r.min_q
              ORDER BY r.id"""
    plan = "\n".join(r[0] for r in sql.q("EXPLAIN " + join))
    assert "Nested Loop" in plan and "Foreign Scan on decisions" in plan
    rows = sql.dicts(join)
    assert [r["id"] for r in rows] == list(range(1, 1001))
    agents = {a["name"]: a for a in sql.dicts("SELECT * FROM tinydancer.agents")}
    router = pbg.RouterStub(grpc.insecure_channel(sql.routerd.target))
    for r in rows:
        if not r["routed"]:
            assert r["agent_name"] is None and r["alternatives"]
            continue
        a = agents[r["agent_name"]]
        assert set(r["caps"]) <= set(a["capabilities"])
        assert r["estimated_cost"] <= r["max_cost"] + 1e-12
        assert a["latency_prior_ms"] <= r["max_latency"]
        assert a["expected_quality"] >= r["min_q"]
    # the same inputs over gRPC give the same agent (spot check)
    for r in rows[::97]:
        d = router.Route(pb.RouteRequest(
            request=r["request"], objective=r["objective"],
            constraints=pb.Constraints(required_capabilities=r["caps"], max_cost=r["max_cost"],
                                       max_latency_ms=r["max_latency"], min_quality=r["min_q"])))
        assert (d.agent_name or None) == r["agent_name"]
    assert sum(not r["routed"] for r in rows) > 0  # coding + min_quality 0.9 + cheap: nobody qualifies


def test_outcomes_insert_select_and_time_range(sql: SQL) -> None:
    sql.q(AGENTS)
    did = sql.one("SELECT decision_id FROM tinydancer.route('hello', 'cost')")
    out = sql.dicts("SELECT * FROM tinydancer.record_outcome(%s, 120, true, 0.9, 0.0004)", (did,))[0]
    assert out["agent_name"] == "budget" and out["quality"] == 0.9 and out["outcome_id"]
    sql.q("INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success, recorded_at) VALUES "
          "('premium', 800, false, '2020-01-01 00:00:00+00'), ('premium', 700, true, '2020-06-01 00:00:00+00')")
    assert sql.one("SELECT count(*) FROM tinydancer.outcomes") == 3
    old = sql.q("SELECT latency_ms FROM tinydancer.outcomes WHERE recorded_at < '2021-01-01' ORDER BY 1")
    assert old == [(700.0,), (800.0,)]
    mid = sql.q("SELECT latency_ms FROM tinydancer.outcomes "
                "WHERE recorded_at >= '2020-03-01' AND recorded_at <= '2020-06-01 00:00:00+00'")
    assert mid == [(700.0,)]
    assert sql.q("SELECT latency_ms FROM tinydancer.outcomes WHERE agent_name = 'budget'") == [(120.0,)]
    a = sql.dicts("SELECT total_requests, success_rate, health FROM tinydancer.agents WHERE name = 'premium'")[0]
    assert a["total_requests"] == 2 and a["success_rate"] == 0.5
    with pytest.raises(psycopg.Error) as info:
        sql.q("INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success) VALUES ('ghost', 1, true)")
    assert "ghost" in str(info.value)
    with pytest.raises(psycopg.Error) as info:
        sql.q("INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success, quality) "
              "VALUES ('premium', 1, true, 7)")
    assert "quality" in str(info.value)
    s = sql.dicts("SELECT * FROM tinydancer.stats")[0]
    assert s["agents"] == 4 and s["outcomes"] == 3 and s["decisions"] >= 1
    assert s["total_spend"] == pytest.approx(0.0004)


def test_routerd_down_then_back(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("ALTER SERVER routerd OPTIONS (SET timeout_ms '1500')")
    try:
        port = sql.routerd.port
        assert sql.one("SELECT agent_name FROM tinydancer.route('x', 'cost')") == "budget"
        sql.routerd.kill9()
        t = time.monotonic()
        with pytest.raises(psycopg.Error) as info:
            sql.q("SELECT agent_name FROM tinydancer.route('x', 'cost')")
        elapsed = time.monotonic() - t
        assert "routerd is unreachable" in str(info.value) and info.value.diag.message_hint
        assert elapsed < 1.5 + 0.5, elapsed
        assert sql.one("SELECT 1") == 1  # the backend lives
        back = RouterdProcess(sql.routerd.data_dir, listen=f"127.0.0.1:{port}").start()
        try:
            # same connection, no reconnect: the next query succeeds
            assert sql.one("SELECT agent_name FROM tinydancer.route('x', 'cost')") == "budget"
        finally:
            back.stop()
    finally:
        sql.q("ALTER SERVER routerd OPTIONS (SET timeout_ms '2000')")


def test_token_from_user_mapping(sql: SQL, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with RouterdProcess(tmp_path / "secure", token="s3cret") as secure:
        sql.q(f"ALTER SERVER routerd OPTIONS (SET target '{secure.target}')")
        sql.q("DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER routerd")
        with pytest.raises(psycopg.Error) as info:
            sql.q("SELECT count(*) FROM tinydancer.agents")
        assert "permission denied" in str(info.value)
        sql.q("CREATE USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS (token 'wrong')")
        try:
            with pytest.raises(psycopg.Error) as info:
                sql.q("SELECT count(*) FROM tinydancer.agents")
            assert "permission denied" in str(info.value) and "user mapping" in (info.value.diag.message_hint or "")
            sql.q("ALTER USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS (SET token 's3cret')")
            assert sql.one("SELECT count(*) FROM tinydancer.agents") == 0
        finally:
            sql.q("DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER routerd")


def test_bad_options_are_named(sql: SQL) -> None:
    sql.q("ALTER SERVER routerd OPTIONS (ADD timout_ms '5')")
    try:
        with pytest.raises(psycopg.Error) as info:
            sql.q("SELECT count(*) FROM tinydancer.agents")
        assert "timout_ms" in str(info.value) and "timeout_ms" in (info.value.diag.message_hint or "")
    finally:
        sql.q("ALTER SERVER routerd OPTIONS (DROP timout_ms)")
    assert sql.one("SELECT count(*) FROM tinydancer.agents") == 0


def _embeddings(n: int, dim: int = 384, seed: int = 5) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n, dim)).astype(np.float32)
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).tolist()  # type: ignore[no-any-return]


def test_route_embedded_is_one_statement_in_order(sql: SQL) -> None:
    sql.q(AGENTS)
    n = 7
    texts = [f"embedded request {i}" for i in range(n)]
    texts[3] = None  # an embedding alone is a request
    embs = _embeddings(n)
    before = sql.one("SELECT decisions FROM tinydancer.stats")
    rows = sql.dicts("SELECT * FROM tinydancer.route_embedded(%s, %s::float4[], 'cost')", (texts, embs))
    assert [r["position"] for r in rows] == list(range(1, n + 1))
    assert [r["request"] for r in rows] == [t or "" for t in texts] or [r["request"] for r in rows] == texts
    assert {r["agent_name"] for r in rows} == {"budget"} and all(r["routed"] for r in rows)
    assert all(r["reasoning"] is None and r["alternatives"] is None for r in rows)  # not asked for
    assert sql.one("SELECT decisions FROM tinydancer.stats") == before + n
    assert sql.one("SELECT count(*) FROM tinydancer.batches") == 0  # routed, then dropped
    # the same request through the single path gives the same agent and similarity
    one = sql.dicts("SELECT agent_name, similarity FROM tinydancer.decisions WHERE request = %s "
                    "AND request_embedding = %s::float4[] AND optimize_for = 'cost'", (texts[0], embs[0]))[0]
    assert one["agent_name"] == rows[0]["agent_name"]
    assert one["similarity"] == pytest.approx(rows[0]["similarity"])
    why = sql.dicts("SELECT reasoning, alternatives FROM tinydancer.route_embedded(%s, %s::float4[], "
                    "min_quality := 0.99, with_reasons := true)", (texts[:2], embs[:2]))
    assert all(not r["reasoning"] == "" and r["alternatives"] for r in why)
    # a table of requests, ids joined back through position
    sql.q("DROP TABLE IF EXISTS req_emb")
    sql.q("CREATE TABLE req_emb (id int, body text, embedding float4[])")
    with sql.conn.cursor() as cur:
        cur.executemany("INSERT INTO req_emb VALUES (%s, %s, %s::float4[])",
                        [(10 * i, f"row {i}", e) for i, e in enumerate(_embeddings(20, seed=9))])
    got = sql.q("""WITH b AS (SELECT array_agg(id ORDER BY id) ids, array_agg(body ORDER BY id) bodies,
                                     array_agg(embedding ORDER BY id) embs FROM req_emb)
                   SELECT b.ids[d.position], d.request FROM b, tinydancer.route_embedded(b.bodies, b.embs) d""")
    assert got == [(10 * i, f"row {i}") for i in range(20)]


def test_route_embedded_errors(sql: SQL) -> None:
    sql.q(AGENTS)
    with pytest.raises(psycopg.Error) as info:
        sql.q("SELECT * FROM tinydancer.route_embedded(ARRAY['a', 'b', 'c', 'd', 'e'], %s::float4[])",
              (_embeddings(2),))
    assert "cannot be 5 embeddings" in str(info.value) and info.value.diag.message_hint
    with pytest.raises(psycopg.Error) as info:
        sql.q("SELECT * FROM tinydancer.route_embedded(ARRAY['a', 'b'], %s::float4[])",
              ([[1.0] * 3 for _ in range(2)],))
    assert "384" in str(info.value) and "dimension" in (info.value.diag.message_hint or "")
    with pytest.raises(psycopg.Error) as info:
        sql.q("SELECT * FROM tinydancer.route_embedded(ARRAY['a'], %s::float4[], 'fastest')", (_embeddings(1),))
    assert "objective" in str(info.value) and info.value.diag.message_hint
    with pytest.raises(psycopg.Error) as info:
        sql.q("SELECT * FROM tinydancer.decisions WHERE batch = 'nope'")
    assert "no staged batch" in str(info.value)
    assert sql.one("SELECT count(*) FROM tinydancer.batches") == 0
    assert sql.q("SELECT * FROM tinydancer.route_embedded(ARRAY[]::text[], NULL)") == []


def test_single_request_settles_on_a_generic_plan_without_jit(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("PREPARE one(text) AS SELECT agent_name FROM tinydancer.decisions "
          "WHERE request = $1 AND optimize_for = 'cost'")
    try:
        for i in range(8):
            assert sql.one(f"EXECUTE one('hello {i}')") == "budget"
        plan = "\n".join(r[0] for r in sql.q("EXPLAIN (ANALYZE, COSTS) EXECUTE one('again')"))
        assert "$1" in plan, plan  # the generic plan: no replanning, no Python planning hooks
        assert "JIT" not in plan, plan
        # a join still takes the parameterized path (one Route per outer row), without JIT
        sql.q("DROP TABLE IF EXISTS few")
        sql.q("CREATE TABLE few AS SELECT 'text ' || i AS body FROM generate_series(1, 20) i")
        sql.q("ANALYZE few")
        plan = "\n".join(r[0] for r in sql.q("EXPLAIN SELECT d.agent_name FROM few f "
                                             "JOIN tinydancer.decisions d ON d.request = f.body"))
        assert "Nested Loop" in plan and "JIT" not in plan, plan
        rows = sql.dicts("EXPLAIN (FORMAT JSON) SELECT * FROM tinydancer.decisions WHERE request = ANY(%s)",
                         ([f"r{i}" for i in range(42)],))
        assert rows[0]["QUERY PLAN"][0]["Plan"]["Plan Rows"] == 42  # one row per request
    finally:
        sql.q("DEALLOCATE one")
