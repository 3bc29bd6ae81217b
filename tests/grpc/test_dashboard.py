"""The dashboard against a real routerd (``routerd serve --http-listen``) after a demo-like load
(agents registered, requests routed, infeasible ones among them, outcomes recorded, a model trained
with ``routerd train``), rendered by headless Chromium (Debian's ``chromium``): a screenshot (PNG of
the window's size, in the test's tmp_path: the run's artefacts, never committed) and the numbers of
the rendered DOM equal to the JSON API's, whose summary equals Analytics.RoutingStats over gRPC.
Skipped only when chromium is not installed."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness import learning as L
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess, run_cli

CHROMIUM = shutil.which("chromium")
WINDOW = (1280, 900)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                             "(apt-get install chromium; .ci/deps installs it)")
SUMMARY_FIELDS = ("agents", "active_agents", "decisions", "outcomes", "total_spend", "mean_quality", "success_rate",
                  "open_circuits", "model_version")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        return json.loads(resp.read())


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox", f"--user-data-dir={profile}",
           "--no-first-run", "--disable-extensions", f"--window-size={WINDOW[0]},{WINDOW[1]}",
           "--virtual-time-budget=5000", *args, url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


class Dom(HTMLParser):
    """The rendered page's numbers: elements with an id, and the cells (``data-field``) of the rows
    keyed by ``data-agent``, ``data-rule`` or ``data-metric``."""

    ROW_KEYS = ("data-agent", "data-rule", "data-metric")

    def __init__(self, html: str):
        super().__init__()
        self.ids: dict[str, dict[str, str]] = {}
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self.body: dict[str, str] = {}
        self._row: tuple[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        if "id" in a:
            self.ids[a["id"]] = a
        if tag == "tr":
            self._row = next(((k, a[k]) for k in self.ROW_KEYS if k in a), None)
            if self._row is not None:
                self.rows[self._row] = {}
        elif tag == "td" and self._row is not None and "data-field" in a:
            self.rows[self._row][a["data-field"]] = a.get("data-value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None


def same(shown: str, value: Any) -> bool:
    """A data-value as the page wrote it (JS's String(number)) against the JSON API's value."""
    if value is None:
        return shown == ""
    if isinstance(value, bool) or isinstance(value, str):
        return shown == str(value)
    return float(shown) == float(value)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def load(c: Client) -> None:
    """A demo-like load: three agents, routed requests, infeasible ones (too dear, a capability no
    agent has), outcomes with latency, cost and quality, one circuit opened by failures."""
    for name, caps in (("alpha", ["alpha", "general"]), ("beta", ["beta", "general"]), ("flaky", ["flaky"])):
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent(name, capabilities=caps)), timeout=10)
    ids = []
    for i in range(24):
        d = c.router.Route(pb.RouteRequest(request=f"question {i}", constraints=pb.Constraints(
            required_capabilities=["alpha" if i % 3 else "beta"])), timeout=10)
        assert d.agent_name in ("alpha", "beta")
        ids.append(d.decision_id)
    for _ in range(4):
        assert not c.router.Route(pb.RouteRequest(request="too dear", constraints=pb.Constraints(max_cost=0.0)),
                                  timeout=10).agent_name
    for _ in range(2):
        assert not c.router.Route(pb.RouteRequest(request="nobody", constraints=pb.Constraints(
            required_capabilities=["nothing"])), timeout=10).agent_name
    for i, did in enumerate(ids[:18]):
        c.feedback.RecordOutcome(pb.RecordOutcomeRequest(decision_id=did, latency_ms=80.0 + 15 * i, success=i % 5 != 0,
                                                         cost=0.002 * (i + 1), quality=0.4 + 0.03 * i), timeout=10)
    for _ in range(6):  # opens flaky's circuit (5 failures in a row)
        c.feedback.RecordOutcome(pb.RecordOutcomeRequest(agent_name="flaky", latency_ms=900.0, success=False),
                                 timeout=10)


@needs_chromium
def test_dashboard_in_chromium_equals_the_api_and_routing_stats(tmp_path: Path) -> None:
    port = free_port()
    args = ("--http-listen", f"127.0.0.1:{port}", "--metrics-listen", "127.0.0.1:0")  # both observers at once
    with RouterdProcess(tmp_path / "routerd", extra_args=args) as proc:
        c = Client(proc.target)
        try:
            load(c)
            train = L.write(tmp_path / "train.jsonl", L.records(400, 1))
            run_cli(proc.target, "train", "--dataset", str(train), "--json", timeout=300)
            stats = c.analytics.RoutingStats(pb.RoutingStatsRequest(), timeout=10)
        finally:
            c.close()
        base = f"http://127.0.0.1:{port}"
        api = {name: get(f"{base}/api/{name}") for name in ("summary", "agents", "infeasible", "model")}
        api["timeseries"] = get(f"{base}/api/timeseries")

        shot = tmp_path / "dashboard.png"
        chromium(tmp_path, base + "/", f"--screenshot={shot}")
        assert png_size(shot) == WINDOW
        print(f"dashboard screenshot: {shot}")
        dom = Dom(chromium(tmp_path, base + "/", "--dump-dom").stdout)
        # nothing changed since: the API answers as it did before the page was rendered
        assert get(f"{base}/api/summary") == api["summary"]

    # the JSON API's summary is Analytics.RoutingStats
    s = api["summary"]
    for f in SUMMARY_FIELDS:
        want = getattr(stats, f) if f not in ("mean_quality", "success_rate") or stats.HasField(f) else None
        assert s[f] == want, f
    assert (s["decisions"], s["outcomes"], s["agents"]) == (24 + 6 + 0, 18 + 6, 5)  # + the dataset's two agents
    assert s["open_circuits"] == 1 and s["model_version"] == "fastgrnn/1"

    # the page has loaded (its fetches answered) and shows the API's numbers
    assert int(dom.body["data-loaded"]) >= 1 and "data-error" not in dom.body
    for f in SUMMARY_FIELDS:
        assert same(dom.ids[f"sum-{f}"]["data-value"], s[f]), f
    agents = {a["name"]: a for a in api["agents"]["agents"]}
    assert {k[1] for k in dom.rows if k[0] == "data-agent"} == set(agents) == {"alpha", "beta", "flaky",
                                                                              L.CHEAP, L.DEAR}
    for name, a in agents.items():
        row = dom.rows[("data-agent", name)]
        for f in ("health", "circuit_state", "requests", "success_rate", "latency_p50_ms", "latency_p95_ms",
                  "spend", "mean_quality"):
            assert same(row[f], a[f]), (name, f)
    assert agents["flaky"]["circuit_state"] == "open" and agents["flaky"]["health"] == "down"
    assert agents["alpha"]["latency_p50_ms"] is not None and agents["alpha"]["requests"] > 0
    ts = api["timeseries"]["totals"]
    assert (ts["decisions"], ts["infeasible"], ts["outcomes"]) == (30, 6, 24)
    for f in ("decisions", "infeasible", "outcomes", "spend"):
        assert same(dom.ids[f"ts-{f}"]["data-value"], ts[f]), f
    assert "svg-decisions" in dom.ids and "svg-spend" in dom.ids
    inf = api["infeasible"]
    assert inf["decisions"] == 6 and same(dom.ids["inf-decisions"]["data-value"], 6)
    shown = {k[1]: v["decisions"] for k, v in dom.rows.items() if k[0] == "data-rule"}
    assert shown == {r["rule"]: str(r["decisions"]) for r in inf["reasons"] if r["decisions"]}
    assert shown["max_cost"] == "4" and shown["missing_capability"] == "2"
    live = api["model"]["live"]
    assert live["version"] == 1 and live["status"] == "live" and "holdout_brier" in live["metrics"]
    assert same(dom.ids["model-version"]["data-value"], 1)
    curve = live["curve"]  # trained on a dataset: the held-out curve, computed at training time
    assert curve["version"] == 1 and curve["holdout_requests"] == 80  # a fifth of 400
    assert [a["name"] for a in curve["agents"]] == [L.CHEAP, L.DEAR] and len(curve["points"]) >= 2
    assert curve["points"][0]["cost"] <= curve["points"][-1]["cost"]  # from cheapest to best predicted
    assert dom.ids["svg-curve"]["data-points"] == str(len(curve["points"]))
    assert dom.ids["svg-curve"]["data-hull"] == str(len(curve["hull"]))
    metrics = {k[1]: v["value"] for k, v in dom.rows.items() if k[0] == "data-metric"}
    assert set(metrics) == set(live["metrics"])
    for k, v in live["metrics"].items():
        assert same(metrics[k], v), k


@needs_chromium
def test_dashboard_with_a_token(tmp_path: Path) -> None:
    token = "dash-token-7f3a"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    with RouterdProcess(tmp_path / "routerd", extra_args=("--http-listen", f"127.0.0.1:{port}",
                                                          "--token-file", str(token_file))) as proc:
        c = Client(proc.target, token)
        try:
            c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("solo")), metadata=c.metadata, timeout=10)
        finally:
            c.close()
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as e:
            get(base + "/api/summary")
        assert e.value.code == 401 and json.loads(e.value.read())["field"] == "authorization"
        e.value.close()
        assert get(base + "/api/summary", token)["agents"] == 1
        without = Dom(chromium(tmp_path, base + "/", "--dump-dom").stdout)
        html = chromium(tmp_path, f"{base}/#token={token}", "--dump-dom").stdout
    assert "401" in without.body.get("data-error", "") and without.body["data-loaded"] == "0"
    with_token = Dom(html)
    assert int(with_token.body["data-loaded"]) >= 1 and "data-error" not in with_token.body
    assert with_token.ids["sum-agents"]["data-value"] == "1"
    assert token not in html  # the token is sent as a header, never written into the page


def test_http_port_in_use_is_a_clear_startup_error(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "routerd", "serve", "--listen", "127.0.0.1:0", "--data-dir",
                            str(tmp_path / "routerd"), "--embedder", "hashing", "--http-listen", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1, r.stderr
    assert "http_listen" in err[0] and f"127.0.0.1:{port}" in err[0] and "in use" in err[0]
    assert "listening" not in r.stdout
    with RouterdProcess(tmp_path / "routerd") as proc:  # nothing was left locked
        assert proc.port
