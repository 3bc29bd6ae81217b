"""Least privilege (issue 7, item 11): the install's roles tinydancer_reader and tinydancer_writer, given to
login roles exactly as the README's "Roles and privileges" blocks (```sql roles) say, against a routerd that
requires a token (given per role in a user mapping, as the README says). Each role runs the demo statements
it should be able to run (devstack.stack.DEMO: the README's SQL) and gets a clear permission error, and
nothing written, for what it may not do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack.stack import DEMO, ROOT, install_sql
from tests.harness.cluster import PgCluster
from tests.harness.routerd import RouterdProcess
from tests.harness.sql import SQL

TOKEN = "T"  # the README's
READER, WRITER = "analyst", "agent_admin"  # the README's login roles


def readme_role_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [re.sub(r"^" + indent, "", body, flags=re.M)
            for indent, body in re.findall(r"^( *)```sql roles\n(.*?)^\1```", text, re.M | re.S)]


def _drop_roles(s: SQL) -> None:
    for role in (READER, WRITER, "td_nobody"):
        if s.q("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
            s.q(f"DROP USER MAPPING IF EXISTS FOR {role} SERVER routerd")
            s.q(f"DROP OWNED BY {role} CASCADE")
            s.q(f"DROP ROLE {role}")


@pytest.fixture
def secured(installed: PgCluster, tmp_path: Path) -> Iterator[SQL]:
    """routerd with a token; the superuser's own mapping carries it; the README's roles made as it says."""
    with RouterdProcess(tmp_path / "routerd", token=TOKEN) as r:
        s = SQL(installed, r)
        _drop_roles(s)
        s.q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS (token '{TOKEN}')")
        try:
            for block in readme_role_blocks():
                s.q(block)
            for role in (READER, WRITER):  # may create a schema (the test of foreign tables needs one)
                s.q(f"GRANT CREATE ON DATABASE postgres TO {role}")
            yield s
        finally:
            s.q("DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER routerd")
            _drop_roles(s)
            s.close()


def connect(cluster: PgCluster, role: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"host=127.0.0.1 port={cluster.port} user={role} dbname=postgres", autocommit=True)


def _denied(conn: psycopg.Connection[tuple[object, ...]], sql: str, what: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        conn.execute(sql)
    assert info.value.sqlstate == "42501" and f"permission denied for {what}" in str(info.value), (sql, info.value)


def _demo(title_start: str) -> str:
    return next(sql for title, sql, _ in DEMO if title.startswith(title_start))


def test_the_readme_documents_the_roles() -> None:
    blocks = readme_role_blocks()
    assert any(f"GRANT tinydancer_reader TO {READER}" in b for b in blocks)
    assert any(f"GRANT tinydancer_writer TO {WRITER}" in b for b in blocks)
    assert any(f"CREATE USER MAPPING FOR {READER} SERVER routerd OPTIONS (token '{TOKEN}')" in b for b in blocks)


def test_writer_runs_the_demo_reader_reads_and_routes(secured: SQL) -> None:
    with connect(secured.cluster, WRITER) as w:
        assert not w.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]  # type: ignore[index]
        for _, sql, _ in DEMO:  # every statement of the README, as the writer
            w.execute(sql)
        assert w.execute("SELECT agents, outcomes FROM tinydancer.stats").fetchone() == (6, 1)
        w.execute("UPDATE tinydancer.agents SET quality_score = 0.5 WHERE name = 'llama-3.1-8b'")
        assert w.execute("SELECT count(*) FROM public.ruvector_list_agents()").fetchone() == (6,)

    with connect(secured.cluster, READER) as r:
        r.execute(_demo("The registry"))
        assert r.execute("SELECT agent_name FROM tinydancer.route('Write a Rust function that merges two "
                         "sorted vectors', optimize_for => 'quality', required_capabilities => ARRAY['coding'], "
                         "max_cost => 0.01)").fetchone() == ("claude-3-5-sonnet",)
        r.execute(_demo("Why not the others"))
        r.execute(_demo("Route a table of requests"))
        assert len(r.execute("SELECT * FROM tinydancer.route_batch(ARRAY['a', 'b'])").fetchall()) == 2
        assert r.execute("SELECT agents FROM tinydancer.stats").fetchone() == (6,)
        assert r.execute("SELECT count(*) FROM tinydancer.capability_matches WHERE capability = 'coding'"
                         ).fetchone()[0] > 0  # type: ignore[index]
        assert r.execute("SELECT count(*) FROM public.ruvector_list_agents()").fetchone() == (6,)
        assert r.execute("SELECT (public.ruvector_route('hello')).agent_name IS NOT NULL").fetchone() is not None


def test_what_the_reader_may_not_do(secured: SQL) -> None:
    with connect(secured.cluster, WRITER) as w:
        w.execute(_demo("Register agents"))
    before = secured.q("SELECT agents, outcomes FROM tinydancer.stats")
    with connect(secured.cluster, READER) as r:
        _denied(r, "INSERT INTO tinydancer.agents (name, agent_type, quality_score) VALUES ('x', 'llm', 0.5)",
                "foreign table agents")
        _denied(r, "UPDATE tinydancer.agents SET quality_score = 0.1", "foreign table agents")
        _denied(r, "DELETE FROM tinydancer.agents", "foreign table agents")
        _denied(r, "INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success) VALUES ('gpt-4o', 1, true)",
                "foreign table outcomes")
        _denied(r, "SELECT * FROM tinydancer.outcomes", "foreign table outcomes")
        _denied(r, _demo("Record what happened"), "function record_outcome")
        _denied(r, "SELECT public.ruvector_remove_agent('gpt-4o')", "function ruvector_remove_agent")
        _denied(r, "SELECT public.ruvector_clear_agents()", "function ruvector_clear_agents")
        _denied(r, "INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('b', 1, 'day', 'global')",
                "foreign table budgets")
        _denied(r, "SELECT tinydancer.cancel_decision('x')", "function cancel_decision")
        _denied(r, "SELECT * FROM tinydancer.budget_plan WHERE budget = 1", "foreign table budget_plan")
        for table in ("budgets", "spend", "analytics", "decision_log"):  # money is readable
            r.execute(f"SELECT count(*) FROM tinydancer.{table}")
        _not_admin(r)
    assert secured.q("SELECT agents, outcomes FROM tinydancer.stats") == before  # nothing written


def test_what_the_writer_may_not_do(secured: SQL) -> None:
    with connect(secured.cluster, WRITER) as w:
        _not_admin(w)


def _not_admin(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Neither role may change the server, make tables or mappings on it, or switch the guard off."""
    conn.execute("CREATE SCHEMA mine")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of foreign server routerd"):
        conn.execute("ALTER SERVER routerd OPTIONS (SET target '10.0.0.1:1')")
    _denied(conn, "CREATE USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS (token 'x')", "foreign server routerd")
    # in a schema of its own (the fixture makes one): the server is what it lacks
    _denied(conn, "CREATE FOREIGN TABLE mine.t (agents bigint) SERVER routerd OPTIONS (resource 'stats')",
            "foreign server routerd")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of event trigger"):
        conn.execute("ALTER EVENT TRIGGER tinydancer_option_places DISABLE")


def test_public_gets_nothing(secured: SQL) -> None:
    secured.q("CREATE ROLE td_nobody LOGIN")
    with connect(secured.cluster, "td_nobody") as n:
        _denied(n, "SELECT * FROM tinydancer.agents", "schema tinydancer")
        _denied(n, "SELECT * FROM tinydancer.route('x')", "schema tinydancer")
        _denied(n, "SELECT * FROM public.ruvector_list_agents()", "function ruvector_list_agents")


def test_the_install_is_idempotent_and_keeps_the_roles(secured: SQL) -> None:
    # everything again, twice (tinydancer.sql recreates the schema and the server with its mappings); this
    # time with the token for PUBLIC, as `psql -v token=T` gives it
    for _ in range(2):
        install_sql(secured.cluster.url(), secured.routerd.target, token=TOKEN)
    try:
        assert secured.q("SELECT rolname FROM pg_roles WHERE rolname LIKE 'tinydancer\\_%' ORDER BY 1") == [
            ("tinydancer_reader",), ("tinydancer_writer",)]
        with connect(secured.cluster, READER) as r:  # the grants are back on the new objects
            assert r.execute("SELECT agents FROM tinydancer.stats").fetchone() == (0,)
            _denied(r, "DELETE FROM tinydancer.agents", "foreign table agents")
    finally:
        secured.q("DROP USER MAPPING IF EXISTS FOR PUBLIC SERVER routerd")
