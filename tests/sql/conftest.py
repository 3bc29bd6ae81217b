"""SQL end to end: a real PostgreSQL cluster with the bridge, the tinydancer install script, and a
real routerd. The cluster lives for the session; each test gets a fresh routerd process (so a fresh
registry; some tests kill and restart it) and the server `routerd` is pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster import PgCluster, bridge_cluster, running
from tests.harness.routerd import InProcessRouterd, RouterdProcess
from tests.harness.sql import SQL, install


@pytest.fixture(scope="session")
def sql_cluster() -> Iterator[PgCluster]:
    with running(bridge_cluster()) as c:
        yield c


@pytest.fixture(scope="session")
def installed(sql_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """The install scripts run once, against a routerd (in process) that only serves the install."""
    with InProcessRouterd(tmp_path_factory.mktemp("install") / "routerd") as r:
        install(sql_cluster, r.target)
    yield sql_cluster


@pytest.fixture
def routerd(tmp_path: Path) -> Iterator[RouterdProcess]:
    with RouterdProcess(tmp_path / "routerd") as proc:
        yield proc


@pytest.fixture
def sql(installed: PgCluster, routerd: RouterdProcess) -> Iterator[SQL]:
    s = SQL(installed, routerd)
    try:
        yield s
    finally:
        s.close()
