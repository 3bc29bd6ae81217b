"""The dashboard's summary equals ``tinydancer.stats`` through SQL: a real routerd with
``--http-listen``, a load made through the foreign tables (agents, routed and infeasible decisions,
outcomes), then /api/summary next to the one row of tinydancer.stats."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.harness.agents import SQL_AGENTS
from tests.harness.cluster import PgCluster
from tests.harness.routerd import RouterdProcess
from tests.harness.sql import SQL

pytestmark = pytest.mark.postgres


def test_summary_equals_tinydancer_stats(installed: PgCluster, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with RouterdProcess(tmp_path / "routerd", extra_args=("--http-listen", f"127.0.0.1:{port}")) as proc:
        sql = SQL(installed, proc)
        try:
            sql.q(SQL_AGENTS)
            routed = sql.dicts("SELECT decision_id, agent_name FROM tinydancer.decisions "
                               "WHERE request = ANY(%s) AND optimize_for = 'cost'",
                               ([f"request {i}" for i in range(20)],))
            assert len(routed) == 20 and all(r["agent_name"] for r in routed)
            infeasible = sql.dicts("SELECT agent_name FROM tinydancer.decisions WHERE request = 'too dear' "
                                   "AND max_cost = 0")
            assert [r["agent_name"] for r in infeasible] == [None]
            values = ", ".join(f"('{r['decision_id']}', {100 + 10 * i}, {str(i % 4 != 0).lower()}, 0.5, {0.001 * i})"
                               for i, r in enumerate(routed[:12]))
            sql.q(f"INSERT INTO tinydancer.outcomes (decision_id, latency_ms, success, quality, cost) VALUES {values}")
            stats = sql.dicts("SELECT * FROM tinydancer.stats")[0]
        finally:
            sql.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=10) as resp:
            summary = json.loads(resp.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/infeasible", timeout=10) as resp:
            assert json.loads(resp.read())["decisions"] == 1
    assert summary == stats
    assert (summary["agents"], summary["decisions"], summary["outcomes"]) == (4, 21, 12)
