"""The evaluation harness on hand-made cases whose curve, oracle, area and accuracy-at-fraction are
computed by hand; the decision rule held equal to routerd's; the exact sweep against a W grid; the
baselines; RouteLLM's PGR/APGR/CPT; the optional plot."""

from __future__ import annotations

import importlib.util
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from routerd.engine.engine import Engine
from routerd.engine.query import RouteQuery
from routerd.errors import FailedPrecondition, InvalidArgument
from routerd.model import evaluation as ev
from tests.harness.engine import spec

# 3 requests × 2 agents: A costs 1, B costs 10; A is right on request 0, B on requests 0 and 1.
Q = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
C = np.array([[1.0, 10.0], [1.0, 10.0], [1.0, 10.0]])


def test_decide_is_the_utility_rule() -> None:
    q = np.array([[0.5, 0.9], [0.8, 0.81]])
    c = np.array([[0.001, 0.1], [0.001, 0.1]])
    # Request 0 switches to the dear agent when W > 0.099/0.4; request 1 when W > 0.099/0.01.
    assert ev.decide(q, c, 0.2).tolist() == [0, 0]
    assert ev.decide(q, c, 0.3).tolist() == [1, 0]
    assert ev.decide(q, c, 10.0).tolist() == [1, 1]
    assert ev.decide(np.array([[0.5, 0.5]]), np.array([[1.0, 1.0]]), 1.0).tolist() == [0]  # first of equals
    with pytest.raises(InvalidArgument, match="wtp"):
        ev.decide(q, c, 0.0)
    with pytest.raises(InvalidArgument, match="NaN"):
        ev.decide(np.array([[np.nan, 1.0]]), np.array([[1.0, 1.0]]), 1.0)


@pytest.mark.parametrize("wtp", [0.001, 0.01, 0.03, 0.2, 1.0, 5.0, 100.0])
def test_decide_matches_routerd(engine: Engine, wtp: float) -> None:
    agents = [("cheap", 0.0005, 0.55), ("mid", 0.004, 0.7), ("dear", 0.03, 0.9), ("same-as-mid", 0.004, 0.7)]
    for name, per_call, quality in agents:
        engine.registry.register(spec(name, per_call=per_call, quality=quality))
    d = engine.route(RouteQuery(text="route me", willingness_to_pay=wtp))
    table_order = [a.agent_name for a in d.alternatives()] + [d.agent_name]
    assert set(table_order) == {a[0] for a in agents}
    names = [a[0] for a in agents]
    q = np.array([[a[2] for a in agents]])
    c = np.array([[a[1] for a in agents]])
    assert names[int(ev.decide(q, c, wtp)[0])] == d.agent_name


def test_hand_made_curve() -> None:
    curve = ev.sweep(Q, C, Q, C)
    # W < 9: A everywhere (cost 1, quality 1/3); W > 9: B on request 1 (cost 4, quality 2/3).
    np.testing.assert_allclose(curve.cost, [1.0, 4.0])
    np.testing.assert_allclose(curve.quality, [1 / 3, 2 / 3])
    assert curve.wtp[0] < 9.0 < curve.wtp[1]
    hull = curve.hull()
    np.testing.assert_allclose(hull[0], [1.0, 4.0])
    # AUC over [1, 10] (cheapest agent A .. best agent B): (3·(1/3 + 2/3)/2 + 6·2/3) / 9.
    assert ev.area(hull, 1.0, 10.0) == pytest.approx(5.5 / 9)
    assert ev.cost_to_reach(hull, 2 / 3) == pytest.approx(4.0)


def test_hand_made_evaluation() -> None:
    r = ev.evaluate({"perfect": Q}, C, Q, C, ["A", "B"])
    assert r.best_agent == "B" and r.cheapest_agent == "A"
    assert r.single == {"A": (1.0, pytest.approx(1 / 3)), "B": (10.0, pytest.approx(2 / 3))}
    assert r.cost_range == (1.0, 10.0)
    # Oracle: request 0 → A (both right, A cheaper), 1 → B, 2 → A (nobody right: the cheapest).
    assert ev.oracle_choice(Q, C).tolist() == [0, 1, 0]
    assert r.oracle_point == (4.0, pytest.approx(2 / 3))
    p = r.routers["perfect"]
    assert p.auc == pytest.approx(5.5 / 9)
    # Fractions of B's cost 10: 0.5 is below any point, 1 is A's point, 2.5 is halfway up the segment.
    assert math.isnan(p.at_fraction[0.05])
    assert p.at_fraction[0.10] == pytest.approx(1 / 3)
    assert p.at_fraction[0.25] == pytest.approx(1 / 3 + (1.5 / 3) * (1 / 3))
    assert p.at_fraction[0.50] == pytest.approx(2 / 3)
    assert p.at_fraction[0.60] == pytest.approx(2 / 3)
    assert p.at_fraction_points[0.25] == pytest.approx(1 / 3)  # deterministically only A's point fits
    assert p.cost_to_match_best == pytest.approx(0.4)
    assert p.dominates_single_agents == pytest.approx(0.0)
    rnd = r.routers["random (matched cost)"]
    assert rnd.auc == pytest.approx(0.5)  # the segment from A to B: mean of 1/3 and 2/3
    assert rnd.at_fraction[0.25] == pytest.approx(1 / 3 + (1.5 / 9) * (1 / 3))
    assert rnd.cost_to_match_best == pytest.approx(1.0)
    assert r.routers["oracle"].auc == pytest.approx(5.5 / 9)
    json.dumps(r.to_json())
    assert "perfect" in r.table() and "oracle" in r.table()


def test_a_router_that_predicts_wrong_loses() -> None:
    wrong = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # sends B where it does not help
    r = ev.evaluate({"wrong": wrong}, C, Q, C, ["A", "B"])
    w = r.routers["wrong"]
    assert w.dominates_single_agents < 0
    assert w.auc < r.routers["random (matched cost)"].auc


def test_an_agent_cheaper_than_the_curve_is_not_dominated() -> None:
    c_hat = C.copy()
    c_hat[0] = [10.0, 1.0]  # the estimate calls B the cheaper agent on request 0
    r = ev.evaluate({"misled": Q}, c_hat, Q, C, ["A", "B"]).routers["misled"]
    assert r.curve.cost[0] == pytest.approx(4.0)  # B on request 0 even at W → 0
    assert r.cheaper_agents == ("A",)
    assert r.dominates_single_agents == -math.inf
    assert r.covered_margin == pytest.approx(0.0)  # B's point is on its curve
    assert ev.evaluate({"perfect": Q}, C, Q, C, ["A", "B"]).routers["perfect"].cheaper_agents == ()


def test_sweep_is_exact_against_a_grid() -> None:
    rng = np.random.default_rng(3)
    n, a = 60, 5
    q_hat, c_hat = rng.random((n, a)), rng.uniform(1e-4, 1e-2, (n, a))
    q_true, c_true = (rng.random((n, a)) < 0.5).astype(float), c_hat * rng.uniform(0.5, 1.5, (n, a))
    curve = ev.sweep(q_hat, c_hat, q_true, c_true)
    again = ev.curve_at(q_hat, c_hat, q_true, c_true, curve.wtp)
    np.testing.assert_allclose(again.cost, curve.cost, rtol=1e-12)
    np.testing.assert_allclose(again.quality, curve.quality, rtol=1e-12)
    rows = np.arange(n)
    assert curve.cost[0] == pytest.approx(c_true[rows, c_hat.argmin(axis=1)].mean())  # always the cheapest
    assert curve.quality[-1] == pytest.approx(q_true[rows, q_hat.argmax(axis=1)].mean())  # always the best
    # Every W of a fine grid gives one of the sweep's points.
    grid = ev.wtp_grid(q_hat, c_hat, 300)
    on_grid = ev.curve_at(q_hat, c_hat, q_true, c_true, grid)
    pts = set(zip(np.round(curve.cost, 12), np.round(curve.quality, 12), strict=True))
    assert set(zip(np.round(on_grid.cost, 12), np.round(on_grid.quality, 12), strict=True)) <= pts
    assert on_grid.cost[0] == pytest.approx(curve.cost[0]) and on_grid.quality[-1] == pytest.approx(curve.quality[-1])


def test_pareto_and_hull() -> None:
    cost = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    qual = np.array([0.2, 0.5, 0.4, 0.55, 0.9, 0.8])
    assert ev.pareto(cost, qual).tolist() == [0, 1, 3, 4]
    hx, hy = ev.upper_hull(cost, qual)
    assert hx.tolist() == [1.0, 2.0, 4.0]  # (3, 0.55) lies below the chord from (2, .5) to (4, .9)
    assert hy.tolist() == [0.2, 0.5, 0.9]
    assert ev.hull_value((hx, hy), 3.0) == pytest.approx(0.7)
    assert ev.hull_value((hx, hy), 10.0) == pytest.approx(0.9)
    assert math.isnan(float(ev.hull_value((hx, hy), 0.5)))
    # R = 0 below the hull: over [0, 2] only [1, 2] counts, (0.2 + 0.5)/2 over a range of 2.
    assert ev.area((hx, hy), 0.0, 2.0) == pytest.approx(0.35 / 2)
    assert ev.area((hx, hy), 4.0, 4.0) == pytest.approx(0.9)
    assert ev.dominance_margin((hx, hy), np.array([3.0]), np.array([0.6])) == pytest.approx(0.1)
    assert ev.dominance_margin((hx, hy), np.array([0.5]), np.array([0.0])) == -math.inf
    assert math.isnan(ev.cost_to_reach((hx, hy), 0.95))


def test_knn_router() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([5, 0], 0.3, (40, 2)), rng.normal([0, 5], 0.3, (40, 2))])
    q = np.vstack([np.tile([1.0, 0.0], (40, 1)), np.tile([0.0, 1.0], (40, 1))])
    knn = ev.KNNRouter().fit(x, q)
    assert knn.k_ in knn.ks and knn.loo_brier_[knn.k_] == min(knn.loo_brier_.values())
    np.testing.assert_allclose(knn.predict(np.array([[4.0, 0.2], [0.1, 6.0]])), [[1.0, 0.0], [0.0, 1.0]])
    fixed = ev.KNNRouter(k=80).fit(x, q)
    np.testing.assert_allclose(fixed.predict(np.array([[1.0, 1.0]])), [[0.5, 0.5]])
    # A missing quality counts as the agent's mean (here 1), not as 0.
    q_missing = q.copy()
    q_missing[1:40, 0] = np.nan
    q_missing[40:, 0] = 1.0
    assert ev.KNNRouter(k=3).fit(x, q_missing).predict(np.array([[5.0, 0.0]]))[0, 0] == pytest.approx(1.0)


def test_logistic_router() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1])))
    q = np.column_stack([(rng.random(300) < p).astype(float), np.full(300, 0.8)])
    lr = ev.LogisticRouter().fit(x, q)
    assert lr.l2_ in lr.l2s
    pred = lr.predict(np.array([[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0]]))
    assert pred[0, 0] > 0.9 and pred[1, 0] < 0.1
    np.testing.assert_allclose(pred[:, 1], 0.8, atol=0.05)  # a constant soft label: its level
    # Newton's solution is a stationary point of the penalised loss.
    xb = np.column_stack([x - x.mean(axis=0), np.ones(300)])
    w = ev._logistic_fit(x - x.mean(axis=0), q[:, 0], 1.0)
    g = xb.T @ (1 / (1 + np.exp(-xb @ w)) - q[:, 0]) + np.r_[np.ones(3), 1e-8] * w
    assert np.abs(g).max() < 1e-6


def test_task_aware_router() -> None:
    q = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [np.nan, 1.0]])
    t = ev.TaskAwareRouter().fit(["a", "a", "b", "b"], q)
    np.testing.assert_allclose(t.predict(["a", "b", "unseen"]), [[0.5, 0.0], [0.0, 1.0], [1 / 3, 0.5]])


def test_pgr_apgr_cpt_by_hand() -> None:
    strong = np.array([1.0, 1.0, 1.0, 0.0])
    weak = np.array([0.0, 1.0, 0.0, 0.0])
    c = ev.pgr_curve(np.array([3.0, 0.0, 2.0, 1.0]), strong, weak)
    np.testing.assert_allclose(c.share, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(c.accuracy, [0.25, 0.5, 0.75, 0.75, 0.75])
    np.testing.assert_allclose(c.pgr, [0, 0.5, 1, 1, 1])
    assert c.apgr == pytest.approx(0.0625 + 0.1875 + 0.25 + 0.25)
    assert c.cpt[0.5] == pytest.approx(0.25)
    assert c.cpt[0.8] == pytest.approx(0.25 + 0.3 / 0.5 * 0.25)
    tied = ev.pgr_curve(np.zeros(4), strong, weak)  # all-or-nothing: the straight line
    assert tied.apgr == pytest.approx(0.5) and tied.share.tolist() == [0.0, 1.0]
    worst = ev.pgr_curve(-np.array([3.0, 0.0, 2.0, 1.0]), strong, weak)
    assert worst.apgr < 0.5
    with pytest.raises(InvalidArgument, match="equally accurate"):
        ev.pgr_curve(np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0]))


def test_plot(tmp_path: Path) -> None:
    r = ev.evaluate({"perfect": Q}, C, Q, C, ["A", "B"])
    out = tmp_path / "curve.png"
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(FailedPrecondition, match="matplotlib"):
            ev.plot(r, str(out))
        return
    ev.plot(r, str(out), size=(6.0, 4.0), dpi=50)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (300, 200)


def test_chosen_calibration_by_hand() -> None:
    # Two agents; the cheap one is always chosen at small W, the dear one at large W.
    q_hat = np.array([[0.2, 0.9], [0.2, 0.9]])
    c_hat = np.array([[1.0, 2.0], [1.0, 2.0]])
    q_true = np.array([[0.0, 1.0], [1.0, 1.0]])
    # W = 1: 0.2 − 1 > 0.9 − 2, both requests get agent 0 (predicted 0.2, true mean 0.5): ECE 0.3.
    assert ev.chosen_calibration(q_hat, c_hat, q_true, [1.0]) == pytest.approx(0.3)
    # W = 10: agent 1 (predicted 0.9, true 1.0): ECE 0.1; both W pooled: (0.6 + 0.2) / 4.
    assert ev.chosen_calibration(q_hat, c_hat, q_true, [10.0]) == pytest.approx(0.1)
    assert ev.chosen_calibration(q_hat, c_hat, q_true, [1.0, 10.0]) == pytest.approx(0.2)
    assert ev.chosen_calibration(q_true, c_hat, q_true) == pytest.approx(0.0)


def test_plot_of_a_full_evaluation(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    q = (rng.uniform(size=(200, 4)) < np.array([0.5, 0.6, 0.7, 0.9])).astype(float)
    c = np.broadcast_to(np.array([0.1, 0.3, 1.0, 5.0]) * 1e-3, q.shape).copy()
    noisy = np.clip(q + rng.normal(0, 0.4, q.shape), 0, 1)
    r = ev.evaluate({"noisy": noisy, "perfect": q}, c, q, c, ["a", "b/c", "d", "e"])
    out = tmp_path / "full.png"
    ev.plot(r, str(out))  # defaults: 8 x 5 inches at 100 dpi
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (800, 500)
