"""Metrics, request ids and JSON logs against a real routerd: the metrics endpoint scraped over HTTP
and parsed with prometheus-client's parser equals the counts the test produced; a request id (sent,
or generated) comes back in the trailing metadata and is found in routerd's JSON log and in the
decision log; bad metrics configuration fails at startup with one clear line."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.store.base import open_store
from tests.harness.agents import agent
from tests.harness.routerd import Client, InProcessRouterd, RouterdProcess

ROUTE = "/tinydancer.v1.Router/Route"
BATCH = "/tinydancer.v1.Router/BatchRoute"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def rpc_count(samples: Samples, method: str, code: str) -> float:
    return sample(samples, "tinydancer_rpc_seconds_count", method=method, code=code)


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[tuple[InProcessRouterd, Client]]:
    with InProcessRouterd(tmp_path / "routerd", metrics_listen="127.0.0.1:0") as server:
        c = Client(server.target)
        for name, caps in (("a", ["alpha", "general"]), ("b", ["beta", "general"])):
            c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(name, capabilities=caps)))
        yield server, c
        c.close()


def test_metrics_equal_the_counts_produced(observed: tuple[InProcessRouterd, Client]) -> None:
    server, c = observed
    n_routed, n_cost, n_cap, k_outcomes = 5, 3, 2, 4
    ids = []
    for i in range(n_routed):
        d = c.router.Route(pb.RouteRequest(request=f"question {i}",
                                           constraints=pb.Constraints(required_capabilities=["alpha"])))
        assert d.agent_name == "a"
        ids.append(d.decision_id)
    for _ in range(n_cost):
        d = c.router.Route(pb.RouteRequest(request="too dear", constraints=pb.Constraints(max_cost=0.0)))
        assert not d.agent_name
    for _ in range(n_cap):
        d = c.router.Route(pb.RouteRequest(request="nobody",
                                           constraints=pb.Constraints(required_capabilities=["nothing"])))
        assert not d.agent_name
    batch = c.router.BatchRoute(pb.BatchRouteRequest(requests=[
        pb.RouteRequest(request=f"b{i}", objective="cost", constraints=pb.Constraints(required_capabilities=["beta"]))
        for i in range(3)]))
    assert [d.agent_name for d in batch.decisions] == ["b"] * 3
    for i in range(k_outcomes):
        c.feedback.RecordOutcome(pb.RecordOutcomeRequest(decision_id=ids[i], latency_ms=100.0, success=i != 0,
                                                         cost=0.01))
    with pytest.raises(grpc.RpcError) as e:
        c.router.Route(pb.RouteRequest(request="x", objective="nonsense"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as e:
            c.registry.GetAgent(pb.GetAgentRequest(name="missing"))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # stream-unary (Evaluate) and stream-stream (Train) handlers go through the same interceptor
    with pytest.raises(grpc.RpcError) as e:
        c.model.Evaluate(iter([pb.EvaluateRequest(dataset=pb.DatasetLines(lines=["{}"]))]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        list(c.model.Train(iter([pb.TrainRequest(dataset=pb.DatasetLines(lines=["{}"]))])))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    m = scrape(server.server.metrics_port)
    d = "tinydancer_decisions_total"
    assert sample(m, d, agent="a", objective="balanced", outcome="routed") == n_routed
    assert sample(m, d, agent="b", objective="cost", outcome="routed") == 3
    assert sample(m, d, agent="", objective="balanced", outcome="infeasible") == n_cost + n_cap
    assert sample(m, "tinydancer_infeasible_reasons_total", rule="max_cost") == n_cost
    assert sample(m, "tinydancer_infeasible_reasons_total", rule="missing_capability") == n_cap
    assert sample(m, "tinydancer_infeasible_reasons_total", rule="min_quality") == 0
    assert sample(m, "tinydancer_decision_seconds_count", call="route") == n_routed + n_cost + n_cap
    assert sample(m, "tinydancer_decision_seconds_count", call="batch") == 1
    assert sample(m, "tinydancer_outcomes_total", agent="a", success="true") == k_outcomes - 1
    assert sample(m, "tinydancer_outcomes_total", agent="a", success="false") == 1
    assert sample(m, "tinydancer_outcome_cost_dollars_total", agent="a") == pytest.approx(0.01 * k_outcomes)
    assert rpc_count(m, ROUTE, "OK") == n_routed + n_cost + n_cap
    assert rpc_count(m, ROUTE, "INVALID_ARGUMENT") == 1
    assert rpc_count(m, BATCH, "OK") == 1
    assert rpc_count(m, "/tinydancer.v1.Feedback/RecordOutcome", "OK") == k_outcomes
    assert rpc_count(m, "/tinydancer.v1.AgentRegistry/RegisterAgent", "OK") == 2
    assert rpc_count(m, "/tinydancer.v1.AgentRegistry/GetAgent", "NOT_FOUND") == 2
    assert rpc_count(m, "/tinydancer.v1.Model/Evaluate", "INVALID_ARGUMENT") == 1
    assert rpc_count(m, "/tinydancer.v1.Model/Train", "INVALID_ARGUMENT") == 1
    # every bucket series of a histogram is cumulative and ends at its count
    assert sample(m, "tinydancer_rpc_seconds_bucket", method=ROUTE, code="OK", le="+Inf") == rpc_count(m, ROUTE, "OK")
    assert sample(m, "tinydancer_circuit_state", agent="a", state="closed") == 1
    assert sample(m, "tinydancer_circuits", state="closed") == 2
    assert sample(m, "tinydancer_agents", active="true") == 2
    assert sample(m, "tinydancer_model_version") == 0
    assert sample(m, "tinydancer_store_errors_total", operation="decisions") == 0
    assert sample(m, "tinydancer_embedded_texts_total") >= n_routed + 2 + 3  # distinct texts (repeats may be cached)
    assert any(name.startswith("process_") for name, _ in m)
    # no label carries request text, a decision id or a request id
    values = {v for _, labels in m for _, v in labels}
    assert not values & {*ids, "question 0", "too dear"}


def test_unary_stream_handler_is_timed(observed: tuple[InProcessRouterd, Client]) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server, c = observed
    watch = health_pb2_grpc.HealthStub(c.channel).Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    method = "/grpc.health.v1.Health/Watch"
    for _ in range(100):
        m = scrape(server.server.metrics_port)
        if rpc_count(m, method, "CANCELLED"):
            break
        time.sleep(0.05)
    assert rpc_count(m, method, "CANCELLED") == 1


def test_store_unavailable_is_counted(observed: tuple[InProcessRouterd, Client]) -> None:
    server, c = observed
    server.server.engine.store.close()
    with pytest.raises(grpc.RpcError) as e:
        c.router.Route(pb.RouteRequest(request="hello"))
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    m = scrape(server.server.metrics_port)
    assert sample(m, "tinydancer_store_errors_total", operation="decisions") == 1
    assert rpc_count(m, ROUTE, "UNAVAILABLE") == 1


def test_refused_calls_are_counted_with_a_request_id(tmp_path: Path) -> None:
    with InProcessRouterd(tmp_path / "routerd", metrics_listen="127.0.0.1:0", token="s3cret") as server:
        c = Client(server.target)
        with pytest.raises(grpc.RpcError) as e:
            c.router.Route(pb.RouteRequest(request="hello"), metadata=(("x-request-id", "no-token-1"),))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert dict(e.value.trailing_metadata())["x-request-id"] == "no-token-1"
        c.close()
        assert rpc_count(scrape(server.server.metrics_port), ROUTE, "UNAUTHENTICATED") == 1


def trailing_request_id(call: Any) -> str | None:
    ids = [v for k, v in call.trailing_metadata() or () if k == "x-request-id"]
    assert len(ids) <= 1
    return ids[0] if ids else None


def test_batch_shares_one_request_id(observed: tuple[InProcessRouterd, Client]) -> None:
    server, c = observed
    resp, call = c.router.BatchRoute.with_call(
        pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"r{i}") for i in range(4)]),
        metadata=(("x-request-id", "batch-42"),))
    assert trailing_request_id(call) == "batch-42"
    store = server.server.engine.store
    for d in resp.decisions:
        rec = store.get_decision(d.decision_id)
        assert rec is not None and rec.request_id == "batch-42"


def test_errors_keep_their_field_and_carry_the_request_id(observed: tuple[InProcessRouterd, Client]) -> None:
    _, c = observed
    with pytest.raises(grpc.RpcError) as e:
        c.router.Route(pb.RouteRequest(request="x", objective="nonsense"), metadata=(("x-request-id", "bad-1"),))
    trailing = dict(e.value.trailing_metadata())
    assert trailing["x-request-id"] == "bad-1"
    assert trailing["tinydancer-field"] == "objective"


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_request_id_in_json_log_and_decision_log(tmp_path: Path) -> None:
    data = tmp_path / "routerd"
    proc = RouterdProcess(data, extra_args=("--log-format", "json", "--metrics-listen", "127.0.0.1:0"))
    with proc:
        c = Client(proc.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
        sent, call = c.router.Route.with_call(pb.RouteRequest(request="follow me"),
                                              metadata=(("x-request-id", "sql-stmt-0001"),))
        assert trailing_request_id(call) == "sql-stmt-0001"
        generated, call = c.router.Route.with_call(pb.RouteRequest(request="no id given"))
        gen_id = trailing_request_id(call)
        assert gen_id is not None and re.fullmatch(r"[0-9a-f]{32}", gen_id)
        _, call = c.router.Route.with_call(pb.RouteRequest(request="bad id"), metadata=(("x-request-id", "x" * 200),))
        replaced = trailing_request_id(call)
        assert replaced is not None and re.fullmatch(r"[0-9a-f]{32}", replaced)
        port = next(line["metrics_port"] for line in json_lines(proc.stderr_path) if "metrics_port" in line)
        m = scrape(port)
        assert rpc_count(m, ROUTE, "OK") == 3
        c.close()
    assert proc.proc is not None and proc.proc.returncode == 0
    lines = json_lines(proc.stderr_path)
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    for rid, decision in (("sql-stmt-0001", sent), (gen_id, generated)):
        rpc = [line for line in lines if line.get("request_id") == rid]
        assert len(rpc) == 1, rpc
        assert rpc[0]["logger"] == "routerd.rpc" and rpc[0]["level"] == "INFO"
        assert rpc[0]["method"] == ROUTE and rpc[0]["code"] == "OK" and rpc[0]["duration_ms"] > 0
        store = open_store(f"sqlite://{data / 'routerd.db'}")
        try:
            rec = store.get_decision(decision.decision_id)
        finally:
            store.close()
        assert rec is not None and rec.request_id == rid
    # health checks are not logged line by line
    assert not [line for line in lines if str(line.get("method", "")).startswith("/grpc.health")]


def free_port_held() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "routerd", "serve", "--listen", "127.0.0.1:0", "--data-dir",
                           str(tmp_path / "routerd"), "--embedder", "hashing", *args],
                          capture_output=True, text=True, timeout=60)


def test_metrics_port_in_use_is_a_clear_startup_error(tmp_path: Path) -> None:
    with free_port_held() as held:
        port = held.getsockname()[1]
        r = serve(tmp_path, "--metrics-listen", f"127.0.0.1:{port}")
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1, r.stderr
    assert "metrics_listen" in err[0] and f"127.0.0.1:{port}" in err[0] and "in use" in err[0]
    assert "listening" not in r.stdout
    # nothing was left locked: the same data dir serves at once
    with RouterdProcess(tmp_path / "routerd") as proc:
        assert proc.port


@pytest.mark.parametrize("bad", ["nonsense", "127.0.0.1:", "127.0.0.1:99999", ":9100", "host:port"])
def test_malformed_metrics_listen_names_the_field(tmp_path: Path, bad: str) -> None:
    r = serve(tmp_path, "--metrics-listen", bad)
    assert r.returncode == 2
    assert "metrics_listen" in r.stderr and bad in r.stderr


def test_in_process_bad_metrics_listen(tmp_path: Path) -> None:
    from routerd.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as e:
        InProcessRouterd(tmp_path / "routerd", metrics_listen="no-port").start()
    assert e.value.field == "metrics_listen"
    with free_port_held() as held:
        server = InProcessRouterd(tmp_path / "routerd", metrics_listen=f"127.0.0.1:{held.getsockname()[1]}")
        with pytest.raises(InvalidArgument) as e:
            server.start()
    assert e.value.field == "metrics_listen"
    with InProcessRouterd(tmp_path / "routerd") as ok:  # the store was closed and its lock released
        assert ok.server.metrics_server is None
