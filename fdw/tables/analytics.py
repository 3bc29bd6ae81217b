"""The decision log in SQL: ``tinydancer.analytics`` (virtual: one row per group of RoutingAnalytics)
and ``tinydancer.decision_log`` (read-only: ListDecisions, oldest first).

``tinydancer.analytics`` aggregates the decisions made in [since, until) and the outcomes that name
them. Its inputs are given with ``=`` (and echoed on every row, so PostgreSQL's recheck passes):

    group_by   agent (default) | day | hour | route | objective | tag    (day and hour in UTC)
    since      decisions made at or after it (NULL / not given: no lower bound)
    until      decisions made before it (exclusive; not given: no upper bound)

    SELECT key, requests, spend, p95_latency_ms FROM tinydancer.analytics
     WHERE group_by = 'agent' AND since = now() - interval '7 days';

The time range is two input columns rather than range conditions on a time column: an aggregate row
has no decided_at of its own that a condition could be rechecked against. Per group (AnalyticsRow in
the proto; routerd/store/_analytics.py): requests = decisions, without_outcome, outcomes = outcomes
naming them, spend = sum of their costs, mean_latency_ms and p95_latency_ms (nearest rank, as
percentile_disc(0.95)), success_rate, mean_quality (NULL without outcomes), reference_cost (on the
agent of highest expected quality) and savings = reference_cost - what the decisions cost. key is
the agent, route or objective ('' for none), the tag, or for day/hour the bucket's start in RFC 3339;
bucket_start is that time (NULL for the others). A range with no decision gives no row.

``tinydancer.decision_log`` has one row per logged decision; conditions on decided_at (>, >=, <, <=,
=, BETWEEN) are pushed down to ListDecisions' half-open range, widened by a microsecond (as hints:
PostgreSQL rechecks them),
and the log is read in pages of 10,000.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, NoReturn

import grpc

from fdw.errors import RoutedError, fail
from fdw.tables.base import (
    Column,
    Columns,
    Row,
    TinyDancer,
    as_time,
    inputs_from_quals,
    optional,
    paged,
    read_only,
    timestamp,
    when,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

GROUP_BY = ("agent", "day", "hour", "route", "objective", "tag")
GROUP_BY_HINT = f"group_by is one of {', '.join(GROUP_BY)} (day and hour are UTC buckets of decided_at)."
TIME_HINT = ("since and until are timestamptz in 1970-01-01 .. 9999-12-31, e.g. since = now() - interval '7 days' "
             "(decisions made in [since, until)).")
INPUTS = ("group_by", "since", "until")
_MICROSECOND = timedelta(microseconds=1)


def _opt_when(field: str) -> Any:
    return lambda m: when(getattr(m, field)) if m.HasField(field) else None


class Analytics(TinyDancer):
    resource = "analytics"
    COLUMNS = Columns(
        Column("group_by", "text"),  # inputs: echoed from the quals
        Column("since", "timestamptz"),
        Column("until", "timestamptz"),
        Column("key", "text", lambda r: r.key),
        Column("bucket_start", "timestamptz", _opt_when("bucket_start")),
        Column("requests", "bigint", lambda r: r.requests),
        Column("without_outcome", "bigint", lambda r: r.without_outcome),
        Column("outcomes", "bigint", lambda r: r.outcomes),
        Column("spend", "float8", lambda r: r.spend),
        Column("mean_latency_ms", "float8", optional("mean_latency_ms")),
        Column("p95_latency_ms", "float8", optional("p95_latency_ms")),
        Column("success_rate", "float8", optional("success_rate")),
        Column("mean_quality", "float8", optional("mean_quality")),
        Column("reference_cost", "float8", lambda r: r.reference_cost),
        Column("savings", "float8", lambda r: r.savings),
    )
    FIELD_HINTS = {"group_by": GROUP_BY_HINT, "start": TIME_HINT, "end": TIME_HINT}

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("analytics", "routerd aggregates the decision log and the outcomes that name its decisions.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (10, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        given = inputs_from_quals(quals, INPUTS)
        if given is None:
            return
        req = pb.RoutingAnalyticsRequest(group_by=str(given.get("group_by") or ""))
        for col, field in (("since", "start"), ("until", "end")):
            t = as_time(given.get(col), col)
            if t is not None:
                try:
                    getattr(req, field).CopyFrom(timestamp(t))
                except (OverflowError, ValueError):
                    fail(f"column {col}: {given[col]} is out of range", hint=TIME_HINT)
        resp = self.rpc("RoutingAnalytics", req)
        echo = {k: given.get(k) for k in INPUTS}
        if "group_by" not in given:
            echo["group_by"] = resp.group_by  # not a condition: the grouping routerd used
        getters = self.COLUMNS.getters(columns)
        for r in resp.rows:
            yield {**echo, **{name: get(r) for name, get in getters}}


class DecisionLog(TinyDancer):
    resource = "decision_log"
    COLUMNS = Columns(
        Column("decision_id", "text", lambda d: d.decision_id),
        Column("decided_at", "timestamptz", lambda d: when(d.decided_at)),
        Column("agent_name", "text", lambda d: d.agent_name or None),
        Column("objective", "text", lambda d: d.objective),
        Column("estimated_cost", "float8", optional("estimated_cost")),
        Column("estimated_latency_ms", "float8", optional("estimated_latency_ms")),
        Column("expected_quality", "float8", optional("expected_quality")),
        Column("confidence", "float8", optional("confidence")),
        Column("model_version", "text", lambda d: d.model_version),
        Column("route_name", "text", lambda d: d.route_name or None),
        Column("tags", "text[]", lambda d: list(d.tags)),
        Column("request_id", "text", lambda d: d.request_id or None),
        Column("reference_cost", "float8", optional("reference_cost")),
        Column("cancelled_at", "timestamptz", _opt_when("cancelled_at")),
    )

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("decision_log", "routerd logs every decision it makes; cancel one with "
                                  "tinydancer.cancel_decision(decision_id).")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        # width is the price of a row (fdw.tables.base): 1000 x 50 stays under jit_above_cost (100,000)
        return (1000, 50)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        req = pb.ListDecisionsRequest(page_size=10_000)
        start: datetime | None = None
        end: datetime | None = None
        for q in quals:
            if q.is_list_operator or q.value is None or q.field_name != "decided_at":
                continue
            # Pushdown is a hint: PostgreSQL rechecks every qual, so an unreadable time is skipped.
            try:
                t = as_time(q.value, "decided_at")
            except Exception:
                continue
            assert t is not None
            # Each bound is widened by a microsecond (PostgreSQL's recheck makes the range exact): routerd
            # keeps times as float seconds, and a decision within a rounding step of a microsecond bound
            # could otherwise fall on the wrong side of it. The API's end is exclusive.
            try:
                if q.operator in (">", ">=", "="):
                    lo = t - _MICROSECOND
                    start = lo if start is None else max(start, lo)
                if q.operator in ("<", "<=", "="):
                    hi = t + (_MICROSECOND if q.operator == "<" else 2 * _MICROSECOND)
                    end = hi if end is None else min(end, hi)
            except OverflowError:
                continue  # at datetime's ends the bound cannot be represented: no bound
        for field, t in (("start", start), ("end", end)):
            if t is not None:
                try:
                    getattr(req, field).CopyFrom(timestamp(t))
                except (OverflowError, ValueError):
                    pass  # not representable: no bound (PostgreSQL rechecks)
        getters = self.COLUMNS.getters(columns)
        for d in self._listing(req):
            yield {name: get(d) for name, get in getters}

    def _listing(self, req: pb.ListDecisionsRequest) -> Iterator[pb.LoggedDecision]:
        """ListDecisions with the pushed-down range; a bound routerd rejects (outside its time range)
        is dropped, since PostgreSQL rechecks it."""
        def call(method: str, request: Any) -> Any:
            return self.client.call(method, request)

        while True:
            yielded = False
            try:
                for d in paged(call, "ListDecisions", req, "decisions"):
                    yielded = True
                    yield d
                return
            except RoutedError as e:
                field = e.field or ""
                if not yielded and e.code == grpc.StatusCode.INVALID_ARGUMENT and field in ("start", "end") \
                        and req.HasField(field):
                    req.ClearField(field)
                    continue
                fail(e.message, e.hint, e.detail, sqlstate=e.sqlstate)


__all__ = ["Analytics", "DecisionLog"]
