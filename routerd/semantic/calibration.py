"""What FitRoutes learns besides thresholds, and the metrics it reports.

**Route similarity.** Unfitted, a route's similarity to a request is the cosine to its nearest
utterance. FitRoutes also learns one unit *prototype* per route: a cosine classifier trained on all
routes' utterances (softmax over 20 x the cosine to each prototype, L-BFGS from the centroids, pulled
towards them), which separates routes whose utterances overlap better than any single utterance
does. The similarity is then ``w * nearest-utterance cosine + (1 - w) * prototype cosine``, ``w``
(``utterance_weight``) chosen by cross-validation on the labelled examples. A route whose utterances
changed after the fit uses its centroid as prototype until the next fit (``fingerprint``), and a
route without a threshold of its own (one added after the fit) uses the fitted global threshold
(``global_threshold``): thresholds resolve route -> fit -> configured default.

**Confidence.** The probability that route r is the right answer is a softmax over the routes most
similar to the request (``CANDIDATES``) and one "none" class:
``P(r) ∝ exp(slope * (s_r - θ_r))``, ``P(none) ∝ exp(null_logit)``, so a route just at its threshold
is as likely as "none" times ``exp(-null_logit)``, and two routes of equal similarity share the mass.
``slope`` and ``null_logit`` are fitted by maximum likelihood (Newton's method, two parameters) on
out-of-fold predictions of the labelled examples. Unfitted: slope 20, null logit 0.

**Calibration error** (``expected_calibration_error``) is over every example: the prediction is the
top match, or "none" when nothing matched; its confidence is the match's probability, or the
out-of-scope probability; 15 equal-width bins.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routerd.errors import InvalidArgument
from routerd.semantic.linear import expected_calibration_error

CANDIDATES = 16  # the softmax runs over this many most similar routes (and "none")
DEFAULT_SLOPE = 20.0
DEFAULT_NULL_LOGIT = 0.0
SLOPE_MAX = 1_000.0
NULL_LOGIT_MAX = 50.0
VERSION = 1


@dataclass(frozen=True, slots=True)
class RoutePrototype:
    """A learned unit vector for a route, valid while the route's utterance vectors hash to
    ``fingerprint``."""

    fingerprint: str
    vector: np.ndarray  # (dim,) float32


@dataclass(frozen=True, slots=True)
class Calibration:
    """The fitted scoring and confidence model of a route set (see the module docstring)."""

    slope: float = DEFAULT_SLOPE
    null_logit: float = DEFAULT_NULL_LOGIT
    utterance_weight: float = 1.0
    prototypes: Mapping[str, RoutePrototype] = field(default_factory=dict)
    embedder: str = ""
    dim: int = 0
    # the fitted global threshold: what a route without a threshold of its own uses (a route added
    # after the fit); None: the configured default
    global_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (vectors as base64 of little-endian float32)."""
        return {
            "version": VERSION,
            "slope": self.slope,
            "null_logit": self.null_logit,
            "utterance_weight": self.utterance_weight,
            "embedder": self.embedder,
            "dim": self.dim,
            "global_threshold": self.global_threshold,
            "prototypes": {
                name: {"fingerprint": p.fingerprint,
                       "vector": base64.b64encode(np.asarray(p.vector, dtype="<f4").tobytes()).decode("ascii")}
                for name, p in sorted(self.prototypes.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], field_name: str = "calibration") -> Calibration:
        """The calibration ``to_dict`` wrote, or ``InvalidArgument`` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(field_name, "must be an object")
        if data.get("version") != VERSION:
            raise InvalidArgument(f"{field_name}.version", f"unsupported version {data.get('version')!r}; "
                                                           f"this routerd reads {VERSION}")

        def number(key: str, lo: float, hi: float) -> float:
            v = data.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
                raise InvalidArgument(f"{field_name}.{key}", f"must be a number in [{lo:g}, {hi:g}], got {v!r}")
            return float(v)

        slope = number("slope", 1e-6, SLOPE_MAX)
        null_logit = number("null_logit", -NULL_LOGIT_MAX, NULL_LOGIT_MAX)
        weight = number("utterance_weight", 0.0, 1.0)
        global_threshold = None if data.get("global_threshold") is None else number("global_threshold", 0.0, 1.0)
        embedder, dim = data.get("embedder", ""), data.get("dim", 0)
        if not isinstance(embedder, str):
            raise InvalidArgument(f"{field_name}.embedder", "must be text")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise InvalidArgument(f"{field_name}.dim", "must be a non-negative integer")
        raw = data.get("prototypes", {})
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"{field_name}.prototypes", "must be an object")
        prototypes: dict[str, RoutePrototype] = {}
        for name, entry in raw.items():
            where = f"{field_name}.prototypes[{name!r}]"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("fingerprint"), str) \
                    or not isinstance(entry.get("vector"), str):
                raise InvalidArgument(where, "must have a fingerprint and a vector")
            try:
                vec = np.frombuffer(base64.b64decode(entry["vector"], validate=True), dtype="<f4")
            except ValueError:
                raise InvalidArgument(where, "vector is not base64 of float32 values") from None
            if vec.shape != (dim,) or not np.isfinite(vec).all():
                raise InvalidArgument(where, f"vector must be {dim} finite values")
            prototypes[str(name)] = RoutePrototype(entry["fingerprint"], vec.astype(np.float32))
        return cls(slope=slope, null_logit=null_logit, utterance_weight=weight, prototypes=prototypes,
                   embedder=embedder, dim=dim, global_threshold=global_threshold)


def fit_confidence(margins: np.ndarray, labels: np.ndarray, *, iterations: int = 50) -> tuple[float, float]:
    """(slope, null_logit) maximising the likelihood of ``labels`` under the confidence model.

    ``margins`` (n, K): similarity minus threshold of each candidate route (-inf for none); ``labels``
    (n,): the column of the right route, or -1 for "none". Newton's method on the two parameters with
    step halving; the Hessian is the covariance of the features under the model, so it is positive
    semi-definite and a small ridge keeps it invertible."""
    m = np.where(np.isfinite(margins), margins, 0.0).astype(np.float64)
    present = np.isfinite(margins)
    n = m.shape[0]
    rows = np.arange(n)
    in_scope = labels >= 0

    def stats(w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        slope, b = w
        logits = np.where(present, slope * m, -np.inf)
        top = np.maximum(logits.max(axis=1, initial=-np.inf), b)
        e = np.exp(logits - top[:, None])
        e0 = np.exp(b - top)
        z = e.sum(axis=1) + e0
        p, p0 = e / z[:, None], e0 / z
        chosen = np.where(in_scope, logits[rows, np.maximum(labels, 0)], b)
        nll = float((np.log(z) + top - chosen).sum())
        # features: (margin, 0) for a route, (0, 1) for "none"
        e_m = (p * m).sum(axis=1)
        e_mm = (p * m * m).sum(axis=1)
        y_m = np.where(in_scope, m[rows, np.maximum(labels, 0)], 0.0)
        y_1 = (~in_scope).astype(np.float64)
        grad = np.array([(e_m - y_m).sum(), (p0 - y_1).sum()])
        h11 = (e_mm - e_m ** 2).sum()
        h22 = (p0 * (1 - p0)).sum()
        h12 = (-e_m * p0).sum()
        hess = np.array([[h11, h12], [h12, h22]]) + 1e-6 * n * np.eye(2)
        return nll, grad, hess

    w = np.array([DEFAULT_SLOPE, DEFAULT_NULL_LOGIT])
    f, g, h = stats(w)
    for _ in range(iterations):
        step = np.linalg.solve(h, g)
        t = 1.0
        while t > 1e-6:
            cand = w - t * step
            cand[0] = min(max(cand[0], 1e-3), SLOPE_MAX)
            cand[1] = min(max(cand[1], -NULL_LOGIT_MAX), NULL_LOGIT_MAX)
            fc, gc, hc = stats(cand)
            if fc <= f:
                break
            t *= 0.5
        else:
            break
        converged = abs(f - fc) < 1e-9 * max(1.0, abs(f))
        w, f, g, h = cand, fc, gc, hc
        if converged:
            break
    return float(w[0]), float(w[1])


@dataclass(frozen=True, slots=True)
class FitMetrics:
    """Quality of a route set's answers on labelled examples (``evaluate``)."""

    in_scope_accuracy: float  # of the in-scope examples, the share matched to the right route
    out_of_scope_recall: float  # of the out-of-scope examples, the share that matched nothing
    accuracy: float  # of all examples, the share answered right
    macro_f1: float  # over the routes and "none" present among labels or predictions
    calibration_error: float  # ECE of the confidence, 15 bins (module docstring)
    in_scope: int
    out_of_scope: int


def confusion(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn) per class; "none" is class ``n_classes - 1`` (pass -1 in ``pred``/``labels``)."""
    p = np.where(pred < 0, n_classes - 1, pred)
    y = np.where(labels < 0, n_classes - 1, labels)
    hit = p == y
    tp = np.bincount(p[hit], minlength=n_classes)
    fp = np.bincount(p[~hit], minlength=n_classes)
    fn = np.bincount(y[~hit], minlength=n_classes)
    return tp, fp, fn


def macro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """Mean F1 over the classes that occur as a label or a prediction (as scikit-learn does)."""
    denom = 2 * tp + fp + fn
    present = denom > 0
    if not present.any():
        return 0.0
    return float((2 * tp[present] / denom[present]).mean())


def evaluate(pred: np.ndarray, confidence: np.ndarray, labels: np.ndarray, n_routes: int) -> FitMetrics:
    """Metrics of predictions (route index, -1 for none) with their confidences against ``labels``."""
    in_scope = labels >= 0
    correct = pred == labels
    tp, fp, fn = confusion(pred, labels, n_routes + 1)
    n_in, n_out = int(in_scope.sum()), int((~in_scope).sum())
    return FitMetrics(
        in_scope_accuracy=float(correct[in_scope].mean()) if n_in else 0.0,
        out_of_scope_recall=float(correct[~in_scope].mean()) if n_out else 0.0,
        accuracy=float(correct.mean()) if len(labels) else 0.0,
        macro_f1=macro_f1(tp, fp, fn),
        calibration_error=expected_calibration_error(confidence, correct),
        in_scope=n_in,
        out_of_scope=n_out,
    )


def per_route_precision_recall(pred: np.ndarray, labels: np.ndarray, n_routes: int) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, support) per route; 0 where undefined (no predictions, no support)."""
    tp, fp, fn = confusion(pred, labels, n_routes + 1)
    tp, fp, fn = tp[:n_routes], fp[:n_routes], fn[:n_routes]
    precision = np.divide(tp, tp + fp, out=np.zeros(n_routes), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(n_routes), where=(tp + fn) > 0)
    return precision, recall, tp + fn


def label_indices(labels: Sequence[str | None], names: Sequence[str], field: str = "examples") -> np.ndarray:
    """Route indices of ``labels`` (-1 for None or ""), or ``InvalidArgument("examples[i].route")``."""
    index = {n: i for i, n in enumerate(names)}
    out = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        if label is None or label == "":
            out[i] = -1
            continue
        if not isinstance(label, str) or label not in index:
            raise InvalidArgument(f"{field}[{i}].route", f"no route named {label!r}")
        out[i] = index[label]
    return out
