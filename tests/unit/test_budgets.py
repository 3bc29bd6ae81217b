"""Budgets in the engine: reservations, reconciliation, cancellation, windows, pacing, restarts.

Every test runs a real Engine on the real SQLite store with a clock it controls (tests/unit/conftest.py).
"""

from __future__ import annotations

import math
import threading
from calendar import timegm
from collections.abc import Callable

import pytest

from routerd.domain import BudgetSpec
from routerd.engine.budgets import pace, window_bounds
from routerd.engine.engine import Engine
from routerd.engine.query import RouteQuery, validate_query
from routerd.errors import (
    BudgetExists,
    BudgetNotFound,
    DecisionCancelled,
    DecisionHasOutcome,
    InvalidArgument,
)
from tests.harness.engine import FakeClock, spec

DAY = 86400.0


def budget(name: str = "b", amount: float = 1.0, window: str = "total", scope: str = "global", mode: str = "hard",
           seconds: float | None = None, wtp: float | None = None) -> BudgetSpec:
    return BudgetSpec(name, amount, window, seconds, scope, mode, wtp)


def two_agents(engine: Engine) -> None:
    engine.registry.register(spec("cheap", per_call=0.01, quality=0.6))
    engine.registry.register(spec("dear", per_call=0.10, quality=0.95))


def spend_of(engine: Engine, name: str = "b") -> tuple[float, float, float]:
    s = engine.budgets.spend(name)[0]
    return s.settled, s.reserved, s.unreconciled


def q(text: str = "hello", objective: str = "quality", **kw: object) -> RouteQuery:
    return RouteQuery(text=text, objective=objective, **kw)  # type: ignore[arg-type]


def test_hard_budget_reserves_until_nothing_fits(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=0.25))
    chosen = [engine.route(q()).agent_name for _ in range(5)]
    # 0.10 + 0.10 leaves 0.05: the dear agent no longer fits, the cheap one does (5 x 0.01 is more than left)
    assert chosen == ["dear", "dear", "cheap", "cheap", "cheap"]
    settled, reserved, _ = spend_of(engine)
    assert settled == 0 and reserved == pytest.approx(0.23)
    for _ in range(2):
        assert engine.route(q()).agent_name == "cheap"
    d = engine.route(q())  # 0.25 spent exactly: nothing fits
    assert not d.routed
    reasons = {a.agent_name: a.reason for a in d.alternatives()}
    assert "hard budget 'b'" in reasons["cheap"] and "$0.25" in reasons["cheap"]
    assert "budget: 2" in d.reasoning
    assert spend_of(engine)[1] == pytest.approx(0.25)


def test_outcome_reconciles_to_the_actual_cost(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=0.25))
    d = engine.route(q())
    assert d.charges == (("b", pytest.approx(0.10)),)
    engine.record_outcome(decision_id=d.decision_id, latency_ms=100, success=True, cost=0.02)
    assert spend_of(engine) == (pytest.approx(0.02), 0.0, 0.0)
    # what was freed is usable at once: 0.23 left fits two dear decisions
    assert [engine.route(q()).agent_name for _ in range(2)] == ["dear", "dear"]
    # an outcome without a cost settles at the estimate
    d2 = engine.route(q())
    engine.record_outcome(decision_id=d2.decision_id, latency_ms=100, success=True)
    settled, reserved, _ = spend_of(engine)
    assert settled == pytest.approx(0.02 + d2.estimated_cost) and reserved == pytest.approx(0.20)


def test_cancel_releases_and_refuses_later_outcomes(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=0.1))
    d = engine.route(q())
    assert d.agent_name == "dear"
    assert engine.route(q()).agent_name is None or spend_of(engine)[1] <= 0.1 + 1e-12
    released, already = engine.cancel_decision(d.decision_id)
    assert [(c.budget_name, c.estimate) for c in released] == [("b", pytest.approx(0.1))]
    assert not already
    assert engine.cancel_decision(d.decision_id) == ([], True)
    with pytest.raises(DecisionCancelled) as err:
        engine.record_outcome(decision_id=d.decision_id, latency_ms=10, success=True)
    assert err.value.field == "decision_id"
    d2 = engine.route(q())
    engine.record_outcome(decision_id=d2.decision_id, latency_ms=10, success=True)
    with pytest.raises(DecisionHasOutcome):
        engine.cancel_decision(d2.decision_id)


def test_scopes_agent_and_tag(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget("dear-cap", amount=0.15, scope="agent:dear"))
    engine.budgets.create(budget("team", amount=0.05, scope="tag:team-a"))
    assert engine.route(q()).agent_name == "dear"
    assert engine.route(q()).agent_name == "cheap"  # dear's own budget has 0.05 left
    tagged = engine.route(q(tags=("team-a",)))
    assert tagged.agent_name == "cheap" and dict(tagged.charges) == {"team": pytest.approx(0.01)}
    untagged = engine.route(q(tags=("other",)))
    assert dict(untagged.charges) == {}
    s = {r.budget.name: r for r in engine.budgets.spend()}
    assert s["dear-cap"].reserved == pytest.approx(0.10)
    assert s["team"].reserved == pytest.approx(0.01)
    with pytest.raises(InvalidArgument) as err:
        engine.budgets.create(budget("x", scope="agent:nobody"))
    assert err.value.field == "budget.scope"


@pytest.mark.parametrize("bad, field", [
    (dict(amount=-1.0), "budget.amount"), (dict(amount=math.nan), "budget.amount"),
    (dict(amount=math.inf), "budget.amount"), (dict(window="fortnight"), "budget.window"),
    (dict(window="rolling"), "budget.window_seconds"), (dict(window="day", seconds=5.0), "budget.window_seconds"),
    (dict(scope="team"), "budget.scope"), (dict(scope="tag:"), "budget.scope"), (dict(mode="lax"), "budget.mode"),
    (dict(name=""), "budget.name"), (dict(wtp=0.0), "budget.willingness_to_pay"),
])
def test_bad_budgets_are_refused_by_field(engine: Engine, bad: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        engine.budgets.create(budget(**bad))  # type: ignore[arg-type]
    assert err.value.field == field
    assert engine.store.list_budgets() == []  # nothing half-written


def test_duplicate_update_delete(engine: Engine) -> None:
    engine.budgets.create(budget())
    with pytest.raises(BudgetExists):
        engine.budgets.create(budget())
    r = engine.budgets.update("b", lambda s: BudgetSpec(s.name, 5.0, s.window_kind, s.window_seconds, s.scope, "soft"))
    assert (r.spec.amount, r.spec.mode) == (5.0, "soft")
    assert engine.store.list_budgets()[0].spec.amount == 5.0
    engine.budgets.delete("b")
    with pytest.raises(BudgetNotFound):
        engine.budgets.get("b")
    with pytest.raises(BudgetNotFound):
        engine.budgets.delete("b")


def test_windows_roll_over(engine: Engine, clock: FakeClock) -> None:
    two_agents(engine)
    clock.t = timegm((2026, 11, 30, 23, 59, 0))  # a Monday, one minute before December
    engine.budgets.create(budget("day", amount=0.15, window="day"))
    engine.budgets.create(budget("month", amount=0.3, window="month"))
    assert engine.route(q()).agent_name == "dear"
    assert engine.route(q()).agent_name == "cheap"  # the day budget has 0.05 left
    clock.advance(120)  # 2026-12-01 00:01: a new day and a new month
    assert engine.route(q()).agent_name == "dear"
    by = {s.budget.name: s for s in engine.budgets.spend()}
    assert by["day"].window_start == timegm((2026, 12, 1, 0, 0, 0)) and by["day"].reserved == pytest.approx(0.1)
    assert by["month"].reserved == pytest.approx(0.1)
    assert by["month"].window_end == timegm((2027, 1, 1, 0, 0, 0))


def test_window_bounds() -> None:
    t = timegm((2026, 12, 2, 13, 0, 0))  # a Wednesday
    assert window_bounds("day", None, t) == (timegm((2026, 12, 2, 0, 0, 0)), timegm((2026, 12, 3, 0, 0, 0)))
    assert window_bounds("week", None, t) == (timegm((2026, 11, 30, 0, 0, 0)), timegm((2026, 12, 7, 0, 0, 0)))
    assert window_bounds("month", None, t) == (timegm((2026, 12, 1, 0, 0, 0)), timegm((2027, 1, 1, 0, 0, 0)))
    assert window_bounds("month", None, timegm((2028, 2, 29, 12, 0, 0)))[1] == timegm((2028, 3, 1, 0, 0, 0))
    assert window_bounds("rolling", 3600.0, t) == (t - 3600.0, None)
    assert window_bounds("total", None, t) == (0.0, None)


def test_rolling_window_expires_charges(engine: Engine, clock: FakeClock) -> None:
    two_agents(engine)
    engine.budgets.create(budget("r", amount=0.15, window="rolling", seconds=600))
    assert engine.route(q()).agent_name == "dear"
    clock.advance(300)
    assert engine.route(q()).agent_name == "cheap"  # 0.05 left
    assert engine.route(q()).agent_name == "cheap"
    clock.advance(301)  # the first charge is out of the window; the cheap ones are still in: 0.13 left
    assert engine.route(q()).agent_name == "dear"
    assert engine.route(q()).agent_name == "cheap"  # 0.03 left
    assert engine.budgets.spend("r")[0].reserved == pytest.approx(0.13)


def test_reservations_survive_a_restart(make_engine: Callable[..., Engine], clock: FakeClock) -> None:
    e1 = make_engine()
    two_agents(e1)
    e1.budgets.create(budget(amount=0.2))
    d = e1.route(q())
    e1.route(q())
    e1.record_outcome(decision_id=d.decision_id, latency_ms=1, success=True, cost=0.05)
    e1.close()
    e2 = make_engine(store=e1.store)
    assert e2.budgets.spend()[0].settled == pytest.approx(0.05)
    assert e2.budgets.spend()[0].reserved == pytest.approx(0.10)
    assert e2.route(q()).agent_name == "cheap"  # 0.05 left


def test_unreconciled_after_the_ttl(engine: Engine, clock: FakeClock) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=1.0))
    engine.route(q())
    clock.advance(engine.budgets.reservation_ttl_s + 1)
    s = engine.budgets.spend()[0]
    assert (s.reserved, s.unreconciled, s.unreconciled_decisions) == (0.0, pytest.approx(0.1), 1)
    assert s.remaining == pytest.approx(0.9)  # still charged: the safe side


def test_outcome_without_a_decision_is_spend(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=1.0))
    engine.budgets.create(budget("cheap-only", amount=1.0, scope="agent:cheap"))
    engine.record_outcome(agent_name="dear", latency_ms=5, success=True, cost=0.3)
    by = {s.budget.name: s for s in engine.budgets.spend()}
    assert by["b"].settled == pytest.approx(0.3) and by["cheap-only"].settled == 0.0


def test_soft_budget_paces_then_refuses(engine: Engine) -> None:
    engine.registry.register(spec("cheap", per_call=0.01, quality=0.80))
    engine.registry.register(spec("dear", per_call=0.02, quality=0.84))
    engine.budgets.create(budget("s", amount=0.1, mode="soft"))
    seen = [engine.route(q(objective="balanced")) for _ in range(12)]
    names = [d.agent_name for d in seen]
    # balanced: 0.04 better for 2x the price (0.1 x log10 2 = 0.03) wins until pacing weighs the cost more
    assert names[0] == "dear"
    assert "cheap" in names[:8]
    assert names[-1] is None  # spent: refused
    assert pace(0.04, 0.1) == 1.0 and pace(0.1, 0.1) == 10.0 and 1.0 < pace(0.08, 0.1) < 10.0
    total = engine.budgets.spend("s")[0].reserved
    assert 0.1 - 1e-12 <= total < 0.1 + 0.02  # soft: only the last decision may pass the amount


def test_budget_willingness_to_pay_is_used(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=100.0, wtp=1.0))  # 0.35 more quality is worth $0.35 > $0.09
    assert engine.route(q(objective="cost")).agent_name == "dear"
    engine.budgets.update("b", lambda s: BudgetSpec(s.name, s.amount, s.window_kind, None, s.scope, s.mode, 0.1))
    assert engine.route(q(objective="cost")).agent_name == "cheap"  # $0.035 of quality < $0.09


def test_batch_shares_the_budget_in_order(engine: Engine) -> None:
    two_agents(engine)
    engine.budgets.create(budget(amount=0.25))
    ds = engine.route_batch([q() for _ in range(30)])
    assert [d.agent_name for d in ds[:3]] == ["dear", "dear", "cheap"]
    total = sum(d.estimated_cost for d in ds if d.routed)
    assert total <= 0.25 + 1e-12 and total >= 0.25 - 0.01
    assert spend_of(engine)[1] == pytest.approx(total)


def test_concurrent_routes_never_overspend(engine: Engine) -> None:
    engine.registry.register(spec("a", per_call=0.013, quality=0.9))
    engine.registry.register(spec("b", per_call=0.007, quality=0.7))
    engine.budgets.create(budget(amount=1.0))
    errors: list[BaseException] = []

    def client() -> None:
        try:
            while engine.route(q()).routed:
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = engine.budgets.spend()[0]
    assert s.reserved + s.settled <= 1.0
    assert s.reserved >= 0.95


def test_tags_are_validated() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_query(RouteQuery(text="x", tags=("a", "a")), 8)
    assert err.value.field == "tags"
    with pytest.raises(InvalidArgument) as err:
        validate_query(RouteQuery(text="x", tags=("bad tag",)), 8)
    assert err.value.field == "tags[0]"


def test_optimize_budget_on_a_recorded_mix(engine: Engine, clock: FakeClock) -> None:
    # per-1k-token prices: a request's cost depends on its length, so requests switch agents at different prices
    engine.registry.register(spec("big", per_1k_input=0.03, quality=0.95))
    engine.registry.register(spec("small", per_1k_input=0.001, quality=0.6))
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit".split()
    for i in range(400):
        engine.route(q(" ".join(words[j % len(words)] for j in range(5 + (i * 37) % 400))))
    clock.advance(60)
    # a newly added agent, never used, that is worth it: nearly big's quality at a third of its price
    engine.registry.register(spec("new", per_1k_input=0.01, quality=0.93))
    everything_big = engine.optimize_budget(1e9, period_days=7).plan
    cheapest = everything_big.minimum_spend
    budget = cheapest + 0.5 * (everything_big.projected_spend - cheapest)
    o = engine.optimize_budget(budget, period_days=7)
    p = o.plan
    assert p.binding and p.feasible and p.willingness_to_pay is not None
    assert abs(p.projected_spend - budget) <= 0.01 * budget  # the budget met within 1 %
    assert p.projected_spend <= budget
    assert p.projected_quality > p.proportional_quality
    new = o.agents.index("new")
    assert p.requests[new] > 0  # the seed's ln(usage) rule gives a never-used agent nothing
    assert o.mix_requests == 400
    with pytest.raises(InvalidArgument) as err:
        engine.optimize_budget(-1.0)
    assert err.value.field == "budget"
    with pytest.raises(BudgetNotFound):
        engine.optimize_budget(1.0, apply_to_budget="nope")
