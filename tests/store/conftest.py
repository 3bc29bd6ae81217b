"""Fixtures of the store suite: every test that takes ``store`` runs on SQLite and on PostgreSQL.

PostgreSQL is the server named by ``TINYDANCER_TEST_PG_URL`` (a ``postgresql://`` URL whose user may
create databases) or else one private cluster started for the session (tests/pgcluster.py); each
test gets a database of its own. Without either, the ``postgres`` cases are skipped.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from routerd.store import Store, open_store
from tests.pgcluster import PG_BIN, PgCluster

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    given = os.environ.get("TINYDANCER_TEST_PG_URL")
    if given:
        yield given
        return
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no TINYDANCER_TEST_PG_URL and no PostgreSQL binaries in {PG_BIN}")
    cluster = PgCluster().start()
    try:
        yield cluster.url()
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = f"td_{uuid.uuid4().hex}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(pg_server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/data/routerd.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def raw_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """Run ``query`` on the store at ``url`` behind the store's back."""
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            return conn.execute(query).fetchall()
        finally:
            conn.close()
    with psycopg.connect(url) as pg:
        return pg.execute(query).fetchall()
