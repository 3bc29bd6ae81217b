"""WHERE clauses -> Qual objects (spec 3.1): forms, types of the right
operand, ignored forms, and the Qual repr seen by execute."""

from __future__ import annotations

import datetime

import pytest

from tests.harness.sql import hook_calls

COLS = ("id int, vc varchar(10), i8 bigint, f8 float8, t text, b bool, n numeric, ts timestamp, "
        "tstz timestamptz, arr text[]")


@pytest.fixture
def qt(db):
    db.table("qt", COLS, log="1", rows="[]")
    return db


def quals_of(db, where):
    db.clear()
    db.q(f"SELECT * FROM qt WHERE {where}")
    return hook_calls(db, "execute")[-1][0]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("id = 5", [("id", "=", 5)]),
        ("5 < id", [("id", ">", 5)]),  # commutator swap
        ("id <> 5", [("id", "<>", 5)]),
        ("id BETWEEN 1 AND 3", [("id", ">=", 1), ("id", "<=", 3)]),
        ("id IN (1, 2)", [("id", ("=", True), [1, 2])]),
        ("id NOT IN (1, 2)", [("id", ("<>", False), [1, 2])]),
        ("id = ANY(ARRAY[3, 4])", [("id", ("=", True), [3, 4])]),
        ("id > ALL(ARRAY[3])", [("id", (">", False), [3])]),
        ("t IS NULL", [("t", "=", None)]),
        ("t IS NOT NULL", [("t", "<>", None)]),
        ("b", [("b", "=", "t")]),
        ("NOT b", [("b", "<>", "t")]),
        ("b = true", [("b", "=", "t")]),
        ("b = false", [("b", "<>", "t")]),
        ("b IS TRUE", [("b", "IS", "t")]),
        ("b IS NOT TRUE", [("b", "IS NOT", "t")]),
        ("b IS FALSE", [("b", "IS", "f")]),
        ("b IS NOT FALSE", [("b", "IS NOT", "f")]),
        ("b IS UNKNOWN", [("b", "IS", None)]),
        ("b IS NOT UNKNOWN", [("b", "IS NOT", None)]),
        ("t LIKE 'a%'", [("t", "~~", "a%")]),
        ("t ILIKE 'a%'", [("t", "~~*", "a%")]),
        ("t NOT LIKE 'a%'", [("t", "!~~", "a%")]),
        ("t ~ 'x'", [("t", "~", "x")]),
        ("arr @> ARRAY['a']", [("arr", "@>", ["a"])]),
        ("arr && ARRAY['a', NULL]", [("arr", "&&", ["a", None])]),
        ("vc = 'x'", [("vc", "=", "x")]),  # binary-compatible cast stripped
        ("t = 'x' AND id = 2", [("t", "=", "x"), ("id", "=", 2)]),
        # type follows the right operand (spec 3.1)
        ("i8 = 5", [("i8", "=", 5)]),
        ("i8 = 5000000000", [("i8", "=", "5000000000")]),
        ("id = 5::bigint", [("id", "=", "5")]),
        ("f8 = 1.5", [("f8", "=", "1.5")]),
        ("n = 1.5", [("n", "=", 1.5)]),
        ("ts = '2020-01-02 03:04:05.678'", [("ts", "=", datetime.datetime(2020, 1, 2, 3, 4, 5))]),
        # ignored forms
        ("id = 1 OR id = 2", []),
        ("lower(t) = 'a'", []),
        ("id + 1 = 2", []),
        ("id = i8", []),
        ("id = random()", []),
        ("'abc' ~~ t", []),  # no commutator
        ("t IS DISTINCT FROM 'a'", []),
        ("starts_with(t, 'a')", []),
    ],
)
def test_qual_forms(qt, where, expected):
    assert quals_of(qt, where) == expected


def test_qual_repr(qt):
    qt.table("qt_repr", "id int, t text", qual_repr="1", rows="[]")
    qt.clear()
    qt.q("SELECT * FROM qt_repr WHERE id IN (1, 2) AND t = 'x'")
    assert qt.messages("qual_repr") == ["qual_repr [id = ANY([1, 2]), t = 'x']"]


def test_stable_value_evaluated_at_execution(qt):
    got = quals_of(qt, "ts < now()")
    # now() is timestamptz: converted with its real type (spec 3.1 exprType rule) -> str
    assert len(got) == 1 and got[0][:2] == ("ts", "<")
    assert isinstance(got[0][2], str) and got[0][2].startswith(str(datetime.date.today().year))
    # not known at plan time: get_rel_size does not see it
    assert hook_calls(qt, "get_rel_size")[-1][0] == []
    got = quals_of(qt, "ts < localtimestamp")
    assert isinstance(got[0][2], datetime.datetime)
    # evaluated per execution, not frozen in the plan
    qt.q("SET plan_cache_mode = force_generic_plan")
    qt.q("PREPARE qnow2 AS SELECT * FROM qt WHERE tstz < statement_timestamp()")
    values = []
    for _ in range(2):
        qt.clear()
        qt.q("EXECUTE qnow2")
        values.append(hook_calls(qt, "execute")[-1][0][0][2])
    assert values[0] != values[1]


def test_generic_plan_params(qt):
    qt.q("SET plan_cache_mode = force_generic_plan")
    qt.q("PREPARE qp(int, text) AS SELECT * FROM qt WHERE id = $1 AND t = $2")
    for _ in range(2):
        qt.clear()
        qt.q("EXECUTE qp(42, 'hello')")
        assert hook_calls(qt, "execute")[-1][0] == [("id", "=", 42), ("t", "=", "hello")]
    qt.q("PREPARE qp2(int) AS SELECT * FROM qt WHERE id IN (1, $1)")
    qt.clear()
    qt.q("EXECUTE qp2(7)")
    # the real type of the expression is used (Ref bug not copied)
    assert hook_calls(qt, "execute")[-1][0] == [("id", ("=", True), [1, 7])]
    qt.q("PREPARE qp3(bigint) AS SELECT * FROM qt WHERE id = $1")
    qt.clear()
    qt.q("EXECUTE qp3(9)")
    assert hook_calls(qt, "execute")[-1][0] == [("id", "=", "9")]
    qt.q("PREPARE qp4(int) AS SELECT * FROM qt WHERE id = $1")
    qt.clear()
    qt.q("EXECUTE qp4(NULL)")
    assert hook_calls(qt, "execute")[-1][0] == [("id", "=", None)]
