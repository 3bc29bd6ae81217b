"""A seeded fuzz of the SQL surface (issue 7, "Must show"): hostile INSERT/UPDATE/route inputs, run for a
bounded time. No backend crash (same postmaster, no "terminated by signal"), no INTERNAL / XX000, and
after every rejected statement nothing half-written (the agent and outcome counts unchanged)."""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import psycopg

from tests.harness.agents import SQL_AGENTS as AGENTS
from tests.harness.sql import SQL

SEED = int(os.environ.get("TINYDANCER_FUZZ_SEED", "7"))
SECONDS = float(os.environ.get("TINYDANCER_FUZZ_SECONDS", "15"))

NUMBERS = ["0", "-0", "-0.0", "1", "-1", "0.5", "1.0000000001", "-1e-300", "1e-300", "5e-324", "1e6", "1e9", "1e12",
           "1e15", "1e300", "1e306", "1.7976931348623157e308", "-1.7976931348623157e308", "'NaN'", "'Infinity'",
           "'-Infinity'", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "1000001", "86400000",
           "3600001", "NULL"]
JSONS = ["'{}'", "'[]'", "'null'", "'1'", "'\"s\"'", "'{\"a\": 1e999}'", "'{\"a\": -1e999}'", "'{\"a\": 1e308}'",
         "'{\"a\": " + "9" * 5000 + "}'", "'{\"a\": 0.0000000000000000000000000001}'",
         "'" + "[" * 500 + "]" * 500 + "'", "'{\"\\u00e9\": \"\\ud83d\\ude00\"}'", "'{\"a\": \"" + "x" * 20000 + "\"}'",
         json.dumps(json.dumps({f"k{i}": i for i in range(2000)})).replace('"', "'", 1)[:-1] + "'", "NULL"]
TIMES = ["'4713-01-01 00:00:00+00 BC'", "'0001-01-01 00:00:00+00'", "'1969-12-31 23:59:59.999999+00'",
         "'1970-01-01 00:00:00+00'", "'2038-01-19 03:14:08+00'", "'9999-12-31 23:59:59.999999+00'",
         "'10000-01-01 00:00:00+00'", "'294276-12-31 23:59:59.999999+00'", "'infinity'", "'-infinity'", "now()",
         "now() + interval '1000 years'", "NULL"]
TEXTS = ["''", "' '", "'a'", "'premium'", "'x y'", "'" + "n" * 129 + "'", "'" + "é" * 64 + "'", "'ctl\x01'",
         "repeat('t', 100000)", "repeat('t', 2000000)", "'drop table x; --'", "NULL"]
ARRAYS = ["'{}'", "'{general}'", "'{coding,reasoning}'", "ARRAY['']", "ARRAY[NULL]::text[]", "'{{a,b},{c,d}}'",
          "ARRAY(SELECT 'c' || i FROM generate_series(1, 65) i)",
          "ARRAY(SELECT 'c' || i FROM generate_series(1, 20000) i)",
          "ARRAY[repeat('c', 65)]", "ARRAY[repeat('c', 1000000)]", "NULL"]
AGENT_TYPES = ["'llm'", "'tool'", "'robot'", "''", "'LLM'", "NULL"]
BOOLS = ["true", "false", "NULL"]
OBJECTIVES = ["'cost'", "'quality'", "'balanced'", "'latency'", "'fastest'", "''", "NULL"]
AGENT_COLUMNS = {"cost_per_1k_input_tokens": NUMBERS, "cost_per_1k_output_tokens": NUMBERS, "cost_per_call": NUMBERS,
                 "cost_per_second": NUMBERS, "latency_prior_ms": NUMBERS, "quality_score": NUMBERS,
                 "typical_output_tokens": NUMBERS, "metadata": JSONS, "capabilities": ARRAYS, "active": BOOLS,
                 "agent_type": AGENT_TYPES}


def statement(rng: random.Random, serial: int) -> tuple[str, str]:
    """(kind, SQL) of one hostile statement."""
    pick = rng.choice
    kind = pick(["insert_agent", "update_agent", "outcome", "route", "route_batch", "decisions"])
    if kind == "insert_agent":
        cols = rng.sample(sorted(AGENT_COLUMNS), rng.randint(1, 5))
        name = pick([f"'fz{serial}'"] * 4 + TEXTS)
        cols = [c for c in cols if c != "agent_type"]
        values = [pick(AGENT_COLUMNS[c]) for c in cols]
        return kind, (f"INSERT INTO tinydancer.agents (name, agent_type{''.join(', ' + c for c in cols)}) "
                      f"VALUES ({name}, {pick(AGENT_TYPES[:2] * 3 + AGENT_TYPES)}{''.join(', ' + v for v in values)})")
    if kind == "update_agent":
        cols = rng.sample(sorted(AGENT_COLUMNS), rng.randint(1, 3))
        sets = ", ".join(f"{c} = {pick(AGENT_COLUMNS[c])}" for c in cols)
        return kind, f"UPDATE tinydancer.agents SET {sets} WHERE name = {pick(['premium', 'budget', 'vision'])!r}"
    if kind == "outcome":
        agent = pick(["'premium'"] * 5 + TEXTS)
        return kind, ("INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success, quality, cost, input_tokens, "
                      f"output_tokens, recorded_at) VALUES ({agent}, {pick(NUMBERS)}, "
                      f"{pick(BOOLS[:2] * 3 + BOOLS)}, {pick(NUMBERS)}, {pick(NUMBERS)}, {pick(NUMBERS)}, "
                      f"{pick(NUMBERS)}, {pick(TIMES)})")
    if kind == "route":
        return kind, (f"SELECT * FROM tinydancer.route({pick(TEXTS[:8] * 2 + TEXTS)}, {pick(OBJECTIVES)}, "
                      f"{pick(ARRAYS)}, {pick(NUMBERS)}, {pick(NUMBERS)}, {pick(NUMBERS)}, {pick(NUMBERS)})")
    if kind == "route_batch":
        return kind, f"SELECT count(*) FROM tinydancer.route_batch({pick(ARRAYS)}, {pick(OBJECTIVES)})"
    return kind, (f"SELECT agent_name FROM tinydancer.decisions WHERE request = {pick(TEXTS)} AND input_tokens = "
                  f"{pick(NUMBERS)} AND willingness_to_pay = {pick(NUMBERS)} AND excluded_agents = {pick(ARRAYS)}")


def test_sql_fuzz_no_crash_no_internal_nothing_half_written(sql: SQL) -> None:
    sql.q(AGENTS)
    postmaster = sql.cluster.postmaster_start_time()
    log_start = len(sql.cluster.log())
    rng = random.Random(SEED)
    count = ("SELECT (SELECT count(*) FROM tinydancer.agents), (SELECT count(*) FROM tinydancer.outcomes)")
    agents, outcomes = sql.q(count)[0]
    internals: list[str] = []
    half_written: list[str] = []
    seen: dict[str, int] = {}
    deadline = time.monotonic() + SECONDS
    serial = 0
    while time.monotonic() < deadline:
        serial += 1
        kind, q = statement(rng, serial)
        try:
            sql.q(q)
            ok = True
        except psycopg.Error as e:
            ok = False
            if e.sqlstate in (None, "XX000") or "INTERNAL" in str(e) or "Error in python" in str(e):
                internals.append(f"{e.sqlstate} {str(e).splitlines()[0][:200]} <- {q[:300]}")
        seen[f"{kind} {'ok' if ok else 'rejected'}"] = seen.get(f"{kind} {'ok' if ok else 'rejected'}", 0) + 1
        if kind in ("insert_agent", "outcome", "update_agent"):
            now: tuple[Any, ...] = sql.q(count)[0]
            if not ok and now != (agents, outcomes):
                half_written.append(f"{(agents, outcomes)} -> {now} <- {q[:300]}")
            agents, outcomes = now
    assert sql.cluster.postmaster_start_time() == postmaster
    log = sql.cluster.log()[log_start:]
    assert "terminated by signal" not in log and "PANIC" not in log, log[-3000:]
    assert serial > 50 and any(k.endswith("ok") for k in seen) and any(k.endswith("rejected") for k in seen), seen
    assert half_written == [], half_written
    assert internals == [], "\n".join(internals)
    # every table still reads back
    assert sql.one("SELECT count(*) FROM tinydancer.agents") == agents
    assert sql.one("SELECT count(*) FROM tinydancer.outcomes") == outcomes
    sql.q("SELECT * FROM tinydancer.agents")
    sql.q("SELECT * FROM tinydancer.outcomes")
    sql.q("SELECT * FROM tinydancer.route('after the fuzz')")
