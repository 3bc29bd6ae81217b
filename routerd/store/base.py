"""The store contract. Every implementation passes the same suite (tests/store).

Rules every implementation keeps:
- A method returns only after its write is committed durably (SQLite: WAL with synchronous=FULL;
  PostgreSQL: a committed transaction). ``append_decisions`` too: the decision log calls it once for
  a group of concurrent decisions (group commit) and returns none of them before it returns.
- Each method is one transaction: on any error nothing of it is written.
- Methods are safe to call from many threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from routerd.domain import (
    AgentRecord,
    AgentSpec,
    AgentStats,
    BudgetCheck,
    BudgetRecord,
    ChargeRecord,
    DecisionRecord,
    HealthUpdate,
    ModelRecord,
    OutcomeRecord,
    RouteRecord,
    TrainingOutcome,
)


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Decisions and outcomes of ``[start, start + bucket_s)`` (``Store.time_series``)."""

    start: float
    decisions: int  # decisions logged (decided_at in the bucket)
    infeasible: int  # of them, those with no agent
    outcomes: int  # outcomes recorded (recorded_at in the bucket)
    successes: int
    spend: float  # the sum of the outcomes' costs (none: 0)

if TYPE_CHECKING:
    from routerd.store._analytics import AnalyticsRow

TIME_SERIES_MAX_BUCKETS = 10_000


class Store(Protocol):
    url: str  # where it lives, without secrets
    shared: bool  # other routerd processes may write to it (PostgreSQL), so caches must follow it

    def listen(self, on_change: Callable[[str | None], None], stop: threading.Event, interval_s: float) -> None:
        """Until ``stop``: ``on_change(kind)`` for each committed change of agents, routes, budgets or
        the model; ``on_change(None)`` every ``interval_s`` (reload everything). Returns at once when
        nothing else can write to the store."""

    def close(self) -> None: ...

    # -- agents -------------------------------------------------------------------------------
    def insert_agent(self, record: AgentRecord) -> None:
        """Raise ``AgentExists`` if the name is taken."""

    def replace_agent_spec(self, spec: AgentSpec, updated_at: float) -> AgentRecord:
        """Replace the declared fields of agent ``spec.name``; stats are kept. ``AgentNotFound``."""

    def delete_agent(self, name: str) -> bool:
        """Remove the agent (its outcomes stay in the log). False if there was none."""

    def clear_agents(self) -> int:
        """Remove every agent; return how many there were."""

    def get_agent(self, name: str) -> AgentRecord | None: ...

    def list_agents(self) -> list[AgentRecord]:
        """Every agent, ordered by name."""

    # -- semantic routes ----------------------------------------------------------------------
    def insert_route(self, record: RouteRecord, *, replace: bool = False) -> bool:
        """Store a new route; ``RouteExists`` if the name is taken, unless ``replace`` (then the old
        one is replaced, keeping nothing of it). Return whether one was replaced."""

    def update_route(self, record: RouteRecord) -> None:
        """Replace route ``record.name`` whole; ``RouteNotFound``."""

    def delete_route(self, name: str) -> bool: ...

    def get_route(self, name: str) -> RouteRecord | None: ...

    def list_routes(self) -> list[RouteRecord]:
        """Every route with its vectors, ordered by name."""

    def set_route_thresholds(self, thresholds: Mapping[str, float], updated_at: float,
                             meta: Mapping[str, str]) -> None:
        """In one transaction: set these routes' thresholds (marked fitted) and these metadata keys (the
        calibration fitted with them). ``RouteNotFound`` (and nothing written) for an unknown route."""

    def reembed_routes(self, records: Sequence[RouteRecord], meta: Mapping[str, str]) -> None:
        """In one transaction: replace these routes (their vectors of a new embedder) and set ``meta``."""

    # -- metadata -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Set these keys in one transaction."""

    # -- outcomes -----------------------------------------------------------------------------
    def record_outcome_settling(self, outcome: OutcomeRecord, health: HealthUpdate,
                                new_charges: Sequence[ChargeRecord] = ()
                                ) -> tuple[AgentStats, list[tuple[str, str, float, int, int]]]:
        """``record_outcome`` that also settles the decision's budget charges (or inserts
        ``new_charges``) in the same transaction; returns the charges' changes."""

    def record_outcome(self, outcome: OutcomeRecord, health: HealthUpdate) -> AgentStats:
        """In one transaction: append the outcome, add it to the agent's counters (increments, so
        concurrent writers never lose an update), set ``health``'s fields; return the new stats.
        ``AgentNotFound`` (and nothing written) if the agent does not exist."""

    def recent_outcomes(self, agent_name: str, limit: int, since: float) -> list[tuple[float, bool]]:
        """(latency_ms, success) of the agent's last ``limit`` outcomes recorded at or after ``since``
        (its registration, so a re-registered name starts afresh), oldest first."""

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
        """Outcomes with ``start <= recorded_at < end``, ordered by (recorded_at, outcome_id),
        strictly after the ``after`` key when given (for paging)."""

    def count_outcomes(self) -> int: ...

    # -- model versions (routerd.engine.learning) ---------------------------------------------
    def insert_model(self, record: ModelRecord) -> int:
        """Store ``record`` under the next version number (1, 2, …); return the number."""

    def finish_model(self, record: ModelRecord, *, live: bool) -> None:
        """Write a finished training (by ``record.version``); with ``live`` it becomes the live
        version and the previous live one 'retired', in one transaction. ``ModelNotFound`` if absent."""

    def promote_model(self, version: int | None, promoted_at: float, *, rollback: bool = False) -> None:
        """Make ``version`` live (None: no model is live); the previous live one becomes 'retired'
        ('rolled_back' with ``rollback``, which also keeps ``version``'s promoted_at)."""

    def get_model(self, version: int, *, weights: bool = True) -> ModelRecord | None: ...

    def list_models(self) -> list[ModelRecord]:
        """Every version, oldest first, without weights."""

    def fail_unfinished_models(self, reason: str, finished_at: float) -> int:
        """Mark trainings left 'training' by a stopped routerd as 'failed'."""

    def training_outcomes(self, *, limit: int, since: float | None = None) -> list[TrainingOutcome]:
        """The latest ``limit`` outcomes naming a logged decision (recorded after ``since``), oldest first."""

    # -- decision log -------------------------------------------------------------------------
    def append_decisions(self, records: Sequence[DecisionRecord], charges: Sequence[ChargeRecord] = (),
                         checks: Sequence[BudgetCheck] = ()) -> None:
        """Append many decisions, their tags and their budget charges in one transaction (ids are
        unique; a repeated id is ignored); ``BudgetConflict`` and nothing written if a checked hard
        budget would pass its amount."""

    def cancel_decision(self, decision_id: str, at: float) -> tuple[list[ChargeRecord], bool]:
        """Cancel a decision, releasing its reservations; (charges released, was cancelled already)."""

    # -- budgets ------------------------------------------------------------------------------
    def insert_budget(self, record: BudgetRecord) -> None:
        """``BudgetExists`` if the name is taken."""

    def replace_budget(self, record: BudgetRecord) -> None:
        """``BudgetNotFound``."""

    def delete_budget(self, name: str) -> bool: ...

    def list_budgets(self) -> list[BudgetRecord]: ...

    def budget_used(self, name: str, window_start: float) -> int: ...

    def budget_charge_values(self, name: str, start: float) -> list[tuple[str, float, int]]: ...

    def budget_spend(self, name: str, start: float, end: float | None,
                     stale_before: float) -> tuple[float, float, float, int, int]: ...

    def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    def count_decisions(self) -> int: ...

    def routing_analytics(self, *, start: float | None, end: float | None, group_by: str) -> list[AnalyticsRow]:
        """Aggregates of the decisions made in [start, end) and their outcomes (routerd.store._analytics)."""

    def list_decisions(self, *, start: float | None = None, end: float | None = None, limit: int = 1000,
                       after: tuple[float, str] | None = None) -> list[DecisionRecord]:
        """The decision log in (decided_at, decision_id) order, after ``after``."""

    # -- analytics over time (the dashboard) ---------------------------------------------------
    def time_series(self, start: float, bucket_s: float, buckets: int) -> list[TimeBucket]:
        """``buckets`` consecutive buckets of ``bucket_s`` seconds from ``start`` (empty ones included),
        counting decisions by ``decided_at`` and outcomes by ``recorded_at``. ``InvalidArgument`` naming
        ``bucket_s`` (not finite and > 0) or ``buckets`` (not 1..TIME_SERIES_MAX_BUCKETS)."""


def open_store(url: str) -> Store:
    """``sqlite:///abs/path.db`` (or a bare path) or ``postgresql://…``. Migrates on open."""
    if url.startswith(("postgresql://", "postgres://")):
        from routerd.store.postgres import PostgresStore

        return PostgresStore(url)
    from routerd.store.sqlite import SQLiteStore

    path = url.removeprefix("sqlite://")
    return SQLiteStore(path)
