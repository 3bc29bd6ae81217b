"""A SQL statement followed into routerd: the FDW sends one x-request-id per statement (every call of
the statement shares it, the next statement gets another), routerd logs it on each RPC line of its
JSON log and stores it with each decision."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routerd.store.base import open_store
from tests.harness.agents import SQL_AGENTS
from tests.harness.cluster import PgCluster
from tests.harness.routerd import RouterdProcess
from tests.harness.sql import SQL


@pytest.fixture
def json_routerd(tmp_path: Path) -> Iterator[RouterdProcess]:
    with RouterdProcess(tmp_path / "routerd", extra_args=("--log-format", "json")) as proc:
        yield proc


def rpc_lines(proc: RouterdProcess) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in proc.stderr_path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "routerd.rpc"]


def test_one_request_id_per_statement(installed: PgCluster, json_routerd: RouterdProcess) -> None:
    sql = SQL(installed, json_routerd)
    try:
        pid = sql.one("SELECT pg_backend_pid()")
        sql.q(SQL_AGENTS)
        joined = sql.dicts("SELECT d.request, d.decision_id FROM (VALUES ('one'), ('two'), ('three')) r(body) "
                           "JOIN tinydancer.decisions d ON d.request = r.body")
        single = sql.dicts("SELECT decision_id FROM tinydancer.decisions WHERE request = 'alone'")
        sql.q("INSERT INTO tinydancer.outcomes (decision_id, latency_ms, success) VALUES "
              f"('{joined[0]['decision_id']}', 100, true), ('{joined[1]['decision_id']}', 120, false)")
    finally:
        sql.close()
    assert len(joined) == 3 and len(single) == 1
    json_routerd.stop()
    lines = rpc_lines(json_routerd)
    ours = [line for line in lines if str(line.get("request_id", "")).startswith(f"pg-{pid}-")]
    assert all(re.fullmatch(rf"pg-{pid}-\d+-[0-9a-f]{{8}}", line["request_id"]) for line in ours)
    by_method: dict[str, set[str]] = {}
    for line in ours:
        by_method.setdefault(line["method"].rsplit("/", 1)[1], set()).add(line["request_id"])
    outcome_ids = by_method["RecordOutcome"]
    assert len(outcome_ids) == 1  # two rows of one INSERT: one statement, one id
    assert len([line for line in ours if line["method"].endswith("/RecordOutcome")]) == 2
    store = open_store(f"sqlite://{json_routerd.data_dir / 'routerd.db'}")
    try:
        stored = {r["decision_id"]: store.get_decision(r["decision_id"]) for r in (*joined, *single)}
    finally:
        store.close()
    join_ids = {stored[r["decision_id"]].request_id for r in joined}  # type: ignore[union-attr]
    single_id = stored[single[0]["decision_id"]].request_id  # type: ignore[union-attr]
    assert len(join_ids) == 1, join_ids  # every call of the join's statement shares one id
    (join_id,) = join_ids
    assert join_id is not None and join_id.startswith(f"pg-{pid}-")
    assert single_id is not None and single_id != join_id and single_id not in outcome_ids
    assert join_id not in outcome_ids
    # the routing calls of each statement are in routerd's log under its id
    assert any(line["request_id"] == join_id and "Route" in line["method"] for line in ours)
    assert any(line["request_id"] == single_id and line["method"].endswith("/Route") for line in ours)
