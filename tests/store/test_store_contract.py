"""The ``Store`` contract (routerd/store/base.py), run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pytest

from routerd.domain import (
    HALF_OPEN,
    OPEN,
    AgentRecord,
    AgentStats,
    CostModel,
    HealthUpdate,
    ModelRecord,
    OutcomeRecord,
    RouteConditions,
    RouteRecord,
    RouteSpec,
)
from routerd.errors import AgentExists, AgentNotFound, ModelNotFound, RouteExists, RouteNotFound
from routerd.store import Store, open_store
from routerd.store._sql import migrations
from tests.harness.store import HEALTHY, T0, agent, decision, outcome, raw_rows

FULL = agent(
    "full",
    agent_type="vision",
    capabilities=("ocr", "caption", "日本語"),
    cost=CostModel(per_1k_input_tokens=0.0025, per_1k_output_tokens=0.01, per_call=0.001, per_second=0.5),
    latency_prior_ms=1234.5,
    quality_prior=0.875,
    metadata='{"region": "eu-west-1", "tier": 2}',
    active=False,
    typical_output_tokens=1024,
    stats=AgentStats(
        total_requests=10, successes=7, latency_sum_ms=5432.25, quality_sum=6.5, quality_count=8,
        total_spend=1.125, p95_latency_ms=900.5, p99_latency_ms=1500.0, breaker_state=HALF_OPEN,
        consecutive_failures=3, breaker_opened_at=T0 - 30.5,
    ),
    created_at=T0 - 100.25,
)


# -- agents ---------------------------------------------------------------------------------------


def test_every_field_round_trips(store: Store) -> None:
    store.insert_agent(FULL)
    assert store.get_agent("full") == FULL
    assert store.list_agents() == [FULL]


def test_defaults_and_none_stats_round_trip(store: Store) -> None:
    plain = agent("plain")
    assert plain.stats.p95_latency_ms is None and plain.stats.breaker_opened_at is None
    store.insert_agent(plain)
    got = store.get_agent("plain")
    assert got == plain
    assert got is not None and got.spec.capabilities == () and got.spec.active is True


def test_unicode_names_and_large_metadata(store: Store) -> None:
    metadata = json.dumps({f"key{i}": "ünïcødé ✓ " * 20 for i in range(2000)}, ensure_ascii=False)
    assert len(metadata) > 300_000
    names = ["模型-α", "émoji-🚀", "Ωmega", "zeta", "Alpha", "a'; DROP TABLE agents; --"]
    for name in names:
        store.insert_agent(agent(name, metadata=metadata))
    for name in names:
        got = store.get_agent(name)
        assert got is not None and got.name == name and got.spec.metadata == metadata
    # By code point (SQLite's BINARY; PostgreSQL under the C/C.UTF-8 collation of the test cluster).
    assert [r.name for r in store.list_agents()] == sorted(names)


def test_get_missing_agent_is_none(store: Store) -> None:
    assert store.get_agent("nobody") is None
    assert store.list_agents() == []


def test_duplicate_insert_raises_and_changes_nothing(store: Store) -> None:
    store.insert_agent(FULL)
    clash = agent("full", agent_type="tool", created_at=T0 + 999)
    with pytest.raises(AgentExists) as info:
        store.insert_agent(clash)
    assert info.value.name == "full"
    assert store.get_agent("full") == FULL
    assert len(store.list_agents()) == 1


def test_replace_spec_keeps_stats_and_created_at(store: Store) -> None:
    store.insert_agent(FULL)
    new_spec = dataclasses.replace(FULL.spec, agent_type="llm", capabilities=("chat",), active=True,
                                   cost=CostModel(per_call=0.25), metadata="{}")
    replaced = store.replace_agent_spec(new_spec, updated_at=T0 + 50)
    expected = AgentRecord(spec=new_spec, stats=FULL.stats, created_at=FULL.created_at, updated_at=T0 + 50)
    assert replaced == expected
    assert store.get_agent("full") == expected


def test_replace_missing_agent_raises(store: Store) -> None:
    with pytest.raises(AgentNotFound):
        store.replace_agent_spec(agent("ghost").spec, updated_at=T0)
    assert store.get_agent("ghost") is None


def test_delete_and_clear(store: Store) -> None:
    for name in ("c", "a", "b"):
        store.insert_agent(agent(name))
    assert [r.name for r in store.list_agents()] == ["a", "b", "c"]
    assert store.delete_agent("b") is True
    assert store.delete_agent("b") is False
    assert store.get_agent("b") is None
    assert [r.name for r in store.list_agents()] == ["a", "c"]
    assert store.clear_agents() == 2
    assert store.clear_agents() == 0
    assert store.list_agents() == []


def test_outcomes_outlive_their_agent(store: Store) -> None:
    store.insert_agent(agent("gpt"))
    store.record_outcome(outcome(1), HEALTHY)
    assert store.delete_agent("gpt")
    assert store.count_outcomes() == 1
    assert [o.agent_name for o in store.list_outcomes(agent_name="gpt")] == ["gpt"]
    # A new agent of the same name starts from zero; the old outcomes stay in the log, and only
    # those recorded since a given time (its registration) count as its recent history.
    store.insert_agent(agent("gpt"))
    got = store.get_agent("gpt")
    assert got is not None and got.stats == AgentStats()
    assert store.recent_outcomes("gpt", 10, since=0.0) == [(101.0, True)]
    assert store.recent_outcomes("gpt", 10, since=T0 + 2) == []


# -- outcomes -------------------------------------------------------------------------------------


def test_record_outcome_increments_and_sets_health(store: Store) -> None:
    store.insert_agent(agent("gpt"))
    store.insert_agent(agent("other"))
    first = store.record_outcome(
        outcome(1, latency_ms=200.0, success=True, quality=0.75, cost=0.5, decision_id="d1",
                input_tokens=10, output_tokens=20),
        HealthUpdate(250.0, 300.0, "closed", 0, None),
    )
    assert first == AgentStats(total_requests=1, successes=1, latency_sum_ms=200.0, quality_sum=0.75,
                               quality_count=1, total_spend=0.5, p95_latency_ms=250.0, p99_latency_ms=300.0)
    # Failure, no quality, no cost: only the counters that apply move.
    second = store.record_outcome(
        outcome(2, latency_ms=50.5, success=False),
        HealthUpdate(240.0, 310.0, OPEN, 1, T0 + 2),
    )
    assert second == AgentStats(total_requests=2, successes=1, latency_sum_ms=250.5, quality_sum=0.75,
                                quality_count=1, total_spend=0.5, p95_latency_ms=240.0,
                                p99_latency_ms=310.0, breaker_state=OPEN, consecutive_failures=1,
                                breaker_opened_at=T0 + 2)
    assert second.failures == 1 and second.success_rate == 0.5 and second.mean_quality == 0.75
    got = store.get_agent("gpt")
    assert got is not None and got.stats == second and got.spec == agent("gpt").spec
    other = store.get_agent("other")
    assert other is not None and other.stats == AgentStats()
    # Health fields go back to None as well.
    third = store.record_outcome(outcome(3, quality=0.25, cost=0.0), HEALTHY)
    assert (third.p95_latency_ms, third.breaker_state, third.breaker_opened_at) == (None, "closed", None)
    assert (third.quality_count, third.quality_sum) == (2, 1.0)
    assert store.list_outcomes() == [
        outcome(1, latency_ms=200.0, success=True, quality=0.75, cost=0.5, decision_id="d1",
                input_tokens=10, output_tokens=20),
        outcome(2, latency_ms=50.5, success=False),
        outcome(3, quality=0.25, cost=0.0),
    ]


def test_record_outcome_for_missing_agent_writes_nothing(store: Store) -> None:
    store.insert_agent(agent("gpt"))
    with pytest.raises(AgentNotFound) as info:
        store.record_outcome(outcome(1, "ghost"), HEALTHY)
    assert info.value.name == "ghost"
    assert store.count_outcomes() == 0
    assert store.list_outcomes() == []
    assert store.get_agent("ghost") is None
    got = store.get_agent("gpt")
    assert got is not None and got.stats == AgentStats()


def test_list_outcomes_filters_and_pages(store: Store) -> None:
    for name in ("a", "b"):
        store.insert_agent(agent(name))
    written = []
    for n in range(20):
        # Pairs share a timestamp, so paging has to break ties on outcome_id.
        o = outcome(n, "a" if n % 3 else "b", at=T0 + n // 2, decision_id=f"d{n % 4}")
        store.record_outcome(o, HEALTHY)
        written.append(o)
    assert store.count_outcomes() == 20
    assert store.list_outcomes() == written
    # start <= recorded_at < end
    assert store.list_outcomes(start=T0 + 2, end=T0 + 5) == [o for o in written if 2 <= o.recorded_at - T0 < 5]
    assert store.list_outcomes(agent_name="b") == [o for o in written if o.agent_name == "b"]
    assert store.list_outcomes(decision_id="d1") == [o for o in written if o.decision_id == "d1"]
    assert store.list_outcomes(agent_name="a", start=T0 + 3) == [
        o for o in written if o.agent_name == "a" and o.recorded_at >= T0 + 3
    ]
    assert store.list_outcomes(limit=4) == written[:4]
    assert store.list_outcomes(limit=0) == []
    # Paging with ``after`` visits every row once, in order.
    pages: list[list[OutcomeRecord]] = []
    after: tuple[float, str] | None = None
    while page := store.list_outcomes(limit=3, after=after):
        pages.append(page)
        after = (page[-1].recorded_at, page[-1].outcome_id)
    assert [o for page in pages for o in page] == written
    assert len(pages) == 7
    # ``after`` in the middle of a tie.
    assert store.list_outcomes(after=(T0 + 1, "o00002"), limit=2) == written[3:5]
    # Paging combined with filters.
    a_only = [o for o in written if o.agent_name == "a"]
    first = store.list_outcomes(agent_name="a", limit=5)
    rest = store.list_outcomes(agent_name="a", after=(first[-1].recorded_at, first[-1].outcome_id))
    assert first + rest == a_only


def test_recent_outcomes_oldest_first_and_limited(store: Store) -> None:
    store.insert_agent(agent("a"))
    store.insert_agent(agent("b"))
    # Recorded out of time order: the order is by recorded_at, not by insertion.
    for n, at in ((1, T0 + 5), (2, T0 + 1), (3, T0 + 9), (4, T0 + 3)):
        store.record_outcome(outcome(n, "a", at=at, latency_ms=float(n * 10), success=n != 3), HEALTHY)
    store.record_outcome(outcome(5, "b", latency_ms=999.0), HEALTHY)

    def latencies(name: str, limit: int, since: float = 0.0) -> list[float]:
        return [lat for lat, _ in store.recent_outcomes(name, limit, since)]

    assert latencies("a", 10) == [20.0, 40.0, 10.0, 30.0]
    assert [ok for _, ok in store.recent_outcomes("a", 10, 0.0)] == [True, True, True, False]
    assert latencies("a", 2) == [10.0, 30.0]
    assert latencies("a", 10, since=T0 + 3) == [40.0, 10.0, 30.0]
    assert latencies("a", 0) == []
    assert latencies("b", 5) == [999.0]
    assert latencies("nobody", 5) == []


# -- decision log ---------------------------------------------------------------------------------


def test_append_decisions_round_trips_and_ignores_repeats(store: Store) -> None:
    empty = decision("d-none", agent_name=None, estimated_cost=None, estimated_latency_ms=None,
                     expected_quality=None, confidence=None, request_text="¿qué? 🚀 " * 1000)
    batch = [decision("d1"), decision("d2", decided_at=T0 + 1, objective="cost"), empty]
    store.append_decisions(batch)
    assert store.count_decisions() == 3
    assert store.get_decision("d1") == batch[0]
    assert store.get_decision("d-none") == empty
    assert store.get_decision("missing") is None
    # A repeated id (also within one batch) is ignored, and the first write wins.
    store.append_decisions([decision("d1", objective="latency"), decision("d3"), decision("d3", confidence=0.1)])
    assert store.count_decisions() == 4
    assert store.get_decision("d1") == batch[0]
    assert store.get_decision("d3") == decision("d3")
    store.append_decisions([])
    assert store.count_decisions() == 4


# -- durability, migrations, concurrency ----------------------------------------------------------


def test_everything_survives_close_and_reopen(store: Store, store_url: str) -> None:
    store.insert_agent(FULL)
    store.insert_agent(agent("gpt"))
    stats = store.record_outcome(outcome(1, quality=0.5, cost=0.01), HealthUpdate(1.0, 2.0, OPEN, 4, T0))
    store.append_decisions([decision("d1")])
    store.close()
    store.close()  # closing twice is harmless
    reopened = open_store(store_url)
    try:
        assert reopened.list_agents() == [FULL, dataclasses.replace(agent("gpt"), stats=stats)]
        assert reopened.list_outcomes() == [outcome(1, quality=0.5, cost=0.01)]
        assert reopened.get_decision("d1") == decision("d1")
    finally:
        reopened.close()


def test_migrations_are_idempotent(store: Store, store_url: str) -> None:
    store.insert_agent(agent("gpt"))
    for _ in range(2):
        again = open_store(store_url)
        try:
            assert [r.name for r in again.list_agents()] == ["gpt"]
        finally:
            again.close()
    versions = raw_rows(store_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == [m.version for m in migrations()]


def test_concurrent_record_outcome_loses_no_update(store: Store, store_url: str) -> None:
    """Threads share a store, and half of them write through a second one (a second connection,
    as another routerd replica would): the increments must not lose an update either way."""
    threads_n, per_thread = 8, 200
    store.insert_agent(agent("hot"))
    replica = open_store(store_url)
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                n = t * per_thread + i
                # Whole-number latencies keep the float sum exact in any order.
                writer = replica if t % 2 else store
                writer.record_outcome(outcome(n, "hot", latency_ms=float(n % 7 + 1), success=n % 4 != 0,
                                              quality=0.5 if n % 2 else None, cost=1.0), HEALTHY)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    replica.close()
    assert errors == []
    total = threads_n * per_thread
    got = store.get_agent("hot")
    assert got is not None
    assert got.stats.total_requests == total
    assert got.stats.successes == sum(1 for n in range(total) if n % 4 != 0)
    assert got.stats.latency_sum_ms == float(sum(n % 7 + 1 for n in range(total)))
    assert got.stats.quality_count == total // 2 and got.stats.quality_sum == 0.5 * (total // 2)
    assert got.stats.total_spend == float(total)
    assert store.count_outcomes() == total


# -- semantic routes ----------------------------------------------------------------------------

def _route(name: str = "billing", m: int = 3, dim: int = 8, **spec: object) -> RouteRecord:
    rng = np.random.default_rng(len(name) + m)
    vectors = rng.normal(size=(m, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    fields = {"utterances": tuple(f"{name} utterance {i} — ünïcode" for i in range(m)), **spec}
    return RouteRecord(RouteSpec(name, **fields), vectors, "test-embedder-8", T0, T0)  # type: ignore[arg-type]


def _same_route(a: RouteRecord, b: RouteRecord) -> None:
    assert a.spec == b.spec and a.embedder == b.embedder
    assert (a.created_at, a.updated_at) == (b.created_at, b.updated_at)
    assert a.vectors.dtype == np.float32 and np.array_equal(a.vectors, b.vectors)


def test_route_round_trip_every_field(store: Store) -> None:
    full = _route("support", m=5, description="Help with accounts", target_agent="support-agent", priority=-7,
                  threshold=0.625, group="customer", fitted=True,
                  conditions=RouteConditions(1320, 360, ("gold", "platinum"), 60))
    bare = _route("bare", m=1)
    store.insert_route(full)
    store.insert_route(bare)
    _same_route(store.get_route("support"), full)  # type: ignore[arg-type]
    assert [r.name for r in store.list_routes()] == ["bare", "support"]
    _same_route(store.list_routes()[0], bare)
    assert store.get_route("nope") is None


def test_route_insert_conflict_replace_update_delete(store: Store) -> None:
    store.insert_route(_route("a", m=2))
    with pytest.raises(RouteExists):
        store.insert_route(_route("a", m=4))
    assert store.get_route("a").vectors.shape == (2, 8)  # type: ignore[union-attr]
    assert store.insert_route(_route("a", m=4, priority=3), replace=True) is True
    got = store.get_route("a")
    assert got is not None and got.vectors.shape == (4, 8) and got.spec.priority == 3
    store.update_route(_route("a", m=1, description="new"))
    got = store.get_route("a")
    assert got is not None and got.spec.description == "new" and len(got.spec.utterances) == 1
    with pytest.raises(RouteNotFound):
        store.update_route(_route("ghost"))
    assert store.delete_route("a") is True and store.delete_route("a") is False


def test_route_thresholds_and_meta_in_one_transaction(store: Store) -> None:
    store.insert_route(_route("a"))
    store.insert_route(_route("b"))
    store.set_route_thresholds({"a": 0.5, "b": 0.75}, T0 + 1, {"route_calibration": '{"t": 1}'})
    assert [(r.spec.threshold, r.spec.fitted) for r in store.list_routes()] == [(0.5, True), (0.75, True)]
    assert store.get_meta("route_calibration") == '{"t": 1}'
    with pytest.raises(RouteNotFound):
        store.set_route_thresholds({"a": 0.1, "ghost": 0.2}, T0 + 2, {"route_calibration": "{}"})
    assert store.get_route("a").spec.threshold == 0.5  # type: ignore[union-attr]  # nothing written
    assert store.get_meta("route_calibration") == '{"t": 1}'
    store.set_meta({"embedder": "x", "route_calibration": "{}"})
    assert store.get_meta("embedder") == "x" and store.get_meta("missing") is None


def test_reembed_routes_replaces_vectors_and_meta(store: Store) -> None:
    old = _route("a", m=2)
    store.insert_route(old)
    new = RouteRecord(old.spec, np.ones((2, 16), np.float32) / 4, "other-16", T0, T0 + 5)
    store.reembed_routes([new], {"embedder": "other-16"})
    _same_route(store.get_route("a"), new)  # type: ignore[arg-type]
    assert store.get_meta("embedder") == "other-16"


def test_decision_route_name_is_stored(store: Store) -> None:
    d = dataclasses.replace(decision("d-route"), route_name="billing")
    store.append_decisions([d, decision("d-none")])
    assert store.get_decision("d-route").route_name == "billing"  # type: ignore[union-attr]
    assert store.get_decision("d-none").route_name is None  # type: ignore[union-attr]


# -- model versions (routerd.engine.learning) ------------------------------------------------------

def model(status: str = "training", **kw: object) -> ModelRecord:
    base = ModelRecord(0, T0, status, "dataset:x.jsonl", "sha256:ab", "hashing-v2", 384, "head-tail/1")
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_model_versions_number_finish_promote_and_roll_back(store: Store) -> None:
    assert store.list_models() == []
    v1 = store.insert_model(model())
    v2 = store.insert_model(model(source="outcomes", parent=v1))
    assert (v1, v2) == (1, 2)
    weights = bytes(range(256)) * 10
    done = dataclasses.replace(model(), version=v1, status="live", agents=("a", "meta/llama-2-70b-chat"),
                               metrics={"holdout_brier": 0.125, "n_train": 80.0}, reason="better",
                               finished_at=T0 + 5, promoted_at=T0 + 5, weights=weights)
    store.finish_model(done, live=True)
    assert store.get_model(v1) == done
    assert store.get_model(v1, weights=False) == dataclasses.replace(done, weights=None)
    second = dataclasses.replace(model(source="outcomes", parent=v1), version=v2, status="live",
                                 finished_at=T0 + 9, promoted_at=T0 + 9, weights=b"w2")
    store.finish_model(second, live=True)  # the previous live one retires in the same transaction
    assert [(m.version, m.status) for m in store.list_models()] == [(1, "retired"), (2, "live")]
    assert all(m.weights is None for m in store.list_models())
    store.promote_model(v1, T0 + 20, rollback=True)
    assert [(m.version, m.status) for m in store.list_models()] == [(1, "live"), (2, "rolled_back")]
    assert store.get_model(v1).promoted_at == T0 + 5  # type: ignore[union-attr]  # a rollback keeps it
    store.promote_model(v2, T0 + 30)
    assert [(m.version, m.status, m.promoted_at) for m in store.list_models()] == [
        (1, "retired", T0 + 5), (2, "live", T0 + 30)]
    store.promote_model(None, T0 + 40, rollback=True)
    assert [m.status for m in store.list_models()] == ["retired", "rolled_back"]
    with pytest.raises(ModelNotFound):
        store.promote_model(99, T0)
    with pytest.raises(ModelNotFound):
        store.finish_model(dataclasses.replace(done, version=99), live=False)
    assert store.get_model(99) is None


def test_unfinished_trainings_are_marked_failed(store: Store) -> None:
    v = store.insert_model(model())
    store.finish_model(dataclasses.replace(model(), version=store.insert_model(model()), status="rejected"),
                       live=False)
    assert store.fail_unfinished_models("stopped", T0 + 1) == 1
    rec = store.get_model(v)
    assert rec is not None and (rec.status, rec.reason, rec.finished_at) == ("failed", "stopped", T0 + 1)
    assert store.fail_unfinished_models("stopped", T0 + 2) == 0


def test_training_outcomes_join_decisions_with_their_request(store: Store) -> None:
    store.insert_agent(agent("a"))
    emb = np.arange(384, dtype="<f4").tobytes()
    store.append_decisions([decision("d1", agent_name="a", request_text="translate this"),
                            decision("d2", agent_name="a", request_text="", request_embedding=emb)])
    assert store.get_decision("d2").request_embedding == emb  # type: ignore[union-attr]
    assert store.get_decision("d1").request_embedding is None  # type: ignore[union-attr]
    for i, (did, q, ok) in enumerate((("d1", 0.75, True), ("d2", None, False), (None, 1.0, True))):
        store.record_outcome(outcome(i, "a", decision_id=did, quality=q, success=ok), HEALTHY)
    rows = store.training_outcomes(limit=10)
    assert [(r.decision_id, r.request_text, r.request_embedding, r.quality) for r in rows] == [
        ("d1", "translate this", None, 0.75), ("d2", "", emb, 0.0)]  # no decision: not learnable; failure: 0
    assert [r.decision_id for r in store.training_outcomes(limit=1)] == ["d2"]  # the most recent
    assert [r.decision_id for r in store.training_outcomes(limit=10, since=T0 + 0.5)] == ["d2"]


# -- request ids (issue 12) ---------------------------------------------------------------------------

def test_decision_request_id_round_trips(store: Store, store_url: str) -> None:
    rid = "pg-4242-123456789-0a1b2c3d"
    store.append_decisions([decision("r1", request_id=rid), decision("r2"),
                            decision("r3", agent_name=None, request_id="x" * 128)])
    assert store.get_decision("r1").request_id == rid  # type: ignore[union-attr]
    assert store.get_decision("r2").request_id is None  # type: ignore[union-attr]
    assert store.get_decision("r3").request_id == "x" * 128  # type: ignore[union-attr]
    assert raw_rows(store_url, "SELECT request_id FROM decisions WHERE decision_id = 'r1'") == [(rid,)]


# -- time series (the dashboard, issue 12) ------------------------------------------------------------

def test_time_series_buckets_decisions_and_outcomes(store: Store) -> None:
    from routerd.errors import InvalidArgument
    from routerd.store.base import TimeBucket

    store.insert_agent(agent("a"))
    store.append_decisions([decision("t0", decided_at=T0 + 0.0), decision("t1", decided_at=T0 + 9.999),
                            decision("t2", decided_at=T0 + 10.0, agent_name=None),
                            decision("t3", decided_at=T0 + 25.0), decision("t4", decided_at=T0 + 25.5, agent_name=None),
                            decision("early", decided_at=T0 - 0.001), decision("late", decided_at=T0 + 30.0)])
    for i, (at, ok, cost) in enumerate(((T0 + 1, True, 0.25), (T0 + 2, False, None), (T0 + 21, True, 0.125),
                                        (T0 + 29.5, True, 0.5), (T0 + 30, True, 9.0), (T0 - 1, True, 9.0))):
        store.record_outcome(outcome(i, "a", at=at, success=ok, cost=cost), HEALTHY)
    got = store.time_series(T0, 10.0, 3)
    assert got == [TimeBucket(T0, 2, 0, 2, 1, 0.25), TimeBucket(T0 + 10, 1, 1, 0, 0, 0.0),
                   TimeBucket(T0 + 20, 2, 1, 2, 2, 0.625)]
    assert sum(b.decisions for b in store.time_series(T0 - 10, 10.0, 5)) == store.count_decisions() == 7
    assert store.time_series(T0 + 1000, 60.0, 2) == [TimeBucket(T0 + 1000, 0, 0, 0, 0, 0.0),
                                                      TimeBucket(T0 + 1060, 0, 0, 0, 0, 0.0)]
    for bad, field in (((T0, 0.0, 3), "bucket_s"), ((T0, float("nan"), 3), "bucket_s"), ((T0, 10.0, 0), "buckets"),
                       ((T0, 10.0, 10_001), "buckets")):
        with pytest.raises(InvalidArgument) as e:
            store.time_series(*bad)  # type: ignore[arg-type]
        assert e.value.field == field
