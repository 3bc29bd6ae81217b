"""Malformed and hostile requests get a clear status (never INTERNAL, never a dead server)."""

from __future__ import annotations

import json
import math
import random

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

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


# -- issue 7, items 2, 3, 4: numbers at and past every bound, JSON edge cases, times at the range ends --

# (at the bound or inside it, past it): each field is drawn past its bound one time in six
PRICES = ([0.0, -0.0, 1e-300, 5e-324, 0.002, 1e6], [1e6 * 1.000001, 1e306, 1e308, -1e-300, math.nan, math.inf])
LATENCIES = ([0.1, 1000.0, 604_800_000.0], [0.0999, 604_800_000.0 * 1.000001, 1e-300, 0.0, -0.0, 1e300, math.nan])
QUALITIES = ([0.0, 1.0, 5e-324, 0.5], [1.0 + 1e-9, -1e-9, math.nan])
TOKENS = ([0, 1, 1_000_000], [1_000_001, 2**31 - 1, -1, -(2**31)])
REQUEST_TOKENS = ([0, 1, 10_000_000], [10_000_001, 2**31 - 1, -1])
METADATA = (['{}', '{"a": 1e308}', '{"a": -0.0}', '{"a": ' + "9" * 300 + "}", '{"a": "\\ud83d\\ude00"}',
             '{"k": "' + "x" * 16000 + '"}', '{"a": [' * 300 + "]" * 300 + "}"],
            ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1e999}', '{"a": 1e-400}',
             '{"a": ' + "9" * 5000 + "}", '{"a": ' + "9" * 310 + "}", '{"a": 1, "a": 2}', '{"a": "\\ud800"}',
             '{"a": "\\u0000"}', "[1]", '"x"', "{", '{"a": [' * 5000 + "]" * 5000 + "}",
             '{"k": "' + "x" * 17000 + '"}'])
WTPS = ([1e-6, 1.0, 1e12], [1e-7, 1e13, 1e-300, 1e300, 0.0, -1.0, math.nan])
T_MAX = 253_402_214_400  # 9999-12-31T00:00:00Z
TIMES = ([(0, 0), (T_MAX, 0), (1_700_000_000, 999_999_999), (1_700_000_000, 0)],
         [(T_MAX, 1), (T_MAX + 1, 0), (253_402_300_799, 999_999_999), (2**62, 0), (-1, 0), (-62_135_596_800, 0),
          (1_700_000_000, -1), (1_700_000_000, 1_000_000_000), (-(2**63), 0)])
OUTCOME_COSTS = ([0.0, 1e12, -0.0, 0.01], [1e12 * 1.000001, 1e308, -1e-9, math.nan, math.inf])
OUTCOME_LATENCIES = ([0.0, 12.5, 604_800_000.0], [604_800_000.0 * 1.000001, 1e308, -1.0, math.nan])
TEXTS = (["x", "y" * 100_000], ["z" * 100_001, ""])


def edge(rng: random.Random, values: tuple[list, list]):  # type: ignore[no-untyped-def, type-arg]
    good, bad = values
    return pick(rng, bad if rng.random() < 1 / 6 else good)


def finite_json(msg) -> None:  # type: ignore[no-untyped-def]
    """Every double in the message is finite, so it renders as strict JSON (no NaN, no Infinity)."""
    from google.protobuf import json_format
    from google.protobuf.message import Message

    text = json_format.MessageToJson(msg)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in a reply"))
    for _, value in msg.ListFields():
        for v in [value] if isinstance(value, Message | str | bytes | float | int) else value:
            if isinstance(v, Message):
                finite_json(v)
            elif isinstance(v, float):
                assert math.isfinite(v)


def call(method, request):  # type: ignore[no-untyped-def]
    """(status, reply or None)."""
    try:
        return grpc.StatusCode.OK, method(request, timeout=30)
    except grpc.RpcError as e:
        assert e.code() != grpc.StatusCode.INTERNAL, e.details()
        return e.code(), None


def counts(client: Client) -> tuple[int, int]:
    s = client.analytics.RoutingStats(pb.RoutingStatsRequest(), timeout=10)
    return s.agents, s.outcomes


def test_bounds_json_and_times(client: Client) -> None:
    """Never INTERNAL; a refused write changes no count, an accepted one adds exactly one; every reply
    and every listing afterwards is finite (representable as JSON, float8, Timestamp)."""
    rng = random.Random(7_2026)
    client.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("base")), timeout=10)
    seen: dict[str, set[grpc.StatusCode]] = {}
    for i in range(250):
        spec = pb.AgentSpec(
            name=f"fz-{i}", agent_type="llm", metadata_json=edge(rng, METADATA),
            cost=pb.CostModel(per_1k_input_tokens=edge(rng, PRICES), per_1k_output_tokens=edge(rng, PRICES),
                              per_call=edge(rng, PRICES), per_second=edge(rng, PRICES)),
            latency_prior_ms=edge(rng, LATENCIES), quality_prior=edge(rng, QUALITIES),
            typical_output_tokens=edge(rng, TOKENS))
        before = counts(client)
        code, reply = call(client.registry.RegisterAgent, pb.RegisterAgentRequest(agent=spec))
        seen.setdefault("RegisterAgent", set()).add(code)
        assert counts(client) == ((before[0] + 1, before[1]) if code == grpc.StatusCode.OK else before)
        if reply is not None:
            finite_json(reply)
            json.loads(reply.spec.metadata_json, parse_constant=lambda c: pytest.fail(c))
        req = pb.RouteRequest(request=edge(rng, TEXTS),
                              objective=pick(rng, ["cost", "latency", "quality", "balanced", "quality_per_dollar"]),
                              input_tokens=edge(rng, REQUEST_TOKENS), output_tokens=edge(rng, REQUEST_TOKENS))
        if rng.random() < 0.5:
            req.willingness_to_pay = edge(rng, WTPS)
        code, decision = call(client.router.Route, req)
        seen.setdefault("Route", set()).add(code)
        if decision is not None:
            finite_json(decision)
            assert decision.routed
        seconds, nanos = edge(rng, TIMES)
        out = pb.RecordOutcomeRequest(agent_name=pick(rng, ["base", f"fz-{i}"]),
                                      latency_ms=edge(rng, OUTCOME_LATENCIES), success=rng.random() < 0.8,
                                      recorded_at=Timestamp(seconds=seconds, nanos=nanos),
                                      input_tokens=edge(rng, TOKENS))
        if rng.random() < 0.5:
            out.cost = edge(rng, OUTCOME_COSTS)
        if decision is not None and rng.random() < 0.5:
            out.decision_id, out.agent_name = decision.decision_id, ""
        before = counts(client)
        code, recorded = call(client.feedback.RecordOutcome, out)
        seen.setdefault("RecordOutcome", set()).add(code)
        assert counts(client) == ((before[0], before[1] + 1) if code == grpc.StatusCode.OK else before)
        if recorded is not None:
            finite_json(recorded)
        s1, n1 = edge(rng, TIMES)
        listing = pb.ListOutcomesRequest(start=Timestamp(seconds=s1, nanos=n1))
        code, listed = call(client.feedback.ListOutcomes, listing)
        seen.setdefault("ListOutcomes", set()).add(code)
        if listed is not None:
            finite_json(listed)
    for method, codes in seen.items():
        assert codes <= ACCEPTABLE, (method, codes)
        assert grpc.StatusCode.INVALID_ARGUMENT in codes and grpc.StatusCode.OK in codes, (method, codes)
    # nothing poisoned is left behind: every agent and outcome reads back, finite
    token = ""
    while True:
        page = client.registry.ListAgents(pb.ListAgentsRequest(page_size=100, page_token=token), timeout=10)
        finite_json(page)
        token = page.next_page_token
        if not token:
            break
    finite_json(client.feedback.ListOutcomes(pb.ListOutcomesRequest(page_size=10_000), timeout=10))
    finite_json(client.analytics.RoutingStats(pb.RoutingStatsRequest(), timeout=10))
