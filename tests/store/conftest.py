"""Fixtures of the store suite: every test that takes ``store`` runs on SQLite and on PostgreSQL.

PostgreSQL comes from the ``pg_url`` fixture of tests/conftest.py: a database of its own per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from routerd.store import Store, open_store

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/data/routerd.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
