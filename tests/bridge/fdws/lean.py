"""FDW classes for the bridge's lean-path tests (issue 8): a decisions-like virtual table, and counters
that the tests read back through SQL.

``DecisionLikeFDW`` behaves like ``tinydancer.decisions`` without routerd: the inputs come from the quals
and are echoed back (so PostgreSQL's recheck passes), the outputs are fixed values of every column type
the real table has (text, float8, int, bool, jsonb, timestamptz, text[], float4[]).

``CountersFDW`` reads the per-backend counters: ``SELECT name, value FROM counters``.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from typing import Any

from multicorn import ColumnDefinition, ForeignDataWrapper

COUNTERS: Counter[str] = Counter()
SEEN: dict[str, list[Any]] = {}

DECIDED_AT = datetime.datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=datetime.UTC)

_orig_coldef_init = ColumnDefinition.__init__


def _counting_coldef_init(self: ColumnDefinition, *args: Any, **kwargs: Any) -> None:
    _orig_coldef_init(self, *args, **kwargs)
    COUNTERS[f"column_definitions:{self.column_name}"] += 1


# Every ColumnDefinition the bridge builds in this backend is counted (the bridge looks the class up
# on the multicorn module, so patching __init__ is enough).
ColumnDefinition.__init__ = _counting_coldef_init  # type: ignore[method-assign]


class DecisionLikeFDW(ForeignDataWrapper):
    def __init__(self, options: dict[str, str], columns: Any):
        super().__init__(options, columns)
        COUNTERS["init"] += 1
        self.options = options
        self.columns = columns
        self.rel_size = json.loads(options.get("rel_size", "[100000000, 600]"))
        self.keys = json.loads(options.get("path_keys", "[]"))

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        COUNTERS["get_rel_size"] += 1
        COUNTERS["get_rel_size_quals"] += len(quals)
        if self.options.get("track_identity"):
            # remember the element objects, then change the list: execute must get equal values
            # (the same objects when converted once) in a list of its own
            for q in quals:
                if isinstance(q.value, list):
                    SEEN[q.field_name] = list(q.value)
                    q.value.append("changed by get_rel_size")
        for q in quals:
            COUNTERS[f"rel_size_qual:{q.field_name}:{type(q.value).__name__}"] += 1
            if q.field_name in ("request", "request_embedding") and q.operator == "=":
                return (1, 600)
        return (self.rel_size[0], self.rel_size[1])

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        COUNTERS["get_path_keys"] += 1
        return [(tuple(k), n) for k, n in self.keys]

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Any:
        COUNTERS["execute"] += 1
        if self.options.get("track_identity"):
            for q in quals:
                if isinstance(q.value, list):
                    before = SEEN.get(q.field_name)
                    same = before is not None and len(before) == len(q.value) and all(
                        a is b for a, b in zip(before, q.value, strict=True))
                    COUNTERS[f"execute_list:{q.field_name}:{'same' if same else 'new'}"] += 1
                    COUNTERS[f"execute_list_len:{q.field_name}"] = len(q.value)
                    SEEN[q.field_name] = list(q.value)
                    q.value.append("changed by execute")
        given: dict[str, Any] = {}
        for q in quals:
            if q.operator == "=":
                given[q.field_name] = q.value
                COUNTERS[f"execute_qual:{q.field_name}:{type(q.value).__name__}"] += 1
        if self.options.get("outputs") == "columns":
            COUNTERS["columns:" + ",".join(sorted(columns))] += 1
        emb = given.get("request_embedding")
        if isinstance(emb, list):
            COUNTERS["embedding_len"] = len(emb)
            COUNTERS["embedding_elem:" + (type(emb[0]).__name__ if emb else "none")] += 1
        row = {
            "request": given.get("request"), "request_embedding": emb,
            "optimize_for": None, "required_capabilities": None, "excluded_agents": None,
            "max_cost": None, "max_latency_ms": None, "min_quality": None, "budget_remaining": None,
            "willingness_to_pay": None, "input_tokens": None, "output_tokens": None,
            "decision_id": "d-1", "agent_name": "alpha", "confidence": 0.75, "estimated_cost": 0.002,
            "estimated_latency_ms": 120.5, "expected_quality": 0.9, "similarity": 0.42,
            "reasoning": "because", "alternatives": "[]", "model_version": "v1",
            "decided_at": DECIDED_AT, "routed": True,
        }
        yield row


class ValuesFDW(ForeignDataWrapper):
    """Yields the rows given as a Python expression in option ``rows`` (no eval of per-row data: the
    expression is evaluated once per execute) and records what insert() received."""

    rowid_column = "id"
    received: list[Any] = []

    def __init__(self, options: dict[str, str], columns: Any):
        super().__init__(options, columns)
        self.options = options

    def execute(self, quals: list[Any], columns: Any) -> Any:
        import time

        env = {"datetime": datetime, "json": json, "time": time, "float": float}
        rows = eval(self.options.get("rows", "[]"), env)  # noqa: S307 - test-only
        return rows

    def insert(self, values: dict[str, Any]) -> None:
        COUNTERS["insert"] += 1
        v = values.get("v")
        if isinstance(v, list):
            COUNTERS["insert_len"] = len(v)
        if self.options.get("keep", "1") == "1":
            ValuesFDW.received.append(values)


class CountersFDW(ForeignDataWrapper):
    """``SELECT name, value FROM counters`` reads this backend's counters; ``reset`` option clears."""

    def execute(self, quals: list[Any], columns: Any) -> Any:
        rows = [{"name": k, "value": int(v)} for k, v in sorted(COUNTERS.items())]
        return rows

    rowid_column = "name"

    def delete(self, rowid: Any) -> None:
        COUNTERS.clear()
        SEEN.clear()
        ValuesFDW.received.clear()


class SqlstateError(Exception):
    """An exception carrying the optional attributes the bridge reads."""


class RaisingFDW(ForeignDataWrapper):
    """execute() raises: option ``kind`` is ``plain`` (SqlstateError), ``multicorn``
    (MulticornException via log_to_postgres) or ``class_attr`` (sqlstate on the class); ``sqlstate``,
    ``hint`` and ``detail`` options become attributes (``sqlstate`` is eval'd, so non-str values can
    be tested)."""

    def __init__(self, options: dict[str, str], columns: Any):
        super().__init__(options, columns)
        self.options = options

    def execute(self, quals: list[Any], columns: Any) -> Any:
        from multicorn.utils import ERROR, MulticornException, log_to_postgres

        o = self.options
        kind = o.get("kind", "plain")
        exc: Exception
        if kind == "multicorn":
            try:
                log_to_postgres(o.get("message", "bad thing"), ERROR, hint=o.get("hint"), detail=o.get("detail"))
            except MulticornException as e:
                exc = e
        elif kind == "class_attr":
            class WithClassState(SqlstateError):
                sqlstate = "22023"
            exc = WithClassState(o.get("message", "bad thing"))
        else:
            exc = SqlstateError(o.get("message", "bad thing"))
        if "sqlstate" in o:
            exc.sqlstate = eval(o["sqlstate"])  # type: ignore[attr-defined]  # noqa: S307 - test-only
        raise exc
        yield  # pragma: no cover - a generator, like real FDWs
