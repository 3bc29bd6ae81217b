"""Analytics over the registry, the decision log and the outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routerd.domain import OPEN, AgentRecord
from routerd.engine.health import BreakerPolicy


@dataclass(frozen=True, slots=True)
class RoutingStats:
    agents: int
    active_agents: int
    decisions: int
    outcomes: int
    total_spend: float
    mean_quality: float | None
    success_rate: float | None
    open_circuits: int
    model_version: str


def routing_stats(records: Sequence[AgentRecord], *, decisions: int, outcomes: int, policy: BreakerPolicy,
                  now: float, model_version: str) -> RoutingStats:
    qsum = sum(r.stats.quality_sum for r in records)
    qn = sum(r.stats.quality_count for r in records)
    total = sum(r.stats.total_requests for r in records)
    ok = sum(r.stats.successes for r in records)
    return RoutingStats(
        agents=len(records), active_agents=sum(r.spec.active for r in records), decisions=decisions,
        outcomes=outcomes, total_spend=sum(r.stats.total_spend for r in records),
        mean_quality=qsum / qn if qn else None, success_rate=ok / total if total else None,
        open_circuits=sum(policy.effective_state(r.stats, now) == OPEN for r in records),
        model_version=model_version)
