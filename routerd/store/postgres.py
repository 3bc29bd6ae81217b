"""The production store: PostgreSQL through psycopg 3, safe for several routerd replicas.

Threads share one connection behind a lock: every call is one short transaction, so a pool would
buy little. Counters are updated with ``SET x = x + …`` under the row lock, so concurrent replicas
lose no increment; migrations take a transaction-scoped advisory lock so replicas starting together
apply each one exactly once.

A broken connection (server restart, failover, idle timeout) is replaced once and the transaction
run again, unless it broke during COMMIT, where whether it was applied cannot be known: that, a
second failure or a failure to connect raises ``StoreUnavailable`` with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from routerd.errors import StoreUnavailable
from routerd.store._sql import SQLStore, T, Tx

log = logging.getLogger(__name__)
CHANNEL = "tinydancer_changes"  # what LISTEN/NOTIFY carry: agents | routes | budgets | model

CONNECT_TIMEOUT_S = 10
# Key of the advisory lock that serialises migrations ("tdrouter" in ASCII).
MIGRATION_LOCK_KEY = 0x7464_726F_7574_6572

_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def redact_url(url: str) -> str:
    """``url`` without a password in the user info or the query string."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}@{hostport}" if at else hostport
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() not in _SECRET_PARAMS])
    # Not urlunsplit: it drops the empty host of postgresql:///db (the local socket).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


class PostgresStore(SQLStore[psycopg.Connection[tuple[object, ...]]]):
    def __init__(self, url: str, *, connect_timeout_s: int = CONNECT_TIMEOUT_S):
        super().__init__(redact_url(url))
        self._dsn = url
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreUnavailable(f"bad PostgreSQL URL {self.url}: {exc}") from exc
        if "connect_timeout" not in given:
            self._dsn = make_conninfo(url, connect_timeout=connect_timeout_s)
        self._migrate_or_close()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            conn = psycopg.connect(self._dsn, autocommit=False)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL store {self.url}: {exc}") from exc
        self._conn = conn
        return conn

    def _abort(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        """Roll back; forget the connection if it is broken (the next call opens a new one)."""
        if not (conn.broken or conn.closed):
            try:
                conn.rollback()
                return
            except psycopg.Error:
                pass
        self._conn = None
        conn.close()

    def _notify(self, tx: Tx, kind: str) -> None:
        tx.execute("SELECT pg_notify(?, ?)", (CHANNEL, kind))

    def _lock_budget(self, tx: Tx, name: str) -> None:
        tx.execute("SELECT 1 FROM budgets WHERE name = ? FOR UPDATE", (name,))

    shared = True  # other routerd may write to this store: caches follow it (``listen``)

    def listen(self, on_change: Callable[[str | None], None], stop: threading.Event, interval_s: float) -> None:
        """Until ``stop``: call ``on_change(kind)`` for every change another routerd (or this one)
        commits (LISTEN on its own connection), and ``on_change(None)`` every ``interval_s`` seconds and
        after a lost connection (the safety net: a notification sent while not listening is missed)."""
        next_full = time.monotonic() + interval_s
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self._dsn, autocommit=True)
                    conn.execute(f"LISTEN {CHANNEL}")
                    on_change(None)  # whatever happened while not listening
                wait = max(0.05, min(1.0, next_full - time.monotonic()))
                for n in conn.notifies(timeout=wait, stop_after=256):
                    on_change(n.payload or None)
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + interval_s
                    on_change(None)
            except psycopg.Error as exc:
                log.warning("store sync: lost the LISTEN connection to %s (%s); retrying", self.url, exc)
                if conn is not None:
                    conn.close()
                conn = None
                stop.wait(1.0)
            except Exception:  # a reload failed: keep listening, the next change or period retries it
                log.exception("store sync: reloading after a change failed")
                stop.wait(1.0)
        if conn is not None:
            conn.close()

    def _lock_migrations(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))

    def _transact(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"PostgreSQL store {self.url} is closed")
            for attempt in (1, 2):
                conn = self._conn if self._conn is not None else self._connect()
                committing = False
                try:
                    with conn.cursor() as cursor:
                        result = fn(Tx(cursor, format_style=True))
                    committing = True
                    conn.commit()
                    return result
                except BaseException as exc:
                    self._abort(conn)
                    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                        raise
                    lost = self._conn is None
                    if lost and attempt == 1 and not committing:
                        continue  # nothing was committed: run it again on a fresh connection
                    reason = str(exc)
                    if lost and committing:
                        reason = f"the connection broke during COMMIT, the write may not be applied ({exc})"
                    raise StoreUnavailable(f"PostgreSQL store {self.url}: {reason}") from exc
            raise AssertionError("unreachable")
