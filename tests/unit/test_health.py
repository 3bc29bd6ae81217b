"""Circuit breaker, latency quantiles, outcomes through the Engine and the decision log."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from routerd.domain import CLOSED, HALF_OPEN, OPEN, AgentStats, CostModel, DecisionRecord
from routerd.engine.engine import Engine
from routerd.engine.health import AgentWindows, BreakerPolicy, health_after, quantiles
from routerd.engine.query import RouteQuery
from routerd.errors import AgentNotFound, DecisionNotFound, InvalidArgument, StoreUnavailable
from routerd.model.embedders import HashingEmbedder
from routerd.store import Store, open_store
from tests.harness.engine import FakeClock, spec

POLICY = BreakerPolicy()  # 5 in a row, or ≥ 50 % of the last 20 once 10 are in; 30 s cooldown


def fail(engine: Engine, name: str, n: int = 1) -> None:
    for _ in range(n):
        engine.record_outcome(agent_name=name, latency_ms=10.0, success=False)


def ok(engine: Engine, name: str, n: int = 1) -> None:
    for _ in range(n):
        engine.record_outcome(agent_name=name, latency_ms=10.0, success=True)


def state(engine: Engine, name: str) -> str:
    return POLICY.effective_state(engine.registry.get(name).stats, engine.clock())


# -- the policy by itself ----------------------------------------------------------------------------

def test_policy_consecutive_failures() -> None:
    stats = AgentStats()
    flags: list[bool] = []
    for i in range(1, 6):
        flags.append(False)
        st, streak, opened = POLICY.after_outcome(stats, False, flags, now=100.0 + i)
        stats.breaker_state, stats.consecutive_failures, stats.breaker_opened_at = st, streak, opened
        assert streak == i
        assert st == (OPEN if i == 5 else CLOSED)
    assert stats.breaker_opened_at == 105.0


def test_policy_success_resets_the_streak() -> None:
    stats = AgentStats(consecutive_failures=4)
    assert POLICY.after_outcome(stats, True, [False] * 4 + [True], now=1.0) == (CLOSED, 0, None)


@pytest.mark.parametrize(("failures", "total", "expected"), [
    (5, 10, OPEN),      # 50 % of 10: opens
    (4, 10, CLOSED),    # 40 %
    (4, 9, CLOSED),     # fewer than min_samples, even at 44 %
    (10, 20, OPEN),
    (9, 20, CLOSED),
])
def test_policy_failure_rate(failures: int, total: int, expected: str) -> None:
    # Failures spaced out (never two in a row) so only the rate rule can open; the last one fails.
    flags = [True] * total
    for k in range(failures):
        flags[total - 1 - 2 * k] = False
    assert flags[-1] is False and flags.count(False) == failures
    st, streak, opened = POLICY.after_outcome(AgentStats(consecutive_failures=0), False, flags, now=7.0)
    assert streak == 1
    assert st == expected
    assert opened == (7.0 if expected == OPEN else None)


def test_policy_failure_rate_counts_only_the_window() -> None:
    old = [False] * 15  # long ago: outside the last 20
    flags = old + [True] * 14 + [False] * 5 + [False]  # the last 20: 6 failures, 30 %
    st, streak, _ = POLICY.after_outcome(AgentStats(consecutive_failures=0), False, flags, now=1.0)
    assert (st, streak) == (CLOSED, 1)
    flags = old + [True] * 10 + [False]  # the last 20: 10 failures (5 old ones still in), 50 %
    st, _, _ = POLICY.after_outcome(AgentStats(consecutive_failures=0), False, flags, now=1.0)
    assert st == OPEN


def test_policy_open_half_open_closed() -> None:
    opened = AgentStats(breaker_state=OPEN, consecutive_failures=5, breaker_opened_at=1000.0)
    assert POLICY.effective_state(opened, 1029.9) == OPEN
    assert POLICY.retry_in(opened, 1010.0) == pytest.approx(20.0)
    assert POLICY.effective_state(opened, 1030.0) == HALF_OPEN
    assert POLICY.retry_in(opened, 1040.0) == 0.0
    # Outcomes while open (a request already in flight) keep it open with the same opened_at.
    assert POLICY.after_outcome(opened, True, [True], now=1010.0) == (OPEN, 0, 1000.0)
    assert POLICY.after_outcome(opened, False, [False], now=1010.0) == (OPEN, 6, 1000.0)
    # After the cooldown: a probe decides.
    assert POLICY.after_outcome(opened, True, [True], now=1031.0) == (CLOSED, 0, None)
    assert POLICY.after_outcome(opened, False, [False], now=1031.0) == (OPEN, 6, 1031.0)


# -- through the Engine ------------------------------------------------------------------------------

def test_closed_to_open_after_five_consecutive_failures(engine: Engine, clock: FakeClock) -> None:
    engine.registry.register(spec("a"))
    ok(engine, "a", 3)
    fail(engine, "a", 4)
    assert state(engine, "a") == CLOSED
    assert engine.registry.get("a").stats.consecutive_failures == 4
    fail(engine, "a")
    stats = engine.registry.get("a").stats
    assert stats.breaker_state == OPEN and stats.breaker_opened_at == clock()
    assert engine.store.get_agent("a").stats.breaker_state == OPEN  # type: ignore[union-attr]
    assert engine.stats().open_circuits == 1


def test_failure_rate_opens_the_breaker(engine: Engine) -> None:
    engine.registry.register(spec("a"))
    for i in range(9):  # S F S F S F S F S: 4 failures in 9, never two in a row
        (ok if i % 2 == 0 else fail)(engine, "a")
    assert state(engine, "a") == CLOSED
    fail(engine, "a")  # 5 of 10 = 50 %
    assert state(engine, "a") == OPEN
    assert engine.registry.get("a").stats.consecutive_failures == 1


def test_failure_rate_needs_min_samples(engine: Engine) -> None:
    engine.registry.register(spec("a"))
    for _ in range(4):
        fail(engine, "a")
        ok(engine, "a")
    fail(engine, "a")  # 5 of 9 > 50 %, but only 9 samples
    assert state(engine, "a") == CLOSED


def test_open_half_open_closed_with_the_clock(engine: Engine, clock: FakeClock) -> None:
    engine.registry.register(spec("a"))
    fail(engine, "a", 5)
    opened_at = clock()
    clock.advance(29.0)
    assert state(engine, "a") == OPEN
    clock.advance(1.0)
    assert state(engine, "a") == HALF_OPEN
    assert engine.stats().open_circuits == 0
    ok(engine, "a")
    stats = engine.registry.get("a").stats
    assert (stats.breaker_state, stats.consecutive_failures, stats.breaker_opened_at) == (CLOSED, 0, None)
    assert opened_at < clock()


def test_half_open_failure_reopens_with_a_new_opened_at(engine: Engine, clock: FakeClock) -> None:
    engine.registry.register(spec("a"))
    fail(engine, "a", 5)
    first = engine.registry.get("a").stats.breaker_opened_at
    clock.advance(45.0)
    assert state(engine, "a") == HALF_OPEN
    fail(engine, "a")
    stats = engine.registry.get("a").stats
    assert stats.breaker_state == OPEN
    assert stats.breaker_opened_at == clock() == first + 45.0  # type: ignore[operator]
    clock.advance(29.0)
    assert state(engine, "a") == OPEN  # the cooldown restarted
    clock.advance(1.0)
    assert state(engine, "a") == HALF_OPEN


def test_routing_skips_an_open_agent_until_the_cooldown(engine: Engine, clock: FakeClock) -> None:
    engine.registry.register(spec("flaky", quality=0.95))
    engine.registry.register(spec("steady", quality=0.6))
    fail(engine, "flaky", 5)
    d = engine.route(RouteQuery(text="hello", objective="quality"))
    assert d.agent_name == "steady"
    reason = next(a.reason for a in d.alternatives() if a.agent_name == "flaky")
    assert "circuit open" in reason
    only = engine.route(RouteQuery(text="hello", excluded_agents=("steady",)))
    assert not only.routed and "circuit open: 1" in only.reasoning
    clock.advance(POLICY.cooldown_s)
    # The table was built while the agent was open; time alone makes it routable again.
    d = engine.route(RouteQuery(text="hello", objective="quality"))
    assert d.agent_name == "flaky"


def test_breaker_policy_from_the_engine(make_engine: Callable[..., Engine], clock: FakeClock) -> None:
    engine = make_engine(policy=BreakerPolicy(consecutive_failures=2, cooldown_s=5.0))
    engine.registry.register(spec("a"))
    fail(engine, "a", 2)
    assert engine.registry.get("a").stats.breaker_state == OPEN
    assert not engine.route(RouteQuery(text="x")).routed
    clock.advance(5.0)
    assert engine.route(RouteQuery(text="x")).routed


# -- quantiles ---------------------------------------------------------------------------------------

def test_quantiles_of_a_known_window() -> None:
    assert quantiles([]) == (None, None)
    assert quantiles([42.0]) == (42.0, 42.0)
    p95, p99 = quantiles([float(x) for x in range(1, 101)])
    assert p95 == pytest.approx(95.05) and p99 == pytest.approx(99.01)
    p95, p99 = quantiles([10.0] * 95 + [1000.0] * 5)
    assert p95 == pytest.approx(10.0 + 0.05 * 990.0) and p99 == pytest.approx(1000.0)


def test_windows_are_bounded_and_per_agent() -> None:
    w = AgentWindows(size=3)
    for x in range(5):
        lat, flags = w.add("a", float(x), x % 2 == 0)
    assert lat == [2.0, 3.0, 4.0] and flags == [True, False, True]
    assert w.add("b", 7.0, False) == ([7.0], [False])
    w.forget("a")
    assert w.add("a", 1.0, True) == ([1.0], [True])


def test_health_after_combines_breaker_and_quantiles() -> None:
    h = health_after(POLICY, AgentStats(consecutive_failures=4), False, [1.0, 2.0, 3.0], [False] * 5, 9.0)
    assert (h.breaker_state, h.consecutive_failures, h.breaker_opened_at) == (OPEN, 5, 9.0)
    assert h.p95_latency_ms == pytest.approx(float(np.percentile([1, 2, 3], 95)))


def test_engine_latency_quantiles(engine: Engine) -> None:
    engine.registry.register(spec("a"))
    rng = np.random.default_rng(3)
    lats = rng.uniform(5, 500, size=200).round(3)
    for x in lats:
        engine.record_outcome(agent_name="a", latency_ms=float(x), success=True)
    stats = engine.registry.get("a").stats
    assert stats.p95_latency_ms == pytest.approx(float(np.percentile(lats, 95)))
    assert stats.p99_latency_ms == pytest.approx(float(np.percentile(lats, 99)))


# -- outcomes ----------------------------------------------------------------------------------------

def test_record_outcome_updates_stats_exactly(engine: Engine, store: Store, embedder: HashingEmbedder,
                                              clock: FakeClock, db_path: Path) -> None:
    engine.registry.register(spec("a"))
    engine.registry.register(spec("b"))
    rows = [(120.0, True, 0.9, 0.01), (80.0, True, None, 0.02), (300.0, False, 0.1, None),
            (50.5, True, 0.75, 0.005)]
    for lat, success, quality, cost in rows:
        clock.advance(1.0)
        out, rec = engine.record_outcome(agent_name="a", latency_ms=lat, success=success, quality=quality,
                                         cost=cost, input_tokens=10, output_tokens=20)
        assert out.agent_name == "a" and out.recorded_at == clock() and out.decision_id is None
        assert rec.stats == engine.registry.get("a").stats
    s = engine.registry.get("a").stats
    assert s.total_requests == 4 and s.successes == 3 and s.failures == 1
    assert s.latency_sum_ms == pytest.approx(550.5)
    assert s.avg_latency_ms == pytest.approx(550.5 / 4)
    assert s.quality_count == 3 and s.quality_sum == pytest.approx(1.75)
    assert s.mean_quality == pytest.approx(1.75 / 3)
    assert s.total_spend == pytest.approx(0.035)
    assert s.success_rate == pytest.approx(0.75)
    assert engine.registry.get("b").stats == AgentStats()
    assert store.count_outcomes() == 4
    outs = engine.list_outcomes(agent_name="a")
    assert [(o.latency_ms, o.success, o.quality, o.cost) for o in outs] == rows
    st = engine.stats()
    assert (st.agents, st.outcomes, st.total_spend) == (2, 4, pytest.approx(0.035))
    assert st.success_rate == pytest.approx(0.75) and st.mean_quality == pytest.approx(1.75 / 3)

    # A new Engine on a new connection to the same file sees the same stats.
    engine.close()
    store.close()
    again_store = open_store(f"sqlite://{db_path}")
    try:
        again = Engine(again_store, embedder, clock=clock)
        try:
            assert again.registry.get("a").stats == s
            assert again.stats().outcomes == 4
            # ... and its latency window was seeded from the store, so quantiles continue.
            again.record_outcome(agent_name="a", latency_ms=1000.0, success=True)
            p95 = again.registry.get("a").stats.p95_latency_ms
            assert p95 == pytest.approx(float(np.percentile([120.0, 80.0, 300.0, 50.5, 1000.0], 95)))
        finally:
            again.close()
    finally:
        again_store.close()


def test_recorded_at_given(engine: Engine) -> None:
    engine.registry.register(spec("a"))
    out, _ = engine.record_outcome(agent_name="a", latency_ms=1.0, success=True, recorded_at=12345.0)
    assert out.recorded_at == 12345.0
    with pytest.raises(InvalidArgument) as exc:
        engine.record_outcome(agent_name="a", latency_ms=1.0, success=True, recorded_at=math.nan)
    assert exc.value.field == "recorded_at"


def test_outcome_for_an_unknown_agent(engine: Engine, store: Store) -> None:
    engine.registry.register(spec("a"))
    ok(engine, "a")
    before = store.count_outcomes()
    with pytest.raises(AgentNotFound) as exc:
        engine.record_outcome(agent_name="ghost", latency_ms=5.0, success=True)
    assert exc.value.field == "agent_name"
    assert store.count_outcomes() == before
    assert engine.list_outcomes(agent_name="ghost") == []


def test_outcome_after_the_agent_was_removed(engine: Engine, store: Store) -> None:
    engine.registry.register(spec("a"))
    d = engine.route(RouteQuery(text="hi"))
    engine.remove_agent("a")
    with pytest.raises(AgentNotFound):
        engine.record_outcome(decision_id=d.decision_id, latency_ms=5.0, success=True)
    assert store.count_outcomes() == 0


def test_outcome_by_decision_id(engine: Engine) -> None:
    engine.registry.register(spec("a", quality=0.9))
    engine.registry.register(spec("b", quality=0.3))
    d = engine.route(RouteQuery(text="hi", objective="quality"))
    assert d.agent_name == "a"
    out, rec = engine.record_outcome(decision_id=d.decision_id, latency_ms=33.0, success=True, quality=0.8)
    assert out.agent_name == "a" and out.decision_id == d.decision_id and rec.name == "a"
    assert engine.registry.get("a").stats.total_requests == 1
    assert engine.list_outcomes(decision_id=d.decision_id) == [out]
    # Naming the same agent as well is fine; naming another is an error and writes nothing.
    engine.record_outcome(decision_id=d.decision_id, agent_name="a", latency_ms=1.0, success=True)
    with pytest.raises(InvalidArgument) as exc:
        engine.record_outcome(decision_id=d.decision_id, agent_name="b", latency_ms=1.0, success=True)
    assert exc.value.field == "agent_name"
    assert engine.registry.get("b").stats.total_requests == 0
    assert engine.stats().outcomes == 2


def test_outcome_by_decision_id_from_the_store(make_engine: Callable[..., Engine]) -> None:
    first = make_engine()
    first.registry.register(spec("a"))
    d = first.route(RouteQuery(text="hi"))
    first.close()
    second = make_engine()  # knows the decision only from the store
    out, _ = second.record_outcome(decision_id=d.decision_id, latency_ms=5.0, success=True)
    assert out.agent_name == "a"
    with pytest.raises(InvalidArgument):
        second.record_outcome(decision_id=d.decision_id, agent_name="b", latency_ms=5.0, success=True)


def test_outcome_for_unknown_or_unrouted_decisions(engine: Engine, store: Store) -> None:
    engine.registry.register(spec("a", active=False))
    with pytest.raises(DecisionNotFound):
        engine.record_outcome(decision_id="0" * 24, latency_ms=5.0, success=True)
    d = engine.route(RouteQuery(text="hi"))
    assert not d.routed
    with pytest.raises(InvalidArgument) as exc:
        engine.record_outcome(decision_id=d.decision_id, latency_ms=5.0, success=True)
    assert exc.value.field == "decision_id"
    engine.flush()
    with pytest.raises(InvalidArgument):  # the same answer once the decision is only in the store
        engine.record_outcome(decision_id=d.decision_id, latency_ms=5.0, success=True)
    assert store.count_outcomes() == 0


@pytest.mark.parametrize(("kw", "field"), [
    ({"quality": 1.5}, "quality"),
    ({"quality": -0.1}, "quality"),
    ({"quality": math.nan}, "quality"),
    ({"latency_ms": -1.0}, "latency_ms"),
    ({"latency_ms": math.nan}, "latency_ms"),
    ({"latency_ms": math.inf}, "latency_ms"),
    ({"cost": -0.5}, "cost"),
    ({"cost": math.nan}, "cost"),
    ({"input_tokens": -1}, "input_tokens"),
    ({"output_tokens": -1}, "output_tokens"),
    ({"agent_name": ""}, "decision_id"),
    ({"agent_name": "bad name"}, "agent_name"),
])
def test_outcome_validation(engine: Engine, store: Store, kw: dict[str, object], field: str) -> None:
    engine.registry.register(spec("a"))
    args: dict[str, object] = {"agent_name": "a", "latency_ms": 10.0, "success": True, **kw}
    with pytest.raises(InvalidArgument) as exc:
        engine.record_outcome(**args)  # type: ignore[arg-type]
    assert exc.value.field == field
    assert store.count_outcomes() == 0
    assert engine.registry.get("a").stats == AgentStats()


# -- decision log ------------------------------------------------------------------------------------

def test_a_returned_decision_is_stored(engine: Engine, store: Store, clock: FakeClock) -> None:
    engine.registry.register(spec("a", per_call=0.01, quality=0.7))
    d = engine.route(RouteQuery(text="hello world", objective="cost"))
    rec = store.get_decision(d.decision_id)  # committed before route returned: nothing buffered
    assert rec is not None
    assert (rec.agent_name, rec.objective, rec.request_text, rec.decided_at) == ("a", "cost", "hello world", clock())
    assert rec.estimated_cost == pytest.approx(0.01) and rec.confidence == 1.0
    assert rec.expected_quality == pytest.approx(0.7) and rec.estimated_latency_ms == 1000.0
    none = engine.route(RouteQuery(text="x", required_capabilities=("nothing",)))
    unrouted = store.get_decision(none.decision_id)
    assert unrouted is not None and unrouted.agent_name is None and unrouted.estimated_cost is None
    assert store.count_decisions() == 2 and engine.stats().decisions == 2
    engine.flush()  # nothing in flight: nothing written twice
    engine.close()
    assert store.count_decisions() == 2


def test_a_returned_batch_is_stored(engine: Engine, store: Store) -> None:
    engine.registry.register(spec("a"))
    ids = [d.decision_id for d in engine.route_batch([RouteQuery(text=f"q{i}") for i in range(50)])]
    assert store.count_decisions() == 50
    assert all(store.get_decision(i) is not None for i in ids)


def test_concurrent_routes_share_commits(engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit: 16 threads routing at once are committed in far fewer transactions than
    decisions, and every decision a thread got back is in the store when it gets it."""
    import threading

    engine.registry.register(spec("a"))
    commits: list[int] = []
    append = store.append_decisions

    def counted(records: Sequence[DecisionRecord]) -> None:
        append(records)
        commits.append(len(records))

    monkeypatch.setattr(store, "append_decisions", counted)
    unstored: list[str] = []

    def work(k: int) -> None:
        for i in range(40):
            d = engine.route(RouteQuery(text=f"t{k} q{i}"))
            if store.get_decision(d.decision_id) is None:
                unstored.append(d.decision_id)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not unstored
    assert sum(commits) == 16 * 40 == store.count_decisions()
    assert len(commits) < 16 * 40 * 0.8, f"{len(commits)} commits for {16 * 40} decisions"
    assert max(commits) > 1
    print(f"{len(commits)} commits for {sum(commits)} decisions")


def test_a_failed_write_fails_the_route(engine: Engine, store: Store) -> None:
    """A store that cannot be written (read-only here; disk full in tests/grpc/test_durability.py)
    fails the call: the decision is not returned, not counted, unknown to outcomes; once the store is
    writable again routing works again."""
    engine.registry.register(spec("a"))
    kept = engine.route(RouteQuery(text="before"))
    conn = store._conn  # type: ignore[attr-defined]
    conn.execute("PRAGMA query_only = ON")  # SQLite refuses every write, as on a read-only file
    try:
        with pytest.raises(StoreUnavailable, match="could not be stored.*readonly"):
            engine.route(RouteQuery(text="lost"))
        with pytest.raises(StoreUnavailable, match="could not be stored"):
            engine.route_batch([RouteQuery(text=f"lost {i}") for i in range(5)])
    finally:
        conn.execute("PRAGMA query_only = OFF")
    assert store.count_decisions() == 1 and engine.stats().decisions == 1
    after = engine.route(RouteQuery(text="after"))
    for d in (kept, after):
        out, _ = engine.record_outcome(decision_id=d.decision_id, latency_ms=5.0, success=True)
        assert out.agent_name == "a"


def test_close_refuses_new_decisions_and_raises_nothing(embedder: HashingEmbedder, tmp_path: Path,
                                                        clock: FakeClock) -> None:
    s = open_store(f"sqlite://{tmp_path}/other.db")
    engine = Engine(s, embedder, clock=clock)
    engine.registry.register(spec("a"))
    d = engine.route(RouteQuery(text="hello"))
    s.close()
    with pytest.raises(StoreUnavailable, match="could not be stored.*closed"):
        engine.route(RouteQuery(text="store gone"))
    engine.close()  # nothing is pending, so nothing can fail
    with pytest.raises(StoreUnavailable, match="shutting down"):
        engine.route(RouteQuery(text="too late"))
    s2 = open_store(f"sqlite://{tmp_path}/other.db")
    try:
        assert s2.count_decisions() == 1 and s2.get_decision(d.decision_id) is not None
    finally:
        s2.close()


def test_concurrent_outcomes_lose_no_update(engine: Engine) -> None:
    import threading

    engine.registry.register(spec("a"))
    n_threads, per_thread = 4, 25

    def work(k: int) -> None:
        for i in range(per_thread):
            engine.record_outcome(agent_name="a", latency_ms=float(i), success=True, quality=0.5, cost=0.001)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = engine.registry.get("a").stats
    total = n_threads * per_thread
    assert (s.total_requests, s.successes, s.quality_count) == (total, total, total)
    assert s.total_spend == pytest.approx(total * 0.001)
    assert engine.store.get_agent("a").stats == s  # type: ignore[union-attr]
    assert engine.store.count_outcomes() == total


# -- recovery and restarts ------------------------------------------------------------------------

def test_a_recovered_agent_is_not_reopened_by_old_failures(engine: Engine, clock: FakeClock) -> None:
    engine.registry.register(spec("a"))
    ok(engine, "a", 5)
    fail(engine, "a", 5)
    clock.advance(POLICY.cooldown_s)
    ok(engine, "a")  # the probe succeeds: closed
    assert state(engine, "a") == CLOSED
    fail(engine, "a")  # one failure in a healthy streak
    assert state(engine, "a") == CLOSED


def test_failure_rate_survives_a_restart(make_engine: Callable[..., Engine]) -> None:
    first = make_engine()
    first.registry.register(spec("a"))
    for i in range(9):  # S F S F S F S F S
        (ok if i % 2 == 0 else fail)(first, "a")
    first.close()
    second = make_engine()
    fail(second, "a")  # 5 failures of the last 10
    assert state(second, "a") == OPEN


def test_outcome_without_cost_counts_the_decisions_estimate(engine: Engine) -> None:
    engine.registry.register(replace(spec("priced"), cost=CostModel(per_call=0.25)))
    d = engine.route(RouteQuery(text="hello"))
    out, rec = engine.record_outcome(decision_id=d.decision_id, latency_ms=5, success=True)
    assert out.cost == pytest.approx(0.25) and rec.stats.total_spend == pytest.approx(0.25)
    out, rec = engine.record_outcome(decision_id=d.decision_id, latency_ms=5, success=True, cost=0.1)
    assert out.cost == pytest.approx(0.1) and rec.stats.total_spend == pytest.approx(0.35)
    _, rec = engine.record_outcome(agent_name="priced", latency_ms=5, success=True)
    assert rec.stats.total_spend == pytest.approx(0.35)  # no decision, no estimate: nothing to count
