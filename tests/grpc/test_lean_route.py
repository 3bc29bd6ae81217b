"""What the lean request path promises over gRPC: the failing field travels structurally, and a
decision's optional parts are produced only when asked for."""

from __future__ import annotations

import grpc
import pytest

from routerd.client import FIELD_KEY, error_field
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client


@pytest.mark.parametrize(("call", "field"), [
    (lambda c: c.router.Route(pb.RouteRequest(request="x", objective="fastest")), "objective"),
    (lambda c: c.router.Route(pb.RouteRequest(embedding=[0.1, 0.2])), "embedding"),
    (lambda c: c.router.BatchRoute(pb.BatchRouteRequest(requests=[pb.RouteRequest(request="ok"),
                                                                   pb.RouteRequest()])), "requests[1].request"),
    (lambda c: c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a", quality_prior=2.0))),
     "agent.quality_prior"),
    (lambda c: c.registry.GetAgent(pb.GetAgentRequest(name="nobody")), "name"),
    (lambda c: c.feedback.RecordOutcome(pb.RecordOutcomeRequest(decision_id="d" * 24, latency_ms=1)),
     "decision_id"),
])
def test_the_failing_field_is_in_the_trailing_metadata(client: Client, call, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as exc:
        call(client)
    assert error_field(exc.value) == field
    assert exc.value.details().startswith(f"{field}: ")
    assert (FIELD_KEY, field) in tuple(exc.value.trailing_metadata())


def test_reasoning_and_alternatives_only_when_asked(client: Client) -> None:
    for name in ("a", "b", "c"):
        client.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(name)))
    full = client.router.Route(pb.RouteRequest(request="summarise this"))
    assert full.reasoning.startswith("chose ") and len(full.alternatives) == 2
    lean = client.router.Route(pb.RouteRequest(request="summarise this", omit_reasoning=True, max_alternatives=0))
    assert lean.reasoning == "" and len(lean.alternatives) == 0
    assert (lean.agent_name, lean.confidence, lean.estimated_cost) == \
        (full.agent_name, full.confidence, full.estimated_cost)
    batch = client.router.BatchRoute(pb.BatchRouteRequest(requests=[
        pb.RouteRequest(request="one", omit_reasoning=True), pb.RouteRequest(request="two")]))
    assert batch.decisions[0].reasoning == "" and batch.decisions[1].reasoning.startswith("chose ")
