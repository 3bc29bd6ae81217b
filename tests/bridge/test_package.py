"""The multicorn package outside PostgreSQL (spec 1): importable, the native
helpers missing gives an ImportWarning, logging is a no-op and ERROR/CRITICAL
still raise MulticornException."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest

BRIDGE_PYTHON = Path(__file__).resolve().parents[2] / "fdw" / "bridge" / "python"

# the source tree's package, as tests/conftest.py puts it on sys.path
SOURCE_ENV = {**os.environ, "PYTHONPATH": str(BRIDGE_PYTHON)}


@pytest.fixture(scope="module")
def mc():
    sys.modules.pop("multicorn.utils", None)
    with pytest.warns(ImportWarning, match="native helpers are unavailable"):
        utils = importlib.import_module("multicorn.utils")
    import multicorn

    return multicorn, utils


def test_public_names(mc):
    multicorn, utils = mc
    for name in ["ForeignDataWrapper", "TransactionAwareForeignDataWrapper", "Qual", "SortKey",
                 "ColumnDefinition", "TableDefinition", "ANY", "ALL", "UNBOUND", "__version__",
                 "get_class", "import_module", "quote_identifier", "quote_option", "dict_to_optionstring"]:
        assert hasattr(multicorn, name), name
    assert multicorn.__bridge__ is True
    assert multicorn.__version__ == "3.2"
    assert len({id(multicorn.ANY), id(multicorn.ALL), id(multicorn.UNBOUND)}) == 3
    assert (utils.DEBUG, utils.INFO, utils.WARNING, utils.ERROR, utils.CRITICAL) == (10, 20, 30, 40, 50)
    assert utils.REPORT_CODES == {10: 0, 20: 1, 30: 2, 40: 3, 50: 4}
    from multicorn import compat

    assert (compat.unicode_, compat.basestring_, compat.bytes_) == (str, str, bytes)


def test_import_of_package_alone_does_not_warn():
    # in a subprocess: reloading here would replace classes other tests hold
    subprocess.run([sys.executable, "-W", "error", "-c", "import multicorn, multicorn.compat"], check=True,
                   env=SOURCE_ENV)
    proc = subprocess.run([sys.executable, "-W", "error::ImportWarning", "-c", "import multicorn.utils"],
                          capture_output=True, text=True, env=SOURCE_ENV)
    assert proc.returncode != 0 and "ImportWarning" in proc.stderr


def test_logging_outside_postgres(mc):
    _, utils = mc
    assert utils.log_to_postgres("hi") is None
    assert utils.log_to_postgres(123, utils.WARNING, hint="h") is None
    assert utils.check_interrupts() is None
    with pytest.raises(utils.MulticornException) as exc:
        utils.log_to_postgres("bad", utils.ERROR, hint="the hint", detail="the detail")
    assert (exc.value.message, exc.value.code, exc.value.hint, exc.value.detail) == ("bad", 3, "the hint",
                                                                                     "the detail")
    assert exc.value._is_multicorn_exception
    with pytest.raises(utils.MulticornException) as exc:
        utils.log_to_postgres("fatal", utils.CRITICAL)
    assert exc.value.code == 4
    with pytest.raises(KeyError):
        utils.log_to_postgres("x", 12345)
    # a broad except swallows it (spec 1.10)
    try:
        utils.log_to_postgres("bad", utils.ERROR)
    except Exception:
        pass


def test_get_class_and_quoting(mc):
    multicorn, _ = mc
    assert multicorn.get_class("collections.OrderedDict") is OrderedDict
    assert multicorn.import_module("os.path") is importlib.import_module("os.path")
    assert multicorn.quote_identifier('a"b') == '"a""b"'
    assert multicorn.quote_option("it's") == "'it''s'"
    assert multicorn.dict_to_optionstring({"b": "2", "a": "x'y"}) == "\"a\" 'x''y', \"b\" '2'"


def test_qual(mc):
    multicorn, _ = mc
    q = multicorn.Qual("id", "=", 5)
    assert repr(q) == "id = 5"
    assert not q.is_list_operator and q.list_any_or_all is None
    assert q == multicorn.Qual("id", "=", 5) and hash(q) == hash(multicorn.Qual("id", "=", 5))
    lq = multicorn.Qual("id", ("=", True), [1, 2])
    assert lq.is_list_operator and lq.list_any_or_all is multicorn.ANY
    assert repr(lq) == "id = ANY([1, 2])"
    assert multicorn.Qual("id", ("<>", False), [1]).list_any_or_all is multicorn.ALL
    with pytest.raises(TypeError):
        hash(lq)  # Ref quirk: hashing fails for list values


def test_sortkey(mc):
    multicorn, _ = mc
    k = multicorn.SortKey(attname="a", attnum=1, is_reversed=True, nulls_first=True, collate=None)
    assert k._fields == ("attname", "attnum", "is_reversed", "nulls_first", "collate")


def test_base_class_defaults(mc):
    multicorn, _ = mc
    cols = OrderedDict(a=multicorn.ColumnDefinition("a"), b=multicorn.ColumnDefinition("b"))
    fdw = multicorn.ForeignDataWrapper({}, cols)
    assert fdw.get_rel_size([], {"a", "b"}) == (100000000, 200)
    assert fdw.can_sort([]) == [] and fdw.get_path_keys() == [] and fdw.explain([], set()) == []
    assert fdw.can_limit(1, 0) is False
    assert fdw.execute([], set()) is None
    assert fdw.modify_batch_size == 1
    assert multicorn.ForeignDataWrapper._startup_cost == 20
    for call in (lambda: fdw.rowid_column, lambda: fdw.insert({}), lambda: fdw.update(1, {}),
                 lambda: fdw.delete(1), lambda: fdw.bulk_insert([]),
                 lambda: multicorn.ForeignDataWrapper.import_schema("s", {}, {}, None, [])):
        with pytest.raises(NotImplementedError):
            call()
    for hook in ("pre_commit", "commit", "rollback", "end_scan", "end_modify"):
        assert getattr(fdw, hook)() is None
    assert fdw.begin(0) is None and fdw.sub_begin(2) is None


def test_transaction_aware(mc):
    multicorn, _ = mc
    fdw = multicorn.TransactionAwareForeignDataWrapper({}, OrderedDict())
    fdw.insert({"a": 1})
    fdw.delete(3)
    assert fdw.current_transaction_state == [("insert", {"a": 1}), ("delete", 3)]
    fdw.rollback()
    assert fdw.current_transaction_state == []


def test_table_definition_statement(mc):
    multicorn, _ = mc
    td = multicorn.TableDefinition(
        "my table", schema="ignored",
        columns=[multicorn.ColumnDefinition("id", type_name="integer"),
                 multicorn.ColumnDefinition("v", type_name="numeric(10,2)", options={"z": "1", "a": "it's"})],
        options={"k": "v"})
    assert td.to_statement("loc", "srv") == (
        'CREATE FOREIGN TABLE "loc"."my table" (\n'
        '  "id" integer,\n'
        '  "v" numeric(10,2) OPTIONS ("a" \'it\'\'s\', "z" \'1\')\n'
        ') SERVER "srv" OPTIONS ("k" \'v\')')


def test_not_installed_into_the_virtualenv():
    """The project's Python distribution has no top-level ``multicorn`` (issue 7 item 17): the
    virtualenv's interpreter cannot import it, so a real Multicorn2 there would not be shadowed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([sys.executable, "-c", "import multicorn"], capture_output=True, text=True,
                          env=env, cwd="/")
    assert proc.returncode != 0 and "No module named 'multicorn'" in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-c", "import fdw, routerd; print('ok')"], capture_output=True,
                          text=True, env=env, cwd="/")
    assert proc.stdout.strip() == "ok", proc.stderr
