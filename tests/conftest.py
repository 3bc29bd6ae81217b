"""Fixtures shared by every test folder: one PostgreSQL cluster for the session, a database per test;
and the ``postgres`` marker on every test that needs a cluster, so ``pytest -m "not postgres"`` (make
test-fast) runs the rest.

PostgreSQL is the server named by ``TINYDANCER_TEST_PG_URL`` (a ``postgresql://`` URL whose user may
create databases) or else one private cluster started for the session (tests/harness/cluster.py).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from tests.harness.cluster import PG_BIN, PgCluster

TESTS = Path(__file__).resolve().parent
# The bridge's Python half (`multicorn`) is installed only under PostgreSQL's share directory, never
# into the virtualenv; outside a backend (fdw.tables, tests/fdw, tests/bridge/test_package.py) the
# tests import it from the source tree.
BRIDGE_PYTHON = TESTS.parent / "fdw" / "bridge" / "python"
if str(BRIDGE_PYTHON) not in sys.path:
    sys.path.insert(0, str(BRIDGE_PYTHON))
# Every test in these folders runs against a cluster with the bridge.
POSTGRES_DIRS = ("bridge", "sql")
# Elsewhere, a test that takes one of these fixtures needs PostgreSQL (a parameter that asks for one at
# run time carries the marker itself, like the store suite's "postgres" backend).
POSTGRES_FIXTURES = frozenset({"pg_server_url", "pg_url"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(TESTS).parts if item.path.is_relative_to(TESTS) else ()
        if (parts and parts[0] in POSTGRES_DIRS) or POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


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
def pg_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    assert request.node.get_closest_marker("postgres"), (
        f"{request.node.nodeid} uses PostgreSQL without the postgres marker: mark the parameter that asks for it")
    name = f"td_{uuid.uuid4().hex}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(pg_server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
