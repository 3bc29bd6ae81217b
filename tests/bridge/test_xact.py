"""Transaction hooks (spec 1.7)."""

from __future__ import annotations

import psycopg
import pytest

HOOKS = ("begin", "sub_begin", "sub_commit", "sub_rollback", "pre_commit", "commit", "rollback", "end_scan")


def hooks(db, tag=None):
    out = []
    for m in db.messages():
        head, _, rest = m.partition(" ")
        if tag:
            if not head.startswith(tag + ":"):
                continue
            head = head[len(tag) + 1:]
        if head in HOOKS:
            out.append(f"{head} {rest}".strip())
    return out


def test_plain_select(db):
    db.table("xa", "id int", log="1", n="1")
    db.q("SELECT * FROM xa")
    db.clear()
    db.q("SELECT * FROM xa")
    assert hooks(db) == ["begin (0, 'int')", "end_scan", "pre_commit", "commit"]


def test_savepoints(db):
    db.table("xs", "id int", log="1", n="1")
    db.q("SELECT * FROM xs")
    db.clear()
    for sql in ["BEGIN", "SELECT * FROM xs", "SAVEPOINT a", "SELECT * FROM xs", "SAVEPOINT b",
                "SELECT * FROM xs", "RELEASE b", "ROLLBACK TO a", "SELECT * FROM xs", "SAVEPOINT c",
                "RELEASE c", "COMMIT"]:
        db.q(sql)
    assert hooks(db) == [
        "begin (0, 'int')", "end_scan",
        "sub_begin (2,)", "end_scan",
        "sub_begin (3,)", "end_scan",
        "sub_commit (3,)",
        "sub_rollback (2,)",
        "sub_begin (2,)", "end_scan",
        # SAVEPOINT c / RELEASE c: the instance was not used at level 3 -> no hook;
        # COMMIT with savepoint a (level 2) still open commits it first
        "sub_commit (2,)", "pre_commit", "commit",
    ]


def test_rollback_and_serializable(db):
    db.table("xr", "id int", log="1", n="1")
    db.q("SELECT * FROM xr")
    db.clear()
    db.q("BEGIN ISOLATION LEVEL SERIALIZABLE")
    db.q("SELECT * FROM xr")
    db.q("ROLLBACK")
    assert hooks(db) == ["begin (1, 'int')", "end_scan", "rollback"]


def test_only_instances_used_in_the_transaction(db):
    db.table("xu1", "id int", log="1", n="1", tag="one")
    db.table("xu2", "id int", log="1", n="1", tag="two")
    db.q("SELECT * FROM xu1")
    db.q("SELECT * FROM xu2")
    db.clear()
    db.q("BEGIN")
    db.q("SELECT * FROM xu2")
    db.q("COMMIT")
    assert hooks(db, "one") == []
    assert hooks(db, "two") == ["begin (0, 'int')", "end_scan", "pre_commit", "commit"]


def test_failed_statement_skips_end_scan(db):
    db.table("xf", "id int", log="1", n="5", fail_after="2")
    with pytest.raises(psycopg.errors.InternalError):
        db.q("SELECT * FROM xf")
    assert "end_scan" not in hooks(db)
    assert hooks(db)[-1] == "rollback"


def test_pre_commit_error_aborts(db):
    db.table("xpc", "id int", log="1", n="1", fail="pre_commit")
    db.q("BEGIN")
    db.q("CREATE TABLE xpc_local (x int)")
    db.q("SELECT * FROM xpc")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: ValueError"):
        db.q("COMMIT")
    assert hooks(db)[-2:] == ["pre_commit", "rollback"]
    assert db.one("SELECT to_regclass('xpc_local')") is None
    assert db.one("SELECT 1") == 1


@pytest.mark.parametrize("hook", ["commit", "rollback"])
def test_commit_and_rollback_errors_are_warnings(db, hook):
    db.table(f"x_{hook}", "id int", log="1", n="1", fail=hook)
    db.q(f"DROP TABLE IF EXISTS x_{hook}_local")
    db.q("BEGIN")
    db.q(f"CREATE TABLE x_{hook}_local (x int)")  # a local write: Ref PANICs here
    db.q(f"SELECT * FROM x_{hook}")
    db.q("COMMIT" if hook == "commit" else "ROLLBACK")
    warnings = [n for n in db.notices if n.severity == "WARNING"]
    assert [w.message for w in warnings] == ["Error in python: ValueError"]
    assert warnings[0].detail == f"boom {hook}"
    exists = db.one(f"SELECT to_regclass('x_{hook}_local') IS NOT NULL")
    assert exists is (hook == "commit")
    assert db.one("SELECT 1") == 1


def test_sub_rollback_error_is_warning(db):
    db.table("x_subrb", "id int", log="1", n="1", fail="sub_rollback")
    db.q("BEGIN")
    db.q("SAVEPOINT s")
    db.q("SELECT * FROM x_subrb")
    db.q("ROLLBACK TO s")
    assert [n.message for n in db.notices if n.severity == "WARNING"] == ["Error in python: ValueError"]
    assert db.one("SELECT 1") == 1
    db.q("COMMIT")


@pytest.mark.parametrize("hook", ["begin", "sub_begin", "sub_commit"])
def test_other_hook_errors_are_errors(db, hook):
    db.table(f"x_{hook}", "id int", log="1", n="1", fail=hook)
    db.q("BEGIN")
    db.q("SAVEPOINT s")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: ValueError"):
        db.q(f"SELECT * FROM x_{hook}")
        db.q("RELEASE s")
    db.q("ROLLBACK")
    assert db.one("SELECT 1") == 1


def test_cursor_survives_savepoints(db):
    db.table("xcur", "id int", n="5")
    db.q("BEGIN")
    db.q("SAVEPOINT a")
    db.q("DECLARE c CURSOR FOR SELECT id FROM xcur")
    assert db.q("FETCH 1 FROM c") == [(0,)]
    db.q("RELEASE a")  # the cursor now belongs to the top level
    db.q("SAVEPOINT b")
    with pytest.raises(psycopg.errors.DivisionByZero):
        db.q("SELECT 1/0")
    db.q("ROLLBACK TO b")
    assert db.q("FETCH 2 FROM c") == [(1,), (2,)]
    db.q("SAVEPOINT d")
    db.q("DECLARE c2 CURSOR FOR SELECT id FROM xcur")
    assert db.q("FETCH 1 FROM c2") == [(0,)]
    db.q("ROLLBACK TO d")  # c2 is gone with its savepoint, its iterator released
    assert db.q("FETCH ALL FROM c") == [(3,), (4,)]
    db.q("COMMIT")
    assert db.one("SELECT 1") == 1


def test_plpgsql_exception_block_releases_scan(db):
    db.table("xplp", "id int", n="10", fail_after="3")
    db.q("""
        CREATE OR REPLACE FUNCTION xplp_try() RETURNS int LANGUAGE plpgsql AS $$
        DECLARE n int := 0; r record;
        BEGIN
            BEGIN
                FOR r IN SELECT * FROM xplp LOOP n := n + 1; END LOOP;
            EXCEPTION WHEN internal_error THEN
                RETURN -100 - n;
            END;
            RETURN n;
        END $$""")
    for _ in range(3):
        assert db.one("SELECT xplp_try()") == -100  # plpgsql prefetches: the error comes first
