"""The utterance indexes: exact search, HNSW recall against it, and a route set answering the same
through either (route-level agreement), across snapshot changes and a background build."""

from __future__ import annotations

import numpy as np
import pytest

from routerd.semantic import ExactIndex, HnswIndex, RouteSet
from tests.unit.semantic_helpers import Synthetic, axis, record, unit

NOON = 12 * 3600.0


def _clustered(n_clusters: int, per: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n_clusters, dim)))
    return unit(np.repeat(centres, per, axis=0) + 0.6 * rng.standard_normal((n_clusters * per, dim)) / np.sqrt(dim))


def test_exact_index() -> None:
    idx = ExactIndex(4)
    idx.add(np.array([10, 11, 12]), np.array([[1, 0, 0, 0], [0.8, 0.6, 0, 0], [0, 1, 0, 0]]))
    sims, ids = idx.query(np.array([[1.0, 0, 0, 0]], dtype=np.float32), 5)
    assert ids.tolist() == [[10, 11, 12, -1, -1]]
    assert sims[0, :3] == pytest.approx([1.0, 0.8, 0.0]) and np.isneginf(sims[0, 3:]).all()
    idx.delete(np.array([10, 99]))
    assert len(idx) == 2 and idx.query(np.array([[1.0, 0, 0, 0]], dtype=np.float32), 1)[1].tolist() == [[11]]
    assert idx.is_ready()


def test_hnsw_recall_against_exact() -> None:
    x = _clustered(40, 50)
    ids = np.arange(len(x)) + 1000
    exact, ann = ExactIndex(32), HnswIndex(32)
    exact.add(ids, x)
    ann.build(ids, x, background=False)
    assert ann.is_ready() and len(ann) == len(x)
    rng = np.random.default_rng(1)
    q = unit(x[rng.choice(len(x), 200)] + 0.3 * rng.standard_normal((200, 32)) / np.sqrt(32))
    _, e = exact.query(q, 10)
    s, a = ann.query(q, 10)
    recall = np.mean([len(set(r1) & set(r2)) / 10 for r1, r2 in zip(e, a, strict=True)])
    assert recall >= 0.95
    assert np.all(np.diff(s, axis=1) <= 1e-6)  # best first
    # the similarities of the ids returned are exact cosines
    assert np.allclose(s[:, 0], np.einsum("ij,ij->i", q, x[a[:, 0] - 1000]), atol=1e-5)


def test_hnsw_delete_and_padding() -> None:
    x = _clustered(5, 4)
    ann = HnswIndex(32)
    ann.build(np.arange(20), x, background=False)
    ann.delete(np.array([0, 1, 2, 55]))
    _, ids = ann.query(x[:1], 30)
    got = set(ids[0].tolist())
    assert not got & {0, 1, 2} and -1 in got and len(got - {-1}) == 17


def test_background_build_serves_exactly_until_ready() -> None:
    world = Synthetic(routes=30, per_route=40, seed=3)
    big = RouteSet(world.records, default_threshold=0.3, exact_max_utterances=100, background_build=True)
    x, _ = world.sample(50)
    early = big.predict(x)[0]  # exact while the index builds (or through it, if already built)
    assert big.wait_ready(60) and big.uses_ann and big.is_ready()
    late = big.predict(x)[0]
    assert np.mean(early == late) >= 0.96


@pytest.mark.parametrize("fitted", [False, True])
def test_ann_route_set_agrees_with_exact(fitted: bool) -> None:
    world = Synthetic(routes=60, per_route=40, seed=5, spread=0.9)
    exact = RouteSet(world.records, default_threshold=0.3)
    ann = RouteSet(world.records, default_threshold=0.3, exact_max_utterances=100, background_build=False)
    if fitted:
        from routerd.semantic import fit_routes

        xf, yf = world.sample(400)
        res = fit_routes(exact, xf, yf)
        exact = res.route_set
        ann = RouteSet(exact.records, default_threshold=0.3, calibration=res.calibration,
                       exact_max_utterances=100, background_build=False)
    assert ann.uses_ann and not exact.uses_ann
    x, _ = world.sample(500)
    pe, ce = exact.predict(x)
    pa, ca = ann.predict(x)
    assert np.mean(pe == pa) >= 0.97
    assert np.abs(ce - ca)[pe == pa].mean() < 0.01
    me = exact.match(x, 5, now=NOON, user_tiers=[None] * len(x), limiter=None, consume=False)
    ma = ann.match(x, 5, now=NOON, user_tiers=[None] * len(x), limiter=None, consume=False)
    same_top3 = [[m.name for m in a.matches[:3]] == [m.name for m in b.matches[:3]]
                 for a, b in zip(me, ma, strict=True)]
    assert np.mean(same_top3) >= 0.9


def test_changes_keep_the_shared_index_in_line() -> None:
    world = Synthetic(routes=20, per_route=20, seed=9)
    rs = RouteSet(world.records, default_threshold=0.5, exact_max_utterances=50, background_build=False)
    probe = np.asarray(world.records[3].vectors[0])
    assert rs.match(probe[None], 1, now=NOON, user_tiers=[None], limiter=None, consume=False)[0].top.name == "route-03"
    newcomer = record("newcomer", np.stack([axis(0), axis(1)]))
    new = rs.with_changes([newcomer], remove=["route-03"])
    assert new.uses_ann
    res = new.match(probe[None], 3, now=NOON, user_tiers=[None], limiter=None, consume=False)[0]
    assert "route-03" not in [m.name for m in res.matches]
    assert new.match(axis(0)[None], 1, now=NOON, user_tiers=[None], limiter=None,
                     consume=False)[0].top.name == "newcomer"
    # the old snapshot never answers with a route it does not have
    old = rs.match(axis(0)[None], 3, now=NOON, user_tiers=[None], limiter=None, consume=False)[0]
    assert "newcomer" not in [m.name for m in old.matches]
    # a threshold-only change keeps the index untouched and the answers the same
    same = new.with_changes([new.get("route-04")])
    assert same.predict(probe[None])[0].tolist() == new.predict(probe[None])[0].tolist()


def test_hnsw_compacts_after_many_deletes() -> None:
    x = _clustered(10, 30)
    ann = HnswIndex(32)
    ann.build(np.arange(300), x, background=False)
    ann.delete(np.arange(0, 60))
    assert ann.tombstones == 60 and ann.compactions == 0  # 20 %: below the rebuild point
    ann.delete(np.arange(60, 120))  # 40 %: a background rebuild of the live vectors
    ann.add(np.array([1000]), x[:1])  # changes during the rebuild are replayed onto the new graph
    assert ann.wait_compacted(30)
    assert ann.compactions == 1 and ann.tombstones == 0 and len(ann) == 181
    _, ids = ann.query(x[:1], 5)
    assert ids[0, 0] == 1000 and not set(ids[0].tolist()) & set(range(120))
    exact = ExactIndex(32)
    exact.add(np.arange(120, 300), x[120:])
    _, e = exact.query(x[150:160], 5)
    _, a = ann.query(x[150:160], 5)
    assert np.mean([len(set(p) & set(q)) / 5 for p, q in zip(e, a, strict=True)]) >= 0.9


def test_exact_fill_in_is_the_nearest_utterance_similarity() -> None:
    world = Synthetic(routes=25, per_route=30, seed=11)
    rs = RouteSet(world.records, default_threshold=0.5)
    q, _ = world.sample(40)
    rng = np.random.default_rng(0)
    qi, routes = rng.integers(40, size=300), rng.integers(25, size=300)
    from routerd.semantic.linear import segment_max

    full = segment_max(q @ rs._matrix.T, rs._starts)
    assert np.allclose(rs._exact_route_max(q, qi, routes), full[qi, routes], atol=1e-6)
