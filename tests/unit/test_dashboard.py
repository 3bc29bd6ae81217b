"""The dashboard's JSON documents and its HTTP routing (routerd/dashboard), over a real Engine on
SQLite with the hashing embedder and a controlled clock; the HTTP server itself on a free port."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import asdict
from typing import Any

import pytest

from routerd.dashboard import Dashboard, Fanout, InfeasibleTally, start_dashboard
from routerd.engine.engine import Engine
from routerd.engine.query import RouteQuery
from routerd.errors import InvalidArgument
from tests.harness.engine import FakeClock, spec

T = tuple[int, str, bytes]


def body(answer: T) -> Any:
    status, ctype, data = answer
    assert ctype == "application/json"
    return json.loads(data)


@pytest.fixture
def tally(clock: FakeClock) -> InfeasibleTally:
    return InfeasibleTally(clock)


@pytest.fixture
def loaded(make_engine: Any, tally: InfeasibleTally, clock: FakeClock) -> Engine:
    engine: Engine = make_engine(observer=tally)
    engine.registry.register(spec("cheap", capabilities=("general",), per_call=0.001, quality=0.6))
    engine.registry.register(spec("dear", capabilities=("general", "math"), per_call=0.01, quality=0.9))
    routed = [engine.route(RouteQuery(text=f"q{i}", required_capabilities=("math",))) for i in range(4)]
    assert {d.agent_name for d in routed} == {"dear"}
    for _ in range(3):
        assert engine.route(RouteQuery(text="dear", max_cost=0.0)).agent_name is None
    assert engine.route(RouteQuery(text="none", required_capabilities=("nothing",))).agent_name is None
    for i, d in enumerate(routed):
        clock.advance(1.0)
        engine.record_outcome(decision_id=d.decision_id, latency_ms=100.0 * (i + 1),
                              success=i != 0, quality=0.5, cost=0.25, input_tokens=0, output_tokens=0)
    return engine


def test_summary_is_routing_stats(loaded: Engine, tally: InfeasibleTally) -> None:
    doc = body(Dashboard(loaded, tally).handle("GET", "/api/summary"))
    assert doc == asdict(loaded.stats())
    assert doc["decisions"] == 8 and doc["outcomes"] == 4 and doc["total_spend"] == pytest.approx(1.0)


def test_agents_latency_health_and_spend(loaded: Engine, tally: InfeasibleTally) -> None:
    doc = body(Dashboard(loaded, tally).handle("GET", "/api/agents"))
    by = {a["name"]: a for a in doc["agents"]}
    assert list(by) == ["cheap", "dear"] and doc["total"] == 2
    dear = by["dear"]
    assert (dear["requests"], dear["successes"], dear["success_rate"]) == (4, 3, 0.75)
    assert dear["latency_p50_ms"] == pytest.approx(250.0)  # of 100, 200, 300, 400 (numpy's linear quantile)
    assert dear["latency_p95_ms"] == pytest.approx(385.0)
    assert dear["spend"] == pytest.approx(1.0) and dear["health"] == "healthy" and dear["circuit_state"] == "closed"
    assert by["cheap"]["latency_p50_ms"] is None and by["cheap"]["requests"] == 0


def test_timeseries_buckets_cover_now(loaded: Engine, tally: InfeasibleTally, clock: FakeClock) -> None:
    d = Dashboard(loaded, tally)
    doc = body(d.handle("GET", "/api/timeseries?window=600&buckets=10"))
    assert doc["bucket_s"] == 60 and len(doc["buckets"]) == 10
    assert doc["start"] <= clock() < doc["end"] and doc["end"] - doc["start"] == 600
    assert doc["totals"] == {"decisions": 8, "infeasible": 4, "outcomes": 4, "successes": 3,
                             "spend": pytest.approx(1.0)}
    clock.advance(3600)
    assert body(d.handle("GET", "/api/timeseries?window=600"))["totals"]["decisions"] == 0


def test_infeasible_reasons_counted(loaded: Engine, tally: InfeasibleTally) -> None:
    doc = body(Dashboard(loaded, tally).handle("GET", "/api/infeasible"))
    reasons = {r["rule"]: r["decisions"] for r in doc["reasons"]}
    assert doc["decisions"] == 4
    assert reasons["max_cost"] == 3 and reasons["missing_capability"] == 1
    assert reasons["no_agents"] == 0 and doc["reasons"][0]["rule"] == "max_cost"  # the most first
    assert sum(reasons.values()) == 4


def test_no_agents_is_its_own_reason(make_engine: Any, tally: InfeasibleTally) -> None:
    engine = make_engine(observer=Fanout(tally, InfeasibleTally()))
    assert engine.route(RouteQuery(text="anyone")).agent_name is None
    assert tally.snapshot() == (1, {**dict.fromkeys(tally.snapshot()[1], 0), "no_agents": 1})


def test_model_without_a_live_one(loaded: Engine, tally: InfeasibleTally) -> None:
    doc = body(Dashboard(loaded, tally).handle("GET", "/api/model"))
    assert doc == {"serving": loaded.router.model.version, "live": None, "versions": []}


@pytest.mark.parametrize(("target", "field"), [
    ("/api/timeseries?window=abc", "window"), ("/api/timeseries?window=59", "window"),
    ("/api/timeseries?window=99999999", "window"), ("/api/timeseries?buckets=0", "buckets"),
    ("/api/timeseries?buckets=501", "buckets"), ("/api/timeseries?window=60&window=120", "window"),
    ("/api/timeseries?colour=red", "colour"), ("/api/summary?x=1", "x")])
def test_bad_parameters_are_400_naming_them(loaded: Engine, tally: InfeasibleTally, target: str, field: str) -> None:
    status, _, data = Dashboard(loaded, tally).handle("GET", target)
    doc = json.loads(data)
    assert status == 400 and doc["field"] == field and doc["status"] == 400 and doc["error"]


def test_unknown_path_and_method(loaded: Engine, tally: InfeasibleTally) -> None:
    d = Dashboard(loaded, tally)
    for path in ("/api/nope", "/static/../routerd.db", "/favicon.ico", "/api"):
        status, _, data = d.handle("GET", path)
        assert status == 404 and json.loads(data)["field"] == "path"
    status, _, data = d.handle("POST", "/api/summary")
    assert status == 405 and "only GET" in json.loads(data)["error"]


def test_static_files_come_from_the_package(loaded: Engine, tally: InfeasibleTally) -> None:
    d = Dashboard(loaded, tally, token="s3cret")
    for path, ctype, needle in (("/", "text/html", b"/static/app.js"), ("/static/app.js", "text/javascript", b"fetch"),
                                ("/static/style.css", "text/css", b"--routed")):
        status, got, data = d.handle("GET", path)  # the page holds no data: served without the token
        assert status == 200 and got.startswith(ctype) and needle in data and b"s3cret" not in data
        assert b"http://" not in data.replace(b"http://www.w3.org/2000/svg", b"")  # no CDN


def test_token_is_required_on_the_api(loaded: Engine, tally: InfeasibleTally) -> None:
    d = Dashboard(loaded, tally, token="s3cret")
    for auth in (None, "Bearer wrong", "s3cret", "Bearer s3cret "):
        status, _, data = d.handle("GET", "/api/summary", auth)
        assert status == 401 and json.loads(data)["field"] == "authorization"
    assert d.handle("GET", "/api/summary", "Bearer s3cret")[0] == 200
    assert d.handle("GET", "/api/nope", "Bearer s3cret")[0] == 404


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, Any]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, json.loads(e.read())


def test_http_server_answers_json_errors_and_a_port_in_use_is_named(loaded: Engine, tally: InfeasibleTally) -> None:
    server = start_dashboard("127.0.0.1:0", Dashboard(loaded, tally, token="t"))
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, _, doc = _get(base + "/api/summary", {"Authorization": "Bearer t"})
        assert status == 200 and doc == asdict(loaded.stats())
        status, headers, doc = _get(base + "/api/nothing")
        assert status == 404 and headers["Content-Type"] == "application/json" and doc["status"] == 404
        assert _get(base + "/api/summary")[0] == 401
        assert _get(base + "/api/timeseries?window=x", {"Authorization": "Bearer t"})[2]["field"] == "window"
        status, headers, doc = _get(base + "/api/summary", {"Authorization": "Bearer t"}, method="DELETE")
        assert status == 405 and headers["Allow"] == "GET"
        with pytest.raises(InvalidArgument) as e:
            start_dashboard(f"127.0.0.1:{server.port}", Dashboard(loaded, tally))
        assert e.value.field == "http_listen" and "in use" in e.value.problem
    finally:
        server.stop()
    assert not server.thread.is_alive()
    with socket.socket() as s, pytest.raises(OSError):  # stopped: nothing listens on it any more
        s.settimeout(5)
        s.connect(("127.0.0.1", server.port))
    with pytest.raises(InvalidArgument) as e:
        start_dashboard("localhost", Dashboard(loaded, tally))
    assert e.value.field == "http_listen"


def test_model_document_and_its_held_out_curve(make_engine: Any, tally: InfeasibleTally) -> None:
    from routerd.engine.learning import TrainOptions, curve_key
    from routerd.model.datasets import RoutingDataset, validate_record
    from tests.harness import learning as L

    engine: Engine = make_engine()
    recs = [validate_record(r, f"d.jsonl:{i + 1}") for i, r in enumerate(L.records(300, 3))]
    rec = engine.models.start_training(TrainOptions(dataset=RoutingDataset.from_records(recs, "d.jsonl"))).result(120)
    assert rec.status == "live"
    doc = body(Dashboard(engine, tally).handle("GET", "/api/model"))
    live = doc["live"]
    assert doc["serving"] == live["name"] == "fastgrnn/1" and live["version"] == 1
    assert live["metrics"] == pytest.approx(rec.metrics) and set(live["metrics"]) == set(rec.metrics)
    assert [v["version"] for v in doc["versions"]] == [1]
    curve = live["curve"]
    assert curve == json.loads(engine.store.get_meta(curve_key(1)) or "null")
    assert curve["holdout_requests"] == rec.metrics["n_holdout"] == 60
    costs = [p["cost"] for p in curve["points"]]
    quals = [p["quality"] for p in curve["points"]]
    agents = {a["name"]: a for a in curve["agents"]}
    # every point mixes the two agents, so its mean cost lies between theirs; on this data (the cheap
    # agent is as good at translations) the model reaches the dear agent's quality on the hull
    assert min(costs) >= agents[L.CHEAP]["cost"] - 1e-12 and max(costs) <= agents[L.DEAR]["cost"] + 1e-12
    assert max(p["quality"] for p in curve["hull"]) >= max(a["quality"] for a in agents.values()) - 1e-12
    assert len(quals) >= 2 and all(p["wtp"] > 0 for p in curve["points"])
    # a version trained from the outcome log has no curve: one agent per request, nothing to sweep
    assert engine.models.curve(2) is None
