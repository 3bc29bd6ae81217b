"""The learned model end to end, as a user runs it: the shared RouterBench files through the product's
own commands against a real routerd (MiniLM embedder), scored on a held-out split.

1. ``routerd dataset convert routerbench ../shared/data/routerbench/*_train.csv``;
2. a seeded 70/30 split stratified by category (the split of bench/eval_routing.py), written as two
   routing-dataset files;
3. ``routerd train --dataset train.jsonl`` (routerd registers the agents with fitted prices, trains,
   shadow-evaluates and promotes);
4. ``routerd eval --dataset test.jsonl --json --plot`` (the live model's curve next to every single
   agent, random, the oracle and the k-NN / logistic / task-aware routers cross-fitted on the test
   part) — so the baselines see held-out data the model never did, which favours them;
5. ``routerd route-batch test.jsonl --willingness-to-pay W`` at three operating points of the curve,
   scored with the dataset's true quality and cost, next to the evaluation's figures for that W.

Run: ``python bench/eval_product.py [--keep DIR]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.eval_routing import stratified_split  # noqa: E402
from tests.harness.routerd import RouterdProcess  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "routerbench"
TEST_FRACTION = 0.3


def routerd(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "routerd", *args, "--target", target], capture_output=True, text=True)
    if p.returncode not in (0, 3):
        raise SystemExit(f"routerd {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def split(records: list[dict], seed: int = 0) -> tuple[list[dict], list[dict]]:
    """bench/eval_routing.py's split, so the two reports hold out the same prompts."""
    train, test = stratified_split([r.get("category") for r in records], TEST_FRACTION, seed)
    return [records[i] for i in train], [records[i] for i in test]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="keep the data dir, datasets and plot here")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"no shared RouterBench files at {DATA}: skipped")
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="td-eval-product-"))
    work.mkdir(parents=True, exist_ok=True)
    all_file = work / "routerbench.jsonl"
    conv = subprocess.run([sys.executable, "-m", "routerd", "dataset", "convert", "routerbench",
                           *map(str, sorted(DATA.glob("*_train.csv"))), "--out", str(all_file)],
                          capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in all_file.read_text().splitlines()]
    train, test = split(records)
    (work / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (work / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    print(f"RouterBench (shared train files): {conv.stderr.strip()}; {len(train)} train / {len(test)} held out")
    with RouterdProcess(work / "routerd", extra_args=("--embedder", "minilm")) as proc:
        t = time.perf_counter()
        trained = routerd(proc.target, "train", "--dataset", str(work / "train.jsonl"), "--json")
        rec = json.loads(trained.stdout)
        m = rec["metrics"]
        print(f"routerd train: {rec['name']} {rec['status']} in {time.perf_counter() - t:.0f} s "
              f"(embedding {m['embed_seconds']:.1f} s, fitting {m['fit_seconds']:.1f} s, "
              f"{int(m.get('epochs', 0))} epochs); "
              f"held-out Brier {m['holdout_brier']:.4f} vs observed quality {m['current_brier']:.4f}, "
              f"log loss {m['holdout_log_loss']:.4f} vs {m['current_log_loss']:.4f}, ECE {m['holdout_ece']:.4f}; "
              f"{rec['reason']}")
        t = time.perf_counter()
        out = routerd(proc.target, "eval", "--dataset", str(work / "test.jsonl"), "--json",
                      "--plot", str(work / "curve.png"))
        report = json.loads(out.stdout)
        print(f"routerd eval on the held-out part ({report['requests']} requests, {time.perf_counter() - t:.0f} s; "
              f"calibration error of confidence {report['calibration_error']:.4f}; plot {work / 'curve.png'}):")
        best = report["best_agent"]
        best_cost = next(a["cost"] for a in report["single_agents"] if a["name"] == best)
        print(f"  {'router':34s} {'AUC':>6s} " + " ".join(f"{'@' + format(f, '.0%'):>6s}" for f in report["fractions"])
              + f" {'match ' + best:>26s} {'dom.':>7s}")
        for r in report["routers"]:
            at = " ".join(f"{a['quality']:6.4f}" if "quality" in a else "     -" for a in r["at_fraction"])
            match = f"{r['cost_to_match_best']:.1%}" if "cost_to_match_best" in r else "never"
            dom = f"{r['dominance_margin']:+.3f}" if "dominance_margin" in r else "-"
            print(f"  {r['name']:34s} {r['auc']:6.4f} {at} {match:>26s} {dom:>7s}")
        for a in sorted(report["single_agents"], key=lambda a: a["cost"]):
            print(f"    single {a['name']:40s} quality {a['quality']:.4f}  cost {a['cost'] / best_cost:7.2%} of {best}")
        model = next(r for r in report["routers"] if r["name"] == rec["name"])
        points = [p for p in model["points"] if "willingness_to_pay" in p]
        by_id = {r.get("id"): r for r in test}
        for p in (points[len(points) // 4], points[len(points) // 2], points[3 * len(points) // 4]):
            w = p["willingness_to_pay"]
            lines = routerd(proc.target, "route-batch", str(work / "test.jsonl"), "--willingness-to-pay", repr(w),
                            "--json").stdout.splitlines()
            ds = [json.loads(line) for line in lines]
            cost = np.mean([r["agents"][d["agent_name"]]["cost"] for r, d in zip(test, ds, strict=True)])
            qual = np.mean([r["agents"][d["agent_name"]]["quality"] for r, d in zip(test, ds, strict=True)])
            print(f"  route-batch at W={w:.4g}: accuracy {qual:.4f} at {cost / best_cost:.1%} of {best}'s cost "
                  f"(eval's point: {p['quality']:.4f} at {p['cost'] / best_cost:.1%})")
        del by_id
    if not args.keep:
        print(f"(work files in {work}; pass --keep DIR to choose where)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
