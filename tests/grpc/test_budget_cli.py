"""``routerd budgets|spend|analytics|optimize-budget`` against a real routerd process (hashing embedder):
two agents added with the command line, requests routed over gRPC, and the printed tables and JSON
checked against figures computed here from the decisions routerd returned."""

from __future__ import annotations

import functools
import json
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.routerd import Client, RouterdProcess, run_cli

Cli = Callable[..., subprocess.CompletedProcess[str]]
DEAR, CHEAP = 0.10, 0.01  # cost per call (USD) of the two agents
SIX = 5.1e-7  # the tables print USD with 6 decimals


@pytest.fixture
def api(routerd: RouterdProcess) -> Iterator[Client]:
    c = Client(routerd.target)
    yield c
    c.close()


@pytest.fixture
def cli(routerd: RouterdProcess) -> Cli:
    return functools.partial(run_cli, routerd.target)


def _agents(cli: Cli) -> None:
    cli("agents", "add", "dear", "--cost-per-call", str(DEAR), "--quality", "0.95", "--latency-ms", "900")
    cli("agents", "add", "cheap", "--cost-per-call", str(CHEAP), "--quality", "0.6", "--latency-ms", "100")


def _rows(stdout: str) -> list[list[str]]:
    """The data lines of a table (after its header), split on blanks (no key has one)."""
    return [line.split() for line in stdout.splitlines()[1:]]


def _iso(t: datetime) -> str:
    return t.isoformat()


def test_budgets_and_spend(cli: Cli, api: Client) -> None:
    _agents(cli)
    monthly = json.loads(cli("budgets", "add", "monthly", "--amount", "1", "--window", "month", "--json").stdout)
    assert (monthly["name"], monthly["amount"], monthly["window"], monthly["scope"], monthly["mode"]) == \
        ("monthly", 1.0, "month", "global", "hard")
    team = json.loads(cli("budgets", "add", "team", "--amount", "0.5", "--window", "rolling", "--window-seconds",
                          "3600", "--scope", "tag:team-a", "--mode", "soft", "--json").stdout)
    assert (team["window"], team["window_seconds"], team["scope"], team["mode"]) == \
        ("rolling", 3600.0, "tag:team-a", "soft")
    cli("budgets", "add", "dear-cap", "--amount", "0.5", "--window", "total", "--scope", "agent:dear")

    listed = {r[0]: r for r in (line.split() for line in cli("budgets", "list").stdout.splitlines())}
    assert set(listed) == {"monthly", "team", "dear-cap"}
    assert listed["team"][1:6] == ["amount=0.500000", "window=rolling", "3600s", "scope=tag:team-a", "mode=soft"]
    assert listed["dear-cap"][1:5] == ["amount=0.500000", "window=total", "scope=agent:dear", "mode=hard"]
    as_json = [json.loads(line) for line in cli("budgets", "list", "--json").stdout.splitlines()]
    assert {b["name"]: b["amount"] for b in as_json} == {"monthly": 1.0, "team": 0.5, "dear-cap": 0.5}

    decisions = [api.router.Route(pb.RouteRequest(request=f"write code {i}", objective="quality",
                                                  tags=["team-a"] if i == 0 else []), timeout=10)
                 for i in range(3)]
    decisions += [api.router.Route(pb.RouteRequest(request=f"hello {i}", objective="cost"), timeout=10)
                  for i in range(2)]
    assert [d.agent_name for d in decisions] == ["dear"] * 3 + ["cheap"] * 2
    settled_cost = 0.03
    api.feedback.RecordOutcome(pb.RecordOutcomeRequest(decision_id=decisions[0].decision_id, latency_ms=850,
                                                       success=True, cost=settled_cost), timeout=10)
    # What each budget should show, from the charges routerd returned with each decision.
    settled: dict[str, float] = defaultdict(float)
    reserved: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for i, d in enumerate(decisions):
        for ch in d.charges:
            count[ch.budget] += 1
            if i == 0:
                settled[ch.budget] += settled_cost
            else:
                reserved[ch.budget] += ch.amount
    assert set(count) == {"monthly", "team", "dear-cap"} and count == {"monthly": 5, "team": 1, "dear-cap": 3}
    amounts = {"monthly": 1.0, "team": 0.5, "dear-cap": 0.5}

    now = datetime.now(UTC)
    rows = {r[0]: r for r in _rows(cli("spend").stdout)}
    assert set(rows) == set(amounts)
    for name, r in rows.items():
        amount, s, res, unrec, remaining = map(float, r[3:8])
        assert amount == pytest.approx(amounts[name], abs=SIX)
        assert s == pytest.approx(settled[name], abs=SIX) and res == pytest.approx(reserved[name], abs=SIX)
        assert unrec == 0.0
        assert remaining == pytest.approx(amounts[name] - settled[name] - reserved[name], abs=SIX)
        assert int(r[8]) == count[name]
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (month + timedelta(days=32)).replace(day=1)
    assert rows["monthly"][1:3] == [month.strftime("%Y-%m-%dT%H:%M:%SZ"), next_month.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert rows["dear-cap"][2] == "-" and rows["team"][2] == "-"  # total and rolling windows have no end
    rolling_start = datetime.fromisoformat(rows["team"][1])
    assert abs((now - timedelta(seconds=3600) - rolling_start).total_seconds()) < 60

    one = [json.loads(line) for line in cli("spend", "team", "--json").stdout.splitlines()]
    assert len(one) == 1 and one[0]["budget"] == "team" and one[0]["scope"] == "tag:team-a"
    assert one[0]["settled"] == pytest.approx(settled["team"], abs=1e-9)
    assert one[0].get("reserved", 0.0) == pytest.approx(reserved["team"], abs=1e-9)
    assert one[0]["remaining"] == pytest.approx(0.5 - settled_cost, abs=1e-9)

    # routerd's errors name the field and the command exits 1
    for args, what in ((("--amount", "-1", "--window", "day"), "INVALID_ARGUMENT: budget.amount"),
                       (("--amount", "nan", "--window", "day"), "INVALID_ARGUMENT: budget.amount"),
                       (("--amount", "1", "--window", "year"), "INVALID_ARGUMENT: budget.window"),
                       (("--amount", "1", "--window", "day", "--scope", "agent:ghost"), "budget.scope"),
                       (("--amount", "1", "--window", "day", "--mode", "maybe"), "budget.mode")):
        p = cli("budgets", "add", "bad", *args, check=False)
        assert p.returncode == 1 and what in p.stderr, (args, p.stderr)
    p = cli("budgets", "add", "monthly", "--amount", "1", "--window", "day", check=False)
    assert p.returncode == 1 and "ALREADY_EXISTS" in p.stderr
    assert not [b for b in api.budgets.ListBudgets(pb.ListBudgetsRequest(), timeout=10).budgets if b.name == "bad"]

    removed = json.loads(cli("budgets", "remove", "team", "--json").stdout)
    assert removed["budget"]["name"] == "team"
    assert {line.split()[0] for line in cli("budgets", "list").stdout.splitlines()} == {"monthly", "dear-cap"}
    p = cli("spend", "team", check=False)
    assert p.returncode == 1 and "NOT_FOUND" in p.stderr and "team" in p.stderr
    p = cli("budgets", "remove", "team", check=False)
    assert p.returncode == 1 and "NOT_FOUND" in p.stderr


def test_analytics(cli: Cli, api: Client) -> None:
    _agents(cli)
    plan = [("quality", ["a"], 800.0, 0.9, 0.12), ("quality", [], 1000.0, 0.7, None), ("quality", ["a"], None, 0, 0),
            ("cost", ["a", "b"], 100.0, 0.5, 0.02), ("cost", [], None, 0, 0)]
    decisions = []
    for i, (objective, tags, latency, quality, cost) in enumerate(plan):
        d = api.router.Route(pb.RouteRequest(request=f"request {i}", objective=objective, tags=tags), timeout=10)
        decisions.append(d)
        if latency is not None:
            out = pb.RecordOutcomeRequest(decision_id=d.decision_id, latency_ms=latency, success=True, quality=quality)
            if cost is not None:
                out.cost = cost
            api.feedback.RecordOutcome(out, timeout=10)
    # Expected per agent, from the decisions and outcomes above: an outcome with no cost is charged
    # the decision's estimate.
    spend: dict[str, float] = defaultdict(float)
    requests: dict[str, int] = defaultdict(int)
    outcomes: dict[str, int] = defaultdict(int)
    latencies: dict[str, list[float]] = defaultdict(list)
    for d, (_, _, latency, _, cost) in zip(decisions, plan, strict=True):
        requests[d.agent_name] += 1
        if latency is not None:
            outcomes[d.agent_name] += 1
            spend[d.agent_name] += d.estimated_cost if cost is None else cost
            latencies[d.agent_name].append(latency)
    assert dict(requests) == {"dear": 3, "cheap": 2}

    table = {r[0]: r for r in _rows(cli("analytics").stdout)}
    assert set(table) == {"dear", "cheap"}
    for name, r in table.items():
        assert (int(r[1]), int(r[2]), int(r[3])) == (requests[name], requests[name] - outcomes[name], outcomes[name])
        assert float(r[4]) == pytest.approx(spend[name], abs=SIX)
        lat = latencies[name]
        assert float(r[5]) == pytest.approx(sum(lat) / len(lat), abs=0.051) and float(r[6]) == max(lat)
        assert float(r[7]) == 1.0
    rows = {r["key"]: r for r in map(json.loads, cli("analytics", "--group-by", "agent", "--json").stdout.splitlines())}
    assert rows["dear"]["mean_quality"] == pytest.approx(0.8) and rows["cheap"]["mean_quality"] == pytest.approx(0.5)
    for name, r in rows.items():  # the counterfactual: the reference cost less what was spent
        assert float(table[name][9]) == pytest.approx(r["reference_cost"], abs=SIX)
        assert float(table[name][10]) == pytest.approx(r["savings"], abs=SIX)

    by_tag = {r[0]: int(r[1]) for r in _rows(cli("analytics", "--group-by", "tag", "--since", "1h").stdout)}
    assert by_tag == {"a": 3, "b": 1, "-": 2}  # "-": the decisions with no tag
    by_objective = {r[0]: int(r[1]) for r in _rows(cli("analytics", "--group-by", "objective").stdout)}
    assert by_objective == {"quality": 3, "cost": 2}
    days: dict[str, int] = defaultdict(int)  # UTC days of the decisions (two, should the test cross midnight)
    for d in decisions:
        days[d.decided_at.ToDatetime(UTC).strftime("%Y-%m-%dT00:00:00Z")] += 1
    by_day = _rows(cli("analytics", "--group-by", "day", "--since", "1w2d").stdout)
    assert {r[0]: int(r[1]) for r in by_day} == days
    assert sum(float(r[4]) for r in by_day) == pytest.approx(sum(spend.values()), abs=2 * SIX)
    now = datetime.now(UTC)
    window = ("--start", _iso(now - timedelta(hours=1)), "--end", _iso(now + timedelta(minutes=5)))
    assert sum(int(r[1]) for r in _rows(cli("analytics", *window).stdout)) == 5
    assert _rows(cli("analytics", "--start", "2001-01-01", "--end", "2001-01-02T00:00:00+02:00").stdout) == []
    assert _rows(cli("analytics", "--start", _iso(now + timedelta(days=1))).stdout) == []

    for args, code, what in ((("--group-by", "week"), 1, "INVALID_ARGUMENT: group_by"),
                             (("--since", "7x"), 2, "since"),
                             (("--since", "0d"), 2, "since"),
                             (("--since", "9" * 400 + "d"), 2, "since"),
                             (("--since", "7d", "--start", "2026-01-01"), 2, "since"),
                             (("--start", "yesterday"), 2, "start"),
                             (("--end", "0001-01-01T00:00:00Z"), 1, "INVALID_ARGUMENT: end")):
        p = cli("analytics", *args, check=False)
        assert p.returncode == code and what in p.stderr, (args, p.returncode, p.stderr)


def test_optimize_budget(cli: Cli, api: Client) -> None:
    try:
        from routerd.engine.optimize import plan_budget  # noqa: F401 - routerd's OptimizeBudget needs it
    except ImportError as e:
        pytest.skip(f"routerd.engine.optimize.plan_budget is not there yet: {e}")
    _agents(cli)
    cli("budgets", "add", "monthly", "--amount", "100", "--window", "month")
    n = 6
    for i in range(n):
        api.router.Route(pb.RouteRequest(request=f"task {i}", objective="quality" if i % 2 else "cost"), timeout=10)
    quality = {a.spec.name: a.metrics.expected_quality
               for a in api.registry.ListAgents(pb.ListAgentsRequest(), timeout=10).agents}
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=2), now + timedelta(hours=1)
    scale = 30 / ((end - start).total_seconds() / 86400)  # the mix scaled to the 30-day period
    window = ("--start", _iso(start), "--end", _iso(end))

    # A budget above what the best agent for every request costs does not bind: everything goes to dear.
    loose = scale * n * DEAR * 2
    text = cli("optimize-budget", "--budget", repr(loose), *window).stdout
    got = json.loads(cli("optimize-budget", "--budget", repr(loose), *window, "--json").stdout)
    assert "willingness_to_pay" not in got and not got.get("binding", False)
    assert got["projected_spend"] == pytest.approx(scale * n * DEAR, rel=1e-9)
    assert got["projected_quality"] == pytest.approx(quality["dear"], abs=1e-9)
    assert got["minimum_spend"] == pytest.approx(scale * n * CHEAP, rel=1e-9)
    assert int(got["mix_requests"]) == n and got["scale"] == pytest.approx(scale, rel=1e-9)
    assert text.startswith("willingness_to_pay  - (the budget is not binding")
    assert f"spend {scale * n * DEAR:.6f} USD, quality {quality['dear']:.4f} over 30 days" in text
    assert f"spend {got['proportional_spend']:.6f} USD, quality {got['proportional_quality']:.4f}" in text
    alloc = {r[0]: r[1:] for r in (line.split() for line in text.splitlines()[text.splitlines().index(
        next(line for line in text.splitlines() if line.startswith("agent "))) + 1:])}
    assert set(alloc) == {"dear"}
    assert [float(x) for x in alloc["dear"]] == pytest.approx([scale * n, scale * n * DEAR, 1.0, quality["dear"]],
                                                              abs=0.006)

    # A budget between the cheapest and the best routing binds, and is stored on "monthly" with --apply-to.
    tight = scale * n * (DEAR + CHEAP) / 2
    args = ("optimize-budget", "--budget", repr(tight), "--period-days", "30", "--quality-threshold", "0.5",
            "--apply-to", "monthly", *window)
    got = json.loads(cli(*args, "--json").stdout)
    assert got["binding"] and got["feasible"] and got["applied_to_budget"] == "monthly"
    wtp = got["willingness_to_pay"]
    assert wtp > 0 and got["minimum_spend"] - 1e-9 <= got["projected_spend"] <= tight + 1e-9
    assert sum(a["spend"] for a in got["allocations"]) == pytest.approx(got["projected_spend"], rel=1e-9)
    assert sum(a["requests"] for a in got["allocations"]) == pytest.approx(scale * n, rel=1e-9)
    stored = [b for b in map(json.loads, cli("budgets", "list", "--json").stdout.splitlines())
              if b["name"] == "monthly"]
    assert stored[0]["willingness_to_pay"] == pytest.approx(wtp, rel=1e-12)
    text = cli(*args).stdout
    assert text.startswith(f"willingness_to_pay  {wtp:.6g} USD per +1.0 of expected quality")
    assert "applied to budget   monthly" in text

    # Thresholds leave agents out: above cheap's quality only dear is eligible, whose spend is then the minimum.
    got = json.loads(cli("optimize-budget", "--budget", repr(loose), "--quality-threshold",
                         repr((quality["cheap"] + quality["dear"]) / 2), *window, "--json").stdout)
    assert got["minimum_spend"] == pytest.approx(scale * n * DEAR, rel=1e-9)
    got = json.loads(cli("optimize-budget", "--budget", repr(loose), "--latency-threshold-ms", "500", *window,
                         "--json").stdout)
    assert [a["agent_name"] for a in got["allocations"]] == ["cheap"]
    # Below the cheapest routing the budget cannot be met, and the plan says so.
    text = cli("optimize-budget", "--budget", repr(scale * n * CHEAP / 2), *window).stdout
    assert text.startswith("willingness_to_pay  - (the budget is below the minimum spend")
    assert f"minimum spend       {scale * n * CHEAP:.6f} USD (the budget cannot meet it)" in text

    for bad, code, what in ((("--budget", "0"), 1, "INVALID_ARGUMENT: budget"),
                            (("--budget", "1", "--period-days", "0"), 1, "INVALID_ARGUMENT: period_days"),
                            (("--budget", "1", "--quality-threshold", "1.5"), 1, "quality_threshold"),
                            (("--budget", "1", "--apply-to", "nope"), 1, "NOT_FOUND"),
                            (("--budget", "1", "--start", "2001-01-01", "--end", "2001-01-02"), 1, "mix is empty"),
                            (("--budget", "1", "--since", "soon"), 2, "since")):
        p = cli("optimize-budget", *bad, check=False)
        assert p.returncode == code and what in p.stderr, (bad, p.returncode, p.stderr)
