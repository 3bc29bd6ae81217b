"""Conversions (spec 3.5 Python -> PostgreSQL and 3.6 PostgreSQL -> Python)."""

from __future__ import annotations

import datetime

import psycopg
import pytest

from tests.harness.sql import hook_calls


def scan_one(db, coltype, value_expr, select="v::text"):
    db.table("cv", f"v {coltype}", rows=f"[{{'v': {value_expr}}}]")
    return db.one(f"SELECT {select} FROM cv")


@pytest.mark.parametrize(
    ("coltype", "value", "expected"),
    [
        ("int", "42", "42"),
        ("bigint", "2**40", "1099511627776"),
        ("text", "'héllo'", "héllo"),
        ("varchar(3)", "'abcdef'", "abcdef"),  # length not enforced (bytes stored directly)
        ("bytea", "b'\\x00\\xffA'", "\\x00ff41"),
        ("bytea", "'AB'", "\\x4142"),
        ("numeric(10,2)", "Decimal('1.005')", "1.01"),  # typmod applied by the input function
        ("numeric", "float('nan')", "NaN"),
        ("float8", "1.5", "1.5"),
        ("bool", "True", "true"),
        ("bool", "False", "false"),
        ("date", "datetime.date(2020, 1, 2)", "2020-01-02"),
        ("timestamp", "datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)", "2020-01-02 03:04:05.678"),
        ("timestamptz",
         "datetime.datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))",
         "2020-01-02 01:04:05.678+00"),
        ("timestamptz", "datetime.datetime(2020, 1, 2, 3, 4, 5)", "2020-01-02 03:04:05+00"),  # session TZ
        ("time", "datetime.time(1, 2, 3)", "01:02:03"),
        ("uuid", "uuid.UUID(int=1)", "00000000-0000-0000-0000-000000000001"),
        ("float4[]", "[1.5, 2]", "{1.5,2}"),
        ("text[]", "['a', 'b c', 'q\"uote', 'back\\\\slash', '']", '{a,"b c","q\\"uote","back\\\\slash",""}'),
        ("int[]", "(1, 2)", "{1,2}"),
        ("int[][]", "[[1, 2], [3, 4]]", "{{1,2},{3,4}}"),
        ("int[]", "[None]", "{}"),  # quirk
        ("text", "['x', 1]", "['x', 1]"),  # list into a non-array column: repr
        ("text", "{'k': 'v', 'n': None}", '"k"=>"v", "n"=>NULL'),  # mapping renders as hstore text
        ("json", "json.dumps({'a': 1})", '{"a": 1}'),
        ("text", "range(2)", "range(0, 2)"),  # anything else: str()
    ],
)
def test_python_to_datum(db, coltype, value, expected):
    db.q("SET TimeZone = 'UTC'")
    assert scan_one(db, coltype, value) == expected


def test_bpchar_padded_by_input_function(db):
    assert scan_one(db, "char(3)", "'ab'", select="octet_length(v)") == 3


@pytest.mark.parametrize(
    ("coltype", "value", "error", "match"),
    [
        ("int", "True", psycopg.errors.InvalidTextRepresentation, 'invalid input syntax for type integer: "True"'),
        ("int", "2.0", psycopg.errors.InvalidTextRepresentation, "integer"),
        ("int[]", "[1, None]", psycopg.errors.InvalidTextRepresentation, "malformed array literal"),
        ("int[]", "'1,2'", psycopg.errors.InvalidTextRepresentation, "malformed array literal"),
        ("json", "{'a': 1}", psycopg.errors.InvalidTextRepresentation, "json"),
        ("numeric(3,1)", "1000", psycopg.errors.NumericValueOutOfRange, "overflow"),
    ],
)
def test_python_to_datum_errors(db, coltype, value, error, match):
    with pytest.raises(error, match=match):
        scan_one(db, coltype, value)
    assert db.one("SELECT 1") == 1


def test_sql_ascii_style_encoding_error_is_reported(db):
    # a str that cannot be encoded is a Python error, not a crash
    db.table("cv_enc", "v text", rows="[{'v': '\\ud800'}]")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: UnicodeEncodeError"):
        db.q("SELECT * FROM cv_enc")


DATUM_CASES = [
    ("int", "7", 7),
    ("text", "'tx'", "tx"),
    ("varchar(5)", "'vc'", "vc"),
    ("char(5)", "'ab'", "ab"),  # trailing blanks stripped
    ("bytea", "'\\x0102'::bytea", b"\x01\x02"),
    ("numeric(10,2)", "1.25", 1.25),  # float
    ("date", "'2020-01-02'", datetime.date(2020, 1, 2)),
    ("timestamp", "'2020-01-02 03:04:05.678'", datetime.datetime(2020, 1, 2, 3, 4, 5)),  # fraction dropped
    ("smallint", "3", "3"),
    ("bigint", "10", "10"),
    ("real", "1.5", "1.5"),
    ("float8", "2.5", "2.5"),
    ("bool", "true", "t"),
    ("timestamptz", "'2020-01-02 03:04:05.678+02'", "2020-01-02 01:04:05.678+00"),
    ("time", "'01:02:03'", "01:02:03"),
    ("interval", "'1 day'", "1 day"),
    ("json", "'{\"a\": 1}'", '{"a": 1}'),
    ("jsonb", "'{\"a\":1}'", '{"a": 1}'),
    ("uuid", "'00000000-0000-0000-0000-000000000001'", "00000000-0000-0000-0000-000000000001"),
    ("money", "1.5", "$1.50"),
    ("int[]", "'{{1,NULL},{3,4}}'", [1, None, 3, 4]),  # flattened, NULL -> None
    ("text[]", "ARRAY['a','b']", ["a", "b"]),
    ("numeric[]", "'{1.5}'", [1.5]),
    ("date[]", "'{2020-01-02}'", [datetime.date(2020, 1, 2)]),
    ("bigint[]", "'{5}'", ["5"]),
]


@pytest.mark.parametrize(("coltype", "literal", "expected"), DATUM_CASES)
def test_datum_to_python(db, coltype, literal, expected):
    db.q("SET TimeZone = 'UTC'")
    db.q("SET lc_monetary = 'C'")
    db.table("cv_in", f"id int, v {coltype}", log="1", rows="[]")
    db.clear()
    db.q(f"INSERT INTO cv_in VALUES (1, {literal})")
    values = hook_calls(db, "insert")[-1][0]
    assert values == {"id": 1, "v": expected}
    assert type(values["v"]) is type(expected)


def test_numeric_nan_to_python(db):
    db.table("cv_nan", "id int, v numeric", log="1", rows="[]")
    db.clear()
    db.q("INSERT INTO cv_nan VALUES (1, 'NaN')")
    msg = db.messages("insert")[-1]
    assert msg == "insert ({'id': 1, 'v': nan},)"


def test_sql_ascii_database_encodes_as_ascii(cluster, db):
    db.q("DROP DATABASE IF EXISTS asciidb")
    db.q("CREATE DATABASE asciidb ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    with psycopg.connect(cluster.url("asciidb"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION multicorn")
        conn.execute("CREATE SERVER s FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.TestFDW')")
        conn.execute("CREATE FOREIGN TABLE ok (v text) SERVER s OPTIONS (rows '[{\"v\": \"plain\"}]')")
        assert conn.execute("SELECT v FROM ok").fetchall() in ([("plain",)], [(b"plain",)])
        conn.execute("CREATE FOREIGN TABLE bad (v text) SERVER s OPTIONS (rows '[{\"v\": \"h\\u00e9\"}]')")
        with pytest.raises(psycopg.errors.InternalError, match="Error in python: UnicodeEncodeError"):
            conn.execute("SELECT v FROM bad").fetchall()


@pytest.mark.parametrize(
    ("coltype", "literal", "expected"),
    [("date", "'infinity'", "infinity"), ("date", "'0044-03-15 BC'", "0044-03-15 BC"),
     ("timestamp", "'-infinity'", "-infinity")],
)
def test_out_of_python_range_dates_are_text(db, coltype, literal, expected):
    db.table("cv_inf", f"id int, v {coltype}", log="1", rows="[]")
    db.clear()
    db.q(f"INSERT INTO cv_inf VALUES (1, {literal})")
    assert hook_calls(db, "insert")[-1][0] == {"id": 1, "v": expected}
