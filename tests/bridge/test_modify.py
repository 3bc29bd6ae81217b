"""INSERT/UPDATE/DELETE (spec 1.6)."""

from __future__ import annotations

import psycopg
import pytest

from tests.harness.sql import hook_calls


@pytest.fixture
def mt(db, request):
    store = request.node.name
    db.table("mt", "id int, name text DEFAULT 'dflt', big bigint", log="1", store=store)
    return db


def test_insert_values_and_returning(mt):
    mt.clear()
    assert mt.q("INSERT INTO mt (id, big) VALUES (1, 5) RETURNING id, name, big") == [(1, "dflt", 5)]
    assert hook_calls(mt, "insert") == [({"id": 1, "name": "dflt", "big": "5"},)]  # bigint arrives as str
    assert mt.q("SELECT id, name FROM mt") == [(1, "dflt")]


@pytest.mark.parametrize(
    ("ret", "expected"),
    [("{'id': 99}", (99, None, None)), ("(7, 'seq', 3)", (7, "seq", 3)), ("None", (1, "x", None))],
)
def test_insert_return_value_replaces_row(db, ret, expected):
    db.table("mt_ret", "id int, name text, big bigint", insert_return=ret, rows="[]")
    assert db.q("INSERT INTO mt_ret VALUES (1, 'x') RETURNING *") == [expected]


def test_update_gets_rowid_and_all_columns(mt):
    mt.q("INSERT INTO mt VALUES (1, 'a', 10), (2, 'b', 20)")
    mt.clear()
    assert mt.q("UPDATE mt SET name = 'z' WHERE id = 2 RETURNING id, name, big") == [(2, "z", 20)]
    assert hook_calls(mt, "update") == [(2, {"id": 2, "name": "z", "big": "20"})]
    # UPDATE fetches every column
    assert hook_calls(mt, "execute")[-1][1] == ["big", "id", "name"]
    order = [m.split(" ")[0] for m in mt.messages() if m.split(" ")[0] in ("update", "end_modify", "end_scan")]
    assert order == ["update", "end_modify", "end_scan"]
    assert sorted(mt.q("SELECT id, name FROM mt")) == [(1, "a"), (2, "z")]


def test_update_return_value(db):
    db.table("mt_uret", "id int, name text", rows="[{'id': 1, 'name': 'a'}]", update_return="{'id': 1, 'name': 'fdw'}")
    assert db.q("UPDATE mt_uret SET name = 'b' RETURNING name") == [("fdw",)]


def test_delete_gets_rowid_and_returning(mt):
    mt.q("INSERT INTO mt VALUES (1, 'a', 10), (2, 'b', 20)")
    mt.clear()
    assert mt.q("DELETE FROM mt WHERE big = 20 RETURNING name") == [("b",)]
    assert hook_calls(mt, "delete") == [(2,)]
    # DELETE fetches only the rowid, RETURNING and qual columns
    assert hook_calls(mt, "execute")[-1][1] == ["big", "id", "name"]
    mt.clear()
    mt.q("DELETE FROM mt WHERE big = 10")
    assert hook_calls(mt, "execute")[-1][1] == ["big", "id"]
    order = [m.split(" ")[0] for m in mt.messages() if m.split(" ")[0] in ("delete", "end_modify", "end_scan")]
    assert order == ["delete", "end_modify", "end_scan"]
    assert mt.q("SELECT * FROM mt") == []


def test_delete_return_value(db):
    db.table("mt_dret", "id int, name text", rows="[{'id': 1, 'name': 'a'}]", delete_return="['1', 'gone']")
    assert db.q("DELETE FROM mt_dret RETURNING id, name") == [(1, "gone")]


def test_rowid_none_and_missing(db):
    db.table("mt_norowid", "id int", rowid="None", rows="[{'id': 1}]")
    for sql in ("INSERT INTO mt_norowid VALUES (1)", "UPDATE mt_norowid SET id = 2", "DELETE FROM mt_norowid"):
        with pytest.raises(psycopg.errors.FdwError, match="This FDW does not support the writable API"):
            db.q(sql)
    db.table("mt_badrowid", "id int", rowid="nope", rows="[{'id': 1}]")
    for sql in ("UPDATE mt_badrowid SET id = 2", "DELETE FROM mt_badrowid"):
        with pytest.raises(psycopg.errors.UndefinedColumn, match="The rowid attribute does not exist"):
            db.q(sql)


def test_insert_only_fdw_still_needs_rowid(db):
    db.q("DROP SERVER IF EXISTS mt_io CASCADE")
    db.q("CREATE SERVER mt_io FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.InsertOnlyFDW')")
    db.table("mt_insonly", "id int", server="mt_io")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: NotImplementedError"):
        db.q("INSERT INTO mt_insonly VALUES (1)")


def test_bulk_insert_fallback(db):
    db.q("DROP SERVER IF EXISTS mt_bulk CASCADE")
    db.q("CREATE SERVER mt_bulk FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.BulkOnlyFDW')")
    db.table("mt_bulkonly", "id int, v text", server="mt_bulk")
    db.clear()
    db.q("INSERT INTO mt_bulkonly VALUES (1, 'a'), (2, NULL)")
    assert db.messages("bulk_insert") == ["bulk_insert [{'id': 1, 'v': 'a'}]", "bulk_insert [{'id': 2, 'v': None}]"]
