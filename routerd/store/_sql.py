"""What the SQLite and PostgreSQL stores share: the SQL, the row <-> dataclass mapping and the
migration runner.

``SQLStore`` implements every ``Store`` method in terms of one primitive, ``_transact(fn)``, which a
backend provides: open a transaction, call ``fn`` with a ``Tx`` over it, commit, and on any error
roll back and translate connection failures into ``StoreUnavailable``. The SQL here is written once
for both dialects (``?`` placeholders, ``ON CONFLICT … DO NOTHING``, ``RETURNING`` and row-value
comparisons, which SQLite has had since 3.35); ``Tx`` rewrites the placeholders for psycopg.

Migrations are the files ``migrations/NNNN_name.sql``, numbered 1..N without gaps, each applied in
one transaction together with its row in ``schema_migrations(version, applied_at)``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache, partial
from importlib import resources
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from routerd.domain import (
    AgentRecord,
    AgentSpec,
    AgentStats,
    BudgetCheck,
    BudgetRecord,
    BudgetSpec,
    ChargeRecord,
    CostModel,
    DecisionRecord,
    HealthUpdate,
    ModelRecord,
    OutcomeRecord,
    RouteConditions,
    RouteRecord,
    RouteSpec,
    TrainingOutcome,
    nano,
    window_bounds,
)
from routerd.errors import (
    AgentExists,
    AgentNotFound,
    BudgetConflict,
    BudgetExists,
    BudgetNotFound,
    DecisionCancelled,
    DecisionHasOutcome,
    DecisionNotFound,
    InvalidArgument,
    ModelNotFound,
    RouteExists,
    RouteNotFound,
)
from routerd.store._analytics import AnalyticsRow, list_decisions, routing_analytics
from routerd.store.base import TIME_SERIES_MAX_BUCKETS, TimeBucket

T = TypeVar("T")


class _Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)

# -- migrations ---------------------------------------------------------------------------------

_MIGRATION_FILE = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_sql(text: str) -> tuple[str, ...]:
    """The statements of a migration file: ``--`` comments dropped, split on ``;``."""
    code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    return tuple(stmt.strip() for stmt in code.split(";") if stmt.strip())


@cache
def migrations() -> tuple[Migration, ...]:
    found = []
    for entry in (resources.files("routerd.store") / "migrations").iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], split_sql(entry.read_text("utf-8"))))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"store migrations must be numbered 1..N without gaps, found {versions}")
    return tuple(found)


_CREATE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)

# -- columns and row mapping --------------------------------------------------------------------


def _names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


SPEC_COLUMNS = (
    "agent_type", "capabilities", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens",
    "cost_per_call", "cost_per_second", "latency_prior_ms", "quality_prior", "metadata", "active",
    "typical_output_tokens",
)
STATS_COLUMNS = _names(AgentStats)  # the columns are named as the fields
AGENT_COLUMNS = ("name", *SPEC_COLUMNS, *STATS_COLUMNS, "created_at", "updated_at")
OUTCOME_COLUMNS = _names(OutcomeRecord)
DECISION_COLUMNS = _names(DecisionRecord)
CHARGE_COLUMNS = _names(ChargeRecord)
HEALTH_COLUMNS = _names(HealthUpdate)


def _cols(names: Sequence[str]) -> str:
    return ", ".join(names)


def _marks(names: Sequence[str]) -> str:
    return ", ".join("?" for _ in names)


def spec_values(spec: AgentSpec) -> tuple[Any, ...]:
    cost = spec.cost
    return (
        spec.agent_type, json.dumps(list(spec.capabilities), ensure_ascii=False),
        cost.per_1k_input_tokens, cost.per_1k_output_tokens, cost.per_call, cost.per_second,
        spec.latency_prior_ms, spec.quality_prior, spec.metadata, spec.active, spec.typical_output_tokens,
    )


def agent_values(record: AgentRecord) -> tuple[Any, ...]:
    stats = tuple(getattr(record.stats, name) for name in STATS_COLUMNS)
    return (record.name, *spec_values(record.spec), *stats, record.created_at, record.updated_at)


def stats_from_row(row: Sequence[Any]) -> AgentStats:
    return AgentStats(**dict(zip(STATS_COLUMNS, row, strict=True)))


def agent_from_row(row: Sequence[Any]) -> AgentRecord:
    """A row of ``AGENT_COLUMNS``."""
    n_spec, n_stats = len(SPEC_COLUMNS), len(STATS_COLUMNS)
    (agent_type, capabilities, in_1k, out_1k, per_call, per_second, latency_prior_ms, quality_prior,
     metadata, active, typical_output_tokens) = row[1 : 1 + n_spec]
    spec = AgentSpec(
        name=row[0],
        agent_type=agent_type,
        capabilities=tuple(json.loads(capabilities)),
        cost=CostModel(in_1k, out_1k, per_call, per_second),
        latency_prior_ms=latency_prior_ms,
        quality_prior=quality_prior,
        metadata=metadata,
        active=bool(active),  # SQLite has no boolean type: 0/1
        typical_output_tokens=typical_output_tokens,
    )
    stats = stats_from_row(row[1 + n_spec : 1 + n_spec + n_stats])
    created_at, updated_at = row[1 + n_spec + n_stats :]
    return AgentRecord(spec=spec, stats=stats, created_at=created_at, updated_at=updated_at)


def outcome_from_row(row: Sequence[Any]) -> OutcomeRecord:
    values = dict(zip(OUTCOME_COLUMNS, row, strict=True))
    values["success"] = bool(values["success"])
    return OutcomeRecord(**values)


def decision_from_row(row: Sequence[Any]) -> DecisionRecord:
    values = dict(zip(DECISION_COLUMNS, row, strict=True))
    if values["request_embedding"] is not None:
        values["request_embedding"] = bytes(values["request_embedding"])
    return DecisionRecord(**values)


ROUTE_COLUMNS = (
    "name", "description", "target_agent", "priority", "threshold", "fitted", "group_name", "conditions",
    "utterances", "embedder", "dim", "vectors", "created_at", "updated_at",
)


def route_values(record: RouteRecord) -> tuple[Any, ...]:
    s = record.spec
    c = s.conditions
    conditions = {"active_from_minute": c.active_from_minute, "active_until_minute": c.active_until_minute,
                  "user_tiers": list(c.user_tiers), "rate_limit_per_minute": c.rate_limit_per_minute}
    vectors = np.ascontiguousarray(record.vectors, dtype="<f4")
    return (s.name, s.description, s.target_agent, s.priority, s.threshold, s.fitted, s.group,
            json.dumps(conditions), json.dumps(list(s.utterances), ensure_ascii=False), record.embedder,
            vectors.shape[1], vectors.tobytes(), record.created_at, record.updated_at)


def model_values(record: ModelRecord) -> tuple[Any, ...]:
    return (record.version, record.created_at, record.status, record.source, record.fingerprint, record.embedder,
            record.dim, record.features, json.dumps(list(record.agents), ensure_ascii=False),
            json.dumps(record.metrics), record.reason, record.parent, record.finished_at, record.promoted_at)


def route_from_row(row: Sequence[Any]) -> RouteRecord:
    (name, description, target_agent, priority, threshold, fitted, group, conditions, utterances, embedder,
     dim, vectors, created_at, updated_at) = row
    c = json.loads(conditions)
    spec = RouteSpec(
        name=name, utterances=tuple(json.loads(utterances)), description=description, target_agent=target_agent,
        priority=int(priority), threshold=threshold, group=group, fitted=bool(fitted),
        conditions=RouteConditions(c["active_from_minute"], c["active_until_minute"], tuple(c["user_tiers"]),
                                   c["rate_limit_per_minute"]))
    matrix = np.frombuffer(bytes(vectors), dtype="<f4").reshape(-1, int(dim)).astype(np.float32, copy=False)
    return RouteRecord(spec, matrix, embedder, created_at, updated_at)


MODEL_COLUMNS = (
    "version", "created_at", "status", "source", "fingerprint", "embedder", "dim", "features", "agents",
    "metrics", "reason", "parent", "finished_at", "promoted_at",
)


def model_from_row(row: Sequence[Any], weights: Any = None) -> ModelRecord:
    values = dict(zip(MODEL_COLUMNS, row, strict=True))
    values["version"] = int(values["version"])
    values["dim"] = int(values["dim"])
    values["parent"] = None if values["parent"] is None else int(values["parent"])
    values["agents"] = tuple(json.loads(values["agents"]))
    values["metrics"] = json.loads(values["metrics"])
    return ModelRecord(**values, weights=None if weights is None else bytes(weights))


# -- SQL ----------------------------------------------------------------------------------------

_SELECT_AGENTS = f"SELECT {_cols(AGENT_COLUMNS)} FROM agents"
_INSERT_AGENT = (
    f"INSERT INTO agents ({_cols(AGENT_COLUMNS)}) VALUES ({_marks(AGENT_COLUMNS)}) "
    "ON CONFLICT (name) DO NOTHING"
)
_REPLACE_SPEC = (
    f"UPDATE agents SET {', '.join(f'{c} = ?' for c in SPEC_COLUMNS)}, updated_at = ? "
    f"WHERE name = ? RETURNING {_cols(AGENT_COLUMNS)}"
)
# Increments, never read-modify-write: concurrent writers (threads or replicas) lose no update.
_RECORD_STATS = (
    "UPDATE agents SET total_requests = total_requests + 1, successes = successes + ?, "
    "latency_sum_ms = latency_sum_ms + ?, quality_sum = quality_sum + ?, "
    "quality_count = quality_count + ?, total_spend = total_spend + ?, "
    f"{', '.join(f'{c} = ?' for c in HEALTH_COLUMNS)} "
    f"WHERE name = ? RETURNING {_cols(STATS_COLUMNS)}"
)
_SELECT_ROUTES = f"SELECT {_cols(ROUTE_COLUMNS)} FROM routes"
_INSERT_ROUTE = f"INSERT INTO routes ({_cols(ROUTE_COLUMNS)}) VALUES ({_marks(ROUTE_COLUMNS)})"
_UPDATE_ROUTE = (f"UPDATE routes SET {', '.join(f'{c} = ?' for c in ROUTE_COLUMNS[1:])} WHERE name = ?")
_INSERT_OUTCOME = f"INSERT INTO outcomes ({_cols(OUTCOME_COLUMNS)}) VALUES ({_marks(OUTCOME_COLUMNS)})"
# Decisions are inserted many rows a statement: one statement is one step of the database (with
# SQLite one release of the GIL) however many decisions a group commit carries. 500 rows of 10
# columns stay under every limit on parameters (SQLite 32,766; PostgreSQL 65,535).
DECISION_ROWS_PER_INSERT = 500


_decision_values = attrgetter(*DECISION_COLUMNS)
_charge_values = attrgetter(*CHARGE_COLUMNS)
_INSERT_CHARGE = f"INSERT INTO budget_charges ({_cols(CHARGE_COLUMNS)}) VALUES ({_marks(CHARGE_COLUMNS)})"
BUDGET_COLUMNS = ("name", "amount", "window_kind", "window_seconds", "scope", "mode", "willingness_to_pay",
                  "created_at", "updated_at")


def budget_values(record: BudgetRecord) -> tuple[Any, ...]:
    s = record.spec
    return (s.name, s.amount, s.window_kind, s.window_seconds, s.scope, s.mode, s.willingness_to_pay,
            record.created_at, record.updated_at)


def budget_from_row(row: Sequence[Any]) -> BudgetRecord:
    name, amount, kind, seconds, scope, mode, wtp, created, updated = row
    return BudgetRecord(BudgetSpec(name, float(amount), kind, None if seconds is None else float(seconds), scope,
                                   mode, None if wtp is None else float(wtp)), float(created), float(updated))


@cache
def _insert_decisions(n: int) -> str:
    row = f"({_marks(DECISION_COLUMNS)})"
    return (f"INSERT INTO decisions ({_cols(DECISION_COLUMNS)}) VALUES {', '.join([row] * n)} "
            "ON CONFLICT (decision_id) DO NOTHING")


class Tx:
    """One open transaction of a backend, running this module's SQL on a DB-API cursor."""

    __slots__ = ("_cursor", "_format_style")

    def __init__(self, cursor: Any, *, format_style: bool = False):
        self._cursor = cursor
        self._format_style = format_style  # psycopg takes %s, not ?

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._format_style else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return its row count."""
        self._cursor.execute(self._sql(sql), params)
        return int(self._cursor.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(self._sql(sql), rows)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(sql), params)
        return [tuple(row) for row in self._cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None


class SQLStore(ABC, Generic[C]):
    """Every ``Store`` method, over a backend's ``_transact`` on its connection ``C``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()  # held for a whole transaction (see the backends' docstrings)
        self._closed = False
        self._conn: C | None = None

    def _migrate_or_close(self) -> None:
        """Migrate on open; on failure close, so that a store that failed to open holds nothing."""
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection; later calls raise ``StoreUnavailable``. Closing twice is harmless."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @abstractmethod
    def _transact(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        """Run ``fn`` in one transaction and commit it; roll back on any error."""

    @abstractmethod
    def _lock_migrations(self, tx: Tx) -> None:
        """Keep other processes from migrating until this transaction ends."""

    # -- migrations ---------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply every migration not yet applied, each in a transaction of its own."""
        applied = self._transact(self._applied_versions)
        for migration in migrations():
            if migration.version not in applied:
                self._transact(partial(self._apply, migration))

    def _applied_versions(self, tx: Tx) -> set[int]:
        self._lock_migrations(tx)
        tx.execute(_CREATE_SCHEMA_MIGRATIONS)
        return {int(version) for (version,) in tx.rows("SELECT version FROM schema_migrations")}

    def _apply(self, migration: Migration, tx: Tx) -> None:
        self._lock_migrations(tx)
        if tx.one("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)):
            return  # another process applied it since we looked
        for statement in migration.statements:
            tx.execute(statement)
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (migration.version, time.time()),
        )

    # -- agents -------------------------------------------------------------------------------
    def insert_agent(self, record: AgentRecord) -> None:
        def run(tx: Tx) -> None:
            # The primary key decides atomically; a conflict on anything else still raises.
            if tx.execute(_INSERT_AGENT, agent_values(record)) == 0:
                raise AgentExists(record.name)
            self._notify(tx, "agents")

        self._transact(run)

    def replace_agent_spec(self, spec: AgentSpec, updated_at: float) -> AgentRecord:
        def run(tx: Tx) -> AgentRecord:
            row = tx.one(_REPLACE_SPEC, (*spec_values(spec), updated_at, spec.name))
            if row is None:
                raise AgentNotFound(spec.name)
            self._notify(tx, "agents")
            return agent_from_row(row)

        return self._transact(run)

    def delete_agent(self, name: str) -> bool:
        return self._transact(lambda tx: self._notified(tx, "agents", tx.execute(
            "DELETE FROM agents WHERE name = ?", (name,)) > 0))

    def clear_agents(self) -> int:
        return self._transact(lambda tx: self._notified(tx, "agents", tx.execute("DELETE FROM agents")))

    def _notified(self, tx: Tx, kind: str, result: T) -> T:
        self._notify(tx, kind)
        return result

    def get_agent(self, name: str) -> AgentRecord | None:
        row = self._transact(lambda tx: tx.one(f"{_SELECT_AGENTS} WHERE name = ?", (name,)), write=False)
        return None if row is None else agent_from_row(row)

    def list_agents(self) -> list[AgentRecord]:
        rows = self._transact(lambda tx: tx.rows(f"{_SELECT_AGENTS} ORDER BY name"), write=False)
        return [agent_from_row(row) for row in rows]

    # -- semantic routes ----------------------------------------------------------------------
    def insert_route(self, record: RouteRecord, *, replace: bool = False) -> bool:
        def run(tx: Tx) -> bool:
            values = route_values(record)
            if tx.one("SELECT 1 FROM routes WHERE name = ?", (record.name,)) is None:
                tx.execute(_INSERT_ROUTE, values)
                self._notify(tx, "routes")
                return False
            if not replace:
                raise RouteExists(record.name)
            tx.execute(_UPDATE_ROUTE, (*values[1:], record.name))
            self._notify(tx, "routes")
            return True

        return self._transact(run)

    def update_route(self, record: RouteRecord) -> None:
        def run(tx: Tx) -> None:
            if tx.execute(_UPDATE_ROUTE, (*route_values(record)[1:], record.name)) == 0:
                raise RouteNotFound(record.name)
            self._notify(tx, "routes")

        self._transact(run)

    def delete_route(self, name: str) -> bool:
        return self._transact(lambda tx: self._notified(tx, "routes", tx.execute(
            "DELETE FROM routes WHERE name = ?", (name,)) > 0))

    def get_route(self, name: str) -> RouteRecord | None:
        row = self._transact(lambda tx: tx.one(f"{_SELECT_ROUTES} WHERE name = ?", (name,)), write=False)
        return None if row is None else route_from_row(row)

    def list_routes(self) -> list[RouteRecord]:
        rows = self._transact(lambda tx: tx.rows(f"{_SELECT_ROUTES} ORDER BY name"), write=False)
        return [route_from_row(row) for row in rows]

    def set_route_thresholds(self, thresholds: Mapping[str, float], updated_at: float,
                             meta: Mapping[str, str]) -> None:
        def run(tx: Tx) -> None:
            for name, threshold in thresholds.items():
                n = tx.execute("UPDATE routes SET threshold = ?, fitted = ?, updated_at = ? WHERE name = ?",
                               (threshold, True, updated_at, name))
                if n == 0:
                    raise RouteNotFound(name)
            self._put_meta(tx, meta)
            self._notify(tx, "routes")

        self._transact(run)

    def reembed_routes(self, records: Sequence[RouteRecord], meta: Mapping[str, str]) -> None:
        def run(tx: Tx) -> None:
            for record in records:
                tx.execute(_UPDATE_ROUTE, (*route_values(record)[1:], record.name))
            self._put_meta(tx, meta)
            self._notify(tx, "routes")

        self._transact(run)

    # -- metadata -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._transact(lambda tx: tx.one("SELECT value FROM meta WHERE key = ?", (key,)), write=False)
        return None if row is None else str(row[0])

    def set_meta(self, values: Mapping[str, str]) -> None:
        self._transact(lambda tx: self._put_meta(tx, values))

    @staticmethod
    def _put_meta(tx: Tx, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                       (key, value, value))

    # -- model versions -----------------------------------------------------------------------
    def insert_model(self, record: ModelRecord) -> int:
        """Store ``record`` under the next version number (its own ``version`` is ignored); return it."""
        def run(tx: Tx) -> int:
            row = tx.one("SELECT COALESCE(MAX(version), 0) FROM models")
            version = int(row[0] if row else 0) + 1
            values = model_values(record)
            tx.execute(f"INSERT INTO models ({_cols(MODEL_COLUMNS)}, weights) VALUES ({_marks(MODEL_COLUMNS)}, ?)",
                       (version, *values[1:], record.weights))
            return version

        return self._transact(run)

    def finish_model(self, record: ModelRecord, *, live: bool) -> None:
        """Write a finished training's result (status, metrics, reason, weights); with ``live``, in the
        same transaction the version live until now becomes 'retired' and this one 'live'."""
        def run(tx: Tx) -> None:
            if live:
                tx.execute("UPDATE models SET status = 'retired' WHERE status = 'live'")
            sets = ", ".join(f"{c} = ?" for c in MODEL_COLUMNS[1:])
            n = tx.execute(f"UPDATE models SET {sets}, weights = ? WHERE version = ?",
                           (*model_values(record)[1:], record.weights, record.version))
            if n == 0:
                raise ModelNotFound(record.version)
            if live:
                self._notify(tx, "model")

        self._transact(run)

    def promote_model(self, version: int | None, promoted_at: float, *, rollback: bool = False) -> None:
        """Make ``version`` the live model (None: none is live) in one transaction; the one live until
        now becomes 'rolled_back' with ``rollback``, else 'retired'."""
        def run(tx: Tx) -> None:
            if version is not None:
                row = tx.one("SELECT status, weights IS NOT NULL FROM models WHERE version = ?", (version,))
                if row is None:
                    raise ModelNotFound(version)
            tx.execute("UPDATE models SET status = ? WHERE status = 'live'",
                       ("rolled_back" if rollback else "retired",))
            self._notify(tx, "model")
            if version is None:
                return
            if rollback:  # the restored version keeps the time it was first promoted
                tx.execute("UPDATE models SET status = 'live' WHERE version = ?", (version,))
            else:
                tx.execute("UPDATE models SET status = 'live', promoted_at = ? WHERE version = ?",
                           (promoted_at, version))

        self._transact(run)

    def get_model(self, version: int, *, weights: bool = True) -> ModelRecord | None:
        cols = _cols(MODEL_COLUMNS) + (", weights" if weights else "")
        row = self._transact(lambda tx: tx.one(f"SELECT {cols} FROM models WHERE version = ?", (version,)),
                             write=False)
        if row is None:
            return None
        return model_from_row(row[:len(MODEL_COLUMNS)], row[-1] if weights else None)

    def list_models(self) -> list[ModelRecord]:
        rows = self._transact(lambda tx: tx.rows(f"SELECT {_cols(MODEL_COLUMNS)} FROM models ORDER BY version"),
                              write=False)
        return [model_from_row(row) for row in rows]

    def fail_unfinished_models(self, reason: str, finished_at: float) -> int:
        """Mark trainings that never finished (their routerd stopped) as failed; return how many."""
        return self._transact(lambda tx: tx.execute(
            "UPDATE models SET status = 'failed', reason = ?, finished_at = ? WHERE status = 'training'",
            (reason, finished_at)))

    def training_outcomes(self, *, limit: int, since: float | None = None) -> list[TrainingOutcome]:
        """The most recent ``limit`` outcomes that name a logged decision (oldest first)."""
        sql = ("SELECT o.decision_id, d.request_text, d.request_embedding, o.agent_name, o.quality, o.success, "
               "o.recorded_at FROM outcomes o JOIN decisions d ON d.decision_id = o.decision_id")
        params: list[Any] = []
        if since is not None:
            sql += " WHERE o.recorded_at > ?"
            params.append(since)
        sql += " ORDER BY o.recorded_at DESC, o.outcome_id DESC LIMIT ?"
        params.append(max(limit, 0))
        rows = self._transact(lambda tx: tx.rows(sql, params), write=False)
        return [TrainingOutcome(did, text, None if emb is None else bytes(emb), agent,
                                float(q) if q is not None else float(bool(ok)), float(at))
                for did, text, emb, agent, q, ok, at in reversed(rows)]

    # -- outcomes -----------------------------------------------------------------------------
    def record_outcome(self, outcome: OutcomeRecord, health: HealthUpdate) -> AgentStats:
        return self.record_outcome_settling(outcome, health)[0]

    def record_outcome_settling(self, outcome: OutcomeRecord, health: HealthUpdate,
                                new_charges: Sequence[ChargeRecord] = ()
                                ) -> tuple[AgentStats, list[tuple[str, str, float, int, int]]]:
        """Store the outcome and, in the same transaction, settle its decision's budget charges (the
        first outcome's cost replaces the estimate, later ones add to it) or insert ``new_charges``
        (spend without a decision). Returns the stats and the charges changed: (decision_id, budget,
        charged_at, nano before, nano after). ``DecisionCancelled`` if the decision was cancelled
        (nothing written)."""
        decision_id = outcome.decision_id
        cost = outcome.cost if outcome.cost is not None else 0.0
        has_quality = outcome.quality is not None
        params = (
            int(outcome.success), outcome.latency_ms,
            outcome.quality if has_quality else 0.0, int(has_quality),
            outcome.cost if outcome.cost is not None else 0.0,
            *(getattr(health, name) for name in HEALTH_COLUMNS),
            outcome.agent_name,
        )

        def run(tx: Tx) -> tuple[AgentStats, list[tuple[str, str, float, int, int]]]:
            changes: list[tuple[str, str, float, int, int]] = []
            if decision_id is not None:
                cancelled = tx.one("SELECT cancelled_at FROM decisions WHERE decision_id = ?", (decision_id,))
                if cancelled is not None and cancelled[0] is not None:
                    raise DecisionCancelled(decision_id)
            row = tx.one(_RECORD_STATS, params)
            if row is None:
                raise AgentNotFound(outcome.agent_name, field="agent_name")  # rolls back: nothing written
            tx.execute(_INSERT_OUTCOME, tuple(getattr(outcome, name) for name in OUTCOME_COLUMNS))
            if decision_id is not None:
                charged = tx.rows("SELECT budget_name, charged_at, actual, state, window_start, nano "
                                  "FROM budget_charges WHERE decision_id = ? AND state <> 'cancelled'", (decision_id,))
                usage = []
                for name, t, actual, state, start, before in charged:
                    total = float(actual or 0.0) + cost if state == "settled" else cost
                    after = nano(total)
                    changes.append((decision_id, name, float(t), int(before), after))
                    usage.append((name, start, after - int(before)))
                    tx.execute("UPDATE budget_charges SET actual = ?, state = 'settled', settled_at = ?, nano = ? "
                               "WHERE decision_id = ? AND budget_name = ?",
                               (total, outcome.recorded_at, after, decision_id, name))
                self._add_usage(tx, usage)
            if new_charges:
                self._insert_charges(tx, new_charges)
            return stats_from_row(row), changes

        return self._transact(run)

    # -- budgets ------------------------------------------------------------------------------
    def insert_budget(self, record: BudgetRecord) -> None:
        def run(tx: Tx) -> None:
            if tx.one("SELECT 1 FROM budgets WHERE name = ?", (record.name,)) is not None:
                raise BudgetExists(record.name)
            tx.execute(f"INSERT INTO budgets ({_cols(BUDGET_COLUMNS)}) VALUES ({_marks(BUDGET_COLUMNS)})",
                       budget_values(record))
            self._notify(tx, "budgets")

        self._transact(run)

    def replace_budget(self, record: BudgetRecord) -> None:
        sets = ", ".join(f"{c} = ?" for c in BUDGET_COLUMNS[1:])

        def run(tx: Tx) -> None:
            old = tx.one("SELECT window_kind, window_seconds FROM budgets WHERE name = ?", (record.name,))
            if old is None:
                raise BudgetNotFound(record.name)
            tx.execute(f"UPDATE budgets SET {sets} WHERE name = ?", (*budget_values(record)[1:], record.name))
            s = record.spec
            if (old[0], old[1]) != (s.window_kind, s.window_seconds):  # its charges count in other windows now
                tx.execute("DELETE FROM budget_usage WHERE budget_name = ?", (record.name,))
                rows = tx.rows("SELECT decision_id, charged_at, nano FROM budget_charges WHERE budget_name = ?",
                               (record.name,))
                starts = [(None if s.window_kind == "rolling" else window_bounds(s.window_kind, None, t)[0], d)
                          for d, t, _ in rows]
                tx.executemany("UPDATE budget_charges SET window_start = ? WHERE decision_id = ? AND budget_name = ?",
                               [(start, d, record.name) for start, d in starts])
                self._add_usage(tx, [(record.name, start, int(n)) for (start, _), (_, _, n) in zip(starts, rows,
                                                                                                      strict=True)])
            self._notify(tx, "budgets")

        self._transact(run)

    def delete_budget(self, name: str) -> bool:
        """Remove the budget and its charges (the decisions stay in the log)."""
        def run(tx: Tx) -> bool:
            tx.execute("DELETE FROM budget_charges WHERE budget_name = ?", (name,))
            tx.execute("DELETE FROM budget_usage WHERE budget_name = ?", (name,))
            self._notify(tx, "budgets")
            return tx.execute("DELETE FROM budgets WHERE name = ?", (name,)) > 0

        return self._transact(run)

    def list_budgets(self) -> list[BudgetRecord]:
        rows = self._transact(lambda tx: tx.rows(f"SELECT {_cols(BUDGET_COLUMNS)} FROM budgets ORDER BY name"),
                              write=False)
        return [budget_from_row(r) for r in rows]

    def budget_used(self, name: str, window_start: float) -> int:
        """Nano-dollars a calendar (or total) window has used: its usage row."""
        row = self._transact(lambda tx: tx.one("SELECT used_nano FROM budget_usage WHERE budget_name = ? "
                                               "AND window_start = ?", (name, window_start)), write=False)
        return int(row[0]) if row else 0

    def budget_charge_values(self, name: str, start: float) -> list[tuple[str, float, int]]:
        """(decision_id, charged_at, nano) of the budget's live charges made since ``start``, oldest first."""
        sql = ("SELECT decision_id, charged_at, nano FROM budget_charges WHERE budget_name = ? "
               "AND state <> 'cancelled' AND charged_at >= ? ORDER BY charged_at, decision_id")
        rows = self._transact(lambda tx: tx.rows(sql, (name, start)), write=False)
        return [(str(d), float(t), int(n)) for d, t, n in rows]

    def budget_spend(self, name: str, start: float, end: float | None,
                     stale_before: float) -> tuple[float, float, float, int, int]:
        """(settled, reserved, unreconciled, decisions, unreconciled decisions) of [start, end);
        a reservation made before ``stale_before`` is unreconciled."""
        sql = ("SELECT COALESCE(SUM(CASE WHEN state = 'settled' THEN actual ELSE 0 END), 0), "
               "COALESCE(SUM(CASE WHEN state = 'reserved' AND charged_at >= ? THEN estimate ELSE 0 END), 0), "
               "COALESCE(SUM(CASE WHEN state = 'reserved' AND charged_at < ? THEN estimate ELSE 0 END), 0), "
               "COUNT(*), COALESCE(SUM(CASE WHEN state = 'reserved' AND charged_at < ? THEN 1 ELSE 0 END), 0) "
               "FROM budget_charges WHERE budget_name = ? AND state <> 'cancelled' AND charged_at >= ?"
               + ("" if end is None else " AND charged_at < ?"))
        params: tuple[Any, ...] = (stale_before, stale_before, stale_before, name, start)
        if end is not None:
            params += (end,)
        row = self._transact(lambda tx: tx.one(sql, params), write=False)
        assert row is not None
        return float(row[0]), float(row[1]), float(row[2]), int(row[3]), int(row[4])

    def cancel_decision(self, decision_id: str, at: float) -> tuple[list[ChargeRecord], bool]:
        """Mark the decision cancelled and release its reservations, in one transaction. Returns the
        charges released and whether it was cancelled already. ``DecisionNotFound``,
        ``DecisionHasOutcome``."""
        def run(tx: Tx) -> tuple[list[ChargeRecord], bool]:
            row = tx.one("SELECT cancelled_at FROM decisions WHERE decision_id = ?", (decision_id,))
            if row is None:
                raise DecisionNotFound(decision_id)
            if row[0] is not None:
                return [], True
            if tx.one("SELECT 1 FROM outcomes WHERE decision_id = ?", (decision_id,)) is not None:
                raise DecisionHasOutcome(decision_id)
            charges = [ChargeRecord(*r) for r in tx.rows(
                f"SELECT {_cols(CHARGE_COLUMNS)} FROM budget_charges WHERE decision_id = ? AND state = 'reserved' "
                "ORDER BY budget_name", (decision_id,))]
            tx.execute("UPDATE decisions SET cancelled_at = ? WHERE decision_id = ?", (at, decision_id))
            tx.execute("UPDATE budget_charges SET state = 'cancelled', settled_at = ?, nano = 0 "
                       "WHERE decision_id = ? AND state = 'reserved'", (at, decision_id))
            self._add_usage(tx, [(c.budget_name, c.window_start, -c.nano) for c in charges])
            return charges, False

        return self._transact(run)

    def recent_outcomes(self, agent_name: str, limit: int, since: float) -> list[tuple[float, bool]]:
        sql = (
            "SELECT latency_ms, success FROM outcomes WHERE agent_name = ? AND recorded_at >= ? "
            "ORDER BY recorded_at DESC, outcome_id DESC LIMIT ?"
        )
        rows = self._transact(lambda tx: tx.rows(sql, (agent_name, since, max(limit, 0))), write=False)
        return [(float(latency), bool(success)) for (latency, success) in reversed(rows)]

    def list_outcomes(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        agent_name: str | None = None,
        decision_id: str | None = None,
        limit: int = 1000,
        after: tuple[float, str] | None = None,
    ) -> list[OutcomeRecord]:
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("recorded_at >= ?", start),
            ("recorded_at < ?", end),
            ("agent_name = ?", agent_name),
            ("decision_id = ?", decision_id),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if after is not None:
            where.append("(recorded_at, outcome_id) > (?, ?)")
            params.extend(after)
        sql = f"SELECT {_cols(OUTCOME_COLUMNS)} FROM outcomes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY recorded_at, outcome_id LIMIT ?"
        params.append(max(limit, 0))
        rows = self._transact(lambda tx: tx.rows(sql, params), write=False)
        return [outcome_from_row(row) for row in rows]

    def count_outcomes(self) -> int:
        return self._count("outcomes")

    # -- decision log -------------------------------------------------------------------------
    def append_decisions(self, records: Sequence[DecisionRecord], charges: Sequence[ChargeRecord] = (),
                         checks: Sequence[BudgetCheck] = ()) -> None:
        if not records:
            return
        params = [value for r in records for value in _decision_values(r)]
        width, step = len(DECISION_COLUMNS), DECISION_ROWS_PER_INSERT
        tags = [(r.decision_id, t) for r in records if r.tags for t in json.loads(r.tags)]

        def run(tx: Tx) -> None:
            for start in range(0, len(records), step):
                n = min(step, len(records) - start)
                tx.execute(_insert_decisions(n), params[start * width:(start + n) * width])
            if tags:
                tx.executemany("INSERT INTO decision_tags (decision_id, tag) VALUES (?, ?) "
                               "ON CONFLICT (decision_id, tag) DO NOTHING", tags)
            if charges:
                self._insert_charges(tx, charges)
            self._check_budgets(tx, checks)

        self._transact(run)

    def _insert_charges(self, tx: Tx, charges: Sequence[ChargeRecord]) -> None:
        """Insert charges and add them to their calendar windows' usage rows."""
        tx.executemany(_INSERT_CHARGE, [_charge_values(c) for c in charges])
        self._add_usage(tx, [(c.budget_name, c.window_start, c.nano) for c in charges])

    def _add_usage(self, tx: Tx, deltas: Iterable[tuple[str, float | None, int]]) -> None:
        total: dict[tuple[str, float], int] = {}
        for name, start, n in deltas:
            if start is not None and n:
                total[(name, start)] = total.get((name, start), 0) + n
        for (name, start), n in sorted(total.items()):  # one order: concurrent commits cannot deadlock
            tx.execute("INSERT INTO budget_usage (budget_name, window_start, used_nano) VALUES (?, ?, ?) "
                       "ON CONFLICT (budget_name, window_start) DO UPDATE "
                       "SET used_nano = budget_usage.used_nano + excluded.used_nano", (name, start, n))

    shared = False  # SQLite: one routerd owns the file (its lock), nothing else writes to it

    def listen(self, on_change: Callable[[str | None], None], stop: threading.Event, interval_s: float) -> None:
        """Follow changes other routerd make to a shared store (PostgreSQL); nothing to follow here."""

    def _notify(self, tx: Tx, kind: str) -> None:
        """Tell the other routerd sharing this store that ``kind`` (agents, routes, budgets, model)
        changed, when this transaction commits (PostgreSQL: NOTIFY; SQLite has one owner)."""

    def _lock_budget(self, tx: Tx, name: str) -> None:
        """Order concurrent commits charging a rolling budget (PostgreSQL: a row lock; SQLite's
        writers are serialised already)."""

    def _check_budgets(self, tx: Tx, checks: Sequence[BudgetCheck]) -> None:
        """``BudgetConflict`` (the transaction rolls back) when a hard budget's charges, with this
        transaction's, pass its amount: the check every routerd sharing the store makes."""
        over = []
        for c in sorted(checks, key=lambda c: c.budget_name):
            if c.window_start is not None:
                row = tx.one("SELECT used_nano FROM budget_usage WHERE budget_name = ? AND window_start = ?",
                             (c.budget_name, c.window_start))
            else:
                self._lock_budget(tx, c.budget_name)
                row = tx.one("SELECT COALESCE(SUM(nano), 0) FROM budget_charges WHERE budget_name = ? "
                             "AND charged_at >= ?", (c.budget_name, c.since))
            used = int(row[0]) if row else 0
            if used > c.amount_nano:
                over.append(c.budget_name)
        if over:
            raise BudgetConflict(over)

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        sql = f"SELECT {_cols(DECISION_COLUMNS)} FROM decisions WHERE decision_id = ?"
        row = self._transact(lambda tx: tx.one(sql, (decision_id,)), write=False)
        return None if row is None else decision_from_row(row)

    def count_decisions(self) -> int:
        return self._count("decisions")

    def routing_analytics(self, *, start: float | None, end: float | None, group_by: str) -> list[AnalyticsRow]:
        return self._transact(lambda tx: routing_analytics(tx, start=start, end=end, group_by=group_by), write=False)

    def list_decisions(self, *, start: float | None = None, end: float | None = None, limit: int = 1000,
                       after: tuple[float, str] | None = None) -> list[DecisionRecord]:
        return self._transact(lambda tx: list_decisions(tx, start=start, end=end, limit=limit, after=after),
                              write=False)

    # -- analytics over time ------------------------------------------------------------------
    def time_series(self, start: float, bucket_s: float, buckets: int) -> list[TimeBucket]:
        """Two grouped scans in one read transaction (the decided_at and recorded_at indexes); the
        bucket of a row is FLOOR((t - start) / bucket_s), which SQLite (3.35+) and PostgreSQL share."""
        if not (math.isfinite(bucket_s) and bucket_s > 0):
            raise InvalidArgument("bucket_s", f"must be a finite number > 0, got {bucket_s!r}")
        if not 1 <= buckets <= TIME_SERIES_MAX_BUCKETS:
            raise InvalidArgument("buckets", f"must be in 1..{TIME_SERIES_MAX_BUCKETS}, got {buckets}")
        if not math.isfinite(start):
            raise InvalidArgument("start", f"must be a finite number, got {start!r}")
        start, bucket_s = float(start), float(bucket_s)
        end = start + bucket_s * buckets
        where = (start, bucket_s, start, end)

        def run(tx: Tx) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            d = tx.rows("SELECT CAST(FLOOR((decided_at - ?) / ?) AS BIGINT) AS b, COUNT(*), "
                        "SUM(CASE WHEN agent_name IS NULL THEN 1 ELSE 0 END) FROM decisions "
                        "WHERE decided_at >= ? AND decided_at < ? GROUP BY b", where)
            o = tx.rows("SELECT CAST(FLOOR((recorded_at - ?) / ?) AS BIGINT) AS b, COUNT(*), "
                        "SUM(CASE WHEN success THEN 1 ELSE 0 END), COALESCE(SUM(cost), 0) FROM outcomes "
                        "WHERE recorded_at >= ? AND recorded_at < ? GROUP BY b", where)
            return d, o

        decision_rows, outcome_rows = self._transact(run, write=False)
        counts = [[0, 0, 0, 0, 0.0] for _ in range(buckets)]
        for b, n, infeasible in decision_rows:  # a row on the edge may round into a neighbour: clamp
            c = counts[min(max(int(b), 0), buckets - 1)]
            c[0] += int(n)
            c[1] += int(infeasible or 0)
        for b, n, ok, spend in outcome_rows:
            c = counts[min(max(int(b), 0), buckets - 1)]
            c[2] += int(n)
            c[3] += int(ok or 0)
            c[4] += float(spend or 0.0)
        return [TimeBucket(start + i * bucket_s, int(c[0]), int(c[1]), int(c[2]), int(c[3]), float(c[4]))
                for i, c in enumerate(counts)]

    def _count(self, table: str) -> int:
        row = self._transact(lambda tx: tx.one(f"SELECT COUNT(*) FROM {table}"), write=False)
        return int(row[0]) if row else 0
