"""Semantic routes, matches, classification and embeddings end to end: real PostgreSQL with the bridge,
the install scripts, and a real routerd (the hashing embedder, the harness's default, so that similarity
follows shared words). The seed's SQL examples are in tests/sql/test_seed_examples.py."""

from __future__ import annotations

import math
import time

import grpc
import numpy as np
import psycopg
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg
from tests.harness.sql import SQL

AGENTS = """
INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_call, latency_prior_ms, quality_score)
VALUES ('support-agent', 'llm', '{chat,account-access}', 0.001, 300, 0.8),
       ('billing-agent', 'tool', '{payments,chat}', 0.002, 200, 0.85),
       ('generalist', 'llm', '{general}', 0.0001, 500, 0.6)
"""
PASSWORD = ("reset my password", "I forgot my password", "my password does not work")
REFUND = ("refund my payment", "I was charged twice", "cancel my payment and refund me")
ROUTES = f"""
INSERT INTO tinydancer.routes (name, description, target_agent, priority, utterances, threshold, group_name)
VALUES ('password', 'Password resets', 'support-agent', 2, ARRAY{list(PASSWORD)!r}, 0.6, 'account'),
       ('refund', 'Refunds and double charges', 'billing-agent', 1, ARRAY{list(REFUND)!r}, 0.6, 'billing')
"""


def setup(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q(ROUTES)


def error(sql: SQL, statement: str, params: object = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        sql.q(statement, params)
    assert sql.one("SELECT 1") == 1  # the session goes on
    return info.value


def routes_stub(sql: SQL) -> pbg.RoutesStub:
    return pbg.RoutesStub(grpc.insecure_channel(sql.routerd.target))


# -- tinydancer.routes ------------------------------------------------------------------------------------

def test_routes_crud_both_ways(sql: SQL) -> None:
    sql.q(AGENTS)
    rows = sql.dicts(ROUTES + " RETURNING *")
    assert [r["name"] for r in rows] == ["password", "refund"]
    p = rows[0]
    assert (p["description"], p["target_agent"], p["priority"], p["threshold"], p["group_name"]) == (
        "Password resets", "support-agent", 2, 0.6, "account")
    assert p["utterances"] == list(PASSWORD) and p["utterance_count"] == 3 and p["effective_threshold"] == 0.6
    assert p["fitted"] is False and p["utterance_embeddings"] is None and p["created_at"] and p["updated_at"]
    assert p["active_from_minute"] is None and p["user_tiers"] == [] and p["rate_limit_per_minute"] is None
    # SQL → gRPC
    stub = routes_stub(sql)
    got = stub.GetRoute(pb.GetRouteRequest(name="refund"))
    assert list(got.utterances) == list(REFUND) and got.target_agent == "billing-agent" and got.group == "billing"
    # conditions, the default threshold, utterances added and removed
    sql.q("UPDATE tinydancer.routes SET threshold = NULL, user_tiers = '{gold,silver}', active_from_minute = 1320, "
          "active_until_minute = 360, rate_limit_per_minute = 100, description = 'Passwords' WHERE name = 'password'")
    p = sql.dicts("SELECT * FROM tinydancer.routes WHERE name = 'password'")[0]
    assert p["threshold"] is None and p["effective_threshold"] == 0.5  # routerd's route_threshold
    assert (p["user_tiers"], p["active_from_minute"], p["active_until_minute"], p["rate_limit_per_minute"]) == (
        ["gold", "silver"], 1320, 360, 100)
    assert p["description"] == "Passwords" and p["utterances"] == list(PASSWORD)
    sql.q("UPDATE tinydancer.routes SET utterances = array_append(utterances, 'locked out of my account') "
          "WHERE name = 'password'")
    sql.q("UPDATE tinydancer.routes SET utterances = array_remove(utterances, 'I forgot my password') "
          "WHERE name = 'password'")
    p = sql.dicts("SELECT utterances, utterance_count FROM tinydancer.routes WHERE name = 'password'")[0]
    assert p["utterances"] == ["reset my password", "my password does not work", "locked out of my account"]
    assert p["utterance_count"] == 3
    sql.q("UPDATE tinydancer.routes SET target_agent = NULL, group_name = NULL, user_tiers = NULL, "
          "active_from_minute = NULL, active_until_minute = NULL WHERE name = 'password'")
    got = stub.GetRoute(pb.GetRouteRequest(name="password"))
    assert got.target_agent == "" and got.group == "" and not got.conditions.HasField("active_from_minute")
    assert list(got.conditions.user_tiers) == [] and got.conditions.rate_limit_per_minute == 100
    # gRPC → SQL
    stub.CreateRoute(pb.CreateRouteRequest(route=pb.SemanticRoute(name="from-grpc", utterances=["hello there"])))
    assert sql.q("SELECT name, utterance_count FROM tinydancer.routes ORDER BY name") == [
        ("from-grpc", 1), ("password", 3), ("refund", 3)]
    assert sql.q("SELECT count(*) FROM tinydancer.routes") == [(3,)]
    deleted = sql.dicts("DELETE FROM tinydancer.routes WHERE name = 'refund' RETURNING name, utterances")
    assert deleted == [{"name": "refund", "utterances": list(REFUND)}]
    assert sql.q("SELECT name FROM tinydancer.routes WHERE name = 'refund'") == []
    assert sql.q("SELECT name FROM tinydancer.routes WHERE name = 'not a valid name'") == []
    assert [r.name for r in stub.ListRoutes(pb.ListRoutesRequest()).routes] == ["from-grpc", "password"]


def test_routes_with_their_embeddings(sql: SQL) -> None:
    """utterance_embeddings: a 2-D float4[], one row per utterance, stored as given (not re-embedded)."""
    sql.q(AGENTS)
    vecs = np.eye(384, dtype=np.float32)[:2]
    sql.q("INSERT INTO tinydancer.routes (name, utterances, utterance_embeddings) "
          "VALUES ('axes', '{x,y}', %s::float4[])", (vecs.tolist(),))
    e_x = [1.0] + [0.0] * 383
    rows = sql.dicts("SELECT route_name, similarity FROM tinydancer.semantic_matches "
                     "WHERE query_embedding = %s::float4[]", (e_x,))
    assert rows == [{"route_name": "axes", "similarity": pytest.approx(1.0)}]
    assert sql.one("SELECT utterance_embeddings FROM tinydancer.routes WHERE name = 'axes'") is None  # write-only
    # an UPDATE with every utterance and its embedding
    sql.q("UPDATE tinydancer.routes SET utterances = '{z}', utterance_embeddings = %s::float4[] WHERE name = 'axes'",
          ([[0.0] * 383 + [1.0]],))
    assert sql.q("SELECT route_name FROM tinydancer.semantic_matches WHERE query_embedding = %s::float4[]",
                 (e_x,)) == []
    assert sql.one("SELECT utterances FROM tinydancer.routes WHERE name = 'axes'") == ["z"]


# -- tinydancer.semantic_matches --------------------------------------------------------------------------

def test_semantic_matches_single_any_and_join(sql: SQL) -> None:
    setup(sql)
    rows = sql.dicts("SELECT * FROM tinydancer.semantic_matches WHERE query = 'reset my password'")
    assert rows[0]["route_name"] == "password" and rows[0]["rank"] == 1
    r = rows[0]
    assert r["query"] == "reset my password" and r["top_k"] is None and r["similarity"] == pytest.approx(1.0)
    assert 0 < r["confidence"] <= 1 and r["target_agent"] == "support-agent" and r["group_name"] == "account"
    assert r["priority"] == 2 and r["threshold"] == pytest.approx(0.6) and 0 <= r["out_of_scope_probability"] <= 1
    assert [x["rank"] for x in rows] == list(range(1, len(rows) + 1))
    # nothing clears its threshold: no row (out of scope)
    assert sql.q("SELECT * FROM tinydancer.semantic_matches WHERE query = 'what is the weather on mars'") == []
    # = ANY(array): every distinct query, in order; top_k bounds each
    queries = ["refund my payment", "reset my password", "what is the weather on mars", "refund my payment"]
    rows = sql.dicts("SELECT query, route_name, rank FROM tinydancer.semantic_matches "
                     "WHERE query = ANY(%s) AND top_k = 1", (queries,))
    assert [(x["query"], x["route_name"], x["rank"]) for x in rows] == [
        ("refund my payment", "refund", 1), ("reset my password", "password", 1)]
    # a join: one match per outer row, the same as the single query
    sql.q("CREATE TEMP TABLE tickets (id int, body text)")
    sql.q("INSERT INTO tickets VALUES (1, 'I was charged twice'), (2, 'reset my password please'), "
          "(3, 'tell me a joke about cats'), (4, 'my password does not work')")
    join = ("SELECT t.id, m.route_name, m.similarity FROM tickets t JOIN tinydancer.semantic_matches m "
            "ON m.query = t.body WHERE m.top_k = 1 ORDER BY t.id")
    plan = "\n".join(r[0] for r in sql.q("EXPLAIN " + join))
    assert "Nested Loop" in plan and "Foreign Scan on semantic_matches" in plan
    rows = sql.dicts(join)
    assert [(x["id"], x["route_name"]) for x in rows] == [(1, "refund"), (2, "password"), (4, "password")]
    for x, body in zip(rows, ["I was charged twice", "reset my password please", "my password does not work"],
                       strict=True):
        single = sql.dicts("SELECT similarity FROM tinydancer.semantic_matches WHERE query = %s AND top_k = 1",
                           (body,))
        assert x["similarity"] == pytest.approx(single[0]["similarity"])
    left = sql.q("SELECT t.id, m.route_name FROM tickets t LEFT JOIN tinydancer.semantic_matches m "
                 "ON m.query = t.body AND m.top_k = 1 ORDER BY t.id")
    assert left == [(1, "refund"), (2, "password"), (3, None), (4, "password")]


def test_semantic_matches_by_embedding_and_user_tier(sql: SQL) -> None:
    setup(sql)
    sql.q("UPDATE tinydancer.routes SET user_tiers = '{gold}' WHERE name = 'refund'")
    emb = sql.one("SELECT tinydancer.embed('refund my payment')")
    rows = sql.dicts("SELECT route_name, query_embedding FROM tinydancer.semantic_matches "
                     "WHERE query_embedding = %s::float4[] AND user_tier = 'gold'", (emb,))
    assert rows[0]["route_name"] == "refund" and rows[0]["query_embedding"] == pytest.approx(emb)
    # another tier: the route's condition does not hold
    assert sql.q("SELECT route_name FROM tinydancer.semantic_matches WHERE query = 'refund my payment' "
                 "AND user_tier = 'free'") == []
    assert sql.q("SELECT route_name FROM tinydancer.semantic_route('refund my payment', 3, 'gold')") == [("refund",)]


# -- tinydancer.classifications, tinydancer.classify -----------------------------------------------------

def test_classifications_rows_and_the_jsonb_form(sql: SQL) -> None:
    setup(sql)
    rows = sql.dicts("SELECT kind, category, probability, rank, top_category, confidence "
                     "FROM tinydancer.classifications WHERE text = 'refund my payment'")
    kinds = {r["kind"] for r in rows}
    assert {"route", "group", "out_of_scope", "capability"} <= kinds <= {"route", "group", "out_of_scope",
                                                                        "capability"}
    routes = [r for r in rows if r["kind"] == "route"]
    assert routes[0]["category"] == "refund" and routes[0]["rank"] == 1
    oos = [r["probability"] for r in rows if r["kind"] == "out_of_scope"]
    assert len(oos) == 1 and sum(r["probability"] for r in routes) + oos[0] == pytest.approx(1.0, abs=1e-6)
    assert {r["category"] for r in rows if r["kind"] == "group"} == {"account", "billing"}
    caps = {r["category"]: r["probability"] for r in rows if r["kind"] == "capability"}
    assert set(caps) == {"chat", "account-access", "payments"}  # the routes' target agents' capabilities
    assert all(0 <= p <= 1 for p in caps.values()) and caps["payments"] > caps["account-access"]
    assert all(r["top_category"] == "refund" and r["confidence"] == routes[0]["probability"] for r in rows)
    c = sql.one("SELECT tinydancer.classify('refund my payment')")
    assert c["top_category"] == "refund" and c["confidence"] == pytest.approx(routes[0]["probability"])
    assert [x["name"] for x in c["categories"] if x["kind"] == "route"] == [r["category"] for r in routes]
    assert [x["kind"] for x in c["categories"]] == sorted((x["kind"] for x in c["categories"]),
                                                          key=lambda k: k == "group")
    assert {x["name"]: x["probability"] for x in c["capabilities"]} == pytest.approx(caps)
    assert c["out_of_scope_probability"] == pytest.approx(oos[0])
    one = sql.one("SELECT tinydancer.classify('refund my payment', 1)")
    assert [c["kind"] for c in one["categories"]] == ["route", "group"] and one["top_category"] == "refund"
    # ANY: one set of rows per distinct text
    got = sql.q("SELECT text, count(*) FILTER (WHERE kind = 'out_of_scope') FROM tinydancer.classifications "
                "WHERE text = ANY(ARRAY['a joke about cats', 'refund my payment']) GROUP BY text ORDER BY text")
    assert got == [("a joke about cats", 1), ("refund my payment", 1)]
    far = sql.one("SELECT tinydancer.classify('tell me a joke about cats')")
    assert far["top_category"] is None and far["out_of_scope_probability"] > 0.5


# -- tinydancer.embed, tinydancer.embeddings ---------------------------------------------------------------

def test_embed_and_the_embeddings_table(sql: SQL) -> None:
    e = sql.one("SELECT tinydancer.embed('hello world')")
    assert len(e) == 384 and math.isclose(float(np.linalg.norm(e)), 1.0, rel_tol=1e-5)
    assert sql.one("SELECT pg_typeof(tinydancer.embed('x'))::text") == "real[]"
    row = sql.dicts("SELECT * FROM tinydancer.embeddings WHERE text = 'hello world'")[0]
    assert row["embedding"] == e and row["dim"] == 384 and row["embedder"].startswith("hashing")
    texts = [f"text number {i}" for i in range(300)]
    rows = sql.q("SELECT text, embedding FROM tinydancer.embeddings WHERE text = ANY(%s)", (texts,))
    assert [t for t, _ in rows] == texts and all(len(v) == 384 for _, v in rows)
    assert sql.one("SELECT ruvector_embed('hello world')") == e


# -- routing integration: decisions.route_name, inferred capabilities -----------------------------------

def test_decisions_prefer_the_matched_routes_target(sql: SQL) -> None:
    setup(sql)
    d = sql.dicts("SELECT agent_name, route_name, route_similarity, reasoning FROM tinydancer.decisions "
                  "WHERE request = 'refund my payment' AND optimize_for = 'cost'")[0]
    assert d["route_name"] == "refund" and d["agent_name"] == "billing-agent"  # not the cheapest: the route's
    assert d["route_similarity"] == pytest.approx(1.0)
    d = sql.dicts("SELECT agent_name, route_name, route_similarity FROM tinydancer.decisions "
                  "WHERE request = 'tell me a joke about cats' AND optimize_for = 'cost'")[0]
    assert d["route_name"] is None and d["route_similarity"] is None and d["agent_name"] == "generalist"
    d = sql.dicts("SELECT agent_name, inferred_capabilities, infer_capabilities, capability_threshold "
                  "FROM tinydancer.decisions WHERE request = 'refund my payment' AND optimize_for = 'cost' "
                  "AND excluded_agents = '{billing-agent}' AND infer_capabilities AND capability_threshold = 0.3")[0]
    assert "payments" in d["inferred_capabilities"] and d["infer_capabilities"] is True
    assert d["capability_threshold"] == 0.3 and d["agent_name"] is None  # only billing-agent has payments
    rows = sql.q("SELECT request, route_name FROM tinydancer.decisions WHERE request = ANY(ARRAY['reset my password', "
                 "'refund my payment'])")
    assert rows == [("reset my password", "password"), ("refund my payment", "refund")]


# -- the SQL functions -------------------------------------------------------------------------------------

def test_semantic_route_and_the_seed_functions(sql: SQL) -> None:
    setup(sql)
    rows = sql.dicts("SELECT * FROM tinydancer.semantic_route('reset my password')")
    assert rows[0]["route_name"] == "password" and list(rows[0]) == ["route_name", "similarity", "confidence",
                                                                      "target_agent"]
    assert len(sql.q("SELECT * FROM tinydancer.semantic_route('my payment', top_k => 1)")) <= 1
    seed = sql.dicts("SELECT * FROM ruvector_semantic_route(query := 'reset my password', top_k := 3)")
    assert list(seed[0]) == ["route_name", "similarity", "target_agent", "confidence"]
    assert [(s["route_name"], s["similarity"]) for s in seed] == [(r["route_name"], r["similarity"]) for r in rows]
    # both seed forms of ruvector_create_route
    assert sql.one("SELECT ruvector_create_route(name := 'shipping', description := 'where is my parcel', "
                   "target_agent := 'support-agent')") is True
    assert sql.one("SELECT ruvector_create_route(name := 'invoices', description := 'Invoices', "
                   "embedding := ruvector_embed('send me my invoice'), target_agent := 'billing-agent', "
                   "priority := 3)") is True
    r = sql.dicts("SELECT * FROM tinydancer.routes WHERE name IN ('shipping', 'invoices') ORDER BY name")
    assert [(x["name"], x["utterances"], x["priority"], x["target_agent"]) for x in r] == [
        ("invoices", ["Invoices"], 3, "billing-agent"), ("shipping", ["where is my parcel"], 0, "support-agent")]
    # the given embedding is the vector of the one utterance: its own text matches it exactly
    (m,) = sql.dicts("SELECT * FROM ruvector_semantic_route('send me my invoice', 1)")
    assert m["route_name"] == "invoices" and m["similarity"] == pytest.approx(1.0)
    c = sql.one("SELECT ruvector_classify_request('refund my payment')")
    assert c["top_category"] == "refund" and c["classifications"][0][0] == "refund"
    assert all(isinstance(n, str) and 0 <= p <= 1 for n, p in c["classifications"])
    assert c["confidence"] == pytest.approx(c["classifications"][0][1])
    assert {g for g, _ in c["groups"]} <= {"account", "billing"} and c["capabilities"]


@pytest.mark.parametrize("call", [
    "tinydancer.embed(NULL)", "tinydancer.semantic_route(NULL)", "tinydancer.semantic_route('x', NULL)",
    "tinydancer.classify(NULL)", "ruvector_classify_request(NULL)", "ruvector_embed(NULL)"])
def test_functions_refuse_null(sql: SQL, call: str) -> None:
    e = error(sql, f"SELECT {call}")
    assert e.sqlstate == "22004" and e.diag.message_hint


def test_functions_are_volatile_parallel_unsafe_and_commented(sql: SQL) -> None:
    rows = sql.dicts(
        "SELECT p.oid::regprocedure::text AS sig, p.provolatile, p.proparallel, obj_description(p.oid, 'pg_proc') AS c "
        "FROM pg_proc p WHERE p.proname IN ('embed', 'semantic_route', 'classify', 'classifications_of', "
        "'ruvector_embed', 'ruvector_create_route', 'ruvector_semantic_route', 'ruvector_classify_request')")
    assert len(rows) == 8
    for r in rows:
        assert (r["provolatile"], r["proparallel"]) == ("v", "u") and r["c"], r


# -- bad input: an ERROR naming the field, with a HINT and a SQLSTATE --------------------------------------

BAD = [
    # (statement, SQLSTATE, text the message names, text the hint has)
    ("SELECT * FROM tinydancer.semantic_matches WHERE query = ''", "22023", "query", "1..100000"),
    ("SELECT tinydancer.embed('')", "22023", "texts[0]", "1..100000"),
    ("SELECT * FROM tinydancer.classifications WHERE text = ''", "22023", "text", "1..100000"),
    ("INSERT INTO tinydancer.routes (name, utterances) VALUES ('x', '{\"\"}')", "22023", "route.utterances",
     "1..100000"),
    ("INSERT INTO tinydancer.routes (name, target_agent, utterances) VALUES ('x', 'ghost', '{hi}')", "22023",
     "route.target_agent", "tinydancer.agents"),
    ("INSERT INTO tinydancer.routes (name, utterances) VALUES ('password', '{hi}')", "42710", "password",
     "UPDATE tinydancer.routes"),
    ("INSERT INTO tinydancer.routes (name, utterances, threshold) VALUES ('x', '{hi}', 1.5)", "22023",
     "route.threshold", "[0, 1]"),
    ("INSERT INTO tinydancer.routes (name, utterances, threshold) VALUES ('x', '{hi}', -0.1)", "22023",
     "route.threshold", "[0, 1]"),
    ("UPDATE tinydancer.routes SET threshold = 2 WHERE name = 'password'", "22023", "route.threshold", "[0, 1]"),
    ("INSERT INTO tinydancer.routes (name, utterances) VALUES ('x', '{}')", "22023", "route.utterances", "1..10000"),
    ("INSERT INTO tinydancer.routes (name) VALUES ('x')", "22023", "route.utterances", "1..10000"),
    ("UPDATE tinydancer.routes SET utterances = '{}' WHERE name = 'password'", "22023", "route.utterances",
     "1..10000"),
    ("SELECT * FROM tinydancer.semantic_matches WHERE query = 'x' AND top_k = 0", "22023", "top_k", "1..100"),
    ("SELECT * FROM tinydancer.semantic_matches WHERE query = 'x' AND top_k = -3", "22023", "top_k", "1..100"),
    ("SELECT * FROM tinydancer.semantic_matches WHERE query = 'x' AND top_k = 101", "22023", "top_k", "1..100"),
    ("SELECT * FROM tinydancer.semantic_route('x', 0)", "22023", "top_k", "1..100"),
    ("SELECT * FROM ruvector_semantic_route('x', 500)", "22023", "top_k", "1..100"),
    ("SELECT * FROM tinydancer.semantic_matches WHERE query_embedding = '{1,2,3}'", "22023", "embedding", "384"),
    ("SELECT ruvector_create_route(name := 'x', description := 'hi', embedding := '{1,2,3}')", "22023",
     "route.utterance_embeddings", "384"),
    ("INSERT INTO tinydancer.routes (name, utterances, utterance_embeddings) VALUES ('x', '{a,b}', '{1,2,3}')",
     "22023", "utterance_embeddings", "one row per utterance"),
    ("SELECT ruvector_create_route(name := 'x', description := '')", "22023", "description", "description :="),
    ("SELECT ruvector_create_route(name := 'x', description := 'hi', target_agent := 'ghost')", "22023",
     "route.target_agent", "tinydancer.agents"),
    ("SELECT * FROM tinydancer.semantic_matches", "22023", "needs a query", "WHERE query"),
    ("SELECT * FROM tinydancer.classifications", "22023", "needs a text", "WHERE text"),
    ("SELECT * FROM tinydancer.semantic_matches WHERE query = 'x' AND top_k > 3", "0A000", "top_k", None),
    ("UPDATE tinydancer.routes SET fitted = true WHERE name = 'password'", "0A000", "fitted", "FitRoutes"),
    ("UPDATE tinydancer.routes SET name = 'other' WHERE name = 'password'", "0A000", "renamed", "INSERT"),
    ("DELETE FROM tinydancer.semantic_matches WHERE query = 'x'", "0A000", "read-only", "tinydancer.routes"),
    ("INSERT INTO tinydancer.routes (name, utterances) VALUES ('x', '{{a,b},{c,d}}')", "22023", "utterances",
     "flat array"),
]


@pytest.mark.parametrize(("statement", "sqlstate", "names", "hint"), BAD)
def test_bad_input_is_an_error_naming_the_field(sql: SQL, statement: str, sqlstate: str, names: str,
                                                hint: str | None) -> None:
    setup(sql)
    e = error(sql, statement)
    assert e.sqlstate == sqlstate, (e.sqlstate, str(e))
    assert names in (e.diag.message_primary or ""), e.diag.message_primary
    if hint is not None:
        assert hint in (e.diag.message_hint or ""), e.diag.message_hint
    # nothing half-written
    assert sql.q("SELECT name, utterance_count, threshold FROM tinydancer.routes ORDER BY name") == [
        ("password", 3, 0.6), ("refund", 3, 0.6)]


# -- a 1,000-row join (figures printed for the report, not asserted) ----------------------------------------

def test_join_of_1000_requests(sql: SQL) -> None:
    setup(sql)
    sql.q("CREATE TEMP TABLE many AS SELECT i AS id, CASE i % 3 WHEN 0 THEN 'refund my payment ' || i "
          "WHEN 1 THEN 'reset my password ' || i ELSE 'weather on mars ' || i END AS body "
          "FROM generate_series(1, 1000) i")
    sql.q("ANALYZE many")
    t = time.perf_counter()
    rows = sql.q("SELECT r.id, m.route_name FROM many r JOIN tinydancer.semantic_matches m ON m.query = r.body "
                 "WHERE m.top_k = 1 ORDER BY r.id")
    join_s = time.perf_counter() - t
    t = time.perf_counter()
    any_rows = sql.q("SELECT query, route_name FROM tinydancer.semantic_matches WHERE top_k = 1 AND "
                     "query = ANY(ARRAY(SELECT body FROM many ORDER BY id))")
    any_s = time.perf_counter() - t
    want = {i: ("refund" if i % 3 == 0 else "password") for i in range(1, 1001) if i % 3 != 2}
    assert dict(rows) == want and len(any_rows) == len(want)
    print(f"\n1,000-row JOIN through semantic_matches: {join_s:.3f} s ({join_s:.3f} ms a row); "
          f"= ANY of 1,000: {any_s:.3f} s")


def test_roles_read_match_and_classify_and_writers_change_routes(sql: SQL) -> None:
    """sql/roles.sql: readers read routes, match, classify and embed; writers also change routes."""
    def table(role: str, name: str, priv: str) -> bool:
        return bool(sql.one("SELECT has_table_privilege(%s, %s, %s)", (role, name, priv)))

    def fn(role: str, sig: str) -> bool:
        return bool(sql.one("SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, sig)))

    for t in ("routes", "semantic_matches", "classifications", "embeddings"):
        assert table("tinydancer_reader", f"tinydancer.{t}", "SELECT"), t
    for priv in ("INSERT", "UPDATE", "DELETE"):
        assert not table("tinydancer_reader", "tinydancer.routes", priv)
        assert table("tinydancer_writer", "tinydancer.routes", priv)
    reads = ["tinydancer.embed(text)", "tinydancer.semantic_route(text, integer, text)",
             "tinydancer.classify(text, integer)", "tinydancer.classifications_of(text, integer)",
             "ruvector_embed(text)", "ruvector_semantic_route(text, integer)", "ruvector_classify_request(text)"]
    for sig in reads:
        assert fn("tinydancer_reader", sig) and not fn("public", sig), sig
    create = "ruvector_create_route(text, text, text, integer, real[])"
    assert fn("tinydancer_writer", create) and not fn("tinydancer_reader", create) and not fn("public", create)
