"""SQL sessions on a test cluster and the SQL install.

``Session`` is an autocommit connection with shorthands; ``DB`` (the bridge tests) also keeps every
NOTICE/WARNING the server sent and creates foreign tables on the test wrappers; ``SQL`` (the SQL
tests) points the server ``routerd`` at a given routerd. ``install`` runs sql/*.sql as `make up` does.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from pathlib import Path
from typing import Any

import psycopg

from devstack.stack import install_sql
from tests.harness.cluster import PgCluster

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def install(cluster: PgCluster, target: str, *, dbname: str = "postgres", scripts: list[Path] | None = None) -> None:
    """The install scripts (sql/tinydancer.sql first) against ``target``, exactly as `make up` runs them."""
    install_sql(cluster.url(dbname), target, scripts=scripts)


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class Session:
    """An autocommit connection to ``cluster``."""

    def __init__(self, cluster: PgCluster):
        self.cluster = cluster
        self.conn = psycopg.connect(cluster.dsn, autocommit=True)

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


# -- the bridge tests ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Notice:
    severity: str
    message: str
    detail: str | None
    hint: str | None
    sqlstate: str


class DB(Session):
    """A connection plus the messages the server sent it."""

    def __init__(self, cluster: PgCluster):
        super().__init__(cluster)
        self.notices: list[Notice] = []
        self.conn.add_notice_handler(self._on_notice)

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        # the Diagnostic is only valid during the callback: copy it
        self.notices.append(Notice(diag.severity_nonlocalized or "", diag.message_primary or "",
                                   diag.message_detail, diag.message_hint, diag.sqlstate or ""))

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


def hook_calls(db: DB, hook: str) -> list[Any]:
    """Arguments of every logged call of hook (NOTICEs '<hook> <repr(args)>' from tests/bridge/fdws)."""
    out: list[Any] = []
    for m in db.messages():
        if m == hook:
            out.append(())
        elif m.startswith(hook + " "):
            out.append(eval(m[len(hook) + 1:], {"datetime": datetime, "Decimal": decimal.Decimal,
                                                 "nan": float("nan")}))
    return out


# -- the SQL tests ------------------------------------------------------------------------------------

class SQL(Session):
    """An autocommit connection with the server `routerd` pointed at ``routerd`` (a RouterdProcess or
    an InProcessRouterd)."""

    def __init__(self, cluster: PgCluster, routerd: Any):
        super().__init__(cluster)
        self.routerd = routerd
        self.notices: list[str] = []
        self.conn.add_notice_handler(lambda d: self.notices.append(d.message_primary or ""))
        self.q(f"ALTER SERVER routerd OPTIONS (SET target '{routerd.target}')")
