"""Fixtures of the unit suite: the real SQLite store in a temporary directory, the hashing
embedder, a controllable clock, and an Engine built from them. No gRPC, no network, no PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from routerd.engine.engine import Engine
from routerd.engine.health import BreakerPolicy
from routerd.engine.registry import Registry
from routerd.model.embedders import HashingEmbedder
from routerd.store import Store, open_store
from tests.harness.engine import FakeClock


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
    """Build Engines over the test's store; every one is closed at teardown."""
    engines: list[Engine] = []

    def make(**kw: Any) -> Engine:
        kw.setdefault("clock", clock)
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
