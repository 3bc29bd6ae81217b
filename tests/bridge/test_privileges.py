"""Who may make the bridge import Python code (issue 7 item 9): a wrapper class is imported only
when PostgreSQL validates CREATE/ALTER SERVER for a role allowed to name it (a superuser, or, for a
class some multicorn server already uses, a role allowed to create or alter the server), and never
when a non-superuser calls multicorn_validator directly."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.harness.sql import DB

ROLE = "mc_plain_user"
SIDE_EFFECT = "fdws.sideeffect.Wrapper"
SERVER_CATALOG = 1417  # pg_foreign_server


def marker(pid: int) -> Path:
    """The file fdws/sideeffect.py writes when a backend imports it (same name)."""
    return Path(tempfile.gettempdir()) / f"tinydancer-bridge-sideeffect-{pid}"


@pytest.fixture
def plain(cluster, db) -> Iterator[DB]:
    """A session of a non-superuser login role (the superuser session is ``db``)."""
    db.q(f"DROP OWNED BY {ROLE}" if db.q(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'") else "SELECT 1")
    db.q(f"DROP ROLE IF EXISTS {ROLE}")
    db.q(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER")
    session = DB(cluster)
    session.conn.close()
    session.conn = psycopg.connect(cluster.dsn.replace("user=postgres", f"user={ROLE}"), autocommit=True)
    session.conn.add_notice_handler(session._on_notice)
    try:
        yield session
    finally:
        pid = session.backend_pid()
        session.close()
        marker(pid).unlink(missing_ok=True)
        db.q(f"DROP OWNED BY {ROLE}")
        db.q(f"DROP ROLE {ROLE}")


def assert_nothing_imported(session: DB) -> None:
    assert session.messages("fdws.sideeffect") == []
    assert not marker(session.backend_pid()).exists()


def test_validator_is_not_executable_by_public(plain):
    assert not plain.one("SELECT has_function_privilege('multicorn_validator(text[], oid)', 'EXECUTE')")
    assert not plain.one("SELECT has_function_privilege('multicorn_handler()', 'EXECUTE')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
        plain.q(f"SELECT multicorn_validator(ARRAY['wrapper={SIDE_EFFECT}'], {SERVER_CATALOG})")
    assert_nothing_imported(plain)


def test_direct_call_by_a_non_superuser_imports_nothing(db, plain):
    # even where EXECUTE was granted (an extension created before the REVOKE, or a careless GRANT)
    db.q(f"GRANT EXECUTE ON FUNCTION multicorn_validator(text[], oid) TO {ROLE}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege,
                       match="permission denied to call multicorn_validator directly"):
        plain.q(f"SELECT multicorn_validator(ARRAY['wrapper={SIDE_EFFECT}'], {SERVER_CATALOG})")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        plain.q("SELECT multicorn_validator(ARRAY['wrapper=routerd.__main__.x'], 1417)")
    assert_nothing_imported(plain)


def test_only_a_superuser_names_a_new_wrapper_class(db, plain):
    db.q(f"GRANT USAGE ON FOREIGN DATA WRAPPER multicorn TO {ROLE}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege,
                       match=f'permission denied to set the wrapper class "{SIDE_EFFECT}"') as exc:
        plain.q(f"CREATE SERVER mc_plain_srv FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper '{SIDE_EFFECT}')")
    assert exc.value.diag.message_hint
    assert_nothing_imported(plain)
    # a class a multicorn server already uses (test_srv: fdws.TestFDW) may be named, and the
    # owner may alter the server's other options
    plain.q("CREATE SERVER mc_plain_srv FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW')")
    plain.q("ALTER SERVER mc_plain_srv OPTIONS (ADD target 'x')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied to set the wrapper class"):
        plain.q(f"ALTER SERVER mc_plain_srv OPTIONS (SET wrapper '{SIDE_EFFECT}')")
    assert_nothing_imported(plain)
    assert db.one("SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'mc_plain_srv'") == [
        "wrapper=fdws.TestFDW", "target=x"]


def test_a_superuser_names_any_class(db):
    # the side effect is real: the same statements as a superuser import the module
    pid = db.backend_pid()
    try:
        db.q("DROP SERVER IF EXISTS mc_super_srv")
        db.q(f"CREATE SERVER mc_super_srv FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper '{SIDE_EFFECT}')")
        assert db.messages("fdws.sideeffect") == ["fdws.sideeffect imported"]
        assert marker(pid).exists()
        assert db.one(f"SELECT multicorn_validator(ARRAY['wrapper={SIDE_EFFECT}'], {SERVER_CATALOG})") is True
    finally:
        db.q("DROP SERVER IF EXISTS mc_super_srv")
        marker(pid).unlink(missing_ok=True)


def test_update_from_3_2_revokes_execute(cluster, db):
    """A database whose extension was created at 3.2 (EXECUTE still granted to PUBLIC) loses the
    grant with ALTER EXTENSION multicorn UPDATE; a new database gets 3.2.1 at once."""
    assert db.one("SELECT extversion FROM pg_extension WHERE extname = 'multicorn'") == "3.2.1"
    check = ("SELECT has_function_privilege('public', 'multicorn_validator(text[], oid)', 'EXECUTE'), "
             "has_function_privilege('public', 'multicorn_handler()', 'EXECUTE')")
    db.q("DROP DATABASE IF EXISTS mc_upgrade")
    db.q("CREATE DATABASE mc_upgrade")
    try:
        with psycopg.connect(cluster.dsn.replace("dbname=postgres", "dbname=mc_upgrade"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION multicorn VERSION '3.2'")
            assert conn.execute(check).fetchone() == (True, True)
            conn.execute("ALTER EXTENSION multicorn UPDATE")
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'multicorn'").fetchone() == (
                "3.2.1",)
            assert conn.execute(check).fetchone() == (False, False)
            # the FDW still works for the roles PostgreSQL calls it for
            conn.execute("CREATE SERVER s FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW')")
            conn.execute("CREATE FOREIGN TABLE t (x text) SERVER s OPTIONS (rows '[{\"x\": \"y\"}]')")
            assert conn.execute("SELECT x FROM t").fetchall() == [("y",)]
    finally:
        db.q("DROP DATABASE IF EXISTS mc_upgrade WITH (FORCE)")
