"""The learned quality model inside the engine: training from a dataset and from the outcome log,
the shadow evaluation that decides promotion, promote/rollback, the blend with observed quality,
calibrated confidence, durability of versions, and the errors (``routerd.engine.learning``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from routerd.domain import AgentSpec, CostModel
from routerd.engine.engine import Engine
from routerd.engine.learning import (
    EVIDENCE_K,
    LearnedQuality,
    TrainOptions,
    decode_model,
    encode_model,
)
from routerd.engine.query import RouteQuery
from routerd.errors import FailedPrecondition, InvalidArgument, ModelNotFound, TrainingInProgress
from routerd.model.datasets import RoutingDataset, validate_record
from routerd.model.features import FEATURES
from routerd.store import open_store
from tests.harness import learning as L


def dataset(n: int, seed: int, name: str = "synthetic.jsonl", **kw: Any) -> RoutingDataset:
    recs = [validate_record(r, f"{name}:{i + 1}") for i, r in enumerate(L.records(n, seed, **kw))]
    return RoutingDataset.from_records(recs, name)


def train(engine: Engine, **kw: Any) -> Any:
    job = engine.models.start_training(TrainOptions(**kw))
    return job.result(timeout=120)


def choices(engine: Engine, kind: str, n: int = 20, seed: int = 7, **kw: Any) -> list[str | None]:
    rng = np.random.default_rng(seed)
    return [engine.route(RouteQuery(text=L.prompt(kind, rng), objective="balanced", **kw)).agent_name
            for _ in range(n)]


def test_training_on_a_dataset_registers_its_agents_and_routes_each_kind_to_its_agent(engine: Engine) -> None:
    # Before: no model, the same agent for every request (observed quality is per agent).
    rec = train(engine, dataset=dataset(600, 1))
    assert rec.status == "live", rec.reason
    assert rec.metrics["holdout_brier"] < rec.metrics["current_brier"]
    assert rec.metrics["agents_registered"] == 2
    assert rec.embedder == engine.embedder.name and rec.features == FEATURES
    assert set(rec.agents) == {L.CHEAP, L.DEAR}
    specs = {r.name: r.spec for r in engine.registry.snapshot()[1]}
    # fitted price model and mean quality as the prior
    assert specs[L.CHEAP].cost.per_call == pytest.approx(L.CHEAP_COST, rel=1e-6)
    assert specs[L.DEAR].cost.per_call == pytest.approx(L.DEAR_COST, rel=1e-6)
    assert 0.4 < specs[L.CHEAP].quality_prior < 0.6 and specs[L.DEAR].quality_prior > 0.8
    assert choices(engine, "translate") == [L.CHEAP] * 20
    assert choices(engine, "proof") == [L.DEAR] * 20
    d = engine.route(RouteQuery(text="Translate into French: the house", objective="balanced"))
    assert d.model_version == f"fastgrnn/{rec.version}"
    assert d.confidence == pytest.approx(d.expected_quality)  # calibrated P(adequate) of the choice
    assert engine.stats().model_version == d.model_version


def test_a_dataset_training_leaves_registered_agents_specs_alone(engine: Engine) -> None:
    spec = AgentSpec(name=L.DEAR, agent_type="llm", capabilities=("reasoning",), cost=CostModel(per_call=0.02),
                     quality_prior=0.7)
    engine.registry.register(spec)
    rec = train(engine, dataset=dataset(300, 2))
    assert rec.metrics["agents_registered"] == 1
    assert engine.registry.get(L.DEAR).spec == spec


def test_batch_route_uses_the_model_per_request(engine: Engine) -> None:
    train(engine, dataset=dataset(600, 1))
    rng = np.random.default_rng(3)
    queries = [RouteQuery(text=L.prompt(k, rng), objective="balanced") for k in ("translate", "proof") * 10]
    ds = engine.route_batch(queries)
    assert [d.agent_name for d in ds] == [L.CHEAP, L.DEAR] * 10
    one = [engine.route(q) for q in queries]
    for a, b in zip(ds, one, strict=True):  # one request or many: the same estimates
        assert a.expected_quality == pytest.approx(b.expected_quality, abs=1e-5)


def test_the_model_blends_with_observed_quality_by_evidence(engine: Engine) -> None:
    rec = train(engine, dataset=dataset(200, 4))
    live = engine.models.live
    assert isinstance(live, LearnedQuality)
    table = engine.table()
    # an agent the model never saw, with no description the head could tell apart: it is scored by
    # the embedding head at NEW_AGENT_WEIGHT, blended with its prior
    engine.registry.register(AgentSpec(name="newcomer", agent_type="llm", quality_prior=0.3))
    table = engine.table()
    x = engine.embedder.embed(["Translate into French: the river"])
    q = live.predict(table, [RouteQuery(embedding=x[0])], None)[0]
    model_q = live.inference.predict_one(x[0], live._table_heads(table).heads)
    obs = table.observed_quality
    n = live.estimator.evidence(list(table.names)).astype(float)
    for j, name in enumerate(table.names):
        if name == "newcomer":
            assert q[j] == pytest.approx(0.5 * model_q[j] + 0.5 * obs[j], abs=1e-6)
        else:
            w = n[j] / (n[j] + EVIDENCE_K)
            assert q[j] == pytest.approx(w * model_q[j] + (1 - w) * obs[j], abs=1e-6)
    assert rec.version == live.number


def test_a_worse_candidate_is_not_promoted_and_the_live_model_keeps_routing(engine: Engine) -> None:
    good = train(engine, dataset=dataset(600, 1))
    before = choices(engine, "translate") + choices(engine, "proof")
    bad = train(engine, dataset=dataset(600, 1), hyperparameters={"epochs": 1, "learning_rate": 1e-6})
    assert bad.status == "rejected", bad.reason
    assert bad.metrics["holdout_brier"] >= bad.metrics["current_brier"]
    assert f"fastgrnn/{good.version}" in bad.reason
    assert engine.models.live is not None and engine.models.live.number == good.version
    assert choices(engine, "translate") + choices(engine, "proof") == before


def test_rollback_restores_the_previous_decisions(engine: Engine) -> None:
    first = train(engine, dataset=dataset(600, 1))
    with_first = choices(engine, "translate") + choices(engine, "proof")
    assert set(with_first) == {L.CHEAP, L.DEAR}
    # a second model that learned the opposite skills (a shifted world) is better on its own data
    second = train(engine, dataset=dataset(600, 2, flip=True))
    assert second.status == "live", second.reason
    with_second = choices(engine, "translate") + choices(engine, "proof")
    assert with_second != with_first
    back = engine.models.rollback()
    assert back is not None and back.version == first.version and back.status == "live"
    assert choices(engine, "translate") + choices(engine, "proof") == with_first
    statuses = {m.version: m.status for m in engine.models.versions()}
    assert statuses == {first.version: "live", second.version: "rolled_back"}
    assert engine.models.rollback() is None  # back to no model: the observed quality, one agent for all
    assert choices(engine, "translate") + choices(engine, "proof") == [L.DEAR] * 40
    assert engine.route(RouteQuery(text="x")).model_version == "observed-quality/1"
    with pytest.raises(FailedPrecondition, match="nothing to roll back"):
        engine.models.rollback()
    # promotion by hand serves any trained version again
    assert engine.models.promote(second.version).status == "live"
    assert choices(engine, "translate") + choices(engine, "proof") == with_second


def test_retraining_from_outcomes_shifts_routing_to_the_cheap_agent_where_it_is_better(
        make_engine: Callable[..., Engine], clock: Any) -> None:
    engine = make_engine()
    for name, cost, prior in ((L.CHEAP, L.CHEAP_COST, 0.5), (L.DEAR, L.DEAR_COST, 0.9)):
        engine.registry.register(AgentSpec(name=name, agent_type="llm", cost=CostModel(per_call=cost),
                                           quality_prior=prior))
    assert set(choices(engine, "translate")) == {L.DEAR}  # the cheap agent looks mediocre on average
    rng = np.random.default_rng(11)
    for i in range(400):
        kind = "translate" if i % 2 else "proof"
        agent = L.CHEAP if i % 4 in (0, 1) else L.DEAR  # both agents on both kinds (an exploration share)
        other = L.DEAR if agent == L.CHEAP else L.CHEAP
        d = engine.route(RouteQuery(text=L.prompt(kind, rng), excluded_agents=(other,)))
        assert d.agent_name == agent
        clock.advance(1.0)  # the held-out part is the most recent outcomes
        q = float(rng.random() < L.QUALITY[(agent, kind)])
        engine.record_outcome(decision_id=d.decision_id, latency_ms=100.0, success=True, quality=q)
    rec = train(engine)
    assert rec.source == "outcomes" and rec.status == "live", rec.reason
    assert rec.metrics["n_train"] + rec.metrics["n_holdout"] == 400
    assert choices(engine, "translate") == [L.CHEAP] * 20
    assert choices(engine, "proof") == [L.DEAR] * 20


def test_outcomes_of_requests_sent_as_embeddings_train_on_those_embeddings(make_engine: Callable[..., Engine],
                                                                           clock: Any) -> None:
    engine = make_engine()
    for name, cost in ((L.CHEAP, L.CHEAP_COST), (L.DEAR, L.DEAR_COST)):
        engine.registry.register(AgentSpec(name=name, agent_type="llm", cost=CostModel(per_call=cost)))
    rng = np.random.default_rng(5)
    for i in range(400):
        kind = "translate" if i % 2 else "proof"
        agent = L.CHEAP if i % 4 in (0, 1) else L.DEAR
        other = L.DEAR if agent == L.CHEAP else L.CHEAP
        emb = engine.embedder.embed([L.prompt(kind, rng)])[0]
        d = engine.route(RouteQuery(embedding=emb, excluded_agents=(other,)))
        clock.advance(1.0)
        engine.record_outcome(decision_id=d.decision_id, latency_ms=50.0, success=True,
                              quality=float(rng.random() < L.QUALITY[(agent, kind)]))
    stored = engine.store.training_outcomes(limit=10)
    assert all(t.request_text == "" and t.request_embedding is not None for t in stored)
    rec = train(engine)
    assert rec.status == "live", rec.reason
    x = engine.embedder.embed([L.prompt("translate", rng)])[0]
    assert engine.route(RouteQuery(embedding=x, objective="balanced")).agent_name == L.CHEAP


def test_versions_survive_a_restart_and_the_live_one_is_served(db_path: Any, embedder: Any, clock: Any) -> None:
    store = open_store(f"sqlite://{db_path}")
    engine = Engine(store, embedder, clock=clock)
    rec = train(engine, dataset=dataset(300, 1))
    before = choices(engine, "translate") + choices(engine, "proof")
    engine.close()
    store.close()
    store = open_store(f"sqlite://{db_path}")
    engine = Engine(store, embedder, clock=clock)
    try:
        assert engine.models.live is not None and engine.models.live.number == rec.version
        assert choices(engine, "translate") + choices(engine, "proof") == before
        info = engine.models.info()
        assert info is not None and info.metrics == rec.metrics and info.fingerprint == rec.fingerprint
    finally:
        engine.close()
        store.close()


def test_a_training_cut_short_by_a_stop_is_marked_failed_at_startup(db_path: Any, embedder: Any, clock: Any) -> None:
    from routerd.domain import ModelRecord

    store = open_store(f"sqlite://{db_path}")
    v = store.insert_model(ModelRecord(0, 1.0, "training", "outcomes", "", embedder.name, embedder.dim, FEATURES))
    engine = Engine(store, embedder, clock=clock)
    try:
        rec = engine.models.info(v)
        assert rec is not None and rec.status == "failed" and "stopped" in rec.reason
        assert engine.models.live is None
    finally:
        engine.close()
        store.close()


def test_model_file_round_trip(engine: Engine) -> None:
    train(engine, dataset=dataset(200, 1))
    live = engine.models.live
    assert live is not None
    head, est = decode_model(encode_model(live.estimator, {"version": 1, "embedder": "x"}))
    assert head["embedder"] == "x" and head["format"] == "tinydancer-model"
    x = np.random.default_rng(0).normal(size=(3, 2, engine.embedder.dim))
    np.testing.assert_allclose(est.predict_quality(x), live.estimator.predict_quality(x))
    with pytest.raises(InvalidArgument, match="model"):
        decode_model(b"not a model")


# -- errors -----------------------------------------------------------------------------------------

def test_training_while_another_training_runs_is_refused(engine: Engine) -> None:
    job = engine.models.start_training(TrainOptions(dataset=dataset(2000, 1)))
    try:
        with pytest.raises(TrainingInProgress, match=f"model version {job.version} is training"):
            engine.models.start_training(TrainOptions(dataset=dataset(50, 2)))
    finally:
        job.result(timeout=300)


def test_bad_training_input_is_refused_before_anything_changes(engine: Engine) -> None:
    with pytest.raises(InvalidArgument, match="hyperparameters.epochs"):
        engine.models.start_training(TrainOptions(dataset=dataset(50, 1), hyperparameters={"epochs": 0}))
    with pytest.raises(InvalidArgument, match="hyperparameters.dropout"):
        engine.models.start_training(TrainOptions(dataset=dataset(50, 1), hyperparameters={"dropout": 0.1}))
    with pytest.raises(InvalidArgument, match="holdout_fraction"):
        engine.models.start_training(TrainOptions(dataset=dataset(50, 1), holdout_fraction=0.9))
    with pytest.raises(InvalidArgument, match="at least 8"):
        engine.models.start_training(TrainOptions(dataset=dataset(3, 1)))
    recs = [validate_record({**r, "embedding": [0.1] * 10, "embedder": "other-embedder"}, f"e:{i + 1}")
            for i, r in enumerate(L.records(20, 1))]
    with pytest.raises(InvalidArgument, match="other-embedder"):
        engine.models.start_training(TrainOptions(dataset=RoutingDataset.from_records(recs, "e.jsonl")))
    assert engine.models.versions() == [] and engine.registry.snapshot()[1] == []


def test_training_from_an_empty_outcome_log_fails_and_leaves_the_live_model(engine: Engine) -> None:
    good = train(engine, dataset=dataset(200, 1))
    engine.registry.remove(L.CHEAP)  # outcomes of removed agents are not learned from
    failed = train(engine)
    assert failed.status == "failed" and "at least 8" in failed.reason
    assert engine.models.live is not None and engine.models.live.number == good.version


def test_promoting_unknown_failed_or_foreign_versions_is_refused(engine: Engine) -> None:
    with pytest.raises(ModelNotFound, match="no model version 42"):
        engine.models.promote(42)
    failed = train(engine)  # nothing to learn from
    with pytest.raises(FailedPrecondition, match="failed"):
        engine.models.promote(failed.version)


def test_a_model_of_another_embedder_is_not_served(db_path: Any, clock: Any) -> None:
    from routerd.model.embedders import HashingEmbedder

    store = open_store(f"sqlite://{db_path}")
    engine = Engine(store, HashingEmbedder(384), clock=clock)
    rec = train(engine, dataset=dataset(100, 1))
    engine.close()
    store.close()
    store = open_store(f"sqlite://{db_path}")
    try:
        with pytest.raises(FailedPrecondition, match="trained on"):
            Engine(store, HashingEmbedder(128), clock=clock)
    finally:
        store.close()
    assert rec.status == "live"


def test_evaluate_reports_the_model_next_to_the_baselines(engine: Engine) -> None:
    train(engine, dataset=dataset(600, 1))
    version, result, ece = engine.models.evaluate(dataset(300, 9, "test.jsonl"))
    assert version == engine.models.live.version and 0 <= ece <= 1  # type: ignore[union-attr]
    assert set(result.routers) >= {version, "k-NN (5-fold)", "logistic regression (5-fold)", "task-aware (5-fold)",
                                   "random (matched cost)", "oracle"}
    model = result.routers[version]
    assert model.auc > result.routers["random (matched cost)"].auc
    with pytest.raises(InvalidArgument, match="not registered"):
        engine.registry.remove(L.CHEAP)
        engine.models.evaluate(dataset(300, 9, "test.jsonl"))


def test_the_decision_log_keeps_the_chunks_the_model_reads() -> None:
    from routerd.engine.decision_log import REQUEST_TEXT_MAX, logged_text
    from routerd.model.features import chunks

    long = "Example question. " * 400 + "And finally: which option is right?"
    kept = logged_text(long)
    assert len(kept) <= REQUEST_TEXT_MAX + 3 and chunks(kept) == chunks(long)
    assert logged_text("short\x00 text") == "short text"


def test_scheduled_retraining_promotes_a_better_model_from_new_outcomes(make_engine: Callable[..., Engine],
                                                                       clock: Any) -> None:
    import time

    engine = make_engine(retrain_interval_s=0.05, retrain_min_outcomes=400)
    for name, cost, prior in ((L.CHEAP, L.CHEAP_COST, 0.5), (L.DEAR, L.DEAR_COST, 0.9)):
        engine.registry.register(AgentSpec(name=name, agent_type="llm", cost=CostModel(per_call=cost),
                                           quality_prior=prior))
    rng = np.random.default_rng(11)
    for i in range(399):
        kind = "translate" if i % 2 else "proof"
        agent = L.CHEAP if i % 4 in (0, 1) else L.DEAR
        other = L.DEAR if agent == L.CHEAP else L.CHEAP
        d = engine.route(RouteQuery(text=L.prompt(kind, rng), excluded_agents=(other,)))
        clock.advance(1.0)
        engine.record_outcome(decision_id=d.decision_id, latency_ms=10.0, success=True,
                              quality=float(rng.random() < L.QUALITY[(agent, kind)]))
    time.sleep(0.3)
    assert engine.models.versions() == []  # 399 < retrain_min_outcomes: nothing trains
    d = engine.route(RouteQuery(text=L.prompt("translate", rng), excluded_agents=(L.DEAR,)))
    engine.record_outcome(decision_id=d.decision_id, latency_ms=10.0, success=True, quality=1.0)
    deadline = time.monotonic() + 60
    while engine.models.live is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.models.live is not None
    (rec,) = engine.models.versions()
    assert rec.source == "outcomes" and rec.status == "live"
    assert choices(engine, "translate") == [L.CHEAP] * 20
    time.sleep(0.3)
    assert len(engine.models.versions()) == 1  # no new outcomes since: no second training


def test_every_trained_version_has_its_model_file_in_the_data_dir(engine: Engine, db_path: Any) -> None:
    from routerd.engine.learning import model_file_name

    rec = train(engine, dataset=dataset(200, 1))
    path = db_path.parent / "models" / model_file_name(rec.version)
    stored = engine.store.get_model(rec.version)
    assert stored is not None and path.read_bytes() == stored.weights
    head, est = decode_model(path.read_bytes())
    assert head["version"] == rec.version and head["fingerprint"] == rec.fingerprint
    assert head["embedder"] == engine.embedder.name and head["features"] == FEATURES
    assert head["agents"] == list(rec.agents) and head["metrics"] == rec.metrics
    assert not list(path.parent.glob("*.tmp"))
