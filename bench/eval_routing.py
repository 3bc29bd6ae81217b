"""Routing quality on held-out data: the shared RouterBench files (and, with --routellm, RouteLLM's MMLU).

Split: seeded, 70/30 stratified by category (RouterBench's eval_name, MMLU's subject): in each category
the rows are shuffled with ``numpy.random.default_rng(seed)`` and round(30 %) go to the test part.
Everything is fitted on the training part only (price models, k, λ, the task means, FastGRNN) and scored
on the test part with ``routerd.model.evaluation`` (the W sweep with routerd's rule, on routerd's cost
estimates from the fitted price models; true quality and cost for the score).

Embeddings: ``make_embedder("minilm")`` (hashing, with a warning, if it cannot be built), cached under
--cache-dir by the sha256 of each text. Every prompt goes through ``routerd.model.features.request_sequences``,
the recipe routerd trains and serves with: a sequence of chunk embeddings (the head, cut by the model at
256 tokens, and for a long prompt its tail, where a few-shot prompt asks its question). FastGRNN gets the
sequence; k-NN and LR get a view of it: head, tail (the last chunk) or head+tail (concatenated).

Routers: every single agent, random at matched cost, the cheapest-correct oracle, k-NN, per-agent
logistic regression, the task-aware router (category means), and FastGRNN with its default
hyperparameters (``fastgrnn_predict``). Also reported: the Brier score and the calibration error (ECE)
of each router's predicted quality, over every (request, agent) pair and for the agent routerd chooses
(``evaluation.chosen_calibration``); and the agent-embedding head on agents held out of training
(``heldout_agents``). ``--validate`` scores on a quarter of the training part instead, for choosing
settings without looking at the test part.

Run: ``OPENBLAS_NUM_THREADS=1 python bench/eval_routing.py [--json] [--plot curve.png] [--routellm]
[--validate]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.model import evaluation as ev  # noqa: E402
from routerd.model import features as ft  # noqa: E402
from routerd.model.datasets import (  # noqa: E402
    RoutingDataset,
    convert_routellm,
    convert_routerbench,
    estimate_costs,
    fit_price_models,
    price_error,
)
from routerd.model.heads import expected_calibration_error  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


# -- split and embeddings --------------------------------------------------------------------------

def stratified_split(categories: Sequence[str | None], test_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cats = np.array([str(c) for c in categories], dtype=object)
    train: list[int] = []
    test: list[int] = []
    for c in sorted(set(cats)):
        rows = np.flatnonzero(cats == c)
        rows = rows[rng.permutation(rows.size)]
        k = int(round(test_fraction * rows.size))
        test.extend(rows[:k].tolist())
        train.extend(rows[k:].tolist())
    return np.array(sorted(train)), np.array(sorted(test))


def split(args: argparse.Namespace, categories: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """The train/test split; with --validate, the training part split again (a quarter held out, seed + 1)
    so that choices are made without looking at the test part, which is then not used at all."""
    train, test = stratified_split(categories, args.test_fraction, args.seed)
    if not args.validate:
        return train, test
    fit, val = stratified_split([categories[i] for i in train], 0.25, args.seed + 1)
    return train[fit], train[val]


class CachedEmbeddings:
    """Embeddings by sha256 of the text, kept in one .npz per embedder under ``cache_dir``."""

    def __init__(self, name: str, cache_dir: Path):
        from routerd.model.embedders import make_embedder

        try:
            self.embedder = make_embedder(name)
        except Exception as exc:  # a missing model package: fall back, loudly
            warnings.warn(f"embedder {name!r} unavailable ({exc}); using the hashing embedder", stacklevel=2)
            self.embedder = make_embedder("hashing")
        self.name = self.embedder.name
        self.dim = self.embedder.dim
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"{self.name.replace('/', '_')}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as z:
                self.vectors = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    def embed(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        if todo:
            by_key = dict(zip(keys, texts, strict=True))
            t0 = time.perf_counter()
            for i in range(0, len(todo), batch):
                chunk = todo[i:i + batch]
                for k, v in zip(chunk, self.embedder.embed([by_key[k] for k in chunk]), strict=True):
                    self.vectors[k] = np.asarray(v, dtype=np.float32)
                print(f"  embedded {min(i + batch, len(todo))}/{len(todo)} texts with {self.name} "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
                if (i // batch) % 10 == 9:
                    self.save()
            self.save()
        return np.stack([self.vectors[k] for k in keys])

    def save(self) -> None:
        ks = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(ks), vectors=np.stack([self.vectors[k] for k in ks]))
        tmp.replace(self.path)


@dataclass
class Features:
    """What the routers may see of each request: the product's chunk sequence (``routerd.model.features``)."""

    x: np.ndarray  # (n, MAX_CHUNKS, d) chunk embeddings
    mask: np.ndarray  # (n, MAX_CHUNKS) valid chunks
    categories: list[str | None]

    @property
    def head(self) -> np.ndarray:
        return self.x[:, 0]

    @property
    def tail(self) -> np.ndarray:
        """The last valid chunk (the head for a one-chunk request)."""
        last = self.mask.sum(axis=1) - 1
        return np.asarray(self.x[np.arange(self.x.shape[0]), last])

    def view(self, name: str) -> np.ndarray:
        if name == "head":
            return self.head
        if name == "tail":
            return self.tail
        if name == "head+tail":
            return np.hstack([self.head, self.tail])
        raise ValueError(f"unknown view {name!r}")

    def sequence(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x, self.mask

    def take(self, rows: np.ndarray) -> Features:
        return Features(self.x[rows], self.mask[rows], [self.categories[i] for i in rows])


def features(ds: RoutingDataset, emb: CachedEmbeddings) -> Features:
    """Every prompt through ``routerd.model.features.request_sequences``: what routerd serves."""
    x, mask = ft.request_sequences(emb, list(ds.prompts))
    return Features(x, mask, list(ds.categories))


# -- the FastGRNN hook -----------------------------------------------------------------------------

def fastgrnn_predict(train: Features, q_train: np.ndarray, test: Features, seed: int) -> tuple[np.ndarray, str]:
    """Fit routerd's FastGRNN router on the training part and predict the test part's (n, A) quality.
    Raises ImportError while routerd.model.fastgrnn has not landed."""
    from routerd.model.fastgrnn import FastGRNNRouter

    x, m = train.sequence()
    xt, mt = test.sequence()
    model = FastGRNNRouter(random_state=seed).fit(x, q_train, mask=m)
    return np.asarray(model.predict_quality(xt, mask=mt)), repr(model)


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC of ``score`` for binary ``y`` (ties count half); NaN with one class only."""
    pos, neg = score[y > 0.5], score[y <= 0.5]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    order = np.argsort(np.r_[pos, neg], kind="mergesort")
    ranks = np.empty(order.size)
    allv = np.r_[pos, neg][order]
    # average ranks over ties
    i = 0
    while i < allv.size:
        j = i
        while j + 1 < allv.size and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def heldout_agents(train: Features, q_train: np.ndarray, test: Features, q_test: np.ndarray,
                   agents: Sequence[str], agent_embeddings: np.ndarray, seed: int, folds: int = 4,
                   params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The agent-embedding head on agents held out of training: the agents in ``folds`` seeded groups;
    per group a FastGRNN is fitted on the other agents (with their embeddings) and predicts the held-out
    agents of the test requests from their embeddings alone. Reported against predicting, for every
    held-out agent, the mean known agent (the mean of the per-agent head's predictions): per agent the
    AUC over requests and the log loss; per request the share of held-out agent pairs with different true
    quality that the prediction orders right (ties count half)."""
    from routerd.model.fastgrnn import FastGRNNRouter

    A = len(agents)
    groups = np.array_split(np.random.default_rng(seed).permutation(A), folds)
    pred_head = np.full(q_test.shape, np.nan)
    pred_mean = np.full(q_test.shape, np.nan)
    group_of = np.empty(A, dtype=int)
    for g, held in enumerate(groups):
        group_of[held] = g
        known = np.setdiff1d(np.arange(A), held)
        m = FastGRNNRouter(random_state=seed, **(params or {})).fit(train.x, q_train[:, known], agent_embeddings[known],
                                                  mask=train.mask, agent_names=[agents[j] for j in known])
        names = [agents[j] for j in held]
        pred_head[:, held] = m.predict_quality_named(test.x, names, agent_embeddings[held], mask=test.mask)
        pred_mean[:, held] = m.predict_quality(test.x, mask=test.mask).mean(axis=1, keepdims=True)

    def logloss(p: np.ndarray, y: np.ndarray) -> float:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    def pairs(p: np.ndarray) -> float:
        right = total = 0.0
        for g in range(folds):
            cols = np.flatnonzero(group_of == g)
            for a in range(cols.size):
                for b in range(a + 1, cols.size):
                    dy = q_test[:, cols[a]] - q_test[:, cols[b]]
                    dp = p[:, cols[a]] - p[:, cols[b]]
                    use = dy != 0
                    right += float(((np.sign(dp[use]) == np.sign(dy[use])) + 0.5 * (dp[use] == 0)).sum())
                    total += float(use.sum())
        return right / total if total else math.nan

    per_agent = {a: {"auc_head": _auc(pred_head[:, j], q_test[:, j]),
                     "auc_mean_known": _auc(pred_mean[:, j], q_test[:, j]),
                     "logloss_head": logloss(pred_head[:, j], q_test[:, j]),
                     "logloss_mean_known": logloss(pred_mean[:, j], q_test[:, j]),
                     "mean_true": float(q_test[:, j].mean()), "mean_head": float(pred_head[:, j].mean())}
                 for j, a in enumerate(agents)}
    return {"folds": [[agents[j] for j in g] for g in groups], "agents": per_agent,
            "auc_head": float(np.nanmean([v["auc_head"] for v in per_agent.values()])),
            "auc_mean_known": float(np.nanmean([v["auc_mean_known"] for v in per_agent.values()])),
            "logloss_head": logloss(pred_head, q_test), "logloss_mean_known": logloss(pred_mean, q_test),
            "pair_accuracy_head": pairs(pred_head), "pair_accuracy_mean_known": pairs(pred_mean)}


# -- RouterBench -----------------------------------------------------------------------------------

def price_report(ds: RoutingDataset, train: np.ndarray, test: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant, use_out in (("with_output_tokens", True), ("input_only", False)):
        models = fit_price_models(ds, train, use_output_tokens=use_out)
        est = estimate_costs(models, ds.agents, [ds.prompts[i] for i in test])
        per = {a: asdict(price_error(est[:, j], ds.cost[test, j])) | {
            "per_1k_input": models[a].per_1k_input_tokens, "per_1k_output": models[a].per_1k_output_tokens,
            "per_call": models[a].per_call, "typical_output_tokens": models[a].typical_output_tokens}
            for j, a in enumerate(ds.agents)}
        pooled = price_error(est, ds.cost[test])
        out[variant] = {"agents": per, "pooled": asdict(pooled), "c_hat": est}
    return out


def run_routerbench(args: argparse.Namespace, emb: CachedEmbeddings) -> dict[str, Any]:
    files = sorted((Path(args.data) / "routerbench").glob("*.csv"))
    ds = RoutingDataset.from_records(convert_routerbench(files), "routerbench")
    train, test = split(args, ds.categories)
    t0 = time.perf_counter()
    feats = features(ds, emb)
    print(f"routerbench: {len(ds)} prompts, {len(train)} train / {len(test)} test; embeddings "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    tr, te = feats.take(train), feats.take(test)
    prices = price_report(ds, train, test)
    c_hat = prices["with_output_tokens" if args.price_model == "output" else "input_only"]["c_hat"]
    q_tr, q_te, c_te = ds.quality[train], ds.quality[test], ds.cost[test]
    preds: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    task = ev.TaskAwareRouter().fit(tr.categories, q_tr)
    preds["task-aware"] = task.predict(te.categories)
    for view in args.views:
        t0 = time.perf_counter()
        knn = ev.KNNRouter().fit(tr.view(view), q_tr)
        preds[f"kNN[{view}]"] = knn.predict(te.view(view))
        info[f"kNN[{view}]"] = {"k": knn.k_, "seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        lr = ev.LogisticRouter(seed=args.seed).fit(tr.view(view), q_tr)
        preds[f"LR[{view}]"] = lr.predict(te.view(view))
        info[f"LR[{view}]"] = {"l2": lr.l2_, "seconds": time.perf_counter() - t0}
    if not args.no_fastgrnn:
        t0 = time.perf_counter()
        try:
            preds["FastGRNN"], desc = fastgrnn_predict(tr, q_tr, te, args.seed)
            info["FastGRNN"] = {"model": desc, "seconds": time.perf_counter() - t0}
        except ImportError as exc:
            info["FastGRNN"] = {"skipped": f"routerd.model.fastgrnn not available: {exc}"}
        except Exception as exc:  # an in-progress model must not take the baselines down with it
            info["FastGRNN"] = {"failed": f"{type(exc).__name__}: {exc}"}
    result = ev.evaluate(preds, c_hat, q_te, c_te, ds.agents)
    comparisons: dict[str, Any] = {}
    for name, r in result.routers.items():
        comparisons[name] = {
            other: ev.dominance_margin(r.hull, *o.hull) for other, o in result.routers.items()
            if other != name and other.startswith(("kNN", "task-aware"))}
    brier = {name: float(np.nanmean((p - q_te) ** 2)) for name, p in preds.items()}
    calibration = {name: {"ece_pairs": expected_calibration_error(np.clip(p, 0, 1), q_te),
                          "ece_chosen": ev.chosen_calibration(np.clip(p, 0, 1), c_hat, q_te)}
                   for name, p in preds.items()}
    held: dict[str, Any] | None = None
    if not args.no_fastgrnn and not args.no_heldout_agents and "FastGRNN" in preds:
        t0 = time.perf_counter()
        # An agent's description is what routerd.engine.table.capability_text makes of a dataset agent
        # (type "llm", no capabilities declared): its name, nothing more.
        e = emb.embed([f"llm {a.replace('-', ' ')}" for a in ds.agents])
        held = heldout_agents(tr, q_tr, te, q_te, ds.agents, e, args.seed)
        held["seconds"] = time.perf_counter() - t0
    return {"dataset": ds, "train": train, "test": test, "evaluation": result, "prices": prices, "info": info,
            "brier": brier, "calibration": calibration, "dominance": comparisons, "heldout_agents": held}


# -- RouteLLM --------------------------------------------------------------------------------------

def run_routellm(args: argparse.Namespace, emb: CachedEmbeddings) -> dict[str, Any]:
    mmlu = Path(args.data) / "routellm" / "mmlu" / "responses"
    ds = RoutingDataset.from_records(convert_routellm([mmlu]), "routellm-mmlu")
    strong, weak = ds.agents.index("gpt-4-1106-preview"), ds.agents.index("mistralai/Mixtral-8x7B-Instruct-v0.1")
    train, test = split(args, ds.categories)
    t0 = time.perf_counter()
    feats = features(ds, emb)
    print(f"routellm: {len(ds)} prompts, {len(train)} train / {len(test)} test; embeddings "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    tr, te = feats.take(train), feats.take(test)
    q_tr, q_te = ds.quality[train], ds.quality[test]
    scores: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    for view in args.routellm_views:
        knn = ev.KNNRouter().fit(tr.view(view), q_tr)
        p = knn.predict(te.view(view))
        scores[f"kNN[{view}]"] = p[:, strong] - p[:, weak]
        info[f"kNN[{view}]"] = {"k": knn.k_}
        lr = ev.LogisticRouter(seed=args.seed).fit(tr.view(view), q_tr)
        p = lr.predict(te.view(view))
        scores[f"LR[{view}]"] = p[:, strong] - p[:, weak]
        info[f"LR[{view}]"] = {"l2": lr.l2_}
    p = ev.TaskAwareRouter().fit(tr.categories, q_tr).predict(te.categories)
    scores["task-aware"] = p[:, strong] - p[:, weak]
    scores["random (seeded)"] = np.random.default_rng(args.seed).random(len(test))
    if not args.no_fastgrnn:
        t0 = time.perf_counter()
        try:
            p, desc = fastgrnn_predict(tr, q_tr, te, args.seed)
            scores["FastGRNN"] = p[:, strong] - p[:, weak]
            info["FastGRNN"] = {"model": desc, "seconds": time.perf_counter() - t0}
        except ImportError as exc:
            info["FastGRNN"] = {"skipped": str(exc)}
        except Exception as exc:
            info["FastGRNN"] = {"failed": f"{type(exc).__name__}: {exc}"}
    q_s, q_w = q_te[:, strong], q_te[:, weak]
    curves = {name: ev.pgr_curve(s, q_s, q_w) for name, s in scores.items()}
    optimal = ev.pgr_curve(q_s - q_w, q_s, q_w)
    return {"n": len(ds), "train": len(train), "test": len(test), "acc_strong": float(q_s.mean()),
            "acc_weak": float(q_w.mean()), "curves": curves, "optimal": optimal, "info": info}


# -- output ----------------------------------------------------------------------------------------

def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items() if k != "c_hat"}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def print_routerbench(rb: dict[str, Any]) -> None:
    result: ev.Evaluation = rb["evaluation"]
    print(f"== RouterBench (shared train files), seeded 70/30 split stratified by eval_name: "
          f"{len(rb['train'])} train / {len(rb['test'])} test ==")
    print(result.table())
    print()
    print("deterministic points (best single W within the budget):")
    for name, r in result.routers.items():
        print(f"  {name:24s} " + "  ".join(f"@{f:.0%} {ev._fmt(r.at_fraction_points[f])}" for f in result.fractions))
    print("\nBrier score of predicted quality on the test part:")
    for name, b in rb["brier"].items():
        print(f"  {name:24s} {b:.4f}   {rb['info'].get(name, '')}")
    print("\ncalibration (ECE, 15 bins) of predicted quality: every (request, agent) pair, and the agent chosen "
          "(pooled over 25 W):")
    for name, c in rb["calibration"].items():
        print(f"  {name:24s} pairs {c['ece_pairs']:.4f}  chosen {c['ece_chosen']:.4f}")
    held = rb["heldout_agents"]
    if held is not None:
        print("\nagent-embedding head on agents held out of training (4 groups; an agent's embedding is its name):")
        print(f"  mean per-agent AUC over requests: head {held['auc_head']:.4f}, mean known agent "
              f"{held['auc_mean_known']:.4f}; log loss head {held['logloss_head']:.4f}, mean known "
              f"{held['logloss_mean_known']:.4f}; per-request pair order accuracy head "
              f"{held['pair_accuracy_head']:.4f}, mean known {held['pair_accuracy_mean_known']:.4f}")
        for a, v in held["agents"].items():
            print(f"    {a:36s} AUC {v['auc_head']:.3f} vs {v['auc_mean_known']:.3f}  log loss "
                  f"{v['logloss_head']:.3f} vs {v['logloss_mean_known']:.3f}  mean true {v['mean_true']:.3f} "
                  f"predicted {v['mean_head']:.3f}")
    for name, i in rb["info"].items():
        if "skipped" in i or "failed" in i:
            print(f"  {name}: {i}")
    print("\ndominance margin of each router's hull over the kNN / task-aware hulls (>= 0: dominates):")
    for name, d in rb["dominance"].items():
        print(f"  {name:24s} " + "  ".join(f"{o} {m:+.4f}" for o, m in d.items()))
    print("\nprice models (fitted on train), routerd's estimate on the test prompts:")
    for variant, rep in rb["prices"].items():
        p = rep["pooled"]
        print(f"  {variant}: pooled MAPE {p['mape']:.3f}, median APE {p['median_ape']:.3f}, "
              f"total {p['total_relative_error']:+.4f}")
        for a, e in rep["agents"].items():
            print(f"    {a:36s} in ${e['per_1k_input']:.5f}/1k out ${e['per_1k_output']:.5f}/1k "
                  f"call ${e['per_call']:.2e} typ_out {e['typical_output_tokens']:4d}  MAPE {e['mape']:.3f} "
                  f"total {e['total_relative_error']:+.4f}")


def print_routellm(rl: dict[str, Any]) -> None:
    print(f"\n== RouteLLM MMLU: {rl['n']} prompts (contaminated excluded), {rl['train']} train / {rl['test']} test; "
          f"gpt-4 {rl['acc_strong']:.4f}, Mixtral {rl['acc_weak']:.4f} ==")
    print(f"{'router':18s} {'APGR':>7s} {'CPT(50%)':>9s} {'CPT(80%)':>9s}")
    for name, c in [*rl["curves"].items(), ("optimal", rl["optimal"])]:
        print(f"{name:18s} {c.apgr:7.4f} {ev._fmt(c.cpt[0.5], pct=True):>9s} {ev._fmt(c.cpt[0.8], pct=True):>9s}")
    print("(random's expected APGR is 0.5 exactly)", rl["info"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--views", nargs="+", default=["head", "tail", "head+tail"])
    ap.add_argument("--routellm-views", nargs="+", default=["head", "head+tail"],
                    help="the views k-NN and LR get on RouteLLM")
    ap.add_argument("--price-model", choices=["output", "input"], default="output",
                    help="the price model whose estimates the routers use")
    ap.add_argument("--cache-dir", default="/work/cache/routerd-eval")
    ap.add_argument("--routellm", action="store_true", help="also RouteLLM's MMLU (embeds 14k prompts once)")
    ap.add_argument("--no-fastgrnn", action="store_true")
    ap.add_argument("--no-heldout-agents", action="store_true", help="skip the held-out-agent head evaluation")
    ap.add_argument("--validate", action="store_true",
                    help="score on a quarter of the training part instead of the test part (for choosing settings)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--plot", default=None)
    args = ap.parse_args(argv)
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        ap.error("--plot needs matplotlib, which is not installed (pip install matplotlib)")
    emb = CachedEmbeddings(args.embedder, Path(args.cache_dir))
    rb = run_routerbench(args, emb)
    rl = run_routellm(args, emb) if args.routellm else None
    if args.plot:
        ev.plot(rb["evaluation"], args.plot)
    if args.json:
        out: dict[str, Any] = {
            "embedder": emb.name, "seed": args.seed, "split": f"{1 - args.test_fraction:.0%}/{args.test_fraction:.0%} "
            "stratified by eval_name", "routerbench": rb["evaluation"].to_json(), "prices": rb["prices"],
            "brier": rb["brier"], "calibration": rb["calibration"], "heldout_agents": rb["heldout_agents"],
            "info": rb["info"], "dominance": rb["dominance"],
            "fingerprint": rb["dataset"].fingerprint()}
        if rl is not None:
            out["routellm"] = {"acc_strong": rl["acc_strong"], "acc_weak": rl["acc_weak"], "info": rl["info"],
                               **{n: {"apgr": c.apgr, "cpt50": c.cpt[0.5], "cpt80": c.cpt[0.8]}
                                  for n, c in [*rl["curves"].items(), ("optimal", rl["optimal"])]}}
        json.dump(_clean(out), sys.stdout, indent=1)
        print()
    else:
        print(f"embedder: {emb.name}")
        print_routerbench(rb)
        if rl is not None:
            print_routellm(rl)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
