"""FastGRNN (Kusupati et al., NeurIPS 2018) as a per-request quality model, in numpy.

The cell, with ONE input matrix W and ONE recurrent matrix U shared by gate and candidate::

    z  = σ(W x_t + U h + b_z)
    h̃  = tanh(W x_t + U h + b_h)
    h' = (ζ (1 − z) + ν) ⊙ h̃ + z ⊙ h          ζ = σ(ζ̂), ν = σ(ν̂) trainable scalars in (0, 1)

optionally low rank (W = W1 W2ᵀ, U = U1 U2ᵀ) and sparse (iterative hard thresholding, see
``training``). A request is a sequence of T embeddings (a long request split into chunks; one
embedding is T = 1) with a mask for variable lengths: a masked step leaves h unchanged. h starts at 0,
so with T = 1 U plays no part. The final state feeds the heads of ``heads``.

Training (``FastGRNNRouter.fit``): the encoder and the per-agent head by BPTT with Adam and early
stopping, by default self-distilled: ``distill`` teachers of the same architecture, each from its own
initialisation on its own train/validation split, are trained first, and the model is trained on their
mean calibrated prediction for each training row. On routing data whose outcomes are noisy 0/1 labels
this gives most of a teacher ensemble's variance reduction in one model (measured by cross-validation
inside the training parts of RouterBench and RouteLLM-MMLU; see bench/eval_routing.py). The
agent-embedding head is then fitted on the encoder's fixed states (``embedding_head="frozen"``).

``FastGRNNRouter`` is the estimator (scikit-learn conventions: ``__init__`` only stores keyword
hyperparameters, ``fit`` validates and returns self, learned attributes end in ``_``, seeded by
``random_state``). ``FastGRNNInference`` is the compact float32 or int8 object the router serves
from, with a single-request path (``predict_one``).

Shapes: W is (H, d) (so ``W x``), U (H, H); low rank W1 (H, r_w), W2 (d, r_w), U1 (H, r_u), U2 (H, r_u).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from routerd.errors import InvalidArgument, NotFittedError
from routerd.model import heads as hd
from routerd.model.training import Params, TrainResult, train

F64 = npt.NDArray[np.float64]

FORMAT = "tinydancer-fastgrnn"
FORMAT_VERSION = 1
ENCODER_MATRICES = ("W", "W1", "W2", "U", "U1", "U2")
HEAD_KEYS = ("V", "c", "M", "w_e", "b_e")

__all__ = ["AgentHeads", "FastGRNNInference", "FastGRNNRouter", "NotFittedError", "check_sequences",
           "encoder_backward", "encoder_forward", "generic_agent", "init_params", "model_loss", "pad_sequences",
           "quantize_int8"]


# --------------------------------------------------------------------------------------------- cell


def dense_w(p: Mapping[str, F64]) -> F64:
    return p["W"] if "W" in p else p["W1"] @ p["W2"].T


def dense_u(p: Mapping[str, F64]) -> F64:
    return p["U"] if "U" in p else p["U1"] @ p["U2"].T


@dataclass
class EncoderCache:
    X: F64  # (n, T, d)
    mask: F64 | None  # (n, T) of 0.0/1.0, None when every step is valid
    W: F64
    U: F64
    zeta: float
    nu: float
    hs: F64  # (T + 1, n, H), hs[0] = 0
    zs: F64  # (T, n, H)
    cs: F64  # (T, n, H)


def encoder_forward(p: Mapping[str, F64], X: F64, mask: F64 | None = None) -> tuple[F64, EncoderCache]:
    """Final hidden state (n, H) of the FastGRNN over X (n, T, d), and what the backward pass needs."""
    n, T, d = X.shape
    W, U = dense_w(p), dense_u(p)
    H = W.shape[0]
    zeta = float(hd.sigmoid(p["zeta"])[0])
    nu = float(hd.sigmoid(p["nu"])[0])
    b_z, b_h = p["b_z"], p["b_h"]
    wx = (X.reshape(n * T, d) @ W.T).reshape(n, T, H)  # every input projection in one product
    hs = np.zeros((T + 1, n, H))
    zs = np.empty((T, n, H))
    cs = np.empty((T, n, H))
    for t in range(T):
        h = hs[t]
        a = wx[:, t] if t == 0 else wx[:, t] + h @ U.T  # h_0 = 0
        z = hd.sigmoid(a + b_z)
        c = np.tanh(a + b_h)
        new = (zeta * (1.0 - z) + nu) * c + z * h
        if mask is not None:
            m = mask[:, t, None]
            new = m * new + (1.0 - m) * h
        hs[t + 1], zs[t], cs[t] = new, z, c
    return hs[T].copy(), EncoderCache(X, mask, W, U, zeta, nu, hs, zs, cs)


def encoder_backward(p: Mapping[str, F64], cache: EncoderCache, dh: F64) -> Params:
    """Backpropagation through time: gradients of every encoder parameter given dL/dh_T."""
    X, mask, U, zeta, nu = cache.X, cache.mask, cache.U, cache.zeta, cache.nu
    n, T, d = X.shape
    H = U.shape[0]
    dA = np.empty((n, T, H))
    dU = np.zeros((H, H))
    db_z = np.zeros(H)
    db_h = np.zeros(H)
    dzeta = dnu = 0.0
    for t in reversed(range(T)):
        h_prev, z, c = cache.hs[t], cache.zs[t], cache.cs[t]
        if mask is not None:
            m = mask[:, t, None]
            dnew = m * dh
            dh_prev = (1.0 - m) * dh
        else:
            dnew = dh
            dh_prev = np.zeros_like(dh)
        dzeta += float((dnew * (1.0 - z) * c).sum())
        dnu += float((dnew * c).sum())
        da_z = dnew * (h_prev - zeta * c) * z * (1.0 - z)
        da_c = dnew * (zeta * (1.0 - z) + nu) * (1.0 - c * c)
        db_z += da_z.sum(axis=0)
        db_h += da_c.sum(axis=0)
        da = da_z + da_c
        dA[:, t] = da
        dh_prev += dnew * z
        if t > 0:  # at t = 0, h_prev = 0: no gradient to U and none to pass back
            dU += da.T @ h_prev
            dh_prev += da @ U
        dh = dh_prev
    dW = dA.reshape(n * T, H).T @ X.reshape(n * T, d)
    g: Params = {"b_z": db_z, "b_h": db_h,
                 "zeta": np.array([dzeta * zeta * (1.0 - zeta)]), "nu": np.array([dnu * nu * (1.0 - nu)])}
    if "W" in p:
        g["W"] = dW
    else:
        g["W1"], g["W2"] = dW @ p["W2"], dW.T @ p["W1"]
    if "U" in p:
        g["U"] = dU
    else:
        g["U1"], g["U2"] = dU @ p["U2"], dU.T @ p["U1"]
    return g


def model_loss(p: Mapping[str, F64], X: F64, mask: F64 | None, Y: F64, observed: F64, E: F64 | None,
               l2: float = 0.0, embedding_weight: float = 1.0, embedding_l2: float = 0.0,
               grad: bool = True) -> tuple[float, dict[str, float], Params]:
    """The training objective and its gradient.

    loss = BCE(per-agent head) + embedding_weight · BCE(embedding head on the agents E)
           + l2 · Σ‖weights‖² + embedding_l2 · (‖M‖² + ‖w_e‖²)
    (BCE a mean over observed entries; the embedding head only when E is given and ``p`` has one).
    Returns (loss, {"agents": …, "embedding": …} without the penalty, gradients)."""
    h, cache = encoder_forward(p, X, mask)
    la = hd.agent_head_forward(h, p["V"], p["c"])
    loss_a, dla = hd.masked_bce(la, Y, observed)
    parts = {"agents": loss_a}
    total = loss_a
    use_e = E is not None and "M" in p
    if use_e:
        assert E is not None
        v_gen, b_gen = generic_agent(p)
        le = hd.embedding_head_forward(h, p["M"], v_gen, p["w_e"], b_gen, E)
        loss_e, dle = hd.masked_bce(le, Y, observed)
        parts["embedding"] = loss_e
        total += embedding_weight * loss_e
    decay = {k: l2 for k in (*ENCODER_MATRICES, "V") if k in p and l2 > 0.0}
    if use_e and embedding_l2 > 0.0:
        decay.update({"M": embedding_l2, "w_e": embedding_l2})
    total += sum(r * float(np.vdot(p[k], p[k])) for k, r in decay.items())
    if not grad:
        return total, parts, {}
    g: Params = {}
    g["V"], g["c"], dh = hd.agent_head_backward(h, p["V"], dla)
    if use_e:
        assert E is not None
        dM, dv, dw, db, dh_e = hd.embedding_head_backward(h, p["M"], v_gen, E, embedding_weight * dle)
        g["M"], g["w_e"], g["b_e"] = dM, dw, db
        g["V"] = g["V"] + dv / p["V"].shape[0]  # the base is tied to the mean known agent
        g["c"] = g["c"] + db / p["V"].shape[0]
        dh = dh + dh_e
    g.update(encoder_backward(p, cache, dh))
    for k, r in decay.items():
        g[k] = g[k] + 2.0 * r * p[k]
    return total, parts, g


def generic_agent(p: Mapping[str, F64]) -> tuple[F64, F64]:
    """The embedding head's base: the mean known agent (row and bias of the per-agent head) plus b_e."""
    return p["V"].mean(axis=0), p["b_e"] + p["c"].mean()


def init_params(rng: np.random.Generator, d: int, hidden: int, rank_w: int | None, rank_u: int | None,
                n_agents: int, d_e: int | None, input_sq_norm: float, prior_logits: F64) -> Params:
    """Initial weights. W x starts at unit variance for the (standardised) inputs; ζ̂ = 1, ν̂ = −4 and
    both biases at 1 are the initialisation of the paper's reference code (EdgeML)."""
    p: Params = {}
    in_std = 1.0 / math.sqrt(max(input_sq_norm, 1e-12))
    if rank_w is None:
        p["W"] = rng.normal(0.0, in_std, (hidden, d))
    else:
        p["W1"] = rng.normal(0.0, 1.0 / math.sqrt(rank_w), (hidden, rank_w))
        p["W2"] = rng.normal(0.0, in_std, (d, rank_w))
    if rank_u is None:
        p["U"] = rng.normal(0.0, 1.0 / math.sqrt(hidden), (hidden, hidden))
    else:
        p["U1"] = rng.normal(0.0, 1.0 / math.sqrt(rank_u), (hidden, rank_u))
        p["U2"] = rng.normal(0.0, 1.0 / math.sqrt(hidden), (hidden, rank_u))
    p["b_z"] = np.ones(hidden)
    p["b_h"] = np.ones(hidden)
    p["zeta"] = np.array([1.0])
    p["nu"] = np.array([-4.0])
    p["V"] = rng.normal(0.0, 0.1, (n_agents, hidden))
    p["c"] = prior_logits.copy()
    if d_e is not None:
        p["M"] = rng.normal(0.0, 0.1 / math.sqrt(hidden), (hidden, d_e))
        p["w_e"] = np.zeros(d_e)
        p["b_e"] = np.array([0.0])
    return p


# ------------------------------------------------------------------------------------ validation


def _numeric(value: Any, field: str) -> F64:
    try:
        a = np.asarray(value)
    except Exception as e:  # ragged nested lists
        raise InvalidArgument(field, f"must be a numeric array ({e})") from None
    if a.dtype.kind not in "fiu":
        raise InvalidArgument(field, f"must be numeric, got dtype {a.dtype}")
    return np.asarray(a, dtype=np.float64)


def check_sequences(X: Any, mask: Any = None, n_features: int | None = None,
                    field: str = "X") -> tuple[F64, F64 | None]:
    """X as float64 (n, T, d) and the mask as float 0/1 (n, T), or None when every step is valid.
    Masked-out steps may hold anything, NaN included; they are zeroed."""
    x = _numeric(X, field)
    if x.ndim == 2:
        x = x[:, None, :]
        if mask is not None:
            raise InvalidArgument("mask", "only applies to a sequence input X of shape (n, T, d)")
    if x.ndim != 3:
        raise InvalidArgument(field, f"must have shape (n, d) or (n, T, d), got {x.shape}")
    n, T, d = x.shape
    if n == 0 or T == 0 or d == 0:
        raise InvalidArgument(field, f"must not be empty, got shape {x.shape}")
    if n_features is not None and d != n_features:
        raise InvalidArgument(field, f"has {d} features per step; the model was fitted with {n_features}")
    m: F64 | None = None
    if mask is not None:
        mb = np.asarray(mask)
        if mb.shape != (n, T):
            raise InvalidArgument("mask", f"must have shape {(n, T)}, got {mb.shape}")
        if mb.dtype.kind not in "biu" or not np.isin(mb, (0, 1)).all():
            raise InvalidArgument("mask", "must be boolean (True where a step is valid)")
        mb = mb.astype(bool)
        empty = np.flatnonzero(~mb.any(axis=1))
        if empty.size:
            raise InvalidArgument("mask", f"row {int(empty[0])} has no valid step")
        if not mb.all():
            m = mb.astype(np.float64)
            x = np.where(mb[:, :, None], x, 0.0)
    if not np.isfinite(x).all():
        raise InvalidArgument(field, "must be finite (no NaN or infinity)")
    return x, m


def check_agent_embeddings(E: Any, n_agents: int | None, d_e: int | None, field: str = "agent_embeddings") -> F64:
    e = _numeric(E, field)
    if e.ndim != 2 or e.shape[0] == 0 or e.shape[1] == 0:
        raise InvalidArgument(field, f"must have shape (agents, dim), got {e.shape}")
    if n_agents is not None and e.shape[0] != n_agents:
        raise InvalidArgument(field, f"has {e.shape[0]} rows for {n_agents} agents")
    if d_e is not None and e.shape[1] != d_e:
        raise InvalidArgument(field, f"has {e.shape[1]} dimensions; the model was fitted with {d_e}")
    if not np.isfinite(e).all():
        raise InvalidArgument(field, "must be finite (no NaN or infinity)")
    return e


def check_names(names: Any, n: int, field: str = "agent_names") -> list[str]:
    if names is None:
        return [f"agent_{i}" for i in range(n)]
    out = list(names)
    if len(out) != n:
        raise InvalidArgument(field, f"has {len(out)} names for {n} agents")
    for i, s in enumerate(out):
        if not isinstance(s, str) or not s:
            raise InvalidArgument(field, f"entry {i} must be a non-empty string, got {s!r}")
    if len(set(out)) != n:
        dup = next(s for s in out if out.count(s) > 1)
        raise InvalidArgument(field, f"names must be unique; {dup!r} repeats")
    return out


def check_targets(Y: Any, n: int, names: Sequence[str]) -> tuple[F64, F64]:
    """Targets with NaN → 0 and the observed mask (1.0/0.0). Values must be in [0, 1] or NaN, and every
    agent needs at least one value."""
    y = _numeric(Y, "Y")
    if y.ndim != 2 or y.shape[0] != n or y.shape[1] == 0:
        raise InvalidArgument("Y", f"must have shape ({n}, agents), got {y.shape}")
    observed = ~np.isnan(y)
    bad = observed & ~((y >= 0.0) & (y <= 1.0))
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise InvalidArgument("Y", f"quality of agent {names[j]!r} on row {i} is {y[i, j]!r}; must be in [0, 1]")
    empty = np.flatnonzero(~observed.any(axis=0))
    if empty.size:
        j = int(empty[0])
        raise InvalidArgument("Y", f"agent {names[j]!r} (column {j}) has no quality values")
    return np.where(observed, y, 0.0), observed.astype(np.float64)


def pad_sequences(seqs: Sequence[Any]) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Variable-length requests (each (T_i, d), e.g. its chunk embeddings) as X (n, T_max, d) and the
    mask (n, T_max) the models take."""
    if not seqs:
        raise InvalidArgument("sequences", "must not be empty")
    arrs = [_numeric(s, f"sequences[{i}]") for i, s in enumerate(seqs)]
    for i, a in enumerate(arrs):
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] != arrs[0].shape[1]:
            raise InvalidArgument(f"sequences[{i}]", f"must have shape (steps ≥ 1, {arrs[0].shape[-1]}), got {a.shape}")
    T = max(a.shape[0] for a in arrs)
    X = np.zeros((len(arrs), T, arrs[0].shape[1]))
    mask = np.zeros((len(arrs), T), dtype=bool)
    for i, a in enumerate(arrs):
        X[i, :a.shape[0]] = a
        mask[i, :a.shape[0]] = True
    return X, mask


# ------------------------------------------------------------------------------------- estimator


def _logit(p: F64 | float) -> F64:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1.0 - 1e-4)
    return np.asarray(np.log(q / (1.0 - q)), dtype=np.float64)


class FastGRNNRouter:
    """Per-request, per-agent quality: P(agent a's answer is adequate | request).

    Hyperparameters (stored unchanged by ``__init__``, checked by ``fit``):
      hidden_dim            H, the encoder's state size
      rank_w, rank_u        None for full-rank W / U, else the rank r of W = W1 W2ᵀ / U = U1 U2ᵀ
      sparsity_w/_u         the paper's s_w / s_u: the FRACTION OF ENTRIES KEPT in each of W (W1, W2) /
                            U (U1, U2) by iterative hard thresholding; 1.0 is dense, 0.2 leaves 80 % zeros
      learning_rate, epochs, batch_size   Adam on shuffled mini-batches
      patience              epochs without a better validation loss before a stage ends
      distill               K ≥ 0 teacher models (same architecture, own initialisations) trained first;
                            the model then learns from their mean calibrated predictions on the training
                            rows (self-distillation: most of the variance reduction of a K-model ensemble
                            in one model; fitting takes K + 1 times as long). 0 trains on the observed
                            qualities only
      distill_weight        the teachers' share of the training targets (1 − it: the observed quality)
      distill_bagging       each teacher on its own seeded train/validation split of all the rows
      averaging             a in [0, 1): validate and keep an exponential moving average of the weights
                            (decay a per step, Polyak averaging; ``training.train``); 0 keeps the iterates
      validation_fraction   held-out share of the rows (seeded) for early stopping and calibration;
                            0 trains every epoch on every row and skips calibration
      l2                    weight decay on every weight matrix
      embedding_head        how the agent-embedding head is trained when ``fit`` gets agent embeddings:
                            "frozen" (default) fits it after the encoder and the per-agent head, on the
                            encoder's fixed states, so it cannot cost the known agents anything; "joint"
                            trains everything together on the sum of both losses (``embedding_weight``)
      embedding_weight      weight of the agent-embedding head's loss (trained jointly when ``fit`` gets
                            agent embeddings)
      embedding_l2          weight decay on the embedding head's M and w_e (keeps a new agent near the
                            mean known agent when few agents are known)
      standardize           z-score the inputs per feature (folded into W at inference)
      clip_norm             global gradient-norm clip (BPTT stability); 0 disables
      calibrate             fit temperature scaling on the validation split
      random_state          seed (int), None, or a numpy Generator

    Learned attributes: W_ or W1_/W2_, U_ or U1_/U2_, b_z_, b_h_, zeta_, nu_ (the σ'd scalars),
    V_, c_ (per-agent head), M_, w_e_, b_e_ (embedding head, or None), temperature_,
    temperature_embedding_, input_mean_, input_scale_, embedding_mean_, embedding_scale_, n_features_in_, n_agents_,
    agent_names_, agent_counts_ (observed targets per agent), embedding_dim_, history_, best_epoch_,
    n_iter_ (epochs run), params_ (every trained array by name).
    """

    def __init__(self, *, hidden_dim: int = 64, rank_w: int | None = None, rank_u: int | None = None,
                 sparsity_w: float = 1.0, sparsity_u: float = 1.0, learning_rate: float = 3e-3,
                 epochs: int = 60, batch_size: int = 64, patience: int = 6, distill: int = 3,
                 distill_weight: float = 1.0, distill_bagging: bool = True, averaging: float = 0.0,
                 validation_fraction: float = 0.15,
                 l2: float = 1e-5, embedding_weight: float = 1.0, embedding_l2: float = 1.0,
                 embedding_head: str = "frozen", standardize: bool = True,
                 clip_norm: float = 5.0, calibrate: bool = True, random_state: Any = None):
        self.hidden_dim = hidden_dim
        self.rank_w = rank_w
        self.rank_u = rank_u
        self.sparsity_w = sparsity_w
        self.sparsity_u = sparsity_u
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.distill = distill
        self.distill_weight = distill_weight
        self.distill_bagging = distill_bagging
        self.averaging = averaging
        self.validation_fraction = validation_fraction
        self.l2 = l2
        self.embedding_weight = embedding_weight
        self.embedding_l2 = embedding_l2
        self.embedding_head = embedding_head
        self.standardize = standardize
        self.clip_norm = clip_norm
        self.calibrate = calibrate
        self.random_state = random_state

    # -- scikit-learn's parameter protocol

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items() if n != "self" and p.kind == p.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params: Any) -> FastGRNNRouter:
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise InvalidArgument(k, f"is not a parameter of {type(self).__name__}; valid: {', '.join(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        default = type(self)().get_params()
        changed = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != default[k])
        return f"{type(self).__name__}({changed})"

    def _checked_hyperparameters(self) -> None:
        def integer(name: str, lo: int, allow_none: bool = False) -> None:
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise InvalidArgument(name, f"must be an integer ≥ {lo}{' or None' if allow_none else ''}, got {v!r}")

        def real(name: str, lo: float, hi: float, lo_open: bool = False) -> None:
            v = getattr(self, name)
            number = not isinstance(v, bool) and isinstance(v, int | float | np.floating | np.integer)
            if not number or not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
                raise InvalidArgument(name, f"must be a number in {'(' if lo_open else '['}{lo}, {hi}], got {v!r}")

        integer("hidden_dim", 1)
        integer("rank_w", 1, allow_none=True)
        integer("rank_u", 1, allow_none=True)
        integer("epochs", 1)
        integer("batch_size", 1)
        integer("patience", 1)
        integer("distill", 0)
        real("sparsity_w", 0.0, 1.0, lo_open=True)
        real("sparsity_u", 0.0, 1.0, lo_open=True)
        real("learning_rate", 0.0, 10.0, lo_open=True)
        real("validation_fraction", 0.0, 0.9)
        real("averaging", 0.0, 0.9999)
        real("distill_weight", 0.0, 1.0)
        real("l2", 0.0, 1e3)
        real("embedding_weight", 0.0, 1e3)
        real("embedding_l2", 0.0, 1e3)
        real("clip_norm", 0.0, 1e9)
        if self.embedding_head not in ("frozen", "joint"):
            raise InvalidArgument("embedding_head", f"must be 'frozen' or 'joint', got {self.embedding_head!r}")
        if self.rank_u is not None and self.rank_u > self.hidden_dim:
            raise InvalidArgument("rank_u", f"must be at most hidden_dim ({self.hidden_dim}), got {self.rank_u}")

    @property
    def epoch_budget(self) -> int:
        """The most epochs ``fit`` runs, over the teachers and the model: what ``progress`` counts up to
        ((distill + 1) · epochs; early stopping usually ends each model sooner)."""
        return (int(self.distill) + 1) * int(self.epochs)

    # -- fitting

    def fit(self, X: Any, Y: Any, agent_embeddings: Any = None, *, mask: Any = None,
            agent_names: Sequence[str] | None = None,
            progress: Callable[[int, float, float | None], Any] | None = None) -> FastGRNNRouter:
        """Fit on requests X ((n, d) or (n, T, d) with ``mask`` (n, T)) and qualities Y (n, A) in [0, 1]
        or NaN (missing, masked out of the loss). ``agent_embeddings`` (A, d_e) trains the embedding head
        jointly. ``progress(epoch, train_loss, val_loss)`` runs after every epoch of every model trained
        (the teachers first; ``epoch`` counts on across them up to ``epoch_budget``); an exception it raises
        aborts the fit and leaves a previously fitted model as it was. Returns self."""
        self._checked_hyperparameters()
        x, m = check_sequences(X, mask)
        n, T, d = x.shape
        if self.rank_w is not None and self.rank_w > min(self.hidden_dim, d):
            raise InvalidArgument("rank_w", f"must be at most min(hidden_dim, features) = {min(self.hidden_dim, d)}")
        y_raw = _numeric(Y, "Y")
        n_agents = y_raw.shape[1] if y_raw.ndim == 2 else 0
        names = check_names(agent_names, n_agents)
        y, obs = check_targets(y_raw, n, names)
        E = check_agent_embeddings(agent_embeddings, n_agents, None) if agent_embeddings is not None else None

        rng = self.random_state if isinstance(self.random_state, np.random.Generator) \
            else np.random.default_rng(self.random_state)
        order = rng.permutation(n)
        n_val = int(round(self.validation_fraction * n)) if self.validation_fraction > 0 else 0
        if self.validation_fraction > 0 and n_val == 0 and n >= 2:
            n_val = 1
        if n - n_val < 1:
            raise InvalidArgument("X", f"has {n} rows; too few for a validation split of {self.validation_fraction}")
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

        # Input scaling from the training rows' valid steps.
        steps = x[train_idx].reshape(-1, d)
        if m is not None:
            steps = steps[m[train_idx].reshape(-1) > 0]
        if self.standardize:
            mean = steps.mean(axis=0)
            scale = steps.std(axis=0)
            scale = np.where(scale > 1e-8 * max(float(scale.max()), 1e-300), scale, 1.0)
        else:
            mean, scale = np.zeros(d), np.ones(d)
        xs = (x - mean) / scale
        if m is not None:
            xs = xs * m[:, :, None]
        sq_norm = float(((steps - mean) / scale).__pow__(2).sum(axis=1).mean())
        # Agent embeddings centred on the known agents' mean (an agent described like the average
        # known agent starts from the mean known agent) and scaled to unit RMS entries.
        e_scale, e_mean = 1.0, None
        if E is not None:
            e_mean = E.mean(axis=0)
            norms = np.linalg.norm(E - e_mean, axis=1)
            e_scale = math.sqrt(E.shape[1]) / float(norms.mean()) if norms.mean() > 1e-12 else 1.0
            Es: F64 | None = (E - e_mean) * e_scale
        else:
            Es = None

        tr_obs = obs[train_idx]
        counts = tr_obs.sum(axis=0)
        agent_mean = np.where(counts > 0, (y[train_idx] * tr_obs).sum(axis=0) / np.maximum(counts, 1), 0.5)
        # "joint": the embedding head trains with the encoder; "frozen": after it (``_fit_embedding_head``).
        Ej = Es if self.embedding_head == "joint" else None
        densities: dict[str, float] = {}
        for k in ("W", "W1", "W2"):
            densities[k] = float(self.sparsity_w)
        for k in ("U", "U1", "U2"):
            densities[k] = float(self.sparsity_u)
        xv, mv, yv, ov = xs[val_idx], (m[val_idx] if m is not None else None), y[val_idx], obs[val_idx]
        epochs_done = 0

        def report(epoch: int, train_loss: float, val_loss: float | None) -> None:
            if progress is not None:
                progress(epochs_done + epoch, train_loss, val_loss)

        def fit_once(targets: F64, tr: npt.NDArray[np.intp], va: npt.NDArray[np.intp]) -> TrainResult:
            """One model from a fresh initialisation, trained on ``targets`` of the rows ``tr`` and
            validated on the true qualities of the rows ``va``."""
            params = init_params(rng, d, self.hidden_dim, self.rank_w, self.rank_u, n_agents,
                                 None if Ej is None else Ej.shape[1], sq_norm, _logit(agent_mean))
            x_va, m_va = xs[va], (m[va] if m is not None else None)

            def loss_and_grad(p: Params, idx: npt.NDArray[np.intp]) -> tuple[float, Params]:
                rows = tr[idx]
                xb, mb = xs[rows], (m[rows] if m is not None else None)
                _, parts, g = model_loss(p, xb, mb, targets[rows], obs[rows], Ej, self.l2, self.embedding_weight,
                                         self.embedding_l2)
                return parts["agents"] + self.embedding_weight * parts.get("embedding", 0.0), g

            def validate(p: Params) -> tuple[float, dict[str, float]]:
                _, parts, _ = model_loss(p, x_va, m_va, y[va], obs[va], Ej, 0.0, self.embedding_weight, grad=False)
                return parts["agents"] + self.embedding_weight * parts.get("embedding", 0.0), parts

            return train(params, len(tr), loss_and_grad, validate if va.size else None,
                         epochs=int(self.epochs), batch_size=int(self.batch_size),
                         learning_rate=float(self.learning_rate), patience=int(self.patience),
                         densities={k: v for k, v in densities.items() if k in params}, rng=rng,
                         clip_norm=float(self.clip_norm), progress=report, average=float(self.averaging))

        # Self-distillation: ``distill`` teachers from their own initialisations (with ``distill_bagging``
        # each on its own seeded train/validation split of all the rows); the model is then trained on
        # their mean calibrated prediction for each training row (mixed with the observed quality by
        # ``distill_weight``), which carries most of what averaging the teachers would.
        targets = y
        teacher_epochs: list[int] = []
        if self.distill > 0:
            tx, tm = xs[train_idx], (m[train_idx] if m is not None else None)
            soft = np.zeros((train_idx.size, n_agents))
            for _ in range(int(self.distill)):
                tr_t, va_t = train_idx, val_idx
                if self.distill_bagging:
                    perm = rng.permutation(n)
                    va_t, tr_t = np.sort(perm[:n_val]), np.sort(perm[n_val:])
                r = fit_once(y, tr_t, va_t)
                epochs_done += r.n_epochs
                teacher_epochs.append(r.n_epochs)
                t = 1.0
                if self.calibrate and n_val:
                    hv_t = encoder_forward(r.params, xs[va_t], m[va_t] if m is not None else None)[0]
                    t = hd.fit_temperature(hd.agent_head_forward(hv_t, r.params["V"], r.params["c"]), y[va_t],
                                           obs[va_t])
                h_t = encoder_forward(r.params, tx, tm)[0]
                soft += hd.sigmoid(hd.agent_head_forward(h_t, r.params["V"], r.params["c"]) / t)
            soft /= float(self.distill)
            beta = float(self.distill_weight)
            targets = y.copy()
            targets[train_idx] = np.where(obs[train_idx] > 0, (1.0 - beta) * y[train_idx] + beta * soft, 0.0)
        result = fit_once(targets, train_idx, val_idx)
        p = result.params
        history = result.history
        if teacher_epochs:
            history["teacher_epochs"] = teacher_epochs
        if Es is not None and Ej is None:
            p, history["embedding_head_val_loss"] = self._fit_embedding_head(
                p, xs[train_idx], None if m is None else m[train_idx], targets[train_idx], obs[train_idx],
                (xv, mv, yv, ov) if n_val else None, Es, rng)

        temperature = temperature_e = 1.0
        if self.calibrate and n_val:
            h, _ = encoder_forward(p, xv, mv)
            temperature = hd.fit_temperature(hd.agent_head_forward(h, p["V"], p["c"]), yv, ov)
            if Es is not None:
                v_gen, b_gen = generic_agent(p)
                le = hd.embedding_head_forward(h, p["M"], v_gen, p["w_e"], b_gen, Es)
                temperature_e = hd.fit_temperature(le, yv, ov)

        # Learned state is assigned only now: a fit that raised left the previous one intact.
        self._set_state(p, mean=mean, scale=scale, e_mean=e_mean, e_scale=e_scale, names=names, counts=obs.sum(axis=0),
                        temperature=temperature, temperature_e=temperature_e, history=history,
                        best_epoch=result.best_epoch, n_iter=result.n_epochs)
        return self

    def _fit_embedding_head(self, p: Params, x: F64, m: F64 | None, y: F64, obs: F64,
                            val: tuple[F64, F64 | None, F64, F64] | None, Es: F64,
                            rng: np.random.Generator) -> tuple[Params, list[Any]]:
        """The agent-embedding head (M, w_e, b_e) fitted on the trained encoder's states, which stay
        fixed, as do the per-agent head and so the mean known agent it starts from: Adam on mini-batches,
        masked BCE + embedding_l2 · (‖M‖² + ‖w_e‖²), early stopping on the validation rows' BCE.
        Returns the parameters with the head added and the validation loss per epoch."""
        H = p["V"].shape[1]
        h = encoder_forward(p, x, m)[0]
        hv = encoder_forward(p, val[0], val[1])[0] if val is not None else None
        v_gen = p["V"].mean(axis=0)
        c_bar = float(p["c"].mean())
        head: Params = {"M": rng.normal(0.0, 0.1 / math.sqrt(H), (H, Es.shape[1])), "w_e": np.zeros(Es.shape[1]),
                        "b_e": np.array([0.0])}
        r = float(self.embedding_l2)

        def logits(e: Params, hh: F64) -> F64:
            return hd.embedding_head_forward(hh, e["M"], v_gen, e["w_e"], e["b_e"] + c_bar, Es)

        def loss_and_grad(e: Params, idx: npt.NDArray[np.intp]) -> tuple[float, Params]:
            loss, dl = hd.masked_bce(logits(e, h[idx]), y[idx], obs[idx])
            dM, _, dw, db, _ = hd.embedding_head_backward(h[idx], e["M"], v_gen, Es, dl)
            return loss, {"M": dM + 2.0 * r * e["M"], "w_e": dw + 2.0 * r * e["w_e"], "b_e": db}

        def validate(e: Params) -> tuple[float, dict[str, float]]:
            assert val is not None and hv is not None
            loss = hd.masked_bce(logits(e, hv), val[2], val[3])[0]
            return loss, {"embedding": loss}

        result = train(head, h.shape[0], loss_and_grad, validate if val is not None else None,
                       epochs=int(self.epochs), batch_size=int(self.batch_size),
                       learning_rate=float(self.learning_rate), patience=int(self.patience), densities={},
                       rng=rng, clip_norm=float(self.clip_norm), average=float(self.averaging))
        return {**p, **result.params}, list(result.history["val_loss"])

    def _set_state(self, p: Params, *, mean: F64, scale: F64, e_mean: F64 | None, e_scale: float, names: list[str],
                   counts: F64,
                   temperature: float, temperature_e: float, history: dict[str, list[Any]], best_epoch: int,
                   n_iter: int) -> None:
        self.params_ = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
        for k in ENCODER_MATRICES:
            setattr(self, k + "_", self.params_.get(k))
        self.b_z_, self.b_h_ = self.params_["b_z"], self.params_["b_h"]
        self.zeta_ = float(hd.sigmoid(self.params_["zeta"])[0])
        self.nu_ = float(hd.sigmoid(self.params_["nu"])[0])
        self.V_, self.c_ = self.params_["V"], self.params_["c"]
        self.M_ = self.params_.get("M")
        self.w_e_ = self.params_.get("w_e")
        self.b_e_ = float(self.params_["b_e"][0]) if "b_e" in self.params_ else None
        self.embedding_dim_ = None if self.M_ is None else int(self.M_.shape[1])
        self.input_mean_, self.input_scale_ = mean, scale
        self.embedding_mean_ = e_mean
        self.embedding_scale_ = e_scale
        self.n_features_in_ = int(mean.shape[0])
        self.n_agents_ = len(names)
        self.agent_names_ = list(names)
        self.agent_counts_ = np.asarray(counts, dtype=np.int64)
        self.temperature_ = float(temperature)
        self.temperature_embedding_ = float(temperature_e)
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.n_iter_ = int(n_iter)

    # -- prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _encode(self, X: Any, mask: Any) -> F64:
        self._check_fitted()
        x, m = check_sequences(X, mask, self.n_features_in_)
        xs = (x - self.input_mean_) / self.input_scale_
        if m is not None:
            xs = xs * m[:, :, None]
        return encoder_forward(self.params_, xs, m)[0]

    def transform(self, X: Any, mask: Any = None) -> F64:
        """The encoder's final state (n, H) for each request."""
        return self._encode(X, mask)

    def decision_function(self, X: Any, mask: Any = None) -> F64:
        """Uncalibrated per-agent logits (n, A)."""
        h = self._encode(X, mask)
        return hd.agent_head_forward(h, self.V_, self.c_)

    def predict_quality(self, X: Any, mask: Any = None) -> F64:
        """(n, A) calibrated P(adequate) for the agents the model was fitted on (``agent_names_``)."""
        return hd.sigmoid(self.decision_function(X, mask) / self.temperature_)

    def _embedding_rows(self, agent_embeddings: Any, field: str = "agent_embeddings") -> tuple[F64, F64]:
        self._check_fitted()
        if self.M_ is None or self.w_e_ is None or self.embedding_mean_ is None:
            raise InvalidArgument(field, "this model has no embedding head (fit it with agent_embeddings)")
        E = check_agent_embeddings(agent_embeddings, None, self.embedding_dim_, field)
        E = (E - self.embedding_mean_) * self.embedding_scale_
        v_gen, b_gen = generic_agent(self.params_)
        return hd.embedding_head_rows(self.M_, v_gen, self.w_e_, b_gen, E)

    def predict_quality_for(self, X: Any, agent_embeddings: Any, mask: Any = None) -> F64:
        """(n, A') calibrated P(adequate) for any agents, from their embeddings (A', d_e), through the
        embedding head: what a newly registered agent gets before it has outcomes."""
        K, off = self._embedding_rows(agent_embeddings)
        h = self._encode(X, mask)
        return hd.sigmoid((h @ K.T + off) / self.temperature_embedding_)

    def predict_quality_named(self, X: Any, names: Sequence[str], agent_embeddings: Any = None,
                              mask: Any = None) -> F64:
        """(n, len(names)): the per-agent head for agents the model was fitted on, the embedding head
        (row i of ``agent_embeddings``) for the others."""
        self._check_fitted()
        names = tuple(names)
        index = {n: i for i, n in enumerate(self.agent_names_)}
        known = np.array([n in index for n in names], dtype=bool)
        h = self._encode(X, mask)
        out = np.empty((h.shape[0], len(names)))
        if known.any():
            rows = [index[n] for n, k in zip(names, known, strict=True) if k]
            out[:, known] = hd.sigmoid((h @ self.V_[rows].T + self.c_[rows]) / self.temperature_)
        if not known.all():
            missing = next(n for n, k in zip(names, known, strict=True) if not k)
            if self.M_ is None:
                raise InvalidArgument("names", f"agent {missing!r} is unknown to the model, "
                                               "which has no embedding head")
            if agent_embeddings is None:
                raise InvalidArgument("agent_embeddings", f"needed for agent {missing!r}, unknown to the model")
            E = check_agent_embeddings(agent_embeddings, len(names), self.embedding_dim_)
            K, off = self._embedding_rows(E[~known])
            out[:, ~known] = hd.sigmoid((h @ K.T + off) / self.temperature_embedding_)
        return out

    def evidence(self, names: Sequence[str]) -> npt.NDArray[np.int64]:
        """Observed training targets per named agent (0 for agents the model has not seen)."""
        self._check_fitted()
        index = {n: i for i, n in enumerate(self.agent_names_)}
        return np.array([int(self.agent_counts_[index[n]]) if n in index else 0 for n in names], dtype=np.int64)

    # -- inference objects

    def inference(self, dtype: Any = np.float32) -> FastGRNNInference:
        """A float inference object (float32 by default) with the fast single-request path."""
        self._check_fitted()
        return FastGRNNInference.from_estimator(self, quantized=False, dtype=dtype)

    def quantize(self) -> FastGRNNInference:
        """The inference object with per-matrix symmetric int8 encoder weights (float32 scales)."""
        self._check_fitted()
        return FastGRNNInference.from_estimator(self, quantized=True)

    # -- persistence

    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able metadata, arrays by name), e.g. for ``json.dumps`` and ``np.savez``."""
        self._check_fitted()
        params = self.get_params()
        if isinstance(params["random_state"], np.random.Generator):
            params["random_state"] = None
        elif params["random_state"] is not None:
            params["random_state"] = int(params["random_state"])
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "estimator", "params": params,
            "agent_names": list(self.agent_names_), "n_features_in": self.n_features_in_,
            "embedding_dim": self.embedding_dim_, "temperature": self.temperature_,
            "temperature_embedding": self.temperature_embedding_, "embedding_scale": self.embedding_scale_,
            "best_epoch": self.best_epoch_, "n_iter": self.n_iter_, "history": _jsonable(self.history_),
        }
        arrays: dict[str, np.ndarray] = {f"param.{k}": v.copy() for k, v in self.params_.items()}
        arrays["input_mean"] = self.input_mean_.copy()
        arrays["input_scale"] = self.input_scale_.copy()
        arrays["agent_counts"] = self.agent_counts_.copy()
        if self.embedding_mean_ is not None:
            arrays["embedding_mean"] = self.embedding_mean_.copy()
        return meta, arrays

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> FastGRNNRouter:
        """The fitted estimator ``to_dict`` described."""
        _check_format(meta, "estimator")
        try:
            est = cls(**meta["params"])
            p = {k[len("param."):]: np.asarray(v, dtype=np.float64) for k, v in arrays.items()
                 if k.startswith("param.")}
            names = list(meta["agent_names"])
            d = int(meta["n_features_in"])
            _check_param_shapes(p, d, len(names), meta.get("embedding_dim"))
            est._set_state(p, mean=np.asarray(arrays["input_mean"], dtype=np.float64),
                           scale=np.asarray(arrays["input_scale"], dtype=np.float64),
                           e_mean=np.asarray(arrays["embedding_mean"], dtype=np.float64)
                           if meta.get("embedding_dim") is not None else None,
                           e_scale=float(meta["embedding_scale"]), names=names,
                           counts=np.asarray(arrays["agent_counts"]), temperature=float(meta["temperature"]),
                           temperature_e=float(meta["temperature_embedding"]), history=dict(meta["history"]),
                           best_epoch=int(meta["best_epoch"]), n_iter=int(meta["n_iter"]))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, InvalidArgument):
                raise
            raise InvalidArgument("model", f"not a valid saved FastGRNN model ({type(e).__name__}: {e})") from None
        if est.input_mean_.shape != (d,) or est.input_scale_.shape != (d,):
            raise InvalidArgument("model", f"input scaling must have {d} entries")
        return est


def _jsonable(history: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    def clean(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        return v
    return {k: [clean(v) for v in vs] for k, vs in history.items()}


def _check_format(meta: Mapping[str, Any], kind: str) -> None:
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise InvalidArgument("model", f"not a saved FastGRNN {kind} (format {meta.get('format')!r}, "
                                       f"kind {meta.get('kind')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InvalidArgument("model", f"format version {meta.get('format_version')!r}; "
                                       f"this build reads {FORMAT_VERSION}")


def _check_param_shapes(p: Mapping[str, np.ndarray], d: int, n_agents: int, d_e: int | None) -> None:
    want: dict[str, tuple[int, ...]]
    if "W" in p:
        H = p["W"].shape[0]
        want = {"W": (H, d)}
    else:
        H, r = p["W1"].shape
        want = {"W1": (H, r), "W2": (d, r)}
    if "U" in p:
        want["U"] = (H, H)
    else:
        want["U1"] = (H, p["U1"].shape[1])
        want["U2"] = (H, p["U1"].shape[1])
    want.update({"b_z": (H,), "b_h": (H,), "zeta": (1,), "nu": (1,), "V": (n_agents, H), "c": (n_agents,)})
    if d_e is not None:
        want.update({"M": (H, d_e), "w_e": (d_e,), "b_e": (1,)})
    for k, shape in want.items():
        if k not in p:
            raise InvalidArgument("model", f"array {k!r} is missing")
        if p[k].shape != shape:
            raise InvalidArgument("model", f"array {k!r} has shape {p[k].shape}, expected {shape}")
        if not np.isfinite(p[k]).all():
            raise InvalidArgument("model", f"array {k!r} is not finite")


# ------------------------------------------------------------------------------------- inference


def quantize_int8(a: np.ndarray) -> tuple[npt.NDArray[np.int8], float]:
    """Per-matrix symmetric int8: q = round(a / s) with s = max|a| / 127, so a ≈ s · q."""
    top = float(np.abs(a).max()) if a.size else 0.0
    scale = top / 127.0 if top > 0.0 else 1.0
    return np.clip(np.rint(a / scale), -127, 127).astype(np.int8), scale


@dataclass(frozen=True)
class AgentHeads:
    """Heads for one agent list, folded for serving: p = σ(2 (weight · h + bias)), i.e. the temperature
    and the tanh form of the sigmoid already applied; ``fast_weight`` is ``weight`` times the
    constant the single-request path leaves out of h. ``from_embedding`` marks rows from the
    embedding head (agents the model was not fitted on). Build with ``FastGRNNInference.heads``."""

    names: tuple[str, ...]
    weight: np.ndarray  # (A, H)
    bias: np.ndarray  # (A,)
    fast_weight: np.ndarray  # (A, H)
    from_embedding: npt.NDArray[np.bool_]


class FastGRNNInference:
    """The fitted model for serving: encoder weights stored as float32 or int8 (per-matrix symmetric
    scale), computed in float32 from working copies with the input standardisation folded into W and
    the biases. Same prediction API as the estimator, plus ``predict_one`` for one request (T = 1).

    int8 is the storage format: numpy has no fast int8 matrix-vector product, so the working copies
    are the dequantised weights (s · q) in float32, which computes exactly what int8 weights mean."""

    def __init__(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]):
        _check_format(meta, "inference")
        self.meta = dict(meta)
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.quantized = bool(meta["quantized"])
        self.agent_names: list[str] = list(meta["agent_names"])
        self.n_features_in = int(meta["n_features_in"])
        self.embedding_dim: int | None = meta.get("embedding_dim")
        dt = np.dtype(meta.get("compute_dtype", "float32"))
        self.dtype = dt
        a = self.arrays
        mats = {k: self._matrix(k) for k in ENCODER_MATRICES if k in a or k + "_q" in a}
        mean = a["input_mean"].astype(np.float64)
        scale = a["input_scale"].astype(np.float64)
        # W ((x − μ) / σ) = (W / σ) x − W (μ / σ): the standardisation folds into W and both biases.
        if "W" in mats:
            W_eff = mats["W"] / scale
            W2_eff = None
        else:
            W2_eff = mats["W2"] / scale[:, None]
            W_eff = mats["W1"] @ W2_eff.T
        shift = W_eff @ mean
        U = mats["U"] if "U" in mats else mats["U1"] @ mats["U2"].T
        b_z = a["b_z"].astype(np.float64) - shift
        b_h = a["b_h"].astype(np.float64) - shift
        H = W_eff.shape[0]
        self.hidden_dim = H
        self.zeta = float(hd.sigmoid(a["zeta"].astype(np.float64))[0])
        self.nu = float(hd.sigmoid(a["nu"].astype(np.float64))[0])
        self._W = np.ascontiguousarray(W_eff, dtype=dt)
        self._U = np.ascontiguousarray(U, dtype=dt)
        self._b_z, self._b_h = b_z.astype(dt), b_h.astype(dt)
        self._H = H
        # The T = 1 path (h_0 = 0, so h = (ζ (1 − z) + ν) h̃) evaluates both halves with ONE tanh:
        # tanh of [−(a + b_z) / 2, a + b_h] is [t0, h̃] with 1 − z = (1 + t0) / 2, hence
        # h = β (t0 + κ) ⊙ h̃, β = ζ / 2, κ = 1 + 2ν / ζ; β moves into the heads (``fast_weight``).
        self._beta = 0.5 * self.zeta
        self._kappa = dt.type(1.0 + 2.0 * self.nu / max(self.zeta, 1e-12))
        self._fast = self.zeta > 1e-3  # else κ is too large for float32: predict_one takes the batch path
        self._lowrank = W2_eff is not None and W2_eff.shape[1] * (W2_eff.shape[0] + 2 * H) < W_eff.size
        if W2_eff is not None and self._lowrank:
            self._W2T = np.ascontiguousarray(W2_eff.T, dtype=dt)  # (r, d)
            self._W1s = np.ascontiguousarray(np.vstack([-0.5 * mats["W1"], mats["W1"]]), dtype=dt)  # (2H, r)
            self._b2 = np.concatenate([-0.5 * b_z, b_h]).astype(dt)
        self._s2 = np.array([[-0.5], [1.0]], dtype=dt)
        # The sequence path (``_predict_sequence_one``): W and βU stacked as [−W / 2; W], [−βU / 2; βU].
        self._W2s = np.ascontiguousarray(np.vstack([-0.5 * W_eff, W_eff]), dtype=dt)  # (2H, d)
        self._U2s = np.ascontiguousarray(self._beta * np.vstack([-0.5 * U, U]), dtype=dt)  # (2H, H)
        self._b2s = np.concatenate([-0.5 * b_z, b_h]).astype(dt)
        self._off2 = np.ascontiguousarray(np.stack([-0.5 * b_z, b_h]), dtype=dt)  # (2, H)
        self.temperature = float(meta["temperature"])
        self.temperature_embedding = float(meta["temperature_embedding"])
        self.embedding_scale = float(meta["embedding_scale"])
        self.default_heads = self._fold(tuple(self.agent_names), a["V"].astype(np.float64), a["c"].astype(np.float64),
                                        np.zeros(len(self.agent_names), dtype=bool))

    def _matrix(self, k: str) -> F64:
        a = self.arrays
        if k + "_q" in a:
            return a[k + "_q"].astype(np.float64) * float(a[k + "_scale"][0])
        return a[k].astype(np.float64)

    def _fold(self, names: tuple[str, ...], V: F64, c: F64, from_embedding: npt.NDArray[np.bool_]) -> AgentHeads:
        # Per-row temperatures: embedding-head rows use the embedding head's.
        t = np.where(from_embedding, self.temperature_embedding, self.temperature)
        w = 0.5 * V / t[:, None]
        arrays = [np.ascontiguousarray(v, dtype=self.dtype) for v in (w, 0.5 * c / t, self._beta * w)]
        for v in arrays:
            v.flags.writeable = False
        return AgentHeads(names, arrays[0], arrays[1], arrays[2], from_embedding)

    @classmethod
    def from_estimator(cls, est: FastGRNNRouter, *, quantized: bool, dtype: Any = np.float32) -> FastGRNNInference:
        arrays: dict[str, np.ndarray] = {}
        for k in ENCODER_MATRICES:
            v = est.params_.get(k)
            if v is None:
                continue
            if quantized:
                q, s = quantize_int8(v)
                arrays[k + "_q"] = q
                arrays[k + "_scale"] = np.array([s], dtype=np.float32)
            else:
                arrays[k] = v.astype(np.float32)
        for k in ("b_z", "b_h", "zeta", "nu", *HEAD_KEYS):
            if k in est.params_:
                arrays[k] = est.params_[k].astype(np.float32)
        arrays["input_mean"] = est.input_mean_.astype(np.float32)
        arrays["input_scale"] = est.input_scale_.astype(np.float32)
        if est.embedding_mean_ is not None:
            arrays["embedding_mean"] = est.embedding_mean_.astype(np.float32)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "inference", "quantized": quantized,
                "compute_dtype": np.dtype(dtype).name, "agent_names": list(est.agent_names_),
                "n_features_in": est.n_features_in_, "embedding_dim": est.embedding_dim_,
                "temperature": est.temperature_, "temperature_embedding": est.temperature_embedding_,
                "embedding_scale": est.embedding_scale_}
        return cls(meta, arrays)

    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return dict(self.meta), {k: v.copy() for k, v in self.arrays.items()}

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> FastGRNNInference:
        try:
            return cls(meta, arrays)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            if isinstance(e, InvalidArgument):
                raise
            raise InvalidArgument("model", f"not a valid saved FastGRNN ({type(e).__name__}: {e})") from None

    @property
    def nbytes_encoder(self) -> int:
        """Bytes of the stored encoder: W/U (int8 or float32) and their scales, biases, ζ, ν, input scaling."""
        keys = [k for k in self.arrays if k.split("_")[0] in ENCODER_MATRICES] + \
            ["b_z", "b_h", "zeta", "nu", "input_mean", "input_scale"]
        return sum(int(self.arrays[k].nbytes) for k in keys)

    @property
    def nbytes(self) -> int:
        """Bytes of every stored array (encoder and both heads)."""
        return sum(int(v.nbytes) for v in self.arrays.values())

    # -- heads

    def heads(self, names: Sequence[str], agent_embeddings: Any = None, *, unknown: str = "raise") -> AgentHeads:
        """Heads for ``names``: the per-agent head where the model knows the agent, else the embedding
        head on row i of ``agent_embeddings`` ((len(names), d_e); rows of known agents are ignored).
        Compute once per agent list and reuse. An unknown agent the model cannot score (no embedding
        head, or no embeddings given) raises InvalidArgument, or with ``unknown="nan"`` predicts NaN
        (so the caller can fall back to the agent's observed quality)."""
        if unknown not in ("raise", "nan"):
            raise InvalidArgument("unknown", f"must be 'raise' or 'nan', got {unknown!r}")
        names = tuple(names)
        index = {n: i for i, n in enumerate(self.agent_names)}
        known = np.array([n in index for n in names], dtype=bool)
        A = len(names)
        V = np.zeros((A, self._H))
        c = np.zeros(A)
        if known.any():
            rows = [index[n] for n, k in zip(names, known, strict=True) if k]
            V[known] = self.arrays["V"][rows]
            c[known] = self.arrays["c"][rows]
        if not known.all():
            missing = [n for n, k in zip(names, known, strict=True) if not k]
            if "M" not in self.arrays or agent_embeddings is None:
                if unknown == "nan":
                    c[~known] = np.nan
                    return self._fold(names, V, c, ~known)
                if "M" not in self.arrays:
                    raise InvalidArgument("names", f"agent {missing[0]!r} is unknown to the model, which has no "
                                                   "embedding head")
                raise InvalidArgument("agent_embeddings", f"needed for agent {missing[0]!r}, unknown to the model")
            E = check_agent_embeddings(agent_embeddings, A, self.embedding_dim)[~known]
            E = (E - self.arrays["embedding_mean"].astype(np.float64)) * self.embedding_scale
            a = {k: v.astype(np.float64) for k, v in self.arrays.items() if k in HEAD_KEYS}
            v_gen, b_gen = generic_agent(a)
            K, off = hd.embedding_head_rows(a["M"], v_gen, a["w_e"], b_gen, E)
            V[~known], c[~known] = K, off
        return self._fold(names, V, c, ~known)

    def heads_for(self, agent_embeddings: Any) -> AgentHeads:
        """Embedding-head rows for arbitrary agents (A', d_e), named by position."""
        E = check_agent_embeddings(agent_embeddings, None, self.embedding_dim)
        return self.heads([f"\x00embedding-{i}" for i in range(E.shape[0])], E)

    # -- prediction

    def encode(self, X: Any, mask: Any = None) -> np.ndarray:
        """The encoder's final state (n, H) in the compute dtype."""
        x, m = check_sequences(X, mask, self.n_features_in)
        x = x.astype(self.dtype)
        n, T, d = x.shape
        wx = (x.reshape(n * T, d) @ self._W.T).reshape(n, T, self._H)
        h = np.zeros((n, self._H), dtype=self.dtype)
        for t in range(T):
            a = wx[:, t] if t == 0 else wx[:, t] + h @ self._U.T
            z = 0.5 * np.tanh(0.5 * (a + self._b_z)) + 0.5
            new = (self.zeta * (1.0 - z) + self.nu) * np.tanh(a + self._b_h) + z * h
            if m is not None:
                mt = m[:, t, None].astype(self.dtype)
                new = mt * new + (1.0 - mt) * h
            h = new.astype(self.dtype, copy=False)
        return h

    def predict(self, X: Any, heads: AgentHeads | None = None, mask: Any = None) -> np.ndarray:
        """(n, A) P(adequate) for the agents of ``heads`` (default: the agents the model was fitted on)."""
        hs = self.default_heads if heads is None else heads
        h = self.encode(X, mask)
        return np.asarray(0.5 * np.tanh(h @ hs.weight.T + hs.bias) + 0.5)

    def predict_quality(self, X: Any, mask: Any = None) -> np.ndarray:
        return self.predict(X, None, mask)

    def predict_quality_for(self, X: Any, agent_embeddings: Any, mask: Any = None) -> np.ndarray:
        return self.predict(X, self.heads_for(agent_embeddings), mask)

    def predict_quality_named(self, X: Any, names: Sequence[str], agent_embeddings: Any = None,
                              mask: Any = None) -> np.ndarray:
        return self.predict(X, self.heads(names, agent_embeddings), mask)

    def _predict_sequence_one(self, x: np.ndarray, hs: AgentHeads) -> np.ndarray:
        """``predict_one`` for (T, d) chunk embeddings. The same one-tanh form as T = 1, carried through
        the steps: with t = tanh([−(a + b_z) / 2, a + b_h]) = [t0, h̃] and h = β h̄ (β = ζ / 2),
        h̄' = (t0 + κ) ⊙ h̃ + ((1 − t0) / 2) ⊙ h̄, and the recurrent term of a is (β U) h̄."""
        if x.shape[0] == 1 or not self._fast:
            return self.predict_one(x[0], hs) if x.shape[0] == 1 else np.asarray(self.predict(x[None], hs)[0])
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        H = self._H
        pre = x.dot(self._W2s.T)  # (T, 2H): every step's scaled input projection in one product
        pre += self._b2s
        np.tanh(pre[0], out=pre[0])
        hbar = pre[0, :H] + self._kappa  # h_0 = 0: the first step has no recurrent term and keeps nothing
        hbar *= pre[0, H:]
        for t in range(1, x.shape[0]):
            a = pre[t] + self._U2s.dot(hbar)
            np.tanh(a, out=a)
            t0, c = a[:H], a[H:]
            keep = 1.0 - t0
            keep *= 0.5
            keep *= hbar
            hbar = t0 + self._kappa
            hbar *= c
            hbar += keep
        q: np.ndarray = hs.fast_weight.dot(hbar)
        q += hs.bias
        np.tanh(q, out=q)
        q *= 0.5
        q += 0.5
        return q

    def predict_one(self, x: np.ndarray, heads: AgentHeads | None = None) -> np.ndarray:
        """(A,) P(adequate) for ONE request: its embedding x (d,) (T = 1), or its chunk embeddings
        (T, d), every row a valid step (``features.request_sequences`` without the padding): the
        router's hot path. It does not validate x (finite, of the fitted dimension: the caller's job);
        float32 x avoids a cast. The result is a new float32 array."""
        hs = self.default_heads if heads is None else heads
        if x.ndim == 2:
            return self._predict_sequence_one(x, hs)
        if not self._fast:
            return np.asarray(self.predict(x[None, :], hs)[0])
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        # Each step in place on the array the previous one returned: no shared buffers (thread-safe).
        if self._lowrank:
            t = self._W1s.dot(self._W2T.dot(x))
            t += self._b2
            np.tanh(t, out=t)
            g, c = t[:self._H], t[self._H:]
        else:
            t = self._s2 * self._W.dot(x)
            t += self._off2
            np.tanh(t, out=t)
            g, c = t[0], t[1]
        g += self._kappa
        g *= c
        q: np.ndarray = hs.fast_weight.dot(g)
        q += hs.bias
        np.tanh(q, out=q)
        q *= 0.5
        q += 0.5
        return q
