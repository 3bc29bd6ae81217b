"""Budgets, analytics and several agents in SQL end to end (issue 11): real PostgreSQL with the bridge, the
install scripts and a real routerd. tinydancer.budgets / spend / decision_cancellations, the tags and
charges of tinydancer.decisions, tinydancer.analytics and decision_log (checked row by row against the
same aggregates computed in plain SQL from tinydancer.outcomes and tinydancer.decision_log),
tinydancer.route_multi, budget_plan and batch_routes, and the seed-compatible ruvector_routing_analytics,
ruvector_optimize_budget, ruvector_batch_route and ruvector_route_multi. Every bad input is an ERROR
naming the field, with a HINT."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.harness.sql import SQL

# Prices per call, so every estimate is exact: cheap (0.001), mid (0.01), dear (0.05).
AGENTS = """
INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_call, latency_prior_ms, quality_score, metadata)
VALUES ('cheap', 'llm', '{summarize}', 0.001, 200, 0.6, '{"provider": "a"}'),
       ('mid', 'llm', '{summarize,code}', 0.01, 500, 0.8, '{"provider": "b"}'),
       ('dear', 'llm', '{code,deploy,reasoning}', 0.05, 1500, 0.95, '{"provider": "c"}')
"""
COST = {"cheap": 0.001, "mid": 0.01, "dear": 0.05}


def error(sql: SQL, statement: str, params: object = None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        sql.q(statement, params)
    assert sql.one("SELECT 1") == 1  # the session goes on
    return info.value


def hint(e: psycopg.Error) -> str:
    return e.diag.message_hint or ""


def route(sql: SQL, text: str, **inputs: Any) -> dict[str, Any]:
    where = " AND ".join(["request = %s", *(f"{k} = %s" for k in inputs)])
    (row,) = sql.dicts(f"SELECT * FROM tinydancer.decisions WHERE {where}", (text, *inputs.values()))
    return row


# -- decisions: tags and charges ----------------------------------------------------------------------------

def test_decisions_take_tags_and_show_charges(sql: SQL) -> None:
    sql.q(AGENTS)
    d = route(sql, "summarize this", optimize_for="cost", tags=["team-a", "nightly"])
    assert d["agent_name"] == "cheap" and d["tags"] == ["team-a", "nightly"] and d["charges"] == []
    assert sql.one("SELECT tags FROM tinydancer.decision_log WHERE decision_id = %s", (d["decision_id"],)) == [
        "team-a", "nightly"]
    d = route(sql, "summarize that", optimize_for="cost")
    assert d["tags"] is None and d["charges"] == []
    # a bad tag names the field, with a hint
    e = error(sql, "SELECT * FROM tinydancer.decisions WHERE request = 'x' AND tags = '{\"has space\"}'")
    assert e.sqlstate == "22023" and "tags[0]" in str(e) and hint(e).startswith("tags are at most 32")
    e = error(sql, "SELECT * FROM tinydancer.decisions WHERE request = 'x' AND tags = '{a,a}'")
    assert "tags" in str(e) and "duplicates" in str(e) and hint(e).startswith("tags are")


# -- budgets ---------------------------------------------------------------------------------------------

def test_budgets_insert_select_update_delete(sql: SQL) -> None:
    sql.q(AGENTS)
    assert sql.q("SELECT * FROM tinydancer.budgets") == []
    (b,) = sql.dicts("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('all', 10, 'month', "
                     "'global') RETURNING *")
    assert (b["name"], b["amount"], b["period"], b["period_seconds"], b["scope"], b["mode"],
            b["willingness_to_pay"]) == ("all", 10.0, "month", None, "global", "hard", None)
    assert b["created_at"] is not None and b["updated_at"] >= b["created_at"]
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, period_seconds, scope, mode, willingness_to_pay) "
          "VALUES ('dear-hourly', 0.5, 'rolling', 3600, 'agent:dear', 'soft', 2.5)")
    rows = sql.dicts("SELECT name, period, period_seconds, scope, mode, willingness_to_pay FROM tinydancer.budgets "
                     "ORDER BY name")
    assert rows == [
        {"name": "all", "period": "month", "period_seconds": None, "scope": "global", "mode": "hard",
         "willingness_to_pay": None},
        {"name": "dear-hourly", "period": "rolling", "period_seconds": 3600.0, "scope": "agent:dear", "mode": "soft",
         "willingness_to_pay": 2.5}]
    # one by name (GetBudget); an unknown name is no row
    assert sql.q("SELECT amount FROM tinydancer.budgets WHERE name = 'all'") == [(10.0,)]
    assert sql.q("SELECT amount FROM tinydancer.budgets WHERE name = 'nobody'") == []
    # UPDATE sends only what changed; NULL clears an optional field
    assert sql.q("UPDATE tinydancer.budgets SET amount = 20, mode = 'soft' WHERE name = 'all' "
                 "RETURNING amount, mode, period") == [(20.0, "soft", "month")]
    assert sql.q("UPDATE tinydancer.budgets SET willingness_to_pay = NULL, period = 'day', period_seconds = NULL "
                 "WHERE name = 'dear-hourly' RETURNING period, period_seconds, willingness_to_pay") == [
        ("day", None, None)]
    assert sql.q("UPDATE tinydancer.budgets SET amount = amount RETURNING name") == [("all",), ("dear-hourly",)]
    assert sql.q("DELETE FROM tinydancer.budgets WHERE name = 'dear-hourly' RETURNING name, amount") == [
        ("dear-hourly", 0.5)]
    assert sql.q("SELECT name FROM tinydancer.budgets") == [("all",)]


def test_budget_errors_name_the_field_with_a_hint(sql: SQL) -> None:
    sql.q(AGENTS)
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'fortnight', 'global')")
    assert e.sqlstate == "22023" and "budget.window" in str(e) and hint(e).startswith("period is one of day, week")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'rolling', 'global')")
    assert "window_seconds" in str(e) and "period_seconds" in hint(e)
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'day', 'agent:ghost')")
    assert "budget.scope" in str(e) and "ghost" in str(e) and hint(e).startswith("scope is 'global'")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope, mode) VALUES ('b', 1, 'day', 'global', "
                   "'lenient')")
    assert "budget.mode" in str(e) and hint(e).startswith("mode is one of hard, soft")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', -1, 'day', 'global')")
    assert "budget.amount" in str(e) and hint(e).startswith("amount is")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, period, scope) VALUES ('b', 'day', 'global')")
    assert e.sqlstate == "22004" and "amount" in str(e) and "INSERT INTO tinydancer.budgets" in hint(e)
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('has space', 1, 'day', 'global')")
    assert "name" in str(e) and hint(e).startswith("name is 1..128")
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'day', 'global')")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'day', 'global')")
    assert e.sqlstate == "42710"
    e = error(sql, "UPDATE tinydancer.budgets SET name = 'c' WHERE name = 'b'")
    assert e.sqlstate == "0A000" and "renamed" in str(e)
    e = error(sql, "UPDATE tinydancer.budgets SET amount = NULL WHERE name = 'b'")
    assert e.sqlstate == "22004" and "amount" in str(e) and hint(e).startswith("amount is")
    e = error(sql, "UPDATE tinydancer.budgets SET created_at = now() - interval '1 day' WHERE name = 'b'")
    assert e.sqlstate == "0A000" and "created_at" in str(e)
    assert sql.q("SELECT amount, period FROM tinydancer.budgets") == [(1.0, "day")]  # unchanged
    e = error(sql, "DELETE FROM tinydancer.spend")
    assert e.sqlstate == "0A000" and "read-only" in str(e)


# -- spend and cancellation ------------------------------------------------------------------------------------

def test_spend_reserves_at_decision_settles_by_outcome_and_cancel_releases(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('all', 1, 'total', 'global'), "
          "('team', 0.5, 'day', 'tag:team-a')")
    d1 = route(sql, "summarize one", optimize_for="cost", tags=["team-a"])
    assert d1["agent_name"] == "cheap"
    assert sorted((c["budget"], c["amount"]) for c in d1["charges"]) == [("all", pytest.approx(0.001)),
                                                                         ("team", pytest.approx(0.001))]
    d2 = route(sql, "summarize two", optimize_for="cost")  # no tag: only the global budget
    assert [(c["budget"], c["amount"]) for c in d2["charges"]] == [("all", pytest.approx(0.001))]
    spend = {r["budget"]: r for r in sql.dicts("SELECT * FROM tinydancer.spend")}
    assert set(spend) == {"all", "team"}
    a = spend["all"]
    assert (a["amount"], a["reserved"], a["settled"], a["decisions"], a["scope"], a["mode"]) == (
        1.0, pytest.approx(0.002), 0.0, 2, "global", "hard")
    assert a["remaining"] == pytest.approx(1 - 0.002) and a["period_end"] is None  # total: no end
    t = spend["team"]
    assert t["period_end"] - t["period_start"] == timedelta(days=1) and t["reserved"] == pytest.approx(0.001)
    # an outcome settles the reservation at its actual cost
    sql.q("SELECT tinydancer.record_outcome(%s, 120, true, 0.9, 0.004)", (d1["decision_id"],))
    a = sql.dicts("SELECT * FROM tinydancer.spend WHERE budget = 'all'")[0]
    assert (a["settled"], a["reserved"]) == (pytest.approx(0.004), pytest.approx(0.001))
    assert a["remaining"] == pytest.approx(1 - 0.005)
    # cancel the other: its reservation is released; a second cancel changes nothing
    (c,) = sql.dicts("SELECT * FROM tinydancer.cancel_decision(%s)", (d2["decision_id"],))
    assert c["decision_id"] == d2["decision_id"] and c["already_cancelled"] is False
    assert [(r["budget"], r["amount"]) for r in c["released"]] == [("all", pytest.approx(0.001))]
    assert sql.one("SELECT reserved FROM tinydancer.spend WHERE budget = 'all'") == pytest.approx(0.0)
    (c,) = sql.dicts("SELECT * FROM tinydancer.cancel_decision(%s)", (d2["decision_id"],))
    assert c["already_cancelled"] is True
    assert sql.one("SELECT cancelled_at FROM tinydancer.decision_log WHERE decision_id = %s",
                   (d2["decision_id"],)) is not None
    # a cancelled decision takes no outcome; one with an outcome cannot be cancelled
    e = error(sql, "SELECT tinydancer.record_outcome(%s, 100, true)", (d2["decision_id"],))
    assert e.sqlstate == "55000" and "cancelled" in str(e)
    e = error(sql, "SELECT tinydancer.cancel_decision(%s)", (d1["decision_id"],))
    assert e.sqlstate == "55000" and "settled" in hint(e)
    e = error(sql, "SELECT tinydancer.cancel_decision('0123456789abcdef01234567')")
    assert e.sqlstate == "42704" and "tinydancer.decision_log" in hint(e)
    e = error(sql, "SELECT tinydancer.cancel_decision(NULL)")
    assert e.sqlstate == "22004"
    e = error(sql, "SELECT * FROM tinydancer.decision_cancellations")
    assert e.sqlstate == "0A000" and "write-only" in str(e)
    # spend of an unknown budget is no row
    assert sql.q("SELECT * FROM tinydancer.spend WHERE budget = 'nobody'") == []


def test_a_hard_budget_makes_what_does_not_fit_infeasible(sql: SQL) -> None:
    sql.q(AGENTS)
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('dear-cap', 0.06, 'day', 'agent:dear')")
    first = route(sql, "deploy this code", required_capabilities=["deploy"])
    assert first["agent_name"] == "dear" and [c["budget"] for c in first["charges"]] == ["dear-cap"]
    second = route(sql, "deploy that code", required_capabilities=["deploy"])
    assert second["routed"] is False and second["agent_name"] is None
    reasons = {a["agent_name"]: a["reason"] for a in second["alternatives"]}
    assert "dear-cap" in reasons["dear"], reasons
    # releasing the first makes room again
    sql.q("SELECT tinydancer.cancel_decision(%s)", (first["decision_id"],))
    assert route(sql, "deploy it now", required_capabilities=["deploy"])["agent_name"] == "dear"
