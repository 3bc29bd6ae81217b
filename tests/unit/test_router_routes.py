"""Semantic routes in the engine: the matched route's target is preferred when feasible, the
decision says why when it is not, batch budgets spend what is actually chosen, capabilities are
inferred, and routes are durable with their vectors (hashing embedder, real SQLite store)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from routerd.domain import RouteSpec
from routerd.engine.engine import Engine
from routerd.engine.query import RouteQuery
from routerd.errors import InvalidArgument, RouteExists, RouteNotFound
from tests.harness.engine import FakeClock, spec

SUPPORT = ("refund my last payment", "my invoice is wrong", "update my credit card", "cancel my subscription")
CODE = ("write a python function", "fix the bug in this code", "refactor this class", "add unit tests")


@pytest.fixture
def routed(engine: Engine) -> Engine:
    engine.registry.register(spec("support-agent", capabilities=("support",), per_call=0.01, quality=0.6))
    engine.registry.register(spec("coder", capabilities=("coding", "python"), per_call=0.02, quality=0.7))
    engine.registry.register(spec("best", capabilities=("chat",), per_call=0.001, quality=0.95))
    engine.routes.create(RouteSpec("support", SUPPORT, target_agent="support-agent", threshold=0.3))
    engine.routes.create(RouteSpec("code", CODE, target_agent="coder", threshold=0.3))
    return engine


def test_target_is_preferred_and_explained(routed: Engine) -> None:
    d = routed.route(RouteQuery(text="refund my last payment please", objective="quality"))
    assert (d.route_name, d.agent_name, d.by_route) == ("support", "support-agent", True)
    assert "semantic route support" in d.reasoning and "over the scorer's choice best" in d.reasoning
    alts = {a.agent_name: a.reason for a in d.alternatives()}
    assert alts["best"].startswith("not route support's target")
    plain = routed.route(RouteQuery(text="a poem about autumn leaves", objective="quality"))
    assert plain.route_name is None and plain.agent_name == "best" and "route" not in plain.reasoning


@pytest.mark.parametrize("query, why", [
    (RouteQuery(text="refund my last payment please", excluded_agents=("support-agent",)), "excluded"),
    (RouteQuery(text="refund my last payment please", max_cost=0.005), "cost"),
    (RouteQuery(text="refund my last payment please", required_capabilities=("chat",)), "missing capability"),
])
def test_infeasible_target_falls_through_to_the_scorer(routed: Engine, query: RouteQuery, why: str) -> None:
    d = routed.route(query)
    assert d.route_name == "support" and d.agent_name == "best" and not d.by_route
    assert "its target support-agent was not used" in d.reasoning and why in d.reasoning


def test_unregistered_or_absent_target(routed: Engine) -> None:
    routed.remove_agent("support-agent")
    d = routed.route(RouteQuery(text="refund my last payment please", objective="quality"))
    assert d.route_name == "support" and d.agent_name == "best"
    assert "its target support-agent is not registered" in d.reasoning


def test_batch_budget_spends_the_routes_target(routed: Engine) -> None:
    # Each support request costs $0.01 on its target (the scorer would pick "best" at $0.001): a budget
    # of $0.025 pays two targets, then the third request falls back to what the rest can pay.
    qs = [RouteQuery(text="refund my last payment please", objective="quality") for _ in range(3)]
    ds = routed.route_batch(qs, batch_budget=0.025)
    assert [d.agent_name for d in ds] == ["support-agent", "support-agent", "best"]
    assert sum(d.estimated_cost for d in ds) == pytest.approx(0.021)
    assert "its target support-agent was not used" in ds[2].reasoning and "budget" in ds[2].reasoning


def test_batch_and_single_agree(routed: Engine) -> None:
    texts = ["refund my last payment please", "fix the bug in this code please", "a poem about autumn"]
    one = [routed.route(RouteQuery(text=t, objective="quality")) for t in texts]
    many = routed.route_batch([RouteQuery(text=t, objective="quality") for t in texts])
    assert [(d.agent_name, d.route_name) for d in one] == [(d.agent_name, d.route_name) for d in many]
    assert [d.confidence for d in one] == pytest.approx([d.confidence for d in many])


def test_infer_capabilities(routed: Engine) -> None:
    d = routed.route(RouteQuery(text="fix the bug in this code please", objective="cost", infer_capabilities=True,
                                capability_threshold=0.3))
    assert "coding" in d.inferred_capabilities and d.agent_name == "coder"
    assert set(d.query.required_capabilities) >= set(d.inferred_capabilities)
    none = routed.route(RouteQuery(text="fix the bug in this code please", objective="cost"))
    assert none.inferred_capabilities == () and none.query.required_capabilities == ()


def test_decision_log_keeps_the_route(routed: Engine) -> None:
    d = routed.route(RouteQuery(text="refund my last payment please"))
    routed.flush()
    rec = routed.store.get_decision(d.decision_id)
    assert rec is not None and rec.route_name == "support"


def test_catalog_errors_and_updates(routed: Engine) -> None:
    with pytest.raises(RouteExists):
        routed.routes.create(RouteSpec("support", ("x",)))
    with pytest.raises(InvalidArgument) as e:
        routed.routes.create(RouteSpec("ghost-target", ("x",), target_agent="nobody"))
    assert e.value.field == "route.target_agent"
    with pytest.raises(RouteNotFound):
        routed.routes.update("nope", {"priority": 1})
    with pytest.raises(InvalidArgument) as e:
        routed.routes.update("support", {}, remove=("never said",))
    assert e.value.field == "remove_utterances[0]"
    before = routed.routes.get("support").vectors.copy()
    rec = routed.routes.update("support", {"priority": 3}, add=("where is my receipt",))
    assert rec.spec.priority == 3 and len(rec.spec.utterances) == 5
    assert np.array_equal(rec.vectors[:4], before)  # kept utterances keep their vectors
    assert routed.routes.routes.get("support").spec.priority == 3  # the snapshot moved on


def test_routes_reload_with_vectors(make_engine: Callable[..., Engine], clock: FakeClock) -> None:
    first = make_engine()
    first.routes.create(RouteSpec("support", SUPPORT, threshold=0.3))
    stored = first.routes.get("support")
    first.close()
    again = make_engine()
    rec = again.routes.get("support")
    assert rec.spec == stored.spec and np.array_equal(rec.vectors, stored.vectors)
    m = again.semantic_route("refund my last payment please", None, 1)
    assert [x.spec.name for x in m.matches] == ["support"]
