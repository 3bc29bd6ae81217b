"""Routing quality on held-out data: the shared RouterBench files (and, with --routellm, RouteLLM's MMLU).

Split: seeded, 70/30 stratified by category (RouterBench's eval_name, MMLU's subject): in each category
the rows are shuffled with ``numpy.random.default_rng(seed)`` and round(30 %) go to the test part.
Everything is fitted on the training part only (price models, k, λ, the task means, FastGRNN) and scored
on the test part with ``routerd.model.evaluation`` (the W sweep with routerd's rule, on routerd's cost
estimates from the fitted price models; true quality and cost for the score).

Embeddings: ``make_embedder("minilm")`` (hashing, with a warning, if it cannot be built), cached under
--cache-dir. A prompt is embedded twice, its head (what routerd embeds today: the text from the start,
cut by the model at 256 tokens) and its tail (the last ~800 characters, where a few-shot prompt asks its
question); short prompts have one. Views: head, tail, head+tail (concatenated); FastGRNN gets the
(head, tail) pair as a sequence of two chunk embeddings.

Routers: every single agent, random at matched cost, the cheapest-correct oracle, k-NN, per-agent
logistic regression, the task-aware router (category means), and FastGRNN when
``routerd.model.fastgrnn.FastGRNNRouter`` imports (``fastgrnn_predict`` is the hook).

Run: ``python bench/eval_routing.py [--json] [--plot curve.png] [--routellm]``. Prints figures; asserts
nothing.
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
from routerd.model.datasets import (  # noqa: E402
    RoutingDataset,
    convert_routellm,
    convert_routerbench,
    estimate_costs,
    fit_price_models,
    price_error,
)

DATA = ROOT.parent / "shared" / "data"
TAIL_CHARS = 800
HEAD_CHARS = 2000  # more than 256 tokens: the model's own truncation decides what the head is


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


def tail_of(text: str, chars: int = TAIL_CHARS) -> str:
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    space = cut.find(" ")
    return cut[space + 1:] if 0 <= space < 80 else cut


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
    """What the routers may see of each request."""

    head: np.ndarray  # (n, d)
    tail: np.ndarray  # (n, d)
    one_chunk: np.ndarray  # (n,) True where head and tail are the same text
    categories: list[str | None]

    def view(self, name: str) -> np.ndarray:
        if name == "head":
            return self.head
        if name == "tail":
            return self.tail
        if name == "head+tail":
            return np.hstack([self.head, self.tail])
        raise ValueError(f"unknown view {name!r}")

    def sequence(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, 2, d) chunk embeddings and their (n, 2) mask (one chunk: the second is padding)."""
        x = np.stack([self.head, self.tail], axis=1)
        mask = np.ones(x.shape[:2], dtype=bool)
        mask[self.one_chunk, 1] = False
        x[self.one_chunk, 1] = 0.0
        return x, mask


def features(ds: RoutingDataset, emb: CachedEmbeddings) -> Features:
    heads = [p[:HEAD_CHARS] for p in ds.prompts]
    tails = [tail_of(p) for p in ds.prompts]
    return Features(emb.embed(heads), emb.embed(tails), np.array([h == t for h, t in zip(heads, tails, strict=True)]),
                    list(ds.categories))


# -- the FastGRNN hook -----------------------------------------------------------------------------

def fastgrnn_predict(train: Features, q_train: np.ndarray, test: Features, seed: int) -> tuple[np.ndarray, str]:
    """Fit routerd's FastGRNN router on the training part and predict the test part's (n, A) quality.
    Raises ImportError while routerd.model.fastgrnn has not landed."""
    from routerd.model.fastgrnn import FastGRNNRouter

    x, m = train.sequence()
    xt, mt = test.sequence()
    model = FastGRNNRouter(random_state=seed).fit(x, q_train, mask=m)
    return np.asarray(model.predict_quality(xt, mask=mt)), repr(model)


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
    train, test = stratified_split(ds.categories, args.test_fraction, args.seed)
    t0 = time.perf_counter()
    feats = features(ds, emb)
    print(f"routerbench: {len(ds)} prompts, {len(train)} train / {len(test)} test; embeddings "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    tr = Features(feats.head[train], feats.tail[train], feats.one_chunk[train], [ds.categories[i] for i in train])
    te = Features(feats.head[test], feats.tail[test], feats.one_chunk[test], [ds.categories[i] for i in test])
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
    return {"dataset": ds, "train": train, "test": test, "evaluation": result, "prices": prices, "info": info,
            "brier": brier, "dominance": comparisons}


# -- RouteLLM --------------------------------------------------------------------------------------

def run_routellm(args: argparse.Namespace, emb: CachedEmbeddings) -> dict[str, Any]:
    mmlu = Path(args.data) / "routellm" / "mmlu" / "responses"
    ds = RoutingDataset.from_records(convert_routellm([mmlu]), "routellm-mmlu")
    strong, weak = ds.agents.index("gpt-4-1106-preview"), ds.agents.index("mistralai/Mixtral-8x7B-Instruct-v0.1")
    train, test = stratified_split(ds.categories, args.test_fraction, args.seed)
    t0 = time.perf_counter()
    x = emb.embed([p[:HEAD_CHARS] for p in ds.prompts])
    print(f"routellm: {len(ds)} prompts, {len(train)} train / {len(test)} test; embeddings "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    q_tr, q_te = ds.quality[train], ds.quality[test]
    cats_tr, cats_te = [ds.categories[i] for i in train], [ds.categories[i] for i in test]
    scores: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    knn = ev.KNNRouter().fit(x[train], q_tr)
    p = knn.predict(x[test])
    scores["kNN"] = p[:, strong] - p[:, weak]
    info["kNN"] = {"k": knn.k_}
    lr = ev.LogisticRouter(seed=args.seed).fit(x[train], q_tr)
    p = lr.predict(x[test])
    scores["LR"] = p[:, strong] - p[:, weak]
    info["LR"] = {"l2": lr.l2_}
    p = ev.TaskAwareRouter().fit(cats_tr, q_tr).predict(cats_te)
    scores["task-aware"] = p[:, strong] - p[:, weak]
    scores["random (seeded)"] = np.random.default_rng(args.seed).random(len(test))
    if not args.no_fastgrnn:
        try:
            from routerd.model.fastgrnn import FastGRNNRouter

            m = FastGRNNRouter(random_state=args.seed).fit(x[train], q_tr)
            p = np.asarray(m.predict_quality(x[test]))
            scores["FastGRNN"] = p[:, strong] - p[:, weak]
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
    ap.add_argument("--price-model", choices=["output", "input"], default="output",
                    help="the price model whose estimates the routers use")
    ap.add_argument("--cache-dir", default="/tmp/routerd-eval-cache")
    ap.add_argument("--routellm", action="store_true", help="also RouteLLM's MMLU (embeds 14k prompts once)")
    ap.add_argument("--no-fastgrnn", action="store_true")
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
            "brier": rb["brier"], "info": rb["info"], "dominance": rb["dominance"],
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
