"""Fixtures of the gRPC suite: ``client`` talks to routerd in process (create_server on a free port,
its Engine on SQLite in the test's temporary directory), stopped after the test; ``routerd`` is a real
routerd process, for what needs one (the command line, health over a real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.routerd import Client, InProcessRouterd, RouterdProcess


@pytest.fixture
def routerd(tmp_path: Path) -> Iterator[RouterdProcess]:
    with RouterdProcess(tmp_path / "routerd") as proc:
        yield proc


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessRouterd]:
    with InProcessRouterd(tmp_path / "routerd") as s:
        yield s


@pytest.fixture
def client(server: InProcessRouterd) -> Iterator[Client]:
    c = Client(server.target)
    yield c
    c.close()
