"""Semantic routes in routerd: durable in the store, matched from an immutable snapshot.

The catalog owns the routes' lifecycle (create, update, delete, fit) and keeps a ``RouteSet``
(``routerd.semantic``) current for matching; every change is written to the store before it is
visible. Vectors are computed once, when utterances are added, and stored with the embedder's name:
a data dir whose routes were embedded by another embedder is refused at startup (``EmbedderMismatch``)
unless routerd is started with ``reembed_routes``, which re-embeds every utterance from its text.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from routerd.domain import RouteRecord, RouteSpec
from routerd.engine.registry import Registry
from routerd.engine.validation import TEXT_MAX, check_text, decode_page_token, encode_page_token
from routerd.errors import FailedPrecondition, InvalidArgument, RouteNotFound
from routerd.model.embedders import Embedder
from routerd.semantic import Calibration, FitResult, RateLimiter, RouteSet, check_vectors, fit_routes, validate_route
from routerd.store.base import Store

EMBEDDER_KEY = "embedder"  # meta key: the identity of the embedder the stored vectors came from
CALIBRATION_KEY = "route_calibration"  # meta key: the confidence calibration FitRoutes fitted
FIT_EXAMPLES_MAX = 100_000
UPDATABLE = ("description", "target_agent", "priority", "threshold", "group", "conditions", "utterances")


class EmbedderMismatch(FailedPrecondition):
    """The store's vectors were computed by another embedder than the configured one."""


def embedder_identity(embedder: Embedder) -> str:
    return f"{embedder.name}/{embedder.dim}"


class RouteCatalog:
    def __init__(self, store: Store, embedder: Embedder, registry: Registry, *,
                 default_threshold: float, clock: Callable[[], float] = time.time, reembed: bool = False):
        self.store = store
        self.embedder = embedder
        self.registry = registry
        self.default_threshold = default_threshold
        self.clock = clock
        self.limiter = RateLimiter()
        self._lock = threading.Lock()  # serialises writers; readers take the snapshot without it
        records = store.list_routes()
        identity = embedder_identity(embedder)
        stale = [r for r in records if r.embedder != embedder.name or r.vectors.shape[1] != embedder.dim]
        if stale and not reembed:
            raise EmbedderMismatch(
                f"embedder: the store's routes were embedded by {stale[0].embedder!r} "
                f"({stale[0].vectors.shape[1]} dimensions) and routerd is configured with {embedder.name!r} "
                f"({embedder.dim}); start routerd with --embedder matching the data, or with --reembed-routes "
                f"to re-embed the {len(stale)} route(s) from their utterance texts")
        if stale:
            records = [dataclasses.replace(r, vectors=self._embed(r.spec.utterances, "route.utterances"),
                                           embedder=embedder.name) for r in records]
            store.reembed_routes(records, {EMBEDDER_KEY: identity, CALIBRATION_KEY: "{}"})
        elif store.get_meta(EMBEDDER_KEY) != identity:
            store.set_meta({EMBEDDER_KEY: identity})
        self._records = {r.name: r for r in records}
        self._set = RouteSet(records, default_threshold=default_threshold, calibration=self._load_calibration(),
                             dim=embedder.dim)

    # -- reading ------------------------------------------------------------------------------
    @property
    def routes(self) -> RouteSet:
        """The current snapshot (immutable: a concurrent change builds a new one)."""
        return self._set

    def get(self, name: str) -> RouteRecord:
        rec = self._records.get(name)
        if rec is None:
            raise RouteNotFound(name)
        return rec

    def list_page(self, page_size: int = 0, page_token: str = "") -> tuple[list[RouteRecord], str]:
        size = page_size or 100
        if not 0 < size <= 1000:
            raise InvalidArgument("page_size", f"must be in 0..1000, got {page_size}")
        after = decode_page_token(page_token, 1)[0] if page_token else None
        names = sorted(n for n in self._records if after is None or n > after)
        page = [self._records[n] for n in names[:size]]
        return page, encode_page_token(page[-1].name) if len(names) > size else ""

    def reload(self) -> bool:
        """Take in the routes another routerd sharing the store changed; True when something did."""
        with self._lock:
            records = self.store.list_routes()
            raw = self.store.get_meta(CALIBRATION_KEY)
            mine = {n: (r.updated_at, r.spec.threshold) for n, r in self._records.items()}
            theirs = {r.name: (r.updated_at, r.spec.threshold) for r in records}
            if mine == theirs and raw == self._calibration_raw:
                return False
            e = self.embedder
            usable = [r for r in records if r.embedder == e.name and r.vectors.shape[1] == e.dim]
            self._records = {r.name: r for r in usable}
            self._set = RouteSet(usable, default_threshold=self.default_threshold,
                                 calibration=self._load_calibration(), dim=self.embedder.dim)
            return True

    # -- writing ------------------------------------------------------------------------------
    def create(self, spec: RouteSpec, vectors: np.ndarray | None = None, *, replace: bool = False) -> RouteRecord:
        spec = validate_route(spec, dim=self.embedder.dim, vectors=vectors, known_agents=self._agents())
        now = self.clock()
        with self._lock:
            old = self._records.get(spec.name)
            if vectors is None:
                vectors = self._embed(spec.utterances, "route.utterances")
            else:
                vectors = check_vectors(vectors, dim=self.embedder.dim, count=len(spec.utterances),
                                        field="route.utterance_embeddings")
            rec = RouteRecord(dataclasses.replace(spec, fitted=spec.fitted and spec.threshold is not None),
                              np.ascontiguousarray(vectors, dtype=np.float32), self.embedder.name,
                              old.created_at if (old and replace) else now, now)
            self.store.insert_route(rec, replace=replace)
            self._records[rec.name] = rec
            self._set = self._set.with_changes(upsert=[rec])
        return rec

    def update(self, name: str, patch: Mapping[str, Any], *, add: Sequence[str] = (),
               remove: Sequence[str] = (), vectors: np.ndarray | None = None) -> RouteRecord:
        """Apply ``patch`` (fields of UPDATABLE), then add and remove utterances; vectors of kept
        utterances are reused, new ones embedded (or taken from ``vectors`` when ``patch`` replaces the
        utterances)."""
        unknown = sorted(set(patch) - set(UPDATABLE))
        if unknown:
            raise InvalidArgument("update_mask", f"cannot update {unknown}; updatable: {', '.join(UPDATABLE)}")
        if not patch and not add and not remove:
            raise InvalidArgument("route", "no field to update: set fields, name them in update_mask, or add "
                                           "or remove utterances")
        with self._lock:
            old = self.get(name)
            known = dict(zip(old.spec.utterances, old.vectors, strict=True))
            spec = dataclasses.replace(old.spec, **patch)
            if "threshold" in patch:
                spec = dataclasses.replace(spec, fitted=False)
            utterances = list(spec.utterances)
            if vectors is not None:
                vectors = check_vectors(vectors, dim=self.embedder.dim, count=len(utterances),
                                        field="route.utterance_embeddings")
            given = dict(zip(utterances, vectors, strict=True)) if vectors is not None else {}
            for i, u in enumerate(remove):
                if u not in utterances:
                    raise InvalidArgument(f"remove_utterances[{i}]", f"route {name!r} has no utterance {u[:60]!r}")
                utterances.remove(u)
            for i, u in enumerate(add):
                check_text(u, f"add_utterances[{i}]", TEXT_MAX, minimum=1)
                if u in utterances:
                    raise InvalidArgument(f"add_utterances[{i}]", f"route {name!r} already has it")
                utterances.append(u)
            spec = dataclasses.replace(spec, utterances=tuple(utterances))
            spec = validate_route(spec, dim=self.embedder.dim, vectors=None, known_agents=self._agents())
            missing = [u for u in utterances if u not in given and u not in known]
            fresh = dict(zip(missing, self._embed(missing, "add_utterances"), strict=True)) if missing else {}
            matrix = np.array([given.get(u, known.get(u, fresh.get(u))) for u in utterances], dtype=np.float32)
            rec = RouteRecord(spec, matrix.reshape(len(utterances), self.embedder.dim), self.embedder.name,
                              old.created_at, self.clock())
            self.store.update_route(rec)
            self._records[name] = rec
            self._set = self._set.with_changes(upsert=[rec])
        return rec

    def delete(self, name: str) -> RouteRecord:
        with self._lock:
            rec = self.get(name)
            self.store.delete_route(name)
            del self._records[name]
            self._set = self._set.with_changes(remove=[name])
        return rec

    def fit(self, texts: Sequence[str], embeddings: Sequence[np.ndarray | None], labels: Sequence[str | None], *,
            objective: str = "accuracy", min_out_of_scope_recall: float = 0.0, dry_run: bool = False) -> FitResult:
        """Fit every route's threshold and the confidence calibration on labelled examples (FitRoutes)."""
        n = len(labels)
        if not 0 < n <= FIT_EXAMPLES_MAX:
            raise InvalidArgument("examples", f"give 1..{FIT_EXAMPLES_MAX} labelled examples, got {n}")
        if not self._records:
            raise InvalidArgument("examples", "there are no routes to fit; create routes first")
        matrix = self._examples(texts, embeddings)
        with self._lock:
            routes = self._set
            result = fit_routes(routes, matrix, labels, objective=objective,
                                min_out_of_scope_recall=min_out_of_scope_recall)
            if not dry_run:
                self.store.set_route_thresholds(result.thresholds, self.clock(),
                                                {CALIBRATION_KEY: self._calibration_json(result.calibration)})
                self._records = {r.name: r for r in self.store.list_routes()}
                self._set = self._set.with_changes(upsert=list(self._records.values()),
                                                   calibration=result.calibration)
        return result

    # -- helpers ------------------------------------------------------------------------------
    def embed_queries(self, texts: Sequence[str], embeddings: Sequence[np.ndarray | None],
                      field: str = "query") -> np.ndarray:
        return self._examples(texts, embeddings, field)

    def _examples(self, texts: Sequence[str], embeddings: Sequence[np.ndarray | None],
                  field: str = "examples") -> np.ndarray:
        dim = self.embedder.dim
        out = np.empty((len(texts), dim), dtype=np.float32)
        todo: list[int] = []
        for i, (t, e) in enumerate(zip(texts, embeddings, strict=True)):
            where = f"{field}[{i}]" if len(texts) > 1 or field == "examples" else field
            if e is not None and e.size:
                if e.shape != (dim,):
                    raise InvalidArgument(f"{where}.embedding", f"expected {dim} dimensions, not {e.size}")
                if not np.isfinite(e).all():
                    raise InvalidArgument(f"{where}.embedding", "must contain only finite numbers")
                norm = float(np.linalg.norm(e))
                out[i] = e / norm if norm > 0 else e
            else:
                check_text(t, f"{where}.text" if field == "examples" else where, TEXT_MAX, minimum=1)
                todo.append(i)
        if todo:
            out[todo] = self.embedder.embed([texts[i] for i in todo])
        return out

    def _embed(self, texts: Sequence[str], field: str) -> np.ndarray:
        for i, t in enumerate(texts):
            check_text(t, f"{field}[{i}]", TEXT_MAX, minimum=1)
        return np.ascontiguousarray(self.embedder.embed(list(texts)), dtype=np.float32)

    def _agents(self) -> set[str]:
        return {r.name for r in self.registry.snapshot()[1]}

    def _load_calibration(self) -> Calibration | None:
        raw = self.store.get_meta(CALIBRATION_KEY)
        self._calibration_raw = raw
        if not raw:
            return None
        data = json.loads(raw)
        if not data or data.get("embedder") != embedder_identity(self.embedder):
            return None  # fitted on another embedder's similarities: meaningless here
        return Calibration.from_dict(data["calibration"])

    def _calibration_json(self, calibration: Calibration) -> str:
        return json.dumps({"embedder": embedder_identity(self.embedder), "calibration": calibration.to_dict()})

