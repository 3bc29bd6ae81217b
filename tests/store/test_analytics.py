"""routerd/store/_analytics.py on SQLite and PostgreSQL: every aggregate of every grouping against
the same figures computed here in Python from the records written, and the decision log's pages."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest

from routerd.domain import DecisionRecord, OutcomeRecord
from routerd.errors import InvalidArgument
from routerd.store import Store
from routerd.store._analytics import (
    GROUP_BY,
    AnalyticsRow,
    list_decisions,
    list_decisions_sql,
    routing_analytics,
)
from routerd.store._sql import SQLStore, Tx
from tests.harness.store import HEALTHY, agent, decision

DAY = 86400.0
BASE = 20_423 * DAY  # 2025-12-01T00:00:00Z, a day boundary
AGENTS = ("a1", "a2", "a3")
T = TypeVar("T")


def read(store: Store, fn: Callable[[Tx], T]) -> T:
    """``fn`` in a read transaction of ``store``, as SQLStore runs the analytics."""
    assert isinstance(store, SQLStore)
    return store._transact(fn, write=False)


def analytics(store: Store, group_by: str, start: float | None = None,
              end: float | None = None) -> list[AnalyticsRow]:
    return read(store, lambda tx: routing_analytics(tx, start=start, end=end, group_by=group_by))


def page(store: Store, *, limit: int, after: tuple[float, str] | None = None, start: float | None = None,
         end: float | None = None) -> list[DecisionRecord]:
    return read(store, lambda tx: list_decisions(tx, start=start, end=end, limit=limit, after=after))


def write(store: Store, decisions: Sequence[DecisionRecord], outcomes: Sequence[OutcomeRecord]) -> None:
    """Log ``decisions``, cancel those with a cancelled_at through the store (which refuses it for a
    decision with an outcome, and an outcome for a cancelled one), then record ``outcomes``."""
    for name in AGENTS:
        store.insert_agent(agent(name))
    store.append_decisions([dataclasses.replace(d, cancelled_at=None) for d in decisions])
    for d in decisions:
        if d.cancelled_at is not None:
            store.cancel_decision(d.decision_id, d.cancelled_at)
    for o in outcomes:
        store.record_outcome(o, HEALTHY)


def is_postgres(store: Store) -> bool:
    assert isinstance(store, SQLStore)
    return store.url.startswith("postgres")


# -- the reference: the proto's definitions, computed in Python --------------------------------------


def group_keys(d: DecisionRecord, group_by: str) -> list[tuple[Any, float | None]]:
    """(sort key, bucket start) of each group ``d`` counts in."""
    if group_by in ("day", "hour"):
        width = DAY if group_by == "day" else 3600.0
        bucket = math.floor(d.decided_at / width) * width
        return [(bucket, bucket)]
    if group_by == "tag":
        tags = sorted(set(json.loads(d.tags))) if d.tags else []
        return [(t, None) for t in tags] or [("", None)]
    value = {"agent": d.agent_name, "route": d.route_name, "objective": d.objective}[group_by]
    return [(value or "", None)]


def expected(decisions: Sequence[DecisionRecord], outcomes: Sequence[OutcomeRecord], group_by: str,
             start: float | None = None, end: float | None = None) -> list[AnalyticsRow]:
    by_decision: dict[str, list[OutcomeRecord]] = defaultdict(list)
    for o in outcomes:
        if o.decision_id is not None:
            by_decision[o.decision_id].append(o)
    groups: dict[Any, list[DecisionRecord]] = defaultdict(list)
    buckets: dict[Any, float | None] = {}
    for d in decisions:
        if (start is None or d.decided_at >= start) and (end is None or d.decided_at < end):
            for key, bucket in group_keys(d, group_by):
                groups[key].append(d)
                buckets[key] = bucket
    rows = []
    for key in sorted(groups):
        ds = groups[key]
        os_ = [o for d in ds for o in by_decision[d.decision_id]]
        latencies = sorted(o.latency_ms for o in os_)
        qualities = [o.quality for o in os_ if o.quality is not None]
        n = len(os_)
        counted = [d for d in ds if d.agent_name is not None and d.cancelled_at is None
                   and d.reference_cost is not None]
        reference = sum(d.reference_cost for d in counted if d.reference_cost is not None)
        actual = sum(sum(o.cost or 0.0 for o in by_decision[d.decision_id]) if by_decision[d.decision_id]
                     else (d.estimated_cost or 0.0) for d in counted)
        bucket = buckets[key]
        rows.append(AnalyticsRow(
            key=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(bucket)) if bucket is not None else key,
            bucket_start=bucket,
            requests=len(ds),
            without_outcome=sum(not by_decision[d.decision_id] for d in ds),
            outcomes=n,
            spend=sum(o.cost or 0.0 for o in os_),
            mean_latency_ms=sum(latencies) / n if n else None,
            p95_latency_ms=latencies[math.ceil(0.95 * n) - 1] if n else None,
            success_rate=sum(o.success for o in os_) / n if n else None,
            mean_quality=sum(qualities) / len(qualities) if qualities else None,
            reference_cost=reference,
            savings=reference - actual,
        ))
    return rows


def assert_rows(got: Sequence[AnalyticsRow], want: Sequence[AnalyticsRow]) -> None:
    assert [r.key for r in got] == [r.key for r in want]
    for g, w in zip(got, want, strict=True):
        for name in ("bucket_start", "requests", "without_outcome", "outcomes"):
            assert getattr(g, name) == getattr(w, name), (w.key, name)
        for name in ("spend", "mean_latency_ms", "p95_latency_ms", "success_rate", "mean_quality",
                     "reference_cost", "savings"):
            a, b = getattr(g, name), getattr(w, name)
            assert (a is None) == (b is None), (w.key, name, a, b)
            if b is not None:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (w.key, name, a, b)


# -- a mixed log ------------------------------------------------------------------------------------


def mixed_log(seed: int = 7, n: int = 180) -> tuple[list[DecisionRecord], list[OutcomeRecord]]:
    """Decisions over three days (some exactly on hour and day boundaries), routed nowhere or to one
    of the agents, with or without route, tags, estimate, reference cost; some cancelled; each with
    0..3 outcomes unless cancelled (latencies with ties, unset costs and qualities); and outcomes naming no decision."""
    rng = random.Random(seed)
    decisions: list[DecisionRecord] = []
    outcomes: list[OutcomeRecord] = []
    for i in range(n):
        at = BASE + (rng.randrange(3 * 24) * 3600.0 if i % 10 == 0 else rng.uniform(0, 3 * DAY))
        tags = rng.choice([None, "[]", '["x"]', '["y"]', '["x","y"]', '["z","x","y"]', '["y","y"]'])
        routed = rng.random() < 0.85
        d = decision(
            f"d{i:04d}", decided_at=at, agent_name=rng.choice(AGENTS) if routed else None,
            objective=rng.choice(["cost", "latency", "quality", "balanced"]),
            route_name=rng.choice([None, "billing", "support"]),
            estimated_cost=rng.choice([None, round(rng.uniform(0.001, 0.05), 6)]) if routed else None,
            reference_cost=rng.choice([None, rng.uniform(0.001, 0.08), rng.uniform(0.001, 0.08)]) if routed else None,
            cancelled_at=at + 1.0 if rng.random() < 0.1 else None, tags=tags)
        decisions.append(d)
        for _ in range(0 if d.cancelled_at is not None else rng.choice([0, 0, 1, 1, 2, 3])):
            outcomes.append(OutcomeRecord(
                f"o{len(outcomes):05d}", d.agent_name or "a1", at + 5.0,
                latency_ms=float(rng.randrange(50, 90)) if rng.random() < 0.5 else rng.uniform(10, 2000),
                success=rng.random() < 0.8, decision_id=d.decision_id,
                quality=rng.choice([None, rng.random()]), cost=rng.choice([None, rng.uniform(0, 0.05)])))
    for j in range(5):  # in analytics nowhere: no decision, or one never logged
        outcomes.append(OutcomeRecord(f"orphan{j}", "a2", BASE + j, latency_ms=9999.0, success=False,
                                      decision_id=None if j % 2 else "never-logged", cost=1.0, quality=0.0))
    return decisions, outcomes


def test_every_grouping_and_range_matches_the_definitions(store: Store) -> None:
    decisions, outcomes = mixed_log()
    write(store, decisions, outcomes)
    times = sorted(d.decided_at for d in decisions)
    start, end = times[30], times[150]  # the bounds are decisions' own times: half-open at both ends
    ranges = [(None, None), (start, None), (None, end), (start, end), (BASE + 3600.0, BASE + DAY + 7200.0)]
    for group_by in GROUP_BY:
        for lo, hi in ranges:
            want = expected(decisions, outcomes, group_by, lo, hi)
            assert want  # the data set reaches every grouping
            assert_rows(analytics(store, group_by, lo, hi), want)
    # The data set exercises what the definitions single out.
    agents = {r.key: r for r in analytics(store, "agent")}
    assert "" in agents and agents[""].reference_cost == 0.0 and agents[""].savings == 0.0
    tags = {r.key for r in analytics(store, "tag")}
    assert tags == {"", "x", "y", "z"}
    by_tag = sum(r.requests for r in analytics(store, "tag"))
    assert by_tag > len(decisions)  # a decision with several tags counts under each
    assert sum(r.requests for r in analytics(store, "objective")) == len(decisions)
    assert sum(r.outcomes for r in analytics(store, "day")) == len(outcomes) - 5  # not the orphans
    assert any(r.mean_quality is not None for r in agents.values())


def test_day_and_hour_buckets_are_utc_rfc3339(store: Store) -> None:
    ds = [decision("late", decided_at=BASE - 0.5), decision("midnight", decided_at=BASE),
          decision("noon", decided_at=BASE + 12 * 3600.0 + 59.0)]
    write(store, ds, [])
    assert [(r.key, r.bucket_start, r.requests) for r in analytics(store, "day")] == [
        ("2025-11-30T00:00:00Z", BASE - DAY, 1), ("2025-12-01T00:00:00Z", BASE, 2)]
    assert [(r.key, r.bucket_start) for r in analytics(store, "hour")] == [
        ("2025-11-30T23:00:00Z", BASE - 3600.0), ("2025-12-01T00:00:00Z", BASE),
        ("2025-12-01T12:00:00Z", BASE + 12 * 3600.0)]
    assert all(r.bucket_start is None for r in analytics(store, "agent"))


@pytest.mark.parametrize("group_by", ["route", "tag"])
def test_p95_is_the_nearest_rank(store: Store, group_by: str) -> None:
    rng = random.Random(11)
    decisions: list[DecisionRecord] = []
    outcomes: list[OutcomeRecord] = []
    sizes = (1, 2, 19, 20, 21)
    for size in sizes:
        for i in range(size):
            key = f"n{size:02d}"
            decisions.append(decision(f"{key}-{i:02d}", decided_at=BASE + i, route_name=key, tags=json.dumps([key])))
            outcomes.append(OutcomeRecord(f"o-{key}-{i:02d}", "a1", BASE + i, latency_ms=rng.uniform(1, 1000),
                                          success=True, decision_id=f"{key}-{i:02d}"))
    rng.shuffle(outcomes)
    write(store, decisions, outcomes)
    rows = analytics(store, group_by)
    assert_rows(rows, expected(decisions, outcomes, group_by))
    for row, size in zip(rows, sizes, strict=True):
        latencies = sorted(o.latency_ms for o in outcomes if o.decision_id and o.decision_id.startswith(row.key))
        assert row.outcomes == size
        # nearest rank ceil(0.95 n): n = 1, 2, 19, 20, 21 -> ranks 1, 2, 19, 19, 20
        assert row.p95_latency_ms == latencies[{1: 0, 2: 1, 19: 18, 20: 18, 21: 19}[size]]
    if is_postgres(store):  # PostgreSQL's own definition agrees
        disc = read(store, lambda tx: tx.rows(
            "SELECT d.route_name, percentile_disc(0.95) WITHIN GROUP (ORDER BY o.latency_ms) FROM decisions d "
            "JOIN outcomes o ON o.decision_id = d.decision_id GROUP BY d.route_name ORDER BY d.route_name"))
        assert [(r.key, r.p95_latency_ms) for r in rows] == [(k, float(v)) for k, v in disc]


def test_time_bounds_are_half_open_and_an_empty_range_has_no_rows(store: Store) -> None:
    start, end = BASE + 100.0, BASE + 200.0
    ds = [decision(f"d{i}", decided_at=t) for i, t in enumerate(
        [start - 1e-3, start, start + 50.0, end - 1e-3, end, end + 1.0])]
    outcomes = [OutcomeRecord(f"o{i}", "a1", d.decided_at, latency_ms=10.0 * (i + 1),
                              success=True, decision_id=d.decision_id, cost=0.01) for i, d in enumerate(ds)]
    write(store, ds, outcomes)
    for group_by in GROUP_BY:
        assert analytics(store, group_by, start, start) == []
        assert analytics(store, group_by, end + 10.0, end + 20.0) == []
        assert analytics(store, group_by, end, start) == []
    [row] = analytics(store, "objective", start, end)
    assert (row.requests, row.outcomes) == (3, 3)
    assert row.mean_latency_ms == pytest.approx((20.0 + 30.0 + 40.0) / 3, rel=1e-12)
    assert [r.requests for r in analytics(store, "objective", start)] == [5]
    assert [r.requests for r in analytics(store, "objective", None, end)] == [4]
    assert_rows(analytics(store, "hour", start, end), expected(ds, outcomes, "hour", start, end))


def test_an_empty_log_has_no_rows(store: Store) -> None:
    for group_by in GROUP_BY:
        assert analytics(store, group_by) == []


def test_cancelled_and_unrouted_decisions_have_no_counterfactual(store: Store) -> None:
    ds = [
        decision("kept", agent_name="a1", estimated_cost=0.02, reference_cost=0.05),
        decision("kept-outcome", agent_name="a1", estimated_cost=0.02, reference_cost=0.04),
        decision("cancelled", agent_name="a1", estimated_cost=0.03, reference_cost=0.09, cancelled_at=BASE + 1),
        decision("unrouted", agent_name=None, estimated_cost=None, reference_cost=0.07),
        decision("no-reference", agent_name="a1", estimated_cost=0.5, reference_cost=None),
    ]
    os_ = [OutcomeRecord("o1", "a1", BASE, latency_ms=5.0, success=True, decision_id="kept-outcome", cost=0.01),
           OutcomeRecord("o2", "a1", BASE, latency_ms=7.0, success=False, decision_id="kept-outcome", cost=None),
           OutcomeRecord("o3", "a1", BASE, latency_ms=9.0, success=True, decision_id="unrouted", cost=0.03)]
    write(store, ds, os_)
    [row] = analytics(store, "objective")
    assert (row.requests, row.without_outcome, row.outcomes) == (5, 3, 3)  # a cancelled decision is a request
    assert row.spend == pytest.approx(0.01 + 0.03, rel=1e-12)
    # Only "kept" (its estimate, no outcome) and "kept-outcome" (its outcomes' cost) are compared.
    assert row.reference_cost == pytest.approx(0.05 + 0.04, rel=1e-12)
    assert row.savings == pytest.approx((0.05 - 0.02) + (0.04 - 0.01), rel=1e-12)
    assert row.success_rate == pytest.approx(2 / 3, rel=1e-12)
    assert row.mean_quality is None  # no outcome reported one
    assert_rows([row], expected(ds, os_, "objective"))
    agents = {r.key: r for r in analytics(store, "agent")}
    assert (agents[""].requests, agents[""].reference_cost, agents[""].savings) == (1, 0.0, 0.0)


def test_bad_arguments_name_their_field(store: Store) -> None:
    with pytest.raises(InvalidArgument) as err:
        analytics(store, "week")
    assert err.value.field == "group_by"
    assert "must be one of agent, day, hour, route, objective, tag; got 'week'" in str(err.value)
    for bound in ("start", "end"):
        with pytest.raises(InvalidArgument) as err:
            analytics(store, "agent", **{bound: math.nan})
        assert err.value.field == bound
    with pytest.raises(InvalidArgument) as err:
        page(store, limit=5, after=(math.inf, "x"))
    assert err.value.field == "after"
    write(store, [decision("d", agent_name="a2")], [])
    assert analytics(store, "") == analytics(store, "agent")  # "" means agent, as in the proto
    assert [r.key for r in analytics(store, "")] == ["a2"]


# -- the decision log ------------------------------------------------------------------------------


def test_list_decisions_pages_through_ties(store: Store) -> None:
    rng = random.Random(3)
    ids = [f"id{n:03d}" for n in range(40)]
    rng.shuffle(ids)  # ids do not follow time: the order within a tie is by id
    ds = [decision(did, decided_at=BASE + (i % 6) * 10.0, tags='["p"]' if i % 2 else None,
                   reference_cost=0.001 * i, cancelled_at=BASE + 99.0 if i % 5 == 0 else None,
                   request_embedding=bytes([i, 0, 0, 63]) if i % 3 == 0 else None, request_id=f"r{i}")
          for i, did in enumerate(ids)]
    store.append_decisions(ds)
    ordered = sorted(ds, key=lambda d: (d.decided_at, d.decision_id))
    for lo, hi in ((None, None), (BASE + 10.0, BASE + 40.0), (BASE + 10.0, None), (None, BASE + 30.0)):
        want = [d for d in ordered if (lo is None or d.decided_at >= lo) and (hi is None or d.decided_at < hi)]
        for size in (1, 3, 7, 100):
            got: list[DecisionRecord] = []
            after = None
            pages = 0
            while True:
                batch = page(store, limit=size, after=after, start=lo, end=hi)
                assert len(batch) <= size
                if not batch:
                    break
                got += batch
                pages += 1
                after = (batch[-1].decided_at, batch[-1].decision_id)
            assert got == want  # every field round-trips, none lost or repeated at a page boundary
            assert pages == math.ceil(len(want) / size)
    assert page(store, limit=0) == []
    assert page(store, limit=5, start=BASE + 1000.0) == []


def test_list_decisions_uses_the_decided_at_index(store: Store) -> None:
    store.append_decisions([decision(f"d{i:03d}", decided_at=BASE + i) for i in range(200)])
    sql, params = list_decisions_sql(start=BASE, end=BASE + 100.0, limit=10, after=(BASE + 5.0, "d005"))

    def plan(tx: Tx) -> str:
        if is_postgres(store):
            tx.execute("SET LOCAL enable_seqscan = off")  # 200 rows: the planner would rather scan them
            return "\n".join(str(r[0]) for r in tx.rows("EXPLAIN " + sql, params))
        return "\n".join(str(r[-1]) for r in tx.rows("EXPLAIN QUERY PLAN " + sql, params))

    text = read(store, plan)
    assert "decisions_decided_at_idx" in text, text
