"""Issue 7, item 12 (routerd): a batch's work and reply are bounded before any of it is done.

BatchRoute of 20k requests with every alternative at 316 agents used to run 75 s, grow routerd to
1.69 GB and then fail "Sent message larger than max"; now it is refused at once with the limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from routerd.api.servicers import (
    AgentRegistryServicer,
    AnalyticsServicer,
    FeedbackServicer,
    RouterServicer,
    RoutesServicer,
    register,
)
from routerd.client import error_field
from routerd.config import Config
from routerd.engine.engine import Engine
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.model.embedders import make_embedder
from routerd.store import open_store
from tests.harness.engine import spec
from tests.harness.routerd import Client, InProcessRouterd


def refused(call, request, timeout: float = 10.0) -> tuple[grpc.StatusCode, str, str | None, float]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=timeout)
    return info.value.code(), info.value.details(), error_field(info.value), time.perf_counter() - t


def decisions(client: Client) -> int:
    return int(client.analytics.RoutingStats(pb.RoutingStatsRequest(), timeout=10).decisions)


def test_the_issue_batch_is_refused_at_once(server: InProcessRouterd, client: Client) -> None:
    engine = server.server.engine
    for i in range(316):
        engine.registry.register(spec(f"agent-{i:03d}", per_call=0.001 * (i + 1), quality=0.5 + i / 1000,
                                      capabilities=("code",)))
    everything = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"write code {i}") for i in range(20_000)])
    code, details, field, took = refused(client.router.BatchRoute, everything)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and field == "requests"
    assert f"{64 << 20}-byte message limit (max_message_bytes)" in details and "at most" in details
    assert took < 5.0, f"refused after {took:.1f}s"
    lean = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"write code {i}", max_alternatives=0,
                                                          omit_reasoning=True) for i in range(20_000)])
    code, details, field, took = refused(client.router.BatchRoute, lean)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "batch_max_cells" in details
    assert "at most 15822 requests" in details and took < 5.0
    assert decisions(client) == 0  # nothing was routed or logged
    fits = pb.BatchRouteRequest(requests=list(lean.requests[:5000]))
    assert len(client.router.BatchRoute(fits, timeout=60).decisions) == 5000


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Client]:
    """routerd's servicers over an Engine with small limits from a Config, the server's message
    sizes from the same Config."""
    cfg = Config(data_dir=str(tmp_path), max_message_bytes=256 * 1024, batch_max_requests=100,
                 batch_max_cells=2000, embedder="hashing")
    store = open_store(cfg.store_url())
    engine = Engine(store, make_embedder(cfg.embedder), batch_max_requests=cfg.batch_max_requests,
                    batch_max_cells=cfg.batch_max_cells)
    executor = futures.ThreadPoolExecutor(max_workers=4)
    server = grpc.server(executor, options=[("grpc.max_receive_message_length", cfg.max_message_bytes),
                                            ("grpc.max_send_message_length", cfg.max_message_bytes)])
    for servicer, service in ((AgentRegistryServicer(engine), "AgentRegistry"),
                              (RouterServicer(engine, cfg.max_message_bytes), "Router"),
                              (FeedbackServicer(engine), "Feedback"), (AnalyticsServicer(engine), "Analytics"),
                              (RoutesServicer(engine), "Routes")):
        register(server, servicer, service)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = Client(f"127.0.0.1:{port}")
    try:
        for i in range(40):
            engine.registry.register(spec(f"a{i:02d}", per_call=0.001 * (i + 1), quality=0.4 + i / 100))
        yield client
    finally:
        client.close()
        server.stop(None).wait()
        executor.shutdown(wait=True)
        engine.close()
        store.close()


def test_configured_limits(limited: Client) -> None:
    code, details, field, _ = refused(limited.router.BatchRoute, pb.BatchRouteRequest(
        requests=[pb.RouteRequest(request="x", max_alternatives=0)] * 101))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "requests") and "at most 100" in details
    code, details, field, _ = refused(limited.router.BatchRoute, pb.BatchRouteRequest(
        requests=[pb.RouteRequest(request="x", max_alternatives=0)] * 51))  # 51 x 40 > 2000
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "2000 (batch_max_cells)" in details
    assert "at most 50 requests" in details
    every = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"x {i}") for i in range(50)])
    code, details, field, _ = refused(limited.router.BatchRoute, every)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and f"{256 * 1024}-byte message limit" in details
    assert decisions(limited) == 0
    # what the message says fits, fits (and stays under the limit)
    fit = int(details.split("send at most ")[1].split()[0])
    assert 0 < fit < 50
    reply = limited.router.BatchRoute(pb.BatchRouteRequest(requests=list(every.requests[:fit])), timeout=30)
    assert len(reply.decisions) == fit and reply.ByteSize() <= 256 * 1024
    assert all(len(d.alternatives) == 39 for d in reply.decisions)
    # fewer alternatives each: all 50 fit
    few = pb.BatchRouteRequest(requests=[pb.RouteRequest(request=f"x {i}", max_alternatives=3) for i in range(50)])
    assert len(limited.router.BatchRoute(few, timeout=30).decisions) == 50


def test_a_single_route_whose_reply_could_not_be_sent(limited: Client) -> None:
    """Route checks the same bound: with long names and many alternatives, RESOURCE_EXHAUSTED at
    once naming max_alternatives, instead of grpc's "Sent message larger than max" after the work."""
    for i in range(1500):
        limited.registry.RegisterAgent(pb.RegisterAgentRequest(agent=pb.AgentSpec(
            name=f"long-{'n' * 100}-{i:04d}", agent_type="llm")), timeout=10)
    code, details, field, _ = refused(limited.router.Route, pb.RouteRequest(request="x"))
    assert (code, field) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "max_alternatives")
    assert limited.router.Route(pb.RouteRequest(request="x", max_alternatives=10), timeout=10).routed
