"""Scans: execute arguments, row shapes, EXPLAIN, planner hooks (spec 1.3-1.5)."""

from __future__ import annotations

import psycopg
import pytest

from tests.harness.sql import hook_calls


def test_execute_gets_set_of_needed_columns(db):
    db.table("sc_cols", "id int, name text, extra int", log="1", n="2")
    db.q("SELECT name FROM sc_cols WHERE id = 1")
    quals, cols, ctype, kw = hook_calls(db, "execute")[-1]
    assert quals == [("id", "=", 1)]
    assert cols == ["id", "name"] and ctype == "set"
    assert kw == []  # sortkeys/limit/offset are not passed without pushdown
    db.clear()
    assert db.one("SELECT count(*) FROM sc_cols") == 2
    assert hook_calls(db, "execute")[-1][1] == []
    db.clear()
    db.q("SELECT s FROM sc_cols s")  # whole-row reference needs every column
    assert hook_calls(db, "execute")[-1][1] == ["extra", "id", "name"]


def test_execute_signature_with_two_positional_args(db):
    db.q("DROP SERVER IF EXISTS sc_log_srv CASCADE")
    db.q("CREATE SERVER sc_log_srv FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.LoggingFDW')")
    db.table("sc_two", "x text", server="sc_log_srv", level="DEBUG")
    assert db.q("SELECT x FROM sc_two") == [("done",)]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("[{'id': 1, 'name': 'a', 'junk': 9}, {'id': 2}, {'id': None, 'name': 'c'}]",
         [(1, "a"), (2, None), (None, "c")]),
        ("[(1, 'a'), [2, 'b', 'extra']]", [(1, "a"), (2, "b")]),
        ("['12']", [(1, "2")]),  # quirk: a str is a sequence of characters
        ("[{'id': 1}, None, {'id': 3}]", [(1, None)]),  # quirk: None ends the scan
        ("None", []),
        ("iter([])", []),
    ],
)
def test_row_shapes(db, rows, expected):
    db.table("sc_shapes", "id int, name text", rows=rows)
    assert db.q("SELECT id, name FROM sc_shapes") == expected


def test_short_sequence_is_index_error(db):
    db.table("sc_short", "id int, name text", rows="[(1,)]")
    with pytest.raises(psycopg.errors.InternalError) as exc:
        db.q("SELECT * FROM sc_short")
    assert exc.value.diag.message_primary == "Error in python: IndexError"
    assert exc.value.diag.sqlstate == "XX000"
    assert db.one("SELECT 1") == 1


def test_other_row_type_is_an_error(db):
    db.table("sc_badrow", "id int", rows="[42]")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: TypeError"):
        db.q("SELECT * FROM sc_badrow")


def test_every_column_is_converted(db):
    # Multicorn2 converts every column; the bridge does so with multicorn.convert_unread_columns on
    # (by default it converts only the columns the query reads: test_lean.py)
    db.q("SET multicorn.convert_unread_columns = on")
    db.table("sc_allconv", "id int, n int", rows="[{'id': 1, 'n': 'oops'}]")
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        db.q("SELECT id FROM sc_allconv")


def test_self_join_runs_two_generators(db):
    db.table("sc_self", "id int, name text", n="50")
    assert db.one("SELECT count(*) FROM sc_self a JOIN sc_self b ON a.id = b.id") == 50
    assert db.one("SELECT count(*) FROM sc_self a, sc_self b") == 2500


def test_explain(db):
    db.table("sc_explain", "id int, t text, n numeric", n="1")
    plan = [r[0] for r in db.q("EXPLAIN SELECT * FROM sc_explain WHERE id = 3")]
    assert any("Multicorn: quals [('id', '=', 3)]" in line for line in plan), plan
    assert any("Multicorn: verbose False" in line for line in plan)
    assert any("Multicorn: 42" in line for line in plan)
    assert any("Filter: (id = 3)" in line for line in plan)  # quals stay local (spec 3.2)
    plan = [r[0] for r in db.q("EXPLAIN VERBOSE SELECT * FROM sc_explain")]
    assert any("Multicorn: verbose True" in line for line in plan)
    plan = [r[0] for r in db.q("EXPLAIN ANALYZE SELECT * FROM sc_explain")]
    assert any("Multicorn: 42" in line for line in plan)


def test_explain_generic_plan_placeholders(db):
    db.table("sc_explain_p", "id int, t text, n numeric", n="1")
    db.q("SET plan_cache_mode = force_generic_plan")
    db.q("PREPARE sc_p(numeric, text, int) AS SELECT * FROM sc_explain_p WHERE n = $1 AND t = $2 AND id = $3")
    plan = "\n".join(r[0] for r in db.q("EXPLAIN EXECUTE sc_p(1.5, 'x', 3)"))
    assert "Multicorn: quals [('n', '=', None), ('t', '=', '?'), ('id', '=', None)]" in plan, plan
    assert db.q("EXECUTE sc_p(1.5, 'x', 3)") == []


def test_get_rel_size_costs_and_quals(db):
    db.table("sc_cost", "id int, t text", log="1", startup_cost="10", rel_size="(20.9, 20.2)")
    plan = db.q("EXPLAIN SELECT * FROM sc_cost WHERE id = 1 AND t = now()::text")[0][0]
    assert "cost=10.00..400.00 rows=20 width=20" in plan, plan
    quals, cols = hook_calls(db, "get_rel_size")[-1]
    assert quals == [("id", "=", 1)]  # only constant-valued quals at plan time
    assert cols == ["id", "t"]


@pytest.mark.parametrize("bad", ["[20, 20]", "None", "(1, 2, 3)"])
def test_get_rel_size_must_return_a_pair(db, bad):
    db.table("sc_badsize", "id int", rel_size=bad)
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: TypeError"):
        db.q("SELECT * FROM sc_badsize")


def test_after_insert_trigger_makes_every_column_needed(db):
    db.table("sc_trig", "id int, name text, extra int", log="1", n="1")
    db.q("CREATE OR REPLACE FUNCTION sc_trig_fn() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$")
    db.q("CREATE TRIGGER sc_trig_t AFTER INSERT ON sc_trig FOR EACH ROW EXECUTE FUNCTION sc_trig_fn()")
    db.clear()
    db.q("SELECT id FROM sc_trig")
    assert hook_calls(db, "execute")[-1][1] == ["extra", "id", "name"]
