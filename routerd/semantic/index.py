"""Nearest-utterance search: one ``Index`` protocol, an exact numpy index and an HNSW index (usearch).

An index holds unit vectors under int64 ids and answers "the k most similar ids to each query" with
their cosine similarities, best first. ``RouteSet`` searches its utterance matrix exactly (a matrix
product and ``argpartition``) up to ``EXACT_MAX_UTTERANCES`` utterances, where exact search stops
meeting the latency target (p50 <= 500 us per query in process, one thread; bench/bench_semantic.py
measures it), and through ``HnswIndex`` beyond.

``HnswIndex`` is built in a background thread when asked (``build``): until it is ready
(``is_ready``) the route set keeps answering exactly, so a large route set serves from the first
request. It is shared by successive route-set snapshots: changes add and delete ids (never reused),
and a snapshot ignores ids it does not know. A readers-writer lock lets queries run together while a
change waits for them (and they for it).
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

from routerd.semantic.linear import unit_rows

EXACT_MAX_UTTERANCES = 5_000
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 128
BUILD_BATCH = 2_048


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

    def acquire_write(self) -> None:
        with self._cond:
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
    """Approximate search over a usearch HNSW graph (inner product over unit float32 vectors, so the
    similarity is the cosine; vectors are stored unquantised so that the similarities are exact for
    the ids returned). Thread-safe."""

    def __init__(self, dim: int, *, connectivity: int = HNSW_CONNECTIVITY, expansion_add: int = HNSW_EXPANSION_ADD,
                 expansion_search: int = HNSW_EXPANSION_SEARCH, build_threads: int = 0):
        from usearch.index import Index as _UsearchIndex  # imported here: only large route sets need it

        self.dim = dim
        self.expansion_search = expansion_search
        self._index = _UsearchIndex(ndim=dim, metric="ip", dtype="f32", connectivity=connectivity,
                                    expansion_add=expansion_add, expansion_search=expansion_search)
        self._build_threads = build_threads
        self._lock = _ReadWriteLock()
        self._ready = threading.Event()
        self._ready.set()
        self._deleted: set[int] = set()
        self._builder: threading.Thread | None = None
        self._error: BaseException | None = None

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
                    self._lock.acquire_write()
                    try:
                        batch = ids[lo:lo + BUILD_BATCH]
                        # an id deleted while the build ran must not come back
                        keep = np.fromiter((int(i) not in self._deleted for i in batch), bool, len(batch))
                        if keep.any():
                            self._index.add(batch[keep], vectors[lo:lo + BUILD_BATCH][keep],
                                            threads=self._build_threads)
                    finally:
                        self._lock.release_write()
            except BaseException as e:  # surfaced by wait(); the route set keeps answering exactly
                self._error = e
            finally:
                self._ready.set()

        self._builder = threading.Thread(target=run, name="semantic-hnsw-build", daemon=True)
        self._builder.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background build; True when the index is ready. A failed build raises its error."""
        done = self._ready.wait(timeout)
        if self._error is not None:
            raise RuntimeError("building the HNSW index failed") from self._error
        return done

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._lock.acquire_write()
        try:
            self._index.add(np.asarray(ids, dtype=np.int64), np.ascontiguousarray(vectors, dtype=np.float32),
                            threads=self._build_threads)
        finally:
            self._lock.release_write()

    def delete(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        self._lock.acquire_write()
        try:
            self._deleted.update(int(i) for i in ids)
            present = np.fromiter((i in self._index for i in ids.tolist()), bool, len(ids))
            if present.any():
                self._index.remove(ids[present])
        finally:
            self._lock.release_write()

    def query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = vectors.shape[0]
        sims, ids = _pad(k, n)
        self._lock.acquire_read()
        try:
            if len(self._index) == 0:
                return sims, ids
            if k > self._index.expansion_search:  # HNSW needs ef >= k; it only ever grows
                self._index.expansion_search = k  # type: ignore[misc]  # usearch's setter confuses mypy
            found = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), k, threads=1)
        finally:
            self._lock.release_read()
        keys = np.asarray(found.keys, dtype=np.int64).reshape(n, -1)
        dist = np.asarray(found.distances, dtype=np.float32).reshape(n, -1)
        counts = np.asarray(getattr(found, "counts", [keys.shape[1]])).reshape(n)
        width = keys.shape[1]
        valid = np.arange(width)[None, :] < counts[:, None]
        sims[:, :width] = np.where(valid, 1.0 - dist, -np.inf)  # usearch's "ip" distance is 1 - dot
        ids[:, :width] = np.where(valid, keys, -1)
        return sims, ids

    def is_ready(self) -> bool:
        return self._ready.is_set() and self._error is None

    def __len__(self) -> int:
        return len(self._index)
