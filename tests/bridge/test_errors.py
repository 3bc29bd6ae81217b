"""Error translation (spec 3.7), log_to_postgres (1.10) and robustness: an
exception in any hook gives a clear SQL error, the connection keeps working,
and the postmaster never restarts (checked by the autouse fixture)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest


def assert_python_error(exc, name, detail):
    assert exc.value.diag.sqlstate == "XX000"
    assert exc.value.diag.message_primary == f"Error in python: {name}"
    assert exc.value.diag.message_detail == detail


@pytest.mark.parametrize(
    ("hook", "sql"),
    [
        ("init", "SELECT * FROM {t}"),
        ("get_rel_size", "SELECT * FROM {t}"),
        ("execute", "SELECT * FROM {t}"),
        ("end_scan", "SELECT * FROM {t}"),
        ("insert", "INSERT INTO {t} VALUES (1)"),
        ("update", "UPDATE {t} SET id = 2"),
        ("delete", "DELETE FROM {t}"),
        ("end_modify", "INSERT INTO {t} VALUES (1)"),
        ("begin", "SELECT * FROM {t}"),
        ("get_path_keys", "SELECT * FROM {t}"),
        ("explain", "EXPLAIN SELECT * FROM {t}"),
    ],
)
def test_exception_in_hook(db, cluster, hook, sql):
    t = db.table(f"err_{hook}", "id int", n="3", fail=hook)
    pid = db.backend_pid()
    with pytest.raises(psycopg.errors.InternalError) as exc:
        db.q(sql.format(t=t))
    assert_python_error(exc, "ValueError", f"boom {hook}")
    assert db.one("SELECT 1") == 1 and db.backend_pid() == pid
    # traceback goes to the server log only
    assert f"boom {hook}" in cluster.log() and "Traceback (most recent call last)" in cluster.log()


def test_exception_mid_iteration(db):
    db.table("err_mid", "id int", n="10", fail_after="4")
    with pytest.raises(psycopg.errors.InternalError) as exc:
        db.q("SELECT * FROM err_mid")
    assert_python_error(exc, "ValueError", "boom execute after 4 rows")
    assert db.q("SELECT * FROM err_mid LIMIT 3") == [(0,), (1,), (2,)]


def test_key_error_detail_keeps_quotes(db):
    db.table("err_key", "id int", rows="[{}['boom']]")
    with pytest.raises(psycopg.errors.InternalError) as exc:
        db.q("SELECT * FROM err_key")
    assert_python_error(exc, "KeyError", "'boom'")


def test_error_inside_aborted_transaction_block_keeps_working(db):
    db.table("err_blk", "id int", n="3", fail="execute")
    db.q("BEGIN")
    with pytest.raises(psycopg.errors.InternalError):
        db.q("SELECT * FROM err_blk")
    with pytest.raises(psycopg.errors.InFailedSqlTransaction):
        db.q("SELECT 1")
    db.q("ROLLBACK")
    assert db.one("SELECT 1") == 1


@pytest.fixture
def logsrv(db):
    db.q("DROP SERVER IF EXISTS err_log CASCADE")
    db.q("CREATE SERVER err_log FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.LoggingFDW')")
    return db


@pytest.mark.parametrize(("level", "severity"), [("INFO", "NOTICE"), ("WARNING", "WARNING")])
def test_log_levels(logsrv, level, severity):
    logsrv.table("lg", "x text", server="err_log", level=level, message="msg", hint="the hint", detail="the detail")
    assert logsrv.q("SELECT * FROM lg") == [("done",)]
    got = [n for n in logsrv.notices if n.message == "msg"]
    assert [(n.severity, n.hint, n.detail) for n in got] == [(severity, "the hint", "the detail")]


def test_log_debug(logsrv):
    logsrv.table("lg_dbg", "x text", server="err_log", level="DEBUG", message="dbg msg")
    logsrv.q("SET client_min_messages = debug1")
    logsrv.q("SELECT * FROM lg_dbg")
    assert [(n.severity, n.message) for n in logsrv.notices if n.message == "dbg msg"] == [("DEBUG", "dbg msg")]
    logsrv.q("RESET client_min_messages")
    logsrv.clear()
    logsrv.q("SELECT * FROM lg_dbg")
    assert logsrv.messages("dbg msg") == []


def test_log_error_is_multicorn_exception(logsrv):
    logsrv.table("lg_err", "x text", server="err_log", level="ERROR", message="bad thing", hint="h", detail="d")
    with pytest.raises(psycopg.errors.InternalError) as exc:
        logsrv.q("SELECT * FROM lg_err")
    d = exc.value.diag
    assert (d.message_primary, d.message_hint, d.message_detail) == ("bad thing", "h", "d")
    assert logsrv.one("SELECT 1") == 1


def test_log_error_swallowed_by_broad_except(logsrv):
    logsrv.table("lg_sw", "x text", server="err_log", level="INFO", swallow="1")
    assert logsrv.q("SELECT * FROM lg_sw") == [("done",)]


def test_log_unknown_level_is_key_error(logsrv):
    logsrv.table("lg_bogus", "x text", server="err_log", level="BOGUS")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: KeyError"):
        logsrv.q("SELECT * FROM lg_bogus")


def test_log_critical_is_fatal(cluster, logsrv):
    logsrv.table("lg_crit", "x text", server="err_log", level="CRITICAL", message="fatal thing")
    with pytest.raises(psycopg.Error, match="fatal thing") as exc:
        logsrv.q("SELECT * FROM lg_crit")
    assert exc.value.diag.severity == "FATAL"
    with pytest.raises(psycopg.OperationalError):
        logsrv.q("SELECT 1")
    # only this backend ended; the server keeps accepting connections
    with psycopg.connect(cluster.dsn) as other:
        assert other.execute("SELECT 1").fetchone() == (1,)


def test_python_threads_block_signals(db):
    db.q("DROP SERVER IF EXISTS err_thr CASCADE")
    db.q("CREATE SERVER err_thr FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.ThreadFDW')")
    db.table("thr", "x text", server="err_thr")
    # blocked signals; log_to_postgres refuses to run off the backend thread
    assert db.q("SELECT * FROM thr") == [("True RuntimeError",)]


def test_statement_timeout_stops_slow_execute(db):
    db.table("slow", "id int", n="100000", sleep="0.01")
    db.q("SET statement_timeout = '300ms'")
    start = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        db.q("SELECT count(*) FROM slow")
    assert time.monotonic() - start < 5
    db.q("RESET statement_timeout")
    assert db.one("SELECT 1") == 1


def test_cancel_stops_busy_python_loop(db):
    # execute never yields; only check_interrupts() inside Python notices the cancel
    db.table("busy", "id int", busy="1")
    timer = threading.Timer(0.5, db.conn.cancel)
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(psycopg.errors.QueryCanceled, match="canceling statement due to user request"):
            db.q("SELECT * FROM busy")
    finally:
        timer.cancel()
    assert time.monotonic() - start < 5
    assert db.one("SELECT 1") == 1
    db.q("SET statement_timeout = '300ms'")
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        db.q("SELECT * FROM busy")
    db.q("RESET statement_timeout")


def test_cancel_stops_slow_rows(db):
    db.table("slow2", "id int", n="100000", sleep="0.01")
    timer = threading.Timer(0.5, db.conn.cancel)
    timer.start()
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            db.q("SELECT count(*) FROM slow2")
    finally:
        timer.cancel()
    assert db.one("SELECT 1") == 1


def test_terminate_during_busy_python_loop(cluster, db):
    db.table("busy_term", "id int", busy="1")
    pid = db.backend_pid()
    with psycopg.connect(cluster.dsn, autocommit=True) as other:
        timer = threading.Timer(0.5, lambda: other.execute("SELECT pg_terminate_backend(%s)", (pid,)))
        timer.start()
        try:
            with pytest.raises(psycopg.OperationalError):
                db.q("SELECT * FROM busy_term")
        finally:
            timer.join()
        assert other.execute("SELECT 1").fetchone() == (1,)
