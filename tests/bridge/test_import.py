"""IMPORT FOREIGN SCHEMA (spec 1.8)."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def imp(db):
    db.q("DROP SERVER IF EXISTS imp_srv CASCADE")
    db.q("CREATE SERVER imp_srv FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW', s '1', u 'srv')")
    db.q("CREATE USER MAPPING FOR postgres SERVER imp_srv OPTIONS (u 'mapping')")
    db.q("DROP SCHEMA IF EXISTS imported CASCADE")
    db.q("CREATE SCHEMA imported")
    return db


def tables(db):
    return [r[0] for r in db.q("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname = 'imported' ORDER BY 1")]


def test_import_all(imp):
    imp.q("IMPORT FOREIGN SCHEMA remote FROM SERVER imp_srv INTO imported OPTIONS (o 'x')")
    assert imp.messages("import_schema") == [
        "import_schema ('remote', [('s', '1'), ('u', 'mapping')], [('o', 'x')], None, [])"]
    assert tables(imp) == ["alpha", "beta", "gamma"]
    cols = imp.q("SELECT attname, format_type(atttypid, atttypmod), attfdwoptions FROM pg_attribute "
                 "WHERE attrelid = 'imported.alpha'::regclass AND attnum > 0 ORDER BY attnum")
    assert cols == [("id", "integer", None), ("Label", "character varying(5)", ["src=it's"])]
    assert imp.one("SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'imported.beta'::regclass") == [
        "remote=remote.beta"]


def test_import_limit_to_and_except(imp):
    imp.q("IMPORT FOREIGN SCHEMA remote LIMIT TO (alpha, nothere) FROM SERVER imp_srv INTO imported")
    assert imp.messages("import_schema")[-1].endswith("'limit', ['alpha', 'nothere'])")
    assert tables(imp) == ["alpha"]
    imp.q("IMPORT FOREIGN SCHEMA remote EXCEPT (alpha, beta) FROM SERVER imp_srv INTO imported")
    assert imp.messages("import_schema")[-1].endswith("'except', ['alpha', 'beta'])")
    assert tables(imp) == ["alpha", "gamma"]


def test_import_error(imp):
    with pytest.raises(psycopg.errors.InternalError) as exc:
        imp.q("IMPORT FOREIGN SCHEMA remote FROM SERVER imp_srv INTO imported OPTIONS (fail 'import_schema')")
    assert exc.value.diag.message_primary == "Error in python: ValueError"
    assert exc.value.diag.message_detail == "boom import_schema"
    assert tables(imp) == []
    assert imp.one("SELECT 1") == 1
