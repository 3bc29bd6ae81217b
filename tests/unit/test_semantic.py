"""Semantic routes: validation (every error names its field), matching, conditions, rate limits,
classification and the calibration's JSON form. Hand-made unit vectors, so every answer is known."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from routerd.domain import RouteConditions, RouteSpec
from routerd.errors import InvalidArgument, RouteNotFound
from routerd.semantic import (
    CANDIDATES,
    Calibration,
    RateLimiter,
    RoutePrototype,
    RouteSet,
    check_embeddings,
    check_vectors,
    validate_route,
)
from routerd.semantic.linear import expected_calibration_error, ranked, segment_max, softmax_with_null
from routerd.semantic.spec import in_window, minute_of_day
from tests.unit.semantic_helpers import DIM, axis, blend, record, unit

NOON = 12 * 3600.0  # 1970-01-01T12:00Z


def _set(*records: Any, default: float = 0.8, **kw: Any) -> RouteSet:
    return RouteSet(list(records), default_threshold=default, **kw)


def _match(rs: RouteSet, q: np.ndarray, top_k: int = 3, *, now: float = NOON, tier: str | None = None,
           limiter: RateLimiter | None = None, consume: bool = True) -> Any:
    return rs.match(q[None, :], top_k, now=now, user_tiers=[tier], limiter=limiter, consume=consume)[0]


# -- validation -----------------------------------------------------------------------------------

def _spec(**kw: Any) -> RouteSpec:
    base: dict[str, Any] = {"name": "billing", "utterances": ("pay my bill", "invoice question")}
    base.update(kw)
    return RouteSpec(**base)


def _invalid(spec: RouteSpec, field: str, *, vectors: Any = None, agents: tuple[str, ...] = ("a1",)) -> str:
    with pytest.raises(InvalidArgument) as exc:
        validate_route(spec, dim=4, vectors=vectors, known_agents=agents)
    assert exc.value.field == field, str(exc.value)
    assert str(exc.value).startswith(f"{field}: ")
    return exc.value.problem


def test_valid_route_is_normalised() -> None:
    spec = _spec(target_agent="", group="", threshold=1, conditions=RouteConditions(user_tiers=("pro", "pro", "free")))
    out = validate_route(spec, dim=4, vectors=np.ones((2, 4)), known_agents=())
    assert out.target_agent is None and out.group is None
    assert out.threshold == 1.0 and isinstance(out.threshold, float)
    assert out.conditions.user_tiers == ("pro", "free")


@pytest.mark.parametrize(("kw", "field", "words"), [
    ({"name": ""}, "route.name", "empty"),
    ({"name": "has space"}, "route.name", "characters"),
    ({"name": "x" * 129}, "route.name", "128"),
    ({"description": "d" * 4097}, "route.description", "4096"),
    ({"utterances": ()}, "route.utterances", "at least one"),
    ({"utterances": ("a",) * 10_001}, "route.utterances", "10000"),
    ({"utterances": ("a", "b", "a")}, "route.utterances", "utterance 2 repeats utterance 0"),
    ({"utterances": ("a", "   ")}, "route.utterances", "utterance 1 is empty"),
    ({"utterances": ("a", "x" * 100_001)}, "route.utterances", "100000"),
    ({"utterances": "a single string"}, "route.utterances", "list"),
    ({"target_agent": "ghost"}, "route.target_agent", "no agent named 'ghost'"),
    ({"threshold": 1.5}, "route.threshold", "<= 1"),
    ({"threshold": -0.1}, "route.threshold", ">= 0"),
    ({"threshold": float("nan")}, "route.threshold", "finite"),
    ({"priority": 1001}, "route.priority", "<= 1000"),
    ({"priority": -1001}, "route.priority", ">= -1000"),
    ({"group": "g" * 129}, "route.group", "128"),
    ({"group": "a\nb"}, "route.group", "control"),
    ({"conditions": RouteConditions(active_from_minute=60)}, "route.conditions.active_until_minute", "both"),
    ({"conditions": RouteConditions(active_until_minute=60)}, "route.conditions.active_from_minute", "both"),
    ({"conditions": RouteConditions(active_from_minute=0, active_until_minute=1441)},
     "route.conditions.active_until_minute", "<= 1440"),
    ({"conditions": RouteConditions(active_from_minute=-1, active_until_minute=10)},
     "route.conditions.active_from_minute", ">= 0"),
    ({"conditions": RouteConditions(active_from_minute=90, active_until_minute=90)},
     "route.conditions.active_until_minute", "empty"),
    ({"conditions": RouteConditions(user_tiers=tuple(f"t{i}" for i in range(65)))},
     "route.conditions.user_tiers", "64"),
    ({"conditions": RouteConditions(user_tiers=("",))}, "route.conditions.user_tiers[0]", "empty"),
    ({"conditions": RouteConditions(user_tiers=("t" * 65,))}, "route.conditions.user_tiers[0]", "64"),
    ({"conditions": RouteConditions(rate_limit_per_minute=0)}, "route.conditions.rate_limit_per_minute", ">= 1"),
    ({"conditions": RouteConditions(rate_limit_per_minute=1_000_001)},
     "route.conditions.rate_limit_per_minute", "<= 1000000"),
])
def test_every_bad_field_is_named(kw: dict[str, Any], field: str, words: str) -> None:
    assert words in _invalid(_spec(**kw), field)


@pytest.mark.parametrize(("vectors", "words"), [
    (np.ones((3, 4)), "2 vector(s) of 4 values"),
    (np.ones((2, 5)), "2 vector(s) of 4 values"),
    (np.ones(4), "got 4"),
    (np.array([[1, 0, 0, 0], [np.nan, 0, 0, 0]]), "vector 1 has a value that is not finite"),
    (np.array([[1, 0, 0, 0], [0, 0, 0, 0]]), "vector 1 is all zeros"),
    ([["a", "b", "c", "d"]] * 2, "numeric"),
])
def test_bad_utterance_embeddings(vectors: Any, words: str) -> None:
    assert words in _invalid(_spec(), "route.utterance_embeddings", vectors=vectors)


def test_field_prefix_and_check_helpers() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_route(_spec(threshold=2.0), dim=4, vectors=None, known_agents=(), field_prefix="routes[3].")
    assert exc.value.field == "routes[3].threshold"
    v = check_vectors([[3, 4, 0, 0]], dim=4, count=1, field="f")
    assert v.dtype == np.float32 and np.allclose(v, [[0.6, 0.8, 0, 0]])
    with pytest.raises(InvalidArgument, match="embedding: must have 4 values"):
        check_embeddings(np.ones((1, 3)), dim=4)
    with pytest.raises(InvalidArgument, match="embedding: has a value that is not finite"):
        check_embeddings([np.inf, 0, 0, 0], dim=4)


def test_window_arithmetic() -> None:
    assert minute_of_day(0.0) == 0 and minute_of_day(86_399.0) == 1439 and minute_of_day(86_400.0 + 61) == 1
    night = RouteConditions(active_from_minute=1320, active_until_minute=360)  # 22:00 .. 06:00
    assert in_window(night, 23 * 3600.0) and in_window(night, 3 * 3600.0) and in_window(night, 22 * 3600.0)
    assert not in_window(night, 6 * 3600.0) and not in_window(night, NOON)
    whole_day = RouteConditions(active_from_minute=0, active_until_minute=1440)
    assert in_window(whole_day, 0.0) and in_window(whole_day, 86_399.0)
    assert in_window(RouteConditions(active_from_minute=1440, active_until_minute=60), 30 * 60.0)
    assert in_window(RouteConditions(), NOON)


# -- the math ---------------------------------------------------------------------------------------

def test_segment_max_ranked_and_softmax() -> None:
    scores = np.array([[0.1, 0.9, 0.3, 0.5, 0.2]], dtype=np.float32)
    assert segment_max(scores, np.array([0, 2, 3])).tolist() == [[pytest.approx(0.9), pytest.approx(0.3),
                                                                  pytest.approx(0.5)]]
    s = np.array([[0.5, 0.7, 0.7, 0.1]], dtype=np.float32)
    ids = np.arange(4)[None, :]
    top, order = ranked(s, ids, np.array([0, 1, 5, 0]), 3)
    assert order.tolist() == [[2, 1, 0]]  # the tie at 0.7 goes to the higher priority
    p, p0 = softmax_with_null(np.array([[0.0, 0.0, -np.inf]]), 0.0)
    assert p.tolist() == [[pytest.approx(1 / 3), pytest.approx(1 / 3), 0.0]] and p0[0] == pytest.approx(1 / 3)


def test_expected_calibration_error() -> None:
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0
    # 0.8 confident, right 3 times out of 4: |0.75 - 0.8| = 0.05
    assert expected_calibration_error(np.full(4, 0.8), np.array([1, 1, 1, 0])) == pytest.approx(0.05)
    # two bins, each off by 0.2, weighted by their share
    ece = expected_calibration_error(np.array([0.1, 0.1, 0.9, 0.9, 0.9]), np.array([0, 0, 1, 1, 0]))
    assert ece == pytest.approx(2 / 5 * 0.1 + 3 / 5 * abs(2 / 3 - 0.9))


# -- matching ------------------------------------------------------------------------------------------

@pytest.fixture
def three() -> RouteSet:
    """billing around axis 0, refunds around axis 1, weather around axis 2 (two utterances each)."""
    return _set(
        record("billing", np.stack([axis(0), blend(axis(0), axis(5), 0.9)]), target_agent="billing-bot",
               group="finance"),
        record("refunds", np.stack([axis(1), blend(axis(1), axis(6), 0.9)]), group="finance", threshold=0.6),
        record("weather", np.stack([axis(2), blend(axis(2), axis(7), 0.9)]), priority=5),
    )


def test_nearest_utterance_similarity_and_threshold(three: RouteSet) -> None:
    q = blend(axis(0), axis(9), 0.85)
    res = _match(three, q)
    assert [m.name for m in res.matches] == ["billing"]
    m = res.matches[0]
    assert m.similarity == pytest.approx(0.85, abs=1e-5) and m.threshold == pytest.approx(0.8)
    assert m.utterance_similarity == pytest.approx(m.similarity)
    assert 0.0 < m.confidence < 1.0
    # below the default threshold: out of scope, and the out-of-scope probability says so
    low = _match(three, blend(axis(0), axis(9), 0.7))
    assert low.matches == () and low.blocked == ()
    assert low.out_of_scope_probability > 0.5
    # refunds has its own, lower threshold
    assert [m.name for m in _match(three, blend(axis(1), axis(9), 0.7)).matches] == ["refunds"]


def test_out_of_scope_is_empty(three: RouteSet) -> None:
    res = _match(three, axis(20))
    assert res.matches == () and res.top is None and res.out_of_scope_probability > 0.99


def test_top_k_and_order(three: RouteSet) -> None:
    rs = _set(*[replace(r, spec=replace(r.spec, threshold=None)) for r in three.records], default=0.0)
    q = unit(0.8 * axis(0) + 0.5 * axis(1) + 0.2 * axis(2))
    full = _match(rs, q, top_k=3)
    assert [m.name for m in full.matches] == ["billing", "refunds", "weather"]
    sims = [m.similarity for m in full.matches]
    assert sims == sorted(sims, reverse=True)
    assert [m.name for m in _match(rs, q, top_k=1).matches] == ["billing"]
    conf = [m.confidence for m in full.matches]
    assert conf == sorted(conf, reverse=True) and sum(conf) + full.out_of_scope_probability == pytest.approx(1.0)


def test_priority_breaks_ties() -> None:
    v = axis(3)
    rs = _set(record("low", v[None, :], priority=-3), record("high", v[None, :], priority=7),
              record("mid", v[None, :]))
    assert [m.name for m in _match(rs, v).matches] == ["high", "mid", "low"]


def test_top_k_is_checked(three: RouteSet) -> None:
    for bad in (0, -1, 101):
        with pytest.raises(InvalidArgument) as exc:
            three.match(axis(0)[None, :], bad, now=NOON, user_tiers=[None], limiter=None, consume=False)
        assert exc.value.field == "top_k"
    with pytest.raises(InvalidArgument) as exc:
        three.match(np.ones((1, DIM + 1)), 3, now=NOON, user_tiers=[None], limiter=None, consume=False)
    assert exc.value.field == "embedding"
    with pytest.raises(InvalidArgument) as exc:
        three.match(np.ones((2, DIM)), 3, now=NOON, user_tiers=[None], limiter=None, consume=False)
    assert exc.value.field == "user_tiers"


def test_batch_equals_one_by_one(three: RouteSet) -> None:
    rng = np.random.default_rng(3)
    qs = unit(np.stack([axis(i % 3) for i in range(40)]) + 0.3 * rng.standard_normal((40, DIM)))
    batch = three.match(qs, 3, now=NOON, user_tiers=[None] * 40, limiter=None, consume=False)
    for q, b in zip(qs, batch, strict=True):
        one = _match(three, q, consume=False)
        assert [(m.name, round(m.similarity, 5)) for m in one.matches] == \
            [(m.name, round(m.similarity, 5)) for m in b.matches]


def test_empty_route_set() -> None:
    rs = RouteSet([], default_threshold=0.5, dim=DIM)
    assert len(rs) == 0
    res = rs.match(np.ones((2, DIM)), 3, now=NOON, user_tiers=[None, None], limiter=None, consume=True)
    assert [r.matches for r in res] == [(), ()] and res[0].out_of_scope_probability == 1.0
    c = rs.classify(np.ones(DIM), 10, {})
    assert c.categories == () and c.top_category == "" and c.out_of_scope_probability == 1.0


def test_names_get_threshold(three: RouteSet) -> None:
    assert len(three) == 3 and three.names == ("billing", "refunds", "weather")
    assert three.get("refunds").spec.threshold == 0.6 and three.threshold("billing") == pytest.approx(0.8)
    with pytest.raises(RouteNotFound):
        three.get("nope")


def test_route_set_rejects_inconsistent_records() -> None:
    a = record("a", axis(0)[None, :])
    with pytest.raises(ValueError, match="two routes named"):
        _set(a, a)
    with pytest.raises(ValueError, match="several embedders"):
        _set(a, replace(record("b", axis(1)[None, :]), embedder="other"))
    with pytest.raises(ValueError, match="one vector per utterance"):
        _set(a, record("b", np.stack([axis(1), axis(2)]), utterances=("only one",)))
    with pytest.raises(InvalidArgument):
        _set(a, default=1.5)


def test_with_changes(three: RouteSet) -> None:
    new = three.with_changes([record("weather", axis(4)[None, :]), record("sports", axis(8)[None, :])],
                             remove=["refunds"])
    assert new.names == ("billing", "weather", "sports")
    assert _match(new, axis(4)).matches[0].name == "weather" and _match(three, axis(2)).matches[0].name == "weather"
    assert _match(three, axis(4)).matches == ()  # the old snapshot is unchanged
    with pytest.raises(RouteNotFound):
        three.with_changes(remove=["ghost"])


# -- conditions -------------------------------------------------------------------------------------

def test_time_window_wraps_past_midnight() -> None:
    night = RouteConditions(active_from_minute=22 * 60, active_until_minute=6 * 60)
    rs = _set(record("night", axis(0)[None, :], conditions=night))
    for hour, ok in [(23, True), (2, True), (5, True), (6, False), (12, False), (21, False), (22, True)]:
        res = _match(rs, axis(0), now=86_400.0 * 400 + hour * 3600.0 + 59)
        assert bool(res.matches) is ok, hour
        if not ok:
            assert res.blocked[0].name == "night" and "time window 22:00-06:00 UTC" in res.blocked[0].reason


def test_user_tiers() -> None:
    rs = _set(record("pro-only", axis(0)[None, :], conditions=RouteConditions(user_tiers=("pro", "enterprise"))),
              record("open", blend(axis(0), axis(1), 0.95)[None, :]))
    assert [m.name for m in _match(rs, axis(0), tier="pro").matches] == ["pro-only", "open"]
    free = _match(rs, axis(0), tier="free")
    assert [m.name for m in free.matches] == ["open"]
    assert free.blocked[0].name == "pro-only" and "'free' is not one of pro, enterprise" in free.blocked[0].reason
    none = _match(rs, axis(0), tier=None)
    assert "no user_tier" in none.blocked[0].reason and none.matches[0].name == "open"


def test_rate_limit_across_calls_with_a_fake_clock() -> None:
    limited = RouteConditions(rate_limit_per_minute=2)
    rs = _set(record("limited", axis(0)[None, :], conditions=limited),
              record("fallback", blend(axis(0), axis(1), 0.9)[None, :]))
    lim = RateLimiter()
    t0 = 1_000_000.0
    assert _match(rs, axis(0), now=t0, limiter=lim).top.name == "limited"
    assert _match(rs, axis(0), now=t0 + 10, limiter=lim).top.name == "limited"
    third = _match(rs, axis(0), now=t0 + 20, limiter=lim)
    assert third.top.name == "fallback" and third.blocked[0].name == "limited"
    assert "rate limit of 2 a minute" in third.blocked[0].reason
    # Classify-like calls do not consume and are not counted
    assert _match(rs, axis(0), now=t0 + 20, limiter=None).top.name == "limited"
    # the first slot frees 60 s after it was taken, the second 10 s later
    assert _match(rs, axis(0), now=t0 + 59.9, limiter=lim).top.name == "fallback"
    assert _match(rs, axis(0), now=t0 + 60.0, limiter=lim).top.name == "limited"
    assert _match(rs, axis(0), now=t0 + 61.0, limiter=lim).top.name == "fallback"
    assert lim.used("limited", t0 + 61.0) == 2 and lim.used("limited", t0 + 200) == 0


def test_rate_limit_without_consume_only_checks() -> None:
    rs = _set(record("limited", axis(0)[None, :], conditions=RouteConditions(rate_limit_per_minute=1)))
    lim = RateLimiter()
    for _ in range(5):
        assert _match(rs, axis(0), limiter=lim, consume=False).top.name == "limited"
    assert lim.used("limited", NOON) == 0


def test_only_the_top_match_consumes() -> None:
    lim = RateLimiter()
    c = RouteConditions(rate_limit_per_minute=1)
    rs = _set(record("a", axis(0)[None, :], conditions=c), record("b", blend(axis(0), axis(1), 0.95)[None, :],
                                                                  conditions=c))
    first = _match(rs, axis(0), limiter=lim)
    assert [m.name for m in first.matches] == ["a", "b"]
    assert lim.used("a", NOON) == 1 and lim.used("b", NOON) == 0
    second = _match(rs, axis(0), limiter=lim)
    assert [m.name for m in second.matches] == ["b"] and lim.used("b", NOON) == 1
    assert [b.name for b in _match(rs, axis(0), limiter=lim).blocked] == ["a", "b"]


def test_rate_limiter_is_thread_safe() -> None:
    lim = RateLimiter()
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(250):
            ok = lim.try_acquire("r", 500, 5_000.0)
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 500 and len(granted) == 2000


# -- classification ----------------------------------------------------------------------------------

def test_classification_probabilities(three: RouteSet) -> None:
    rs = _set(*three.records, default=0.5)
    q = unit(0.8 * axis(0) + 0.6 * axis(1))
    caps = {"billing-bot": ["payments", "invoices"], "unused": ["nothing"]}
    c = rs.classify(q, 10, caps)
    routes = {x.name: x.probability for x in c.categories if x.kind == "route"}
    groups = {x.name: x.probability for x in c.categories if x.kind == "group"}
    assert sum(routes.values()) + c.out_of_scope_probability == pytest.approx(1.0)
    assert groups["finance"] == pytest.approx(routes["billing"] + routes["refunds"])
    assert [x.kind for x in c.categories] == sorted((x.kind for x in c.categories), key=lambda k: k != "route")
    need = {x.capability: x.probability for x in c.capabilities}
    assert set(need) == {"payments", "invoices"}  # only the capabilities of route targets
    assert need["payments"] == pytest.approx(routes["billing"]) and need["invoices"] == pytest.approx(routes["billing"])
    assert c.top_category == "billing" and c.confidence == pytest.approx(routes["billing"])
    top1 = rs.classify(q, 1, caps)
    assert [(x.kind, x.name) for x in top1.categories] == [("route", "billing"), ("group", "finance")]  # per kind


def test_classification_out_of_scope(three: RouteSet) -> None:
    c = three.classify(axis(25), 10, {})
    assert c.top_category == "" and c.confidence == pytest.approx(c.out_of_scope_probability)
    with pytest.raises(InvalidArgument) as exc:
        three.classify(axis(0), 1001, {})
    assert exc.value.field == "top_k"


def test_probabilities_cover_only_the_candidates() -> None:
    rs = _set(*[record(f"r{i}", axis(i)[None, :]) for i in range(DIM)], default=0.0)
    c = rs.classify(unit(np.ones(DIM)), 1000, {})
    assert len([x for x in c.categories if x.kind == "route"]) == CANDIDATES
    assert sum(x.probability for x in c.categories) + c.out_of_scope_probability == pytest.approx(1.0)


# -- calibration form -------------------------------------------------------------------------------

def test_calibration_json_round_trip() -> None:
    vec = unit(np.arange(1, DIM + 1, dtype=np.float32))
    cal = Calibration(slope=31.5, null_logit=-0.25, utterance_weight=0.25,
                      prototypes={"billing": RoutePrototype("abc", vec)}, embedder="e", dim=DIM,
                      global_threshold=0.375)
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    got = (back.slope, back.null_logit, back.utterance_weight, back.embedder, back.dim)
    assert got == (31.5, -0.25, 0.25, "e", DIM) and back.global_threshold == 0.375
    assert back.prototypes["billing"].fingerprint == "abc"
    assert np.array_equal(back.prototypes["billing"].vector, vec)


@pytest.mark.parametrize(("change", "field"), [
    ({"version": 9}, "calibration.version"),
    ({"slope": float("nan")}, "calibration.slope"),
    ({"slope": 0}, "calibration.slope"),
    ({"utterance_weight": 1.5}, "calibration.utterance_weight"),
    ({"global_threshold": -1}, "calibration.global_threshold"),
    ({"null_logit": "x"}, "calibration.null_logit"),
    ({"prototypes": {"r": {"fingerprint": "f", "vector": "!!"}}}, "calibration.prototypes['r']"),
    ({"prototypes": {"r": {"fingerprint": "f", "vector": "AAAAAA=="}}}, "calibration.prototypes['r']"),
])
def test_calibration_from_bad_dict(change: dict[str, Any], field: str) -> None:
    data = {**Calibration(dim=DIM).to_dict(), **change}
    with pytest.raises(InvalidArgument) as exc:
        Calibration.from_dict(data)
    assert exc.value.field == field


def test_stale_prototype_falls_back_to_the_centroid(three: RouteSet) -> None:
    far = axis(30)
    cal = Calibration(utterance_weight=0.0, prototypes={"billing": RoutePrototype("stale", far)}, dim=DIM)
    rs = _set(*three.records, calibration=cal, default=0.5)
    # the prototype does not match billing's vectors, so billing's centroid (near axis 0) is used
    assert _match(rs, axis(0)).top.name == "billing"
    fresh = Calibration(utterance_weight=0.0, dim=DIM,
                        prototypes={"billing": RoutePrototype(three.fingerprint("billing"), far)})
    assert _match(_set(*three.records, calibration=fresh, default=0.5), far).top.name == "billing"


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_blended_similarity(three: RouteSet, weight: float) -> None:
    rs = _set(*three.records, calibration=Calibration(utterance_weight=weight, dim=DIM), default=0.0)
    q = blend(axis(0), axis(9), 0.85)
    m = _match(rs, q).matches[0]
    utterances = np.asarray(three.get("billing").vectors)
    centroid = unit(utterances.sum(axis=0))  # no learned prototype: the centroid stands in
    assert m.name == "billing"
    assert m.utterance_similarity == pytest.approx(float((utterances @ q).max()), abs=1e-5)
    assert m.similarity == pytest.approx(weight * m.utterance_similarity + (1 - weight) * float(centroid @ q),
                                         abs=1e-5)
