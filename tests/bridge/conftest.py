"""Fixtures for the multicorn bridge tests: build/install the bridge if
needed, run one private PostgreSQL 15 cluster for the session, and hand each
test a fresh autocommit connection that records NOTICE/WARNING messages."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.stack import SERVER_PATH
from tests.pgcluster import PG_BIN, PgCluster

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "fdw" / "bridge"
TESTS_BRIDGE = Path(__file__).resolve().parent
PG_CONFIG = str(PG_BIN / "pg_config")
PYTHON_CONFIG = "/usr/bin/python3.11-config"

def _pg_config(flag: str) -> Path:
    return Path(subprocess.run([PG_CONFIG, flag], check=True, capture_output=True, text=True).stdout.strip())


def ensure_bridge_installed() -> None:
    """Build and install the bridge when the installed copy is missing or stale."""
    installed = [
        _pg_config("--pkglibdir") / "multicorn.so",
        _pg_config("--sharedir") / "extension" / "multicorn.control",
        _pg_config("--sharedir") / "extension" / "multicorn--3.2.sql",
    ]
    sources = [*BRIDGE.glob("src/*.[ch]"), *BRIDGE.glob("sql/*.sql"), BRIDGE / "Makefile",
               BRIDGE / "multicorn.control"]
    newest = max(p.stat().st_mtime for p in sources)
    if all(p.exists() and p.stat().st_mtime >= newest for p in installed):
        return
    if os.geteuid() != 0:
        pytest.fail("the multicorn bridge is not installed (or stale) and installing needs root: "
                    "run `make -C fdw/bridge install` as root")
    env = {**os.environ, "PATH": f"{PG_BIN}:{os.environ.get('PATH', '')}"}
    for target in ([], ["install"]):
        subprocess.run(["make", "-C", str(BRIDGE), f"PG_CONFIG={PG_CONFIG}",
                        f"PYTHON_CONFIG={PYTHON_CONFIG}", *target],
                       check=True, capture_output=True, text=True, env=env)
    # make install copies files without bumping mtimes of unchanged ones
    for p in installed:
        p.touch()


def python_path_setting() -> str:
    site = sysconfig.get_paths()["purelib"]
    return ",".join([site, str(TESTS_BRIDGE)])


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    ensure_bridge_installed()
    c = PgCluster(settings={"multicorn.python_path": python_path_setting()},
                  # LANG=C: Python must not impose the environment's LC_CTYPE on the database
                  env={"PATH": SERVER_PATH, "OPENBLAS_NUM_THREADS": "1", "LANG": "C", "LC_ALL": ""})
    c.start()
    try:
        with psycopg.connect(c.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION multicorn")
            conn.execute("CREATE SERVER test_srv FOREIGN DATA WRAPPER multicorn "
                         "OPTIONS (wrapper 'fdws.TestFDW')")
        yield c
    finally:
        log = c.log()
        c.stop()
        assert "was terminated by signal" not in log, log[-5000:]
        assert "PANIC" not in log, log[-5000:]


@dataclasses.dataclass
class Notice:
    severity: str
    message: str
    detail: str | None
    hint: str | None
    sqlstate: str


class DB:
    """A connection plus the messages the server sent it."""

    def __init__(self, cluster: PgCluster):
        self.cluster = cluster
        self.conn = psycopg.connect(cluster.dsn, autocommit=True)
        self.notices: list[Notice] = []
        self.conn.add_notice_handler(self._on_notice)

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        # the Diagnostic is only valid during the callback: copy it
        self.notices.append(Notice(diag.severity_nonlocalized or "", diag.message_primary or "",
                                   diag.message_detail, diag.message_hint, diag.sqlstate or ""))

    def q(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def one(self, sql: str, params: Any = None) -> Any:
        rows = self.q(sql, params)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    def messages(self, prefix: str = "") -> list[str]:
        return [n.message for n in self.notices if n.message.startswith(prefix)]

    def clear(self) -> None:
        self.notices.clear()

    def table(self, name: str, columns: str, server: str = "test_srv", **options: Any) -> str:
        self.q(f"DROP FOREIGN TABLE IF EXISTS {name}")
        opts = ", ".join(f"{k} {quote(str(v))}" for k, v in options.items())
        self.q(f"CREATE FOREIGN TABLE {name} ({columns}) SERVER {server}"
               + (f" OPTIONS ({opts})" if opts else ""))
        return name

    def backend_pid(self) -> int:
        return int(self.one("SELECT pg_backend_pid()"))

    def close(self) -> None:
        self.conn.close()


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


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


def hook_calls(db: DB, hook: str) -> list[Any]:
    """Arguments of every logged call of hook (NOTICEs '<hook> <repr(args)>')."""
    import datetime
    import decimal

    out: list[Any] = []
    for m in db.messages():
        if m == hook:
            out.append(())
        elif m.startswith(hook + " "):
            out.append(eval(m[len(hook) + 1:], {"datetime": datetime, "Decimal": decimal.Decimal,
                                                 "nan": float("nan")}))
    return out
