"""Issue 7, items 2, 3, 4, 12 and 14 at the engine: every number has a documented range, everything
derived from them is finite and representable (JSON, float8, protobuf Timestamp), metadata is strict
JSON, times are in range before anything is written, batches and free text are bounded before work."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from routerd.api.convert import decision_size_bound, decision_to_proto, outcome_to_proto
from routerd.config import Config, load_config
from routerd.domain import OBJECTIVES, AgentRecord, AgentSpec, AgentStats, CostModel
from routerd.engine import engine as engine_module
from routerd.engine.engine import Engine
from routerd.engine.health import BreakerPolicy
from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable
from routerd.engine.validation import (
    COST_MAX,
    ESTIMATED_COST_MAX,
    LATENCY_MAX_MS,
    LATENCY_MIN_MS,
    PRICE_MAX,
    TEXT_MAX,
    TIME_MAX,
    TIME_MIN,
    TOKENS_MAX,
    TYPICAL_OUTPUT_TOKENS_MAX,
    WTP_MAX,
    WTP_MIN,
)
from routerd.errors import BatchTooLarge, InvalidArgument
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.store import Store
from tests.harness.engine import spec

TEXT = "summarise this paragraph"


def invalid(call: Callable[[], object], field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as exc:
        call()
    assert exc.value.field == field, str(exc.value)
    assert len(str(exc.value)) < 400, "a message never echoes a huge value"
    return exc.value


def all_finite(msg: object) -> None:
    """Every double in a message (recursively) is finite, and the message renders as strict JSON."""
    text = json_format.MessageToJson(msg)  # type: ignore[arg-type]
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {text[:200]}"))
    for field, value in msg.ListFields():  # type: ignore[attr-defined]
        scalar = isinstance(value, Message | str | bytes | float | int)
        for v in [value] if scalar else value:
            if isinstance(v, Message):
                all_finite(v)
            elif isinstance(v, float):
                assert math.isfinite(v), (field.name, v)


# -- item 2: numbers at registration -------------------------------------------------------------------

@pytest.mark.parametrize(("kw", "field"), [
    *[({part: PRICE_MAX * 1.000001}, f"agent.cost.{name}") for part, name in (
        ("per_1k_input", "per_1k_input_tokens"), ("per_1k_output", "per_1k_output_tokens"),
        ("per_call", "per_call"), ("per_second", "per_second"))],
    ({"per_call": 1e308}, "agent.cost.per_call"),
    ({"per_1k_input": 1e306}, "agent.cost.per_1k_input_tokens"),
    ({"latency": 1e-300}, "agent.latency_prior_ms"),
    ({"latency": LATENCY_MIN_MS * 0.999}, "agent.latency_prior_ms"),
    ({"latency": LATENCY_MAX_MS * 1.000001}, "agent.latency_prior_ms"),
    ({"latency": 1e308}, "agent.latency_prior_ms"),
    ({"quality": 1.0000001}, "agent.quality_prior"),
    ({"typical_output_tokens": TYPICAL_OUTPUT_TOKENS_MAX + 1}, "agent.typical_output_tokens"),
])
def test_numbers_past_their_range_are_refused(engine: Engine, kw: dict[str, float], field: str) -> None:
    e = invalid(lambda: engine.registry.register(spec("a", **kw)), field)  # type: ignore[arg-type]
    assert "<=" in e.problem or ">=" in e.problem  # the message states the bound
    assert engine.registry.snapshot()[1] == []


def test_numbers_at_their_range_ends_are_accepted(engine: Engine) -> None:
    engine.registry.register(spec("top", per_1k_input=PRICE_MAX, per_1k_output=PRICE_MAX, per_call=PRICE_MAX,
                                  per_second=PRICE_MAX, latency=LATENCY_MAX_MS, quality=1.0,
                                  typical_output_tokens=TYPICAL_OUTPUT_TOKENS_MAX))
    low = engine.registry.register(spec("low", per_call=-0.0, latency=LATENCY_MIN_MS, quality=0.0))
    assert math.copysign(1.0, low.spec.cost.per_call) == 1.0  # -0 is read as 0


def test_a_price_update_past_the_range_is_refused_and_nothing_changes(engine: Engine) -> None:
    before = engine.registry.register(spec("a", per_call=0.01))
    invalid(lambda: engine.registry.update("a", {"cost.per_call": 1e308}), "agent.cost.per_call")
    assert engine.registry.get("a") == before


def worst_agents(engine: Engine) -> None:
    """Agents at every end of every range."""
    engine.registry.register(spec("dearest", per_1k_input=PRICE_MAX, per_1k_output=PRICE_MAX, per_call=PRICE_MAX,
                                  per_second=PRICE_MAX, latency=LATENCY_MAX_MS, quality=1.0,
                                  typical_output_tokens=TYPICAL_OUTPUT_TOKENS_MAX))
    engine.registry.register(spec("free-and-fast", latency=LATENCY_MIN_MS, quality=0.0))
    engine.registry.register(spec("middle", per_call=0.01, latency=500.0, quality=0.7))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("extra", [
    {}, {"input_tokens": TOKENS_MAX, "output_tokens": TOKENS_MAX}, {"text": "x" * TEXT_MAX},
    {"willingness_to_pay": WTP_MIN}, {"willingness_to_pay": WTP_MAX},
    {"willingness_to_pay": WTP_MIN, "input_tokens": TOKENS_MAX, "output_tokens": TOKENS_MAX},
    {"max_cost": 1e300, "budget_remaining": 1e300},
])
def test_every_estimate_is_finite_and_representable(engine: Engine, objective: str, extra: dict[str, object]) -> None:
    worst_agents(engine)
    kw: dict[str, object] = {"text": TEXT, "objective": objective, **extra}
    for d in (engine.route(RouteQuery(**kw)),  # type: ignore[arg-type]
              *engine.route_batch([RouteQuery(**kw), RouteQuery(**kw)])):  # type: ignore[arg-type]
        assert d.routed
        alternatives = d.alternatives()
        assert len(alternatives) == 2
        for a in alternatives:
            assert 0.0 <= a.estimated_cost <= ESTIMATED_COST_MAX
            assert LATENCY_MIN_MS <= a.estimated_latency_ms <= LATENCY_MAX_MS
            assert a.score is None or math.isfinite(a.score)
        assert 0.0 <= d.estimated_cost <= ESTIMATED_COST_MAX and 0.0 <= d.confidence <= 1.0
        # what the FDW renders as JSON text, and the reply
        json.dumps([a.__dict__ if hasattr(a, "__dict__") else {s: getattr(a, s) for s in a.__slots__}
                    for a in alternatives], allow_nan=False)
        all_finite(decision_to_proto(d))


def test_estimates_are_bounded_even_for_agents_stored_before_the_ranges(engine: Engine) -> None:
    """A record the store holds from before (no validation on this path) or a p95 of 0 ms still gives
    finite estimates: the table clamps each column to its range."""
    stored = [
        AgentRecord(AgentSpec("huge", "llm", cost=CostModel(1e306, 1e308, 1e308, 1e308), latency_prior_ms=1e300,
                              typical_output_tokens=10**9), AgentStats(), 0.0, 0.0),
        AgentRecord(AgentSpec("tiny", "llm", latency_prior_ms=1e-300), AgentStats(), 0.0, 0.0),
        AgentRecord(AgentSpec("zero-p95", "llm"), AgentStats(p95_latency_ms=0.0), 0.0, 0.0),
        AgentRecord(AgentSpec("nan", "llm", cost=CostModel(math.nan, 0, 0, 0), latency_prior_ms=math.nan),
                    AgentStats(), 0.0, 0.0),
    ]
    table = AgentTable(1, stored, engine.registry.capability_vectors, BreakerPolicy())
    assert table.latency.min() == LATENCY_MIN_MS and table.latency.max() == LATENCY_MAX_MS
    for objective in OBJECTIVES:
        for d in engine.router.route(table, [RouteQuery(text="y" * TEXT_MAX, objective=objective)] * 2):
            assert all(0.0 <= a.estimated_cost <= ESTIMATED_COST_MAX for a in d.alternatives())
            all_finite(decision_to_proto(d))


def test_a_latency_prior_of_1e_300_does_not_win_every_decision(engine: Engine) -> None:
    """It is refused; the fastest prior accepted is LATENCY_MIN_MS, and an agent of much better quality
    at an ordinary latency beats it under balanced."""
    invalid(lambda: engine.registry.register(spec("instant", latency=1e-300, quality=0.5)), "agent.latency_prior_ms")
    engine.registry.register(spec("fastest", latency=LATENCY_MIN_MS, quality=0.5))
    engine.registry.register(spec("good", latency=500.0, quality=0.9))
    assert engine.route(RouteQuery(text=TEXT)).agent_name == "good"


def test_quality_per_dollar_never_raises(engine: Engine) -> None:
    worst_agents(engine)
    engine.registry.register(spec("zero-quality-free", quality=0.0))
    for wtp in (None, WTP_MIN, WTP_MAX):
        d = engine.route(RouteQuery(text=TEXT, objective="quality_per_dollar", willingness_to_pay=wtp,
                                    input_tokens=TOKENS_MAX))
        assert d.routed and all(a.score is not None and math.isfinite(a.score) for a in d.alternatives())


@pytest.mark.parametrize(("kw", "field"), [
    ({"input_tokens": TOKENS_MAX + 1}, "input_tokens"),
    ({"output_tokens": TOKENS_MAX + 1}, "output_tokens"),
    ({"willingness_to_pay": WTP_MIN / 2}, "willingness_to_pay"),
    ({"willingness_to_pay": 1e-300}, "willingness_to_pay"),
    ({"willingness_to_pay": WTP_MAX * 2}, "willingness_to_pay"),
    ({"max_cost": 10**400}, "constraints.max_cost"),  # an int beyond float8: a clear error, not OverflowError
])
def test_request_numbers_past_their_range(engine: Engine, kw: dict[str, object], field: str) -> None:
    engine.registry.register(spec("a"))
    invalid(lambda: engine.route(RouteQuery(text=TEXT, **kw)), field)  # type: ignore[arg-type]


# -- item 3: strict JSON -------------------------------------------------------------------------------

@pytest.mark.parametrize("metadata", [
    '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": [1, {"b": NaN}]}', '{"a": 1e999}',
    '{"a": -1e999}', '{"a": 1e-400}', '{"a": ' + "9" * 5000 + "}", '{"a": ' + "9" * 400 + "}",
    '{"a": -' + "9" * 5000 + "}", '{"a": 1, "a": 2}', '{"a": "\\ud800"}', '{"\\udfff": 1}', '{"a": "\\u0000"}',
    "{'a': 1}", '{"a": 1,}', "NaN", '{"a": 01}',
])
def test_metadata_must_be_strict_json(engine: Engine, metadata: str) -> None:
    e = invalid(lambda: engine.registry.register(spec("a", metadata=metadata)), "agent.metadata_json")
    assert "JSON" in e.problem or "\\u0000" in e.problem
    engine.registry.register(spec("a"))
    invalid(lambda: engine.registry.update("a", {"metadata": metadata}), "agent.metadata_json")
    assert engine.registry.get("a").spec.metadata == "{}"


@pytest.mark.parametrize(("metadata", "canonical"), [
    ('{"a": 1e308}', '{"a":1e+308}'), ('{"a": -0.0}', '{"a":-0.0}'), ('{"a": 0e-500}', '{"a":0.0}'),
    ('{"a": ' + "1" + "0" * 300 + "}", '{"a":1' + "0" * 300 + "}"), ('{"a": "\\ud83d\\ude00"}', '{"a":"\U0001f600"}'),
])
def test_metadata_at_the_edges_of_json(engine: Engine, metadata: str, canonical: str) -> None:
    assert engine.registry.register(spec("a", metadata=metadata)).spec.metadata == canonical


# -- item 4: times -------------------------------------------------------------------------------------

def outcome_count(store: Store) -> int:
    return store.count_outcomes()


@pytest.mark.parametrize(("kw", "field"), [
    ({"recorded_at": 253402300799.999999}, "recorded_at"),  # 9999-12-31 23:59:59.999999
    ({"recorded_at": float(2**62)}, "recorded_at"),
    ({"recorded_at": TIME_MAX + 1}, "recorded_at"),
    ({"recorded_at": TIME_MIN - 1}, "recorded_at"),
    ({"recorded_at": math.nan}, "recorded_at"),
    ({"recorded_at": -math.inf}, "recorded_at"),
    ({"latency_ms": LATENCY_MAX_MS * 2}, "latency_ms"),
    ({"latency_ms": 1e308}, "latency_ms"),
    ({"cost": COST_MAX * 2}, "cost"),
    ({"cost": 1e308}, "cost"),
    ({"input_tokens": 2**31}, "input_tokens"),
    ({"output_tokens": 2**63}, "output_tokens"),
    ({"quality": 1.5}, "quality"),
])
def test_outcome_out_of_range_stores_nothing(engine: Engine, store: Store, kw: dict[str, float], field: str) -> None:
    engine.registry.register(spec("a"))
    before, stats_before = outcome_count(store), engine.registry.get("a").stats
    d = engine.route(RouteQuery(text=TEXT))
    args: dict[str, object] = {"latency_ms": 10.0, "success": True, **kw}
    invalid(lambda: engine.record_outcome(agent_name="a", **args), field)  # type: ignore[arg-type]
    invalid(lambda: engine.record_outcome(decision_id=d.decision_id, **args), field)  # type: ignore[arg-type]
    assert outcome_count(store) == before
    assert engine.registry.get("a").stats == stats_before
    assert engine.windows.add("a", 1.0, True)[0] == [1.0]  # no latency reached the health window either


def test_outcomes_at_the_time_range_ends_are_stored_and_listed(engine: Engine) -> None:
    engine.registry.register(spec("a"))
    for t in (TIME_MIN, TIME_MAX):
        o, _ = engine.record_outcome(agent_name="a", latency_ms=LATENCY_MAX_MS, success=True, recorded_at=t,
                                     cost=COST_MAX)
        all_finite(outcome_to_proto(o))
        assert outcome_to_proto(o).recorded_at.ToDatetime().year in (1970, 9999)
    engine.flush()
    listed = engine.list_outcomes(start=TIME_MIN, end=TIME_MAX)
    assert [o.recorded_at for o in listed] == [TIME_MIN]  # end is exclusive
    assert len(engine.list_outcomes(start=TIME_MIN)) == 2


@pytest.mark.parametrize("t", [TIME_MAX + 1, TIME_MIN - 1, float(2**62), math.nan, math.inf])
@pytest.mark.parametrize("which", ["start", "end"])
def test_list_outcomes_with_a_time_out_of_range(engine: Engine, t: float, which: str) -> None:
    invalid(lambda: engine.list_outcomes(**{which: t}), which)  # type: ignore[arg-type]


# -- item 14: free text --------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "field"), [
    (lambda e: e.registry.find_by_capability("x" * 10_000_000), "capability"),
    (lambda e: e.registry.find_by_capability("x" * 1001), "capability"),
    (lambda e: e.registry.list_page(capability="x" * 65), "capability"),
    (lambda e: e.registry.list_page(agent_type="x" * 10_000_000), "agent_type"),
    (lambda e: e.registry.list_page(page_token="A" * 2000), "page_token"),
    (lambda e: e.registry.get("x" * 10_000_000), "name"),
    (lambda e: e.route(RouteQuery(text="x" * (TEXT_MAX + 1))), "request"),
    (lambda e: e.route(RouteQuery(text=TEXT, objective="x" * 10_000_000)), "objective"),
    (lambda e: e.route(RouteQuery(text=TEXT, required_capabilities=("x" * 65,))),
     "constraints.required_capabilities[0]"),
    (lambda e: e.route(RouteQuery(text=TEXT, required_capabilities=("x",) * 65)), "constraints.required_capabilities"),
    (lambda e: e.route(RouteQuery(text=TEXT, excluded_agents=("x" * 129,))), "constraints.excluded_agents[0]"),
    (lambda e: e.route(RouteQuery(text=TEXT, excluded_agents=("x",) * 10_001)), "constraints.excluded_agents"),
    (lambda e: e.route(RouteQuery(text=TEXT, context={"k": "v" * 1025})), "context['k']"),
    (lambda e: e.route(RouteQuery(text=TEXT, context={"k" * 129: "v"})), "context"),
    (lambda e: e.route(RouteQuery(text=TEXT, context={str(i): "v" for i in range(65)})), "context"),
    (lambda e: e.record_outcome(agent_name="x" * 10_000_000, latency_ms=1.0, success=True), "agent_name"),
    (lambda e: e.record_outcome(decision_id="x" * 10_000_000, latency_ms=1.0, success=True), "decision_id"),
    (lambda e: e.registry.register(spec("a", metadata='{"k": "' + "x" * 10_000_000 + '"}')), "agent.metadata_json"),
    (lambda e: e.registry.register(spec("a", capabilities=("x" * 10_000_000,))), "agent.capabilities[0]"),
    (lambda e: e.registry.register(spec("x" * 10_000_000)), "agent.name"),
])
def test_free_text_has_a_length_limit(engine: Engine, call: Callable[[Engine], object], field: str) -> None:
    engine.registry.register(spec("b", capabilities=("code",)))
    t = time.process_time()
    e = invalid(lambda: call(engine), field)
    assert time.process_time() - t < 0.5, "refused before the work"
    assert any(ch.isdigit() for ch in e.problem) or "issued" in e.problem  # states the limit


def test_text_at_the_limit_is_routed(engine: Engine) -> None:
    engine.registry.register(spec("b", capabilities=("code",)))
    assert engine.route(RouteQuery(text="x" * TEXT_MAX)).routed
    assert engine.registry.find_by_capability("c" * 1000)


# -- item 12: batches are bounded before the work ------------------------------------------------------

def test_batch_limits_refuse_before_any_work(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(batch_max_requests=50, batch_max_cells=100)
    for i in range(5):
        engine.registry.register(spec(f"a{i}"))
    e = invalid(lambda: engine.route_batch([RouteQuery(text=TEXT)] * 51), "requests")
    assert "50" in e.problem and "batch_max_requests" in e.problem
    with pytest.raises(BatchTooLarge) as exc:
        engine.route_batch([RouteQuery(text=TEXT)] * 21)  # 21 x 5 > 100
    assert exc.value.field == "requests" and "100" in str(exc.value) and "at most 20 requests" in str(exc.value)
    assert engine.decisions.pending == 0
    assert len(engine.route_batch([RouteQuery(text=TEXT)] * 20)) == 20


def test_a_batch_routed_in_chunks_decides_as_one(make_engine: Callable[..., Engine],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine()
    for i in range(7):
        engine.registry.register(spec(f"a{i}", per_call=0.001 * (i + 1), quality=0.5 + i / 20, latency=100 + 10 * i))
    queries = [RouteQuery(text=f"{TEXT} {i}", objective=OBJECTIVES[i % len(OBJECTIVES)],
                          max_cost=0.004 if i % 3 == 0 else None) for i in range(40)]

    def decide(budget: float | None) -> list[tuple[str | None, float, float | None]]:
        return [(d.agent_name, d.estimated_cost, d.batch_left)
                for d in engine.route_batch(queries, batch_budget=budget)]

    whole = {b: decide(b) for b in (None, 0.05)}
    monkeypatch.setattr(engine_module, "CHUNK_CELLS", 7 * 3)  # chunks of 3 requests
    assert {b: decide(b) for b in (None, 0.05)} == whole
    assert any(name is None for name, _, _ in whole[0.05])  # the budget ran out across chunks


def test_reply_size_bound_is_an_upper_bound(engine: Engine) -> None:
    """decision_size_bound is never below the real size, for every kind of reason and text."""
    names = [f"agent-{'n' * (i * 9)}-{i}" for i in range(12)]
    for i, name in enumerate(names):
        engine.registry.register(spec(name, per_call=0.001 * (i + 1), quality=0.3 + i / 20, latency=10.0 ** (i % 6),
                                      capabilities=("code",) if i % 2 else ("ünïcødé-" * 7,), active=i != 3))
    engine.record_outcome(agent_name=names[5], latency_ms=LATENCY_MAX_MS, success=True, cost=COST_MAX)
    table = engine.table()
    name_bytes = max(len(n.encode()) for n in table.names)
    kinds: list[dict[str, object]] = [
        {}, {"max_cost": 0.003}, {"min_quality": 0.6}, {"max_latency_ms": 50.0}, {"budget_remaining": 0.002},
        {"excluded_agents": tuple(names[:4])}, {"required_capabilities": ("code", "x" * 64, "ü" * 64, "y")},
        {"willingness_to_pay": WTP_MIN, "input_tokens": TOKENS_MAX}, {"max_cost": 0.0, "objective": "quality"},
    ]
    for kw in kinds:
        for max_alternatives in (None, 0, 3, 100):
            for omit in (False, True):
                q = RouteQuery(text=TEXT, **kw)  # type: ignore[arg-type]
                r = pb.RouteRequest(request=TEXT, omit_reasoning=omit,
                                    constraints=pb.Constraints(required_capabilities=list(q.required_capabilities)))
                if max_alternatives is not None:
                    r.max_alternatives = max_alternatives
                for d in (engine.route(q), *engine.route_batch([q, q], batch_budget=0.0015)):
                    size = decision_to_proto(d, max_alternatives, reasoning=not omit).ByteSize()
                    assert size <= decision_size_bound(r, len(table), name_bytes), (kw, max_alternatives, omit)


def test_the_new_limits_come_from_config(tmp_path: Path) -> None:
    path = tmp_path / "routerd.toml"
    path.write_text("max_message_bytes = 1048576\nbatch_max_cells = 1000\n")
    cfg = load_config(env={"TINYDANCER_BATCH_MAX_REQUESTS": "10"}, config_file=str(path))
    assert (cfg.max_message_bytes, cfg.batch_max_requests, cfg.batch_max_cells) == (1 << 20, 10, 1000)
    assert Config().max_message_bytes == 64 << 20
    for name in ("max_message_bytes", "batch_max_requests", "batch_max_cells"):
        with pytest.raises(InvalidArgument) as exc:
            load_config(env={f"TINYDANCER_{name.upper()}": "0"})
        assert exc.value.field == name
    with pytest.raises(InvalidArgument):
        load_config(env={"TINYDANCER_MAX_MESSAGE_BYTES": str(2**31)})


def test_route_batch_memory_is_bounded_by_the_cell_limit(make_engine: Callable[..., Engine]) -> None:
    """The biggest batch the default limits allow routes without the (n, a) temporaries of all of it at
    once: routed in chunks, what stays is the rows kept per decision (about 25 bytes a cell)."""
    import tracemalloc

    engine = make_engine()
    for i in range(100):
        engine.registry.register(spec(f"a{i:03d}", per_call=0.001 * (i + 1), quality=0.5 + i / 300))
    queries = [RouteQuery(text=f"{TEXT} {i}") for i in range(20_000)]  # 2M cells
    tracemalloc.start()
    try:
        ds = engine.route_batch(queries)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ds) == 20_000
    # routed at once it peaked at 128 MB (64 bytes a cell); in chunks about 77 MB
    assert peak < 2_000_000 * 45, f"peak {peak / 1e6:.0f} MB for 2M cells"
    assert np.isfinite([d.estimated_cost for d in ds]).all()


def test_stats_stay_representable_at_the_ends(engine: Engine) -> None:
    engine.registry.register(spec("a"))
    for _ in range(3):
        engine.record_outcome(agent_name="a", latency_ms=LATENCY_MAX_MS, success=True, cost=COST_MAX, quality=1.0)
    rec = engine.registry.get("a")
    assert math.isfinite(rec.stats.total_spend) and math.isfinite(rec.stats.latency_sum_ms)
    d = engine.route(RouteQuery(text=TEXT))
    assert d.estimated_latency_ms == LATENCY_MAX_MS
    all_finite(decision_to_proto(d))
