"""FastGRNN quality model: gradients, shapes, estimator conventions, learning, heads, int8, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from routerd import errors
from routerd.errors import InvalidArgument
from routerd.model import heads as hd
from routerd.model.fastgrnn import (
    FastGRNNRouter,
    NotFittedError,
    encoder_forward,
    init_params,
    model_loss,
    pad_sequences,
    quantize_int8,
)
from routerd.model.training import hard_threshold_mask, stages


def synthetic(n: int, d: int = 16, agents: int = 4, clusters: int = 6, seed: int = 0):
    """Requests from clusters; in each cluster one agent is clearly best (0.9), others 0.15–0.55.
    Returns X (n, d) float32, binary Y (n, agents) and the true probabilities."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    p = rng.uniform(0.15, 0.55, size=(clusters, agents))
    for k in range(clusters):
        p[k, k % agents] = 0.9
    label = rng.integers(0, clusters, n)
    X = centers[label] + 0.6 * rng.normal(size=(n, d)) / np.sqrt(d)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y = (rng.uniform(size=(n, agents)) < p[label]).astype(np.float64)
    return X.astype(np.float32), Y, p[label]


@pytest.fixture(scope="module")
def data():
    return synthetic(1600)


@pytest.fixture(scope="module")
def fitted(data):
    X, Y, _ = data
    return FastGRNNRouter(hidden_dim=16, epochs=30, random_state=0).fit(X[:1200], Y[:1200],
                                                                         agent_names=["a", "b", "c", "d"])


def bce(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


# ------------------------------------------------------------------------------- gradient check


@pytest.mark.parametrize("ranks", [(None, None), (3, 2)], ids=["full-rank", "low-rank"])
def test_gradients_match_finite_differences(ranks: tuple[int | None, int | None]) -> None:
    rng = np.random.default_rng(0)
    n, T, d, H, A, d_e = 4, 4, 5, 5, 3, 4
    p = init_params(rng, d, H, ranks[0], ranks[1], A, d_e, float(d), np.zeros(A))
    for k in p:  # away from the special initial values (ν̂ = −4, zero w_e) so every term is exercised
        p[k] = p[k] + rng.normal(0.0, 0.3, p[k].shape)
    mask = np.ones((n, T))
    mask[0, 2:] = 0.0  # shorter sequences, and a gap inside one
    mask[1, 1:] = 0.0
    mask[2, 1] = 0.0
    X = rng.normal(size=(n, T, d)) * mask[:, :, None]
    Y = rng.uniform(size=(n, A))  # soft labels
    observed = (rng.uniform(size=(n, A)) > 0.3).astype(np.float64)
    E = rng.normal(size=(A, d_e))
    _, _, grads = model_loss(p, X, mask, Y, observed, E, l2=0.01, embedding_weight=0.7, embedding_l2=0.05)
    assert set(grads) == set(p)
    for k, v in p.items():
        numeric = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            old = v[i]
            v[i] = old + 1e-6
            up = model_loss(p, X, mask, Y, observed, E, 0.01, 0.7, 0.05, grad=False)[0]
            v[i] = old - 1e-6
            down = model_loss(p, X, mask, Y, observed, E, 0.01, 0.7, 0.05, grad=False)[0]
            v[i] = old
            numeric[i] = (up - down) / 2e-6
        scale = np.abs(numeric).max() + np.abs(grads[k]).max()
        assert scale > 0, k
        assert np.abs(numeric - grads[k]).max() <= 1e-6 * scale, k


def test_cell_follows_the_paper_equations() -> None:
    rng = np.random.default_rng(1)
    d, H = 3, 4
    p = init_params(rng, d, H, None, None, 1, None, float(d), np.zeros(1))
    X = rng.normal(size=(2, 2, d))
    sig = hd.sigmoid
    zeta, nu = sig(p["zeta"])[0], sig(p["nu"])[0]
    h = np.zeros((2, H))
    for t in range(2):
        pre = X[:, t] @ p["W"].T + h @ p["U"].T
        z, c = sig(pre + p["b_z"]), np.tanh(pre + p["b_h"])
        h = (zeta * (1 - z) + nu) * c + z * h
    out, _ = encoder_forward(p, X)
    np.testing.assert_allclose(out, h, rtol=1e-12)


def test_masked_steps_leave_the_state_unchanged() -> None:
    rng = np.random.default_rng(2)
    p = init_params(rng, 3, 4, None, None, 1, None, 3.0, np.zeros(1))
    seqs = [rng.normal(size=(1, 3)), rng.normal(size=(3, 3))]
    X, mask = pad_sequences(seqs)
    assert X.shape == (2, 3, 3) and mask.tolist() == [[True, False, False], [True, True, True]]
    h, _ = encoder_forward(p, X, mask.astype(float))
    alone, _ = encoder_forward(p, seqs[0][None])
    np.testing.assert_allclose(h[0], alone[0], rtol=1e-12)


# ----------------------------------------------------------------------------- estimator basics


def test_shapes_and_learned_attributes(fitted: FastGRNNRouter, data) -> None:
    X = data[0]
    assert fitted.n_features_in_ == 16 and fitted.n_agents_ == 4 and fitted.agent_names_ == ["a", "b", "c", "d"]
    assert fitted.W_.shape == (16, 16) and fitted.U_.shape == (16, 16) and fitted.V_.shape == (4, 16)
    assert 0 < fitted.zeta_ < 1 and 0 < fitted.nu_ < 1
    assert fitted.predict_quality(X[:7]).shape == (7, 4)
    assert fitted.transform(X[:7]).shape == (7, 16)
    q = fitted.predict_quality(X[:50])
    assert ((q > 0) & (q < 1)).all()
    hist = fitted.history_
    assert len(hist["train_loss"]) == fitted.n_iter_ == len(hist["val_loss"])
    assert all(v is not None for v in hist["val_loss"])
    assert 1 <= fitted.best_epoch_ <= fitted.n_iter_
    assert fitted.agent_counts_.tolist() == [1200] * 4
    # sequences: (n, T, d) with a mask; a single valid step equals the (n, d) form
    seq = np.zeros((3, 2, 16), dtype=np.float32)
    seq[:, 0] = X[:3]
    np.testing.assert_allclose(fitted.predict_quality(seq, mask=np.array([[True, False]] * 3)),
                               fitted.predict_quality(X[:3]), rtol=1e-10)


def test_not_fitted_error() -> None:
    m = FastGRNNRouter()
    for call in (lambda: m.predict_quality(np.zeros((1, 4))), lambda: m.quantize(), lambda: m.to_dict(),
                 lambda: m.predict_quality_for(np.zeros((1, 4)), np.zeros((1, 4)))):
        with pytest.raises(NotFittedError):
            call()
    assert issubclass(NotFittedError, ValueError)
    assert NotFittedError is errors.NotFittedError and issubclass(NotFittedError, errors.FailedPrecondition)


def test_init_only_stores_and_params_round_trip() -> None:
    m = FastGRNNRouter(hidden_dim=-3, random_state=5)  # not validated until fit
    assert m.get_params()["hidden_dim"] == -3 and m.get_params()["random_state"] == 5
    assert m.set_params(hidden_dim=8) is m and m.hidden_dim == 8
    with pytest.raises(InvalidArgument) as exc:
        m.set_params(hiden_dim=8)
    assert exc.value.field == "hiden_dim"
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(hidden_dim=0).fit(np.zeros((4, 2)), np.zeros((4, 1)))
    assert exc.value.field == "hidden_dim"
    assert "hidden_dim=8" in repr(m)


def test_same_seed_same_weights_and_clone_predicts_the_same(data) -> None:
    X, Y, _ = data
    kw = dict(hidden_dim=8, epochs=4, random_state=3)
    a = FastGRNNRouter(**kw).fit(X[:400], Y[:400])
    b = FastGRNNRouter(**kw).fit(X[:400], Y[:400])
    for k in a.params_:
        np.testing.assert_array_equal(a.params_[k], b.params_[k])
    clone = FastGRNNRouter(**a.get_params()).fit(X[:400], Y[:400])
    np.testing.assert_array_equal(clone.predict_quality(X[1000:1100]), a.predict_quality(X[1000:1100]))
    other = FastGRNNRouter(**{**kw, "random_state": 4}).fit(X[:400], Y[:400])
    assert not np.array_equal(other.params_["W"], a.params_["W"])


def test_progress_callback_and_abort_leaves_the_model(data) -> None:
    X, Y, _ = data
    seen: list[tuple[int, float, float | None]] = []
    m = FastGRNNRouter(hidden_dim=8, epochs=3, patience=10, distill=0, random_state=0)
    m.fit(X[:300], Y[:300], progress=lambda e, tr, va: seen.append((e, tr, va)))
    assert [e for e, _, _ in seen] == [1, 2, 3] and all(va is not None and va > 0 for _, _, va in seen)
    # with teachers, progress counts the epochs of every model trained: (distill + 1) · epochs here
    counted: list[int] = []
    FastGRNNRouter(hidden_dim=8, epochs=3, patience=10, distill=2, random_state=0).fit(
        X[:300], Y[:300], progress=lambda e, tr, va: counted.append(e))
    assert counted == list(range(1, 10)) and FastGRNNRouter(epochs=3, distill=2).epoch_budget == 9
    before = m.predict_quality(X[:5])

    def stop(epoch: int, train_loss: float, val_loss: float | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m.set_params(random_state=9).fit(X[300:600], Y[300:600], progress=stop)
    np.testing.assert_array_equal(m.predict_quality(X[:5]), before)
    no_val = FastGRNNRouter(hidden_dim=8, epochs=2, validation_fraction=0.0, distill=0, random_state=0)
    vals: list[float | None] = []
    no_val.fit(X[:100], Y[:100], progress=lambda e, tr, va: vals.append(va))
    assert vals == [None, None] and no_val.temperature_ == 1.0 and no_val.n_iter_ == 2


def test_self_distillation_trains_on_the_teachers_and_validates_on_the_truth(data) -> None:
    X, Y, P = data
    tr, te = slice(0, 1200), slice(1200, None)
    plain = FastGRNNRouter(hidden_dim=16, distill=0, random_state=1).fit(X[tr], Y[tr])
    taught = FastGRNNRouter(hidden_dim=16, distill=3, random_state=1).fit(X[tr], Y[tr])
    assert len(taught.history_["teacher_epochs"]) == 3 and "teacher_epochs" not in plain.history_
    # the student is fitted to the teachers' smooth targets: it is closer to the true probabilities
    # than a model fitted to the 0/1 outcomes (0.0031 vs 0.0052 mean squared error here)
    err_plain = float(np.mean((plain.predict_quality(X[te]) - P[te]) ** 2))
    err_taught = float(np.mean((taught.predict_quality(X[te]) - P[te]) ** 2))
    assert err_taught < err_plain
    same_split = FastGRNNRouter(hidden_dim=16, distill=3, distill_bagging=False, random_state=1).fit(X[tr], Y[tr])
    err_same = float(np.mean((same_split.predict_quality(X[te]) - P[te]) ** 2))
    assert err_same < err_plain and not np.allclose(same_split.predict_quality(X[te]), taught.predict_quality(X[te]))
    assert bce(taught.predict_quality(X[te]), Y[te]) < bce(np.broadcast_to(Y[tr].mean(axis=0), Y[te].shape), Y[te])
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(distill=-1).fit(X[:50], Y[:50])
    assert exc.value.field == "distill"
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(distill_weight=1.5).fit(X[:50], Y[:50])
    assert exc.value.field == "distill_weight"


def test_frozen_embedding_head_costs_the_known_agents_nothing(data) -> None:
    X, Y, _ = data
    E = np.random.default_rng(5).normal(size=(Y.shape[1], 6))
    plain = FastGRNNRouter(random_state=3).fit(X, Y)
    with_e = FastGRNNRouter(random_state=3).fit(X, Y, E)
    # the encoder and the per-agent head are trained exactly as without agent embeddings
    np.testing.assert_array_equal(with_e.predict_quality(X[:20]), plain.predict_quality(X[:20]))
    assert with_e.M_ is not None and plain.M_ is None
    assert len(with_e.history_["embedding_head_val_loss"]) >= 1
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(embedding_head="both").fit(X, Y, E)
    assert exc.value.field == "embedding_head"


# --------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("X", "Y", "kwargs", "field"), [
    (np.zeros((4, 3)), np.zeros((5, 2)), {}, "Y"),
    (np.zeros((4, 3)), np.full((4, 2), 1.5), {}, "Y"),
    (np.zeros((4, 3)), np.full((4, 2), -0.1), {}, "Y"),
    (np.zeros((4, 3)), np.array([["a"] * 2] * 4), {}, "Y"),
    (np.full((4, 3), np.nan), np.zeros((4, 2)), {}, "X"),
    (np.zeros(3), np.zeros((4, 2)), {}, "X"),
    (np.array([["x"] * 3] * 4), np.zeros((4, 2)), {}, "X"),
    (np.zeros((4, 3)), np.zeros((4, 2)), {"agent_embeddings": np.zeros((3, 5))}, "agent_embeddings"),
    (np.zeros((4, 3)), np.zeros((4, 2)), {"agent_embeddings": np.full((2, 5), np.inf)}, "agent_embeddings"),
    (np.zeros((4, 3)), np.zeros((4, 2)), {"agent_names": ["x"]}, "agent_names"),
    (np.zeros((4, 3)), np.zeros((4, 2)), {"agent_names": ["x", "x"]}, "agent_names"),
    (np.zeros((4, 2, 3)), np.zeros((4, 2)), {"mask": np.zeros((4, 2), dtype=bool)}, "mask"),
    (np.zeros((4, 2, 3)), np.zeros((4, 2)), {"mask": np.ones((4, 3), dtype=bool)}, "mask"),
    (np.zeros((4, 3)), np.zeros((4, 2)), {"mask": np.ones((4, 1), dtype=bool)}, "mask"),
])
def test_bad_input_names_the_field(X, Y, kwargs, field) -> None:
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(epochs=1).fit(X, Y, **kwargs)
    assert exc.value.field == field


def test_agent_without_quality_values_is_named() -> None:
    Y = np.zeros((6, 3))
    Y[:, 1] = np.nan
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(epochs=1).fit(np.zeros((6, 2)), Y, agent_names=["cheap", "meta/llama-2-70b-chat", "gpt-4"])
    assert exc.value.field == "Y"
    assert "'meta/llama-2-70b-chat'" in str(exc.value) and "no quality values" in str(exc.value)


def test_predict_checks_dimension(fitted: FastGRNNRouter) -> None:
    with pytest.raises(InvalidArgument) as exc:
        fitted.predict_quality(np.zeros((2, 5)))
    assert exc.value.field == "X" and "16" in str(exc.value)
    with pytest.raises(InvalidArgument) as exc:
        fitted.predict_quality_for(np.zeros((2, 16)), np.zeros((2, 16)))
    assert exc.value.field == "agent_embeddings"  # fitted without an embedding head


# --------------------------------------------------------------------------------- learning


def test_missing_targets_are_masked_out_of_the_loss() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 3))
    y = rng.uniform(size=(5, 3))
    obs = (rng.uniform(size=(5, 3)) > 0.4).astype(float)
    loss, grad = hd.masked_bce(logits, y, obs)
    garbage = np.where(obs > 0, y, 123.0)  # whatever sits in the missing entries is ignored
    loss2, grad2 = hd.masked_bce(logits, garbage, obs)
    assert loss == pytest.approx(loss2) and np.array_equal(grad, grad2) and not grad[obs == 0].any()
    keep = obs > 0
    p = hd.sigmoid(logits[keep])
    assert loss == pytest.approx(float(-(y[keep] * np.log(p) + (1 - y[keep]) * np.log(1 - p)).mean()))

    # In fit: NaN targets of one agent on the rows where it would have been perfect do not leak in.
    X, Y, _ = synthetic(800, seed=4)
    Yn = Y.copy()
    Yn[: 400, 0] = np.nan
    m = FastGRNNRouter(hidden_dim=8, epochs=5, random_state=0).fit(X, Yn)
    assert m.agent_counts_.tolist() == [400, 800, 800, 800]
    m2 = FastGRNNRouter(hidden_dim=8, epochs=5, random_state=0).fit(X, np.where(np.isnan(Yn), 1.0, Yn))
    assert not np.allclose(m.predict_quality(X[:50])[:, 0], m2.predict_quality(X[:50])[:, 0])


def test_learns_which_agent_is_best_per_request(fitted: FastGRNNRouter, data) -> None:
    X, Y, P = data
    Xte, Yte, Pte = X[1200:], Y[1200:], P[1200:]
    q = fitted.predict_quality(Xte)
    constant = np.broadcast_to(Y[:1200].mean(axis=0), Yte.shape)
    assert bce(q, Yte) < bce(constant, Yte) - 0.05
    chosen = Pte[np.arange(len(q)), q.argmax(axis=1)].mean()  # true quality of the agent it would pick
    best_constant_agent = Pte[:, Y[:1200].mean(axis=0).argmax()].mean()
    assert chosen > best_constant_agent + 0.2 and chosen > 0.85


@pytest.mark.parametrize("mode", ["frozen", "joint"])
def test_embedding_head_ranks_unseen_agents(mode: str) -> None:
    rng = np.random.default_rng(1)
    n, d, d_e, agents, held_out = 1500, 16, 8, 40, 10
    P = rng.normal(size=(d, d_e))
    E = rng.normal(size=(agents, d_e))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    prob = hd.sigmoid(2.0 * (X @ P) @ E.T + 0.5 * E[:, 0])
    Y = (rng.uniform(size=prob.shape) < prob).astype(float)
    seen, unseen = np.arange(agents - held_out), np.arange(agents - held_out, agents)
    m = FastGRNNRouter(hidden_dim=32, embedding_head=mode, random_state=0).fit(X[:1000], Y[:1000][:, seen], E[seen])
    q = m.predict_quality_for(X[1000:], E[unseen])
    assert q.shape == (500, held_out)

    def ranks(a: np.ndarray) -> np.ndarray:
        return np.argsort(np.argsort(a, axis=1), axis=1).astype(float)

    rq, rt = ranks(q), ranks(prob[1000:][:, unseen])
    spearman = np.mean([np.corrcoef(rq[i], rt[i])[0, 1] for i in range(len(rq))])
    assert spearman > 0.5  # chance is 0
    # named prediction: known agents from their own head, new ones from the embedding head
    names = [m.agent_names_[0], "newcomer"]
    both = m.predict_quality_named(X[1000:1010], names, np.stack([E[0], E[unseen[0]]]))
    np.testing.assert_allclose(both[:, 0], m.predict_quality(X[1000:1010])[:, 0])
    np.testing.assert_allclose(both[:, 1], q[:10, 0])
    assert m.evidence(names).tolist() == [1000, 0]
    # the serving object: heads built once for an agent list, then the single-request path
    inf = m.quantize()
    heads = inf.heads(names, np.stack([E[0], E[unseen[0]]]))
    assert heads.from_embedding.tolist() == [False, True]
    for i in range(5):
        np.testing.assert_allclose(inf.predict_one(X[1000 + i].astype(np.float32), heads), both[i], atol=0.01)
    nan_heads = inf.heads(names, None, unknown="nan")
    out = inf.predict_one(X[1000].astype(np.float32), nan_heads)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(InvalidArgument) as exc:
        m.predict_quality_named(X[:2], names)
    assert exc.value.field == "agent_embeddings"


def test_temperature_scaling_reduces_miscalibration() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0.0, 1.5, size=(4000, 1))
    y = (rng.uniform(size=true_logits.shape) < hd.sigmoid(true_logits)).astype(float)
    over = 3.0 * true_logits  # an overconfident model
    obs = np.ones_like(y)
    t = hd.fit_temperature(over, y, obs)
    assert t == pytest.approx(3.0, rel=0.15)
    before = hd.expected_calibration_error(hd.sigmoid(over), y)
    after = hd.expected_calibration_error(hd.sigmoid(over / t), y)
    assert after < before / 2


# ------------------------------------------------------------------------ structure: rank, sparsity


def test_low_rank_has_the_requested_shapes(data) -> None:
    X, Y, _ = data
    m = FastGRNNRouter(hidden_dim=12, rank_w=3, rank_u=2, epochs=2, random_state=0).fit(X[:200], Y[:200])
    assert m.W_ is None and m.U_ is None
    assert m.W1_.shape == (12, 3) and m.W2_.shape == (16, 3) and m.U1_.shape == (12, 2) and m.U2_.shape == (12, 2)
    assert np.linalg.matrix_rank(m.W1_ @ m.W2_.T) == 3
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter(hidden_dim=4, rank_u=5).fit(X[:20], Y[:20])
    assert exc.value.field == "rank_u"


@pytest.mark.parametrize("ranks", [(None, None), (4, 4)])
def test_sparsity_keeps_the_requested_fraction(data, ranks) -> None:
    X, Y, _ = data
    X3 = np.stack([X[:300], X[300:600]], axis=1)  # T = 2 so U is trained too
    m = FastGRNNRouter(hidden_dim=10, rank_w=ranks[0], rank_u=ranks[1], sparsity_w=0.25, sparsity_u=0.5,
                       epochs=9, random_state=0).fit(X3, Y[:300])
    mats = {"W": 0.25, "U": 0.5} if ranks[0] is None else {"W1": 0.25, "W2": 0.25, "U1": 0.5, "U2": 0.5}
    for k, density in mats.items():
        w = m.params_[k]
        assert np.count_nonzero(w) == int(np.ceil(density * w.size)), k
    assert set(m.history_["stage"]) == {"dense", "iht", "support"}
    assert stages(9, True)[0].epochs == 3 and not stages(9, True)[0].eligible
    mask = hard_threshold_mask(np.array([[3.0, -5.0], [0.5, 1.0]]), 0.5)
    assert mask.tolist() == [[True, True], [False, False]]


# ------------------------------------------------------------------------------ int8, persistence


def test_int8_agrees_with_float(fitted: FastGRNNRouter, data) -> None:
    X = data[0][1200:]
    ref = fitted.predict_quality(X)
    q8 = fitted.quantize()
    f32 = fitted.inference()
    assert q8.quantized and not f32.quantized
    assert q8.arrays["W_q"].dtype == np.int8 and q8.nbytes_encoder < f32.nbytes_encoder / 2
    np.testing.assert_allclose(f32.predict_quality(X), ref, atol=1e-5)
    p8 = q8.predict_quality(X)
    assert np.abs(p8 - ref).max() < 0.02
    assert (p8.argmax(axis=1) == ref.argmax(axis=1)).mean() > 0.97
    for i in range(20):
        np.testing.assert_allclose(q8.predict_one(X[i]), p8[i], atol=1e-5)
        np.testing.assert_allclose(f32.predict_one(X[i].astype(np.float64)), ref[i], atol=1e-5)
    q, s = quantize_int8(np.array([0.5, -1.27, 0.0]))
    assert q.tolist() == [50, -127, 0] and s == pytest.approx(0.01)


def test_low_rank_fast_path_matches() -> None:
    X, Y, _ = synthetic(400, d=64, seed=2)
    m = FastGRNNRouter(hidden_dim=32, rank_w=4, epochs=3, random_state=0).fit(X, Y)
    inf = m.quantize()
    assert inf._lowrank
    ref = inf.predict_quality(X[:10])
    for i in range(10):
        np.testing.assert_allclose(inf.predict_one(X[i]), ref[i], atol=1e-5)


@pytest.mark.parametrize("rank_w", [None, 4])
def test_predict_one_on_a_chunk_sequence_matches_the_batch_path(rank_w: int | None) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3, 24)).astype(np.float32)
    Y = (rng.uniform(size=(300, 5)) < hd.sigmoid(X[:, -1, :5])).astype(float)
    m = FastGRNNRouter(hidden_dim=16, rank_w=rank_w, epochs=4, distill=0, random_state=0).fit(X, Y)
    for inf in (m.inference(), m.quantize()):
        for T in (1, 2, 3):
            mask = np.zeros((10, 3), dtype=bool)
            mask[:, :T] = True
            ref = inf.predict(X[:10], mask=mask)
            for i in range(10):
                got = inf.predict_one(X[i, :T])
                assert got.dtype == np.float32 and got.shape == (5,)
                np.testing.assert_allclose(got, ref[i], atol=2e-6)
        np.testing.assert_allclose(inf.predict_one(X[0, :3]), m.predict_quality(X[:1])[0], atol=5e-3)


def test_save_load_round_trip(tmp_path, fitted: FastGRNNRouter, data) -> None:
    X = data[0][1200:1300]
    meta, arrays = fitted.to_dict()
    (tmp_path / "m.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "m.npz", **arrays)
    with np.load(tmp_path / "m.npz") as z:
        loaded = FastGRNNRouter.from_dict(json.loads((tmp_path / "m.json").read_text()), dict(z))
    np.testing.assert_array_equal(loaded.predict_quality(X), fitted.predict_quality(X))
    assert loaded.agent_names_ == fitted.agent_names_ and loaded.get_params() == fitted.get_params()
    assert loaded.history_ == json.loads(json.dumps(fitted.history_))
    # the int8 object saves and loads too
    qmeta, qarrays = fitted.quantize().to_dict()
    from routerd.model.fastgrnn import FastGRNNInference
    q = FastGRNNInference.from_dict(json.loads(json.dumps(qmeta)), qarrays)
    np.testing.assert_array_equal(q.predict_quality(X), fitted.quantize().predict_quality(X))
    # damaged files are an error about the model
    bad = dict(arrays)
    bad["param.V"] = bad["param.V"][:, :3]
    with pytest.raises(InvalidArgument) as exc:
        FastGRNNRouter.from_dict(meta, bad)
    assert exc.value.field == "model" and "'V'" in str(exc.value)
    with pytest.raises(InvalidArgument):
        FastGRNNRouter.from_dict({**meta, "format_version": 99}, arrays)
