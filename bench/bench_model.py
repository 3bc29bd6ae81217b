"""The FastGRNN quality model, measured (DESIGN.md "Targets": int8 encoder ≤ 64 KB, encoder + heads
≤ 10 µs per request).

1. Single-request forward (T = 1, 100 agents, 384 dims) through ``predict_one``: float32 and int8,
   full rank and low rank, p50/p99 per call; the batch path per request for comparison.
2. Model size: stored encoder (int8 vs float32) and heads.
3. int8 vs float agreement and calibration (ECE before/after temperature scaling) on held-out data.
4. Training time on a synthetic set of realistic size (3,000 requests × 11 agents × 384 dims).
5. If the MiniLM embedder and ../shared/data/routerbench are present: a quick held-out comparison
   (seeded 80/20 splits) of FastGRNN against per-agent logistic regression, k-NN and a per-agent
   constant on the same embeddings; and the embedding head on agents held out of training.
   Embeddings are cached in the temp directory (keyed by the data files and the embedder).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_model.py [--quick] [--no-routerbench]``.
Prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.model.fastgrnn import FastGRNNRouter  # noqa: E402
from routerd.model.heads import expected_calibration_error, sigmoid  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "routerbench"
RB_FILES = ("arc_challenge_train.csv", "mbpp_train.csv", "winograde_train.csv")
RB_MODELS = ("gpt-4-1106-preview", "gpt-3.5-turbo-1106", "claude-v2", "claude-v1", "claude-instant-v1",
             "meta/llama-2-70b-chat", "meta/code-llama-instruct-34b-chat", "mistralai/mixtral-8x7b-chat",
             "mistralai/mistral-7b-chat", "zero-one-ai/Yi-34B-Chat", "WizardLM/WizardLM-13B-V1.2")


def synthetic(n: int, d: int, agents: int, seed: int = 0, clusters: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm requests from clusters; each agent's success probability depends on the cluster."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    p = rng.uniform(0.1, 0.9, size=(clusters, agents))
    label = rng.integers(0, clusters, n)
    X = centers[label] + 1.0 * rng.normal(size=(n, d)) / np.sqrt(d)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), (rng.uniform(size=(n, agents)) < p[label]).astype(np.float64)


def per_call_us(fn: Any, arg: Any, calls: int, rounds: int = 7) -> tuple[float, float, float]:
    """(best-round mean, p50, p99) in µs per call; p50/p99 from individually timed calls."""
    for _ in range(calls // 10):
        fn(arg)
    means = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        means.append((time.perf_counter() - t) / calls * 1e6)
    single = np.empty(calls)
    clock = time.perf_counter
    for i in range(calls):
        t = clock()
        fn(arg)
        single[i] = clock() - t
    return min(means), float(np.percentile(single, 50) * 1e6), float(np.percentile(single, 99) * 1e6)


def best_of(fn: Any, rounds: int = 5) -> float:
    """Seconds of the fastest of ``rounds`` calls (the first call pays for page faults)."""
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def section(title: str) -> None:
    print(f"\n== {title}")


# ---------------------------------------------------------------------------------- 1-3: speed, size


def bench_speed(quick: bool) -> None:
    d, agents = 384, 100
    X, Y = synthetic(1500, d, agents, seed=1)
    calls = 5_000 if quick else 20_000
    section(f"single-request forward, T = 1, {agents} agents, {d} dims (OPENBLAS_NUM_THREADS="
            f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}); target ≤ 10 µs")
    print(f"{'model':34s} {'store':6s} {'mean µs':>8s} {'p50 µs':>8s} {'p99 µs':>8s} {'encoder B':>10s} "
          f"{'heads B':>8s}")
    for kw in (dict(hidden_dim=64), dict(hidden_dim=32), dict(hidden_dim=64, rank_w=16),
               dict(hidden_dim=128, rank_w=16)):
        m = FastGRNNRouter(epochs=3, random_state=0, **kw).fit(X, Y)
        label = ", ".join(f"{k}={v}" for k, v in kw.items())
        for name, inf in (("f32", m.inference()), ("int8", m.quantize())):
            mean, p50, p99 = per_call_us(inf.predict_one, X[0], calls)
            print(f"{label:34s} {name:6s} {mean:8.2f} {p50:8.2f} {p99:8.2f} {inf.nbytes_encoder:10d} "
                  f"{inf.nbytes - inf.nbytes_encoder:8d}")
    m = FastGRNNRouter(epochs=3, random_state=0).fit(X, Y)
    q8 = m.quantize()
    mean, p50, _ = per_call_us(lambda x: m.predict_quality(x), X[:1], calls // 10)
    print(f"for comparison: estimator.predict_quality on 1 request (validation, float64): {p50:.1f} µs p50")
    mean, p50, _ = per_call_us(lambda x: q8.predict(x), X[:1], calls // 10)
    print(f"                int8 .predict (batch path, validated) on 1 request: {p50:.1f} µs p50")
    mt = FastGRNNRouter(epochs=3, distill=0, random_state=0).fit(np.stack([X, X[::-1]], axis=1), Y)
    for name, inf in (("f32", mt.inference()), ("int8", mt.quantize())):
        mean, p50, p99 = per_call_us(inf.predict_one, np.stack([X[0], X[1]]), calls)
        print(f"{'T = 2 chunks (head, tail), H=64':34s} {name:6s} {mean:8.2f} {p50:8.2f} {p99:8.2f}")
    big = np.repeat(X, 4, axis=0)[:4096]
    batch_us = best_of(lambda: q8.predict(big)) / len(big) * 1e6
    print(f"                int8 .predict on a batch of {len(big)}: {batch_us:.2f} µs per request")
    seq = np.stack([big[:1024], big[1024:2048], big[2048:3072], big[3072:]], axis=1)
    seq_us = best_of(lambda: q8.predict(seq)) / 1024 * 1e6
    print(f"                int8 .predict, T = 4 chunks, batch of 1024: {seq_us:.2f} µs per request")
    emb_agents = np.random.default_rng(3).normal(size=(agents, d)).astype(np.float32)
    me = FastGRNNRouter(epochs=3, random_state=0).fit(X, Y, emb_agents)
    qe = me.quantize()
    heads = qe.heads([f"new-{i}" for i in range(agents)], emb_agents)
    t = time.perf_counter()
    qe.heads([f"new-{i}" for i in range(agents)], emb_agents)
    build_us = (time.perf_counter() - t) * 1e6
    _, p50, _ = per_call_us(lambda x: qe.predict_one(x, heads), X[0], calls)
    print(f"embedding-head rows for {agents} new agents: built once in {build_us:.0f} µs, then predict_one "
          f"{p50:.2f} µs p50")


def bench_training_time(quick: bool) -> None:
    n, d, agents = (6_000 if quick else 30_000), 384, 11
    X, Y = synthetic(n, d, agents, seed=4)
    Xs = np.stack([X, np.roll(X, 1, axis=0)], axis=1)  # every request two chunks, as long prompts are
    section(f"training time with the defaults ({FastGRNNRouter()!r}: distill=3 teachers + the model), "
            f"{n} requests × {agents} agents × 2 chunks × {d} dims")
    for kw in (dict(), dict(distill=0)):
        t = time.perf_counter()
        m = FastGRNNRouter(random_state=0, **kw).fit(Xs, Y)
        epochs = sum(m.history_.get("teacher_epochs", [])) + m.n_iter_
        print(f"  {', '.join(f'{k}={v}' for k, v in kw.items()) or 'defaults':12s} {time.perf_counter() - t:7.1f} s "
              f"({epochs} epochs in all)")


def bench_quality_synthetic(quick: bool) -> None:
    n, d, agents = 3000, 384, 11
    X, Y = synthetic(n + 1000, d, agents, seed=2)
    Xtr, Ytr, Xte, Yte = X[:n], Y[:n], X[n:], Y[n:]
    section(f"training on synthetic {n} requests × {agents} agents × {d} dims (held-out 1000)")
    print(f"{'config':44s} {'fit s':>6s} {'epochs':>6s} {'log loss':>8s} {'const':>6s} {'ECE raw':>7s} "
          f"{'ECE cal':>7s} {'T':>5s} {'int8 max|Δp|':>12s} {'argmax agree':>12s} {'int8 enc B':>10s}")
    const = log_loss(np.broadcast_to(Ytr.mean(axis=0), Yte.shape), Yte)
    configs: list[dict[str, Any]] = [dict(), dict(hidden_dim=64, rank_w=16), dict(sparsity_w=0.3, sparsity_u=0.5)]
    if not quick:
        configs.append(dict(hidden_dim=128, rank_w=32))
    for kw in configs:
        t = time.perf_counter()
        m = FastGRNNRouter(random_state=0, **kw).fit(Xtr, Ytr)
        fit_s = time.perf_counter() - t
        p = m.predict_quality(Xte)
        raw = sigmoid(m.decision_function(Xte))
        q8 = m.quantize()
        p8 = q8.predict_quality(Xte)
        label = ", ".join(f"{k}={v}" for k, v in kw.items()) or "defaults (H=64, full rank, dense)"
        print(f"{label:44s} {fit_s:6.2f} {m.n_iter_:6d} {log_loss(p, Yte):8.4f} {const:6.4f} "
              f"{expected_calibration_error(raw, Yte):7.4f} {expected_calibration_error(p, Yte):7.4f} "
              f"{m.temperature_:5.2f} {np.abs(p8 - p).max():12.5f} {(p8.argmax(1) == p.argmax(1)).mean():12.4f} "
              f"{q8.nbytes_encoder:10d}")


# --------------------------------------------------------------------------------------- RouterBench


def load_routerbench() -> tuple[list[str], np.ndarray, list[str]]:
    csv.field_size_limit(sys.maxsize)
    prompts: list[str] = []
    ys: list[list[float]] = []
    tasks: list[str] = []
    for name in RB_FILES:
        with open(DATA / name, newline="") as fh:
            for row in csv.DictReader(fh):
                turns = ast.literal_eval(row["prompt"])
                prompts.append("\n".join(map(str, turns)) if isinstance(turns, list) else str(turns))
                # 14 ARC rows have NaN scores: 0 (the data README's rule)
                ys.append([0.0 if row[m] in ("", "nan") else float(row[m]) for m in RB_MODELS])
                tasks.append(row["eval_name"])
    return prompts, np.array(ys), tasks


def embed_cached(embedder: Any, texts: list[str], tag: str) -> np.ndarray:
    key = hashlib.sha256()
    key.update(embedder.name.encode())
    for name in RB_FILES:
        st = (DATA / name).stat()
        key.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    key.update(tag.encode())
    path = Path(tempfile.gettempdir()) / f"tinydancer-bench-model-{key.hexdigest()[:16]}.npy"
    if path.exists():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            return np.asarray(cached)
    t = time.perf_counter()
    X = np.concatenate([embedder.embed(texts[i:i + 64]) for i in range(0, len(texts), 64)])
    print(f"(embedded {len(texts)} texts with {embedder.name} in {time.perf_counter() - t:.0f} s; cached in {path})")
    np.save(path, X)
    return X


def logistic_regression(Xtr: np.ndarray, Ytr: np.ndarray, Xte: np.ndarray, l2: float) -> np.ndarray:
    """Per-agent L2 logistic regression on standardised features, by Newton's method."""
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-8
    A = np.c_[(Xtr - mu) / sd, np.ones(len(Xtr))]
    B = np.c_[(Xte - mu) / sd, np.ones(len(Xte))]
    reg = np.r_[np.full(A.shape[1] - 1, l2), 1e-8]
    out = []
    for j in range(Ytr.shape[1]):
        w = np.zeros(A.shape[1])
        for _ in range(25):
            p = sigmoid(A @ w)
            g = A.T @ (p - Ytr[:, j]) + reg * w
            Hm = (A * (p * (1 - p))[:, None]).T @ A + np.diag(reg)
            step = np.linalg.solve(Hm, g)
            w -= step
            if np.abs(step).max() < 1e-7:
                break
        out.append(sigmoid(B @ w))
    return np.array(out).T


def knn(Xtr: np.ndarray, Ytr: np.ndarray, Xte: np.ndarray, k: int) -> np.ndarray:
    """Mean outcome of the k most cosine-similar training requests (one pseudo-count of the agent mean)."""
    S = Xte @ Xtr.T
    idx = np.argpartition(-S, k, axis=1)[:, :k]
    return (Ytr[idx].sum(axis=1) + Ytr.mean(axis=0)) / (k + 1)


def choose(fn: Any, Xtr: np.ndarray, Ytr: np.ndarray, grid: tuple[Any, ...], seed: int) -> Any:
    """The grid value with the lowest log loss on a seeded 20 % carve of the training rows."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(Xtr))
    va, tr = perm[:len(Xtr) // 5], perm[len(Xtr) // 5:]
    return min(grid, key=lambda g: log_loss(fn(Xtr[tr], Ytr[tr], Xtr[va], g), Ytr[va]))


def auc(score: np.ndarray, y: np.ndarray) -> float:
    pos = y > 0.5
    if pos.all() or not pos.any():
        return float("nan")
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="stable")] = np.arange(1, len(score) + 1)
    n1 = pos.sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1)))


def bench_routerbench(quick: bool) -> None:
    section("RouterBench (3 train files, 2,225 prompts × 11 models), MiniLM embeddings, held-out 20 % splits")
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return
    try:
        from routerd.model.embedders import make_embedder
        embedder = make_embedder("minilm")
        embedder.embed(["probe"])
    except Exception as e:  # the embedder's package or weights missing
        print(f"skipped: the minilm embedder is not available ({type(e).__name__}: {e})")
        return
    prompts, Y, _ = load_routerbench()
    X = embed_cached(embedder, prompts, "prompts")
    names = list(RB_MODELS)
    agent_texts = ["llm " + n.replace("/", " ").replace("-", " ") for n in names]  # as routerd.engine.table does
    E = embed_cached(embedder, agent_texts, "agents")
    n = len(X)
    seeds = range(2 if quick else 5)
    rows: dict[str, list[tuple[float, ...]]] = {}

    def add(name: str, p: np.ndarray, y: np.ndarray) -> None:
        top = y[np.arange(len(p)), p.argmax(axis=1)].mean()  # correctness of the agent it rates best
        mean_auc = np.nanmean([auc(p[:, j], y[:, j]) for j in range(y.shape[1])])
        rows.setdefault(name, []).append((log_loss(p, y), float(((p > 0.5) == (y > 0.5)).mean()), float(mean_auc),
                                          float(top), expected_calibration_error(p, y)))

    fit_times = []
    for seed in seeds:
        perm = np.random.default_rng(1000 + seed).permutation(n)
        te, tr = perm[:n // 5], perm[n // 5:]
        Xtr, Ytr, Xte, Yte = X[tr], Y[tr], X[te], Y[te]
        add("per-agent constant", np.broadcast_to(Ytr.mean(axis=0), Yte.shape), Yte)
        l2 = choose(logistic_regression, Xtr, Ytr, (10.0, 100.0, 1000.0), seed)
        add("logistic regression (l2 by CV)", logistic_regression(Xtr, Ytr, Xte, l2), Yte)
        k = choose(knn, Xtr, Ytr, (10, 30, 100), seed)
        add("k-NN cosine (k by CV)", knn(Xtr, Ytr, Xte, k), Yte)
        t = time.perf_counter()
        m = FastGRNNRouter(random_state=seed).fit(Xtr, Ytr, agent_names=names)
        fit_times.append(time.perf_counter() - t)
        add("FastGRNN H=64 (calibrated)", m.predict_quality(Xte), Yte)
        add("FastGRNN H=64, uncalibrated", sigmoid(m.decision_function(Xte)), Yte)
        add("FastGRNN H=64, int8", m.quantize().predict_quality(Xte), Yte)
        lr = FastGRNNRouter(hidden_dim=64, rank_w=16, random_state=seed).fit(Xtr, Ytr, agent_names=names)
        add("FastGRNN H=64 rank_w=16, int8", lr.quantize().predict_quality(Xte), Yte)
    print(f"{'model':34s} {'log loss':>8s} {'acc@0.5':>8s} {'AUC/agent':>9s} {'top-1 correct':>13s} {'ECE':>6s}   "
          f"(mean of {len(seeds)} splits; always-gpt-4 top-1 = {Y[:, 0].mean():.3f}, oracle = {Y.max(1).mean():.3f})")
    for name, vals in rows.items():
        a = np.array(vals)
        print(f"{name:34s} {a[:, 0].mean():8.4f} {a[:, 1].mean():8.4f} {a[:, 2].mean():9.4f} {a[:, 3].mean():13.4f} "
              f"{a[:, 4].mean():6.4f}")
    print(f"FastGRNN fit time: {np.mean(fit_times):.2f} s per split")

    section("embedding head on RouterBench agents held out of training (leave one agent out, agent text = "
            "'llm ' + name)")
    perm = np.random.default_rng(7).permutation(n)
    te, tr = perm[:n // 5], perm[n // 5:]
    print(f"{'held-out agent':36s} {'AUC head':>8s} {'AUC mean-of-others':>18s} {'mean pred':>9s} {'actual':>6s}")
    aucs, base = [], []
    for j, name in enumerate(names):
        keep = [i for i in range(len(names)) if i != j]
        m = FastGRNNRouter(random_state=0).fit(X[tr], Y[tr][:, keep], E[keep], agent_names=[names[i] for i in keep])
        p = m.predict_quality_for(X[te], E[j:j + 1])[:, 0]
        others = m.predict_quality(X[te]).mean(axis=1)
        aucs.append(auc(p, Y[te, j]))
        base.append(auc(others, Y[te, j]))
        print(f"{name:36s} {aucs[-1]:8.3f} {base[-1]:18.3f} {p.mean():9.3f} {Y[te, j].mean():6.3f}")
        if quick and j >= 2:
            break
    print(f"mean AUC: head {np.nanmean(aucs):.3f}, mean-of-other-agents {np.nanmean(base):.3f} (chance 0.5)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer calls, splits and configurations")
    ap.add_argument("--no-routerbench", action="store_true")
    args = ap.parse_args()
    bench_speed(args.quick)
    bench_quality_synthetic(args.quick)
    bench_training_time(args.quick)
    if not args.no_routerbench:
        bench_routerbench(args.quick)


if __name__ == "__main__":
    main()
