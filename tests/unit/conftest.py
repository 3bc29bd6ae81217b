"""Fixtures of the unit suite: the real SQLite store in a temporary directory, the hashing
embedder, a controllable clock, and an Engine built from them. No gRPC, no network, no PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from routerd.domain import AgentSpec, CostModel
from routerd.engine.engine import Engine
from routerd.engine.health import BreakerPolicy
from routerd.engine.registry import Registry
from routerd.model.embedder import HashingEmbedder
from routerd.store import Store, open_store

T0 = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


def spec(name: str, *, agent_type: str = "llm", capabilities: tuple[str, ...] = (), per_1k_input: float = 0.0,
         per_1k_output: float = 0.0, per_call: float = 0.0, per_second: float = 0.0, latency: float = 1000.0,
         quality: float = 0.5, metadata: str = "{}", active: bool = True, typical_output_tokens: int = 0) -> AgentSpec:
    """An AgentSpec with readable keyword names. ``typical_output_tokens`` defaults to 0 here so
    that a per-call price is the whole estimated cost unless a test says otherwise."""
    return AgentSpec(name=name, agent_type=agent_type, capabilities=capabilities,
                     cost=CostModel(per_1k_input, per_1k_output, per_call, per_second),
                     latency_prior_ms=latency, quality_prior=quality, metadata=metadata, active=active,
                     typical_output_tokens=typical_output_tokens)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite://{db_path}")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def registry(store: Store, embedder: HashingEmbedder, clock: FakeClock) -> Registry:
    return Registry(store, embedder, clock)


@pytest.fixture
def make_engine(store: Store, embedder: HashingEmbedder, clock: FakeClock) -> Iterator[Callable[..., Engine]]:
    """Build Engines over the test's store; every one is closed at teardown. The background flusher
    is slowed to once an hour so tests decide when the decision log is written."""
    engines: list[Engine] = []

    def make(**kw: Any) -> Engine:
        kw.setdefault("clock", clock)
        kw.setdefault("flush_interval_s", 3600.0)
        kw.setdefault("policy", BreakerPolicy())
        e = Engine(kw.pop("store", store), embedder, **kw)
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()
