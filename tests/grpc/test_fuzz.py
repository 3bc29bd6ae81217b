"""Malformed and hostile requests get a clear status (never INTERNAL, never a dead server)."""

from __future__ import annotations

import math
import random

import grpc
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client

ACCEPTABLE = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.ALREADY_EXISTS}
NASTY_FLOATS = [0.0, -0.0, -1.0, 1e-300, 1e300, math.inf, -math.inf, math.nan, 0.5, 2.0]
NASTY_STRINGS = ["", "a", "x" * 200, "has space", "ünïcødé", "\x00", "nul\x00inside", "new\nline", "ok-name",
                 "'; DROP TABLE agents; --", "日本語", "a" * 5000]
NASTY_INTS = [0, 1, -1, 2**31 - 1, -(2**31)]


def pick(rng: random.Random, xs: list):  # type: ignore[no-untyped-def, type-arg]
    return xs[rng.randrange(len(xs))]


def status(call, request) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        call(request, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def test_random_field_values(client: Client) -> None:
    rng = random.Random(20261121)
    client.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("base")))
    seen: dict[str, set[grpc.StatusCode]] = {}
    for _ in range(300):
        spec = pb.AgentSpec(
            name=pick(rng, NASTY_STRINGS), agent_type=pick(rng, ["llm", "tool", "robot", "", "\x00"]),
            capabilities=[pick(rng, NASTY_STRINGS) for _ in range(rng.randrange(3))],
            cost=pb.CostModel(per_1k_input_tokens=pick(rng, NASTY_FLOATS), per_call=pick(rng, NASTY_FLOATS)),
            latency_prior_ms=pick(rng, NASTY_FLOATS), quality_prior=pick(rng, NASTY_FLOATS),
            metadata_json=pick(rng, ["{}", "[", "null", '{"a": "\\u0000"}', "[" * 5000 + "]" * 5000, '{"k": 1}']),
            typical_output_tokens=pick(rng, NASTY_INTS))
        seen.setdefault("RegisterAgent", set()).add(status(client.registry.RegisterAgent,
                                                           pb.RegisterAgentRequest(agent=spec)))
        req = pb.RouteRequest(
            request=pick(rng, NASTY_STRINGS), objective=pick(rng, ["cost", "balanced", "", "nope", "\x00"]),
            embedding=[pick(rng, NASTY_FLOATS) for _ in range(pick(rng, [0, 3, 384]))],
            constraints=pb.Constraints(required_capabilities=[pick(rng, NASTY_STRINGS)],
                                       excluded_agents=[pick(rng, NASTY_STRINGS)],
                                       max_cost=pick(rng, NASTY_FLOATS), min_quality=pick(rng, NASTY_FLOATS)),
            input_tokens=pick(rng, NASTY_INTS))
        if rng.random() < 0.5:
            req.willingness_to_pay = pick(rng, NASTY_FLOATS)
        seen.setdefault("Route", set()).add(status(client.router.Route, req))
        seen.setdefault("BatchRoute", set()).add(status(client.router.BatchRoute,
                                                        pb.BatchRouteRequest(requests=[req, req])))
        out = pb.RecordOutcomeRequest(decision_id=pick(rng, ["", "nope", "\x00", "x" * 300]),
                                      agent_name=pick(rng, ["", "base", *NASTY_STRINGS]),
                                      latency_ms=pick(rng, NASTY_FLOATS), success=rng.random() < 0.5,
                                      input_tokens=pick(rng, NASTY_INTS))
        if rng.random() < 0.5:
            out.quality = pick(rng, NASTY_FLOATS)
        seen.setdefault("RecordOutcome", set()).add(status(client.feedback.RecordOutcome, out))
        seen.setdefault("ListOutcomes", set()).add(status(client.feedback.ListOutcomes, pb.ListOutcomesRequest(
            agent_name=pick(rng, NASTY_STRINGS), decision_id=pick(rng, ["", "\x00", "abc"]),
            page_size=pick(rng, NASTY_INTS), page_token=pick(rng, ["", "!!", "bm9wZQ=="]))))
        seen.setdefault("GetAgent", set()).add(status(client.registry.GetAgent,
                                                      pb.GetAgentRequest(name=pick(rng, NASTY_STRINGS))))
    for method, codes in seen.items():
        assert codes <= ACCEPTABLE, (method, codes)
    assert client.analytics.RoutingStats(pb.RoutingStatsRequest(), timeout=10).agents >= 1


@pytest.mark.parametrize("method", ["/tinydancer.v1.Router/Route", "/tinydancer.v1.AgentRegistry/RegisterAgent",
                                    "/tinydancer.v1.Feedback/RecordOutcome"])
def test_garbage_bytes_are_invalid_argument(client: Client, method: str) -> None:
    rng = random.Random(method)
    call = client.channel.unary_unary(method)
    for _ in range(50):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        try:
            call(payload, timeout=10)
        except grpc.RpcError as e:
            assert e.code() in ACCEPTABLE, (payload, e.code(), e.details())
    assert client.analytics.RoutingStats(pb.RoutingStatsRequest(), timeout=10).agents == 0
