"""The learned quality model in the daemon: serving it, training it, promoting it, rolling it back.

``LearnedQuality`` is the ``QualityModel`` the router uses when a model is live: the FastGRNN's
per-request P(adequate) for each agent (int8 encoder, ``routerd.model.fastgrnn``), blended with the
agent's observed quality by the model's evidence for that agent::

    q(r, a) = w_a · model(r, a) + (1 − w_a) · observed(a)
    w_a = n_a / (n_a + EVIDENCE_K)   for an agent the model was trained on (n_a training targets)
    w_a = NEW_AGENT_WEIGHT            for an agent only the agent-embedding head scores (not trained on)
    w_a = 0                           when the model cannot score it

and, with a learned model, a decision's ``confidence`` is that blended P(adequate) of the chosen agent:
a probability calibrated on held-out data (temperature scaling in ``fit``; its ECE is in the metrics).

``ModelManager`` owns the versions (rows of the store's ``models`` table, each with its model file,
see ``encode_model``; with a SQLite store the file is also written to ``models/fastgrnn-NNNN.npz`` in
the data dir, for operators: the store stays the source, so replicas on PostgreSQL share it). A
training (from a routing dataset or from the outcome log) runs in a background thread, one at a
time, and ends in exactly one of: promoted (its held-out Brier score
beats what routes today, i.e. the live model, else the observed-quality baseline, on the same
held-out rows), rejected (kept, never served unless promoted by hand), failed (the error is its
reason). Whatever happens, the live model changes only by an explicit promotion, a better candidate
or a rollback, each one store transaction; the router's reference is swapped after the commit.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from routerd.domain import AgentSpec, CostModel, ModelRecord
from routerd.engine.quality import ObservedQuality, QualityModel
from routerd.engine.query import RouteQuery
from routerd.engine.registry import Registry
from routerd.engine.router import Router
from routerd.engine.table import AgentTable, capability_text
from routerd.errors import (
    AgentExists,
    FailedPrecondition,
    InvalidArgument,
    ModelNotFound,
    TrainingInProgress,
)
from routerd.model import evaluation as ev
from routerd.model.datasets import RoutingDataset, fit_price_models
from routerd.model.embedders import Embedder
from routerd.model.fastgrnn import FastGRNNInference, FastGRNNRouter
from routerd.model.features import FEATURES, request_sequences
from routerd.model.heads import expected_calibration_error
from routerd.store.base import Store

log = logging.getLogger(__name__)

MODEL_FILE_FORMAT = "tinydancer-model"
MODEL_FILE_VERSION = 1
EVIDENCE_K = 20.0  # training targets at which the model and the observed quality weigh the same
NEW_AGENT_WEIGHT = 0.5  # weight of the agent-embedding head's guess for an agent it was not trained on
HOLDOUT_FRACTION = 0.2
MIN_TRAIN_ROWS = 8  # fewer requests than this cannot be split into training, validation and held-out rows
EVAL_FOLDS = 5  # the baselines of an evaluation are cross-fitted on the evaluated dataset
EMBED_BATCH = 256  # texts embedded between two progress events
# Hyperparameters a Train request may set (the rest keep FastGRNNRouter's defaults).
TUNABLE = ("hidden_dim", "epochs", "learning_rate", "batch_size", "patience", "l2", "rank_w", "rank_u",
           "sparsity_w", "sparsity_u", "distill")


def _version_name(version: int) -> str:
    return f"fastgrnn/{version}"


# -- the model file -----------------------------------------------------------------------------

def encode_model(est: FastGRNNRouter, header: Mapping[str, Any]) -> bytes:
    """The model file: an .npz of the estimator's arrays plus ``__header__``, a JSON object with the
    format, the embedder, the feature recipe, the agents and the estimator's metadata."""
    meta, arrays = est.to_dict()
    head = {"format": MODEL_FILE_FORMAT, "format_version": MODEL_FILE_VERSION, **header, "estimator": meta}
    buf = io.BytesIO()
    blob = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    np.savez_compressed(buf, **{"__header__": blob, **arrays})  # type: ignore[arg-type]
    return buf.getvalue()


def decode_model(data: bytes) -> tuple[dict[str, Any], FastGRNNRouter]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            head = json.loads(bytes(z["__header__"]).decode())
            arrays = {k: z[k] for k in z.files if k != "__header__"}
    except (OSError, ValueError, KeyError) as e:
        raise InvalidArgument("model", f"not a Tiny Dancer model file ({e})") from None
    if head.get("format") != MODEL_FILE_FORMAT or head.get("format_version") != MODEL_FILE_VERSION:
        raise InvalidArgument("model", f"format {head.get('format')!r} v{head.get('format_version')} is not "
                                       f"{MODEL_FILE_FORMAT!r} v{MODEL_FILE_VERSION}")
    return head, FastGRNNRouter.from_dict(head["estimator"], arrays)


def model_dir_of(store: Store) -> Path | None:
    """Where model files are written: ``models/`` beside a SQLite store's database (the data dir);
    None for PostgreSQL, whose replicas share the weights through the store alone."""
    path = getattr(store, "path", None)
    return Path(path).parent / "models" if isinstance(path, str) and path != ":memory:" else None


CURVE_POINTS_MAX = 200  # the most operating points of a stored held-out curve (evenly kept)


def curve_key(version: int) -> str:
    """The metadata key of a version's held-out cost–quality curve (a JSON object)."""
    return f"model_curve/{version}"


def model_file_name(version: int) -> str:
    return f"fastgrnn-{version:04d}.npz"


def write_model_file(directory: Path, version: int, data: bytes) -> Path:
    """Write a version's model file atomically (temporary file, fsync, rename, fsync of the directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / model_file_name(version)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


# -- serving ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _TableHeads:
    version: int
    heads: Any  # AgentHeads, with zero rows (a finite 0.5) for the agents the model cannot score
    weight: np.ndarray  # (A,) w_a (0 where the model cannot score)
    offset: np.ndarray  # (A,) (1 − w_a) · observed(a): q = weight · model + offset


class LearnedQuality:
    """``QualityModel`` over a fitted FastGRNN (see the module docstring)."""

    needs_embeddings = False  # it embeds what it needs itself (``routerd.model.features``)
    calibrated = True

    def __init__(self, number: int, est: FastGRNNRouter, embedder: Embedder):
        self.number = number
        self.version = _version_name(number)
        self.estimator = est
        self.inference: FastGRNNInference = est.quantize()
        self.embedder = embedder
        self._heads: _TableHeads | None = None
        self._lock = threading.Lock()

    def _table_heads(self, table: AgentTable) -> _TableHeads:
        th = self._heads
        if th is not None and th.version == table.version:
            return th
        with self._lock:
            th = self._heads
            if th is None or th.version != table.version:
                th = self._build_heads(table)
                self._heads = th
        return th

    def _build_heads(self, table: AgentTable) -> _TableHeads:
        names = list(table.names)
        emb = table.cap_embeddings if self.inference.embedding_dim is not None and len(names) else None
        heads = self.inference.heads(names, emb, unknown="nan")
        scored = ~np.isnan(np.asarray(heads.bias, dtype=np.float64))
        if not scored.all():  # zero rows predict a finite 0.5 that weight 0 then ignores
            heads = replace(heads, weight=_zero_rows(heads.weight, ~scored), bias=_zero_rows(heads.bias, ~scored),
                            fast_weight=_zero_rows(heads.fast_weight, ~scored))
        n = self.estimator.evidence(names).astype(np.float64)
        weight = np.where(n > 0, n / (n + EVIDENCE_K), np.where(scored, NEW_AGENT_WEIGHT, 0.0))
        return _TableHeads(table.version, heads, weight, (1.0 - weight) * table.observed_quality)

    def model_rows(self, table: AgentTable, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(n, A) the model's own P(adequate) for sequences ``x`` (0.5 where it cannot score)."""
        th = self._table_heads(table)
        return np.asarray(self.inference.predict(x, th.heads, mask), dtype=np.float64)

    def blend(self, table: AgentTable, model_q: np.ndarray) -> np.ndarray:
        th = self._table_heads(table)
        return np.asarray(th.weight * model_q + th.offset)

    def predict(self, table: AgentTable, queries: Sequence[RouteQuery], embeddings: np.ndarray | None) -> np.ndarray:
        n = len(queries)
        if n == 1 and queries[0].has_embedding:
            th = self._table_heads(table)
            x = queries[0].embedding
            assert x is not None
            q = self.inference.predict_one(x if x.dtype == np.float32 else x.astype(np.float32), th.heads)
            out: np.ndarray = th.weight * q
            out += th.offset
            return out[None, :]
        x, mask = request_sequences(self.embedder, [q.text for q in queries],
                                    [q.embedding if q.has_embedding else None for q in queries])
        return self.blend(table, self.model_rows(table, x, mask))


def _zero_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.array(a, copy=True)
    out[rows] = 0
    out.flags.writeable = False
    return out


# -- training -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainOptions:
    """What one training uses. ``dataset`` None trains from the outcome log."""

    dataset: RoutingDataset | None = None
    seed: int = 0
    holdout_fraction: float = HOLDOUT_FRACTION
    max_outcomes: int = 100_000
    hyperparameters: Mapping[str, float | int] = field(default_factory=dict)
    promote: bool = True  # promote when better; False keeps it as a 'candidate'

    def check(self) -> None:
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise InvalidArgument("holdout_fraction", f"must be in [0.05, 0.5], got {self.holdout_fraction}")
        if self.max_outcomes < MIN_TRAIN_ROWS:
            raise InvalidArgument("max_outcomes", f"must be at least {MIN_TRAIN_ROWS}, got {self.max_outcomes}")
        for k, v in self.hyperparameters.items():
            if k not in TUNABLE:
                raise InvalidArgument(f"hyperparameters.{k}", f"unknown; valid: {', '.join(TUNABLE)}")
            if not isinstance(v, int | float) or not math.isfinite(v):
                raise InvalidArgument(f"hyperparameters.{k}", f"must be a finite number, got {v!r}")
        try:
            FastGRNNRouter(**self.estimator_params())._checked_hyperparameters()
        except InvalidArgument as e:
            raise InvalidArgument(f"hyperparameters.{e.field}", e.problem) from None

    def estimator_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"random_state": self.seed}
        for k, v in self.hyperparameters.items():
            integer = k in ("hidden_dim", "epochs", "batch_size", "patience", "rank_w", "rank_u", "distill")
            params[k] = int(v) if integer else float(v)
        return params


@dataclass(frozen=True)
class TrainEvent:
    """Progress of a training: ``phase`` is embedding | training | evaluating | done; ``record`` is set
    on the last event (the version's final row)."""

    version: int
    phase: str
    done: int = 0
    total: int = 0
    train_loss: float | None = None
    validation_loss: float | None = None
    message: str = ""
    record: ModelRecord | None = None


@dataclass(eq=False)
class TrainingData:
    """Requests (as sequences) × agents, with the qualities observed, split in train and held-out rows."""

    x: np.ndarray
    mask: np.ndarray
    quality: np.ndarray  # (n, A) NaN where not observed
    agents: tuple[str, ...]
    train: np.ndarray  # row indices
    holdout: np.ndarray
    fingerprint: str
    source: str


class TrainingJob:
    """One running training; ``events()`` streams its progress until its final event."""

    def __init__(self, version: int):
        self.version = version
        self.started_at = time.time()
        self._events: list[TrainEvent] = []
        self._cv = threading.Condition()
        self.finished = False

    def emit(self, event: TrainEvent) -> None:
        with self._cv:
            self._events.append(event)
            if event.record is not None:
                self.finished = True
            self._cv.notify_all()

    def events(self, timeout: float | None = None) -> Iterator[TrainEvent]:
        """Every event from the first to the final one (which carries ``record``); stops early when
        no event comes for ``timeout`` seconds."""
        seen = 0
        while True:
            with self._cv:
                if not self._cv.wait_for(lambda n=seen: len(self._events) > n, timeout):  # type: ignore[misc]
                    return
                batch = self._events[seen:]
                seen = len(self._events)
            for e in batch:
                yield e
                if e.record is not None:
                    return

    def result(self, timeout: float | None = None) -> ModelRecord:
        with self._cv:
            if not self._cv.wait_for(lambda: self.finished, timeout):
                raise TimeoutError(f"model version {self.version} is still training")
            final = self._events[-1].record
        assert final is not None
        return final


def _split(n: int, fraction: float, seed: int, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) row indices: the last ``fraction`` of ``order`` (the most recent rows) when
    given, else a seeded random share."""
    k = max(1, int(round(fraction * n)))
    rows = order if order is not None else np.random.default_rng(seed).permutation(n)
    return np.sort(rows[:-k]), np.sort(rows[-k:])


def brier(p: np.ndarray, y: np.ndarray) -> float:
    obs = ~np.isnan(y)
    return float(np.mean((p[obs] - y[obs]) ** 2)) if obs.any() else math.nan


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    obs = ~np.isnan(y)
    if not obs.any():
        return math.nan
    q = np.clip(p[obs], 1e-6, 1 - 1e-6)
    t = y[obs]
    return float(-np.mean(t * np.log(q) + (1 - t) * np.log(1 - q)))


class ModelManager:
    """Versions of the quality model, the live one, and trainings (module docstring)."""

    def __init__(self, store: Store, embedder: Embedder, registry: Registry, table: Callable[[], AgentTable],
                 set_model: Callable[[QualityModel], None], clock: Callable[[], float] = time.time):
        self.store = store
        self.embedder = embedder
        self.registry = registry
        self._table = table
        self._set_model = set_model
        self.clock = clock
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None
        self.live: LearnedQuality | None = None
        self.model_dir = model_dir_of(store)
        failed = store.fail_unfinished_models("routerd stopped while it was training", clock())
        if failed:
            log.warning("%d model training(s) never finished (routerd stopped); marked failed", failed)
        live = [m for m in store.list_models() if m.status == "live"]
        if live:
            self.live = self._load(live[-1].version)
            if self.model_dir is not None and not (self.model_dir / model_file_name(self.live.number)).exists():
                rec = store.get_model(self.live.number)
                self._write_file(self.live.number, rec.weights if rec is not None else None)
        self._set_model(self.current())

    def reload(self) -> bool:
        """Serve the version the store says is live (another routerd promoted or rolled back one)."""
        with self._lock:
            live = [m for m in self.store.list_models() if m.status == "live"]
            version = live[-1].version if live else None
            if version == (self.live.number if self.live is not None else None):
                return False
            self.live = self._load(version) if version is not None else None
            self._set_model(self.current())
        log.info("model: now serving %s (changed by another routerd)", self.current().version)
        return True

    # -- serving
    def current(self) -> QualityModel:
        return self.live if self.live is not None else ObservedQuality()

    def _load(self, version: int) -> LearnedQuality:
        rec = self.store.get_model(version)
        if rec is None:
            raise ModelNotFound(version)
        if rec.weights is None:
            raise FailedPrecondition(f"model version {version} has no weights (status {rec.status}): only a "
                                     "finished training can be served")
        if rec.embedder != self.embedder.name or rec.dim != self.embedder.dim:
            raise FailedPrecondition(
                f"model version {version} was trained on {rec.embedder!r} ({rec.dim} dimensions), routerd embeds "
                f"with {self.embedder.name!r} ({self.embedder.dim}): start routerd with the model's embedder, or "
                "promote a model trained on this one")
        if rec.features != FEATURES:
            raise FailedPrecondition(f"model version {version} uses features {rec.features!r}; this routerd "
                                     f"computes {FEATURES!r}: retrain it")
        _, est = decode_model(rec.weights)
        return LearnedQuality(version, est, self.embedder)

    # -- versions
    def info(self, version: int | None = None) -> ModelRecord | None:
        """A version's record (without weights); None: the live one, or None when none is live."""
        if version is None:
            if self.live is None:
                return None
            version = self.live.number
        rec = self.store.get_model(version, weights=False)
        if rec is None:
            raise ModelNotFound(version)
        return rec

    def versions(self) -> list[ModelRecord]:
        return self.store.list_models()

    def promote(self, version: int) -> ModelRecord:
        with self._lock:
            rec = self.store.get_model(version, weights=False)
            if rec is None:
                raise ModelNotFound(version)
            if rec.status == "live":
                return rec
            if rec.status in ("training", "failed"):
                raise FailedPrecondition(f"model version {version} is {rec.status}: only a trained version can be "
                                         "promoted")
            model = self._load(version)
            self.store.promote_model(version, self.clock())
            self.live = model
            self._set_model(model)
        log.info("model %s promoted by request", model.version)
        return self.info(version) or rec

    def rollback(self) -> ModelRecord | None:
        """Serve the version promoted before the live one (None: no model, the observed quality);
        the live one becomes 'rolled_back'."""
        with self._lock:
            if self.live is None:
                raise FailedPrecondition("no model is live: there is nothing to roll back")
            earlier = [m for m in self.store.list_models()
                       if m.status == "retired" and m.promoted_at is not None]
            earlier.sort(key=lambda m: (m.promoted_at or 0.0, m.version))
            target = earlier[-1].version if earlier else None
            model = self._load(target) if target is not None else None
            self.store.promote_model(target, self.clock(), rollback=True)
            self.live = model
            self._set_model(self.current())
        log.info("model rolled back to %s", model.version if model else "observed quality")
        return self.info(target) if target is not None else None

    # -- evaluation
    def evaluate(self, ds: RoutingDataset, version: int | None = None, seed: int = 0,
                 folds: int = EVAL_FOLDS) -> tuple[str, ev.Evaluation, float]:
        """(model version, the cost–quality evaluation, ECE) of the live model (or ``version``) on
        ``ds``'s complete rows, next to the baselines (``EvaluateResponse`` in the proto). Routerd's
        own cost estimates choose; the dataset's costs and qualities score."""
        ds.check_embedder(self.embedder.name, self.embedder.dim)
        if version is not None:
            model = self.live if self.live is not None and self.live.number == version else self._load(version)
        elif self.live is not None:
            model = self.live
        else:
            raise FailedPrecondition("no model is live: train one (routerd train) or name a version")
        full = ds.complete()
        if full.sum() < 2 * folds:
            raise InvalidArgument("dataset", f"has {int(full.sum())} requests with a quality and a cost for every "
                                             f"agent; an evaluation needs at least {2 * folds}")
        ds = ds.subset(full)
        table = self._table()
        missing = [a for a in ds.agents if a not in table.index]
        if missing:
            raise InvalidArgument("dataset", f"agent {missing[0]!r} is not registered: register it, or train on a "
                                             "dataset that names it (training registers its agents)")
        cols = [table.index[a] for a in ds.agents]
        c_hat = Router._cost(table, [RouteQuery(text=p) for p in ds.prompts])[:, cols]
        given: list[np.ndarray | None] = list(ds.embeddings) if ds.embeddings is not None else [None] * len(ds)
        x, mask = request_sequences(self.embedder, ds.prompts, given)
        q_model = model.blend(table, model.model_rows(table, x, mask))[:, cols]
        flat = np.where(mask[:, :, None], x, x[:, :1]).reshape(len(ds), -1)  # a missing tail repeats the head
        fold = np.random.default_rng(seed).permutation(len(ds)) % folds
        q_knn, q_lr = np.empty_like(q_model), np.empty_like(q_model)
        cats = ds.categories if all(c is not None for c in ds.categories) else None
        q_task = np.empty_like(q_model) if cats is not None else None
        for k in range(folds):
            tr, te = fold != k, fold == k
            q_knn[te] = ev.KNNRouter().fit(flat[tr], ds.quality[tr]).predict(flat[te])
            q_lr[te] = ev.LogisticRouter().fit(flat[tr], ds.quality[tr]).predict(flat[te])
            if q_task is not None and cats is not None:
                tr_c = [c for c, t in zip(cats, tr, strict=True) if t]
                te_c = [c for c, t in zip(cats, te, strict=True) if t]
                q_task[te] = ev.TaskAwareRouter().fit(tr_c, ds.quality[tr]).predict(te_c)
        preds = {model.version: q_model, "k-NN (5-fold)": q_knn, "logistic regression (5-fold)": q_lr}
        if q_task is not None:
            preds["task-aware (5-fold)"] = q_task
        result = ev.evaluate(preds, c_hat, ds.quality, ds.cost, ds.agents)
        obs = ~np.isnan(ds.quality)
        ece = expected_calibration_error(q_model, np.nan_to_num(ds.quality), obs)
        return model.version, result, float(ece)

    # -- scheduled retraining from the outcome log
    def retrain_due(self, min_outcomes: int) -> bool:
        """Whether ``min_outcomes`` outcomes (naming decisions) arrived since the last training ended."""
        ends = [m.finished_at or m.created_at for m in self.store.list_models()]
        since = max(ends) if ends else None
        return len(self.store.training_outcomes(limit=min_outcomes, since=since)) >= min_outcomes

    def run_schedule(self, interval_s: float, min_outcomes: int, stop: threading.Event) -> None:
        """Every ``interval_s``: retrain from the outcome log when it is due and nothing trains (the
        candidate is promoted only if its shadow evaluation beats the live model)."""
        while not stop.wait(interval_s):
            try:
                if self.training is None and self.retrain_due(min_outcomes):
                    job = self.start_training(TrainOptions())
                    log.info("scheduled retraining: model version %d", job.version)
                    job.result()
            except Exception:
                log.exception("scheduled retraining failed to start")

    # -- training
    @property
    def training(self) -> TrainingJob | None:
        job = self._job
        return job if job is not None and not job.finished else None

    def start_training(self, options: TrainOptions) -> TrainingJob:
        """Validate, register the dataset's new agents, store a 'training' row and train in the
        background. ``TrainingInProgress`` if one is running."""
        options.check()
        if options.dataset is not None:
            options.dataset.check_embedder(self.embedder.name, self.embedder.dim)
            if len(options.dataset) < MIN_TRAIN_ROWS:
                raise InvalidArgument("dataset", f"has {len(options.dataset)} requests; training needs at least "
                                                 f"{MIN_TRAIN_ROWS}")
        with self._lock:
            running = self.training
            if running is not None:
                raise TrainingInProgress(running.version, time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                        time.gmtime(running.started_at)))
            source = f"dataset:{options.dataset.source}" if options.dataset is not None else "outcomes"
            parent = self.live.number if self.live is not None else None
            record = ModelRecord(0, self.clock(), "training", source, "", self.embedder.name, self.embedder.dim,
                                 FEATURES, parent=parent)
            version = self.store.insert_model(record)
            job = TrainingJob(version)
            self._job = job
        record = replace(record, version=version)
        thread = threading.Thread(target=self._run, args=(job, record, options), name=f"train-{version}", daemon=True)
        thread.start()
        return job

    def _run(self, job: TrainingJob, record: ModelRecord, options: TrainOptions) -> None:
        t0 = time.monotonic()
        try:
            final = self._train(job, record, options)
        except Exception as e:  # the live model stays; the reason is the error
            if not isinstance(e, InvalidArgument | FailedPrecondition):
                log.exception("training of model version %d failed", record.version)
            final = replace(record, status="failed", reason=str(e), finished_at=self.clock(),
                            metrics={"train_seconds": time.monotonic() - t0})
            try:
                self.store.finish_model(final, live=False)
            except Exception:
                log.exception("could not record the failure of model version %d", record.version)
        log.info("model version %d: %s (%s)", record.version, final.status, final.reason)
        job.emit(TrainEvent(record.version, "done", message=final.reason, record=final))

    def _train(self, job: TrainingJob, record: ModelRecord, options: TrainOptions) -> ModelRecord:
        t0 = time.monotonic()
        v = record.version
        registered: list[str] = []
        if options.dataset is not None:
            registered = self._register_dataset_agents(options.dataset)
            data = self._dataset_data(job, v, options)
        else:
            data = self._outcome_data(job, v, options)
        specs = {r.name: r.spec for r in self.registry.snapshot()[1]}
        agent_emb = self.embedder.embed([capability_text(specs[a]) for a in data.agents])
        t_fit = time.monotonic()
        est = FastGRNNRouter(**options.estimator_params())
        max_epochs = est.epoch_budget  # the teachers' epochs count too

        def progress(epoch: int, train_loss: float, val_loss: float | None) -> None:
            job.emit(TrainEvent(v, "training", epoch, max_epochs, train_loss, val_loss))

        tr, ho = data.train, data.holdout
        est.fit(data.x[tr], data.quality[tr], agent_emb, mask=data.mask[tr], agent_names=list(data.agents),
                progress=progress)
        t_eval = time.monotonic()
        job.emit(TrainEvent(v, "evaluating", message=f"{ho.size} held-out requests"))
        candidate = LearnedQuality(v, est, self.embedder)
        table = self._table()
        # The candidate's predictions for the held-out rows, as the router would use them: computed once
        # for the promotion decision and the stored curve.
        held = candidate.blend(table, candidate.model_rows(table, data.x[ho], data.mask[ho]))
        metrics, better, reason = self._shadow(table, held, data)
        metrics.update({"n_train": float(tr.size), "n_holdout": float(ho.size), "n_agents": float(len(data.agents)),
                        "epochs": float(est.n_iter_), "best_epoch": float(est.best_epoch_),
                        "train_seconds": time.monotonic() - t0, "embed_seconds": t_fit - t0,
                        "fit_seconds": t_eval - t_fit,
                        "encoder_bytes": float(candidate.inference.nbytes_encoder),
                        "agents_registered": float(len(registered))})
        promote = better and options.promote
        status = "live" if promote else ("candidate" if better else "rejected")
        if better and not options.promote:
            reason += "; not promoted (promote=false): routerd model promote to serve it"
        header = {"version": v, "embedder": self.embedder.name, "dim": self.embedder.dim, "features": FEATURES,
                  "agents": list(data.agents), "fingerprint": data.fingerprint, "source": data.source,
                  "metrics": metrics}
        now = self.clock()
        final = replace(record, status=status, fingerprint=data.fingerprint, agents=data.agents, metrics=metrics,
                        reason=reason, finished_at=now, promoted_at=now if promote else None,
                        weights=encode_model(est, header))
        if options.dataset is not None:  # outcome logs have one agent per request: no curve to sweep
            curve = self._holdout_curve(candidate, table, held, options.dataset, data)
            if curve is not None:  # beside the version (ModelVersion.metrics is a map of numbers)
                self.store.set_meta({curve_key(v): json.dumps(curve, allow_nan=False)})
        with self._lock:
            self.store.finish_model(final, live=promote)
            if promote:
                self.live = candidate
                self._set_model(candidate)
        self._write_file(v, final.weights)
        return replace(final, weights=None)

    @staticmethod
    def _holdout_curve(candidate: LearnedQuality, table: AgentTable, held: np.ndarray, ds: RoutingDataset,
                       data: TrainingData) -> dict[str, Any] | None:
        """The candidate's cost–quality curve (routerd.model.evaluation.sweep) on the held-out rows that
        have a quality and a cost for every agent, next to each agent alone; None without such rows or
        with an agent not registered. Routerd's own cost estimates choose, the dataset's values score."""
        pos = np.flatnonzero(ds.complete()[data.holdout])  # positions in the held-out rows
        rows = data.holdout[pos]
        if rows.size < 2 or any(a not in table.index for a in ds.agents):
            return None
        cols = [table.index[a] for a in ds.agents]
        c_hat = Router._cost(table, [RouteQuery(text=ds.prompts[i]) for i in rows])[:, cols]
        q_hat = held[pos][:, cols]
        curve = ev.sweep(q_hat, c_hat, ds.quality[rows], ds.cost[rows], name=candidate.version)
        keep = np.unique(np.linspace(0, curve.cost.size - 1, min(curve.cost.size, CURVE_POINTS_MAX)).astype(int))
        hull_cost, hull_quality = curve.hull()
        return {"version": candidate.number, "holdout_requests": int(rows.size),
                "points": [{"cost": float(curve.cost[i]), "quality": float(curve.quality[i]),
                            "wtp": float(curve.wtp[i])} for i in keep],
                "hull": [{"cost": float(c), "quality": float(q)} for c, q in zip(hull_cost, hull_quality, strict=True)],
                "agents": [{"name": a, "cost": float(ds.cost[rows, j].mean()),
                            "quality": float(ds.quality[rows, j].mean())} for j, a in enumerate(ds.agents)]}

    def curve(self, version: int) -> dict[str, Any] | None:
        """The held-out cost–quality curve stored with ``version`` when it was trained on a dataset."""
        text = self.store.get_meta(curve_key(version))
        return None if text is None else dict(json.loads(text))

    def _write_file(self, version: int, data: bytes | None) -> None:
        """The version's model file in the data dir, for operators (the store stays the source)."""
        if self.model_dir is None or data is None:
            return
        try:
            write_model_file(self.model_dir, version, data)
        except OSError as e:
            log.warning("could not write the file of model version %d in %s: %s", version, self.model_dir, e)

    def _shadow(self, table: AgentTable, cand: np.ndarray, data: TrainingData) -> tuple[dict[str, float], bool, str]:
        """Score the candidate's held-out predictions ``cand`` and what routes today on the same rows."""
        cols = [table.index.get(a, -1) for a in data.agents]
        keep = [j for j, c in enumerate(cols) if c >= 0]
        ho = data.holdout
        y = np.full((ho.size, len(table)), np.nan)
        y[:, [cols[j] for j in keep]] = data.quality[ho][:, keep]
        live = self.live
        if live is not None:
            current = live.blend(table, live.model_rows(table, data.x[ho], data.mask[ho]))
            current_name = live.version
        else:
            current = np.broadcast_to(table.observed_quality, y.shape)
            current_name = "observed quality"
        obs = ~np.isnan(y)
        metrics = {"holdout_brier": brier(cand, y), "holdout_log_loss": log_loss(cand, y),
                   "current_brier": brier(current, y), "current_log_loss": log_loss(current, y),
                   "holdout_ece": expected_calibration_error(np.where(obs, cand, 0.0), np.nan_to_num(y), obs)
                   if obs.any() else math.nan,
                   "holdout_targets": float(obs.sum())}
        if not obs.any():
            return metrics, False, "no held-out quality values for registered agents: nothing to compare on"
        c, b = metrics["holdout_brier"], metrics["current_brier"]
        if c < b:
            return metrics, True, f"held-out Brier {c:.4f} beats {current_name}'s {b:.4f}"
        return metrics, False, f"held-out Brier {c:.4f} does not beat {current_name}'s {b:.4f}"

    def _register_dataset_agents(self, ds: RoutingDataset) -> list[str]:
        """Register every agent the dataset names that is not registered (its fitted price model; its
        mean quality as the prior; its median latency when the data has latencies)."""
        known = {r.name for r in self.registry.snapshot()[1]}
        new = [a for a in ds.agents if a not in known]
        if not new:
            return []
        prices = fit_price_models(ds)
        means = ds.mean_quality()
        added = []
        for a in new:
            j = ds.agents.index(a)
            p = prices[a]
            lat = ds.latency_ms[:, j]
            latency = float(np.nanmedian(lat)) if np.isfinite(lat).any() else 1000.0
            spec = AgentSpec(name=a, agent_type="llm", cost=CostModel(p.per_1k_input_tokens, p.per_1k_output_tokens,
                                                                      p.per_call, 0.0),
                             latency_prior_ms=max(latency, 1.0), quality_prior=float(means[a]),
                             metadata=json.dumps({"registered_by": f"training on {ds.source}"}),
                             typical_output_tokens=p.typical_output_tokens)
            try:
                self.registry.register(spec)
                added.append(a)
            except AgentExists:
                pass  # registered meanwhile: its spec stays as it is
        return added

    def _embed(self, job: TrainingJob, version: int, texts: Sequence[str | None],
               given: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
        n = len(texts)
        xs, ms = [], []
        for start in range(0, n, EMBED_BATCH):
            x, m = request_sequences(self.embedder, texts[start:start + EMBED_BATCH], given[start:start + EMBED_BATCH])
            xs.append(x)
            ms.append(m)
            job.emit(TrainEvent(version, "embedding", min(start + EMBED_BATCH, n), n))
        return np.concatenate(xs), np.concatenate(ms)

    def _dataset_data(self, job: TrainingJob, version: int, options: TrainOptions) -> TrainingData:
        ds = options.dataset
        assert ds is not None
        given: list[np.ndarray | None] = list(ds.embeddings) if ds.embeddings is not None else [None] * len(ds)
        x, mask = self._embed(job, version, ds.prompts, given)
        train, holdout = _split(len(ds), options.holdout_fraction, options.seed, None)
        return TrainingData(x, mask, ds.quality, ds.agents, train, holdout, ds.fingerprint(),
                            f"dataset:{ds.source}")

    def _outcome_data(self, job: TrainingJob, version: int, options: TrainOptions) -> TrainingData:
        rows = self.store.training_outcomes(limit=options.max_outcomes)
        registered = {r.name for r in self.registry.snapshot()[1]}
        rows = [r for r in rows if r.agent_name in registered]
        by_decision: dict[str, int] = {}
        texts: list[str] = []
        given: list[np.ndarray | None] = []
        cells: list[tuple[int, str, float]] = []
        for r in rows:  # oldest first: a later outcome of the same decision and agent wins
            i = by_decision.get(r.decision_id)
            if i is None:
                i = by_decision[r.decision_id] = len(texts)
                texts.append(r.request_text)
                given.append(None if r.request_embedding is None
                             else np.frombuffer(r.request_embedding, dtype="<f4").astype(np.float32))
            cells.append((i, r.agent_name, r.quality))
        n = len(texts)
        if n < MIN_TRAIN_ROWS:
            raise FailedPrecondition(f"the outcome log has {n} decisions with outcomes for registered agents; "
                                     f"training needs at least {MIN_TRAIN_ROWS}")
        for i, g in enumerate(given):
            if g is not None and g.shape != (self.embedder.dim,):
                raise FailedPrecondition(f"decision {list(by_decision)[i]} stored a {g.size}-dimension embedding; "
                                         f"the embedder has {self.embedder.dim}")
        agents = tuple(sorted({a for _, a, _ in cells}))
        col = {a: j for j, a in enumerate(agents)}
        y = np.full((n, len(agents)), np.nan)
        last_seen = np.zeros(n)
        for k, (i, a, q) in enumerate(cells):
            y[i, col[a]] = q
            last_seen[i] = k
        x, mask = self._embed(job, version, texts, given)
        # The held-out rows are the most recent decisions: the shadow evaluation asks how the
        # candidate would have done on what came last.
        train, holdout = _split(n, options.holdout_fraction, options.seed, np.argsort(last_seen, kind="stable"))
        h = hashlib.sha256()
        for r in rows:
            h.update(f"{r.decision_id}\t{r.agent_name}\t{r.quality!r}\t{r.recorded_at!r}\n".encode())
        return TrainingData(x, mask, y, agents, train, holdout, f"sha256:{h.hexdigest()}", "outcomes")
