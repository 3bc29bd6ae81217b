"""Validator (spec 2.2), option merge (2.3), column definitions (2.4) and the
instance cache (3.8)."""

from __future__ import annotations

import psycopg
import pytest

from tests.harness.sql import hook_calls


def test_server_needs_wrapper(db):
    db.q("DROP SERVER IF EXISTS opt_nowrap")
    with pytest.raises(psycopg.errors.FdwOptionNameNotFound) as exc:
        db.q("CREATE SERVER opt_nowrap FOREIGN DATA WRAPPER multicorn")
    assert exc.value.diag.message_primary == "The wrapper parameter is mandatory, specify a valid class name"
    db.q("DROP SERVER IF EXISTS opt_w")
    db.q("CREATE SERVER opt_w FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW', a '1')")
    with pytest.raises(psycopg.errors.FdwOptionNameNotFound, match="The wrapper parameter is mandatory"):
        db.q("ALTER SERVER opt_w OPTIONS (DROP wrapper)")
    db.q("ALTER SERVER opt_w OPTIONS (DROP a)")


@pytest.mark.parametrize(
    ("wrapper", "name", "detail"),
    [("no_such_module.Foo", "ModuleNotFoundError", "No module named 'no_such_module'"),
     ("fdws.NoSuchClass", "AttributeError", "NoSuchClass")],
)
def test_server_wrapper_is_imported(db, wrapper, name, detail):
    db.q("DROP SERVER IF EXISTS opt_bad")
    with pytest.raises(psycopg.errors.InternalError) as exc:
        db.q(f"CREATE SERVER opt_bad FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper '{wrapper}')")
    assert exc.value.diag.message_primary == f"Error in python: {name}"
    assert detail in exc.value.diag.message_detail
    assert "Traceback" not in (exc.value.diag.message_detail or "")  # traceback: server log only


def test_wrapper_rejected_on_table_and_user_mapping(db):
    with pytest.raises(psycopg.errors.FdwInvalidOptionName) as exc:
        db.table("opt_tw", "id int", wrapper="fdws.TestFDW")
    assert exc.value.diag.message_primary == "Cannot set the wrapper class on the table"
    assert exc.value.diag.message_hint == "Set it on the server"
    db.q("DROP SERVER IF EXISTS opt_um CASCADE")
    db.q("CREATE SERVER opt_um FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW')")
    with pytest.raises(psycopg.errors.FdwInvalidOptionName, match="Cannot set the wrapper class"):
        db.q("CREATE USER MAPPING FOR postgres SERVER opt_um OPTIONS (wrapper 'fdws.LoggingFDW')")
    # other user-mapping, FDW and column options are not checked
    db.q("CREATE USER MAPPING FOR postgres SERVER opt_um OPTIONS (anything 'goes')")
    db.table("opt_colopt", "id int OPTIONS (whatever 'x')", server="opt_um")


def test_option_merge_precedence(db):
    db.q("DROP SERVER IF EXISTS opt_merge CASCADE")
    db.q("CREATE SERVER opt_merge FOREIGN DATA WRAPPER multicorn "
         "OPTIONS (wrapper 'fdws.TestFDW', a 'server', b 'server', s 'server')")
    db.table("opt_m", "id int", server="opt_merge", a="table", b="table", c="table", log="1")
    db.clear()
    db.q("SELECT * FROM opt_m")
    assert hook_calls(db, "init")[-1] == ([("a", "server"), ("b", "server"), ("c", "table"), ("log", "1"),
                                           ("s", "server")],)
    db.q("CREATE USER MAPPING FOR PUBLIC SERVER opt_merge OPTIONS (a 'public')")
    db.clear()
    db.q("SELECT * FROM opt_m")
    assert dict(hook_calls(db, "init")[-1][0])["a"] == "public"
    db.q("CREATE USER MAPPING FOR postgres SERVER opt_merge OPTIONS (a 'user', b 'user')")
    db.clear()
    db.q("SELECT * FROM opt_m")
    opts = dict(hook_calls(db, "init")[-1][0])
    assert (opts["a"], opts["b"], opts["c"], opts["s"]) == ("user", "user", "table", "server")
    assert "wrapper" not in opts


def test_column_definitions(db):
    db.table("opt_cols", "a varchar(5) OPTIONS (k 'v'), gone int, n numeric(10,2), t text[], r real[], "
             "ts timestamp, i int", log_columns="1")
    db.q("ALTER FOREIGN TABLE opt_cols DROP COLUMN gone")
    db.clear()
    db.q("SELECT * FROM opt_cols")
    cols = eval(db.messages("columns ")[-1][len("columns "):])
    assert cols == [
        ("a", 1043, 9, "character varying(5)", "character varying", {"k": "v"}),
        ("n", 1700, 655366, "numeric(10,2)", "numeric", {}),
        ("t", 1009, -1, "text[]", "text[]", {}),
        ("r", 1021, -1, "real[]", "real[]", {}),
        ("ts", 1114, -1, "timestamp without time zone", "timestamp without time zone", {}),
        ("i", 23, -1, "integer", "integer", {}),
    ]


def test_instance_cache_and_invalidation(db):
    db.q("DROP SERVER IF EXISTS opt_cache CASCADE")
    db.q("CREATE SERVER opt_cache FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW')")
    db.table("opt_c", "id int, t text", server="opt_cache", log="1")

    def inits(sql="SELECT * FROM opt_c"):
        db.clear()
        db.q(sql)
        return len(hook_calls(db, "init"))

    assert inits() == 1
    assert inits() == 0  # reused across statements and transactions
    assert inits() == 0
    changes = [
        "ALTER FOREIGN TABLE opt_c OPTIONS (ADD x '1')",
        "ALTER FOREIGN TABLE opt_c OPTIONS (SET x '2')",
        "ALTER SERVER opt_cache OPTIONS (ADD y '1')",
        "CREATE USER MAPPING FOR postgres SERVER opt_cache OPTIONS (u '1')",
        "ALTER USER MAPPING FOR postgres SERVER opt_cache OPTIONS (SET u '2')",
        "ALTER FOREIGN TABLE opt_c ADD COLUMN z int",
        "ALTER FOREIGN TABLE opt_c RENAME COLUMN z TO zz",
        "ALTER FOREIGN TABLE opt_c ALTER COLUMN zz TYPE bigint",
        "ALTER FOREIGN TABLE opt_c ALTER COLUMN zz OPTIONS (ADD k 'v')",
        "ALTER FOREIGN TABLE opt_c DROP COLUMN zz",
    ]
    for change in changes:
        db.q(change)
        assert inits() == 1, change
        assert inits() == 0, change


def test_failed_constructor_is_not_cached(db):
    db.table("opt_failinit", "id int", fail_init_once="1", n="1")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: RuntimeError"):
        db.q("SELECT * FROM opt_failinit")
    assert db.q("SELECT * FROM opt_failinit") == [(0,)]
