"""Routing decisions on hand-made agent sets whose right answer is known: objectives,
willingness to pay, every constraint, cost estimates, confidence, batches and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from routerd.domain import AgentSpec
from routerd.engine.decision import Alternative, Decision
from routerd.engine.engine import Engine
from routerd.engine.objectives import C0, TEMPERATURE
from routerd.engine.query import RouteQuery
from routerd.engine.table import observed_quality as expected_quality
from routerd.errors import InvalidArgument
from tests.harness.engine import FakeClock, spec

TEXT = "summarise this paragraph"


def reg(engine: Engine, *specs: AgentSpec) -> None:
    for s in specs:
        engine.registry.register(s)


def route(engine: Engine, **kw: object) -> Decision:
    kw.setdefault("text", TEXT)
    return engine.route(RouteQuery(**kw))  # type: ignore[arg-type]


def alt(d: Decision, name: str) -> Alternative:
    found = [a for a in d.alternatives() if a.agent_name == name]
    assert len(found) == 1, f"{name} not among the alternatives of {d.agent_name}"
    return found[0]


def dc(cost: float, lo: float) -> float:
    return math.log10((cost + C0) / (lo + C0))


# -- objectives --------------------------------------------------------------------------------------

@pytest.fixture
def tiers(engine: Engine) -> Engine:
    """Three agents, same latency: cost picks cheap, quality picks best, balanced and
    quality_per_dollar pick mid (a little dearer than cheap, much better)."""
    reg(engine,
        spec("cheap", per_call=0.001, quality=0.5),
        spec("mid", per_call=0.0015, quality=0.85),
        spec("best", per_call=0.1, quality=0.9))
    return engine


@pytest.mark.parametrize(("objective", "winner"), [
    ("cost", "cheap"), ("quality", "best"), ("balanced", "mid"), ("quality_per_dollar", "mid"),
])
def test_objectives_on_price_tiers(tiers: Engine, objective: str, winner: str) -> None:
    d = route(tiers, objective=objective)
    assert d.routed and d.agent_name == winner
    assert d.objective == objective
    assert {a.agent_name for a in d.alternatives()} == {"cheap", "mid", "best"} - {winner}
    assert all(a.feasible and a.score is not None and a.score <= d.utility[d.chosen] for a in d.alternatives())
    assert f"chose {winner}" in d.reasoning


def test_objective_utilities_match_the_documented_formulas(tiers: Engine) -> None:
    q = {"cheap": 0.5, "mid": 0.85, "best": 0.9}
    c = {"cheap": 0.001, "mid": 0.0015, "best": 0.1}
    formulas = {
        "quality": lambda n: q[n] - 0.01 * dc(c[n], 0.001),
        "cost": lambda n: -dc(c[n], 0.001) + 0.01 * q[n],
        "latency": lambda n: 0.01 * q[n] - 0.001 * dc(c[n], 0.001),
        "balanced": lambda n: q[n] - 0.1 * dc(c[n], 0.001),
        "quality_per_dollar": lambda n: 0.1 * math.log10(q[n] / (c[n] + C0)),
    }
    for objective, f in formulas.items():
        d = route(tiers, objective=objective)
        for i, name in enumerate(d.table.names):
            assert d.utility[i] == pytest.approx(f(name), rel=1e-12, abs=1e-12), (objective, name)
        for a in d.alternatives():
            assert a.score == pytest.approx(f(a.agent_name), rel=1e-12, abs=1e-12)


def test_latency_objective(engine: Engine) -> None:
    reg(engine,
        spec("fast", latency=100, quality=0.5, per_call=0.01),
        spec("slow", latency=2000, quality=0.95, per_call=0.001))
    d = route(engine, objective="latency")
    assert d.agent_name == "fast"
    assert d.estimated_latency_ms == 100
    slow = alt(d, "slow")
    dl = math.log10(2000 / 100)
    assert slow.score == pytest.approx(0.01 * 0.95 - dl - 0.001 * 0.0, abs=1e-12)
    assert "slower" in slow.reason
    # Latency in the balanced objective: 20× slower costs 0.05·log10(20) ≈ 0.065 quality.
    b = route(engine, objective="balanced")
    fast_u = 0.5 - 0.1 * dc(0.01, 0.001)
    slow_u = 0.95 - 0.05 * dl
    assert b.agent_name == "slow" and slow_u > fast_u
    assert b.utility[b.table.index["fast"]] == pytest.approx(fast_u, abs=1e-12)
    assert b.utility[b.table.index["slow"]] == pytest.approx(slow_u, abs=1e-12)


def test_balanced_weighs_cost_and_quality(engine: Engine) -> None:
    # 100× the price must buy more than 0.2 quality under balanced.
    reg(engine, spec("base", per_call=0.001, quality=0.7), spec("pricey", per_call=0.1, quality=0.85))
    assert route(engine, objective="balanced").agent_name == "base"
    engine.registry.update("pricey", {"quality_prior": 0.95})
    assert route(engine, objective="balanced").agent_name == "pricey"


def test_free_agents_stay_finite(engine: Engine) -> None:
    reg(engine, spec("free", quality=0.6), spec("paid", per_call=0.01, quality=0.6))
    for objective in ("cost", "quality", "balanced", "quality_per_dollar", "latency"):
        d = route(engine, objective=objective)
        assert d.agent_name == "free", objective
        assert np.isfinite(d.utility).all()


def test_quality_ties_broken_by_cost(engine: Engine) -> None:
    reg(engine, spec("dear", per_call=0.1, quality=0.8), spec("cheap", per_call=0.01, quality=0.8))
    assert route(engine, objective="quality").agent_name == "cheap"


# -- willingness to pay ------------------------------------------------------------------------------

@pytest.fixture
def wtp_agents(engine: Engine) -> Engine:
    reg(engine,
        spec("cheap", per_call=0.001, quality=0.6),
        spec("mid", per_call=0.01, quality=0.75),
        spec("best", per_call=0.05, quality=0.9))
    return engine


@pytest.mark.parametrize(("w", "winner"), [(0.01, "cheap"), (0.1, "mid"), (10.0, "best")])
def test_willingness_to_pay(wtp_agents: Engine, w: float, winner: str) -> None:
    # The objective is overridden whatever it is.
    for objective in ("cost", "quality"):
        d = route(wtp_agents, objective=objective, willingness_to_pay=w)
        assert d.agent_name == winner
        chosen_u = d.expected_quality - d.estimated_cost / w
        assert d.utility[d.chosen] == chosen_u
        for a in d.alternatives():
            assert a.score == a.expected_quality - a.estimated_cost / w
            assert a.score < chosen_u
        assert f"willingness_to_pay ${w:g}" in d.reasoning


def test_willingness_to_pay_exact_values(wtp_agents: Engine) -> None:
    d = route(wtp_agents, willingness_to_pay=0.1)
    assert d.utility[d.table.index["cheap"]] == 0.6 - 0.001 / 0.1
    assert d.utility[d.table.index["mid"]] == 0.75 - 0.01 / 0.1
    assert d.utility[d.table.index["best"]] == 0.9 - 0.05 / 0.1


# -- constraints -------------------------------------------------------------------------------------

def test_required_capabilities(engine: Engine) -> None:
    reg(engine,
        spec("chat", capabilities=("chat",), quality=0.9),
        spec("coder", capabilities=("code", "chat"), quality=0.6),
        spec("tool", agent_type="tool", capabilities=("code",), quality=0.95))
    d = route(engine, objective="quality", required_capabilities=("code", "chat"))
    assert d.agent_name == "coder"
    assert alt(d, "chat").reason == "missing capability: code"
    assert alt(d, "tool").reason == "missing capability: chat"
    assert not alt(d, "chat").feasible and alt(d, "chat").score is None
    d = route(engine, objective="quality", required_capabilities=("nobody-has-this",))
    assert not d.routed


def test_excluded_agents(engine: Engine) -> None:
    reg(engine, spec("a", quality=0.9), spec("b", quality=0.7), spec("c", quality=0.5))
    d = route(engine, objective="quality", excluded_agents=("a", "not-registered"))
    assert d.agent_name == "b"
    assert "excluded" in alt(d, "a").reason and not alt(d, "a").feasible
    assert alt(d, "c").feasible


def test_max_cost_uses_this_requests_estimate(engine: Engine) -> None:
    reg(engine,
        spec("per-token", per_1k_input=0.01, quality=0.9),
        spec("per-call", per_call=0.005, quality=0.7))
    short = route(engine, objective="quality", text="hi", max_cost=0.01)
    assert short.agent_name == "per-token"
    assert short.estimated_cost == pytest.approx(1 / 1000 * 0.01)
    long_text = "word " * 8000  # 40,000 characters ≈ 10,000 tokens ≈ $0.10 at $0.01/1k
    d = route(engine, objective="quality", text=long_text, max_cost=0.01)
    assert d.agent_name == "per-call"
    a = alt(d, "per-token")
    assert a.estimated_cost == pytest.approx(0.1)
    assert "max_cost" in a.reason and not a.feasible
    # Without the constraint the long request still goes to the better agent.
    assert route(engine, objective="quality", text=long_text).agent_name == "per-token"


def test_max_cost_is_inclusive(engine: Engine) -> None:
    reg(engine, spec("a", per_call=0.25))
    assert route(engine, max_cost=0.25).agent_name == "a"
    assert not route(engine, max_cost=0.2499).routed


def test_max_latency(engine: Engine) -> None:
    reg(engine, spec("slow", latency=3000, quality=0.9), spec("fast", latency=200, quality=0.6))
    d = route(engine, objective="quality", max_latency_ms=1000)
    assert d.agent_name == "fast"
    assert "max_latency_ms" in alt(d, "slow").reason and "3000" in alt(d, "slow").reason


def test_min_quality(engine: Engine) -> None:
    reg(engine, spec("cheap", per_call=0.001, quality=0.4), spec("good", per_call=0.01, quality=0.8))
    d = route(engine, objective="cost", min_quality=0.5)
    assert d.agent_name == "good"
    assert "min_quality" in alt(d, "cheap").reason
    assert route(engine, objective="cost", min_quality=0.4).agent_name == "cheap"  # inclusive


def test_budget_remaining(engine: Engine) -> None:
    reg(engine, spec("dear", per_call=0.05, quality=0.9), spec("cheap", per_call=0.001, quality=0.5))
    d = route(engine, objective="quality", budget_remaining=0.01)
    assert d.agent_name == "cheap"
    r = alt(d, "dear").reason
    assert "budget" in r and "0.01" in r
    assert not route(engine, budget_remaining=0.0005).routed


def test_inactive_agent(engine: Engine) -> None:
    reg(engine, spec("off", quality=0.99, active=False), spec("on", quality=0.5))
    d = route(engine, objective="quality")
    assert d.agent_name == "on"
    assert alt(d, "off").reason == "inactive"
    engine.registry.set_active("off", True)
    assert route(engine, objective="quality").agent_name == "off"


def test_open_circuit(engine: Engine, clock: FakeClock) -> None:
    reg(engine, spec("flaky", quality=0.99), spec("steady", quality=0.5))
    for _ in range(5):
        engine.record_outcome(agent_name="flaky", latency_ms=10, success=False)
    d = route(engine, objective="quality")
    assert d.agent_name == "steady"
    assert "circuit open" in alt(d, "flaky").reason


def test_first_failed_rule_is_the_reason(engine: Engine) -> None:
    reg(engine, spec("x", active=False, per_call=1.0, latency=5000, quality=0.1, capabilities=("a",)))
    d = route(engine, max_cost=0.1, max_latency_ms=100, min_quality=0.5, excluded_agents=("x",),
              required_capabilities=("b",), budget_remaining=0.01)
    assert alt(d, "x").reason == "inactive"
    engine.registry.set_active("x", True)
    d = route(engine, max_cost=0.1, max_latency_ms=100, min_quality=0.5, excluded_agents=("x",),
              required_capabilities=("b",), budget_remaining=0.01)
    assert alt(d, "x").reason.startswith("excluded")
    d = route(engine, max_cost=0.1, max_latency_ms=100, min_quality=0.5, required_capabilities=("b",),
              budget_remaining=0.01)
    assert alt(d, "x").reason.startswith("missing capability")
    d = route(engine, max_cost=0.1, max_latency_ms=100, min_quality=0.5, budget_remaining=0.01)
    assert "max_cost" in alt(d, "x").reason
    d = route(engine, max_latency_ms=100, min_quality=0.5, budget_remaining=0.01)
    assert "budget" in alt(d, "x").reason
    d = route(engine, max_latency_ms=100, min_quality=0.5)
    assert "max_latency_ms" in alt(d, "x").reason
    d = route(engine, min_quality=0.5)
    assert "min_quality" in alt(d, "x").reason


def test_nothing_feasible(engine: Engine) -> None:
    reg(engine,
        spec("off", active=False),
        spec("dear", per_call=1.0),
        spec("slow", latency=9000),
        spec("weak", quality=0.1),
        spec("nocap", capabilities=()),
        )
    d = route(engine, max_cost=0.5, max_latency_ms=5000, min_quality=0.3, excluded_agents=("nocap",))
    assert d.routed is False and d.agent_name is None and d.chosen == -1
    alts = d.alternatives()
    assert sorted(a.agent_name for a in alts) == ["dear", "nocap", "off", "slow", "weak"]
    reasons = {a.agent_name: a.reason for a in alts}
    assert reasons["off"] == "inactive"
    assert "max_cost" in reasons["dear"]
    assert "max_latency_ms" in reasons["slow"]
    assert "min_quality" in reasons["weak"]
    assert "excluded" in reasons["nocap"]
    assert all(not a.feasible and a.score is None for a in alts)
    assert "no feasible agent among 5" in d.reasoning
    assert d.confidence == 0.0


def test_no_agents_at_all(engine: Engine) -> None:
    d = route(engine)
    assert not d.routed and d.alternatives() == []
    assert d.reasoning == "no agent is registered"


def test_alternatives_order_and_limit(engine: Engine) -> None:
    reg(engine, spec("a", quality=0.9), spec("b", quality=0.8), spec("c", quality=0.7),
        spec("z-off", active=False), spec("y-off", active=False))
    d = route(engine, objective="quality")
    assert [a.agent_name for a in d.alternatives()] == ["b", "c", "y-off", "z-off"]
    assert [a.agent_name for a in d.alternatives(2)] == ["b", "c"]
    assert "runner-up b" in d.reasoning


# -- estimates ---------------------------------------------------------------------------------------

@pytest.fixture
def priced(engine: Engine) -> Engine:
    reg(engine, spec("p", per_1k_input=0.5, per_1k_output=1.5, per_call=0.002, per_second=0.01,
                     latency=2000, typical_output_tokens=300, quality=0.7))
    return engine


@pytest.mark.parametrize(("text", "tokens"), [("abcdefghij", 3), ("abcd", 1), ("abcde", 2), ("x" * 4001, 1001)])
def test_cost_estimate_from_text(priced: Engine, text: str, tokens: int) -> None:
    d = route(priced, text=text)
    expected = tokens / 1000 * 0.5 + 300 / 1000 * 1.5 + 0.002 + 2000 / 1000 * 0.01
    assert d.estimated_cost == pytest.approx(expected, rel=1e-12)
    assert d.estimated_latency_ms == 2000
    assert d.expected_quality == pytest.approx(0.7)


def test_cost_estimate_with_caller_tokens(priced: Engine) -> None:
    d = route(priced, text="short", input_tokens=1000, output_tokens=50)
    assert d.estimated_cost == pytest.approx(0.5 + 0.075 + 0.002 + 0.02, rel=1e-12)
    d = route(priced, text="short", input_tokens=0, output_tokens=0)
    assert d.estimated_cost == pytest.approx(0.002 + 0.02, rel=1e-12)


def test_cost_estimate_from_an_embedding_alone(priced: Engine) -> None:
    emb = priced.embedder.embed(["hello"])[0]
    d = route(priced, text="", embedding=emb, input_tokens=200)
    assert d.estimated_cost == pytest.approx(0.1 + 0.45 + 0.002 + 0.02, rel=1e-12)
    d = route(priced, text="", embedding=emb)  # no text: no input tokens
    assert d.estimated_cost == pytest.approx(0.45 + 0.002 + 0.02, rel=1e-12)


def test_latency_and_per_second_cost_follow_observed_p95(priced: Engine) -> None:
    for ms in range(1, 101):
        priced.record_outcome(agent_name="p", latency_ms=float(ms), success=True)
    p95 = float(np.percentile(np.arange(1, 101, dtype=float), 95))
    d = route(priced, text="abcd", output_tokens=0)
    assert d.estimated_latency_ms == pytest.approx(p95)
    assert d.estimated_cost == pytest.approx(0.0005 + 0.002 + p95 / 1000 * 0.01, rel=1e-12)
    # ... and max_latency_ms is checked against the observed latency, not the prior.
    assert route(priced, max_latency_ms=100).routed


def test_expected_quality_blends_prior_and_outcomes(engine: Engine) -> None:
    reg(engine, spec("a", quality=0.5))
    for _ in range(10):
        engine.record_outcome(agent_name="a", latency_ms=5, success=True, quality=1.0)
    rec = engine.registry.get("a")
    assert expected_quality(rec) == pytest.approx((0.5 * 10 + 10) / 20)
    assert route(engine).expected_quality == pytest.approx(0.75)  # the router uses the blend
    for _ in range(10):  # (the breaker opens on the way; expected quality does not care)
        engine.record_outcome(agent_name="a", latency_ms=5, success=False)
    rec = engine.registry.get("a")
    assert expected_quality(rec) == pytest.approx(0.75 * (10 + 10) / (20 + 10))
    assert engine.table().observed_quality[0] == pytest.approx(0.5)


# -- confidence --------------------------------------------------------------------------------------

def test_confidence_one_feasible(engine: Engine) -> None:
    reg(engine, spec("a"), spec("b", active=False))
    assert route(engine).confidence == 1.0


@pytest.mark.parametrize("n", [2, 3, 7])
def test_confidence_ties(engine: Engine, n: int) -> None:
    reg(engine, *(spec(f"a{i}", per_call=0.01, quality=0.7) for i in range(n)))
    for objective in ("cost", "quality", "balanced", "latency", "quality_per_dollar"):
        assert route(engine, objective=objective).confidence == pytest.approx(1 / n)


def test_confidence_grows_with_the_gap(engine: Engine) -> None:
    reg(engine, spec("a", quality=0.8), spec("b", quality=0.78))
    small = route(engine, objective="quality")
    engine.registry.update("b", {"quality_prior": 0.7})
    large = route(engine, objective="quality")
    assert small.agent_name == large.agent_name == "a"
    assert 0.5 < small.confidence < large.confidence < 1.0
    gap = 0.8 - 0.78
    assert small.confidence == pytest.approx(1 / (1 + math.exp(-gap / TEMPERATURE)))


# -- batches -----------------------------------------------------------------------------------------

def test_batch_matches_single_routes(engine: Engine) -> None:
    reg(engine,
        spec("cheap", per_call=0.001, quality=0.5, capabilities=("chat",), latency=800),
        spec("mid", per_call=0.0015, quality=0.85, capabilities=("chat", "code"), latency=1500),
        spec("best", per_1k_input=0.05, quality=0.95, capabilities=("code",), latency=3000),
        spec("fast", per_call=0.02, quality=0.6, latency=50),
        spec("off", quality=1.0, active=False))
    long_text = "x" * 4000
    queries = [
        RouteQuery(text=TEXT, objective="cost"),
        RouteQuery(text=TEXT, objective="quality"),
        RouteQuery(text=TEXT, objective="latency"),
        RouteQuery(text=TEXT, objective="balanced"),
        RouteQuery(text=TEXT, objective="quality_per_dollar"),
        RouteQuery(text=TEXT, objective="quality", required_capabilities=("chat",)),
        RouteQuery(text=long_text, objective="quality", max_cost=0.01),
        RouteQuery(text=TEXT, objective="quality", excluded_agents=("best",)),
        RouteQuery(text=TEXT, objective="cost", min_quality=0.8),
        RouteQuery(text=TEXT, objective="quality", max_latency_ms=1000),
        RouteQuery(text=TEXT, objective="cost", willingness_to_pay=10.0),
        RouteQuery(text=TEXT, objective="latency", willingness_to_pay=0.001),
        RouteQuery(text=TEXT, objective="quality", budget_remaining=0.0012),
        RouteQuery(text=TEXT, required_capabilities=("vision",)),
        RouteQuery(text="", embedding=engine.embedder.embed(["code please"])[0], objective="quality"),
    ]
    batch = engine.route_batch(queries)
    singles = [engine.route(q) for q in queries]
    assert [d.agent_name for d in batch] == [d.agent_name for d in singles]
    for b, s in zip(batch, singles, strict=True):
        assert b.estimated_cost == pytest.approx(s.estimated_cost)
        assert b.confidence == pytest.approx(s.confidence)
        assert b.similarity == pytest.approx(s.similarity, abs=1e-6)
        assert [(a.agent_name, a.reason) for a in b.alternatives()] == \
               [(a.agent_name, a.reason) for a in s.alternatives()]
    # The set exercises different answers, not one agent for everything.
    assert len({d.agent_name for d in batch}) >= 4
    assert batch[-2].agent_name is None
    assert len({d.decision_id for d in batch + singles}) == 2 * len(queries)


def test_batch_budget_stops_routing_once_spent(engine: Engine) -> None:
    reg(engine, spec("only", per_call=0.01))
    ds = engine.route_batch([RouteQuery(text=TEXT)] * 5, batch_budget=0.035)
    assert [d.routed for d in ds] == [True, True, True, False, False]
    assert sum(d.estimated_cost for d in ds if d.routed) <= 0.035
    a = ds[3].alternatives()[0]
    assert a.agent_name == "only" and not a.feasible and "budget" in a.reason
    assert "batch budget left" in ds[3].reasoning


def test_batch_budget_falls_back_to_cheaper_agents(engine: Engine) -> None:
    reg(engine, spec("dear", per_call=0.03, quality=0.9), spec("cheap", per_call=0.01, quality=0.5))
    ds = engine.route_batch([RouteQuery(text=TEXT, objective="quality")] * 5, batch_budget=0.055)
    assert [d.agent_name for d in ds] == ["dear", "cheap", "cheap", None, None]
    spent = sum(d.estimated_cost for d in ds if d.routed)
    assert spent <= 0.055
    reason = alt(ds[1], "dear").reason
    assert "budget" in reason and "0.025" in reason  # the batch's remaining budget, not some other number


@pytest.mark.parametrize("budget", [0.0, 0.004, 0.017, 0.1, 0.123])
def test_batch_budget_never_overspends(engine: Engine, budget: float) -> None:
    reg(engine, spec("a", per_1k_input=0.01, quality=0.9), spec("b", per_call=0.003, quality=0.6),
        spec("c", per_call=0.0007, quality=0.3))
    rng = np.random.default_rng(7)
    queries = [RouteQuery(text="y" * int(rng.integers(1, 4000)), objective=str(rng.choice(
        ["cost", "quality", "balanced"]))) for _ in range(60)]
    ds = engine.route_batch(queries, batch_budget=budget)
    assert sum(d.estimated_cost for d in ds if d.routed) <= budget


def test_batch_budget_none_is_unlimited_and_empty_batch(engine: Engine) -> None:
    reg(engine, spec("a", per_call=1.0))
    assert all(d.routed for d in engine.route_batch([RouteQuery(text=TEXT)] * 3))
    assert engine.route_batch([]) == []


# -- validation --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"objective": "fastest"}, "objective", "unknown objective 'fastest'"),
    ({"text": "", "embedding": np.zeros(10, dtype=np.float32)}, "embedding", "expected 384 dimensions, not 10"),
    ({"text": "", "embedding": np.zeros((1, 384), dtype=np.float32)}, "embedding",
     "expected 384 dimensions, not an array of shape (1, 384)"),
    ({"embedding": np.full(384, np.nan, dtype=np.float32)}, "embedding", "finite"),
    ({"embedding": np.r_[np.zeros(383), np.inf].astype(np.float32)}, "embedding", "finite"),
    ({"text": ""}, "request", "text or its embedding"),
    ({"text": "", "embedding": np.zeros(0, dtype=np.float32)}, "request", "text or its embedding"),
    ({"max_cost": -0.01}, "constraints.max_cost", ">= 0"),
    ({"max_cost": math.nan}, "constraints.max_cost", "finite"),
    ({"max_latency_ms": 0.0}, "constraints.max_latency_ms", "> 0"),
    ({"min_quality": 1.5}, "constraints.min_quality", "<= 1"),
    ({"min_quality": -0.5}, "constraints.min_quality", ">= 0"),
    ({"budget_remaining": -1.0}, "budget_remaining", ">= 0"),
    ({"willingness_to_pay": 0.0}, "willingness_to_pay", ">= 1e-06"),
    ({"willingness_to_pay": math.inf}, "willingness_to_pay", "finite"),
    ({"input_tokens": -1}, "input_tokens", ">= 0"),
    ({"output_tokens": -1}, "output_tokens", ">= 0"),
    ({"required_capabilities": ("ok", "")}, "constraints.required_capabilities[1]", "empty"),
])
def test_validation(engine: Engine, kw: dict[str, object], field: str, message: str) -> None:
    reg(engine, spec("a"))
    kw.setdefault("text", TEXT)
    with pytest.raises(InvalidArgument) as exc:
        engine.route(RouteQuery(**kw))  # type: ignore[arg-type]
    assert exc.value.field == field
    assert message in exc.value.problem
    with pytest.raises(InvalidArgument) as exc:
        engine.route_batch([RouteQuery(text=TEXT), RouteQuery(text=TEXT), RouteQuery(**kw)])  # type: ignore[arg-type]
    assert exc.value.field == f"requests[2].{field}"
    assert message in exc.value.problem


def test_nothing_logged_when_a_batch_is_invalid(engine: Engine) -> None:
    reg(engine, spec("a"))
    with pytest.raises(InvalidArgument):
        engine.route_batch([RouteQuery(text=TEXT), RouteQuery(text=TEXT, objective="nope")])
    assert engine.stats().decisions == 0


@pytest.mark.parametrize("budget", [-1.0, math.nan, math.inf])
def test_bad_batch_budget(engine: Engine, budget: float) -> None:
    with pytest.raises(InvalidArgument) as exc:
        engine.route_batch([RouteQuery(text=TEXT)], batch_budget=budget)
    assert exc.value.field == "batch_budget"


def test_embedding_routes_like_its_text(engine: Engine) -> None:
    reg(engine, spec("coder", capabilities=("python coding",)), spec("painter", capabilities=("image generation",)))
    text = "write python code"
    by_text = route(engine, text=text)
    by_emb = route(engine, text="", embedding=engine.embedder.embed([text])[0])
    assert by_text.agent_name == by_emb.agent_name
    assert by_text.similarity == pytest.approx(by_emb.similarity, abs=1e-6)
    assert 0.0 < by_text.similarity <= 1.0 + 1e-6


# -- one request (the kernel) agrees with the batch path (numpy) ---------------------------------------

def _random_case(rng: np.random.Generator, n_agents: int) -> tuple[list[AgentSpec], list[RouteQuery]]:
    caps = ["coding", "general", "vision", "math"]
    agents = [spec(f"a{i:02d}", capabilities=tuple(c for c in caps if rng.random() < 0.5),
                   per_1k_input=float(rng.choice([0.0, rng.uniform(0, 0.05)])),
                   per_1k_output=float(rng.uniform(0, 0.1)), per_call=float(rng.choice([0.0, 0.01])),
                   per_second=float(rng.choice([0.0, 0.001])), latency=float(rng.uniform(50, 3000)),
                   quality=float(rng.uniform(0.3, 1.0)), active=bool(rng.random() < 0.9),
                   typical_output_tokens=int(rng.integers(0, 800)))
              for i in range(n_agents)]
    objectives = ["cost", "latency", "quality", "balanced", "quality_per_dollar"]
    queries = []
    for _ in range(40):
        queries.append(RouteQuery(
            text="x" * int(rng.integers(1, 4000)), objective=str(rng.choice(objectives)),
            required_capabilities=tuple(c for c in caps if rng.random() < 0.2),
            excluded_agents=tuple(a.name for a in agents if rng.random() < 0.1),
            max_cost=float(rng.uniform(0, 0.1)) if rng.random() < 0.4 else None,
            max_latency_ms=float(rng.uniform(100, 3000)) if rng.random() < 0.3 else None,
            min_quality=float(rng.uniform(0.3, 0.9)) if rng.random() < 0.3 else None,
            budget_remaining=float(rng.uniform(0, 0.1)) if rng.random() < 0.2 else None,
            willingness_to_pay=float(rng.uniform(0.001, 10)) if rng.random() < 0.2 else None,
            output_tokens=int(rng.integers(0, 2000)) if rng.random() < 0.3 else None))
    return agents, queries


@pytest.mark.parametrize("numpy_kernel", [False, True], ids=["kernel", "numpy-fallback"])
@pytest.mark.parametrize("seed", range(6))
def test_single_request_path_matches_batch_path(make_engine, seed: int, numpy_kernel: bool,  # type: ignore[no-untyped-def]
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from routerd.engine import kernel

    if numpy_kernel:
        monkeypatch.setattr(kernel, "route_one", kernel.route_one_numpy)
    rng = np.random.default_rng(seed)
    engine = make_engine()
    agents, queries = _random_case(rng, int(rng.integers(1, 120)))
    for a in agents:
        engine.registry.register(a)
    table = engine.table()
    single = [engine.router.route(table, [q], now=0.0)[0] for q in queries]
    batch = engine.router.route(table, queries, now=0.0)
    for f, s in zip(single, batch, strict=True):
        assert f.agent_name == s.agent_name
        assert f.codes.tolist() == s.codes.tolist()
        assert f.estimated_cost == pytest.approx(s.estimated_cost, rel=1e-12, abs=1e-15)
        assert f.confidence == pytest.approx(s.confidence, rel=1e-9)
        assert f.similarity == pytest.approx(s.similarity, rel=1e-5, abs=1e-6)
        assert np.allclose(f.utility, s.utility, rtol=1e-12, atol=1e-15)
        assert [(a.agent_name, a.reason) for a in f.alternatives()] == \
            [(a.agent_name, a.reason) for a in s.alternatives()]
        assert f.reasoning.split("; runner-up")[0] == s.reasoning.split("; runner-up")[0]
        for k in (1, 3, 10):  # the top-k shortcut ranks exactly like the full ranking
            fresh = engine.router.route(table, [f.query], now=0.0)[0]
            assert [a.agent_name for a in fresh.alternatives(k)] == [a.agent_name for a in f.alternatives()][:k]


def test_top_alternatives_keep_ties_in_agent_order(engine: Engine) -> None:
    reg(engine, *(spec(f"t{i:02d}", quality=0.8 if i % 3 else 0.9) for i in range(40)))
    full = route(engine, objective="quality").alternatives()
    for k in (1, 2, 5, 9):
        assert [a.agent_name for a in route(engine, objective="quality").alternatives(k)] == \
            [a.agent_name for a in full[:k]]


# -- the seams the learned model and a real embedder plug into ---------------------------------------

class PerRequestQuality:
    """A quality model that prefers agent "coder" for requests whose embedding leans one way."""

    version = "test-per-request/1"
    needs_embeddings = True
    calibrated = False

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, table, queries, embeddings):  # type: ignore[no-untyped-def]
        self.calls += 1
        n = len(queries)
        assert embeddings is not None and embeddings.shape == (n, 384)
        q = np.full((n, len(table)), 0.5)
        lean = embeddings[:, 0] > 0
        q[lean, table.index["coder"]] = 0.95
        q[~lean, table.index["writer"]] = 0.95
        return q


def test_a_quality_model_plugs_in_per_request(store, embedder, clock) -> None:  # type: ignore[no-untyped-def]
    model = PerRequestQuality()
    engine = Engine(store, embedder, clock=clock, model=model)
    try:
        reg(engine, spec("coder", quality=0.5), spec("writer", quality=0.5))
        up, down = np.zeros(384, dtype=np.float32), np.zeros(384, dtype=np.float32)
        up[0], down[0] = 1.0, -1.0
        one_up = route(engine, text="", embedding=up, objective="quality")
        one_down = route(engine, text="", embedding=down, objective="quality")
        assert (one_up.agent_name, one_down.agent_name) == ("coder", "writer")
        assert one_up.expected_quality == pytest.approx(0.95)
        assert one_up.model_version == "test-per-request/1"
        assert "expected quality 0.950" in one_up.reasoning
        batch = engine.route_batch([RouteQuery(embedding=up, objective="quality"),
                                    RouteQuery(embedding=down, objective="quality"),
                                    RouteQuery(text="write a poem", objective="quality")])
        assert [d.agent_name for d in batch[:2]] == ["coder", "writer"]
        assert batch[2].agent_name in ("coder", "writer")  # texts are embedded for the model
        # min_quality applies to the per-request prediction, and the reason shows it
        d = route(engine, text="", embedding=up, min_quality=0.9)
        alt = {a.agent_name: a for a in d.alternatives()}
        assert d.agent_name == "coder" and not alt["writer"].feasible
        assert alt["writer"].reason == "expected quality 0.500 is below min_quality 0.900"
        assert engine.stats().model_version == "test-per-request/1"
    finally:
        engine.close()


def test_outcomes_do_not_re_embed_capabilities(engine: Engine) -> None:
    reg(engine, *(spec(f"a{i}", capabilities=("coding", f"skill{i}")) for i in range(5)))
    first = engine.table()
    calls: list[int] = []
    real = engine.registry.capability_vectors.embedder

    class Counting:
        name, dim = real.name, real.dim

        def embed(self, texts):  # type: ignore[no-untyped-def]
            calls.append(len(texts))
            return real.embed(texts)

    engine.registry.capability_vectors.embedder = Counting()  # type: ignore[assignment]
    for _ in range(20):
        engine.record_outcome(agent_name="a1", latency_ms=100, success=True, quality=0.9)
        route(engine)
    assert engine.table() is not first  # stats changed: the table was rebuilt ...
    assert calls == []  # ... without embedding anything
    engine.registry.update("a2", {"capabilities": ("coding", "brand-new")})
    engine.table()
    assert calls == [1]  # only the changed agent's text
    np.testing.assert_array_equal(engine.table().cap_embeddings[0], first.cap_embeddings[0])
