"""The integration plan's "Semantic Routing" and "Batch Routing" SQL examples (verbatim, from
tests/sql/test_seed_examples.py's P_SEMANTIC_ROUTING and P_BATCH_ROUTING) against the real stack.

The plan's routes name target agents 'support-agent' and 'docs-agent', so they are registered first,
and its classification example reads a table ``pending_requests`` that the plan never defines: the
test creates it. Each route of the plan has one utterance (its description) whose vector is the
embedding given. The seed has no thresholds, and its routes are far from its own query: with the default
embedder (all-MiniLM-L6-v2) "How do I reset my password?" has cosine 0.12 to "Customer support and help
requests" and 0.03 to "Technical documentation and API reference", so at routerd's default route_threshold
(0.5) the example abstains (out of scope). The test with that embedder sets route_threshold 0.1, where
the example gives the seed's result table (one row, customer_support); a deployment fits its thresholds
on labelled examples instead (FitRoutes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster import PgCluster
from tests.harness.routerd import RouterdProcess
from tests.harness.sql import SQL
from tests.sql.test_seed_examples import PLAN, run_block

SEMANTIC = "SQL Interface > Semantic Routing"
BATCH = "SQL Interface > Batch Routing"
SEED_COLUMNS = ["route_name", "similarity", "target_agent", "confidence"]


def register_targets(sql: SQL) -> None:
    sql.q("SELECT ruvector_register_agent('support-agent', 'llm', ARRAY['customer-support', 'chat'], 0.001, 300.0, "
          "0.8)")
    sql.q("SELECT ruvector_register_agent('docs-agent', 'llm', ARRAY['documentation', 'search'], 0.002, 400.0, 0.85)")


def test_plan_semantic_routing(sql: SQL) -> None:
    register_targets(sql)
    res = run_block(sql, PLAN, SEMANTIC)
    assert res("name := 'customer_support'") == [{"ruvector_create_route": True}]
    assert res("name := 'technical_docs'") == [{"ruvector_create_route": True}]
    routes = sql.dicts("SELECT name, description, target_agent, priority, utterances, utterance_count "
                       "FROM tinydancer.routes ORDER BY name")
    assert routes == [
        {"name": "customer_support", "description": "Handle customer support inquiries, complaints, and feedback",
         "target_agent": "support-agent", "priority": 1,
         "utterances": ["Handle customer support inquiries, complaints, and feedback"], "utterance_count": 1},
        {"name": "technical_docs", "description": "Answer questions about technical documentation and APIs",
         "target_agent": "docs-agent", "priority": 2,
         "utterances": ["Answer questions about technical documentation and APIs"], "utterance_count": 1}]
    # The matching statement gives the seed's columns; what it returns is what the table says.
    cur = sql.conn.execute("SELECT * FROM ruvector_semantic_route(query := 'How do I reset my password?', top_k := 3)")
    assert [d.name for d in cur.description or []] == SEED_COLUMNS
    got = res("ruvector_semantic_route(")
    table = sql.dicts("SELECT route_name, similarity, target_agent, confidence FROM tinydancer.semantic_matches "
                      "WHERE query = 'How do I reset my password?' AND top_k = 3 ORDER BY rank")
    assert got == table
    # The route's vector is the embedding given (of another text than the description): that text
    # matches it exactly, the description does not.
    (m,) = sql.dicts("SELECT * FROM ruvector_semantic_route('Customer support and help requests', 1)")
    assert m == {"route_name": "customer_support", "similarity": pytest.approx(1.0), "target_agent": "support-agent",
                 "confidence": m["confidence"]} and 0 < m["confidence"] <= 1
    (m,) = sql.dicts("SELECT * FROM ruvector_semantic_route('Technical documentation and API reference', 1)")
    assert m["route_name"] == "technical_docs" and m["similarity"] == pytest.approx(1.0)
    far = sql.dicts("SELECT similarity FROM tinydancer.semantic_matches m JOIN tinydancer.routes r "
                    "ON r.name = m.route_name WHERE m.query = r.description")
    assert all(x["similarity"] < 0.99 for x in far)


@pytest.fixture
def minilm_sql(installed: PgCluster, tmp_path: Path) -> Iterator[SQL]:
    with RouterdProcess(tmp_path / "routerd", env={"TINYDANCER_EMBEDDER": "minilm",
                                                   "TINYDANCER_ROUTE_THRESHOLD": "0.1"}) as r:
        s = SQL(installed, r)
        try:
            yield s
        finally:
            s.close()


def test_plan_semantic_routing_with_the_default_embedder(minilm_sql: SQL) -> None:
    """By meaning: a password reset is a customer-support request, not a documentation one."""
    sql = minilm_sql
    register_targets(sql)
    res = run_block(sql, PLAN, SEMANTIC)
    # the seed's result table: | customer_support | ... | support-agent | ... | (docs is below 0.1)
    (row,) = res("ruvector_semantic_route(")
    assert list(row) == SEED_COLUMNS
    assert (row["route_name"], row["target_agent"]) == ("customer_support", "support-agent")
    assert 0.1 <= row["similarity"] < 0.2 and 0 < row["confidence"] <= 1
    c = sql.one("SELECT ruvector_classify_request('How do I reset my password?')")
    assert [n for n, _ in c["classifications"]] == ["customer_support", "technical_docs"]
    docs = sql.dicts("SELECT * FROM ruvector_semantic_route('Where is the API reference for the search endpoint?')")
    assert docs and docs[0]["route_name"] == "technical_docs"
    assert sql.one("SELECT embedder FROM tinydancer.embeddings WHERE text = 'x'").startswith("all-MiniLM-L6-v2")


def test_plan_batch_routing(sql: SQL) -> None:
    register_targets(sql)
    run_block(sql, PLAN, SEMANTIC, only="ruvector_create_route(")
    sql.q("CREATE TEMP TABLE pending_requests (request_id integer PRIMARY KEY, content text NOT NULL)")
    sql.q("INSERT INTO pending_requests VALUES (1, 'Customer support and help requests'), "
          "(2, 'Technical documentation and API reference'), (3, 'bake a chocolate cake tonight')")
    res = run_block(sql, PLAN, BATCH)
    assert len(res("ruvector_batch_route(")) == 3  # one decision a request (checked in test_seed_examples)
    rows = {r["request_id"]: r["classification"] for r in res("ruvector_classify_request(")}
    assert set(rows) == {1, 2, 3}
    for rid, top in ((1, "customer_support"), (2, "technical_docs")):
        c = rows[rid]
        assert c["top_category"] == top and c["classifications"][0][0] == top
        assert c["confidence"] == pytest.approx(c["classifications"][0][1])
        # the seed's serde form of Vec<(String, f32)>: [name, probability] pairs, most probable first
        assert all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in c["classifications"])
        probs = [p for _, p in c["classifications"]]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) + c["out_of_scope_probability"] == pytest.approx(1.0, abs=1e-6)
        assert {cap for cap, _ in c["capabilities"]} == {"customer-support", "chat", "documentation", "search"}
    far = rows[3]
    assert far["top_category"] is None and far["confidence"] is None and far["out_of_scope_probability"] > 0.5
