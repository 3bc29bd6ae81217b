"""What budgets cost a decision (issue 11), measured in one run as ratios, and the solvers' speed.

1. In process, 100 agents (bench_routing's), embedding given: Engine.route with three budgets that
   all apply (a global hard one, a soft one on a tag the request carries, a hard one on an agent)
   vs the same engine set-up without budgets, calls alternating between the two engines; p50, p95
   and the ratio. A budgeted decision takes the numpy path (not the compiled single-request kernel),
   reserves under the book's lock and checks its hard budgets in the commit's transaction.
2. 16 threads routing at once against one global hard budget vs none: decisions a second (the lock
   from reading the ledgers to reserving serialises budgeted routing; the commit is outside it).
3. The solvers: BatchRoute total_cost (solve_batch) on 10,000 requests x 100 agents, and
   OptimizeBudget's plan_budget on a 2,000-request mix, wall time.

Run: `python bench/bench_budgets.py` (part of `make bench`). Prints figures; nothing is asserted.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_routing import specs  # noqa: E402  (the same 100 agents as bench_routing)
from routerd.domain import BudgetSpec  # noqa: E402
from routerd.engine.engine import Engine  # noqa: E402
from routerd.engine.optimize import plan_budget, solve_batch  # noqa: E402
from routerd.engine.query import RouteQuery  # noqa: E402
from routerd.model.embedders import HashingEmbedder  # noqa: E402
from routerd.store import open_store  # noqa: E402

rng = np.random.default_rng(5)


def engine(path: Path, budgets: bool) -> Engine:
    e = Engine(open_store(f"sqlite://{path}/routerd.db"), HashingEmbedder())
    for s in specs(100):
        e.registry.register(s)
    if budgets:
        e.budgets.create(BudgetSpec("global", 1e9, "month", None, "global", "hard"))
        e.budgets.create(BudgetSpec("team", 1e9, "day", None, "tag:team", "soft"))
        e.budgets.create(BudgetSpec("one-agent", 1e9, "rolling", 3600.0, "agent:agent-007", "hard"))
    return e


def query() -> RouteQuery:
    return RouteQuery(embedding=rng.standard_normal(384).astype(np.float32), objective="balanced", tags=("team",))


def interleaved(on: Engine, off: Engine, n: int = 3000) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for i in range(n + 200):
        for e, out in ((on, a), (off, b)) if i % 2 else ((off, b), (on, a)):
            q = query()
            t0 = time.perf_counter()
            e.route(q)
            if i >= 200:
                out.append(time.perf_counter() - t0)
    return a, b


def throughput(e: Engine, seconds: float = 3.0, threads: int = 16) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def run(k: int) -> None:
        while time.monotonic() < stop:
            e.route(query())
            counts[k] += 1

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        on, off = engine(Path(d) / "on", True), engine(Path(d) / "off", False)
        a, b = interleaved(on, off)
        p50a, p50b = statistics.median(a) * 1e6, statistics.median(b) * 1e6
        p95a, p95b = float(np.percentile(a, 95) * 1e6), float(np.percentile(b, 95) * 1e6)
        print(f"Engine.route, 100 agents, 3 budgets applying vs none: p50 {p50a:.0f} vs {p50b:.0f} us "
              f"({p50a / p50b:.2f}x), p95 {p95a:.0f} vs {p95b:.0f} us")
        ta, tb = throughput(on), throughput(off)
        print(f"16 threads: {ta:.0f} vs {tb:.0f} decisions/s with vs without budgets ({ta / tb:.2f}x)")
        on.close()
        off.close()
    n, a_ = 10_000, 100
    cost = rng.uniform(1e-4, 3e-2, (n, a_)) * rng.lognormal(0, 0.5, (n, 1))
    quality = np.clip(rng.normal(0.7, 0.15, (n, a_)), 0, 1)
    feasible = rng.random((n, a_)) > 0.1
    budget = float(np.min(np.where(feasible, cost, np.inf), axis=1).sum() * 3)
    t0 = time.perf_counter()
    sol = solve_batch(cost, quality, feasible, budget)
    t1 = time.perf_counter()
    print(f"solve_batch 10000 x 100: {(t1 - t0) * 1e3:.0f} ms, spend {sol.total_cost:.4f} of {budget:.4f}, "
          f"quality {sol.total_quality / n:.4f} a request")
    m = 2000
    t0 = time.perf_counter()
    plan = plan_budget(cost[:m], quality[:m], feasible[:m], budget / n * m * 15, scale=15.0)
    t1 = time.perf_counter()
    print(f"plan_budget 2000 x 100 (x15 to the period): {(t1 - t0) * 1e3:.0f} ms, projected spend "
          f"{plan.projected_spend:.4f} of {budget / n * m * 15:.4f}, quality {plan.projected_quality:.4f} vs "
          f"proportional {plan.proportional_quality:.4f}")


if __name__ == "__main__":
    main()
