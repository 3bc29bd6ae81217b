"""The training loop of the quality model: Adam on mini-batches, early stopping on a held-out split,
and the FastGRNN paper's three-stage sparsity schedule (pure numpy).

Kusupati et al. (NeurIPS 2018) train a sparse FastGRNN in three stages: dense training, then
iterative hard thresholding (after every gradient step keep only the largest-magnitude fraction
``s`` of each sparse matrix), then training on that fixed support. Here each stage has a third of
the epoch budget and ends early when the validation loss stops improving (``patience``); the next
stage starts from the best weights of the one before. Only epochs whose weights meet the sparsity
constraint (the last two stages, or the single dense stage when nothing is sparse) can become the
returned model.

The loop knows nothing about the model: it gets a ``loss_and_grad`` over a batch of row indices and a
``validate`` over the held-out rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Params = dict[str, F64]
LossAndGrad = Callable[[Params, npt.NDArray[np.intp]], tuple[float, Params]]
Validate = Callable[[Params], tuple[float, dict[str, float]]]
Progress = Callable[[int, float, "float | None"], Any]


class Adam:
    """Adam (Kingma & Ba, 2015) over a dict of arrays, updated in place."""

    def __init__(self, params: Mapping[str, F64], lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params: Params, grads: Mapping[str, F64]) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            params[k] -= lr_t * m / (np.sqrt(v) + self.eps)


def hard_threshold_mask(a: F64, density: float) -> npt.NDArray[np.bool_]:
    """True on the ``ceil(density · size)`` entries of largest magnitude (ties broken by position)."""
    k = min(a.size, max(1, math.ceil(density * a.size)))
    keep = np.zeros(a.size, dtype=bool)
    if k == a.size:
        keep[:] = True
    else:
        # A stable sort on -|a| so equal magnitudes resolve the same way on every run.
        keep[np.argsort(-np.abs(a), axis=None, kind="stable")[:k]] = True
    return keep.reshape(a.shape)


@dataclass(frozen=True)
class Stage:
    name: str  # "dense", "iht" or "support"
    epochs: int
    eligible: bool  # whether its weights may become the returned model


def stages(epochs: int, sparse: bool) -> list[Stage]:
    """The schedule: one dense stage, or dense → IHT → fixed support with a third of the budget each."""
    if not sparse:
        return [Stage("dense", epochs, True)]
    third = epochs // 3
    if third == 0:
        return [Stage("iht", epochs, True)]
    return [Stage("dense", third, False), Stage("iht", third, True), Stage("support", epochs - 2 * third, True)]


@dataclass
class TrainResult:
    params: Params
    history: dict[str, list[Any]]
    best_epoch: int
    n_epochs: int


def _clip(grads: Params, max_norm: float) -> None:
    if max_norm <= 0.0:
        return
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if norm > max_norm:
        scale = max_norm / norm
        for g in grads.values():
            g *= scale


def _copy(p: Mapping[str, F64]) -> Params:
    return {k: v.copy() for k, v in p.items()}


def train(params: Params, n_train: int, loss_and_grad: LossAndGrad, validate: Validate | None, *, epochs: int,
          batch_size: int, learning_rate: float, patience: int, densities: Mapping[str, float],
          rng: np.random.Generator, clip_norm: float = 5.0, progress: Progress | None = None,
          average: float = 0.0) -> TrainResult:
    """Train ``params`` (a copy; the argument is left alone) and return the best eligible weights.

    ``densities`` maps a parameter name to the fraction of its entries kept (< 1 makes it sparse).
    ``average`` in [0, 1): with a > 0 the weights validated and returned are an exponential moving
    average of the iterates (after every step ``avg ← a · avg + (1 − a) · p``, restarted with each
    stage, bias-corrected; Polyak averaging), restricted to the iterate's support in the sparse stages
    so that they meet the sparsity constraint; 0 uses the iterates themselves.
    ``progress(epoch, train_loss, val_loss)`` is called after every epoch (``val_loss`` None without a
    validation split); an exception it raises aborts training and propagates."""
    sparse = {k: d for k, d in densities.items() if d < 1.0}
    p = _copy(params)
    history: dict[str, list[Any]] = {"epoch": [], "stage": [], "train_loss": [], "val_loss": [],
                                     "val_loss_agents": [], "val_loss_embedding": []}
    best: Params | None = None
    best_val = math.inf
    best_epoch = 0
    epoch = 0
    avg: Params | None = None
    avg_weight = 0.0
    for stage in stages(epochs, bool(sparse)):
        if stage.epochs == 0:
            continue
        opt = Adam(p, learning_rate)
        support = {k: hard_threshold_mask(p[k], d) for k, d in sparse.items()} if stage.name == "support" else {}
        for k, s in support.items():
            p[k] *= s
        stage_best: Params | None = None
        stage_best_val = math.inf
        since_best = 0
        avg = {k: np.zeros_like(v) for k, v in p.items()} if average > 0.0 else None
        avg_weight = 0.0  # 1 − a^steps: the bias correction of the zero-started average
        for _ in range(stage.epochs):
            epoch += 1
            order = rng.permutation(n_train)
            total, seen = 0.0, 0
            for start in range(0, n_train, batch_size):
                idx = order[start:start + batch_size]
                loss, grads = loss_and_grad(p, idx)
                _clip(grads, clip_norm)
                opt.step(p, grads)
                if stage.name == "iht":
                    for k, d in sparse.items():
                        p[k] *= hard_threshold_mask(p[k], d)
                elif stage.name == "support":
                    for k, s in support.items():
                        p[k] *= s
                if avg is not None:
                    for k, v in p.items():
                        a_k = avg[k]
                        a_k *= average
                        a_k += (1.0 - average) * v
                    avg_weight = average * avg_weight + (1.0 - average)
                total += loss * len(idx)
                seen += len(idx)
            train_loss = total / max(seen, 1)
            current = p
            if avg is not None and avg_weight > 0.0:
                current = {k: v / avg_weight for k, v in avg.items()}
                if stage.name in ("iht", "support"):
                    for k in sparse:
                        current[k] *= p[k] != 0.0
            val_loss: float | None = None
            parts: dict[str, float] = {}
            if validate is not None:
                val_loss, parts = validate(current)
            history["epoch"].append(epoch)
            history["stage"].append(stage.name)
            history["train_loss"].append(train_loss)
            history["val_loss"].append(val_loss)
            history["val_loss_agents"].append(parts.get("agents"))
            history["val_loss_embedding"].append(parts.get("embedding"))
            if progress is not None:
                progress(epoch, train_loss, val_loss)
            if val_loss is None:
                continue
            if val_loss < stage_best_val - 1e-7:
                stage_best_val, stage_best, since_best = val_loss, _copy(current), 0
                if stage.eligible and val_loss < best_val:
                    best_val, best, best_epoch = val_loss, stage_best, epoch
            else:
                since_best += 1
                if since_best >= patience:
                    break
        if stage_best is not None:
            p = _copy(stage_best)  # the next stage starts from this stage's best weights
    if best is None:  # no validation split: the last weights (averaged, with ``average``)
        if avg is not None and avg_weight > 0.0:
            p = {k: v / avg_weight for k, v in avg.items()}
            for k, d in sparse.items():
                p[k] *= hard_threshold_mask(p[k], d)
        return TrainResult(p, history, epoch, epoch)
    return TrainResult(best, history, best_epoch, epoch)
