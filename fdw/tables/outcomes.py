"""``tinydancer.outcomes``: INSERT records an outcome; SELECT reads the log, with time-range,
agent and decision quals pushed down (as hints: PostgreSQL rechecks them). Append-only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, NoReturn

import grpc

from fdw.errors import FEATURE_NOT_SUPPORTED, NULL_VALUE_NOT_ALLOWED, RoutedError, fail
from fdw.tables.base import (
    Column,
    Columns,
    Row,
    TinyDancer,
    as_bool,
    as_float,
    as_int,
    as_time,
    optional,
    paged,
    timestamp,
    when,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

_MICROSECOND = timedelta(microseconds=1)


class Outcomes(TinyDancer):
    resource = "outcomes"
    rowid_column = "outcome_id"
    COLUMNS = Columns(
        Column("decision_id", "text", lambda o: o.decision_id or None),
        Column("agent_name", "text", lambda o: o.agent_name),
        Column("recorded_at", "timestamptz", lambda o: when(o.recorded_at)),
        Column("latency_ms", "float8", lambda o: o.latency_ms),
        Column("success", "boolean", lambda o: o.success),
        Column("quality", "float8", optional("quality")),
        Column("cost", "float8", optional("cost")),
        Column("input_tokens", "integer", lambda o: o.input_tokens),
        Column("output_tokens", "integer", lambda o: o.output_tokens),
        Column("outcome_id", "text", lambda o: o.outcome_id),
    )

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        req = pb.ListOutcomesRequest(page_size=10_000)
        start: datetime | None = None
        end: datetime | None = None
        for q in quals:
            if q.is_list_operator or q.value is None:
                continue
            if q.field_name == "recorded_at":
                # Pushdown is a hint: PostgreSQL rechecks every qual, so an unreadable time is skipped.
                try:
                    t = as_time(q.value, "recorded_at")
                except Exception:
                    continue
                assert t is not None
                if q.operator in (">", ">=", "="):
                    start = t if start is None else max(start, t)
                if q.operator in ("<", "<=", "="):
                    # the API's end is exclusive; a microsecond covers <= and =
                    # (at datetime.max the bound cannot be represented: no end, PostgreSQL rechecks)
                    try:
                        bound = t if q.operator == "<" else t + _MICROSECOND
                    except OverflowError:
                        continue
                    end = bound if end is None else min(end, bound)
            elif q.field_name == "agent_name" and q.operator == "=":
                req.agent_name = q.value
            elif q.field_name == "decision_id" and q.operator == "=":
                req.decision_id = q.value
        if start is not None:
            req.start.CopyFrom(timestamp(start))
        if end is not None:
            req.end.CopyFrom(timestamp(end))
        getters = self.COLUMNS.getters(columns)
        for o in self._listing(req):
            yield {name: get(o) for name, get in getters}

    def _listing(self, req: pb.ListOutcomesRequest) -> Iterator[pb.Outcome]:
        """ListOutcomes with the pushed-down quals, which are filters: a value routerd rejects (a name
        or id that cannot exist) matches no row, and a time bound it rejects is dropped (PostgreSQL
        rechecks it)."""
        def call(method: str, request: Any) -> Any:
            return self.client.call(method, request)

        while True:
            yielded = False
            try:
                for o in paged(call, "ListOutcomes", req, "outcomes"):
                    yielded = True
                    yield o
                return
            except RoutedError as e:
                field = e.field or ""
                if yielded or e.code != grpc.StatusCode.INVALID_ARGUMENT:
                    self._raise(e)
                if field in ("agent_name", "decision_id") and getattr(req, field):
                    return
                if field in ("start", "end") and req.HasField(field):
                    req.ClearField(field)
                    continue
                self._raise(e)

    def _raise(self, e: RoutedError) -> NoReturn:
        fail(e.message, e.hint, e.detail, sqlstate=e.sqlstate)

    def insert(self, values: dict[str, Any]) -> Row:
        latency = as_float(values.get("latency_ms"), "latency_ms")
        success = as_bool(values.get("success"), "success")
        if latency is None or success is None:
            fail("an outcome needs latency_ms and success", sqlstate=NULL_VALUE_NOT_ALLOWED,
                 hint="INSERT INTO tinydancer.outcomes (decision_id, latency_ms, success, quality) VALUES (...)")
        req = pb.RecordOutcomeRequest(decision_id=values.get("decision_id") or "",
                                      agent_name=values.get("agent_name") or "", latency_ms=latency, success=success,
                                      input_tokens=as_int(values.get("input_tokens"), "input_tokens") or 0,
                                      output_tokens=as_int(values.get("output_tokens"), "output_tokens") or 0)
        for col in ("quality", "cost"):
            v = as_float(values.get(col), col)
            if v is not None:
                setattr(req, col, v)
        at = as_time(values.get("recorded_at"), "recorded_at")
        if at is not None:
            req.recorded_at.CopyFrom(timestamp(at))
        return self.COLUMNS.row(self.rpc("RecordOutcome", req).outcome)

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> NoReturn:
        fail("tinydancer.outcomes is append-only", hint="Record a new outcome instead.",
             sqlstate=FEATURE_NOT_SUPPORTED)

    def delete(self, rowid: Any) -> NoReturn:
        fail("tinydancer.outcomes is append-only", hint="Outcomes are the log routerd learns from.",
             sqlstate=FEATURE_NOT_SUPPORTED)
