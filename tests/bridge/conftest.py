"""Fixtures for the multicorn bridge tests: one private PostgreSQL 15 cluster with the bridge for the
session (built and installed first if needed), and a fresh autocommit connection per test that records
NOTICE/WARNING messages (tests/harness/sql.py DB)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from tests.harness.cluster import PgCluster, bridge_cluster, running
from tests.harness.sql import DB


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    # LANG=C: Python must not impose the environment's LC_CTYPE on the database
    with running(bridge_cluster(env={"LANG": "C", "LC_ALL": ""})) as c:
        with psycopg.connect(c.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION multicorn")
            conn.execute("CREATE SERVER test_srv FOREIGN DATA WRAPPER multicorn "
                         "OPTIONS (wrapper 'fdws.TestFDW')")
        yield c


@pytest.fixture
def db(cluster: PgCluster) -> Iterator[DB]:
    d = DB(cluster)
    try:
        yield d
    finally:
        d.close()


@pytest.fixture(autouse=True)
def _postmaster_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test may crash a backend: a crash restarts all backends, and the
    log says so; the postmaster PID must also stay the same."""
    if "cluster" not in request.fixturenames:
        yield
        return
    c: PgCluster = request.getfixturevalue("cluster")
    before = c.postmaster_start_time()
    log_before = len(c.log())
    yield
    assert c.postmaster_start_time() == before
    new_log = c.log()[log_before:]
    assert not re.search(r"terminated by signal|server process .* exited with exit code [^0]", new_log), new_log
