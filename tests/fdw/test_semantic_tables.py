"""The semantic-routing tables (routes, semantic_matches, classifications, embeddings) and the decisions
table's routing-by-meaning columns, against a fake client: real pb messages in and out, no PostgreSQL,
no routerd. Qual and insert values are given as Multicorn hands them over (text for float8, bool and
int8; floats or text for float4[] elements)."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import fdw
from fdw.tables import Classifications, Decisions, Embeddings, Routes, SemanticMatches, base, routing
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.fdw.fakes import OPTIONS, FakeClient, MulticornException, Qual, failure

T = Timestamp(seconds=1_700_000_000)


def table(resource: str, client: FakeClient) -> Any:
    return fdw.TinyDancer({**OPTIONS, "resource": resource}, {}, client=client)


def errs(fn: Any) -> MulticornException:
    with pytest.raises(MulticornException) as info:
        fn()
    return info.value


def route(name: str = "support", **kw: Any) -> pb.SemanticRoute:
    fields: dict[str, Any] = {
        "description": "help", "target_agent": "support-agent", "priority": 1,
        "utterances": ["reset my password", "I forgot my login"], "effective_threshold": 0.5,
        "utterance_count": 2, "created_at": T, "updated_at": T, **kw}
    return pb.SemanticRoute(name=name, **fields)


# -- routes -------------------------------------------------------------------------------------------

def test_route_rows_map_the_proto_and_unset_fields_are_null() -> None:
    r = route(threshold=0.7, group="account", conditions=pb.RouteConditions(
        active_from_minute=0, active_until_minute=360, user_tiers=["gold"], rate_limit_per_minute=10))
    c = FakeClient(GetRoute=r, ListRoutes=pb.ListRoutesResponse(routes=[route("a", target_agent=""), route("b")]))
    t = table("routes", c)
    (row,) = t.execute([Qual("name", "=", "support")], set(Routes.COLUMNS.names))
    assert row["threshold"] == 0.7 and row["group_name"] == "account" and row["active_from_minute"] == 0
    assert row["active_until_minute"] == 360 and row["user_tiers"] == ["gold"] and row["rate_limit_per_minute"] == 10
    assert row["utterances"] == ["reset my password", "I forgot my login"] and "utterance_embeddings" not in row
    rows = list(t.execute([], {"name", "target_agent", "threshold", "active_from_minute", "group_name"}))
    assert rows == [{"name": "a", "target_agent": None, "threshold": None, "active_from_minute": None,
                     "group_name": None},
                    {"name": "b", "target_agent": "support-agent", "threshold": None, "active_from_minute": None,
                     "group_name": None}]
    assert not c.calls[-1][1].include_utterances  # not read: not asked for
    list(t.execute([], {"name", "utterances"}))
    assert c.calls[-1][1].include_utterances


def test_route_insert_sends_the_row_and_embeddings_one_per_utterance() -> None:
    c = FakeClient(CreateRoute=lambda r: pb.SemanticRoute(name=r.route.name, utterance_count=len(r.route.utterances)))
    t = table("routes", c)
    emb = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    row = t.insert({"name": "support", "description": None, "target_agent": None, "priority": None,
                    "utterances": ["a", "b"], "threshold": "0.62", "group_name": "g", "active_from_minute": 60,
                    "active_until_minute": 120, "user_tiers": ["gold"], "rate_limit_per_minute": None,
                    "utterance_embeddings": [str(x) for x in emb.ravel().tolist()]})  # Multicorn2: text
    req = c.calls[0][1]
    assert not req.replace and req.route.threshold == pytest.approx(0.62) and req.route.group == "g"
    assert req.route.target_agent == "" and req.route.priority == 0
    assert req.route.conditions.active_from_minute == 60 and not req.route.conditions.HasField("rate_limit_per_minute")
    np.testing.assert_array_equal(np.array([v.values for v in req.route.utterance_embeddings], dtype=np.float32), emb)
    assert row["utterances"] == ["a", "b"]  # the reply had none: what was stored
    e = errs(lambda: t.insert({"name": "x", "utterances": ["a", "b", "c"], "utterance_embeddings": [1.0, 2.0]}))
    assert "utterance_embeddings" in e.message and e.hint and e.sqlstate == "22023"
    e = errs(lambda: t.insert({"name": "x", "utterances": ["a"], "utterance_embeddings": [1.0, None]}))
    assert "NULL" in e.message and "utterance_embeddings" in e.message
    e = errs(lambda: t.insert({"name": "x", "utterances": ["a"], "fitted": "t"}))
    assert "fitted" in e.message and e.sqlstate == "0A000"
    e = errs(lambda: t.insert({"name": "x", "utterances": ["a", None]}))
    assert "utterances" in e.message
    assert len(c.calls) == 1  # the bad rows never reached routerd


@pytest.mark.parametrize(("field", "needle"), [
    ("route.threshold", "[0, 1]"), ("route.target_agent", "tinydancer.agents"), ("route.utterances", "1..10000"),
    ("route.utterances[3]", "1..10000"), ("route.utterance_embeddings[0]", "384"), ("route.name", "128"),
    ("route.conditions.active_from_minute", "minutes")])
def test_route_errors_name_the_field_with_a_hint(field: str, needle: str) -> None:
    c = FakeClient(CreateRoute=failure(grpc.StatusCode.INVALID_ARGUMENT, f"invalid input: {field}: bad", field))
    e = errs(lambda: table("routes", c).insert({"name": "x", "utterances": ["a"]}))
    assert e.sqlstate == "22023" and field in e.message and needle in (e.hint or ""), e.hint


def test_duplicate_and_missing_routes_get_hints() -> None:
    c = FakeClient(CreateRoute=failure(grpc.StatusCode.ALREADY_EXISTS, "route.name: support exists", "route.name"),
                   DeleteRoute=failure(grpc.StatusCode.NOT_FOUND, "route ghost not found"),
                   GetRoute=failure(grpc.StatusCode.NOT_FOUND, "route ghost not found"))
    t = table("routes", c)
    e = errs(lambda: t.insert({"name": "support", "utterances": ["a"]}))
    assert e.sqlstate == "42710" and "UPDATE tinydancer.routes" in (e.hint or "")
    e = errs(lambda: t.delete("ghost"))
    assert e.sqlstate == "42704" and "tinydancer.routes" in (e.hint or "")
    assert list(t.execute([Qual("name", "=", "ghost")], {"name"})) == []  # no row, not an error


def _scanned(t: Any) -> dict[str, Any]:
    (row,) = t.execute([Qual("name", "=", "support")], set(Routes.COLUMNS.names))
    return {**row, "utterance_embeddings": None}


def test_route_update_masks_only_the_changed_columns() -> None:
    c = FakeClient(GetRoute=route(), UpdateRoute=lambda r: route(description=r.route.description))
    t = table("routes", c)
    t.update("support", {**_scanned(t), "description": "new", "threshold": "0.8", "priority": 1})
    req = c.calls[-1][1]
    assert sorted(req.update_mask.paths) == ["description", "threshold"] and req.route.threshold == 0.8
    assert not req.add_utterances and not req.remove_utterances
    t.update("support", {**_scanned(t), "user_tiers": ["gold", "silver"], "group_name": "acct"})
    req = c.calls[-1][1]
    assert sorted(req.update_mask.paths) == ["conditions", "group"] and list(req.route.conditions.user_tiers) == [
        "gold", "silver"]
    r = route(threshold=0.7)
    c = FakeClient(GetRoute=r, UpdateRoute=lambda q: route())
    t = table("routes", c)
    t.update("support", {**_scanned(t), "threshold": None})  # back to routerd's default
    req = c.calls[-1][1]
    assert list(req.update_mask.paths) == ["threshold"] and not req.route.HasField("threshold")
    scanned = _scanned(t)
    assert t.update("support", dict(scanned)) == {k: v for k, v in scanned.items() if k != "utterance_embeddings"}
    assert c.methods()[-1] == "GetRoute"  # nothing changed: no call


def test_utterances_added_or_removed_are_sent_as_the_difference() -> None:
    c = FakeClient(GetRoute=route(), UpdateRoute=lambda r: route())
    t = table("routes", c)
    t.update("support", {**_scanned(t), "utterances": ["reset my password", "I forgot my login", "locked out"]})
    req = c.calls[-1][1]
    assert list(req.add_utterances) == ["locked out"] and not req.remove_utterances
    assert not req.HasField("route") and not req.update_mask.paths  # nothing else copied
    t.update("support", {**_scanned(t), "utterances": ["I forgot my login"], "priority": 5})
    req = c.calls[-1][1]
    assert list(req.remove_utterances) == ["reset my password"] and list(req.update_mask.paths) == ["priority"]
    t.update("support", {**_scanned(t), "utterances": ["I forgot my login", "reset my password"]})  # reordered
    req = c.calls[-1][1]
    assert list(req.update_mask.paths) == ["utterances"] and list(req.route.utterances) == [
        "I forgot my login", "reset my password"]
    t.update("support", {**_scanned(t), "utterances": None})  # emptied: routerd says a route needs one
    req = c.calls[-1][1]
    assert list(req.update_mask.paths) == ["utterances"] and list(req.route.utterances) == []
    t.update("support", {**_scanned(t), "utterances": ["x"], "utterance_embeddings": [0.5, 0.5]})
    req = c.calls[-1][1]
    assert list(req.update_mask.paths) == ["utterances"] and [list(v.values) for v in req.route.utterance_embeddings] \
        == [[0.5, 0.5]]


def test_route_update_refuses_renames_routerd_columns_and_null_priority() -> None:
    c = FakeClient(GetRoute=route(), UpdateRoute=lambda r: route())
    t = table("routes", c)
    for col, value in [("effective_threshold", "0.9"), ("fitted", "t"), ("utterance_count", 7),
                       ("created_at", "2020-01-01 00:00:00+00")]:
        e = errs(lambda col=col, value=value: t.update("support", {**_scanned(t), col: value}))
        assert col in e.message and e.sqlstate == "0A000" and e.hint, col
    assert errs(lambda: t.update("support", {**_scanned(t), "name": "other"})).sqlstate == "0A000"
    e = errs(lambda: t.update("support", {**_scanned(t), "priority": None}))
    assert e.sqlstate == "22004" and "priority = 0" in (e.hint or "")
    assert "UpdateRoute" not in c.methods()


def test_route_delete_keeps_the_scanned_row_for_returning() -> None:
    c = FakeClient(DeleteRoute=pb.DeleteRouteResponse(route=route(utterances=[])))
    assert table("routes", c).delete("support") is None and c.calls[0][1].name == "support"


# -- semantic_matches ---------------------------------------------------------------------------------

def matches(req: pb.SemanticRouteRequest) -> pb.SemanticRouteResponse:
    return pb.SemanticRouteResponse(out_of_scope_probability=0.1, matches=[
        pb.RouteMatch(route=f"{req.query}-1", similarity=0.9, confidence=0.8, target_agent="a", group="g"),
        pb.RouteMatch(route=f"{req.query}-2", similarity=0.7, confidence=0.1)])


def test_semantic_matches_echo_their_inputs_and_rank_the_routes() -> None:
    c = FakeClient(SemanticRoute=matches)
    t = table("semantic_matches", c)
    rows = list(t.execute([Qual("query", "=", "q"), Qual("top_k", "=", 2), Qual("user_tier", "=", "gold")],
                          {"query", "top_k", "user_tier", "route_name", "rank", "target_agent", "group_name"}))
    assert rows == [
        {"query": "q", "top_k": 2, "user_tier": "gold", "query_embedding": None, "route_name": "q-1", "rank": 1,
         "target_agent": "a", "group_name": "g"},
        {"query": "q", "top_k": 2, "user_tier": "gold", "query_embedding": None, "route_name": "q-2", "rank": 2,
         "target_agent": None, "group_name": None}]
    req = c.calls[0][1]
    assert req.query == "q" and req.top_k == 2 and dict(req.context) == {"user_tier": "gold"}
    c = FakeClient(SemanticRoute=pb.SemanticRouteResponse(out_of_scope_probability=0.9))
    assert list(table("semantic_matches", c).execute([Qual("query", "=", "q")], {"route_name"})) == []  # abstains
    assert c.calls[0][1].top_k == 0  # routerd's default (3)


def test_semantic_matches_any_array_is_one_call_per_distinct_query_in_order() -> None:
    c = FakeClient(SemanticRoute=matches)
    rows = list(table("semantic_matches", c).execute(
        [Qual("query", ("=", True), ["b", "a", "b", None]), Qual("top_k", "=", 1)], {"query", "route_name"}))
    assert [(r["query"], r["route_name"]) for r in rows] == [("b", "b-1"), ("b", "b-2"), ("a", "a-1"), ("a", "a-2")]
    assert [r.query for _, r, _ in c.calls] == ["b", "a"]


@pytest.mark.parametrize("as_text", [False, True])
def test_semantic_matches_by_embedding(as_text: bool) -> None:
    emb = np.random.default_rng(4).standard_normal(384).astype(np.float32)
    value = [str(x) for x in emb.tolist()] if as_text else emb.tolist()
    c = FakeClient(SemanticRoute=matches)
    rows = list(table("semantic_matches", c).execute([Qual("query_embedding", "=", value)],
                                                    {"query_embedding", "route_name"}))
    assert rows[0]["query_embedding"] is value  # echoed as given: PostgreSQL's recheck passes
    np.testing.assert_array_equal(np.asarray(c.calls[0][1].embedding, dtype=np.float32), emb)
    e = errs(lambda: list(table("semantic_matches", c).execute([Qual("query_embedding", "=", [1.0, None])],
                                                               {"route_name"})))
    assert "query_embedding" in e.message and e.hint


def test_semantic_matches_bad_input() -> None:
    c = FakeClient(SemanticRoute=matches)
    t = table("semantic_matches", c)
    e = errs(lambda: list(t.execute([Qual("top_k", "=", 3)], {"route_name"})))
    assert "needs a query" in e.message and "WHERE query" in (e.hint or "") and e.sqlstate == "22023"
    for k in (0, -1, 101):
        e = errs(lambda k=k: list(t.execute([Qual("query", "=", "q"), Qual("top_k", "=", k)], {"route_name"})))
        assert "top_k" in e.message and "1..100" in (e.hint or "") and e.sqlstate == "22023", k
    e = errs(lambda: list(t.execute([Qual("query", "=", "q"), Qual("top_k", ">", 3)], {"route_name"})))
    assert e.sqlstate == "0A000"
    e = errs(lambda: list(t.execute([Qual("query", ("<>", False), ["a"])], {"route_name"})))
    assert e.sqlstate == "0A000"
    assert c.calls == []
    c = FakeClient(SemanticRoute=failure(grpc.StatusCode.INVALID_ARGUMENT, "invalid input: query: empty", "query"))
    e = errs(lambda: list(table("semantic_matches", c).execute([Qual("query", "=", "")], {"route_name"})))
    assert "query" in e.message and "1..100000" in (e.hint or "")
    c = FakeClient(SemanticRoute=failure(grpc.StatusCode.INVALID_ARGUMENT, "invalid input: embedding: 3 != 384",
                                         "embedding"))
    e = errs(lambda: list(table("semantic_matches", c).execute([Qual("query_embedding", "=", [1.0, 2.0, 3.0])],
                                                               {"route_name"})))
    assert "embedding" in e.message and "384" in (e.hint or "")


def test_semantic_matches_path_keys_cover_every_joined_input() -> None:
    t = table("semantic_matches", FakeClient())
    keys = [set(k) for k, _ in t.get_path_keys()]
    for joined in ({"query"}, {"query", "top_k"}, {"query", "user_tier"}, {"query", "top_k", "user_tier"},
                   {"query_embedding"}, {"query_embedding", "top_k"}):
        assert next(k for k in keys if k <= joined) == joined  # the first key that fits is all of it
    # 1 row a key: a join of up to GUARD outer rows keeps its parameterized path (the plain one has no query)
    assert {rows for _, rows in t.get_path_keys()} == {1} and t.get_rel_size([], {"route_name"}) == (base.GUARD, 1)
    c = table("classifications", FakeClient())
    assert {rows for _, rows in c.get_path_keys()} == {1} and c.get_rel_size([], {"kind"}) == (base.GUARD, 1)
    assert t.get_rel_size([Qual("query", "=", "q")], set())[0] == 3
    assert t.get_rel_size([Qual("query", ("=", True), ["a", "b"])], set())[0] == 6


# -- classifications ----------------------------------------------------------------------------------

def classify(req: pb.ClassifyRequest) -> pb.ClassifyResponse:
    return pb.ClassifyResponse(
        categories=[pb.Category(name="support", kind="route", probability=0.7),
                    pb.Category(name="docs", kind="route", probability=0.2),
                    pb.Category(name="help", kind="group", probability=0.9)],
        capabilities=[pb.CapabilityNeed(capability="search", probability=0.3),
                      pb.CapabilityNeed(capability="chat", probability=0.8)],
        top_category="support", confidence=0.7, out_of_scope_probability=0.1)


def test_classifications_one_row_per_answer_by_kind() -> None:
    c = FakeClient(Classify=classify)
    rows = list(table("classifications", c).execute([Qual("text", "=", "hi"), Qual("top_k", "=", 5)],
                                                   {"text", "top_k", "category", "kind", "probability", "rank"}))
    got = [(r["kind"], r["category"], r["probability"], r["rank"]) for r in rows]
    assert got == [("route", "support", 0.7, 1), ("route", "docs", 0.2, 2), ("group", "help", 0.9, 1),
                   ("out_of_scope", None, 0.1, None), ("capability", "chat", 0.8, 1), ("capability", "search", 0.3, 2)]
    assert all(r["text"] == "hi" and r["top_k"] == 5 for r in rows)
    assert c.calls[0][1].text == "hi" and c.calls[0][1].top_k == 5
    (row, *_) = table("classifications", c).execute([Qual("text", "=", "hi")], {"top_category", "confidence"})
    assert (row["top_category"], row["confidence"]) == ("support", 0.7)
    c = FakeClient(Classify=pb.ClassifyResponse(out_of_scope_probability=1.0))
    rows = list(table("classifications", c).execute([Qual("text", "=", "hi")], {"kind", "top_category"}))
    assert [(r["kind"], r["top_category"]) for r in rows] == [("out_of_scope", None)]  # no routes: still says so


def test_classifications_any_and_bad_input() -> None:
    c = FakeClient(Classify=classify)
    t = table("classifications", c)
    rows = list(t.execute([Qual("text", ("=", True), ["a", "b", "a"])], {"text", "kind"}))
    assert [r["text"] for r in rows] == ["a"] * 6 + ["b"] * 6 and [q.text for _, q, _ in c.calls] == ["a", "b"]
    e = errs(lambda: list(t.execute([], {"kind"})))
    assert "needs a text" in e.message and e.hint
    for k in (0, 1001):
        assert "top_k" in errs(lambda k=k: list(t.execute([Qual("text", "=", "a"), Qual("top_k", "=", k)],
                                                          {"kind"}))).message
    assert Classifications.COLUMNS.names[:3] == ("text", "top_k", "text_embedding")


# -- embeddings -----------------------------------------------------------------------------------------

def test_embeddings_batch_the_distinct_texts() -> None:
    def embed(r: pb.EmbedRequest) -> pb.EmbedResponse:
        return pb.EmbedResponse(vectors=[pb.Vector(values=[float(len(t)), 1.0]) for t in r.texts], embedder="h",
                                dim=2)
    c = FakeClient(Embed=embed)
    t = table("embeddings", c)
    texts = [f"t{i}" for i in range(600)]
    rows = list(t.execute([Qual("text", ("=", True), [*texts, "t1"])], {"text", "embedding", "dim"}))
    assert [r["text"] for r in rows] == texts and rows[0] == {"text": "t0", "embedding": [2.0, 1.0], "dim": 2}
    assert [len(r.texts) for _, r, _ in c.calls] == [256, 256, 88]
    (row,) = t.execute([Qual("text", "=", "abc")], {"embedding", "embedder"})
    assert row == {"embedding": [3.0, 1.0], "embedder": "h"}
    assert "needs a text" in errs(lambda: list(t.execute([], {"embedding"}))).message
    c = FakeClient(Embed=failure(grpc.StatusCode.INVALID_ARGUMENT, "invalid input: texts[0]: empty", "texts[0]"))
    e = errs(lambda: list(table("embeddings", c).execute([Qual("text", "=", "")], {"embedding"})))
    assert e.sqlstate == "22023" and "1..100000" in (e.hint or "")


@pytest.mark.parametrize("resource", ["semantic_matches", "classifications", "embeddings"])
def test_virtual_tables_are_read_only(resource: str) -> None:
    e = errs(lambda: table(resource, FakeClient()).rowid_column)
    assert "read-only" in e.message and e.hint and e.sqlstate == "0A000"
    assert Routes.rowid_column == "name" and SemanticMatches.resource == "semantic_matches"
    assert Embeddings.COLUMNS.names == ("text", "embedding", "embedder", "dim")


# -- decisions: routing by meaning -----------------------------------------------------------------------

def test_decisions_infer_capabilities_and_report_the_route() -> None:
    d = pb.RouteDecision(decision_id="d1", routed=True, agent_name="support-agent", route_name="support",
                         route_similarity=0.83, inferred_capabilities=["chat"], decided_at=T)
    c = FakeClient(Route=d)
    t = table("decisions", c)
    rows = list(t.execute([Qual("request", "=", "hi"), Qual("infer_capabilities", "=", "t"),
                           Qual("capability_threshold", "=", "0.4")],
                          {"request", "infer_capabilities", "capability_threshold", "route_name", "route_similarity",
                           "inferred_capabilities"}))
    assert rows == [{"request": "hi", "infer_capabilities": "t", "capability_threshold": "0.4",
                     "route_name": "support", "route_similarity": 0.83, "inferred_capabilities": ["chat"]}]
    req = c.calls[0][1]
    assert req.infer_capabilities and req.capability_threshold == pytest.approx(0.4)
    c = FakeClient(Route=pb.RouteDecision(decision_id="d2", routed=True, agent_name="x", decided_at=T))
    (row,) = table("decisions", c).execute([Qual("request", "=", "hi")], {"route_name", "route_similarity",
                                                                          "inferred_capabilities"})
    assert row == {"route_name": None, "route_similarity": None, "inferred_capabilities": []}
    assert not c.calls[0][1].infer_capabilities and not c.calls[0][1].HasField("capability_threshold")
    e = errs(lambda: list(table("decisions", c).execute(
        [Qual("request", "=", "hi"), Qual("infer_capabilities", "=", "maybe")], {"agent_name"})))
    assert "infer_capabilities" in e.message


def test_the_new_decision_columns_come_last_and_are_not_join_keys() -> None:
    names = Decisions.COLUMNS.names
    assert names[-7:-2] == ("infer_capabilities", "capability_threshold", "route_name", "route_similarity",
                            "inferred_capabilities")
    assert names[-2:] == ("tags", "charges")  # issue 11's columns, after them
    assert "infer_capabilities" not in routing.INPUTS  # a staged batch's shared inputs are unchanged
    t = table("decisions", FakeClient())
    t.get_rel_size([], set(names))
    assert all("infer_capabilities" not in k for k, _ in t.get_path_keys())
    c = FakeClient(BatchRoute=lambda r: pb.BatchRouteResponse(decisions=[
        pb.RouteDecision(routed=True, agent_name=q.request, route_name="r") for q in r.requests]))
    rows = list(table("decisions", c).execute([Qual("request", ("=", True), ["a", "b"]),
                                               Qual("infer_capabilities", "=", "t")], {"request", "route_name"}))
    assert rows == [{"request": "a", "route_name": "r"}, {"request": "b", "route_name": "r"}]
    assert all(q.infer_capabilities for q in c.calls[0][1].requests)
