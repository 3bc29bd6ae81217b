"""The server option timeout_ms and what its expiry says (issue 7, item 12): a deadline that expires is not
"routerd is unreachable". The error names the deadline that expired, and for a BatchRoute call, that the
deadline scales with the chunk's number of requests; an unreachable routerd is named by its target. Real gRPC
calls: a server that answers too late, and a port nobody listens on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from fdw import connection
from fdw.errors import RoutedError
from fdw.options import parse_options
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.fdw.fakes import OPTIONS


@pytest.fixture
def late() -> Iterator[str]:
    """A gRPC server whose Route and BatchRoute answer after 1 s."""
    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        time.sleep(1.0)
        return b""

    handlers = {m: grpc.unary_unary_rpc_method_handler(slow) for m in ("Route", "BatchRoute")}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("tinydancer.v1.Router", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def _client(target: str, timeout_ms: int) -> connection.RouterdClient:
    return connection.RouterdClient(parse_options({**OPTIONS, "target": target, "timeout_ms": str(timeout_ms),
                                                   "resource": "decisions"}))


def _fails(client: connection.RouterdClient, method: str, request: Any, **kw: Any) -> RoutedError:
    try:
        with pytest.raises(RoutedError) as info:
            client.call(method, request, **kw)
    finally:
        connection.drop(client.settings)
    return info.value


def test_a_route_past_its_deadline_says_the_deadline_expired(late: str) -> None:
    e = _fails(_client(late, 200), "Route", pb.RouteRequest(request="x"))
    assert e.code == grpc.StatusCode.DEADLINE_EXCEEDED and e.sqlstate == "08006"
    assert e.message == ("routerd did not answer Route within its deadline of 200 ms: the deadline expired "
                         "(DEADLINE_EXCEEDED)")
    assert "unreachable" not in e.message
    assert e.hint and "timeout_ms (now 200)" in e.hint and "SET timeout_ms '800'" in e.hint
    assert e.detail and late in e.detail


def test_a_batch_past_its_deadline_names_its_size_and_that_the_deadline_scales(late: str) -> None:
    request = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"r{i}") for i in range(300)])
    # the table gives a chunk of n requests timeout_ms x (1 + n / 1000): 100 ms -> 130 ms
    e = _fails(_client(late, 100), "BatchRoute", request, timeout_s=0.13)
    assert e.message == ("routerd did not answer a BatchRoute call of 300 requests within its deadline of 130 ms: "
                         "the deadline expired (DEADLINE_EXCEEDED)")
    assert e.hint and "timeout_ms (100 ms) scaled with the number of requests in the chunk" in e.hint
    assert "fewer requests" in e.hint


def test_an_unreachable_routerd_is_named_by_its_target() -> None:
    e = _fails(_client("127.0.0.1:1", 1000), "Route", pb.RouteRequest(request="x"))
    assert e.code == grpc.StatusCode.UNAVAILABLE
    assert e.message == "routerd is unreachable at 127.0.0.1:1 (UNAVAILABLE)" and e.hint and "target" in e.hint
