"""What is particular to each backend: ``open_store``'s URLs, failures, reconnects, migration locks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
import pytest

from routerd.errors import StoreUnavailable
from routerd.store import Store, open_store
from routerd.store._sql import migrations, split_sql
from routerd.store.postgres import PostgresStore, redact_url
from routerd.store.sqlite import SQLiteStore
from tests.harness.cluster import free_port
from tests.harness.store import HEALTHY, agent, outcome, raw_rows

# -- open_store -----------------------------------------------------------------------------------


def test_open_store_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "routerd.db"
    store = open_store(f"sqlite://{path}")
    try:
        assert isinstance(store, SQLiteStore)
        assert store.url == f"sqlite://{path}"
        assert path.exists()  # parent directories created
        assert raw_rows(store.url, "PRAGMA journal_mode") == [("wal",)]
    finally:
        store.close()


def test_open_store_bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("state/routerd.db")
    try:
        assert isinstance(store, SQLiteStore)
        assert store.url == f"sqlite://{tmp_path}/state/routerd.db"  # made absolute
        store.insert_agent(agent("gpt"))
    finally:
        store.close()
    assert (tmp_path / "state" / "routerd.db").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_open_store_postgres_url_without_password(pg_url: str, scheme: str) -> None:
    # The test cluster trusts every local connection, so any password is accepted and must not show.
    url = pg_url.replace("postgresql://postgres@", f"{scheme}://postgres:s3cr%40t@", 1)
    assert "s3cr" in url
    store = open_store(url + "?application_name=routerd&password=other")
    try:
        assert isinstance(store, PostgresStore)
        assert "s3cr" not in store.url and "other" not in store.url
        assert store.url.startswith(f"{scheme}://postgres@127.0.0.1:")
        assert "application_name=routerd" in store.url
        store.insert_agent(agent("gpt"))
        assert store.get_agent("gpt") == agent("gpt")
    finally:
        store.close()


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/db?sslmode=require") == "postgresql://u@h:5432/db?sslmode=require"
    assert redact_url("postgresql://h/db?password=x&user=u") == "postgresql://h/db?user=u"
    assert redact_url("postgresql://u:p%40ss@[::1]:5/db") == "postgresql://u@[::1]:5/db"
    assert redact_url("postgresql:///db") == "postgresql:///db"


# -- migrations -----------------------------------------------------------------------------------


def test_migration_files_are_numbered_and_split() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert all(m.statements for m in found)
    assert split_sql("-- a; comment\nCREATE TABLE t (x TEXT); -- trailing;\n\nSELECT 1;\n") == (
        "CREATE TABLE t (x TEXT)", "SELECT 1",
    )


@pytest.mark.postgres
def test_schema_matches_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    """Same tables and columns in the same order (types differ only by dialect)."""
    sqlite_url = f"sqlite://{tmp_path}/s.db"
    SQLiteStore(tmp_path / "s.db").close()
    PostgresStore(pg_url).close()
    tables = ("agents", "outcomes", "decisions", "schema_migrations")
    lite = {t: [row[1] for row in raw_rows(sqlite_url, f"PRAGMA table_info({t})")] for t in tables}
    pg = {
        t: [name for (name,) in raw_rows(pg_url, (
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = 'public' AND table_name = '{t}' ORDER BY ordinal_position"))]
        for t in tables
    }
    assert pg == lite
    assert lite["outcomes"][:3] == ["outcome_id", "decision_id", "agent_name"]


# -- failures -------------------------------------------------------------------------------------


def test_sqlite_unreachable_path_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="cannot open SQLite store"):
        SQLiteStore(blocker / "routerd.db")


def test_sqlite_not_a_database_is_store_unavailable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    with pytest.raises(StoreUnavailable, match="junk.db"):
        SQLiteStore(junk)


def test_closed_store_is_unavailable(store: Store) -> None:
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.list_agents()


def test_postgres_unreachable_is_store_unavailable() -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/nope"
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL store") as info:
        PostgresStore(url, connect_timeout_s=2)
    assert "hunter2" not in str(info.value)
    assert f"postgresql://postgres@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/nope" in str(info.value)


def _backend_pid(store: PostgresStore) -> int:
    assert store._conn is not None
    return store._conn.info.backend_pid


def _kill_backend(pg_url: str, store: PostgresStore) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (_backend_pid(store),))


@pytest.mark.postgres
def test_postgres_reconnects_once_after_a_broken_connection(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        store.insert_agent(agent("gpt"))
        first_pid = _backend_pid(store)
        _kill_backend(pg_url, store)
        # The next call finds the connection dead, reconnects and runs the transaction once.
        assert store.record_outcome(outcome(1), HEALTHY).total_requests == 1
        assert _backend_pid(store) != first_pid
        _kill_backend(pg_url, store)
        assert [r.name for r in store.list_agents()] == ["gpt"]
        assert store.count_outcomes() == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_server_gone_is_store_unavailable(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        dbname = pg_url.rsplit("/", 1)[1]
        _kill_backend(pg_url, store)
        # With the database gone the reconnect fails too: StoreUnavailable, not a psycopg error.
        admin_url = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        with pytest.raises(StoreUnavailable, match="cannot connect"):
            store.list_agents()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        assert store.list_agents() == []  # and it recovers once the server is back
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_replicas_migrating_at_once(pg_url: str) -> None:
    n = 6
    barrier = threading.Barrier(n)
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            stores.append(PostgresStore(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        assert len(stores) == n
        versions = raw_rows(pg_url, "SELECT version FROM schema_migrations ORDER BY version")
        assert [v for (v,) in versions] == [m.version for m in migrations()]
        stores[0].insert_agent(agent("gpt"))
        assert [r.name for r in stores[-1].list_agents()] == ["gpt"]
    finally:
        for s in stores:
            s.close()
