"""fit_routes on seeded synthetic routes: it improves the stated objective, keeps the out-of-scope
recall floor, lowers the calibration error on held-out data, and refuses bad input by field."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from routerd.errors import InvalidArgument
from routerd.semantic import Calibration, RouteSet, fit_routes
from routerd.semantic.calibration import evaluate, fit_confidence, label_indices
from tests.unit.semantic_helpers import Synthetic, axis, record


@pytest.fixture(scope="module")
def world() -> Synthetic:
    return Synthetic(routes=12, per_route=20, spread=1.1, seed=7, spread_jitter=0.5)


def _routes(world: Synthetic, default: float = 0.9) -> RouteSet:
    return RouteSet(world.records, default_threshold=default)


def _held_out(rs: RouteSet, world: Synthetic, x: np.ndarray, labels: list[str | None]) -> object:
    pred, conf = rs.predict(x)
    return evaluate(pred, conf, label_indices(labels, rs.names), len(rs))


def test_fit_improves_accuracy_and_generalises(world: Synthetic) -> None:
    rs = _routes(world)
    x, y = world.sample(600, oos_share=0.25)
    res = fit_routes(rs, x, y, objective="accuracy")
    assert res.after.accuracy > res.before.accuracy + 0.05, (res.before, res.after)
    assert res.objective == "accuracy" and res.seconds < 30
    assert all(0.0 <= t <= 1.0 for t in res.thresholds.values())
    # the report agrees with what the fitted set answers
    again = _held_out(res.route_set, world, x, y)
    assert {k: pytest.approx(v) for k, v in asdict(res.after).items()} == asdict(again)  # type: ignore[call-overload]
    assert all(rec.spec.fitted and rec.spec.threshold == res.thresholds[rec.name] for rec in res.route_set.records)
    assert res.route_set.calibration is res.calibration
    # per-route rows: one per route, support counted from the labels
    assert [f.route for f in res.routes] == list(rs.names)
    assert sum(f.support for f in res.routes) == sum(lab is not None for lab in y)
    assert all(f.threshold_before == pytest.approx(0.9) for f in res.routes)
    # unseen requests from the same routes: better than before
    xt, yt = world.sample(600, oos_share=0.25)
    before, after = _held_out(rs, world, xt, yt), _held_out(res.route_set, world, xt, yt)
    assert after.accuracy > before.accuracy + 0.05  # type: ignore[attr-defined]


def test_fit_f1_objective(world: Synthetic) -> None:
    rs = _routes(world, default=0.2)
    x, y = world.sample(300, oos_share=0.3)
    res = fit_routes(rs, x, y, objective="f1")
    assert res.after.macro_f1 > res.before.macro_f1
    assert res.objective == "f1"


def test_min_out_of_scope_recall_is_respected(world: Synthetic) -> None:
    rs = _routes(world, default=0.0)
    x, y = world.sample(500, oos_share=0.3)
    free = fit_routes(rs, x, y)
    strict = fit_routes(rs, x, y, min_out_of_scope_recall=0.95)
    assert strict.after.out_of_scope_recall >= 0.95
    assert strict.after.out_of_scope_recall >= free.after.out_of_scope_recall
    # the floor costs in-scope accuracy, never the other way round
    assert strict.after.in_scope_accuracy <= free.after.in_scope_accuracy + 1e-9


def test_calibration_error_drops_on_held_out_data(world: Synthetic) -> None:
    rs = _routes(world, default=0.5)
    x, y = world.sample(800, oos_share=0.25)
    res = fit_routes(rs, x, y)
    xt, yt = world.sample(1500, oos_share=0.25)
    before = _held_out(rs, world, xt, yt)
    after = _held_out(res.route_set, world, xt, yt)
    assert after.calibration_error <= before.calibration_error, (before, after)  # type: ignore[attr-defined]
    assert after.calibration_error < 0.08  # type: ignore[attr-defined]


def test_fitted_calibration_survives_json(world: Synthetic) -> None:
    rs = _routes(world)
    x, y = world.sample(300)
    res = fit_routes(rs, x, y)
    back = Calibration.from_dict(json.loads(json.dumps(res.calibration.to_dict())))
    again = RouteSet(res.route_set.records, default_threshold=0.9, calibration=back)
    xt, _ = world.sample(200)
    p1, c1 = res.route_set.predict(xt)
    p2, c2 = again.predict(xt)
    assert np.array_equal(p1, p2) and np.allclose(c1, c2)


def test_a_route_added_after_the_fit_uses_the_fitted_global_threshold(world: Synthetic) -> None:
    x, y = world.sample(300)
    res = fit_routes(_routes(world, default=0.9), x, y)
    assert res.calibration.global_threshold == pytest.approx(res.global_threshold)
    extra = Synthetic(routes=1, per_route=10, seed=99).records[0]
    grown = res.route_set.with_changes([replace(extra, spec=replace(extra.spec, name="newcomer"))])
    assert grown.threshold("newcomer") == pytest.approx(res.global_threshold)
    assert grown.threshold(rs_name := world.names[0]) == pytest.approx(res.thresholds[rs_name])


def test_fit_is_deterministic(world: Synthetic) -> None:
    rs = _routes(world)
    x, y = world.sample(300)
    a, b = fit_routes(rs, x, y), fit_routes(rs, x, y)
    assert a.thresholds == b.thresholds and a.utterance_weight == b.utterance_weight


def test_fit_without_out_of_scope_examples(world: Synthetic) -> None:
    rs = _routes(world)
    x, y = world.sample(300, oos_share=0.0)
    res = fit_routes(rs, x, y, min_out_of_scope_recall=1.0)  # vacuous without out-of-scope examples
    assert res.after.out_of_scope == 0 and res.after.in_scope_accuracy >= res.before.in_scope_accuracy


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"objective": "recall"}, "objective"),
    ({"min_out_of_scope_recall": 1.5}, "min_out_of_scope_recall"),
    ({"min_out_of_scope_recall": float("nan")}, "min_out_of_scope_recall"),
])
def test_bad_parameters(world: Synthetic, kwargs: dict[str, object], field: str) -> None:
    x, y = world.sample(20)
    with pytest.raises(InvalidArgument) as exc:
        fit_routes(_routes(world), x, y, **kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_bad_examples(world: Synthetic) -> None:
    rs = _routes(world)
    x, y = world.sample(10, oos_share=0.0)
    y[3] = "no-such-route"
    with pytest.raises(InvalidArgument) as exc:
        fit_routes(rs, x, y)
    assert exc.value.field == "examples[3].route" and "no-such-route" in exc.value.problem
    with pytest.raises(InvalidArgument) as exc:
        fit_routes(rs, x[:, :5], [None] * 10)
    assert exc.value.field == "examples.embedding"
    with pytest.raises(InvalidArgument) as exc:
        fit_routes(rs, x, [None] * 9)
    assert exc.value.field == "examples"
    with pytest.raises(InvalidArgument) as exc:
        fit_routes(RouteSet([], default_threshold=0.5, dim=x.shape[1]), x, [None] * 10)
    assert exc.value.field == "examples" and "no routes" in exc.value.problem


def test_unreachable_recall_floor() -> None:
    # an out-of-scope example identical to every route's only utterance has similarity 1 whatever
    # the blend: no threshold in [0, 1] leaves it out
    rs = RouteSet([record("a", axis(0)[None, :]), record("b", axis(0)[None, :])], default_threshold=0.5)
    with pytest.raises(InvalidArgument) as exc:
        fit_routes(rs, axis(0)[None, :], [None], min_out_of_scope_recall=1.0)
    assert exc.value.field == "min_out_of_scope_recall" and "at most 0.000" in exc.value.problem


def test_confidence_fit_recovers_a_known_model() -> None:
    rng = np.random.default_rng(1)
    slope, null = 25.0, -0.5
    margins = rng.normal(0, 0.08, size=(4000, 5))
    logits = np.concatenate([slope * margins, np.full((4000, 1), null)], axis=1)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    draw = np.array([rng.choice(6, p=row) for row in p])
    labels = np.where(draw == 5, -1, draw)
    s, b = fit_confidence(margins, labels)
    assert s == pytest.approx(slope, rel=0.15) and b == pytest.approx(null, abs=0.2)
    assert math.isfinite(s) and math.isfinite(b)
