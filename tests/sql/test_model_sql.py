"""The learned model in SQL end to end (issue 10): real PostgreSQL with the bridge, the install scripts and a
real routerd (the hashing embedder). Outcomes are recorded through SQL for requests routed through
tinydancer.decisions, tinydancer.train_model() trains from them (detached), tinydancer.model shows each
version, promote_model / rollback_model change what tinydancer.decisions' model_version says, and every
failure is an ERROR with a HINT. The README's ```sql model block runs here too."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from tests.harness import learning as L
from tests.harness.sql import SQL

ROOT = Path(__file__).resolve().parents[2]
AGENTS = f"""
INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_call, latency_prior_ms, quality_score)
VALUES ('{L.CHEAP}', 'llm', '{{translate}}', {L.CHEAP_COST}, 200, 0.5),
       ('{L.DEAR}', 'llm', '{{translate,reasoning}}', {L.DEAR_COST}, 900, 0.9)
"""
FINAL = ("live", "candidate", "rejected", "failed")
METRICS = {"holdout_brier", "holdout_log_loss", "holdout_ece", "current_brier", "current_log_loss", "n_train",
           "n_holdout", "epochs", "best_epoch", "train_seconds"}


def record_outcomes(sql: SQL, n: int = 400, seed: int = 11) -> None:
    """The two agents, and n decisions routed through tinydancer.decisions with an outcome each (recorded
    through tinydancer.outcomes): half of them forced to each agent (excluded_agents), both kinds of
    request for both, the quality drawn from tests/harness/learning.py's truth. The outcomes are recorded
    in an interleaved order: the most recent decisions (by outcome) are the held-out ones."""
    sql.q(AGENTS)
    rng = np.random.default_rng(seed)
    asked: list[tuple[str, str, float]] = []  # (agent, text, quality), interleaved
    seen: set[str] = set()
    i = 0
    while len(seen) < n:
        kind = "translate" if i % 2 else "proof"
        agent = L.CHEAP if i % 4 in (0, 1) else L.DEAR
        i += 1
        text = L.prompt(kind, rng)
        if text in seen:
            continue
        seen.add(text)
        asked.append((agent, text, float(rng.random() < L.QUALITY[(agent, kind)])))
    ids: dict[str, str] = {}
    for agent, other in ((L.CHEAP, L.DEAR), (L.DEAR, L.CHEAP)):
        texts = [t for a, t, _ in asked if a == agent]
        rows = sql.q("SELECT request, decision_id, agent_name FROM tinydancer.decisions "
                     "WHERE request = ANY(%s) AND excluded_agents = %s", (texts, [other]))
        assert len(rows) == len(texts) and {a for _, _, a in rows} == {agent}
        ids.update({r: d for r, d, _ in rows})
    sql.q("INSERT INTO tinydancer.outcomes (decision_id, latency_ms, success, quality) "
          "SELECT d, 100, true, q FROM unnest(%s::text[], %s::float8[]) WITH ORDINALITY u(d, q, i) ORDER BY i",
          ([ids[t] for _, t, _ in asked], [q for _, _, q in asked]))
    assert sql.one("SELECT outcomes FROM tinydancer.stats") == n


def wait_final(sql: SQL, version: int, timeout: float = 120.0) -> dict[str, Any]:
    """Poll tinydancer.model until the version's status is final."""
    deadline = time.monotonic() + timeout
    while True:
        (row,) = sql.dicts("SELECT * FROM tinydancer.model WHERE version = %s", (version,))
        if row["status"] != "training":
            assert row["status"] in FINAL and row["training"] is False and row["finished_at"] is not None, row
            return row
        assert row["training"] is True, row
        assert time.monotonic() < deadline, f"model version {version} still training after {timeout}s"
        time.sleep(0.1)


def model_version(sql: SQL) -> str:
    return str(sql.one("SELECT model_version FROM tinydancer.decisions WHERE request = 'Translate into French: "
                       "the house'"))


def choices(sql: SQL, kind: str, n: int = 10, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = list(dict.fromkeys(L.prompt(kind, rng) for _ in range(n)))
    return [a for (a,) in sql.q("SELECT agent_name FROM tinydancer.decisions WHERE request = ANY(%s)", (texts,))]


def error(sql: SQL, statement: str, params: object = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        sql.q(statement, params)
    assert sql.one("SELECT 1") == 1  # the session goes on
    return info.value


# -- train, read, promote, roll back ---------------------------------------------------------------------

def test_train_from_outcomes_then_promote_and_roll_back_through_sql(sql: SQL) -> None:
    assert sql.q("SELECT * FROM tinydancer.model") == []
    record_outcomes(sql)
    before = model_version(sql)
    assert before.startswith("observed-quality/")
    t0 = time.monotonic()
    v1 = sql.one("SELECT tinydancer.train_model()")
    assert time.monotonic() - t0 < 2.0  # detached: the statement does not wait for the training
    assert v1 == 1
    m = wait_final(sql, v1)
    assert m["status"] == "live" and m["live"] is True, m["reason"]
    assert (m["name"], m["source"], m["dim"], m["parent"]) == ("fastgrnn/1", "outcomes", 384, None)
    assert m["embedder"].startswith("hashing") and m["features"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", m["fingerprint"])
    assert sorted(m["agents"]) == [L.CHEAP, L.DEAR]
    assert isinstance(m["metrics"], dict) and METRICS <= set(m["metrics"]), m["metrics"]  # jsonb
    assert m["metrics"]["n_train"] + m["metrics"]["n_holdout"] == 400
    assert m["metrics"]["holdout_brier"] < m["metrics"]["current_brier"]
    assert m["created_at"] <= m["finished_at"] and m["promoted_at"] is not None and "beats" in m["reason"]
    # the metrics are queryable as jsonb
    assert sql.one("SELECT (metrics->>'n_holdout')::float8 FROM tinydancer.model WHERE live") == \
        m["metrics"]["n_holdout"]
    # routing now uses it: each kind goes to the agent that is good at it, the cheap one where it is
    assert model_version(sql) == "fastgrnn/1"
    assert choices(sql, "translate").count(L.CHEAP) >= 8 and choices(sql, "proof").count(L.DEAR) >= 8

    # a second version, promoted by hand whatever its own evaluation said
    v2 = sql.one("SELECT tinydancer.train_model(holdout_fraction => 0.25, seed => 3)")
    assert v2 == 2
    m2 = wait_final(sql, v2)
    assert m2["status"] in ("live", "rejected") and m2["parent"] == 1, m2
    promoted = sql.dicts("SELECT * FROM tinydancer.promote_model(%s)", (v2,))
    assert [(p["version"], p["status"], p["live"], p["training"]) for p in promoted] == [(2, "live", True, False)]
    assert promoted[0]["promoted_at"] is not None and promoted[0]["metrics"] == m2["metrics"]
    assert model_version(sql) == "fastgrnn/2"
    assert sql.q("SELECT version, status, live FROM tinydancer.model ORDER BY version") == [
        (1, "retired", False), (2, "live", True)]
    assert sql.one("SELECT count(*) FROM tinydancer.model WHERE training") == 0
    # promoting the live version again changes nothing
    assert sql.one("SELECT (tinydancer.promote_model(2)).status") == "live"

    # roll back: version 1 again, then no model (each agent's observed quality), then nothing to roll back
    assert sql.one("SELECT tinydancer.rollback_model()") == 1
    assert model_version(sql) == "fastgrnn/1"
    assert sql.q("SELECT version, status FROM tinydancer.model ORDER BY version") == [(1, "live"), (2, "rolled_back")]
    assert sql.one("SELECT tinydancer.rollback_model()") is None
    assert model_version(sql) == before
    assert sql.q("SELECT version FROM tinydancer.model WHERE live") == []
    e = error(sql, "SELECT tinydancer.rollback_model()")
    assert e.sqlstate == "55000" and "nothing to roll back" in str(e)
    assert e.diag.message_hint and "tinydancer.promote_model(version)" in e.diag.message_hint
    # the actions table directly: RETURNING says what happened
    (row,) = sql.dicts("INSERT INTO tinydancer.model_actions (action, version) VALUES ('promote', 2) RETURNING *")
    assert (row["action"], row["version"], row["status"]) == ("promote", 2, "live") and "fastgrnn/2" in row["message"]
    assert model_version(sql) == "fastgrnn/2"


def test_the_model_table_plans_as_small_and_pushes_the_version_down(sql: SQL) -> None:
    plan = "\n".join(r for (r,) in sql.q("EXPLAIN SELECT * FROM tinydancer.model"))
    assert "rows=20 " in plan
    plan = "\n".join(r for (r,) in sql.q("EXPLAIN SELECT * FROM tinydancer.model WHERE version = 3"))
    assert "rows=1 " in plan
    assert sql.q("SELECT * FROM tinydancer.model WHERE version = 3") == []  # ModelInfo: NOT_FOUND is no row
    assert sql.q("SELECT * FROM tinydancer.model WHERE version = 0 OR live") == []


# -- errors -------------------------------------------------------------------------------------------

def test_errors_name_the_version_or_the_field_with_a_hint(sql: SQL) -> None:
    e = error(sql, "SELECT tinydancer.promote_model(42)")
    assert e.sqlstate == "42704" and "no model version 42" in str(e)
    assert e.diag.message_hint and "version" in e.diag.message_hint and "tinydancer.model" in e.diag.message_hint
    e = error(sql, "SELECT tinydancer.promote_model(NULL)")
    assert e.sqlstate == "22004" and e.diag.message_hint and "tinydancer.model" in e.diag.message_hint
    e = error(sql, "SELECT tinydancer.rollback_model()")  # no model was ever live
    assert e.sqlstate == "55000" and e.diag.message_hint and "promote_model" in e.diag.message_hint
    e = error(sql, "SELECT tinydancer.train_model(holdout_fraction => 0.9)")
    assert e.sqlstate == "22023" and "holdout_fraction" in str(e)
    assert e.diag.message_hint and e.diag.message_hint.startswith("holdout_fraction is")
    e = error(sql, "INSERT INTO tinydancer.model_actions (action, hyperparameters) VALUES ('train', '{\"epoch\": 3}')")
    assert e.sqlstate == "22023" and "hyperparameters.epoch" in str(e)
    assert e.diag.message_hint and "epochs" in e.diag.message_hint
    e = error(sql, "INSERT INTO tinydancer.model_actions (action) VALUES ('retrain')")
    assert "unknown action" in str(e) and e.diag.message_hint and "'train'" in e.diag.message_hint
    # an empty outcome log: the training starts, then fails in the background with the reason
    v = sql.one("SELECT tinydancer.train_model()")
    m = wait_final(sql, v)
    assert m["status"] == "failed" and "training needs at least 8" in m["reason"] and m["live"] is False
    e = error(sql, "SELECT tinydancer.promote_model(%s)", (v,))
    assert e.sqlstate == "55000" and "failed" in str(e) and e.diag.message_hint and "reason" in e.diag.message_hint
    # the tables say what they are for
    e = error(sql, "UPDATE tinydancer.model SET status = 'live' WHERE version = 1")
    assert e.sqlstate == "0A000" and "read-only" in str(e) and "promote_model" in (e.diag.message_hint or "")
    e = error(sql, "SELECT * FROM tinydancer.model_actions")
    assert e.sqlstate == "0A000" and "write-only" in str(e) and "tinydancer.model" in (e.diag.message_hint or "")
    # an action is a write: refused in a read-only transaction, before routerd is called
    before = sql.q("SELECT version FROM tinydancer.model")
    sql.q("BEGIN READ ONLY")
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            sql.q("SELECT tinydancer.train_model()")
    finally:
        sql.q("ROLLBACK")
    assert sql.q("SELECT version FROM tinydancer.model") == before


def test_a_second_training_while_one_runs_is_an_error_with_a_hint_to_wait(sql: SQL) -> None:
    """Not timing-dependent in practice: the first training is made long (thousands of epochs, no early
    stop: tens of seconds), and that it still runs is checked before and after the second attempt."""
    record_outcomes(sql, n=400)
    (long,) = sql.dicts("INSERT INTO tinydancer.model_actions (action, hyperparameters, no_promote) "
                        "VALUES ('train', '{\"epochs\": 5000, \"patience\": 5000}', true) RETURNING *")
    assert long["status"] == "training" and long["no_promote"] is True
    assert sql.q("SELECT version, training FROM tinydancer.model WHERE training") == [(long["version"], True)]
    e = error(sql, "SELECT tinydancer.train_model()")
    assert e.sqlstate == "55000" and f"model version {long['version']} is training" in str(e)
    hint = e.diag.message_hint or ""
    assert "wait" in hint and "tinydancer.model" in hint and "training" in hint
    assert sql.q("SELECT version, status FROM tinydancer.model") == [(long["version"], "training")]  # nothing new


# -- who may do it ------------------------------------------------------------------------------------

def test_readers_see_the_model_writers_change_it(sql: SQL) -> None:
    reader, writer = "td_model_reader", "td_model_writer"
    for role, group in ((reader, "tinydancer_reader"), (writer, "tinydancer_writer")):
        sql.q(f"DROP ROLE IF EXISTS {role}")
        sql.q(f"CREATE ROLE {role}")
        sql.q(f"GRANT {group} TO {role}")
    try:
        sql.q(f"SET ROLE {reader}")
        assert sql.q("SELECT version FROM tinydancer.model") == []
        for statement, what in (("SELECT tinydancer.train_model()", "function train_model"),
                                ("SELECT tinydancer.promote_model(1)", "function promote_model"),
                                ("SELECT tinydancer.rollback_model()", "function rollback_model"),
                                ("INSERT INTO tinydancer.model_actions (action) VALUES ('rollback')",
                                 "foreign table model_actions")):
            e = error(sql, statement)
            assert e.sqlstate == "42501" and f"permission denied for {what}" in str(e), (statement, e)
        sql.q(f"SET ROLE {writer}")
        v = sql.one("SELECT tinydancer.train_model()")  # an empty log: it fails, but the writer may start it
        assert wait_final(sql, v)["status"] == "failed"
    finally:
        sql.q("RESET ROLE")
        for role in (reader, writer):
            sql.q(f"DROP OWNED BY {role}")
            sql.q(f"DROP ROLE {role}")


# -- the README ---------------------------------------------------------------------------------------

def readme_model_statements() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sql model\n(.*?)^```", text, re.M | re.S)
    body = "\n".join(line for b in blocks for line in b.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";[ \t]*(?:\n|$)", body) if s.strip()]


def test_the_readmes_model_sql_runs(sql: SQL) -> None:
    statements = readme_model_statements()
    assert any("train_model" in s for s in statements) and any("promote_model" in s for s in statements)
    record_outcomes(sql)
    for s in statements:
        rows = sql.q(s)
        if "train_model()" in s:
            (v,) = rows[0]
            wait_final(sql, v)
    assert sql.q("SELECT count(*) FROM tinydancer.model") == [(1,)]
