"""Small FDW classes the bridge tests load inside the PostgreSQL backend.

Behaviour is driven by table/server options so one class covers many tests:

- ``rows``: a Python expression (eval'd with datetime/Decimal/json in scope)
  giving the iterable ``execute`` returns; ``n``: generate n dict rows.
- ``log``: when set, every hook reports its arguments as a NOTICE
  ``<hook> <repr>`` so tests can read what the bridge passed.
- ``fail``: name of a hook that raises ``ValueError('boom <hook>')``;
  ``fail_after``: execute raises after that many rows.
- ``store``: rows live in a class-level dict under that name, so
  insert/update/delete and later scans see each other.
"""

from __future__ import annotations

import datetime
import decimal
import json
import time
import uuid
from collections import OrderedDict
from typing import Any

from multicorn import ColumnDefinition, ForeignDataWrapper, TableDefinition
from multicorn.utils import ERROR, INFO, WARNING, check_interrupts, log_to_postgres

STORES: dict[str, OrderedDict[Any, dict[str, Any]]] = {}

_ENV = {"datetime": datetime, "Decimal": decimal.Decimal, "json": json, "float": float, "uuid": uuid}


def _eval(expr: str) -> Any:
    return eval(expr, dict(_ENV))  # noqa: S307 - test-only, options come from the test


class TestFDW(ForeignDataWrapper):
    _failed_once = False
    def __init__(self, options: dict[str, str], columns: OrderedDict[str, ColumnDefinition]):
        super().__init__(options, columns)
        self.options = options
        self.columns = columns
        if "startup_cost" in options:
            self._startup_cost = int(options["startup_cost"])
        self._hook("init", sorted(options.items()))
        if options.get("fail_init_once") and not TestFDW._failed_once:
            TestFDW._failed_once = True
            raise RuntimeError("constructor failed once")
        if options.get("log_columns"):
            log_to_postgres("columns " + repr([
                (c.column_name, c.type_oid, c.typmod, c.type_name, c.base_type_name, c.options)
                for c in columns.values()
            ]))

    # -- helpers -------------------------------------------------------
    def _hook(self, name: str, *args: Any) -> None:
        if self.options.get("log"):
            tag = self.options.get("tag")
            label = f"{tag}:{name}" if tag else name
            log_to_postgres(f"{label} {args!r}" if args else label)
        if self.options.get("fail") == name:
            raise ValueError(f"boom {name}")

    @property
    def _store(self) -> OrderedDict[Any, dict[str, Any]]:
        return STORES.setdefault(self.options["store"], OrderedDict())

    # -- planning ------------------------------------------------------
    def get_rel_size(self, quals: Any, columns: Any) -> Any:
        self._hook("get_rel_size", [(q.field_name, q.operator, q.value) for q in quals], sorted(columns))
        if "rel_size" in self.options:
            return _eval(self.options["rel_size"])
        return (20, 20)

    def get_path_keys(self) -> Any:
        self._hook("get_path_keys")
        if "path_keys" in self.options:
            return _eval(self.options["path_keys"])
        return []

    def explain(self, quals: Any, columns: Any, sortkeys: Any = None, verbose: bool = False,
                limit: Any = None, offset: Any = None) -> Any:
        self._hook("explain")
        return [f"quals {[(q.field_name, q.operator, q.value) for q in quals]!r}",
                f"verbose {verbose!r}", 42]

    # -- scan ----------------------------------------------------------
    def execute(self, quals: Any, columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Any:
        self._hook("execute", [(q.field_name, q.operator, q.value) for q in quals],
                   sorted(columns), type(columns).__name__, sorted(kw))
        if self.options.get("qual_repr"):
            log_to_postgres("qual_repr " + repr(quals))
        return self._generate(quals)

    def _generate(self, quals: Any) -> Any:
        opts = self.options
        fail_after = int(opts["fail_after"]) if "fail_after" in opts else None
        if "store" in opts:
            source: Any = list(self._store.values())
        elif "rows" in opts:
            source = _eval(opts["rows"])
            if source is None:
                return None
        elif "n" in opts:
            source = ({"id": i, "name": f"row{i}"} for i in range(int(opts["n"])))
        else:
            source = []
        sleep = float(opts.get("sleep", 0))
        busy = bool(opts.get("busy"))
        return self._iterate(source, fail_after, sleep, busy)

    def _iterate(self, source: Any, fail_after: int | None, sleep: float, busy: bool) -> Any:
        if busy:
            while True:  # never yields: only check_interrupts can stop it
                check_interrupts()
        for i, row in enumerate(source):
            if fail_after is not None and i >= fail_after:
                raise ValueError(f"boom execute after {i} rows")
            if sleep:
                time.sleep(sleep)
            yield row

    def end_scan(self) -> None:
        self._hook("end_scan")

    # -- modify --------------------------------------------------------
    @property
    def rowid_column(self) -> Any:
        rowid = self.options.get("rowid", "id")
        return None if rowid == "None" else rowid

    def insert(self, values: dict[str, Any]) -> Any:
        self._hook("insert", values)
        if "store" in self.options:
            self._store[values[self.rowid_column]] = dict(values)
        if "insert_return" in self.options:
            return _eval(self.options["insert_return"])
        return None

    def update(self, oldvalues: Any, newvalues: dict[str, Any]) -> Any:
        self._hook("update", oldvalues, newvalues)
        if "store" in self.options:
            self._store.pop(oldvalues, None)
            self._store[newvalues[self.rowid_column]] = dict(newvalues)
        if "update_return" in self.options:
            return _eval(self.options["update_return"])
        return None

    def delete(self, oldvalues: Any) -> Any:
        self._hook("delete", oldvalues)
        if "store" in self.options:
            self._store.pop(oldvalues, None)
        if "delete_return" in self.options:
            return _eval(self.options["delete_return"])
        return None

    def end_modify(self) -> None:
        self._hook("end_modify")

    # -- transactions --------------------------------------------------
    def begin(self, serializable: int) -> None:
        self._hook("begin", serializable, type(serializable).__name__)

    def pre_commit(self) -> None:
        self._hook("pre_commit")

    def commit(self) -> None:
        self._hook("commit")

    def rollback(self) -> None:
        self._hook("rollback")

    def sub_begin(self, level: int) -> None:
        self._hook("sub_begin", level)

    def sub_commit(self, level: int) -> None:
        self._hook("sub_commit", level)

    def sub_rollback(self, level: int) -> None:
        self._hook("sub_rollback", level)

    # -- import --------------------------------------------------------
    @classmethod
    def import_schema(cls, schema: str, srv_options: dict[str, str], options: dict[str, str],
                      restriction_type: str | None, restricts: list[str]) -> Any:
        log_to_postgres("import_schema " + repr((schema, sorted(srv_options.items()),
                                                 sorted(options.items()), restriction_type, restricts)))
        if options.get("fail") == "import_schema":
            raise ValueError("boom import_schema")
        tables = []
        for name in ("alpha", "beta", "gamma"):
            tables.append(TableDefinition(
                name, schema=schema,
                columns=[ColumnDefinition("id", type_name="integer"),
                         ColumnDefinition("Label", type_name="character varying(5)",
                                          options={"src": "it's"})],
                options={"remote": f"{schema}.{name}"}))
        return tables


class InsertOnlyFDW(ForeignDataWrapper):
    """Defines insert but no rowid_column: every modify fails (spec 1.6)."""

    def insert(self, values: dict[str, Any]) -> Any:
        return None


class BulkOnlyFDW(ForeignDataWrapper):
    """Overrides only bulk_insert: the bridge falls back to bulk_insert([values])."""

    rowid_column = "id"

    def bulk_insert(self, all_values: list[dict[str, Any]]) -> Any:
        log_to_postgres("bulk_insert " + repr(all_values))
        return None


class LoggingFDW(ForeignDataWrapper):
    """execute() emits log_to_postgres at the level named by the 'level' option."""

    def __init__(self, options: dict[str, str], columns: Any):
        super().__init__(options, columns)
        self.options = options

    def execute(self, quals: Any, columns: Any) -> Any:
        level = {"INFO": INFO, "WARNING": WARNING, "ERROR": ERROR, "DEBUG": 10, "CRITICAL": 50,
                 "BOGUS": 99}[self.options["level"]]
        hint = self.options.get("hint")
        detail = self.options.get("detail")
        if self.options.get("swallow"):
            try:
                log_to_postgres("swallowed", ERROR)
            except Exception:
                pass
        log_to_postgres(self.options.get("message", "hello"), level, hint=hint, detail=detail)
        yield {"x": "done"}


class ThreadFDW(ForeignDataWrapper):
    """Starts a thread and reports its blocked-signal set (spec 4.3)."""

    def execute(self, quals: Any, columns: Any) -> Any:
        import signal
        import threading

        result: dict[str, Any] = {}

        def work() -> None:
            result["mask"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
            try:
                log_to_postgres("from a thread")
            except RuntimeError as exc:
                result["log"] = type(exc).__name__

        t = threading.Thread(target=work)
        t.start()
        t.join()
        blocked = result["mask"]
        ok = signal.SIGALRM in blocked and signal.SIGINT in blocked and signal.SIGUSR1 in blocked
        yield {"x": f"{ok} {result.get('log')}"}


class EchoListFDW(ForeignDataWrapper):
    """One row per element of a ``key = ANY(list)`` qual (``key`` option, default ``request``), each
    echoing its element and its position; no such qual: no rows. Like ``tinydancer.decisions`` with a
    batch of requests, without routerd."""

    def __init__(self, options: dict[str, str], columns: Any):
        super().__init__(options, columns)
        self.key = options.get("key", "request")

    def execute(self, quals: Any, columns: Any) -> Any:
        for q in quals:
            if q.field_name == self.key and q.operator == ("=", True):
                return ({self.key: v, "n": i} for i, v in enumerate(q.value))
        return None


class BatchSizeFDW(ForeignDataWrapper):
    """Asks for batches of 5 (``modify_batch_size``) and implements both insert and bulk_insert."""

    rowid_column = "id"
    modify_batch_size = 5

    def insert(self, values: dict[str, Any]) -> Any:
        log_to_postgres(f"insert {values['id']}")
        return None

    def bulk_insert(self, all_values: list[dict[str, Any]]) -> Any:
        log_to_postgres(f"bulk_insert {[v['id'] for v in all_values]}")
        return None
