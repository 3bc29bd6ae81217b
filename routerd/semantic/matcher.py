"""``RouteSet``: an immutable snapshot of the semantic routes, matched and classified in numpy.

**Matching.** A route's similarity to a request is the cosine to its nearest utterance (after
FitRoutes, blended with the cosine to the route's learned prototype: ``calibration``). The
``CANDIDATES`` (or ``top_k``, if more) most similar routes are ranked by similarity, then priority
(higher first), then name order; a route *matches* when its similarity reaches its threshold (its
own, else the set's default) and its conditions hold: the UTC time window, the request's user tier,
and the rate limit. A route that reached its threshold but failed a condition is reported as
*blocked*, with the reason. Nothing matching is "out of scope". ``out_of_scope_probability`` and each
match's ``confidence`` come from the calibrated confidence model (``routerd.semantic.calibration``).

**Rate limits.** With ``consume`` (Route and SemanticRoute calls), the top match takes one slot of its
route's per-minute limit (``RateLimiter``, shared by all calls); a route whose limit is used up is
blocked and the next match moves up. Other matches are only checked, never counted. Without a
limiter, rate limits are not enforced (Classify).

**Classification** (``classify``) ignores conditions: it describes what the request is about. Route
probabilities are the confidence model's (they and the out-of-scope probability sum to 1 over the
``CANDIDATES`` most similar routes; the rest have probability 0); a group's probability is the sum
of its routes'. A capability's probability is the probability that the right route's target agent
declares it: ``P(cap) = sum_r P(r) [cap in capabilities(target(r))]`` (routes without a target
contribute nothing), so it is learned from the routes and calibrated along with them.

**Search.** Up to ``exact_max_utterances`` utterances the similarities are one matrix product per
chunk of requests (``ExactIndex``); beyond, an HNSW index (``HnswIndex``, built in the background,
exact search until it is ready) returns the nearest ``ann_k`` utterances, and a route's similarity is
its best utterance among them; prototype candidates missing from them get their exact similarity.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np

from routerd.domain import RouteRecord, RouteSpec
from routerd.errors import InvalidArgument, RouteNotFound
from routerd.semantic.calibration import CANDIDATES, Calibration
from routerd.semantic.index import EXACT_MAX_UTTERANCES, ExactIndex, HnswIndex
from routerd.semantic.linear import ranked, segment_max, softmax_with_null, unit_rows
from routerd.semantic.spec import CLASSIFY_TOP_K_MAX, check_embeddings, check_top_k, in_window

RATE_WINDOW_S: Final = 60.0
_RATE_MERGE_S: Final = 0.001  # acquisitions within 1 ms share one entry (bounds memory at 60,000 a route)
CHUNK_CELLS: Final = 1 << 22  # requests x utterances per matrix product (16 MiB of float32)
ANN_K_MIN: Final = 64


# -- rate limiting ----------------------------------------------------------------------------

class RateLimiter:
    """Per-route sliding one-minute windows, in memory, thread-safe. An acquisition at time t counts
    against the route's limit during [t, t + 60 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[list[float]]] = {}  # [time, count] entries, oldest first
        self._counts: dict[str, int] = {}

    def _expire(self, name: str, now: float) -> int:
        window = self._windows.get(name)
        if window is None:
            return 0
        count = self._counts[name]
        while window and window[0][0] <= now - RATE_WINDOW_S:
            count -= int(window.popleft()[1])
        if not window:
            del self._windows[name], self._counts[name]
            return 0
        self._counts[name] = count
        return count

    def try_acquire(self, name: str, limit: int, now: float) -> bool:
        """Take one slot of ``name``'s limit at ``now`` if fewer than ``limit`` were taken in the last
        minute; False (and nothing taken) otherwise."""
        with self._lock:
            used = self._expire(name, now)
            if used >= limit:
                return False
            window = self._windows.setdefault(name, deque())
            if window and 0 <= now - window[-1][0] < _RATE_MERGE_S:
                window[-1][1] += 1
            else:
                window.append([now, 1])
            self._counts[name] = used + 1
            return True

    def available(self, name: str, limit: int, now: float) -> bool:
        """Whether ``try_acquire`` would succeed now (takes nothing)."""
        with self._lock:
            return self._expire(name, now) < limit

    def used(self, name: str, now: float) -> int:
        """Slots of ``name`` taken during the last minute."""
        with self._lock:
            return self._expire(name, now)

    def forget(self, name: str) -> None:
        """Drop a route's window (a deleted route)."""
        with self._lock:
            self._windows.pop(name, None)
            self._counts.pop(name, None)


# -- results ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RouteMatch:
    spec: RouteSpec
    similarity: float  # the route similarity the threshold applies to (module docstring)
    confidence: float  # calibrated probability that this route is the right answer
    threshold: float  # the threshold in use
    utterance_similarity: float  # cosine to the route's nearest utterance

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class BlockedRoute:
    name: str
    similarity: float
    reason: str


@dataclass(frozen=True, slots=True)
class MatchResult:
    matches: tuple[RouteMatch, ...]  # best first, at most top_k; empty when out of scope
    blocked: tuple[BlockedRoute, ...]  # cleared the threshold, failed a condition
    out_of_scope_probability: float

    @property
    def top(self) -> RouteMatch | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    kind: str  # "route" or "group"
    probability: float


@dataclass(frozen=True, slots=True)
class CapabilityNeed:
    capability: str
    probability: float


@dataclass(frozen=True, slots=True)
class Classification:
    categories: tuple[Category, ...]  # routes, then groups, each by probability
    capabilities: tuple[CapabilityNeed, ...]  # by probability, then name
    top_category: str  # the most probable route; "" when out of scope is likelier
    confidence: float  # its probability (the out-of-scope probability when top_category is "")
    out_of_scope_probability: float


def route_fingerprint(vectors: np.ndarray) -> str:
    """A short hash of a route's utterance vectors (which a learned prototype is valid for)."""
    arr = np.ascontiguousarray(vectors, dtype="<f4")
    h = hashlib.blake2b(digest_size=12)
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


class _Lineage:
    """What successive snapshots of one route set share: the id counter and the HNSW index."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_id = itertools.count()
        self.ann: HnswIndex | None = None
        self.ann_blocks: dict[int, int] = {}  # id block base -> count, of what ``ann`` holds
        # per id block (a route's vectors, as they were): its fingerprint and centroid, computed once
        self.fingerprints: dict[int, str] = {}
        self.centroids: dict[int, np.ndarray] = {}

    def ids(self, n: int) -> int:
        with self.lock:
            base = next(self.next_id)
            for _ in range(n - 1):
                next(self.next_id)
            return base


_KEEP: Final = object()


class RouteSet:
    """The routes matched together: an immutable snapshot (see the module docstring).

    ``records`` must have distinct names and vectors of one dimension from one embedder, one unit row
    per utterance (``validate_route`` guards what comes in). ``exact_max_utterances``: above this
    many utterances an HNSW index takes over once built (``background_build``: in a thread)."""

    def __init__(self, records: Sequence[RouteRecord], *, default_threshold: float,
                 calibration: Calibration | None = None, dim: int | None = None,
                 exact_max_utterances: int = EXACT_MAX_UTTERANCES, background_build: bool = True,
                 ann_k: int = ANN_K_MIN, _lineage: _Lineage | None = None,
                 _previous: RouteSet | None = None):
        if not 0.0 <= default_threshold <= 1.0:
            raise InvalidArgument("route_threshold", f"must be in [0, 1], got {default_threshold!r}")
        records = tuple(records)
        names = tuple(r.spec.name for r in records)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"route set: two routes named {dup!r}")
        embedders = {r.embedder for r in records}
        if len(embedders) > 1:
            raise ValueError(f"route set: vectors of several embedders ({', '.join(sorted(embedders))})")
        vectors = [np.asarray(r.vectors, dtype=np.float32) for r in records]
        dims = {v.shape[1] for v in vectors if v.ndim == 2}
        if records and (len(dims) != 1 or any(v.ndim != 2 or v.shape[0] != len(r.spec.utterances)
                                              for v, r in zip(vectors, records, strict=True))):
            raise ValueError("route set: every route needs one vector per utterance, all of one dimension")
        self.dim: int = dims.pop() if records else (dim if dim is not None else 0)
        if dim is not None and records and dim != self.dim:
            raise ValueError(f"route set: vectors have {self.dim} dimensions, expected {dim}")
        self.embedder: str = embedders.pop() if records else ""
        self.default_threshold = float(default_threshold)
        self.calibration = calibration
        self._exact_max = exact_max_utterances
        self._background = background_build
        self._ann_k = ann_k
        self._records = records
        self._specs = tuple(r.spec for r in records)
        self.names: tuple[str, ...] = names
        self._index_of = MappingProxyType({n: i for i, n in enumerate(names)})
        counts = np.array([len(v) for v in vectors], dtype=np.int64)
        self._counts = counts
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if records \
            else np.empty(0, np.int64)
        self._matrix = np.ascontiguousarray(np.concatenate(vectors)) if records \
            else np.empty((0, self.dim), np.float32)
        self._route_of_row = np.repeat(np.arange(len(records)), counts)
        self._thresholds = np.array([s.threshold if s.threshold is not None else default_threshold
                                     for s in self._specs], dtype=np.float32)
        self._priority = np.array([s.priority for s in self._specs], dtype=np.int64)
        cal = calibration or Calibration()
        if cal.global_threshold is not None:
            # thresholds resolve route -> the fitted global threshold -> the configured default: a
            # route added after a fit starts where the fit put the routes it had no evidence for
            self._thresholds = np.array([s.threshold if s.threshold is not None else cal.global_threshold
                                         for s in self._specs], dtype=np.float32)
        self._slope, self._null_logit = cal.slope, cal.null_logit
        self._alpha = cal.utterance_weight if records else 1.0
        self._lineage = _lineage or _Lineage()
        self._bases = self._assign_ids(_previous)
        self._base_order = np.argsort(self._bases)
        self._sorted_bases = self._bases[self._base_order]
        self._prototypes: np.ndarray | None = None
        if self._alpha < 1.0:
            protos = np.empty((len(records), self.dim), dtype=np.float32)
            for i, name in enumerate(names):
                proto = cal.prototypes.get(name)
                if proto is not None and proto.fingerprint == self._fingerprint_of(i) \
                        and proto.vector.shape == (self.dim,):
                    protos[i] = proto.vector
                else:
                    protos[i] = self._centroid_of(i)
            self._prototypes = unit_rows(protos)
        self._exact = ExactIndex.over(self._row_ids(), self._matrix)
        self._ann: HnswIndex | None = None
        if len(self._matrix) > exact_max_utterances:
            self._ann = self._attach_ann()
        else:
            with self._lineage.lock:  # a small set searches exactly; a later large one rebuilds
                self._lineage.ann, self._lineage.ann_blocks = None, {}

    # -- ids and the shared ANN index -----------------------------------------------------------

    def _assign_ids(self, previous: RouteSet | None) -> np.ndarray:
        """One block of ids per route: kept from ``previous`` when the route's vectors are unchanged."""
        bases = np.empty(len(self._records), dtype=np.int64)
        for i, rec in enumerate(self._records):
            j = previous._index_of.get(rec.spec.name) if previous is not None else None
            if previous is not None and j is not None and _same_vectors(previous._records[j].vectors, rec.vectors):
                bases[i] = previous._bases[j]
            else:
                bases[i] = self._lineage.ids(len(rec.spec.utterances))
        lin = self._lineage
        with lin.lock:
            if len(lin.fingerprints) + len(lin.centroids) > 4 * len(bases) + 64:  # forget replaced routes
                keep = set(bases.tolist())
                lin.fingerprints = {b: v for b, v in lin.fingerprints.items() if b in keep}
                lin.centroids = {b: v for b, v in lin.centroids.items() if b in keep}
        return bases

    def _rows(self, i: int) -> np.ndarray:
        return self._matrix[self._starts[i]:self._starts[i] + self._counts[i]]

    def _fingerprint_of(self, i: int) -> str:
        base = int(self._bases[i])
        fp = self._lineage.fingerprints.get(base)
        if fp is None:
            fp = self._lineage.fingerprints[base] = route_fingerprint(self._rows(i))
        return fp

    def _centroid_of(self, i: int) -> np.ndarray:
        base = int(self._bases[i])
        c = self._lineage.centroids.get(base)
        if c is None:
            c = self._lineage.centroids[base] = unit_rows(self._rows(i).astype(np.float64).sum(axis=0))
        return c

    def _row_ids(self) -> np.ndarray:
        return np.repeat(self._bases - self._starts, self._counts) + np.arange(len(self._matrix))

    def _attach_ann(self) -> HnswIndex:
        """The lineage's HNSW index brought in line with this snapshot: blocks of ids it holds that this
        snapshot lacks are deleted, the ones it lacks are added (a first snapshot builds it)."""
        lin = self._lineage
        with lin.lock:
            blocks = {int(b): int(c) for b, c in zip(self._bases, self._counts, strict=True)}
            if lin.ann is None:
                lin.ann = HnswIndex(self.dim)
                lin.ann.build(self._row_ids(), self._matrix, background=self._background)
                lin.ann_blocks = blocks
                return lin.ann
            gone = [b for b in lin.ann_blocks if b not in blocks]
            added = [i for i, b in enumerate(self._bases.tolist()) if b not in lin.ann_blocks]
            if gone:
                lin.ann.delete(np.concatenate([b + np.arange(lin.ann_blocks[b]) for b in gone]))
            if added:
                lin.ann.add(np.concatenate([self._bases[i] + np.arange(self._counts[i]) for i in added]),
                            np.concatenate([self._matrix[self._starts[i]:self._starts[i] + self._counts[i]]
                                            for i in added]))
            lin.ann_blocks = blocks
            return lin.ann

    def with_changes(self, upsert: Sequence[RouteRecord] = (), remove: Collection[str] = (), *,
                     default_threshold: float | None = None, calibration: object = _KEEP) -> RouteSet:
        """A new snapshot with ``upsert`` routes added or replaced and ``remove`` routes dropped; the
        HNSW index (if any) is updated in place, not rebuilt. Unknown names in ``remove`` raise
        ``RouteNotFound``."""
        for name in remove:
            if name not in self._index_of:
                raise RouteNotFound(name)
        replaced = {r.spec.name: r for r in upsert}
        kept = [replaced.pop(r.spec.name, r) for r in self._records if r.spec.name not in remove]
        records = kept + list(replaced.values())
        cal = self.calibration if calibration is _KEEP else calibration
        if cal is not None and not isinstance(cal, Calibration):
            raise TypeError("calibration must be a Calibration or None")
        return RouteSet(records, default_threshold=self.default_threshold if default_threshold is None
                        else default_threshold, calibration=cal, dim=self.dim,
                        exact_max_utterances=self._exact_max, background_build=self._background,
                        ann_k=self._ann_k, _lineage=self._lineage, _previous=self)

    # -- introspection ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[RouteRecord, ...]:
        return self._records

    @property
    def utterance_count(self) -> int:
        return len(self._matrix)

    def get(self, name: str) -> RouteRecord:
        i = self._index_of.get(name)
        if i is None:
            raise RouteNotFound(name)
        return self._records[i]

    def threshold(self, name: str) -> float:
        """The threshold in use for ``name`` (its own, else the default)."""
        i = self._index_of.get(name)
        if i is None:
            raise RouteNotFound(name)
        return float(self._thresholds[i])

    def fingerprint(self, name: str) -> str:
        """The hash of a route's vectors that a learned prototype must carry to be used."""
        i = self._index_of.get(name)
        if i is None:
            raise RouteNotFound(name)
        return self._fingerprint_of(i)

    @property
    def uses_ann(self) -> bool:
        """Whether queries go through the HNSW index (it exists and is built)."""
        return self._ann is not None and self._ann.is_ready()

    def is_ready(self) -> bool:
        """Whether search runs at full speed: no HNSW index is needed, or it is built."""
        return self._ann is None or self._ann.is_ready()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ann is None or self._ann.wait(timeout)

    # -- scoring -----------------------------------------------------------------------------------

    def _chunk(self) -> int:
        return max(1, CHUNK_CELLS // max(1, len(self._matrix), len(self._records)))

    def _route_max_ann(self, q: np.ndarray, ann: HnswIndex, width: int) -> np.ndarray:
        """(c, R) nearest-utterance similarity per route from the ANN hits; -inf for routes not hit."""
        k = max(self._ann_k, 4 * width)
        sims, ids = ann.query(q, k)
        out = np.full((len(q), len(self._records)), -np.inf, dtype=np.float32)
        # ids of this snapshot are blocks [base, base + count); others belong to newer snapshots
        order, sorted_bases = self._base_order, self._sorted_bases
        pos = np.searchsorted(sorted_bases, ids, side="right") - 1
        route = order[np.maximum(pos, 0)]
        offset = ids - self._bases[route]
        valid = (ids >= 0) & (pos >= 0) & (offset < self._counts[route])
        rows = np.broadcast_to(np.arange(len(q))[:, None], ids.shape)
        np.maximum.at(out, (rows[valid], route[valid]), sims[valid])
        return out

    def _exact_route_max(self, q: np.ndarray, qi: np.ndarray, routes: np.ndarray) -> np.ndarray:
        """The exact nearest-utterance similarity of request ``qi[k]`` (a row of ``q``) to route
        ``routes[k]``, for every k. One matrix-vector product on a view of the route's rows per pair:
        gathering the rows instead copies them, which costs more than the products."""
        out = np.empty(len(qi), dtype=np.float32)
        starts, counts, matrix = self._starts, self._counts, self._matrix
        for k, (i, r) in enumerate(zip(qi.tolist(), routes.tolist(), strict=True)):
            lo = starts[r]
            out[k] = (matrix[lo:lo + counts[r]] @ q[i]).max()
        return out

    def _ranked(self, emb: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(similarity, nearest-utterance similarity, route index), each (n, width), best first. With
        prototypes alone (utterance weight 0) no utterance is searched and the nearest-utterance
        similarity is NaN (``match`` computes it for the routes it reports)."""
        if self._prototypes is not None and self._alpha == 0.0:
            return self._ranked_by_prototypes(emb, width)
        n, r = len(emb), len(self._records)
        width = min(width, r)
        s_out = np.empty((n, width), np.float32)
        u_out = np.empty((n, width), np.float32)
        r_out = np.empty((n, width), np.int64)
        ann = self._ann if self._ann is not None and self._ann.is_ready() else None
        all_ids = np.arange(r)
        step = self._chunk()
        for lo in range(0, n, step):
            q = emb[lo:lo + step]
            if ann is not None:
                utt = self._route_max_ann(q, ann, width)
            else:
                utt = segment_max(self._exact.similarities(q), self._starts)
            if self._prototypes is not None:
                proto = q @ self._prototypes.T
                if ann is not None:
                    # routes the ANN hits missed: rank them with their best possible similarity (no
                    # better than the worst hit), then give the ones that make the cut their exact one
                    seen = np.isfinite(utt)
                    floor = np.where(seen, utt, np.inf).min(axis=1, keepdims=True)
                    floor = np.where(np.isfinite(floor), floor, 1.0)
                    est = self._alpha * np.where(seen, utt, floor) + (1.0 - self._alpha) * proto
                    top = np.argpartition(-est, width - 1, axis=1)[:, :width] if width < r \
                        else np.broadcast_to(all_ids, (len(q), r))
                    qi, col = np.nonzero(~np.take_along_axis(seen, top, axis=1))
                    routes = top[qi, col]
                    utt[qi, routes] = self._exact_route_max(q, qi, routes)
                seen = np.isfinite(utt)
                fused = np.where(seen, self._alpha * np.where(seen, utt, 0.0) + (1.0 - self._alpha) * proto, -np.inf)
            else:
                fused = utt
            s, idx = ranked(fused.astype(np.float32), np.broadcast_to(all_ids, fused.shape), self._priority, width)
            s_out[lo:lo + step], r_out[lo:lo + step] = s, idx
            u_out[lo:lo + step] = np.take_along_axis(utt, idx, axis=1)
        r_out[~np.isfinite(s_out)] = -1
        return s_out, u_out, r_out

    def _ranked_by_prototypes(self, emb: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._prototypes is not None
        r = len(self._records)
        proto = (emb @ self._prototypes.T).astype(np.float32)
        s, idx = ranked(proto, np.broadcast_to(np.arange(r), proto.shape), self._priority, min(width, r))
        return s, np.full(s.shape, np.nan, dtype=np.float32), idx

    def _probabilities(self, s: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Confidence of every ranked column and the out-of-scope probability, per request."""
        valid = idx >= 0
        logits = np.where(valid, self._slope * (s - self._thresholds[np.maximum(idx, 0)]), -np.inf)
        head = logits[:, :CANDIDATES]
        p_head, p_null = softmax_with_null(head.astype(np.float64), self._null_logit)
        if logits.shape[1] <= CANDIDATES:
            return p_head, p_null
        # columns past the softmax's candidates: their share against the same normaliser
        top = np.maximum(head.max(axis=1, initial=-np.inf), self._null_logit)
        z = np.exp(head - top[:, None]).sum(axis=1) + np.exp(self._null_logit - top)
        tail = np.exp(logits[:, CANDIDATES:] - top[:, None]) / z[:, None]
        return np.concatenate([p_head, tail], axis=1), p_null

    def scores(self, embeddings: np.ndarray, width: int = CANDIDATES) \
            -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The ranked candidates of each request, conditions ignored: (similarity, route index (-1 for
        none), confidence, out-of-scope probability); the first three are (n, width)."""
        emb = check_embeddings(embeddings, dim=self.dim)
        if not self._records:
            n = len(emb)
            return (np.empty((n, 0), np.float32), np.empty((n, 0), np.int64), np.empty((n, 0)), np.ones(n))
        s, _, idx = self._ranked(emb, width)
        p, p_null = self._probabilities(s, idx)
        return s, idx, p, p_null

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The top match of each request as a route index (-1: out of scope) and its confidence (the
        out-of-scope probability for -1), conditions ignored. What FitRoutes evaluates."""
        s, idx, p, p_null = self.scores(embeddings)
        n = len(s)
        if s.shape[1] == 0:
            return np.full(n, -1, np.int64), p_null
        clear = (idx >= 0) & (s >= self._thresholds[np.maximum(idx, 0)])
        first = np.argmax(clear, axis=1)
        hit = clear[np.arange(n), first]
        pred = np.where(hit, idx[np.arange(n), first], -1)
        conf = np.where(hit, p[np.arange(n), first], p_null)
        return pred, conf

    # -- matching ----------------------------------------------------------------------------------

    def match(self, embeddings: np.ndarray, top_k: int, *, now: float, user_tiers: Sequence[str | None],
              limiter: RateLimiter | None, consume: bool) -> list[MatchResult]:
        """One ``MatchResult`` per row of ``embeddings`` (n, dim), in order (module docstring).
        ``user_tiers``: each request's context["user_tier"] (None when absent)."""
        top_k = check_top_k(top_k)
        emb = check_embeddings(embeddings, dim=self.dim)
        if len(user_tiers) != len(emb):
            raise InvalidArgument("user_tiers", f"needs one entry per request ({len(emb)}), got {len(user_tiers)}")
        if not self._records:
            return [MatchResult((), (), 1.0) for _ in range(len(emb))]
        s, u, idx = self._ranked(emb, max(top_k, CANDIDATES))
        p, p_null = self._probabilities(s, idx)
        thresholds = self._thresholds[np.maximum(idx, 0)]
        clear = (idx >= 0) & (s >= thresholds)
        results: list[MatchResult] = []
        for i in range(len(emb)):
            matches: list[RouteMatch] = []
            blocked: list[BlockedRoute] = []
            for j in np.flatnonzero(clear[i]).tolist():
                if len(matches) >= top_k:
                    break
                spec = self._specs[idx[i, j]]
                sim = float(s[i, j])
                reason = self._condition_failure(spec, now, user_tiers[i], limiter,
                                                 take=consume and not matches)
                if reason is not None:
                    if len(blocked) < top_k:
                        blocked.append(BlockedRoute(spec.name, sim, reason))
                    continue
                utt = float(u[i, j])
                if utt != utt:  # not computed for the ranking (prototypes alone): compute it now
                    utt = float(self._exact_route_max(emb, np.array([i]), idx[i, j:j + 1])[0])
                matches.append(RouteMatch(spec, sim, float(p[i, j]), float(thresholds[i, j]), utt))
            results.append(MatchResult(tuple(matches), tuple(blocked), float(p_null[i])))
        return results

    @staticmethod
    def _condition_failure(spec: RouteSpec, now: float, tier: str | None, limiter: RateLimiter | None,
                           take: bool) -> str | None:
        c = spec.conditions
        if not in_window(c, now):
            lo, hi = c.active_from_minute or 0, c.active_until_minute or 0
            return f"outside its time window {lo // 60:02d}:{lo % 60:02d}-{hi // 60:02d}:{hi % 60:02d} UTC"
        if c.user_tiers and tier not in c.user_tiers:
            allowed = ", ".join(c.user_tiers)
            return (f"user tier {tier!r} is not one of {allowed}" if tier is not None
                    else f"the request has no user_tier; the route allows {allowed}")
        limit = c.rate_limit_per_minute
        if limit is not None and limiter is not None:
            ok = limiter.try_acquire(spec.name, limit, now) if take else limiter.available(spec.name, limit, now)
            if not ok:
                return f"rate limit of {limit} a minute reached"
        return None

    # -- classification ----------------------------------------------------------------------------

    def classify(self, embedding: np.ndarray, top_k: int,
                 agent_capabilities: Mapping[str, Sequence[str]]) -> Classification:
        """Categories and capability needs of one request (module docstring)."""
        return self.classify_many(np.asarray(embedding).reshape(1, -1), top_k, agent_capabilities)[0]

    def classify_many(self, embeddings: np.ndarray, top_k: int,
                      agent_capabilities: Mapping[str, Sequence[str]]) -> list[Classification]:
        top_k = check_top_k(top_k, maximum=CLASSIFY_TOP_K_MAX)
        s, idx, p, p_null = self.scores(embeddings)
        caps_of = {spec.target_agent: tuple(dict.fromkeys(agent_capabilities.get(spec.target_agent, ())))
                   for spec in self._specs if spec.target_agent is not None}
        all_caps = sorted({c for caps in caps_of.values() for c in caps})
        out: list[Classification] = []
        for i in range(len(s)):
            routes: dict[str, float] = {}
            groups: dict[str, float] = {}
            need = dict.fromkeys(all_caps, 0.0)
            for j in range(s.shape[1]):
                r = int(idx[i, j])
                if r < 0 or p[i, j] <= 0.0:
                    continue
                spec, prob = self._specs[r], float(p[i, j])
                routes[spec.name] = prob
                if spec.group is not None:
                    groups[spec.group] = groups.get(spec.group, 0.0) + prob
                for cap in caps_of.get(spec.target_agent, ()) if spec.target_agent is not None else ():
                    need[cap] += prob
            # top_k applies to each kind: a group's probability is at least its routes', so one
            # cut over both could leave the routes out.
            chosen = [Category(n, kind, v) for kind, found in (("route", routes), ("group", groups))
                      for n, v in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]
            best = max(routes.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0.0))
            oos = float(p_null[i])
            top, conf = (best[0], best[1]) if best[1] >= oos and best[0] else ("", oos)
            caps = tuple(CapabilityNeed(c, min(1.0, v))
                         for c, v in sorted(need.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(Classification(tuple(chosen), caps, top, conf, oos))
        return out


def _same_vectors(a: object, b: object) -> bool:
    if a is b:
        return True
    x, y = np.asarray(a), np.asarray(b)
    return x.shape == y.shape and bool(np.array_equal(x, y))
