"""The observer seam (routerd.engine.engine.Observer) and its Prometheus implementation
(routerd.observability.Metrics), label capping, request ids and the JSON log format, in process."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

import numpy as np
import pytest

from routerd.engine.engine import Engine, ObservedEmbedder
from routerd.engine.query import RouteQuery
from routerd.errors import InvalidArgument, StoreUnavailable
from routerd.observability import (
    _REQUEST_ID,
    OTHER_AGENT,
    RULE_LABELS,
    AgentLabels,
    JsonFormatter,
    Metrics,
    request_id_of,
)
from tests.harness.engine import spec


def value(m: Metrics, name: str, **labels: str) -> float:
    v = m.registry.get_sample_value(name, labels)
    return 0.0 if v is None else v


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(max_agent_labels=2, process=False)


@pytest.fixture
def observed(make_engine: Callable[..., Engine], metrics: Metrics) -> Engine:
    e = make_engine(observer=metrics)
    metrics.bind(e)
    for name, caps, price in (("a", ("alpha",), 0.001), ("b", ("beta",), 0.002), ("c", ("gamma",), 0.003)):
        e.registry.register(spec(name, capabilities=(*caps, "general"), per_call=price))
    return e


def test_rule_labels_are_the_feasibility_rules_in_snake_case() -> None:
    assert sorted(RULE_LABELS.values()) == sorted(["inactive", "circuit_open", "excluded", "missing_capability",
                                                   "max_cost", "budget_remaining", "max_latency_ms", "min_quality"])


def test_agent_labels_are_capped() -> None:
    labels = AgentLabels(2)
    assert [labels(n) for n in ("x", "y", "z", "x", "w", "y")] == ["x", "y", OTHER_AGENT, "x", OTHER_AGENT, "y"]
    with pytest.raises(InvalidArgument) as e:
        AgentLabels(0)
    assert e.value.field == "max_agent_labels"


def test_decisions_counted_by_agent_objective_and_outcome(observed: Engine, metrics: Metrics) -> None:
    for _ in range(4):
        observed.route(RouteQuery(text="hello", required_capabilities=("alpha",)))
    observed.route(RouteQuery(text="hello", required_capabilities=("beta",), objective="cost"))
    for _ in range(3):  # the third agent is over the cap of 2 labels: "_other"
        observed.route(RouteQuery(text="hello", required_capabilities=("gamma",)))
    for _ in range(2):
        observed.route(RouteQuery(text="hello", max_cost=0.0))
    observed.route(RouteQuery(text="hello", required_capabilities=("nothing",)))
    d = "tinydancer_decisions_total"
    assert value(metrics, d, agent="a", objective="balanced", outcome="routed") == 4
    assert value(metrics, d, agent="b", objective="cost", outcome="routed") == 1
    assert value(metrics, d, agent=OTHER_AGENT, objective="balanced", outcome="routed") == 3
    assert value(metrics, d, agent="", objective="balanced", outcome="infeasible") == 3
    r = "tinydancer_infeasible_reasons_total"
    assert value(metrics, r, rule="max_cost") == 2
    assert value(metrics, r, rule="missing_capability") == 1
    assert value(metrics, r, rule="circuit_open") == 0
    assert value(metrics, "tinydancer_decision_seconds_count", call="route") == 11
    assert 0 < value(metrics, "tinydancer_decision_seconds_sum", call="route") < 5
    # text requests were embedded through the observed embedder
    assert value(metrics, "tinydancer_embedded_texts_total") >= 11
    assert value(metrics, "tinydancer_embed_seconds_count") >= 1


def test_a_batch_is_one_observation_and_every_decision_counts(observed: Engine, metrics: Metrics) -> None:
    qs = [RouteQuery(text=f"q{i}", required_capabilities=("alpha",)) for i in range(5)]
    qs.append(RouteQuery(text="none", max_cost=0.0))
    observed.route_batch(qs)
    assert value(metrics, "tinydancer_decisions_total", agent="a", objective="balanced", outcome="routed") == 5
    assert value(metrics, "tinydancer_decisions_total", agent="", objective="balanced", outcome="infeasible") == 1
    assert value(metrics, "tinydancer_infeasible_reasons_total", rule="max_cost") == 1
    assert value(metrics, "tinydancer_decision_seconds_count", call="batch") == 1
    assert value(metrics, "tinydancer_decision_seconds_count", call="route") == 0


def test_no_agents_is_its_own_reason(make_engine: Callable[..., Engine], metrics: Metrics) -> None:
    e = make_engine(observer=metrics)
    d = e.route(RouteQuery(text="hello"))
    assert d.agent_name is None
    assert value(metrics, "tinydancer_infeasible_reasons_total", rule="no_agents") == 1


def test_outcomes_and_spend(observed: Engine, metrics: Metrics) -> None:
    d = observed.route(RouteQuery(text="hello", required_capabilities=("alpha",)))
    observed.record_outcome(decision_id=d.decision_id, latency_ms=10.0, success=True, cost=0.5)
    observed.record_outcome(agent_name="a", latency_ms=10.0, success=False, cost=0.25)
    observed.record_outcome(agent_name="b", latency_ms=10.0, success=True)
    assert value(metrics, "tinydancer_outcomes_total", agent="a", success="true") == 1
    assert value(metrics, "tinydancer_outcomes_total", agent="a", success="false") == 1
    assert value(metrics, "tinydancer_outcomes_total", agent="b", success="true") == 1
    assert value(metrics, "tinydancer_outcome_cost_dollars_total", agent="a") == pytest.approx(0.75)
    with pytest.raises(InvalidArgument):  # refused before anything is stored: not counted
        observed.record_outcome(agent_name="a", latency_ms=-1.0, success=True)
    assert value(metrics, "tinydancer_outcomes_total", agent="a", success="true") == 1


def test_scrape_time_gauges(observed: Engine, metrics: Metrics) -> None:
    for _ in range(observed.policy.consecutive_failures):
        observed.record_outcome(agent_name="b", latency_ms=10.0, success=False)
    observed.registry.set_active("a", False)
    assert value(metrics, "tinydancer_circuit_state", agent="a", state="closed") == 1
    assert value(metrics, "tinydancer_circuit_state", agent="b", state="open") == 1
    assert value(metrics, "tinydancer_circuit_state", agent="b", state="closed") == 0
    # "c" is over the label cap: counted by state, without a series of its own
    assert metrics.registry.get_sample_value("tinydancer_circuit_state", {"agent": "c", "state": "closed"}) is None
    assert value(metrics, "tinydancer_circuits", state="open") == 1
    assert value(metrics, "tinydancer_circuits", state="closed") == 2
    assert value(metrics, "tinydancer_agents", active="false") == 1
    assert value(metrics, "tinydancer_agents", active="true") == 2
    assert value(metrics, "tinydancer_model_version") == 0  # no learned model is live
    assert value(metrics, "tinydancer_model_info", version=observed.router.model.version) == 1
    assert value(metrics, "tinydancer_decision_log_pending") == 0


def test_store_errors_are_counted_and_the_call_fails(observed: Engine, metrics: Metrics) -> None:
    observed.store.close()
    with pytest.raises(StoreUnavailable):
        observed.route(RouteQuery(text="hello"))
    with pytest.raises(StoreUnavailable):
        observed.record_outcome(agent_name="a", latency_ms=1.0, success=True)
    assert value(metrics, "tinydancer_store_errors_total", operation="decisions") == 1
    assert value(metrics, "tinydancer_store_errors_total", operation="outcomes") == 1
    assert value(metrics, "tinydancer_decision_seconds_count", call="route") == 0  # not made: not counted


def test_without_an_observer_the_engine_is_as_before(engine: Engine) -> None:
    assert engine.observer is None
    assert not isinstance(engine.embedder, ObservedEmbedder)
    assert engine.record_outcome == engine.feedback.record_outcome


def test_observed_embedder_delegates(observed: Engine, metrics: Metrics) -> None:
    emb = observed.embedder
    assert isinstance(emb, ObservedEmbedder)
    before = value(metrics, "tinydancer_embedded_texts_total")
    out = emb.embed(["one", "two", "three"])
    assert out.shape == (3, emb.dim) and np.isfinite(out).all()
    assert value(metrics, "tinydancer_embedded_texts_total") == before + 3
    assert emb.name == emb.inner.name


def test_request_id_is_stored_with_the_decision(observed: Engine) -> None:
    d = observed.route(RouteQuery(text="hello", request_id="abc-123"))
    rec = observed.store.get_decision(d.decision_id)
    assert rec is not None and rec.request_id == "abc-123"
    ds = observed.route_batch([RouteQuery(text=t, request_id="batch-1") for t in ("x", "y")])
    for d in ds:
        rec = observed.store.get_decision(d.decision_id)
        assert rec is not None and rec.request_id == "batch-1"
    d = observed.route(RouteQuery(text="no id"))
    rec = observed.store.get_decision(d.decision_id)
    assert rec is not None and rec.request_id is None


@pytest.mark.parametrize("bad", ["", "x" * 129, "tab\there", "é", "nul\x00"])
def test_request_id_is_validated(observed: Engine, bad: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        observed.route(RouteQuery(text="hello", request_id=bad))
    assert e.value.field == "request_id"
    assert request_id_of([("x-request-id", bad)]) != bad


def test_request_id_from_metadata_or_generated() -> None:
    assert request_id_of([("authorization", "Bearer t"), ("x-request-id", "req-7 ok")]) == "req-7 ok"
    assert request_id_of([("x-request-id", "x" * 128)]) == "x" * 128
    generated = request_id_of(None)
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert request_id_of([]) != generated


def test_json_formatter() -> None:
    fmt = JsonFormatter()
    rec = logging.LogRecord("routerd.rpc", logging.INFO, __file__, 1, "%s took %d ms", ("Route", 3), None)
    rec.method = "/tinydancer.v1.Router/Route"
    token = _REQUEST_ID.set("rid-1")
    try:
        line = fmt.format(rec)
    finally:
        _REQUEST_ID.reset(token)
    out = json.loads(line)
    assert "\n" not in line
    assert out["level"] == "INFO" and out["logger"] == "routerd.rpc" and out["message"] == "Route took 3 ms"
    assert out["request_id"] == "rid-1" and out["method"] == "/tinydancer.v1.Router/Route"
    assert out["ts"].endswith("Z") and "T" in out["ts"]
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        rec = logging.LogRecord("routerd", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(fmt.format(rec))
    assert "request_id" not in out and "ValueError: boom" in out["exc"]


@pytest.mark.parametrize(("flags", "field"), [
    ({"metrics_listen": "9100"}, "metrics_listen"),
    ({"metrics_listen": "localhost:http"}, "metrics_listen"),
    ({"metrics_listen": "localhost:70000"}, "metrics_listen"),
    ({"log_format": "xml"}, "log_format"),
    ({"max_agent_labels": "0"}, "max_agent_labels"),
])
def test_bad_observability_config_names_the_field(flags: dict[str, str], field: str) -> None:
    from routerd.config import load_config

    with pytest.raises(InvalidArgument) as e:
        load_config(flags, env={})
    assert e.value.field == field


def test_observability_config() -> None:
    from routerd.config import load_config, parse_host_port

    cfg = load_config(env={"TINYDANCER_METRICS_LISTEN": "0.0.0.0:9464", "TINYDANCER_LOG_FORMAT": "json"})
    assert (cfg.metrics_listen, cfg.log_format, cfg.max_agent_labels) == ("0.0.0.0:9464", "json", 200)
    assert load_config(env={}).metrics_listen == ""  # off by default
    assert parse_host_port("[::1]:0", "metrics_listen") == ("::1", 0)
