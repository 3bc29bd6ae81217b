"""Semantic routes on CLINC150 (../shared/data/clinc150): intent accuracy with abstention, on held-out data.

Routes: one per intent, its utterances the intent's 100 ``train`` examples. The labelled data is
``val`` (3,000 in scope, 20 per intent) + ``oos_val`` (100 out of scope), split 50/50 with a seeded
shuffle stratified by label (out of scope is a label): the *fit* half (1,500 + 50) goes to fit_routes,
together with ``oos_train`` (100 more out-of-scope examples; ``--no-oos-train`` leaves them out), and
the *held-out* half (1,500 + 50) is only ever scored. Nothing is tuned on the held-out half.

Compared on the same embeddings, each with thresholds fitted on the same fit examples:
- ``fit_routes``: this project's FitRoutes (routerd/semantic/fitting.py): learned prototypes, the
  similarity blend, per-route thresholds with cross-validated shrinkage, calibrated confidence;
  objective "accuracy" with out-of-scope recall >= 0.75 on the fit examples (the target, stated as
  the constraint; ``--objective``, ``--min-out-of-scope-recall``).
- ``nearest neighbour``: the cosine to the nearest utterance, one global threshold (the one that
  maximises the objective on the fit examples).
- ``nearest centroid``: the cosine to the intent's centroid, one global threshold, likewise.
The baselines' "confidence" for the calibration error is their similarity (clipped to [0, 1]), which
is what the seed reports; fit_routes' is its calibrated probability.

Targets (DESIGN.md): in-scope accuracy >= 0.94 with out-of-scope recall >= 0.75; calibration error
<= 0.05. ``--seeds 0,1,2`` repeats the split with other seeds and reports each and the mean.

Run: ``python bench/eval_clinc150.py [--cache /tmp/clinc150-minilm.npz] [--json]``. Embeds with the
configured default embedder (all-MiniLM-L6-v2 int8) unless ``--cache`` holds the vectors already.
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

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerd.domain import RouteRecord, RouteSpec  # noqa: E402
from routerd.semantic import RouteSet, fit_routes  # noqa: E402
from routerd.semantic.calibration import evaluate, label_indices  # noqa: E402
from routerd.semantic.linear import centroids, segment_max  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "clinc150" / "clinc150_train_val.json"
PARTS = ("train", "val", "oos_train", "oos_val")


def embed_all(data: dict[str, list[list[str]]], embedder_name: str, cache: Path | None) -> tuple[dict[str, np.ndarray],
                                                                                                str, float]:
    """Vectors of every part, from ``cache`` when it has them for this embedder, else embedded now."""
    if cache is not None and cache.exists():
        z = np.load(cache, allow_pickle=False)
        if str(z["embedder"]) == embedder_name or embedder_name == "":
            return {p: z[p] for p in PARTS}, str(z["embedder"]), 0.0
    from routerd.model.embedders import make_embedder

    emb = make_embedder(embedder_name or "minilm", cache_size=0)
    t0 = time.perf_counter()
    out = {}
    for part in PARTS:
        texts = [t for t, _ in data[part]]
        out[part] = np.concatenate([emb.embed(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    seconds = time.perf_counter() - t0
    if cache is not None:
        np.savez(cache, embedder=np.array(emb.name), **out)
    return out, emb.name, seconds


def stratified_halves(labels: list[str], seed: int) -> np.ndarray:
    """True for the fit half: each label's examples shuffled with ``seed``, the first half kept."""
    rng = np.random.default_rng(seed)
    fit = np.zeros(len(labels), dtype=bool)
    arr = np.array(labels)
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(arr == lab)
        rng.shuffle(idx)
        fit[idx[: len(idx) // 2]] = True
    return fit


def global_threshold_baseline(sim_fit: np.ndarray, y_fit: np.ndarray, sim_test: np.ndarray, objective: str,
                              n_routes: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Top-1 route by ``sim`` with one threshold, the one maximising ``objective`` on the fit half.
    Returns held-out (prediction, confidence) and the threshold."""
    from routerd.semantic.calibration import confusion, macro_f1

    top_fit, s_fit = sim_fit.argmax(axis=1), sim_fit.max(axis=1)
    u = np.unique(s_fit)
    best, best_t = -1.0, 0.0
    for t in np.concatenate([[0.0], (u[:-1] + u[1:]) / 2, [1.0]]):
        pred = np.where(s_fit >= t, top_fit, -1)
        score = float((pred == y_fit).mean()) if objective == "accuracy" else \
            macro_f1(*confusion(pred, y_fit, n_routes + 1))
        if score > best:
            best, best_t = score, float(t)
    top, s = sim_test.argmax(axis=1), sim_test.max(axis=1)
    pred = np.where(s >= best_t, top, -1)
    conf = np.clip(np.where(pred >= 0, s, 1.0 - s), 0.0, 1.0)
    return pred, conf, best_t


def run(seed: int, data: dict[str, Any], vecs: dict[str, np.ndarray], embedder: str, objective: str,
        use_oos_train: bool, min_recall: float) -> dict[str, Any]:
    intents = sorted({i for _, i in data["train"]})
    train_labels = np.array([i for _, i in data["train"]])
    records = []
    for name in intents:
        idx = np.flatnonzero(train_labels == name)
        spec = RouteSpec(name=name, utterances=tuple(data["train"][k][0] for k in idx))
        records.append(RouteRecord(spec, vecs["train"][idx], embedder, 0.0, 0.0))
    routes = RouteSet(records, default_threshold=0.5)

    labels: list[str] = [i for _, i in data["val"]] + ["oos"] * len(data["oos_val"])
    x = np.concatenate([vecs["val"], vecs["oos_val"]])
    fit = stratified_halves(labels, seed)
    y_all: list[str | None] = [None if lab == "oos" else lab for lab in labels]
    x_fit, y_fit = x[fit], [y_all[i] for i in np.flatnonzero(fit)]
    if use_oos_train:
        x_fit = np.concatenate([x_fit, vecs["oos_train"]])
        y_fit = y_fit + [None] * len(data["oos_train"])
    x_test, y_test = x[~fit], [y_all[i] for i in np.flatnonzero(~fit)]
    yi_fit, yi_test = label_indices(y_fit, routes.names), label_indices(y_test, routes.names)

    t0 = time.perf_counter()
    res = fit_routes(routes, x_fit, y_fit, objective=objective, min_out_of_scope_recall=min_recall)
    fit_s = time.perf_counter() - t0
    pred, conf = res.route_set.predict(x_test)
    ours = evaluate(pred, conf, yi_test, len(routes))

    matrix = np.concatenate([r.vectors for r in records])
    starts = np.concatenate([[0], np.cumsum([len(r.vectors) for r in records])[:-1]])
    nn_fit, nn_test = segment_max(x_fit @ matrix.T, starts), segment_max(x_test @ matrix.T, starts)
    cents = centroids(matrix, starts)
    methods: dict[str, dict[str, Any]] = {"fit_routes": _metrics(ours)}
    methods["fit_routes"]["fit_seconds"] = round(fit_s, 2)
    methods["fit_routes"]["utterance_weight"] = res.utterance_weight
    methods["fit_routes"]["shrinkage"] = res.shrinkage if np.isfinite(res.shrinkage) else "inf"
    methods["fit_routes"]["global_threshold"] = round(res.global_threshold, 4)
    for name, (sf, st) in {"nearest neighbour": (nn_fit, nn_test),
                           "nearest centroid": (x_fit @ cents.T, x_test @ cents.T)}.items():
        p, c, t = global_threshold_baseline(sf, yi_fit, st, objective, len(routes))
        methods[name] = {**_metrics(evaluate(p, c, yi_test, len(routes))), "threshold": round(t, 4)}
    unfitted_pred, unfitted_conf = routes.predict(x_test)
    methods["unfitted (threshold 0.5)"] = _metrics(evaluate(unfitted_pred, unfitted_conf, yi_test, len(routes)))
    return {"seed": seed, "fit_examples": len(y_fit), "held_out_examples": len(y_test),
            "held_out_out_of_scope": int((yi_test < 0).sum()), "methods": methods}


def _metrics(m: Any) -> dict[str, Any]:
    return {k: getattr(m, k) for k in ("in_scope_accuracy", "out_of_scope_recall", "accuracy", "macro_f1",
                                       "calibration_error", "in_scope", "out_of_scope")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--cache", type=Path, default=None, help="npz of the vectors (read if present, else written)")
    ap.add_argument("--seeds", default="0", help="comma-separated split seeds")
    ap.add_argument("--objective", default="accuracy", choices=("accuracy", "f1"))
    ap.add_argument("--min-out-of-scope-recall", type=float, default=0.75,
                    help="the floor fit_routes keeps on the fit examples (default: the target, 0.75)")
    ap.add_argument("--no-oos-train", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    data = json.loads(args.data.read_text())
    vecs, embedder, embed_s = embed_all(data, args.embedder, args.cache)
    runs = [run(int(s), data, vecs, embedder, args.objective, not args.no_oos_train, args.min_out_of_scope_recall)
            for s in args.seeds.split(",")]
    report = {"embedder": embedder, "embed_seconds": round(embed_s, 1), "objective": args.objective,
              "min_out_of_scope_recall": args.min_out_of_scope_recall,
              "oos_train_in_fit": not args.no_oos_train, "split": "val + oos_val, 50/50 stratified by label",
              "runs": runs}
    if len(runs) > 1:
        report["mean"] = {m: {k: float(np.mean([r["methods"][m][k] for r in runs]))
                              for k in ("in_scope_accuracy", "out_of_scope_recall", "accuracy", "macro_f1",
                                        "calibration_error")}
                          for m in runs[0]["methods"]}
    if args.json:
        print(json.dumps(report, indent=2, default=float))
        return 0
    print(f"CLINC150, embedder {embedder}; split {report['split']}; objective {args.objective} with "
          f"out-of-scope recall >= {args.min_out_of_scope_recall} on the fit examples; oos_train in the fit set: "
          f"{report['oos_train_in_fit']}")
    head = f"{'seed':>4}  {'method':<26} {'in-scope':>8} {'oos rec':>8} {'accuracy':>8} {'macro F1':>8} {'ECE':>6}"
    print(head)
    print("-" * len(head))
    rows = [(str(r["seed"]), m, v) for r in runs for m, v in r["methods"].items()]
    if "mean" in report:
        rows += [("mean", m, v) for m, v in report["mean"].items()]
    for seed, m, v in rows:
        print(f"{seed:>4}  {m:<26} {v['in_scope_accuracy']:8.4f} {v['out_of_scope_recall']:8.4f} "
              f"{v['accuracy']:8.4f} {v['macro_f1']:8.4f} {v['calibration_error']:6.4f}")
    for r in runs:
        f = r["methods"]["fit_routes"]
        print(f"seed {r['seed']}: fit {r['fit_examples']} examples in {f['fit_seconds']} s (utterance weight "
              f"{f['utterance_weight']}, shrinkage {f['shrinkage']}, global threshold {f['global_threshold']}); "
              f"held out {r['held_out_examples']} ({r['held_out_out_of_scope']} out of scope)")
    print("targets: in-scope >= 0.94 with out-of-scope recall >= 0.75; ECE <= 0.05 "
          "(baselines' ECE: their similarity as the confidence)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
