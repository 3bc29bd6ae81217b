"""Each fdw table module against a fake client: real pb messages in and out, no PostgreSQL, no routerd."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import fdw
from fdw.options import RESOURCES
from fdw.tables import TABLES, Agents, Batches, CapabilityMatches, Decisions, Outcomes, Stats, TinyDancer, base, routing
from routerd.domain import AGENT_TYPES, OBJECTIVES
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.fdw.fakes import OPTIONS, FakeClient, MulticornException, Qual, failure

T = Timestamp(seconds=1_700_000_000, nanos=123_456_000)


def table(resource: str, client: FakeClient) -> Any:
    return fdw.TinyDancer({**OPTIONS, "resource": resource}, {}, client=client)


def agent(name: str = "premium", **metrics: Any) -> pb.Agent:
    return pb.Agent(spec=pb.AgentSpec(name=name, agent_type="llm", capabilities=["coding"], quality_prior=0.9,
                                      latency_prior_ms=900, cost=pb.CostModel(per_call=0.01),
                                      metadata_json='{"a": 1}', active=True, typical_output_tokens=256),
                    metrics=pb.AgentMetrics(health="closed", expected_quality=0.9, **metrics),
                    created_at=T, updated_at=T)


def decision(name: str = "budget", **kw: Any) -> pb.RouteDecision:
    return pb.RouteDecision(decision_id="d1", routed=True, agent_name=name, confidence=0.7, estimated_cost=0.001,
                            estimated_latency_ms=150, expected_quality=0.6, similarity=0.2, model_version="m1",
                            decided_at=T, **kw)


def errs(fn: Any) -> MulticornException:
    with pytest.raises(MulticornException) as info:
        fn()
    return info.value


# -- the package -------------------------------------------------------------------------------------

def test_every_resource_has_a_table_and_the_wrapper_dispatches() -> None:
    assert set(TABLES) == set(RESOURCES)
    for name, cls in TABLES.items():
        t = table(name, FakeClient())
        assert type(t) is cls and isinstance(t, TinyDancer) and cls.resource == name


def test_import_schema_derives_from_the_column_declarations() -> None:
    defs = {d.table_name: d for d in fdw.TinyDancer.import_schema("tinydancer", {}, {}, None, [])}
    assert set(defs) == set(TABLES)
    for name, d in defs.items():
        assert [(c.column_name, c.type_name) for c in d.columns] == [(c.name, c.type) for c in TABLES[name].COLUMNS]
        assert d.options == {"resource": name}
    stmt = defs["decisions"].to_statement("tinydancer", "routerd")
    assert '"request_embedding" float4[]' in stmt and '"position" integer' in stmt
    e = errs(lambda: fdw.TinyDancer.import_schema("public", {}, {}, None, []))
    assert e.sqlstate == "HV00Q" and "tinydancer" in (e.hint or "")


def test_bad_options_fail_with_a_hint_and_an_fdw_sqlstate() -> None:
    e = errs(lambda: fdw.TinyDancer({**OPTIONS, "resource": "stats", "timout_ms": "5"}, {}, client=FakeClient()))
    assert e.sqlstate == "HV00D" and "timeout_ms" in (e.hint or "")


# -- agents -----------------------------------------------------------------------------------------

def test_agents_rows_hold_only_the_columns_read() -> None:
    c = FakeClient(GetAgent=agent(avg_latency_ms=120.0), ListAgents=pb.ListAgentsResponse(agents=[agent("a"),
                                                                                                 agent("b")]))
    t = table("agents", c)
    assert list(t.execute([Qual("name", "=", "premium")], {"name", "avg_latency_ms", "created_at"})) == [
        {"name": "premium", "avg_latency_ms": 120.0, "created_at": datetime(2023, 11, 14, 22, 13, 20, 123456, UTC)}]
    full = list(t.execute([], set(Agents.COLUMNS.names)))
    assert [r["name"] for r in full] == ["a", "b"] and set(full[0]) == set(Agents.COLUMNS.names)
    assert full[0]["success_rate"] is None and full[0]["capabilities"] == ["coding"]
    assert list(t.execute([Qual("name", "=", "x"), Qual("name", "=", "y")], {"name"})) == []  # contradiction
    assert c.methods() == ["GetAgent", "ListAgents"]


def test_agents_update_sends_only_the_changed_paths() -> None:
    c = FakeClient(GetAgent=agent(), UpdateAgent=lambda r: pb.Agent(spec=r.agent, metrics=agent().metrics))
    t = table("agents", c)
    row = Agents.COLUMNS.row(agent())
    new = {**row, "quality_score": "0.97", "cost_per_call": "0.02", "metadata": '{ "a" : 1 }'}
    t.update("premium", new)
    method, req, _ = c.calls[-1]
    assert method == "UpdateAgent" and sorted(req.update_mask.paths) == ["cost.per_call", "quality_prior"]
    assert t.update("premium", dict(row)) == row and c.methods()[-1] == "GetAgent"  # nothing changed: no call
    e = errs(lambda: t.update("premium", {**row, "total_requests": "5"}))
    assert "observed by routerd" in e.message and e.sqlstate == "0A000"
    e = errs(lambda: t.update("premium", {**row, "name": "renamed"}))
    assert e.sqlstate == "0A000"


def test_agent_errors_name_the_field_and_the_enum_comes_from_the_domain() -> None:
    c = FakeClient(RegisterAgent=failure(grpc.StatusCode.INVALID_ARGUMENT, "invalid input: bad type",
                                         "agent.agent_type"))
    e = errs(lambda: table("agents", c).insert({"name": "x", "agent_type": "robot"}))
    assert e.sqlstate == "22023" and all(t in (e.hint or "") for t in AGENT_TYPES)
    e = errs(lambda: table("agents", c).insert({"name": "x", "agent_type": None}))
    assert e.sqlstate == "22004"
    c = FakeClient(RegisterAgent=failure(grpc.StatusCode.ALREADY_EXISTS, "agent.name: exists", "agent.name"))
    e = errs(lambda: table("agents", c).insert({"name": "x", "agent_type": "llm"}))
    assert e.sqlstate == "42710" and e.hint is None


def test_get_agent_missing_is_no_row() -> None:
    c = FakeClient(GetAgent=failure(grpc.StatusCode.NOT_FOUND))
    assert list(table("agents", c).execute([Qual("name", "=", "ghost")], {"name"})) == []


# -- decisions --------------------------------------------------------------------------------------

def test_a_decision_asks_only_for_what_is_read() -> None:
    c = FakeClient(Route=decision())
    t = table("decisions", c)
    rows = list(t.execute([Qual("request", "=", "hi"), Qual("optimize_for", "=", "cost")],
                          {"request", "optimize_for", "agent_name"}))
    assert rows == [{"request": "hi", "optimize_for": "cost", "agent_name": "budget"}]
    req = c.calls[0][1]
    assert req.request == "hi" and req.objective == "cost"
    assert req.HasField("max_alternatives") and req.max_alternatives == 0 and req.omit_reasoning
    list(t.execute([Qual("request", "=", "hi")], {"request", "reasoning", "alternatives"}))
    req = c.calls[1][1]
    assert not req.HasField("max_alternatives") and not req.omit_reasoning


def test_decision_columns_and_unrouted_rows() -> None:
    d = decision(alternatives=[pb.Alternative(agent_name="premium", score=0.1, feasible=True, reason="gap")])
    t = table("decisions", FakeClient(Route=d))
    row = next(iter(t.execute([Qual("request", "=", "hi")], set(Decisions.COLUMNS.names))))
    assert set(row) == set(Decisions.COLUMNS.names) - {"batch"}  # NULL: not a staged batch
    assert row["decided_at"] == datetime(2023, 11, 14, 22, 13, 20, 123456, UTC) and row["position"] == 1
    assert '"premium"' in row["alternatives"] and row["routed"] is True
    t = table("decisions", FakeClient(Route=pb.RouteDecision(decision_id="d2", routed=False, reasoning="none")))
    row = next(iter(t.execute([Qual("request", "=", "hi")], {"agent_name", "confidence", "reasoning"})))
    assert row == {"agent_name": None, "confidence": None, "reasoning": "none"}


@pytest.mark.parametrize("as_text", [False, True])
def test_embedding_from_the_qual_floats_or_text(as_text: bool) -> None:
    emb = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    value = [str(x) for x in emb.tolist()] if as_text else emb.tolist()  # Multicorn2 / our bridge
    c = FakeClient(Route=decision())
    rows = list(table("decisions", c).execute([Qual("request_embedding", "=", value)],
                                              {"request_embedding", "agent_name"}))
    assert rows[0]["request_embedding"] is value  # echoed as given: PostgreSQL's recheck passes
    np.testing.assert_array_equal(np.asarray(c.calls[0][1].embedding, dtype=np.float32), emb)
    assert c.calls[0][1].request == ""


@pytest.mark.parametrize(("value", "needle"), [
    ([1.0, None], "NULL"), ([1.0, "x"], "numbers"), ([1.0, float("nan")], "finite"), ("{1,2}", "float4[]")])
def test_bad_embeddings_fail_before_any_call(value: Any, needle: str) -> None:
    c = FakeClient()
    e = errs(lambda: list(table("decisions", c).execute([Qual("request_embedding", "=", value)], {"agent_name"})))
    assert needle in e.message and e.sqlstate in ("22023", "22P02") and c.calls == []


def test_any_array_is_one_batch_call_per_chunk() -> None:
    def batch(r: pb.BatchRouteRequest) -> pb.BatchRouteResponse:
        return pb.BatchRouteResponse(decisions=[decision(name=q.request) for q in r.requests])
    c = FakeClient(BatchRoute=batch)
    texts = [f"t{i}" for i in range(12_000)]
    rows = list(table("decisions", c).execute(
        [Qual("request", ("=", True), [*texts, "t0", None]), Qual("max_cost", "=", "0.5")],
        {"request", "agent_name", "position", "max_cost"}))
    assert [r["request"] for r in rows] == texts and [r["position"] for r in rows] == list(range(1, 12_001))
    assert all(r["agent_name"] == r["request"] and r["max_cost"] == "0.5" for r in rows)
    sizes = [len(req.requests) for _, req, _ in c.calls]
    assert c.methods() == ["BatchRoute"] * 3 and sizes == [5000, 5000, 2000]
    first = c.calls[0][1].requests[0]
    assert first.constraints.max_cost == 0.5 and first.omit_reasoning and first.max_alternatives == 0
    assert c.calls[0][2] is not None and c.calls[0][2] > 1.0  # a longer deadline for a bigger chunk


def test_a_reply_routerd_refuses_as_too_large_is_split_until_it_fits() -> None:
    def batch(r: pb.BatchRouteRequest) -> pb.BatchRouteResponse:
        if len(r.requests) > 1200:  # what routerd answers when requests x alternatives x agents is too big
            raise failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "reply too large: send at most 1200")
        return pb.BatchRouteResponse(decisions=[decision(name=q.request) for q in r.requests])
    c = FakeClient(BatchRoute=batch)
    texts = [f"t{i}" for i in range(6000)]
    rows = list(table("decisions", c).execute([Qual("request", ("=", True), texts)],
                                              {"request", "agent_name", "alternatives", "position"}))
    assert [r["request"] for r in rows] == texts and [r["position"] for r in rows] == list(range(1, 6001))
    assert all(r["agent_name"] == r["request"] for r in rows)
    sizes = [len(req.requests) for _, req, _ in c.calls]
    assert sizes[:4] == [5000, 2500, 1250, 625]  # halved until it fits, then kept at the size that did
    assert sum(n for n in sizes if n <= 1200) == 6000
    one = FakeClient(BatchRoute=failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "reply too large"))
    e = errs(lambda: list(table("decisions", one).execute([Qual("request", ("=", True), ["a", "b"])],
                                                         {"agent_name"})))
    assert "too large" in e.message and [len(r.requests) for _, r, _ in one.calls] == [2, 1]


def test_no_request_is_an_error_with_a_hint_and_other_operators_too() -> None:
    t = table("decisions", FakeClient())
    e = errs(lambda: list(t.execute([Qual("optimize_for", "=", "cost")], {"agent_name"})))
    assert "needs a request" in e.message and "WHERE request" in (e.hint or "")
    e = errs(lambda: list(t.execute([Qual("request", "=", "x"), Qual("max_cost", "<", "1")], {"agent_name"})))
    assert "must be compared with =" in e.message and e.sqlstate == "0A000"
    assert list(t.execute([Qual("request", "=", "x"), Qual("request", "=", "y")], {"agent_name"})) == []


def test_invalid_objective_gets_the_objectives_in_the_hint_with_or_without_a_field() -> None:
    for field in ("objective", None):
        c = FakeClient(Route=failure(grpc.StatusCode.INVALID_ARGUMENT, "invalid input: objective: no", field))
        e = errs(lambda c=c: list(table("decisions", c).execute(
            [Qual("request", "=", "x"), Qual("optimize_for", "=", "fastest")], {"agent_name"})))
        assert e.sqlstate == "22023" and all(o in (e.hint or "") for o in OBJECTIVES)
    c = FakeClient(Route=failure(grpc.StatusCode.UNAVAILABLE, "routerd is unreachable"))
    assert errs(lambda: list(table("decisions", c).execute([Qual("request", "=", "x")], {"agent_name"}))).sqlstate \
        == "08006"


def test_row_estimates() -> None:
    t = table("decisions", FakeClient())
    one = t.get_rel_size([Qual("request", "=", "x")], {"agent_name"})
    none = t.get_rel_size([Qual("optimize_for", "=", "cost")], {"agent_name"})
    assert one[0] == 1 and none[0] * none[1] == one[0] * one[1] < 100_000  # generic plan = custom plan cost, no JIT
    assert none[0] == base.GUARD and none[1] == 1  # the parameterized path (1 row × width 1) beats a plain scan
    assert t.get_rel_size([Qual("request", ("=", True), ["a", "b", "c"])], set())[0] == 3
    fresh = table("decisions", FakeClient())
    fresh.get_rel_size([], {"request", "agent_name"})  # a join on request, or WHERE request = $1
    assert fresh.get_path_keys() == [(("request",), 1)]


# -- batches ----------------------------------------------------------------------------------------

def test_staged_batch_with_embeddings_routes_in_chunks_and_is_dropped() -> None:
    def batch(r: pb.BatchRouteRequest) -> pb.BatchRouteResponse:
        return pb.BatchRouteResponse(decisions=[decision(name=q.request or "none") for q in r.requests])
    c = FakeClient(BatchRoute=batch)
    n, dim = 7_001, 16
    emb = np.random.default_rng(2).standard_normal((n, dim)).astype(np.float32)
    texts: list[str | None] = [f"r{i}" for i in range(n)]
    texts[5] = None
    staged = table("batches", c).insert({"requests": texts, "embeddings": emb.ravel().tolist(),
                                         "optimize_for": "cost", "max_cost": "0.5", "min_quality": None})
    assert staged["size"] == n
    handle = staged["handle"]
    d = table("decisions", c)
    assert d.get_rel_size([Qual("batch", "=", handle)], set()) == (n, 1)
    assert [r["handle"] for r in table("batches", c).execute([], {"handle"})] == [handle]
    rows = list(d.execute([Qual("batch", "=", handle)], {"batch", "position", "request", "agent_name", "optimize_for"}))
    assert [r["position"] for r in rows] == list(range(1, n + 1)) and rows[5]["agent_name"] == "none"
    assert rows[0] == {"batch": handle, "position": 1, "request": "r0", "agent_name": "r0", "optimize_for": "cost"}
    assert [len(req.requests) for _, req, _ in c.calls] == [5000, 2001]
    sent = c.calls[1][1].requests[1]  # request 5001
    assert sent.request == "r5001" and sent.objective == "cost" and sent.constraints.max_cost == 0.5
    np.testing.assert_array_equal(np.asarray(sent.embedding, dtype=np.float32), emb[5001])
    assert sent.omit_reasoning and sent.max_alternatives == 0
    assert routing.size(handle) == 0  # taken
    e = errs(lambda: list(d.execute([Qual("batch", "=", handle)], {"agent_name"})))
    assert e.sqlstate == "HV00B" and "no staged batch" in e.message


def test_staging_is_bounded_and_checks_its_inputs() -> None:
    t = table("batches", FakeClient())
    handles = [t.insert({"requests": [f"x{i}"], "embeddings": None})["handle"] for i in range(routing.MAX_STAGED + 2)]
    assert [h for h, _ in routing.staged()] == handles[-routing.MAX_STAGED:]
    for h in handles:
        t.delete(h)
    assert routing.staged() == []
    assert "cannot be 3 embeddings" in errs(lambda: t.insert({"requests": ["a", "b", "c"],
                                                              "embeddings": [1.0, 2.0]})).message
    assert errs(lambda: t.insert({"requests": None})).sqlstate == "22004"
    assert errs(lambda: t.insert({"requests": ["a", None]})).sqlstate == "22004"  # no text, no embedding
    assert "not a number" in errs(lambda: t.insert({"requests": ["a"], "max_cost": "cheap"})).message
    h = t.insert({"requests": ["a"]})["handle"]
    e = errs(lambda: list(table("decisions", FakeClient()).execute(
        [Qual("batch", "=", h), Qual("optimize_for", "=", "cost")], {"agent_name"})))
    assert "carries its own inputs" in e.message
    t.delete(h)


def test_batch_request_bytes_match_the_message_api() -> None:
    template = routing.route_request({"optimize_for": "quality", "required_capabilities": ["coding"],
                                      "input_tokens": "12"}, frozenset({"agent_name"}))
    emb = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = routing.batch_request(template, ["héllo", None], emb)
    want = pb.BatchRouteRequest()
    for text, e in zip(["héllo", ""], emb, strict=True):
        r = want.requests.add()
        r.CopyFrom(template)
        r.request = text
        r.embedding.extend(e.tolist())
    assert got == want


# -- outcomes, capability matches, stats -----------------------------------------------------------------

def test_outcomes_push_down_the_time_range_and_are_append_only() -> None:
    o = pb.Outcome(outcome_id="o1", agent_name="premium", latency_ms=10, success=True, recorded_at=T)
    c = FakeClient(ListOutcomes=pb.ListOutcomesResponse(outcomes=[o]),
                   RecordOutcome=pb.RecordOutcomeResponse(outcome=o))
    t = table("outcomes", c)
    rows = list(t.execute([Qual("recorded_at", ">=", "2020-03-01 00:00:00+00"),
                           Qual("recorded_at", "<=", "2020-06-01 00:00:00+00"), Qual("agent_name", "=", "premium")],
                          {"latency_ms", "quality"}))
    assert rows == [{"latency_ms": 10.0, "quality": None}]
    req = c.calls[0][1]
    assert req.agent_name == "premium" and req.start.ToDatetime(tzinfo=UTC) == datetime(2020, 3, 1, tzinfo=UTC)
    assert req.end.ToDatetime(tzinfo=UTC) == datetime(2020, 6, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert t.insert({"agent_name": "premium", "latency_ms": "10", "success": "t"})["outcome_id"] == "o1"
    assert errs(lambda: t.insert({"agent_name": "premium", "latency_ms": None, "success": "t"})).sqlstate == "22004"
    assert errs(lambda: t.delete("o1")).sqlstate == "0A000"
    assert isinstance(Outcomes.COLUMNS.row(o)["recorded_at"], datetime)


def test_capability_matches_echo_their_inputs() -> None:
    m = pb.AgentMatch(agent=agent(), similarity=0.8)
    c = FakeClient(FindAgentsByCapability=pb.FindAgentsByCapabilityResponse(matches=[m]))
    rows = list(table("capability_matches", c).execute(
        [Qual("capability", "=", "code"), Qual("top_k", "=", 3)], {"capability", "top_k", "name", "similarity"}))
    assert rows == [{"capability": "code", "top_k": 3, "active_only": None, "name": "premium", "similarity": 0.8}]
    assert c.calls[0][1].limit == 3
    assert "needs a capability" in errs(lambda: list(table("capability_matches", c).execute([], {"name"}))).message
    assert CapabilityMatches.COLUMNS.names[:3] == ("capability", "top_k", "active_only")


def test_every_path_key_declares_one_row() -> None:
    """A path key's rows times the outer rows is the join's estimate: past fdw.tables.base.GUARD the
    planner prefers the plain scan, which has no inputs and fails. One row a key keeps the
    parameterized path up to GUARD outer rows for every table (it was 10 for capability_matches)."""
    for name in TABLES:
        t = table(name, FakeClient())
        assert all(rows == 1 for _, rows in t.get_path_keys()), name


def test_stats_row() -> None:
    s = pb.RoutingStatsResponse(agents=4, decisions=9, model_version="m")
    rows = list(table("stats", FakeClient(RoutingStats=s)).execute([], {"agents", "mean_quality", "model_version"}))
    assert rows == [{"agents": 4, "mean_quality": None, "model_version": "m"}]
    assert set(Stats.COLUMNS.row(s)) == set(Stats.COLUMNS.names)
    assert Batches.rowid_column == "handle"


# -- issue 7: silent wrong values, concurrent updates, read-only tables, filters, Multicorn2's path keys --

def test_insert_refuses_the_columns_routerd_sets() -> None:
    c = FakeClient(RegisterAgent=agent())
    t = table("agents", c)
    for col, value in [("total_requests", "5"), ("health", "open"), ("success_rate", "0.5"),
                       ("p95_latency_ms", "1"), ("p99_latency_ms", "1"), ("expected_quality", "0.5"),
                       ("total_spend", "0"), ("created_at", "2020-01-01 00:00:00+00"),
                       ("updated_at", "2020-01-01 00:00:00+00")]:
        e = errs(lambda col=col, value=value: t.insert({"name": "x", "agent_type": "llm", col: value}))
        assert col in e.message and e.sqlstate == "0A000" and e.hint, col
    e = errs(lambda: t.insert({"name": "x", "agent_type": "llm", "latency_prior_ms": "100", "avg_latency_ms": "200"}))
    assert "latency" in e.message and e.hint
    assert c.calls == []  # nothing reached routerd
    t.insert({"name": "x", "agent_type": "llm", "avg_latency_ms": "200"})  # the seed's name for the prior
    assert c.calls[-1][1].agent.latency_prior_ms == 200


def test_update_to_null_is_an_error_that_names_the_default() -> None:
    c = FakeClient(GetAgent=agent(), UpdateAgent=lambda r: pb.Agent(spec=r.agent, metrics=agent().metrics))
    t = table("agents", c)
    row = Agents.COLUMNS.row(agent())
    for col, default in [("typical_output_tokens", "256"), ("cost_per_call", "0"), ("cost_per_1k_input_tokens", "0"),
                         ("cost_per_second", "0"), ("metadata", "'{}'"), ("capabilities", "'{}'"),
                         ("quality_score", "0.5"), ("latency_prior_ms", "1000"), ("active", "true")]:
        e = errs(lambda col=col: t.update("premium", {**row, col: None}))
        assert col in e.message and e.sqlstate == "22004" and f"= {default}" in (e.hint or ""), (col, e.hint)
    assert "UpdateAgent" not in c.methods()


def test_negative_zero_is_zero() -> None:
    import math

    for v in ("-0", "-0.0", -0.0):
        f = base.as_float(v, "cost_per_call")
        assert f == 0 and math.copysign(1.0, f) == 1.0
    c = FakeClient(RegisterAgent=agent())
    table("agents", c).insert({"name": "x", "agent_type": "llm", "cost_per_call": "-0"})
    assert math.copysign(1.0, c.calls[0][1].agent.cost.per_call) == 1.0


def test_update_compares_with_the_row_its_scan_read_not_a_fresh_one() -> None:
    """Outcomes change the observed columns between the scan and the update: only the columns the
    statement set may be checked (issue 7, item 6)."""
    observed = iter([120.0, 130.0, 140.0])

    def get(r: pb.GetAgentRequest) -> pb.Agent:
        return agent(avg_latency_ms=next(observed), total_requests=7)
    c = FakeClient(GetAgent=get, UpdateAgent=lambda r: pb.Agent(spec=r.agent, metrics=agent().metrics),
                   ListAgents=lambda r: pb.ListAgentsResponse(agents=[get(pb.GetAgentRequest())]))
    t = table("agents", c)
    for quals in ([Qual("name", "=", "premium")], []):  # GetAgent or ListAgents
        (scanned,) = t.execute(quals, set(Agents.COLUMNS.names))
        t.update("premium", {**scanned, "quality_score": "0.97", "avg_latency_ms": str(scanned["avg_latency_ms"])})
        method, req, _ = c.calls[-1]
        assert method == "UpdateAgent" and list(req.update_mask.paths) == ["quality_prior"]
    assert c.methods() == ["GetAgent", "UpdateAgent", "ListAgents", "UpdateAgent"]  # no fresh GetAgent
    (scanned,) = t.execute([Qual("name", "=", "premium")], set(Agents.COLUMNS.names))
    e = errs(lambda: t.update("premium", {**scanned, "avg_latency_ms": "1"}))  # set by the statement
    assert "avg_latency_ms" in e.message and e.sqlstate == "0A000"


@pytest.mark.parametrize("resource", ["decisions", "stats", "capability_matches"])
def test_read_only_tables_say_so_with_a_hint(resource: str) -> None:
    t = table(resource, FakeClient())
    e = errs(lambda: t.rowid_column)  # read by the bridge and Multicorn2 at the start of every write
    assert "read-only" in e.message and e.hint and e.sqlstate == "0A000"


def test_filters_routerd_would_reject_match_no_row() -> None:
    c = FakeClient(ListAgents=failure(grpc.StatusCode.INVALID_ARGUMENT, "agent_type: no", "agent_type"))
    t = table("agents", c)
    assert list(t.execute([Qual("agent_type", "=", "robot")], {"name"})) == []
    assert list(t.execute([Qual("agent_type", "=", "llm"), Qual("agent_type", "=", "tool")], {"name"})) == []
    assert c.calls == []
    assert list(table("decisions", c).execute([Qual("request", ("=", True), None)], {"agent_name"})) == []
    o = pb.Outcome(outcome_id="o1", agent_name="premium", latency_ms=10, success=True, recorded_at=T)

    def listing(r: pb.ListOutcomesRequest) -> pb.ListOutcomesResponse:
        if r.agent_name == "not valid":
            raise failure(grpc.StatusCode.INVALID_ARGUMENT, "agent_name: bad", "agent_name")
        if r.HasField("start") and r.start.seconds < 0:
            raise failure(grpc.StatusCode.INVALID_ARGUMENT, "start: out of range", "start")
        return pb.ListOutcomesResponse(outcomes=[o])
    c = FakeClient(ListOutcomes=listing)
    t = table("outcomes", c)
    assert list(t.execute([Qual("agent_name", "=", "not valid")], {"outcome_id"})) == []
    rows = list(t.execute([Qual("recorded_at", ">", "1000-01-01 00:00:00+00")], {"outcome_id"}))
    assert rows == [{"outcome_id": "o1"}] and not c.calls[-1][1].HasField("start")  # a hint, dropped
    c = FakeClient(ListOutcomes=failure(grpc.StatusCode.INVALID_ARGUMENT, "page_size: bad", "page_size"))
    assert errs(lambda: list(table("outcomes", c).execute([], {"outcome_id"}))).sqlstate == "22023"


def multicorn2_join_inputs(t: Any, joined: set[str]) -> set[str]:
    """The columns whose join clauses reach execute() on Multicorn2 3.x (src/query.c findPaths): one
    parameterized path per declared key whose every column has a join clause, carrying only those
    columns' clauses; every key of ours is 1 row, so the paths cost the same and add_path keeps the
    first one added."""
    for key, _rows in t.get_path_keys():
        if set(key) <= joined:
            return set(key)
    return set()


# The join shapes users write (README, DESIGN, the issue): (decisions columns in ON, constants in
# WHERE, other columns read).
JOIN_SHAPES = [
    ({"request"}, {"optimize_for"}, {"agent_name", "estimated_cost"}),
    ({"request", "max_cost"}, set(), set(Decisions.COLUMNS.names)),  # issue 7, item 18: d.*
    ({"request", "optimize_for", "max_cost", "required_capabilities", "max_latency_ms", "min_quality"}, set(),
     set(Decisions.COLUMNS.names)),
    ({"request", "budget_remaining", "willingness_to_pay", "input_tokens", "output_tokens"}, {"optimize_for"},
     {"agent_name"}),
    ({"request_embedding"}, {"optimize_for"}, {"agent_name"}),
    ({"request", "request_embedding", "excluded_agents"}, set(), {"agent_name"}),
    (set(routing.INPUTS), set(), set(Decisions.COLUMNS.names)),  # every input joined
]


@pytest.mark.parametrize(("joined", "constants", "read"), JOIN_SHAPES)
def test_multicorn2_gets_every_joined_input(joined: set[str], constants: set[str], read: set[str]) -> None:
    t = table("decisions", FakeClient())
    # get_rel_size sees the constant quals; its columns are the target list (the join's columns are
    # in it) and the restriction columns
    t.get_rel_size([Qual(c, "=", "x") for c in constants], read | joined | constants)
    assert multicorn2_join_inputs(t, joined) == joined
    assert all(rows == 1 for _, rows in t.get_path_keys())  # one row per request


def test_multicorn2_path_keys_with_two_decisions_relations_and_few_keys_otherwise() -> None:
    t = table("decisions", FakeClient())
    # a statement sizes every relation before it builds any path
    t.get_rel_size([], {"request", "max_cost", "agent_name"})
    t.get_rel_size([], {"request", "min_quality", "agent_name"})
    assert multicorn2_join_inputs(t, {"request", "max_cost"}) == {"request", "max_cost"}
    assert multicorn2_join_inputs(t, {"request", "min_quality"}) == {"request", "min_quality"}
    for _ in range(10):  # a constant request (route(), WHERE request = '...') declares no join keys
        t.get_rel_size([Qual("request", "=", "x")], set(Decisions.COLUMNS.names))
    assert t.get_path_keys() == []
    m = table("capability_matches", FakeClient())
    assert multicorn2_join_inputs(m, {"capability", "top_k"}) == {"capability", "top_k"}
    assert multicorn2_join_inputs(m, {"capability"}) == {"capability"}


def test_integers_past_int32_are_errors_naming_the_column() -> None:
    """Found by tests/sql/test_sql_fuzz.py: `input_tokens = -2147483649` (an int8 qual) was a ValueError."""
    t = table("decisions", FakeClient(Route=decision()))
    for v in ("-2147483649", "2147483648", "9223372036854775807"):
        e = errs(lambda v=v: list(t.execute([Qual("request", "=", "x"), Qual("input_tokens", "=", v)], {"agent_name"})))
        assert "input_tokens" in e.message and e.sqlstate == "22003" and e.hint
    assert base.as_int("2147483647", "n") == 2**31 - 1 and base.as_int(-5, "n") == -5
