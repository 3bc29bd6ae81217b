"""SQL end to end: a real PostgreSQL cluster with the bridge, the tinydancer install script, and a
real routerd. The cluster lives for the session; each test gets a fresh routerd (so a fresh
registry) and the server `routerd` is pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.stack import install_sql
from tests.bridge.conftest import SERVER_PATH, ensure_bridge_installed, python_path_setting
from tests.pgcluster import PgCluster
from tests.routerd_proc import RouterdProcess


def install(cluster: PgCluster, target: str, *, dbname: str = "postgres", scripts: list[Path] | None = None) -> None:
    """The install scripts (sql/tinydancer.sql first) against ``target``, exactly as `make up` runs them."""
    install_sql(cluster.url(dbname), target, scripts=scripts)


SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@pytest.fixture(scope="session")
def sql_cluster() -> Iterator[PgCluster]:
    ensure_bridge_installed()
    c = PgCluster(settings={"multicorn.python_path": python_path_setting()},
                  env={"PATH": SERVER_PATH, "OPENBLAS_NUM_THREADS": "1"})
    c.start()
    try:
        yield c
    finally:
        log = c.log()
        c.stop()
        assert "terminated by signal" not in log and "PANIC" not in log, log[-5000:]


@pytest.fixture(scope="session")
def installed(sql_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """The install scripts run once, against a routerd that only serves the install."""
    with RouterdProcess(tmp_path_factory.mktemp("install") / "routerd") as r:
        install(sql_cluster, r.target)
    yield sql_cluster


@pytest.fixture
def routerd(tmp_path: Path) -> Iterator[RouterdProcess]:
    with RouterdProcess(tmp_path / "routerd") as proc:
        yield proc


class SQL:
    """An autocommit connection with the server `routerd` pointed at this test's routerd."""

    def __init__(self, cluster: PgCluster, routerd: RouterdProcess):
        self.cluster = cluster
        self.routerd = routerd
        self.conn = psycopg.connect(cluster.dsn, autocommit=True)
        self.notices: list[str] = []
        self.conn.add_notice_handler(lambda d: self.notices.append(d.message_primary or ""))
        self.q(f"ALTER SERVER routerd OPTIONS (SET target '{routerd.target}')")

    def q(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def one(self, sql: str, params: Any = None) -> Any:
        rows = self.q(sql, params)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    def dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def sql(installed: PgCluster, routerd: RouterdProcess) -> Iterator[SQL]:
    s = SQL(installed, routerd)
    try:
        yield s
    finally:
        s.close()
