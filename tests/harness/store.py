"""The store suite's records (readable builders of AgentRecord, OutcomeRecord, DecisionRecord) and a
read of a store's database behind the store's back."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from routerd.domain import AgentRecord, AgentSpec, AgentStats, DecisionRecord, HealthUpdate, OutcomeRecord

T0 = 1_700_000_000.0
HEALTHY = HealthUpdate(None, None, "closed", 0, None)


def agent(name: str = "gpt", *, stats: AgentStats | None = None, created_at: float = T0,
          **spec: object) -> AgentRecord:
    return AgentRecord(
        spec=AgentSpec(name=name, agent_type=str(spec.pop("agent_type", "llm")), **spec),  # type: ignore[arg-type]
        stats=stats or AgentStats(),
        created_at=created_at,
        updated_at=created_at,
    )


def outcome(n: int, agent_name: str = "gpt", *, at: float | None = None, **kw: object) -> OutcomeRecord:
    fields: dict[str, object] = {"latency_ms": 100.0 + n, "success": True, **kw}
    return OutcomeRecord(f"o{n:05d}", agent_name, T0 + n if at is None else at, **fields)  # type: ignore[arg-type]


def decision(decision_id: str, **kw: object) -> DecisionRecord:
    fields: dict[str, object] = {
        "decided_at": T0, "agent_name": "gpt", "objective": "balanced", "request_text": "hello",
        "estimated_cost": 0.002, "estimated_latency_ms": 850.0, "expected_quality": 0.8,
        "confidence": 0.9, "model_version": "fastgrnn-1", **kw,
    }
    return DecisionRecord(decision_id, **fields)  # type: ignore[arg-type]


def raw_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """Run ``query`` on the store at ``url`` behind the store's back."""
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            return conn.execute(query).fetchall()
        finally:
            conn.close()
    with psycopg.connect(url) as pg:
        return pg.execute(query).fetchall()
