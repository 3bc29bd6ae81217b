"""Where each option of a tinydancer server may be set (issue 7, item 10): the token only in a user mapping
(server and table options are readable by every role), target/timeout_ms/tls_ca only on the server (a user
mapping, which a role with USAGE may create for itself, must not redirect the FDW), resource only on a foreign
table. sql/roles.sql's event trigger rejects a misplaced option at CREATE/ALTER time, for superusers and
everyone else; the install rejects one left from before the trigger."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from devstack.stack import ROOT
from fdw.options import OPTIONS
from tests.harness.cluster import PgCluster
from tests.harness.sql import SQL, Session, install

VALUES = {"target": "127.0.0.1:1", "timeout_ms": "1000", "tls_ca": "/etc/passwd", "resource": "stats",
          "token": "s3cret"}
PLACES = ("server", "table", "user mapping")
PHRASE = {"server": "the server", "table": "a foreign table", "user mapping": "a user mapping"}


@pytest.fixture
def probe(installed: PgCluster) -> Iterator[Session]:
    """A second tinydancer server, td_probe, with the right options and nothing else."""
    s = Session(installed)
    s.q("DROP SERVER IF EXISTS td_probe CASCADE")
    s.q("CREATE SERVER td_probe FOREIGN DATA WRAPPER multicorn "
        "OPTIONS (wrapper 'fdw.TinyDancer', target '127.0.0.1:1', timeout_ms '1000')")
    try:
        yield s
    finally:
        s.q("DROP SERVER IF EXISTS td_probe CASCADE")
        s.close()


def _set(s: Session, name: str, place: str, value: str) -> None:
    """Set option ``name`` in ``place`` of server td_probe: CREATE, then (for a fresh object) ALTER ... ADD."""
    if place == "server":
        s.q(f"ALTER SERVER td_probe OPTIONS (ADD {name} '{value}')")
    elif place == "user mapping":
        s.q(f"CREATE USER MAPPING FOR CURRENT_USER SERVER td_probe OPTIONS ({name} '{value}')")
    else:
        extra = "" if name == "resource" else f", {name} '{value}'"
        s.q(f"CREATE FOREIGN TABLE td_probe_t (agents bigint) SERVER td_probe OPTIONS (resource 'stats'{extra})")


def _options(s: Session) -> list[str]:
    rows = s.q("SELECT array_to_string(srvoptions, ',') FROM pg_foreign_server WHERE srvname = 'td_probe' "
               "UNION ALL SELECT array_to_string(umoptions, ',') FROM pg_user_mapping u JOIN pg_foreign_server s "
               "ON s.oid = u.umserver WHERE s.srvname = 'td_probe' "
               "UNION ALL SELECT array_to_string(ftoptions, ',') FROM pg_foreign_table t JOIN pg_foreign_server s "
               "ON s.oid = t.ftserver WHERE s.srvname = 'td_probe'")
    return [r[0] or "" for r in rows]


@pytest.mark.parametrize("name", [o.name for o in OPTIONS])
def test_each_option_only_in_its_place(probe: Session, name: str) -> None:
    where = next(o.where for o in OPTIONS if o.name == name)
    for place in PLACES:
        if place == where:
            continue
        before = _options(probe)
        with pytest.raises(psycopg.Error) as info:
            _set(probe, name, place, VALUES[name])
        e = info.value
        assert e.sqlstate == "HV00D", (name, place, e)
        assert e.diag.message_primary == (f'the option "{name}" cannot be set on {PHRASE[place]} (server td_probe): '
                                          f"it belongs to {PHRASE[where]}")
        assert e.diag.message_hint and f"Set it on {PHRASE[where]} instead" in e.diag.message_hint
        assert _options(probe) == before, (name, place)  # nothing stored
    # and in its place it is accepted
    if where == "server":
        probe.q(f"ALTER SERVER td_probe OPTIONS ({'SET' if name in ('target', 'timeout_ms') else 'ADD'} "
                f"{name} '{VALUES[name]}')")
    else:
        _set(probe, name, where, VALUES[name])
    assert any(f"{name}={VALUES[name]}" in o for o in _options(probe))


def test_alter_cannot_move_an_option_into_the_wrong_place(probe: Session) -> None:
    probe.q("CREATE USER MAPPING FOR CURRENT_USER SERVER td_probe OPTIONS (token 't')")
    probe.q("CREATE FOREIGN TABLE td_probe_t (agents bigint) SERVER td_probe OPTIONS (resource 'stats')")
    for sql in ("ALTER USER MAPPING FOR CURRENT_USER SERVER td_probe OPTIONS (ADD target 'evil:1')",
                "ALTER USER MAPPING FOR CURRENT_USER SERVER td_probe OPTIONS (ADD tls_ca '/etc/shadow')",
                "ALTER FOREIGN TABLE td_probe_t OPTIONS (ADD token 't')",
                "ALTER SERVER td_probe OPTIONS (ADD token 't')"):
        with pytest.raises(psycopg.Error) as info:
            probe.q(sql)
        assert info.value.sqlstate == "HV00D" and "cannot be set on" in str(info.value), sql
    assert sorted(_options(probe)) == sorted(["wrapper=fdw.TinyDancer,target=127.0.0.1:1,timeout_ms=1000",
                                              "token=t", "resource=stats"])


def test_a_non_superuser_cannot_redirect_the_fdw_through_its_user_mapping(sql: SQL) -> None:
    """A role with USAGE on the server may create its own user mapping: with a token, never with target,
    timeout_ms or tls_ca (Multicorn merges user-mapping options over the server's)."""
    sql.q("DROP ROLE IF EXISTS td_mallory")
    sql.q("CREATE ROLE td_mallory LOGIN")
    sql.q("GRANT USAGE ON FOREIGN SERVER routerd TO td_mallory")
    sql.q("GRANT tinydancer_reader TO td_mallory")
    try:
        with psycopg.connect(f"host=127.0.0.1 port={sql.cluster.port} user=td_mallory dbname=postgres",
                             autocommit=True) as m:
            for name, value in (("target", "10.0.0.1:50051"), ("timeout_ms", "600000"), ("tls_ca", "/etc/shadow")):
                with pytest.raises(psycopg.Error) as info:
                    m.execute(f"CREATE USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS ({name} '{value}')")
                assert info.value.sqlstate == "HV00D", info.value
                assert info.value.diag.message_primary == (
                    f'the option "{name}" cannot be set on a user mapping (server routerd): it belongs to the server')
            m.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS (token 'mine')")
            with pytest.raises(psycopg.Error) as info:
                m.execute("ALTER USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS (ADD target '10.0.0.1:1')")
            assert info.value.sqlstate == "HV00D"
            # the FDW still goes where the server says
            assert m.execute("SELECT agents FROM tinydancer.stats").fetchone() == (0,)
    finally:
        sql.q("DROP USER MAPPING IF EXISTS FOR td_mallory SERVER routerd")
        sql.q("REVOKE USAGE ON FOREIGN SERVER routerd FROM td_mallory")
        sql.q("DROP ROLE td_mallory")


def test_servers_of_other_wrappers_are_left_alone(probe: Session) -> None:
    probe.q("DROP SERVER IF EXISTS td_other CASCADE")
    try:
        probe.q("CREATE SERVER td_other FOREIGN DATA WRAPPER multicorn "
                "OPTIONS (wrapper 'multicorn.ForeignDataWrapper', token 'x', resource 'y')")
        probe.q("CREATE USER MAPPING FOR CURRENT_USER SERVER td_other OPTIONS (target 'a:1')")
    finally:
        probe.q("DROP SERVER IF EXISTS td_other CASCADE")


def test_the_install_rejects_a_token_left_on_a_server(probe: Session, installed: PgCluster) -> None:
    """Objects made before the trigger existed (or while it was disabled) are checked when roles.sql runs."""
    probe.q("ALTER EVENT TRIGGER tinydancer_option_places DISABLE")
    try:
        probe.q("ALTER SERVER td_probe OPTIONS (ADD token 'leaked')")
    finally:
        probe.q("ALTER EVENT TRIGGER tinydancer_option_places ENABLE")
    with pytest.raises(Exception) as info:
        install(installed, "127.0.0.1:1", scripts=[ROOT / "sql" / "roles.sql"])
    assert 'the option "token" cannot be set on the server (server td_probe): it belongs to a user mapping' \
        in str(info.value)
    probe.q("ALTER SERVER td_probe OPTIONS (DROP token)")
    install(installed, "127.0.0.1:1", scripts=[ROOT / "sql" / "roles.sql"])  # and again: idempotent


def test_the_sql_places_are_the_fdws(installed: PgCluster) -> None:
    s = Session(installed)
    try:
        places = dict(s.q("SELECT name, place FROM tinydancer._option_places()"))
    finally:
        s.close()
    assert places == {"wrapper": "server", **{o.name: o.where for o in OPTIONS}}
