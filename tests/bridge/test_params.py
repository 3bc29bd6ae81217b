"""Parameterized paths and nested loops (spec 3.3)."""

from __future__ import annotations

import pytest

from tests.harness.sql import hook_calls


@pytest.fixture
def nl(db):
    db.q("DROP TABLE IF EXISTS nl_outer")
    db.q("CREATE TABLE nl_outer (id int, tag text)")
    db.q("INSERT INTO nl_outer VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    db.q("ANALYZE nl_outer")
    db.table("nl_f", "id int, name text", n="10", log="1", path_keys="[(('id',), 1)]")
    db.q("SET enable_hashjoin = off")
    db.q("SET enable_mergejoin = off")
    return db


def executes(db):
    return [c[0] for c in hook_calls(db, "execute")]


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT o.id, f.name FROM nl_outer o JOIN nl_f f ON f.id = o.id ORDER BY o.id",
         [(1, "row1"), (2, "row2"), (3, "row3")]),
        ("SELECT o.id, f.name FROM nl_outer o LEFT JOIN nl_f f ON f.id = o.id ORDER BY o.id",
         [(1, "row1"), (2, "row2"), (3, "row3")]),
        ("SELECT o.id FROM nl_outer o WHERE o.id IN (SELECT id FROM nl_f) ORDER BY o.id",
         [(1,), (2,), (3,)]),
    ],
)
def test_parameterized_nested_loop(nl, sql, rows):
    plan = "\n".join(r[0] for r in nl.q("EXPLAIN " + sql))
    assert "Nested Loop" in plan and "Foreign Scan on nl_f" in plan, plan
    assert "Filter: (id = o.id)" in plan or "Filter: (o.id = id)" in plan, plan
    nl.clear()
    assert nl.q(sql) == rows
    assert executes(nl) == [[("id", "=", 1)], [("id", "=", 2)], [("id", "=", 3)]]
    assert nl.messages().count("end_scan") == 1


def test_bare_string_path_key_gives_no_path(db):
    db.q("DROP TABLE IF EXISTS nl_outer2")
    db.q("CREATE TABLE nl_outer2 (id int)")
    db.q("INSERT INTO nl_outer2 VALUES (1), (2)")
    db.table("nl_str", "id int, name text", n="10", log="1", path_keys="[('id', 1)]")
    db.q("SET enable_hashjoin = off")
    db.q("SET enable_mergejoin = off")
    db.clear()
    db.q("SELECT * FROM nl_outer2 o JOIN nl_str f ON f.id = o.id")
    assert all(q == [] for q in executes(db))


def test_unknown_key_column_is_skipped(db):
    db.table("nl_unknown", "id int", n="1", path_keys="[(('nope',), 1)]")
    assert db.q("SELECT * FROM nl_unknown") == [(0,)]
