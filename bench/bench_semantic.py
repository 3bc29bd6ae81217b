"""Semantic match speed and the ANN index against exact search, in process, one BLAS thread.

Vectors are drawn to look like all-MiniLM-L6-v2 sentence embeddings of intent data: a Gaussian model
fitted to the MiniLM vectors of CLINC150's ``train`` part (global mean, the covariance of the intent
means, the within-intent covariance), so routes are as close to each other, and utterances as spread
around their route, as real ones; each route gets 100 utterances. Requests are new draws around a
route (in scope) and draws from the whole distribution (out of scope), half and half.

1. RouteSet.match, one request, top_k 3, p50/p99 over 1k (10 routes), 10k (100) and 100k (1,000)
   utterances: exact (matrix product + argpartition) and through the HNSW index, unfitted (nearest
   utterance) and fitted (blended with prototypes). Target: p50 <= 500 us at 10k.
2. Where exact search stops meeting 500 us (the sweep behind ``EXACT_MAX_UTTERANCES``).
3. The ANN: build time, utterance recall@10 against exact search, and route-level agreement (the
   same top match, out of scope included; the same top 3) of RouteSet through HNSW vs exact.
4. The choice: usearch vs faiss-cpu HNSW (same M = 16, efConstruction = 128, ef = 128), build time,
   query p50 (k = 64 utterances, what RouteSet asks for) and recall@10; and routerd's HnswIndex.

Run: ``python bench/bench_semantic.py [--cache /tmp/clinc150-minilm.npz] [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_clinc150 import DATA, embed_all  # noqa: E402

from routerd.domain import RouteRecord, RouteSpec  # noqa: E402
from routerd.semantic import Calibration, ExactIndex, HnswIndex, RouteSet  # noqa: E402
from routerd.semantic.index import HNSW_EXPANSION_SEARCH  # noqa: E402

PER_ROUTE = 100
NOON = 12 * 3600.0


class MiniLMLike:
    """A Gaussian model of MiniLM intent embeddings (see the module docstring)."""

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        classes = np.unique(labels)
        means = np.stack([vectors[labels == c].mean(axis=0) for c in classes])
        self.mean = means.mean(axis=0)
        self.between = _sqrt_psd(np.cov(means.T))
        resid = vectors - means[np.searchsorted(classes, labels)]
        self.within = _sqrt_psd(np.cov(resid.T))
        self.total = _sqrt_psd(np.cov(vectors.T))
        self.dim = vectors.shape[1]

    def routes(self, n: int) -> np.ndarray:
        return self.mean + self.rng.standard_normal((n, self.dim)).astype(np.float32) @ self.between

    def around(self, centres: np.ndarray) -> np.ndarray:
        x = centres + self.rng.standard_normal(centres.shape).astype(np.float32) @ self.within
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def anywhere(self, n: int) -> np.ndarray:
        x = self.mean + self.rng.standard_normal((n, self.dim)).astype(np.float32) @ self.total
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    out: np.ndarray = ((v * np.sqrt(np.maximum(w, 0))) @ v.T).astype(np.float32)
    return out


def build_world(model: MiniLMLike, n_routes: int, n_queries: int) -> tuple[list[RouteRecord], np.ndarray]:
    centres = model.routes(n_routes)
    records = []
    for i, c in enumerate(centres):
        vecs = model.around(np.repeat(c[None, :], PER_ROUTE, axis=0))
        spec = RouteSpec(name=f"route-{i:04d}", utterances=tuple(f"u{j}" for j in range(PER_ROUTE)))
        records.append(RouteRecord(spec, vecs, "bench", 0.0, 0.0))
    pick = model.rng.integers(n_routes, size=n_queries // 2)
    queries = np.concatenate([model.around(centres[pick]), model.anywhere(n_queries - n_queries // 2)])
    return records, queries[model.rng.permutation(len(queries))]


def latency(rs: RouteSet, queries: np.ndarray, repeat: int = 1) -> tuple[float, float]:
    """p50 and p99 in microseconds of one-request match calls."""
    tiers: list[str | None] = [None]
    for q in queries[:20]:  # warm up
        rs.match(q[None, :], 3, now=NOON, user_tiers=tiers, limiter=None, consume=False)
    times = []
    for _ in range(repeat):
        for q in queries:
            t0 = time.perf_counter_ns()
            rs.match(q[None, :], 3, now=NOON, user_tiers=tiers, limiter=None, consume=False)
            times.append(time.perf_counter_ns() - t0)
    a = np.array(times) / 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def fitted_calibration() -> Calibration:
    # The blended similarity (prototypes = centroids here; fit_routes would learn them): what a fitted
    # set computes per request, so its speed is measured without running a fit.
    return Calibration(utterance_weight=0.25)


def agreement(exact: RouteSet, ann: RouteSet, queries: np.ndarray) -> tuple[float, float]:
    pe, _ = exact.predict(queries)
    pa, _ = ann.predict(queries)
    tiers: list[str | None] = [None] * len(queries)
    me = exact.match(queries, 3, now=NOON, user_tiers=tiers, limiter=None, consume=False)
    ma = ann.match(queries, 3, now=NOON, user_tiers=tiers, limiter=None, consume=False)
    top3 = np.mean([[m.name for m in a.matches] == [m.name for m in b.matches] for a, b in zip(me, ma, strict=True)])
    return float(np.mean(pe == pa)), float(top3)


def recall_at(exact: ExactIndex, ann_ids: np.ndarray, queries: np.ndarray, k: int) -> float:
    _, e = exact.query(queries, k)
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(ann_ids, e, strict=True)]))


def _timed_search(search: Any, queries: np.ndarray) -> tuple[float, np.ndarray]:
    times, ids = [], []
    for q in queries:
        t = time.perf_counter_ns()
        ids.append(search(q[None, :]))
        times.append(time.perf_counter_ns() - t)
    return float(np.median(times)) / 1e3, np.array(ids)


def index_choice(matrix: np.ndarray, queries: np.ndarray, build_threads: int) -> dict[str, Any]:
    """usearch vs faiss HNSW on the same vectors (both libraries called directly, same M = 16,
    efConstruction = 128, ef = 128): build seconds, query p50 (k = 64), recall@10; and HnswIndex
    (routerd's faiss wrapper, ids and tombstones included)."""
    import faiss

    exact = ExactIndex.over(np.arange(len(matrix)), matrix)
    threads = build_threads or os.cpu_count() or 1
    out: dict[str, Any] = {}
    try:  # the comparison that chose faiss; usearch is not a dependency (pip install usearch to rerun it)
        from usearch.index import Index as UsearchIndex
    except ImportError:
        print("  (usearch is not installed: the usearch side of the index comparison is skipped)")
    else:
        t0 = time.perf_counter()
        us = UsearchIndex(ndim=matrix.shape[1], metric="ip", dtype="f32", connectivity=16, expansion_add=128,
                          expansion_search=128)
        us.add(np.arange(len(matrix)), matrix, threads=threads)
        build = time.perf_counter() - t0
        p50, ids = _timed_search(lambda q: np.asarray(us.search(q, 64, threads=1).keys).reshape(-1)[:64], queries)
        out["usearch"] = {"build_s": build, "p50_us": p50, "recall_at_10": recall_at(exact, ids, queries, 10)}
    faiss.omp_set_num_threads(threads)
    t0 = time.perf_counter()
    fi = faiss.IndexHNSWFlat(matrix.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    fi.hnsw.efConstruction = 128
    fi.add(matrix)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    fi.hnsw.efSearch = 128
    p50, ids = _timed_search(lambda q: fi.search(q, 64)[1][0], queries)
    out["faiss"] = {"build_s": build, "p50_us": p50, "recall_at_10": recall_at(exact, ids, queries, 10)}
    t0 = time.perf_counter()
    ours = HnswIndex(matrix.shape[1], build_threads=threads)
    ours.build(np.arange(len(matrix)), matrix, background=False)
    build = time.perf_counter() - t0
    p50, ids = _timed_search(lambda q: ours.query(q, 64)[1][0], queries)
    out["HnswIndex"] = {"build_s": build, "p50_us": p50, "recall_at_10": recall_at(exact, ids, queries, 10)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/clinc150-minilm.npz"),
                    help="CLINC150 MiniLM vectors (bench/eval_clinc150.py writes them; embedded if missing)")
    ap.add_argument("--quick", action="store_true", help="fewer queries, no 100k faiss comparison")
    ap.add_argument("--build-threads", type=int, default=0, help="HNSW build threads (0: all cores)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    data = json.loads(DATA.read_text())
    vecs, embedder, _ = embed_all(data, "minilm", args.cache)
    labels = np.array([i for _, i in data["train"]])
    model = MiniLMLike(vecs["train"], labels)
    nq = 200 if args.quick else 1000
    report: dict[str, Any] = {"embedder_modelled": embedder, "per_route": PER_ROUTE, "sizes": {}, "sweep": {}}

    for n_utt in (1_000, 10_000, 100_000):
        records, queries = build_world(model, n_utt // PER_ROUTE, nq)
        row: dict[str, Any] = {"routes": len(records)}
        exact = RouteSet(records, default_threshold=0.5, exact_max_utterances=10**9)
        q_exact = queries[: max(100, nq // 5)] if n_utt >= 100_000 else queries
        row["exact_p50_us"], row["exact_p99_us"] = latency(exact, q_exact)
        exact_fit = RouteSet(records, default_threshold=0.5, exact_max_utterances=10**9,
                             calibration=fitted_calibration())
        row["exact_fitted_p50_us"], row["exact_fitted_p99_us"] = latency(exact_fit, q_exact)
        t0 = time.perf_counter()
        ann = RouteSet(records, default_threshold=0.5, exact_max_utterances=0, background_build=False)
        row["ann_build_s"] = time.perf_counter() - t0
        row["ann_p50_us"], row["ann_p99_us"] = latency(ann, queries)
        ann_fit = ann.with_changes(calibration=fitted_calibration())  # same vectors: the same HNSW index
        row["ann_fitted_p50_us"], row["ann_fitted_p99_us"] = latency(ann_fit, queries)
        row["top1_agreement"], row["top3_agreement"] = agreement(exact, ann, queries)
        row["top1_agreement_fitted"], row["top3_agreement_fitted"] = agreement(exact_fit, ann_fit, queries)
        assert ann._ann is not None
        _, ids = ann._ann.query(queries, 10)
        row["utterance_recall_at_10"] = recall_at(exact._exact, ids, queries, 10)
        report["sizes"][n_utt] = row

    # the crossover, interleaved over sizes and repeated, so that load from elsewhere on the machine
    # hits every size alike: the median and the best of the rounds' p50
    sweep_sets = {}
    for n_utt in (1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 8_000, 10_000):
        records, queries = build_world(model, n_utt // PER_ROUTE, 200)
        sweep_sets[n_utt] = (RouteSet(records, default_threshold=0.5, exact_max_utterances=10**9), queries)
    rounds: dict[int, list[float]] = {n: [] for n in sweep_sets}
    for _ in range(3 if args.quick else 7):
        for n_utt, (rs, queries) in sweep_sets.items():
            rounds[n_utt].append(latency(rs, queries)[0])
    report["sweep"] = {n: {"median_p50_us": float(np.median(v)), "best_p50_us": float(np.min(v))}
                       for n, v in rounds.items()}

    sizes = (10_000,) if args.quick else (10_000, 100_000)
    report["choice"] = {}
    for n_utt in sizes:
        records, queries = build_world(model, n_utt // PER_ROUTE, 300)
        matrix = np.concatenate([r.vectors for r in records])
        report["choice"][n_utt] = index_choice(matrix, queries, args.build_threads)

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"semantic match, one request, top_k 3, in process, 1 BLAS thread; vectors modelled on {embedder}")
    print(f"{'utterances':>10} {'routes':>6} | {'exact p50/p99 us':>17} {'fitted':>15} | {'HNSW p50/p99 us':>16} "
          f"{'fitted':>15} | {'build s':>7} {'recall@10':>9} {'top1 agr':>8} {'top3 agr':>8} {'(fitted)':>12}")
    for n_utt, r in report["sizes"].items():
        print(f"{n_utt:>10} {r['routes']:>6} | {r['exact_p50_us']:8.0f}/{r['exact_p99_us']:<8.0f} "
              f"{r['exact_fitted_p50_us']:7.0f}/{r['exact_fitted_p99_us']:<7.0f} | {r['ann_p50_us']:7.0f}/"
              f"{r['ann_p99_us']:<8.0f} {r['ann_fitted_p50_us']:7.0f}/{r['ann_fitted_p99_us']:<7.0f} | "
              f"{r['ann_build_s']:7.1f} {r['utterance_recall_at_10']:9.4f} {r['top1_agreement']:8.4f} "
              f"{r['top3_agreement']:8.4f} {r['top1_agreement_fitted']:6.4f}/{r['top3_agreement_fitted']:.4f}")
    print("exact p50 by size, median / best of rounds (us): "
          + ", ".join(f"{n}: {v['median_p50_us']:.0f}/{v['best_p50_us']:.0f}" for n, v in report["sweep"].items())
          + "  (target 500)")
    for n_utt, c in report["choice"].items():
        parts = [f"{lib}: build {v['build_s']:.1f} s, p50 {v['p50_us']:.0f} us, recall@10 {v['recall_at_10']:.4f}"
                 for lib, v in c.items()]
        print(f"HNSW at {n_utt} utterances, k=64 (usearch, faiss: ef 128; HnswIndex: its ef, "
              f"{HNSW_EXPANSION_SEARCH}): " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
