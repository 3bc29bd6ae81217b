"""Fixtures shared by every test folder: one PostgreSQL cluster for the session, a database per test.

PostgreSQL is the server named by ``TINYDANCER_TEST_PG_URL`` (a ``postgresql://`` URL whose user may
create databases) or else one private cluster started for the session (tests/harness/cluster.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from tests.harness.cluster import PG_BIN, PgCluster


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    given = os.environ.get("TINYDANCER_TEST_PG_URL")
    if given:
        yield given
        return
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"no TINYDANCER_TEST_PG_URL and no PostgreSQL binaries in {PG_BIN}")
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
