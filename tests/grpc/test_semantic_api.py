"""Embed, semantic routes (the Routes service, SemanticRoute, Classify) and their part in Route,
against a real routerd on a free port (hashing embedder unless a test says otherwise)."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from routerd.client import error_field
from routerd.engine.routes import EmbedderMismatch
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.agents import agent
from tests.harness.routerd import Client, InProcessRouterd, RouterdProcess

BILLING = ["how do I pay my invoice", "update my credit card", "refund my last payment", "billing question"]
CODING = ["write a python function", "fix this bug in my code", "refactor the class", "unit tests for my module"]


def fail(call, request):  # type: ignore[no-untyped-def]
    """(code, field, details) of a call that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    e = info.value
    return e.code(), error_field(e), e.details()


def route(name: str, utterances: list[str], **kw: object) -> pb.SemanticRoute:
    return pb.SemanticRoute(name=name, utterances=utterances, **kw)  # type: ignore[arg-type]


@pytest.fixture
def routed(client: Client) -> Client:
    """Three agents and two routes: billing → support-agent, coding → coder."""
    for a in (agent("support-agent", capabilities=["support"], quality_prior=0.6),
              agent("coder", capabilities=["coding", "python"], quality_prior=0.7),
              agent("general", capabilities=["chat"], quality_prior=0.95)):
        client.registry.RegisterAgent(pb.RegisterAgentRequest(agent=a))
    client.routes.CreateRoute(pb.CreateRouteRequest(route=route("billing", BILLING, target_agent="support-agent",
                                                                 group="customer", threshold=0.3)))
    client.routes.CreateRoute(pb.CreateRouteRequest(route=route("coding", CODING, target_agent="coder",
                                                                 group="engineering", threshold=0.3)))
    return client


def test_embed_returns_unit_vectors_with_the_embedder_identity(client: Client) -> None:
    resp = client.router.Embed(pb.EmbedRequest(texts=["hello world", "another text"]))
    assert resp.embedder.startswith("hashing") and resp.dim == 384 and len(resp.vectors) == 2
    for v in resp.vectors:
        assert len(v.values) == 384 and abs(np.linalg.norm(v.values) - 1) < 1e-5
    same = client.router.Embed(pb.EmbedRequest(texts=["hello world"]))
    assert list(same.vectors[0].values) == list(resp.vectors[0].values)


@pytest.mark.parametrize("texts, field", [([], "texts"), (["ok", ""], "texts[1]"), (["x" * 100_001], "texts[0]")])
def test_embed_bad_input(client: Client, texts: list[str], field: str) -> None:
    code, got, _ = fail(client.router.Embed, pb.EmbedRequest(texts=texts))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and got == field


def test_embed_limit_is_the_config(tmp_path: Path) -> None:
    with InProcessRouterd(tmp_path / "r", embed_max_texts=2) as s:
        c = Client(s.target)
        code, field, details = fail(c.router.Embed, pb.EmbedRequest(texts=["a", "b", "c"]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field == "texts" and "embed_max_texts" in details
        c.close()


def test_route_crud(routed: Client) -> None:
    got = routed.routes.GetRoute(pb.GetRouteRequest(name="billing"))
    assert list(got.utterances) == BILLING and got.target_agent == "support-agent" and got.group == "customer"
    assert got.threshold == 0.3 and got.effective_threshold == 0.3 and not got.fitted and got.utterance_count == 4
    listed = routed.routes.ListRoutes(pb.ListRoutesRequest())
    assert [r.name for r in listed.routes] == ["billing", "coding"] and not listed.routes[0].utterances
    assert listed.routes[0].utterance_count == 4
    full = routed.routes.ListRoutes(pb.ListRoutesRequest(include_utterances=True, page_size=1))
    assert [r.name for r in full.routes] == ["billing"] and list(full.routes[0].utterances) == BILLING
    rest = routed.routes.ListRoutes(pb.ListRoutesRequest(page_size=1, page_token=full.next_page_token))
    assert [r.name for r in rest.routes] == ["coding"] and not rest.next_page_token

    upd = routed.routes.UpdateRoute(pb.UpdateRouteRequest(
        name="billing", add_utterances=["where is my receipt"], remove_utterances=["billing question"]))
    assert list(upd.utterances) == [*BILLING[:3], "where is my receipt"]
    upd = routed.routes.UpdateRoute(pb.UpdateRouteRequest(name="billing", route=pb.SemanticRoute(priority=5)))
    assert upd.priority == 5 and upd.threshold == 0.3
    upd = routed.routes.UpdateRoute(pb.UpdateRouteRequest(name="billing", route=pb.SemanticRoute(),
                                                          update_mask=FieldMask(paths=["threshold"])))
    assert not upd.HasField("threshold") and upd.effective_threshold == 0.5  # back to the default

    gone = routed.routes.DeleteRoute(pb.DeleteRouteRequest(name="coding"))
    assert gone.route.name == "coding"
    code, field, _ = fail(routed.routes.GetRoute, pb.GetRouteRequest(name="coding"))
    assert code == grpc.StatusCode.NOT_FOUND and field == "name"


def test_create_replace_and_duplicate(routed: Client) -> None:
    code, field, details = fail(routed.routes.CreateRoute, pb.CreateRouteRequest(route=route("billing", ["x"])))
    assert code == grpc.StatusCode.ALREADY_EXISTS and field == "route.name" and "billing" in details
    new = routed.routes.CreateRoute(pb.CreateRouteRequest(route=route("billing", ["only this"]), replace=True))
    assert list(new.utterances) == ["only this"] and new.target_agent == ""


def test_create_with_given_embeddings(routed: Client) -> None:
    v = np.zeros(384, np.float32)
    v[7] = 2.0  # not unit length: routerd normalises
    r = routed.routes.CreateRoute(pb.CreateRouteRequest(route=route(
        "given", ["seven"], utterance_embeddings=[pb.Vector(values=v.tolist())], threshold=0.6)))
    assert r.utterance_count == 1
    q = v / 2
    m = routed.router.SemanticRoute(pb.SemanticRouteRequest(embedding=q.tolist(), top_k=1))
    assert [x.route for x in m.matches] == ["given"] and m.matches[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert m.matches[0].similarity <= 1.0 and m.matches[0].threshold == 0.6  # not float32's 0.6000000238


@pytest.mark.parametrize("bad, field", [
    (route("", ["x"]), "route.name"),
    (route("no utterances", []), "route.name"),
    (route("empty", []), "route.utterances"),
    (route("blank", ["ok", ""]), "route.utterances"),
    (route("dup", ["same", "same"]), "route.utterances"),
    (route("t", ["x"], target_agent="nobody"), "route.target_agent"),
    (route("th", ["x"], threshold=1.5), "route.threshold"),
    (route("th", ["x"], threshold=-0.1), "route.threshold"),
    (route("p", ["x"], priority=5000), "route.priority"),
    (route("e", ["x"], utterance_embeddings=[pb.Vector(values=[1.0, 0.0])]), "route.utterance_embeddings"),
    (route("c", ["x"], conditions=pb.RouteConditions(active_from_minute=10)), "route.conditions"),
])
def test_create_bad_input(routed: Client, bad: pb.SemanticRoute, field: str) -> None:
    code, got, details = fail(routed.routes.CreateRoute, pb.CreateRouteRequest(route=bad))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert got is not None and got.startswith(field), (got, details)
    assert [r.name for r in routed.routes.ListRoutes(pb.ListRoutesRequest()).routes] == ["billing", "coding"]


def test_semantic_route_matches_and_out_of_scope(routed: Client) -> None:
    m = routed.router.SemanticRoute(pb.SemanticRouteRequest(query="I want a refund of my payment", top_k=3))
    assert m.matches and m.matches[0].route == "billing" and m.matches[0].target_agent == "support-agent"
    assert 0 <= m.matches[0].confidence <= 1 and m.matches[0].similarity >= m.matches[0].threshold
    none = routed.router.SemanticRoute(pb.SemanticRouteRequest(query="zebra xylophone quantum", top_k=3))
    assert not none.matches and none.out_of_scope_probability > 0.5


@pytest.mark.parametrize("req, field", [
    (pb.SemanticRouteRequest(query=""), "query"),
    (pb.SemanticRouteRequest(query="x" * 100_001), "query"),
    (pb.SemanticRouteRequest(query="ok", top_k=-1), "top_k"),
    (pb.SemanticRouteRequest(query="ok", top_k=101), "top_k"),
    (pb.SemanticRouteRequest(embedding=[0.5] * 10), "query.embedding"),
    (pb.SemanticRouteRequest(embedding=[float("nan")] * 384), "query.embedding"),
])
def test_semantic_route_bad_input(routed: Client, req: pb.SemanticRouteRequest, field: str) -> None:
    code, got, _ = fail(routed.router.SemanticRoute, req)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and got == field


def test_classify_categories_groups_capabilities(routed: Client) -> None:
    c = routed.router.Classify(pb.ClassifyRequest(text="fix this bug in my python code"))
    kinds = {x.kind for x in c.categories}
    assert kinds == {"route", "group"} and c.top_category == "coding"
    routes_p = sum(x.probability for x in c.categories if x.kind == "route")
    assert routes_p + c.out_of_scope_probability == pytest.approx(1.0, abs=1e-6)
    caps = {x.capability: x.probability for x in c.capabilities}
    assert set(caps) == {"support", "coding", "python"} and caps["coding"] > caps["support"]


def test_route_prefers_the_matched_routes_target(routed: Client) -> None:
    # "general" has the highest quality: the scorer alone picks it for a quality objective.
    plain = routed.router.Route(pb.RouteRequest(request="tell me a joke about cats", objective="quality"))
    assert plain.agent_name == "general" and plain.route_name == ""
    d = routed.router.Route(pb.RouteRequest(request="refund my last payment please", objective="quality"))
    assert d.route_name == "billing" and d.agent_name == "support-agent" and d.route_similarity >= 0.3
    assert "route billing matched" in d.reasoning and "support-agent" in d.reasoning
    # The target excluded: the scorer chooses and the reasoning says why the target was not used.
    d = routed.router.Route(pb.RouteRequest(request="refund my last payment please", objective="quality",
                                            constraints=pb.Constraints(excluded_agents=["support-agent"])))
    assert d.route_name == "billing" and d.agent_name == "general"
    assert "its target support-agent was not used" in d.reasoning and "excluded" in d.reasoning
    batch = routed.router.BatchRoute(pb.BatchRouteRequest(requests=[
        pb.RouteRequest(request="refund my last payment please", objective="quality"),
        pb.RouteRequest(request="write a python function for sorting", objective="quality"),
        pb.RouteRequest(request="tell me a joke about cats", objective="quality")]))
    assert [(x.route_name, x.agent_name) for x in batch.decisions] == [
        ("billing", "support-agent"), ("coding", "coder"), ("", "general")]


def test_route_infers_capabilities(routed: Client) -> None:
    d = routed.router.Route(pb.RouteRequest(request="fix this bug in my python code", objective="quality",
                                            infer_capabilities=True, capability_threshold=0.4))
    assert set(d.inferred_capabilities) >= {"coding"} and d.agent_name == "coder"
    assert "inferred required capabilities" in d.reasoning
    code, field, _ = fail(routed.router.Route, pb.RouteRequest(request="x", infer_capabilities=True,
                                                               capability_threshold=1.5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and field == "capability_threshold"


def test_route_conditions_tier_and_rate_limit(routed: Client) -> None:
    routed.routes.CreateRoute(pb.CreateRouteRequest(route=route(
        "vip", ["premium concierge request"], target_agent="general", threshold=0.3,
        conditions=pb.RouteConditions(user_tiers=["gold"], rate_limit_per_minute=2))))
    q = "premium concierge request"
    plain = routed.router.SemanticRoute(pb.SemanticRouteRequest(query=q, top_k=5))
    assert "vip" not in [m.route for m in plain.matches]
    assert any(b.route == "vip" and "tier" in b.reason for b in plain.blocked)
    gold = {"user_tier": "gold"}
    first = [routed.router.SemanticRoute(pb.SemanticRouteRequest(query=q, top_k=1, context=gold)) for _ in range(2)]
    assert all(r.matches[0].route == "vip" for r in first)
    third = routed.router.SemanticRoute(pb.SemanticRouteRequest(query=q, top_k=5, context=gold))
    assert "vip" not in [m.route for m in third.matches]
    assert any(b.route == "vip" and "rate limit" in b.reason for b in third.blocked)


def test_fit_routes_sets_thresholds_and_reports(routed: Client) -> None:
    examples = [pb.LabelledExample(text=t, route="billing") for t in ("pay my invoice now", "card update please",
                                                                       "refund the payment")]
    examples += [pb.LabelledExample(text=t, route="coding") for t in ("python function please", "bug in my code")]
    examples += [pb.LabelledExample(text=t) for t in ("weather in paris", "sing a song", "zebra facts")]
    dry = routed.routes.FitRoutes(pb.FitRoutesRequest(examples=examples, dry_run=True))
    assert not dry.applied and {f.route for f in dry.routes} == {"billing", "coding"}
    assert not routed.routes.GetRoute(pb.GetRouteRequest(name="billing")).fitted
    fit = routed.routes.FitRoutes(pb.FitRoutesRequest(examples=examples))
    assert fit.applied and fit.after.accuracy >= fit.before.accuracy
    got = routed.routes.GetRoute(pb.GetRouteRequest(name="billing"))
    assert got.fitted and got.threshold == pytest.approx(
        next(f.threshold_after for f in fit.routes if f.route == "billing"))
    code, field, _ = fail(routed.routes.FitRoutes, pb.FitRoutesRequest(
        examples=[pb.LabelledExample(text="x", route="billing"), pb.LabelledExample(text="y", route="nope")]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and field == "examples[1].route"
    code, field, _ = fail(routed.routes.FitRoutes, pb.FitRoutesRequest(examples=[]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and field == "examples"


def test_routes_survive_restart_and_embedder_mismatch_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "r"
    with InProcessRouterd(data) as s:
        c = Client(s.target)
        c.routes.CreateRoute(pb.CreateRouteRequest(route=route("billing", BILLING, threshold=0.3)))
        c.close()
    with InProcessRouterd(data) as again:
        c = Client(again.target)
        assert list(c.routes.GetRoute(pb.GetRouteRequest(name="billing")).utterances) == BILLING
        c.close()
    # Restarted with the default embedder: refused, naming both embedders and the way out.
    with pytest.raises(EmbedderMismatch, match=r"embedded by 'hashing-v2-384'.*--reembed-routes"):
        InProcessRouterd(data, embedder="minilm").start()
    with InProcessRouterd(data, embedder="minilm", reembed_routes=True) as fresh:
        c = Client(fresh.target)
        m = c.router.SemanticRoute(pb.SemanticRouteRequest(query="I need a refund for my payment"))
        assert [x.route for x in m.matches][:1] == ["billing"]
        c.close()
    with InProcessRouterd(data, embedder="minilm") as plain:  # the store now holds MiniLM vectors
        assert plain.target


def test_startup_mismatch_is_a_clear_cli_error(tmp_path: Path) -> None:
    data = tmp_path / "r"
    with InProcessRouterd(data) as s:
        c = Client(s.target)
        c.routes.CreateRoute(pb.CreateRouteRequest(route=route("billing", BILLING)))
        c.close()
    proc = RouterdProcess(data, extra_args=("--embedder", "minilm"))
    with pytest.raises(RuntimeError):
        proc.start(timeout=30)
    assert "embedder" in proc.stderr() and "--reembed-routes" in proc.stderr()


def test_classify_top_k_applies_to_routes_and_groups_each(routed: Client) -> None:
    # A group's probability is at least its routes': one cut over both would leave the routes out.
    c = routed.router.Classify(pb.ClassifyRequest(text="refund my last payment please", top_k=1))
    assert [(x.kind, x.name) for x in c.categories] == [("route", "billing"), ("group", "customer")]
