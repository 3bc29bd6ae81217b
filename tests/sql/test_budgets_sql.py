"""Budgets, analytics and several agents in SQL end to end (issue 11): real PostgreSQL with the bridge, the
install scripts and a real routerd. tinydancer.budgets / spend / decision_cancellations, the tags and
charges of tinydancer.decisions, tinydancer.analytics and decision_log (checked row by row against the
same aggregates computed in plain SQL from tinydancer.outcomes and tinydancer.decision_log),
tinydancer.route_multi, budget_plan and batch_routes, and the seed-compatible ruvector_routing_analytics,
ruvector_optimize_budget, ruvector_batch_route and ruvector_route_multi. Every bad input is an ERROR
naming the field, with a HINT."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta
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
    # a constant tags with a join (tags is not a join key) and with = ANY: every request carries them
    sql.q("CREATE TEMP TABLE asks (body text)")
    sql.q("INSERT INTO asks VALUES ('summarize a'), ('summarize b')")
    def logged_tags(ids: list[str]) -> list[list[str]]:
        return [t for (t,) in sql.q("SELECT tags FROM tinydancer.decision_log WHERE decision_id = ANY(%s) "
                                    "ORDER BY decided_at", (ids,))]

    rows = sql.q("SELECT d.decision_id, d.tags FROM asks a JOIN tinydancer.decisions d ON d.request = a.body "
                 "WHERE d.tags = '{joined}'")
    assert [t for _, t in rows] == [["joined"]] * 2 and logged_tags([i for i, _ in rows]) == [["joined"]] * 2
    rows = sql.q("SELECT decision_id, tags FROM tinydancer.decisions WHERE request = ANY('{x,y,z}') "
                 "AND tags = '{many}'")
    assert [t for _, t in rows] == [["many"]] * 3 and logged_tags([i for i, _ in rows]) == [["many"]] * 3
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


INSERT = "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES "


def test_an_update_sends_only_what_it_changed(sql: SQL) -> None:
    """Another client changes the amount between this UPDATE's scan and its write (held there by a trigger
    that sleeps): the UPDATE of mode keeps the other client's amount."""
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 10, 'day', 'global')")
    sql.q("CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql AS "
          "$$ BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$")
    sql.q("CREATE TRIGGER slow BEFORE UPDATE ON tinydancer.budgets FOR EACH ROW WHEN (NEW.mode = 'soft') "
          "EXECUTE FUNCTION pg_temp.slow()")
    other = SQL(sql.cluster, sql.routerd)
    try:
        done: list[Any] = []
        writer = threading.Thread(target=lambda: done.append(
            sql.q("UPDATE tinydancer.budgets SET mode = 'soft' WHERE name = 'b' RETURNING amount, mode")))
        writer.start()
        time.sleep(0.5)  # the writer has scanned (amount 10) and sleeps in its trigger
        assert other.q("UPDATE tinydancer.budgets SET amount = 99 WHERE name = 'b' RETURNING amount") == [(99.0,)]
        writer.join(10)
        assert done == [[(99.0, "soft")]]
    finally:
        other.close()
        sql.q("DROP TRIGGER IF EXISTS slow ON tinydancer.budgets")
    assert sql.q("SELECT amount, mode FROM tinydancer.budgets") == [(99.0, "soft")]


def test_budget_errors_name_the_field_with_a_hint(sql: SQL) -> None:
    sql.q(AGENTS)
    e = error(sql, INSERT + "('b', 1, 'fortnight', 'global')")
    assert e.sqlstate == "22023" and "budget.window" in str(e) and hint(e).startswith("period is one of day, week")
    e = error(sql, INSERT + "('b', 1, 'rolling', 'global')")
    assert "window_seconds" in str(e) and "period_seconds" in hint(e)
    e = error(sql, INSERT + "('b', 1, 'day', 'agent:ghost')")
    assert "budget.scope" in str(e) and "ghost" in str(e) and hint(e).startswith("scope is 'global'")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, amount, period, scope, mode) "
                   "VALUES ('b', 1, 'day', 'global', 'lenient')")
    assert "budget.mode" in str(e) and hint(e).startswith("mode is one of hard, soft")
    e = error(sql, INSERT + "('b', -1, 'day', 'global')")
    assert "budget.amount" in str(e) and hint(e).startswith("amount is")
    e = error(sql, "INSERT INTO tinydancer.budgets (name, period, scope) VALUES ('b', 'day', 'global')")
    assert e.sqlstate == "22004" and "amount" in str(e) and "INSERT INTO tinydancer.budgets" in hint(e)
    e = error(sql, INSERT + "('has space', 1, 'day', 'global')")
    assert "name" in str(e) and hint(e).startswith("name is 1..128")
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'day', 'global')")
    e = error(sql, INSERT + "('b', 1, 'day', 'global')")
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


# -- analytics and the decision log ----------------------------------------------------------------------------

OTHERS = {a: [b for b in COST if b != a] for a in COST}
OBJECTIVES = ("cost", "quality", "balanced")


def make_log(sql: SQL, n: int = 36) -> list[dict[str, Any]]:
    """n decisions forced onto each agent in turn (excluded_agents), under three objectives, some tagged (one or
    two tags), and outcomes for most (latencies spread, some failures, some without quality or cost); plus one
    decision routed nowhere and one cancelled. Returns the decisions in order."""
    sql.q(AGENTS)
    made = []
    for i in range(n):
        agent = list(COST)[i % 3]
        tags = [["team-a"], ["team-b"], ["team-a", "nightly"], None][i % 4]
        inputs: dict[str, Any] = {"optimize_for": OBJECTIVES[(i // 3) % 3], "excluded_agents": OTHERS[agent]}
        if tags:
            inputs["tags"] = tags
        d = route(sql, f"task number {i}", **inputs)
        assert d["agent_name"] == agent
        made.append(d)
        if i % 5 == 4:
            continue  # no outcome
        quality = None if i % 7 == 0 else round(0.5 + (i % 5) / 10, 2)
        cost = None if i % 6 == 0 else round(COST[agent] * (1 + (i % 4) / 10), 6)
        sql.q("SELECT tinydancer.record_outcome(%s, %s, %s, %s, %s)",
              (d["decision_id"], 50.0 + (37 * i) % 400, i % 8 != 3, quality, cost))
    nowhere = route(sql, "too expensive for anyone", max_cost=1e-9)
    assert nowhere["routed"] is False
    made.append(nowhere)
    cancelled = route(sql, "never sent", optimize_for="cost")
    sql.q("SELECT tinydancer.cancel_decision(%s)", (cancelled["decision_id"],))
    made.append(cancelled)
    return made


# The same aggregates as RoutingAnalytics, in plain SQL over tinydancer.decision_log and tinydancer.outcomes.
# `g` is one row per (decision, group key) (a tagged decision once per tag, '' when it has none).
KEYS = {
    "agent": ("coalesce(d.agent_name, '')", ""),
    "objective": ("d.objective", ""),
    "tag": ("t.tag", " CROSS JOIN LATERAL unnest(CASE WHEN cardinality(d.tags) > 0 THEN d.tags ELSE '{\"\"}' END) "
                     "AS t(tag)"),
    "day": ("to_char(date_trunc('day', d.decided_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", ""),
}
PLAIN = """
WITH g AS (
    SELECT d.decision_id, {key} AS key, d.estimated_cost, d.reference_cost,
           d.agent_name IS NOT NULL AND d.cancelled_at IS NULL AND d.reference_cost IS NOT NULL AS counterfactual
      FROM tinydancer.decision_log d{join} WHERE {where}
), per AS (
    SELECT g.decision_id, g.key, g.estimated_cost, g.reference_cost, g.counterfactual,
           count(o.decision_id) AS n, coalesce(sum(o.cost), 0) AS cost
      FROM g LEFT JOIN tinydancer.outcomes o ON o.decision_id = g.decision_id
     GROUP BY 1, 2, 3, 4, 5
), lat AS (
    SELECT g.key, avg(o.latency_ms) AS mean_latency_ms,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY o.latency_ms) AS p95_latency_ms,
           avg(CASE WHEN o.success THEN 1.0 ELSE 0.0 END)::float8 AS success_rate, avg(o.quality) AS mean_quality
      FROM g JOIN tinydancer.outcomes o ON o.decision_id = g.decision_id
     GROUP BY g.key
)
SELECT per.key, count(*) AS requests, count(*) FILTER (WHERE per.n = 0) AS without_outcome,
       sum(per.n)::bigint AS outcomes, sum(per.cost) AS spend, lat.mean_latency_ms, lat.p95_latency_ms,
       lat.success_rate, lat.mean_quality,
       coalesce(sum(per.reference_cost) FILTER (WHERE per.counterfactual), 0) AS reference_cost,
       coalesce(sum(per.reference_cost) FILTER (WHERE per.counterfactual), 0)
           - coalesce(sum(CASE WHEN per.n = 0 THEN coalesce(per.estimated_cost, 0) ELSE per.cost END)
                      FILTER (WHERE per.counterfactual), 0) AS savings
  FROM per LEFT JOIN lat ON lat.key = per.key
 GROUP BY per.key, lat.mean_latency_ms, lat.p95_latency_ms, lat.success_rate, lat.mean_quality
 ORDER BY per.key COLLATE "C"
"""
FIGURES = ("key", "requests", "without_outcome", "outcomes", "spend", "mean_latency_ms", "p95_latency_ms",
           "success_rate", "mean_quality", "reference_cost", "savings")


def same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [r["key"] for r in got] == [r["key"] for r in want]
    for g, w in zip(got, want, strict=True):
        for f in FIGURES:
            if w[f] is None or isinstance(w[f], str | int):
                assert g[f] == w[f], (g["key"], f, g[f], w[f])
            else:
                assert g[f] == pytest.approx(float(w[f]), rel=1e-9, abs=1e-12), (g["key"], f, g[f], w[f])


def test_analytics_equal_the_same_aggregates_in_plain_sql(sql: SQL) -> None:
    made = make_log(sql)
    assert sql.one("SELECT count(*) FROM tinydancer.decision_log") == len(made)
    for group_by, (key, join) in KEYS.items():
        got = sql.dicts(f"SELECT * FROM tinydancer.analytics WHERE group_by = '{group_by}'")
        want = sql.dicts(PLAIN.format(key=key, join=join, where="true"))
        assert len(want) >= (1 if group_by == "day" else 3), group_by
        same_rows(got, want)
        assert all(r["group_by"] == group_by and r["since"] is None and r["until"] is None for r in got)
    # by agent: the unrouted decision is under '', and the figures are what the log says
    rows = {r["key"]: r for r in sql.dicts("SELECT * FROM tinydancer.analytics")}  # default: agent
    assert set(rows) == {"", "cheap", "mid", "dear"} and rows[""]["requests"] == 1 and rows[""]["outcomes"] == 0
    assert all(r["group_by"] == "agent" and r["bucket_start"] is None for r in rows.values())
    assert sum(r["requests"] for r in rows.values()) == len(made)
    day = sql.dicts("SELECT key, bucket_start FROM tinydancer.analytics WHERE group_by = 'day'")
    assert [r["bucket_start"] for r in day] == [datetime.fromisoformat(r["key"].replace("Z", "+00:00")) for r in day]
    # a time range: only the decisions made in [since, until), in both
    # (bounds between two decisions: routerd compares float seconds, which can put a decision made at the
    # very microsecond of a bound on either side of it)
    split = made[11]["decided_at"] + (made[12]["decided_at"] - made[11]["decided_at"]) / 2
    until = made[29]["decided_at"] + (made[30]["decided_at"] - made[29]["decided_at"]) / 2
    assert made[11]["decided_at"] < split < made[12]["decided_at"] and made[29]["decided_at"] < until
    got = sql.dicts("SELECT * FROM tinydancer.analytics WHERE group_by = 'agent' AND since = %s AND until = %s",
                    (split, until))
    want = sql.dicts(PLAIN.format(key=KEYS["agent"][0], join="",
                                  where="d.decided_at >= %(since)s AND d.decided_at < %(until)s"),
                     {"since": split, "until": until})
    same_rows(got, want)
    assert sum(r["requests"] for r in got) == sum(split <= d["decided_at"] < until for d in made)
    assert all(r["since"] == split and r["until"] == until for r in got)
    assert sql.q("SELECT * FROM tinydancer.analytics WHERE since = now() + interval '1 day'") == []


def test_the_decision_log_pushes_the_time_range_down(sql: SQL) -> None:
    made = make_log(sql, n=12)
    log = sql.dicts("SELECT * FROM tinydancer.decision_log")
    assert [r["decision_id"] for r in log] == [d["decision_id"] for d in made]  # oldest first
    first = log[0]
    assert (first["agent_name"], first["objective"], first["tags"]) == ("cheap", "cost", ["team-a"])
    # the reference is the feasible agent of highest expected quality: only cheap was (the others excluded)
    assert first["estimated_cost"] == pytest.approx(0.001) and first["reference_cost"] == pytest.approx(0.001)
    assert first["request_id"].startswith("pg-") and first["cancelled_at"] is None
    assert log[-2]["agent_name"] is None and log[-1]["cancelled_at"] is not None
    assert (log[-1]["agent_name"], log[-1]["reference_cost"]) == ("cheap", pytest.approx(0.05))  # dear: best quality
    log_at = [r["decided_at"] for r in log]
    assert log_at == [d["decided_at"] for d in made]  # the time a decision reports is the time logged
    t = made[5]["decided_at"]
    for cond, keep in ((">= %s", lambda x: x >= t), ("> %s", lambda x: x > t), ("< %s", lambda x: x < t),
                       ("<= %s", lambda x: x <= t), ("= %s", lambda x: x == t)):
        got = [r for (r,) in sql.q(f"SELECT decision_id FROM tinydancer.decision_log WHERE decided_at {cond}", (t,))]
        assert got == [d["decision_id"] for d in made if keep(d["decided_at"])], cond
    got = sql.q("SELECT count(*) FROM tinydancer.decision_log WHERE decided_at BETWEEN %s AND %s",
                (made[2]["decided_at"], made[8]["decided_at"]))
    assert got == [(7,)]
    # far outside routerd's time range: the bound is dropped and PostgreSQL's recheck decides
    assert sql.one("SELECT count(*) FROM tinydancer.decision_log WHERE decided_at > '0001-01-01'") == len(made)
    e = error(sql, "DELETE FROM tinydancer.decision_log")
    assert e.sqlstate == "0A000" and "read-only" in str(e) and "cancel_decision" in hint(e)


def test_analytics_errors_name_the_input_with_a_hint(sql: SQL) -> None:
    e = error(sql, "SELECT * FROM tinydancer.analytics WHERE group_by = 'week'")
    assert e.sqlstate == "22023" and "group_by" in str(e) and hint(e).startswith("group_by is one of agent, day")
    e = error(sql, "SELECT * FROM tinydancer.analytics WHERE since > now()")
    assert e.sqlstate == "0A000" and "since" in str(e) and "=" in hint(e)
    e = error(sql, "SELECT * FROM tinydancer.analytics WHERE since = '0001-01-01'")
    assert e.sqlstate == "22023" and "start" in str(e) and hint(e).startswith("since and until")
    e = error(sql, "UPDATE tinydancer.analytics SET key = 'x'")
    assert e.sqlstate == "0A000" and "read-only" in str(e)


def test_ruvector_routing_analytics(sql: SQL) -> None:
    made = make_log(sql, n=18)
    rows = sql.dicts("SELECT * FROM ruvector_routing_analytics()")
    ours = {r["key"]: r for r in sql.dicts("SELECT * FROM tinydancer.analytics WHERE group_by = 'agent'")}
    assert [r["agent"] for r in rows] == [None, "cheap", "dear", "mid"]
    for r in rows:
        a = ours[r["agent"] or ""]
        assert (r["total_requests"], r["total_cost"], r["avg_latency_ms"], r["success_rate"]) == (
            a["requests"], a["spend"], a["mean_latency_ms"], a["success_rate"])
    assert sum(r["total_requests"] for r in rows) == len(made)
    by_objective = sql.dicts("SELECT * FROM ruvector_routing_analytics('1 hour', 'objective')")
    assert [r["agent"] for r in by_objective] == ["balanced", "cost", "quality"]
    everything = sql.q("SELECT * FROM ruvector_routing_analytics(NULL)")  # NULL: all time
    assert everything == sql.q("SELECT * FROM ruvector_routing_analytics()")
    e = error(sql, "SELECT * FROM ruvector_routing_analytics('a week or so')")
    assert e.sqlstate == "22023" and "time_range" in str(e) and "7 days" in hint(e)
    e = error(sql, "SELECT * FROM ruvector_routing_analytics('-1 day')")
    assert e.sqlstate == "22023" and "positive" in str(e)
    e = error(sql, "SELECT * FROM ruvector_routing_analytics('7 days', 'week')")
    assert "group_by" in str(e) and hint(e).startswith("group_by is one of")


# -- several agents ----------------------------------------------------------------------------------------------

MULTI = "SELECT * FROM tinydancer.route_multi WHERE request = %s AND num_agents = %s AND strategy = %s"


def test_route_multi_one_row_per_stage_with_the_plans_totals(sql: SQL) -> None:
    sql.q(AGENTS)
    # pipeline: stages that together cover the required capabilities; dear adds two of them, then mid the third
    rows = sql.dicts(MULTI + " AND required_capabilities = %s", ("build and deploy", 3, "pipeline",
                                                                 ["summarize", "deploy", "code"]))
    assert [(r["stage"], r["agent_name"]) for r in rows] == [(1, "dear"), (2, "mid")]
    assert set().union(*(r["capabilities"] for r in rows)) == {"summarize", "deploy", "code"}
    plan = rows[0]
    assert all(r["decision_id"] == plan["decision_id"] and r["routed"] for r in rows)  # the plan on every row
    assert plan["total_cost"] == pytest.approx(sum(r["estimated_cost"] for r in rows))
    assert plan["total_latency_ms"] == pytest.approx(sum(r["estimated_latency_ms"] for r in rows))
    assert plan["plan_quality"] == pytest.approx(math.prod(r["expected_quality"] for r in rows))
    assert plan["uncovered_capabilities"] == [] and "pipeline of 2 stages" in plan["reasoning"]
    assert all(r["request"] == "build and deploy" and r["num_agents"] == 3 and r["strategy"] == "pipeline"
               for r in rows)  # the inputs, echoed
    # a capability nobody has is reported, not silently dropped
    rows = sql.dicts(MULTI + " AND required_capabilities = %s", ("build", 3, "pipeline", ["summarize", "flying"]))
    assert [r["agent_name"] for r in rows] == ["mid"] and rows[0]["uncovered_capabilities"] == ["flying"]
    # ensemble: the most likely to succeed together, 1 - prod(1 - q); latency the slowest
    rows = sql.dicts(MULTI, ("build", 3, "ensemble"))
    assert [r["agent_name"] for r in rows] == ["dear", "mid", "cheap"]  # by expected quality
    assert rows[0]["plan_quality"] == pytest.approx(1 - math.prod(1 - r["expected_quality"] for r in rows))
    assert rows[0]["total_latency_ms"] == pytest.approx(max(r["estimated_latency_ms"] for r in rows))
    # parallel: distinct agents, the best stage's quality
    rows = sql.dicts(MULTI, ("build", 2, "parallel"))
    assert len({r["agent_name"] for r in rows}) == 2 and rows[0]["agent_name"] == "dear"
    assert rows[0]["plan_quality"] == pytest.approx(max(r["expected_quality"] for r in rows))
    # nothing feasible: one row, routed false, and why
    (row,) = sql.dicts(MULTI + " AND max_cost = 1e-9", ("build", 2, "pipeline"))
    assert (row["routed"], row["stage"], row["agent_name"]) == (False, None, None) and "no feasible agent" in \
        row["reasoning"]
    # a join supplies the request per outer row: one plan each
    sql.q("CREATE TEMP TABLE asks (body text)")
    sql.q("INSERT INTO asks VALUES ('ship a'), ('ship b')")
    joined = sql.q("SELECT a.body, m.stage, m.agent_name FROM asks a JOIN tinydancer.route_multi m "
                   "ON m.request = a.body WHERE m.num_agents = 1 AND m.strategy = 'pipeline' "
                   "AND m.required_capabilities = '{deploy}' ORDER BY a.body")
    assert joined == [("ship a", 1, "dear"), ("ship b", 1, "dear")]
    # ruvector_route_multi: the same plan as the table
    got = sql.dicts("SELECT * FROM ruvector_route_multi(request := 'build', num_agents := 3, strategy := 'ensemble')")
    assert [(r["stage"], r["agent_name"], r["plan_quality"]) for r in got] == [
        (r["stage"], r["agent_name"], r["plan_quality"]) for r in sql.dicts(MULTI, ("build", 3, "ensemble"))]
    got = sql.dicts("SELECT * FROM ruvector_route_multi('ship it', 3, required_capabilities := '{deploy}')")
    assert [(r["agent_name"], r["capabilities"]) for r in got] == [("dear", ["deploy"])]


def test_route_multi_errors_name_the_input_with_a_hint(sql: SQL) -> None:
    sql.q(AGENTS)
    e = error(sql, MULTI, ("b", 9, "pipeline"))
    assert e.sqlstate == "22023" and "num_agents" in str(e) and hint(e).startswith("num_agents is 1 ..")
    e = error(sql, MULTI, ("b", 2, "serial"))
    assert "strategy" in str(e) and hint(e).startswith("strategy is one of pipeline, parallel, ensemble")
    e = error(sql, MULTI + " AND optimize_for = 'cheapest'", ("b", 2, "parallel"))
    assert "objective" in str(e) and hint(e).startswith("optimize_for is one of")
    e = error(sql, "SELECT * FROM tinydancer.route_multi WHERE request = 'b' AND num_agents = 2")
    assert e.sqlstate == "22004" and "strategy" in str(e) and "pipeline" in hint(e)
    e = error(sql, "SELECT * FROM tinydancer.route_multi WHERE num_agents = 2 AND strategy = 'parallel'")
    assert "needs a request" in str(e) and "WHERE request =" in hint(e)
    e = error(sql, "SELECT * FROM tinydancer.route_multi WHERE request = 'b' AND num_agents > 2")
    assert e.sqlstate == "0A000" and "num_agents" in str(e)
    e = error(sql, "SELECT * FROM ruvector_route_multi('b', NULL)")
    assert e.sqlstate == "22004" and "num_agents" in str(e)
    e = error(sql, "SELECT * FROM ruvector_route_multi('b', 2, NULL)")
    assert e.sqlstate == "22004" and "strategy" in str(e)


# -- the budget plan -------------------------------------------------------------------------------------------------

PLAN = "SELECT * FROM tinydancer.budget_plan WHERE budget = %s"


def test_budget_plan_rows_are_the_allocation_and_apply_stores_it(sql: SQL) -> None:
    made = make_log(sql, n=30)
    # a budget that is not binding: every request on its best agent, the plan's totals on every row
    rows = sql.dicts(PLAN, (10,))
    plan = rows[0]
    assert plan["binding"] is False and plan["willingness_to_pay"] is None and plan["feasible"] is True
    assert plan["mix_requests"] == len(made) and plan["period_days"] == 30.0 and plan["budget"] == 10.0
    assert plan["projected_spend"] <= 10 and plan["minimum_spend"] <= plan["projected_spend"]
    assert sum(r["spend"] for r in rows) == pytest.approx(plan["projected_spend"])
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert sum(r["requests"] for r in rows) == pytest.approx(plan["mix_requests"] * plan["scale"])
    # a binding budget between the cheapest and the unconstrained plan: spent (not passed), with a price of quality
    budget = (plan["minimum_spend"] + plan["projected_spend"]) / 2
    rows = sql.dicts(PLAN, (budget,))
    bound = rows[0]
    assert bound["binding"] is True and bound["feasible"] is True and bound["willingness_to_pay"] > 0
    assert bound["projected_spend"] <= budget * (1 + 1e-9)
    assert bound["projected_quality"] <= plan["projected_quality"]
    assert sum(r["spend"] for r in rows) == pytest.approx(bound["projected_spend"])
    # below the cheapest routing: infeasible, and the plan is that cheapest routing
    (low,) = sql.dicts(PLAN, (plan["minimum_spend"] / 10,))
    assert low["feasible"] is False and low["projected_spend"] == pytest.approx(plan["minimum_spend"])
    # thresholds no agent meets: every request unmet, one row with no agent
    (none,) = sql.dicts(PLAN + " AND quality_threshold = 0.99", (10,))
    assert (none["agent_name"], none["unmet_requests"], none["projected_spend"]) == (None, len(made), 0.0)
    # apply the binding plan to a budget: its willingness to pay is stored there
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('month', %s, 'month', 'global')",
          (budget,))
    applied = sql.dicts(PLAN + " AND apply_to_budget = 'month'", (budget,))
    assert {r["applied_to_budget"] for r in applied} == {"month"}
    assert sql.one("SELECT willingness_to_pay FROM tinydancer.budgets WHERE name = 'month'") == pytest.approx(
        bound["willingness_to_pay"])
    # the mix of a range: one after every decision is an empty mix, an error with a hint
    e = error(sql, PLAN + " AND since = now() + interval '1 day' AND until = now() + interval '2 days'", (10,))
    assert e.sqlstate == "22023" and "route some requests" in hint(e)


def test_budget_plan_errors_name_the_input_with_a_hint(sql: SQL) -> None:
    make_log(sql, n=6)
    e = error(sql, PLAN, (-1,))
    assert e.sqlstate == "22023" and "budget" in str(e) and hint(e).startswith("budget is the USD")
    e = error(sql, PLAN + " AND period_days = 0", (10,))
    assert "period_days" in str(e) and hint(e).startswith("period_days is")
    e = error(sql, PLAN + " AND quality_threshold = 2", (10,))
    assert "quality_threshold" in str(e) and hint(e).startswith("quality_threshold is in [0, 1]")
    e = error(sql, PLAN + " AND apply_to_budget = 'nope'", (10,))
    assert e.sqlstate == "42704" and "nope" in str(e) and "tinydancer.budgets" in hint(e)
    e = error(sql, "SELECT * FROM tinydancer.budget_plan")
    assert e.sqlstate == "22004" and "WHERE budget =" in hint(e)
    e = error(sql, "SELECT * FROM tinydancer.budget_plan WHERE budget > 1")
    assert e.sqlstate == "0A000" and "budget" in str(e)


def test_ruvector_optimize_budget(sql: SQL) -> None:
    made = make_log(sql, n=30)
    plan = sql.dicts(PLAN + " AND period_days = 30 AND quality_threshold = 0.5 AND latency_threshold_ms = 5000",
                     (0.5,))
    got = sql.one("SELECT ruvector_optimize_budget(0.5, 0.5)")
    assert (got["total_budget"], got["period_days"], got["mix_requests"]) == (0.5, 30, len(made))
    assert got["allocations"] == {r["agent_name"]: pytest.approx(r["spend"]) for r in plan}
    assert sum(got["allocations"].values()) == pytest.approx(got["projected_spend"])
    for key in ("willingness_to_pay", "binding", "projected_quality", "proportional_spend", "proportional_quality",
                "minimum_spend", "feasible", "unmet_requests"):
        assert got[key] == (pytest.approx(plan[0][key]) if isinstance(plan[0][key], float) else plan[0][key]), key
    assert [a["agent_name"] for a in got["agents"]] == [r["agent_name"] for r in
                                                        sorted(plan, key=lambda r: (-r["spend"], r["agent_name"]))]
    # the seed's defaults: quality >= 0.8 and latency <= 5000 ms
    seed = sql.one("SELECT ruvector_optimize_budget(100)")
    plan = sql.dicts(PLAN + " AND period_days = 30 AND quality_threshold = 0.8 AND latency_threshold_ms = 5000",
                     (100,))
    assert seed["allocations"] == {r["agent_name"]: pytest.approx(r["spend"]) for r in plan if r["agent_name"]}
    assert seed["unmet_requests"] == plan[0]["unmet_requests"]
    e = error(sql, "SELECT ruvector_optimize_budget(NULL)")
    assert e.sqlstate == "22004" and "monthly_budget" in str(e)
    e = error(sql, "SELECT ruvector_optimize_budget(0)")
    assert e.sqlstate == "22023" and "budget" in str(e) and hint(e).startswith("budget is the USD")


# -- batches under a budget ------------------------------------------------------------------------------------------

BATCH = "SELECT * FROM tinydancer.batch_routes WHERE requests = %s"


def test_batch_routes_spend_a_batch_budget(sql: SQL) -> None:
    sql.q(AGENTS)
    texts = ["first task", "second task", "third task", "first task"]
    # total_cost: the best total expected quality within the budget, over the whole batch at once
    rows = sql.dicts(BATCH + " AND batch_objective = 'total_cost' AND batch_budget = 0.07", (texts,))
    assert [(r["position"], r["request"]) for r in rows] == list(enumerate(texts, 1))
    assert all(r["routed"] for r in rows) and len({r["decision_id"] for r in rows}) == 4
    spent = sum(r["estimated_cost"] for r in rows)
    assert spent <= 0.07 + 1e-12 and rows[0]["total_cost"] == pytest.approx(spent)
    assert rows[0]["total_quality"] == pytest.approx(sum(r["expected_quality"] for r in rows))
    # no single upgrade to an agent of higher quality still fits in what is left
    quality = {a: q for a, q in sql.q("SELECT name, expected_quality FROM tinydancer.agents")}
    for r in rows:
        for a in COST:
            if quality[a] > quality[r["agent_name"]]:
                assert spent - COST[r["agent_name"]] + COST[a] > 0.07, (r, a)
    # in order under a per-request objective: each one reserves from the batch budget, the rest are unrouted
    rows = sql.dicts(BATCH + " AND optimize_for = 'quality' AND batch_budget = 0.06", (texts[:3],))
    assert rows[0]["agent_name"] == "dear"  # the best quality, while the budget lasts
    left = 0.06
    for r in rows:  # each one on an agent that fits in what the earlier ones left
        assert r["routed"] and r["estimated_cost"] <= left + 1e-12
        left -= r["estimated_cost"]
    assert rows[1]["agent_name"] != "dear"
    # tags and charges ride along
    sql.q("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('batch', 1, 'day', 'tag:batch')")
    rows = sql.dicts(BATCH + " AND optimize_for = 'cost' AND tags = '{batch}'", (["one", "two"],))
    assert [[c["budget"] for c in r["charges"]] for r in rows] == [["batch"], ["batch"]]
    assert sql.one("SELECT decisions FROM tinydancer.spend WHERE budget = 'batch'") == 2


def test_batch_route_errors_name_the_input_with_a_hint(sql: SQL) -> None:
    sql.q(AGENTS)
    e = error(sql, BATCH + " AND batch_objective = 'total_cost'", (["a"],))
    assert e.sqlstate == "22004" and "batch_budget" in str(e) and hint(e).startswith("batch_objective is")
    e = error(sql, BATCH + " AND batch_objective = 'x'", (["a"],))
    assert "batch_objective" in str(e) and hint(e).startswith("batch_objective is")
    e = error(sql, BATCH + " AND batch_budget = -1", (["a"],))
    assert "batch_budget" in str(e) and hint(e).startswith("batch_budget is")
    e = error(sql, BATCH, (["a", None],))
    assert e.sqlstate == "22004" and "NULL" in str(e) and "array_remove" in hint(e)
    e = error(sql, "SELECT * FROM tinydancer.batch_routes WHERE batch_budget = 1")
    assert e.sqlstate == "22004" and "requests" in hint(e)
    e = error(sql, "SELECT * FROM ruvector_batch_route(ARRAY['a'], 'cheapest')")
    assert "objective" in str(e) and hint(e).startswith("optimize_for is one of")
    e = error(sql, "SELECT * FROM ruvector_batch_route(NULL)")
    assert e.sqlstate == "22004"


def test_ruvector_batch_route(sql: SQL) -> None:
    sql.q(AGENTS)
    texts = ["summarize the news", "fix this code", "summarize the news"]
    # total_cost without a budget: each request by the cost objective (the same as routing it alone that way)
    rows = sql.dicts("SELECT * FROM ruvector_batch_route(%s, 'total_cost')", (texts,))
    alone = [route(sql, t, optimize_for="cost")["agent_name"] for t in texts]
    assert [(r["position"], r["request"], r["agent_name"]) for r in rows] == [
        (i, t, a) for i, (t, a) in enumerate(zip(texts, alone, strict=True), 1)]
    assert rows[0]["total_cost"] == pytest.approx(sum(r["estimated_cost"] for r in rows))
    # total_cost with a budget: the Lagrangian batch, within it
    rows = sql.dicts("SELECT * FROM ruvector_batch_route(%s, 'total_cost', 0.03)", (texts,))
    assert rows[0]["total_cost"] <= 0.03 + 1e-12 and all(r["routed"] for r in rows)
    table = sql.dicts(BATCH + " AND batch_objective = 'total_cost' AND batch_budget = 0.03", (texts,))
    assert [r["agent_name"] for r in rows] == [r["agent_name"] for r in table]
    # another objective applies per request
    rows = sql.dicts("SELECT * FROM ruvector_batch_route(%s, 'quality')", (texts,))
    assert [r["agent_name"] for r in rows] == [route(sql, t, optimize_for="quality")["agent_name"] for t in texts]
    assert sql.q("SELECT * FROM ruvector_batch_route('{}'::text[])") == []
