"""Interpreter bootstrap (spec 3.9 and the multicorn.python_path GUC)."""

from __future__ import annotations

from tests.harness.cluster import python_path_setting


def test_python_path_guc(db):
    assert db.one("SHOW multicorn.python_path") == python_path_setting()


def test_packages_come_from_the_configured_path(db):
    # the editable install's .pth finder was processed (site.addsitedir)
    db.table("bs_file", "f text, bridge text, argv text",
             rows="[{'f': __import__('multicorn').__file__, 'bridge': __import__('multicorn').__bridge__, "
                  "'argv': __import__('sys').argv}]")
    f, bridge, argv = db.q("SELECT * FROM bs_file")[0]
    assert f.endswith("fdw/bridge/python/multicorn/__init__.py")
    assert bridge == "true" or bridge == "True"
    assert argv == "['']"


def test_python_does_not_change_the_database_ctype(db):
    before = db.one("SELECT upper('é')")
    db.table("bs_ctype", "x text", rows="[{'x': 'y'}]")
    db.q("SELECT * FROM bs_ctype")
    assert db.one("SELECT upper('é')") == before == "É"
