"""OTLP export from a real routerd process (``--otlp-endpoint``) to a tiny collector this test runs
(POST /v1/traces, decoded with opentelemetry-proto's ExportTraceServiceRequest): the Route calls'
spans arrive with their request id and the engine's phases; an unreachable endpoint costs nothing
but one warning, and SIGTERM still stops routerd promptly; without the flag nothing is sent at all."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess

ROUTE = "/tinydancer.v1.Router/Route"


class Collector(ThreadingHTTPServer):
    """Accepts OTLP/HTTP protobuf on POST /v1/traces; counts every connection it is offered."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.connections = 0
        self.lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of everything received."""
        out = []
        with self.lock:
            for req in self.requests:
                for rs in req.resource_spans:
                    resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        out.extend((resource, s) for s in ss.spans)
        return out


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_error(404)
            return
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        with self.server.lock:
            self.server.requests.append(req)
            self.server.paths.append(self.path)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    t = threading.Thread(target=c.serve_forever, daemon=True)
    t.start()
    yield c
    c.shutdown()
    c.server_close()
    t.join(10)


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.int_value if v.WhichOneof("value") == "int_value" else v.string_value
    return out


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def route_spans(collector: Collector, rid: str) -> list[Any]:
    return [s for _, s in collector.spans() if s.name == ROUTE and attrs(s).get("tinydancer.request_id") == rid]


def test_route_spans_arrive_with_the_request_id(tmp_path: Path, collector: Collector) -> None:
    proc = RouterdProcess(tmp_path / "routerd", extra_args=("--otlp-endpoint", collector.url))
    with proc:
        c = Client(proc.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
        c.router.Route(pb.RouteRequest(request="hello"), metadata=(("x-request-id", "otlp-rid-1"),))
        assert wait_for(lambda: route_spans(collector, "otlp-rid-1"), 15), proc.stderr()
        (rpc,) = route_spans(collector, "otlp-rid-1")
        assert rpc.kind == rpc.SPAN_KIND_SERVER
        assert attrs(rpc)["rpc.grpc.status_code"] == 0
        children = {s.name for _, s in collector.spans()
                    if s.trace_id == rpc.trace_id and s.parent_span_id == rpc.span_id}
        assert children == {"engine.validate", "engine.route", "engine.commit"}
        resources = {r.get("service.name") for r, _ in collector.spans()}
        assert resources == {"routerd"}
        # the last call's span is sent by the flush at shutdown, not lost
        c.router.Route(pb.RouteRequest(request="last"), metadata=(("x-request-id", "otlp-rid-last"),))
        c.close()
        assert proc.terminate(30) == 0
    assert route_spans(collector, "otlp-rid-last")
    assert set(collector.paths) == {"/v1/traces"}
    assert "cannot export" not in proc.stderr()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_warns_once_and_keeps_serving(tmp_path: Path) -> None:
    proc = RouterdProcess(tmp_path / "routerd", extra_args=("--otlp-endpoint", f"http://127.0.0.1:{unused_port()}"))
    with proc:
        c = Client(proc.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
        t0 = time.monotonic()
        for i in range(20):
            assert c.router.Route(pb.RouteRequest(request=f"r{i}")).agent_name == "a"
        assert time.monotonic() - t0 < 10  # no call waits for the collector
        assert wait_for(lambda: "cannot export traces" in proc.stderr(), 20), proc.stderr()
        for i in range(20):  # more batches fail; still one warning
            assert c.router.Route(pb.RouteRequest(request=f"s{i}")).agent_name == "a"
            time.sleep(0.1)
        c.close()
        t = time.monotonic()
        assert proc.terminate(30) == 0
        stopped = time.monotonic() - t
    err = proc.stderr()
    assert err.count("cannot export traces") == 1, err
    assert "Failed to export" not in err and "Traceback" not in err
    assert stopped < 15, f"SIGTERM took {stopped:.1f} s"


def test_no_endpoint_no_connection(tmp_path: Path, collector: Collector) -> None:
    # even the SDK's own environment variable does not switch export on: only otlp_endpoint does
    proc = RouterdProcess(tmp_path / "routerd", env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})
    with proc:
        c = Client(proc.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")))
        for i in range(5):
            c.router.Route(pb.RouteRequest(request=f"r{i}"))
        c.close()
        time.sleep(1.5)  # longer than the batch processor's schedule delay, were one running
        assert proc.terminate(30) == 0
    assert collector.connections == 0 and collector.requests == []
