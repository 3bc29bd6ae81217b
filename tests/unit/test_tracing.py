"""OpenTelemetry spans (routerd.tracing) with the SDK's in-memory exporter: one SERVER span per RPC
with its method, status code and request id; the engine's phases as its children; nothing at all
when no endpoint is configured; a missing extra, a malformed endpoint and failing exports handled."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import routerd.server
from routerd.config import Config, load_config
from routerd.engine.engine import NO_TRACER
from routerd.errors import InvalidArgument
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.tracing import Tracing, _WarningExporter, start_tracing, traces_url
from tests.harness.agents import agent
from tests.harness.routerd import Client, InProcessRouterd

ROUTE = "/tinydancer.v1.Router/Route"
BATCH = "/tinydancer.v1.Router/BatchRoute"
PHASES = ["engine.validate", "engine.route", "engine.commit"]


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InProcessRouterd, Client,
                                                                              InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    made: list[Tracing] = []

    def with_memory(endpoint: str, service_name: str = "routerd") -> Tracing:
        made.append(start_tracing(endpoint, service_name, exporter=memory))
        return made[-1]

    monkeypatch.setattr(routerd.server, "start_tracing", with_memory)
    with InProcessRouterd(tmp_path / "routerd", otlp_endpoint="http://127.0.0.1:4318",
                          otlp_service_name="routerd-test") as server:
        assert server.server.tracing is made[0]
        c = Client(server.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
        assert made[0].provider.force_flush(5000)
        memory.clear()  # each test sees its own calls' spans only
        yield server, c, memory
        c.close()


def finished(server: InProcessRouterd, memory: InMemorySpanExporter) -> list[Any]:
    tracing = server.server.tracing
    assert tracing is not None
    assert tracing.provider.force_flush(5000)
    return list(memory.get_finished_spans())


def test_route_rpc_span_with_engine_phases(traced: tuple[InProcessRouterd, Client, InMemorySpanExporter]) -> None:
    server, c, memory = traced
    c.router.Route(pb.RouteRequest(request="hello"), metadata=(("x-request-id", "trace-me-1"),))
    spans = finished(server, memory)
    rpc = [s for s in spans if s.name == ROUTE]
    assert len(rpc) == 1
    span = rpc[0]
    assert span.kind == SpanKind.SERVER
    assert span.parent is None
    assert dict(span.attributes) == {"rpc.system": "grpc", "rpc.service": "tinydancer.v1.Router",
                                     "rpc.method": "Route", "tinydancer.request_id": "trace-me-1",
                                     "rpc.grpc.status_code": 0}
    assert span.status.status_code == StatusCode.UNSET
    assert span.resource.attributes["service.name"] == "routerd-test"
    children = sorted((s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id),
                      key=lambda s: s.start_time)
    assert [s.name for s in children] == PHASES
    assert all(s.context.trace_id == span.context.trace_id for s in children)
    assert all(span.start_time <= s.start_time and s.end_time <= span.end_time for s in children)


def test_batch_route_one_span_per_phase(traced: tuple[InProcessRouterd, Client, InMemorySpanExporter]) -> None:
    server, c, memory = traced
    _, call = c.router.BatchRoute.with_call(pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"r{i}")
                                                                           for i in range(5)]))
    rid = dict(call.trailing_metadata())["x-request-id"]
    spans = finished(server, memory)
    (rpc,) = [s for s in spans if s.name == BATCH]
    assert rpc.attributes["tinydancer.request_id"] == rid
    assert sorted(s.name for s in spans if s is not rpc) == sorted(PHASES)


def test_failed_call_has_its_code_and_error_status(traced: tuple[InProcessRouterd, Client,
                                                                 InMemorySpanExporter]) -> None:
    server, c, memory = traced
    with pytest.raises(grpc.RpcError) as e:
        c.router.Route(pb.RouteRequest(request="x", objective="nonsense"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    spans = finished(server, memory)
    (rpc,) = [s for s in spans if s.name == ROUTE]
    assert rpc.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert rpc.status.status_code == StatusCode.ERROR
    assert rpc.status.description == "INVALID_ARGUMENT"


def test_traceparent_in_metadata_is_the_parent(traced: tuple[InProcessRouterd, Client,
                                                             InMemorySpanExporter]) -> None:
    server, c, memory = traced
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    c.router.Route(pb.RouteRequest(request="hello"), metadata=(("traceparent", f"00-{trace_id}-{parent_id}-01"),))
    (rpc,) = [s for s in finished(server, memory) if s.name == ROUTE]
    assert f"{rpc.context.trace_id:032x}" == trace_id
    assert rpc.parent is not None and f"{rpc.parent.span_id:016x}" == parent_id


def test_health_checks_are_not_traced(traced: tuple[InProcessRouterd, Client, InMemorySpanExporter]) -> None:
    server, _, memory = traced
    with grpc.insecure_channel(server.target) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""))
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    assert finished(server, memory) == []


def test_off_by_default(tmp_path: Path) -> None:
    assert Config().otlp_endpoint == ""
    with InProcessRouterd(tmp_path / "routerd") as server:
        assert server.server.tracing is None
        assert server.server.engine.tracer is NO_TRACER
        c = Client(server.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
        assert c.router.Route(pb.RouteRequest(request="hello")).agent_name == "a"
        c.close()


def test_no_opentelemetry_import_when_off(tmp_path: Path) -> None:
    """A routerd without an endpoint serves a Route without ever importing opentelemetry."""
    code = f"""
import sys
import routerd.cli, routerd.server
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client, InProcessRouterd
with InProcessRouterd({str(tmp_path / "r")!r}) as server:
    c = Client(server.target)
    c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
    assert c.router.Route(pb.RouteRequest(request="hello")).agent_name == "a"
    c.close()
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # what an import without the extra does
    with pytest.raises(InvalidArgument) as e:
        start_tracing("http://127.0.0.1:4318")
    assert e.value.field == "otlp_endpoint"
    assert "tinydancer[tracing]" in str(e.value)
    with pytest.raises(InvalidArgument) as e:
        InProcessRouterd(tmp_path / "routerd", otlp_endpoint="http://127.0.0.1:4318").start()
    assert e.value.field == "otlp_endpoint"
    assert not (tmp_path / "routerd").exists()  # failed before anything was opened


@pytest.mark.parametrize("bad", ["127.0.0.1:4318", "localhost", "grpc://127.0.0.1:4317", "http://", "http:///x",
                                 "http://host:port", "http://127.0.0.1:99999", "http://h:4318/?q=1", "ftp://h"])
def test_malformed_endpoint_names_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        load_config({"otlp_endpoint": bad}, env={})
    assert e.value.field == "otlp_endpoint"


def test_endpoint_and_service_name_from_config() -> None:
    cfg = load_config({"otlp_endpoint": "https://collector.example:4318"}, env={})
    assert cfg.otlp_endpoint == "https://collector.example:4318"
    assert cfg.otlp_service_name == "routerd"
    with pytest.raises(InvalidArgument) as e:
        load_config({"otlp_endpoint": "http://h:4318", "otlp_service_name": " "}, env={})
    assert e.value.field == "otlp_service_name"


def test_traces_url() -> None:
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://127.0.0.1:4318/") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("https://c.example/otlp") == "https://c.example/otlp/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failing_exports_warn_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1/traces"
    tracing = start_tracing(url, exporter=OTLPSpanExporter(endpoint=url, timeout=0.3))
    wrapped = tracing.exporter
    assert isinstance(wrapped, _WarningExporter)
    with caplog.at_level(logging.INFO, logger="routerd.tracing"):
        for i in range(3):
            with tracing.span(f"s{i}"):
                pass
            assert tracing.provider.force_flush(5000)
        warnings = [r for r in caplog.records if r.name == "routerd.tracing" and r.levelno == logging.WARNING]
        assert wrapped.failures == 3
        assert len(warnings) == 1
        assert url in warnings[0].getMessage()
        wrapped.interval_s = 0.0  # then every failure may warn again
        with tracing.span("again"):
            pass
        assert tracing.provider.force_flush(5000)
        warnings = [r for r in caplog.records if r.name == "routerd.tracing" and r.levelno == logging.WARNING]
        assert len(warnings) == 2
    assert tracing.shutdown(5.0)


def test_export_recovers_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    memory = InMemorySpanExporter()
    tracing = start_tracing("http://127.0.0.1:4318", exporter=memory)
    wrapped = tracing.exporter
    wrapped._failing = True  # as after a failed export
    with caplog.at_level(logging.INFO, logger="routerd.tracing"):
        with tracing.span("ok"):
            pass
        assert tracing.provider.force_flush(5000)
    assert [s.name for s in memory.get_finished_spans()] == ["ok"]
    assert wrapped.exported == 1
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert tracing.shutdown(5.0)
