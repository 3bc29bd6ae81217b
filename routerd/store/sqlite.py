"""The embedded store: one SQLite file in WAL mode with ``synchronous=FULL``.

Threads share ONE connection behind a lock (``check_same_thread=False``). SQLite lets only one writer
commit at a time anyway, and with the lock no thread of this process ever waits on ``SQLITE_BUSY``
or deadlocks upgrading a read transaction to a write; ``close`` closes the one connection there
is, and there are no per-thread connections to leak. Reads are serialised with writes, which is
cheap at routerd's scale (each call is one short indexed statement). Another process on the same
file is handled by ``busy_timeout`` and by taking the write lock up front (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from routerd.errors import StoreUnavailable
from routerd.store._sql import SQLStore, T, Tx

BUSY_TIMEOUT_S = 10.0


class SQLiteStore(SQLStore[sqlite3.Connection]):
    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = BUSY_TIMEOUT_S):
        memory = os.fspath(path) == ":memory:"
        self.path = os.fspath(path) if memory else os.path.abspath(path)
        super().__init__(f"sqlite://{self.path}")
        try:
            if not memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (see _transact).
            conn = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._conn = conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal" and not memory:
                raise StoreUnavailable(f"SQLite store {self.path}: cannot use WAL (journal_mode={mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            self.close()
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
        except BaseException:
            self.close()
            raise
        self._migrate_or_close()
        if not memory:
            self._check_writable()

    def _check_writable(self) -> None:
        """Fail at open, not at the first write, on a file SQLite can only read (read-only file or
        file system: SQLite then opens it read-only without a word). A write of no row is refused
        there with SQLITE_READONLY and writes nothing anywhere else."""
        try:
            self._transact(lambda tx: tx.execute("UPDATE schema_migrations SET version = version WHERE 0 = 1"))
        except StoreUnavailable as exc:
            self.close()
            raise StoreUnavailable(f"SQLite store {self.path} cannot be written ({exc.__cause__}); routerd "
                                   "needs it writable") from None

    def _lock_migrations(self, tx: Tx) -> None:
        pass  # BEGIN IMMEDIATE already keeps every other writer out until COMMIT

    def _transact(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreUnavailable(f"SQLite store {self.path} is closed")
            try:
                # IMMEDIATE takes the write lock now, so a writer never fails half-way on a busy file.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                result = fn(Tx(conn.cursor()))
                conn.execute("COMMIT")
                return result
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the original error is the one to report
                if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
                    # locked past busy_timeout, disk full or I/O error, not a database, …
                    raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
                raise
