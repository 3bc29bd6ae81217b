"""Analytics over the decision log and its outcomes, in SQL shared by SQLite and PostgreSQL.

Both functions take an open ``Tx`` (``SQLStore`` calls them in a read transaction). The groups are
aggregated by the database in one statement, so every figure of a row comes from one snapshot
(PostgreSQL's READ COMMITTED takes a snapshot per statement) and no row of the log is fetched into
Python; only one row per group comes back.

The SQL runs unchanged on both dialects: window functions (SQLite 3.25+), FLOOR (SQLite 3.35+),
integer division of integers truncating in both, and no ``?`` or ``%`` but the placeholders
(``Tx`` rewrites ``?`` to ``%s`` for psycopg).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from routerd.domain import DecisionRecord
from routerd.errors import InvalidArgument

if TYPE_CHECKING:
    from routerd.store._sql import Tx

GROUP_BY: tuple[str, ...] = ("agent", "day", "hour", "route", "objective", "tag")

# The group's key as SQL over ``decisions d`` (and ``decision_tags t`` for tag). Day and hour are
# numeric bucket starts (Unix seconds, UTC); their RFC 3339 key is formed in Python.
_KEYS: dict[str, str] = {
    "agent": "COALESCE(d.agent_name, '')",
    "day": "FLOOR(d.decided_at / 86400) * 86400",
    "hour": "FLOOR(d.decided_at / 3600) * 3600",
    "route": "COALESCE(d.route_name, '')",
    "objective": "d.objective",
    "tag": "COALESCE(t.tag, '')",
}
_TIME_BUCKETS = frozenset({"day", "hour"})


@dataclass(frozen=True, slots=True)
class AnalyticsRow:
    """One group of ``routing_analytics`` (the proto's AnalyticsRow).

    Over the group's decisions D and the outcomes O naming them:
    requests = |D|; without_outcome = |{d in D: no outcome names d}|; outcomes = |O|;
    spend = sum of O's costs (an unset cost counts 0); mean_latency_ms = mean of O's latencies;
    p95_latency_ms = the value of rank ceil(0.95 * |O|) of O's latencies sorted ascending (nearest
    rank, = PostgreSQL's percentile_disc(0.95)); success_rate = successes / |O|; mean_quality = mean
    of the qualities O reports (None when none does; the others None when O is empty).
    Counterfactual over R = decisions of D routed to an agent, not cancelled, with a reference cost:
    reference_cost = sum over R of reference_cost; savings = reference_cost - sum over R of (the
    sum of its outcomes' costs if it has an outcome, else its estimated_cost, unset counting 0).
    """

    key: str
    bucket_start: float | None  # day and hour only: the bucket's start, Unix seconds
    requests: int
    without_outcome: int
    outcomes: int
    spend: float
    mean_latency_ms: float | None
    p95_latency_ms: float | None
    success_rate: float | None
    mean_quality: float | None
    reference_cost: float
    savings: float


def _range(column: str, start: float | None, end: float | None) -> tuple[list[str], list[Any]]:
    """The half-open [start, end) bounds on ``column``; either may be None (no bound)."""
    where: list[str] = []
    params: list[Any] = []
    for name, value, clause in (("start", start, f"{column} >= ?"), ("end", end, f"{column} < ?")):
        if value is None:
            continue
        if not math.isfinite(value):  # NaN compares as greatest in PostgreSQL, as NULL in SQLite
            raise InvalidArgument(name, f"must be a finite number of seconds, got {value!r}")
        where.append(clause)
        params.append(float(value))
    return where, params


def _analytics_sql(group_by: str, where: list[str]) -> str:
    tags = " LEFT JOIN decision_tags t ON t.decision_id = d.decision_id" if group_by == "tag" else ""
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    # g: the decisions in range, once per group they count in (a tagged decision once per tag).
    # per_decision: each decision's outcomes summed, so that a decision's own outcome cost is known
    # for savings. ranked: the group's outcome latencies with their rank, for p95 by nearest rank:
    # rank ceil(95 n / 100) = (95 n + 99) / 100 in integer arithmetic (no float rounding at n = 20).
    return f"""
WITH g AS (
    SELECT d.decision_id, {_KEYS[group_by]} AS k, d.estimated_cost, d.reference_cost,
           CASE WHEN d.agent_name IS NOT NULL AND d.cancelled_at IS NULL AND d.reference_cost IS NOT NULL
                THEN 1 ELSE 0 END AS counterfactual
    FROM decisions d{tags}{cond}
),
per_decision AS (
    SELECT o.decision_id, COUNT(*) AS n, SUM(o.cost) AS cost, SUM(o.latency_ms) AS latency,
           SUM(CASE WHEN o.success THEN 1 ELSE 0 END) AS ok, SUM(o.quality) AS quality,
           COUNT(o.quality) AS quality_n
    FROM outcomes o
    WHERE o.decision_id IN (SELECT decision_id FROM g)
    GROUP BY o.decision_id
),
agg AS (
    SELECT g.k, COUNT(*) AS requests, SUM(CASE WHEN p.n IS NULL THEN 1 ELSE 0 END) AS without_outcome,
           COALESCE(SUM(p.n), 0) AS outcomes, COALESCE(SUM(p.cost), 0) AS spend,
           SUM(p.latency) AS latency, COALESCE(SUM(p.ok), 0) AS ok, SUM(p.quality) AS quality,
           COALESCE(SUM(p.quality_n), 0) AS quality_n,
           COALESCE(SUM(CASE WHEN g.counterfactual = 1 THEN g.reference_cost END), 0) AS reference_cost,
           COALESCE(SUM(CASE WHEN g.counterfactual = 1 THEN
                             CASE WHEN p.n IS NULL THEN COALESCE(g.estimated_cost, 0) ELSE COALESCE(p.cost, 0) END
                        END), 0) AS actual_cost
    FROM g LEFT JOIN per_decision p ON p.decision_id = g.decision_id
    GROUP BY g.k
),
ranked AS (
    SELECT g.k, o.latency_ms,
           ROW_NUMBER() OVER (PARTITION BY g.k ORDER BY o.latency_ms) AS rn,
           COUNT(*) OVER (PARTITION BY g.k) AS n
    FROM g JOIN outcomes o ON o.decision_id = g.decision_id
)
SELECT agg.k, agg.requests, agg.without_outcome, agg.outcomes, agg.spend, agg.latency, agg.ok, agg.quality,
       agg.quality_n, agg.reference_cost, agg.actual_cost, r.latency_ms
FROM agg LEFT JOIN ranked r ON r.k = agg.k AND r.rn = (95 * r.n + 99) / 100
"""


def _bucket_key(bucket_start: float) -> str:
    return datetime.fromtimestamp(bucket_start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def routing_analytics(tx: Tx, *, start: float | None, end: float | None, group_by: str) -> list[AnalyticsRow]:
    """Aggregates (see ``AnalyticsRow``) of the decisions with start <= decided_at < end (either bound
    may be None), grouped by ``group_by``: agent (agent_name, "" when routed nowhere) | day | hour
    (UTC buckets of decided_at, keyed "2026-12-01T00:00:00Z") | route (route_name, "" for none) |
    objective | tag (a decision counts once under each of its tags, under "" when it has none).
    "" means agent, as in the proto. Outcomes count with the decision they name (an outcome naming
    no logged decision counts nowhere). Rows are ordered by key (time buckets chronologically,
    names by code point). A range holding no decision gives no row."""
    if group_by == "":
        group_by = "agent"
    if group_by not in _KEYS:
        raise InvalidArgument("group_by", f"must be one of {', '.join(GROUP_BY)}; got {group_by!r}")
    where, params = _range("d.decided_at", start, end)
    rows: list[AnalyticsRow] = []
    for (k, requests, without_outcome, outcomes, spend, latency, ok, quality, quality_n, reference_cost,
         actual_cost, p95) in tx.rows(_analytics_sql(group_by, where), params):
        n, qn = int(outcomes), int(quality_n)  # PostgreSQL's SUM of integers is numeric: Decimal
        bucket = float(k) if group_by in _TIME_BUCKETS else None
        reference = float(reference_cost)
        rows.append(AnalyticsRow(
            key=_bucket_key(bucket) if bucket is not None else str(k),
            bucket_start=bucket,
            requests=int(requests),
            without_outcome=int(without_outcome),
            outcomes=n,
            spend=float(spend),
            mean_latency_ms=float(latency) / n if n else None,
            p95_latency_ms=float(p95) if n else None,
            success_rate=int(ok) / n if n else None,
            mean_quality=float(quality) / qn if qn else None,
            reference_cost=reference,
            savings=reference - float(actual_cost),
        ))
    rows.sort(key=lambda r: (r.bucket_start or 0.0, r.key))  # bucket_start is None unless day or hour
    return rows


def list_decisions_sql(*, start: float | None, end: float | None, limit: int,
                       after: tuple[float, str] | None) -> tuple[str, list[Any]]:
    """The statement of ``list_decisions`` and its parameters."""
    # Imported here, not at the top: _sql imports this module, and a top-level import back would
    # fail whichever of the two is imported first.
    from routerd.store._sql import DECISION_COLUMNS

    where, params = _range("decided_at", start, end)
    if after is not None:
        at, decision_id = after
        if not math.isfinite(at):
            raise InvalidArgument("after", f"must hold a finite decided_at, got {at!r}")
        # The plain bound lets either planner start the decided_at index scan at the page; the row
        # value comparison then skips the ties already returned.
        where += ["decided_at >= ?", "(decided_at, decision_id) > (?, ?)"]
        params += [float(at), float(at), decision_id]
    sql = f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY decided_at, decision_id LIMIT ?"
    params.append(max(int(limit), 0))
    return sql, params


def list_decisions(tx: Tx, *, start: float | None, end: float | None, limit: int,
                   after: tuple[float, str] | None) -> list[DecisionRecord]:
    """Up to ``limit`` decisions (none when limit <= 0) with start <= decided_at < end (either bound
    may be None), in (decided_at, decision_id) order, after the row ``after`` = (decided_at,
    decision_id) of the previous page's last decision (keyset pagination over the decided_at index:
    no offset scan, and a page boundary inside a run of equal decided_at loses and repeats nothing)."""
    from routerd.store._sql import decision_from_row  # (see list_decisions_sql)

    sql, params = list_decisions_sql(start=start, end=end, limit=limit, after=after)
    return [decision_from_row(row) for row in tx.rows(sql, params)]
