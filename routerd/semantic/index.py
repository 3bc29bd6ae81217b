"""Nearest-utterance search: one ``Index`` protocol, an exact numpy index and an HNSW index (faiss).

An index holds unit vectors under int64 ids and answers "the k most similar ids to each query" with
their cosine similarities, best first. ``RouteSet`` searches its utterance matrix exactly (a matrix
product and ``argpartition``) up to ``EXACT_MAX_UTTERANCES`` utterances, where exact search stops
meeting the latency target (p50 <= 500 us per query in process, one thread; bench/bench_semantic.py
measures it), and through ``HnswIndex`` beyond.

``HnswIndex`` is built in a background thread when asked (``build``): until it is ready
(``is_ready``) the route set keeps answering exactly, so a large route set serves from the first
request. It is shared by successive route-set snapshots: changes add and delete ids (never reused),
and a snapshot ignores ids it does not know. A readers-writer lock lets queries run together while a
change waits for them (and they for it). faiss was chosen over usearch by measurement
(bench/bench_semantic.py: at equal recall, about half the query time and a faster build).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from routerd.semantic.linear import unit_rows

EXACT_MAX_UTTERANCES = 5_000
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 64  # ef; queries for more neighbours than this raise it to k
BUILD_BATCH = 2_048
COMPACT_AT = 0.3  # rebuild the HNSW graph when this share of it is deleted


class Index(Protocol):
    """Unit vectors under int64 ids, searched by cosine similarity."""

    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (m, dim) under ``ids`` (m,), which are new to the index."""

    def delete(self, ids: np.ndarray) -> None:
        """Remove ``ids``; ids the index does not hold are ignored."""

    def query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar ids to each row of ``vectors`` (n, dim): (similarities (n, k) float32,
        ids (n, k) int64), best first; rows with fewer than k results are padded with -inf and -1."""

    def is_ready(self) -> bool:
        """Whether ``query`` answers over everything added (an index building in the background is not)."""

    def __len__(self) -> int: ...


def _pad(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)


class ExactIndex:
    """Brute force: the similarities are one matrix product, the top k an ``argpartition``. Columns of
    ``similarities`` follow the order rows were added in (``ids``), which ``RouteSet`` lays out route
    by route."""

    def __init__(self, dim: int):
        self.dim = dim
        self._ids = np.empty(0, dtype=np.int64)
        self._matrix = np.empty((0, dim), dtype=np.float32)

    @classmethod
    def over(cls, ids: np.ndarray, matrix: np.ndarray) -> ExactIndex:
        """An index over an existing (N, dim) float32 matrix of unit rows, without copying it."""
        index = cls(matrix.shape[1])
        index._ids = np.asarray(ids, dtype=np.int64)
        index._matrix = matrix
        return index

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        self._matrix = np.concatenate([self._matrix, unit_rows(vectors)])

    def delete(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        self._ids, self._matrix = self._ids[keep], self._matrix[keep]

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, len) cosine similarities of each query to every row, in ``ids`` order."""
        out: np.ndarray = vectors @ self._matrix.T
        return out

    def query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = vectors.shape[0]
        sims, ids = _pad(k, n)
        width = min(k, len(self._ids))
        if width == 0:
            return sims, ids
        s = self.similarities(vectors)
        part = np.argpartition(-s, width - 1, axis=1)[:, :width] if width < s.shape[1] else \
            np.broadcast_to(np.arange(width), (n, width))
        top = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        sims[:, :width] = np.take_along_axis(top, order, axis=1)
        ids[:, :width] = self._ids[np.take_along_axis(part, order, axis=1)]
        return sims, ids

    def is_ready(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._ids)


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer does not starve (new readers wait behind it)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def acquire_read(self) -> None:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self, *, polite: bool = False) -> None:
        """``polite`` (the background build, which takes the lock batch after batch): wait until no
        other writer is waiting first, so a route change is not held until the whole build is done."""
        with self._cond:
            while polite and self._writers_waiting:
                self._cond.wait()
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True

    def release_write(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()


class HnswIndex:
    """Approximate search over a faiss HNSW graph (inner product over unit float32 vectors, so the
    similarity is the cosine; vectors are stored unquantised, so the similarities of the ids returned
    are exact). Thread-safe.

    faiss's HNSW cannot remove a vector, so a deleted id is a tombstone: its slot answers -1 (callers
    ask for more than they need and drop it). When tombstones pass ``compact_at`` of the graph, a new
    graph of the live vectors is built in a background thread while the old one keeps answering;
    changes made meanwhile are replayed onto the new one before it takes over."""

    def __init__(self, dim: int, *, connectivity: int = HNSW_CONNECTIVITY, expansion_add: int = HNSW_EXPANSION_ADD,
                 expansion_search: int = HNSW_EXPANSION_SEARCH, build_threads: int = 0,
                 compact_at: float = COMPACT_AT):
        self.dim = dim
        self.expansion_search = expansion_search
        self._params = (connectivity, expansion_add)
        self._build_threads = build_threads
        self._compact_at = compact_at
        self._index = self._new_graph()
        self._labels = np.empty(0, dtype=np.int64)  # graph slot -> id; -1 once deleted
        self._live = 0
        self._lock = _ReadWriteLock()
        self._ready = threading.Event()
        self._ready.set()
        self._error: BaseException | None = None
        self._deleted: set[int] = set()  # ids deleted while a background build ran
        self._oplog: list[tuple[str, np.ndarray, np.ndarray | None]] | None = None  # changes during compaction
        self.compactions = 0

    def _new_graph(self) -> Any:
        import faiss  # imported here: only large route sets need it

        graph = faiss.IndexHNSWFlat(self.dim, self._params[0], faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self._params[1]
        graph.hnsw.efSearch = self.expansion_search
        return graph

    def _with_build_threads(self, fn: Any) -> None:
        import faiss

        if not self._build_threads:
            fn()
            return
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self._build_threads)
        try:
            fn()
        finally:
            faiss.omp_set_num_threads(before)

    def build(self, ids: np.ndarray, vectors: np.ndarray, *, background: bool) -> None:
        """Add everything in ``ids``/``vectors``; with ``background`` in a daemon thread (``is_ready``
        turns true when it is done; ``wait`` waits for it)."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not background:
            self.add(ids, vectors)
            return
        self._ready.clear()

        def run() -> None:
            try:
                for lo in range(0, len(ids), BUILD_BATCH):
                    batch, vecs = ids[lo:lo + BUILD_BATCH], vectors[lo:lo + BUILD_BATCH]
                    self._lock.acquire_write(polite=True)
                    try:
                        # an id deleted while the build ran must not come back
                        keep = np.fromiter((int(i) not in self._deleted for i in batch), bool, len(batch))
                        self._add_locked(batch[keep], vecs[keep])
                    finally:
                        self._lock.release_write()
            except BaseException as e:  # surfaced by wait(); the route set keeps answering exactly
                self._error = e
            finally:
                self._deleted.clear()
                self._ready.set()

        threading.Thread(target=run, name="semantic-hnsw-build", daemon=True).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background build; True when the index is ready. A failed build raises its error."""
        done = self._ready.wait(timeout)
        if self._error is not None:
            raise RuntimeError("building the HNSW index failed") from self._error
        return done

    def _add_locked(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._with_build_threads(lambda: self._index.add(vectors))
        self._labels = np.concatenate([self._labels, ids])
        self._live += len(ids)
        if self._oplog is not None:
            self._oplog.append(("add", ids, vectors))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._lock.acquire_write()
        try:
            self._add_locked(np.asarray(ids, dtype=np.int64), np.ascontiguousarray(vectors, dtype=np.float32))
        finally:
            self._lock.release_write()

    def delete(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        self._lock.acquire_write()
        try:
            if not self._ready.is_set():
                self._deleted.update(ids.tolist())
            slots = np.isin(self._labels, ids) & (self._labels >= 0)
            self._labels[slots] = -1
            self._live -= int(slots.sum())
            if self._oplog is not None:
                self._oplog.append(("delete", ids, None))
            compact = (self._oplog is None and self._ready.is_set()
                       and len(self._labels) - self._live > self._compact_at * max(1, len(self._labels)))
        finally:
            self._lock.release_write()
        if compact:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the graph from the live vectors in a thread; swap it in when done."""
        self._lock.acquire_read()
        try:
            live = np.flatnonzero(self._labels >= 0)
            vectors = self._index.storage.reconstruct_n(0, self._index.ntotal)[live]
            labels = self._labels[live]
        finally:
            self._lock.release_read()
        self._lock.acquire_write()
        self._oplog = []
        self._lock.release_write()

        def run() -> None:
            graph = self._new_graph()
            try:
                self._with_build_threads(lambda: graph.add(vectors))
            except BaseException:  # keep the old graph, tombstones and all
                self._lock.acquire_write()
                self._oplog = None
                self._lock.release_write()
                raise
            self._lock.acquire_write()
            try:
                new_labels = labels
                for op, ids, vecs in self._oplog or []:
                    if op == "add":
                        graph.add(vecs)
                        new_labels = np.concatenate([new_labels, ids])
                    else:
                        new_labels = np.where(np.isin(new_labels, ids), -1, new_labels)
                self._index, self._labels = graph, new_labels
                self._live = int((new_labels >= 0).sum())
                self._oplog = None
                self.compactions += 1
            finally:
                self._lock.release_write()

        threading.Thread(target=run, name="semantic-hnsw-compact", daemon=True).start()

    def query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = vectors.shape[0]
        sims, ids = _pad(k, n)
        self._lock.acquire_read()
        try:
            if self._index.ntotal == 0:
                return sims, ids
            if k > self._index.hnsw.efSearch:  # HNSW needs ef >= k; it only ever grows
                self._index.hnsw.efSearch = k
            dist, slots = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
            labels = np.where(slots >= 0, self._labels[np.maximum(slots, 0)], -1)
        finally:
            self._lock.release_read()
        found = labels >= 0
        sims[:, :] = np.where(found, dist, -np.inf)
        ids[:, :] = labels
        order = np.argsort(~found, axis=1, kind="stable")  # tombstones last, best first otherwise
        return np.take_along_axis(sims, order, axis=1), np.take_along_axis(ids, order, axis=1)

    def is_ready(self) -> bool:
        return self._ready.is_set() and self._error is None

    @property
    def tombstones(self) -> int:
        return len(self._labels) - self._live

    def wait_compacted(self, timeout: float = 60.0) -> bool:
        """Wait until no compaction runs (for tests and benchmarks)."""
        import time

        end = time.monotonic() + timeout
        while self._oplog is not None and time.monotonic() < end:
            time.sleep(0.01)
        return self._oplog is None

    def __len__(self) -> int:
        return self._live
