"""Outcomes: validate, attribute to the decision's agent, update health and the breaker, store."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from routerd.domain import CLOSED, HALF_OPEN, AgentRecord, ChargeRecord, OutcomeRecord
from routerd.engine.budgets import BudgetBook
from routerd.engine.decision_log import DecisionLog
from routerd.engine.health import AgentWindows, BreakerPolicy, health_after
from routerd.engine.registry import Registry
from routerd.engine.validation import (
    COST_MAX,
    LATENCY_MAX_MS,
    OUTCOME_TOKENS_MAX,
    check_int,
    check_number,
    check_time,
    validate_id,
    validate_name,
)
from routerd.errors import AgentNotFound, DecisionNotFound, InvalidArgument
from routerd.store.base import Store


class Feedback:
    def __init__(self, store: Store, registry: Registry, decisions: DecisionLog, windows: AgentWindows,
                 policy: BreakerPolicy, clock: Callable[[], float], budgets: BudgetBook | None = None):
        self.store = store
        self.budgets = budgets
        self.registry = registry
        self.decisions = decisions
        self.windows = windows
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()

    def _decided(self, decision_id: str) -> tuple[str, float | None]:
        agent, estimate = self.decisions.lookup(decision_id)
        if agent is None:
            raise InvalidArgument("decision_id", f"decision {decision_id!r} routed to no agent")
        return agent, estimate

    def record_outcome(self, *, decision_id: str = "", agent_name: str = "", latency_ms: float,
                       success: bool, quality: float | None = None, cost: float | None = None,
                       input_tokens: int = 0, output_tokens: int = 0,
                       recorded_at: float | None = None) -> tuple[OutcomeRecord, AgentRecord]:
        if not decision_id and not agent_name:
            raise InvalidArgument("decision_id", "give the decision_id or the agent_name")
        if decision_id:
            validate_id(decision_id, "decision_id")
        if agent_name:
            validate_name(agent_name, "agent_name")
        # Every field is checked before anything is written: an error means nothing was stored.
        latency_ms = check_number(latency_ms, "latency_ms", maximum=LATENCY_MAX_MS)
        if quality is not None:
            quality = check_number(quality, "quality", maximum=1.0)
        if cost is not None:
            cost = check_number(cost, "cost", maximum=COST_MAX)
        for name, v in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            check_int(v, name, OUTCOME_TOKENS_MAX)
        if not isinstance(success, bool):
            raise InvalidArgument("success", "must be true or false")
        now = round(self.clock(), 6)  # to the microsecond, like decision times (Engine.decision_time)
        if recorded_at is not None:
            recorded_at = check_time(recorded_at, "recorded_at")
        if decision_id:
            decided: str | None
            try:
                decided, estimate = self._decided(decision_id)
            except DecisionNotFound:
                if not agent_name:
                    raise
                decided = agent_name  # the decision log lost it (crash before flush): trust the caller
            else:
                if cost is None and estimate is not None:
                    # spend is counted at the estimate when the caller knows no better
                    if not 0.0 <= estimate <= COST_MAX:  # a decision stored before estimates were bounded
                        raise InvalidArgument("cost", f"the decision's estimated cost {estimate:g} is out of "
                                                      f"range (0..{COST_MAX:g}); give the actual cost")
                    cost = estimate
            if agent_name and decided != agent_name:
                raise InvalidArgument("agent_name",
                                      f"decision {decision_id!r} routed to {decided!r}, not {agent_name!r}")
            agent_name = decided or agent_name
        outcome = OutcomeRecord(os.urandom(12).hex(), agent_name, recorded_at if recorded_at is not None else now,
                                latency_ms, success, decision_id or None, quality, cost, input_tokens, output_tokens)
        with self._lock:
            try:
                rec = self.registry.get(agent_name)
            except AgentNotFound:
                raise AgentNotFound(agent_name, "agent_name") from None
            latencies, flags = self.windows.add(agent_name, latency_ms, success)
            health = health_after(self.policy, rec.stats, success, latencies, flags, now)
            if health.breaker_state == CLOSED and self.policy.effective_state(rec.stats, now) == HALF_OPEN:
                self.windows.reset_flags(agent_name)  # recovered: old failures must not reopen it
            book = self.budgets
            direct = (book.direct_charges(outcome.outcome_id, agent_name, outcome.recorded_at, outcome.cost or 0.0)
                      if book is not None and not decision_id else [])
            try:
                stats, changes = self.store.record_outcome_settling(outcome, health, direct)
            except Exception:
                self.windows.seed(agent_name, latencies[:-1], flags[:-1])
                raise
            if book is not None:
                book.adjusted(changes)  # the reservation becomes the actual cost
                book.added(direct)
            self.registry.set_stats(agent_name, stats)
            return outcome, self.registry.get(agent_name)

    def cancel_decision(self, decision_id: str) -> tuple[list[ChargeRecord], bool]:
        """Cancel a decision: release its reservations; its later outcomes are refused."""
        validate_id(decision_id, "decision_id")
        with self._lock:  # not between another outcome's store write and its ledger update
            charges, already = self.store.cancel_decision(decision_id, self.clock())
            if self.budgets is not None:
                self.budgets.adjusted([(c.decision_id, c.budget_name, c.charged_at, c.nano, 0) for c in charges])
        return charges, already

    def list_outcomes(self, *, start: float | None = None, end: float | None = None, agent_name: str = "",
                      decision_id: str = "", limit: int = 1000,
                      after: tuple[float, str] | None = None) -> list[OutcomeRecord]:
        if decision_id:
            validate_id(decision_id, "decision_id")
        if agent_name:
            validate_name(agent_name, "agent_name")
        for name, t in (("start", start), ("end", end)):
            if t is not None:
                check_time(t, name)
        return self.store.list_outcomes(start=start, end=end, agent_name=agent_name or None,
                                        decision_id=decision_id or None, limit=limit, after=after)
