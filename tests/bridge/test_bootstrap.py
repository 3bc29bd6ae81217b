"""Interpreter bootstrap (spec 3.9 and the multicorn.python_path GUC)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from tests.harness.cluster import PG_CONFIG, TESTS_BRIDGE, python_path_setting

SHARE = Path(subprocess.run([PG_CONFIG, "--sharedir"], check=True, capture_output=True, text=True).stdout.strip())
BRIDGE_MULTICORN = SHARE / "multicorn_bridge" / "python" / "multicorn" / "__init__.py"
MODULE_ROWS = ("[{'f': __import__('multicorn').__file__, 'bridge': __import__('multicorn').__bridge__, "
               "'argv': __import__('sys').argv}]")


def test_python_path_guc(db):
    assert db.one("SHOW multicorn.python_path") == python_path_setting()


def test_packages_come_from_the_configured_path(db):
    # fdws (tests/bridge) came from multicorn.python_path; multicorn from the bridge's own directory
    # under PostgreSQL's share directory (issue 7 item 17), not from any Python environment
    db.table("bs_file", "f text, bridge text, argv text", rows=MODULE_ROWS)
    f, bridge, argv = db.q("SELECT * FROM bs_file")[0]
    assert f == str(BRIDGE_MULTICORN)
    assert bridge == "true" or bridge == "True"
    assert argv == "['']"


def test_another_multicorn_on_the_path_is_not_imported(cluster, db):
    """A real Multicorn2's ``multicorn`` on multicorn.python_path (or PYTHONPATH) does not shadow
    the bridge's: the bridge puts its own directory first."""
    db.table("bs_shadow", "f text, bridge text, argv text", rows=MODULE_ROWS)
    path = f"{python_path_setting()},{TESTS_BRIDGE / 'shadow'}"
    with psycopg.connect(cluster.dsn, autocommit=True, options=f"-c multicorn.python_path={path}") as conn:
        assert conn.execute("SHOW multicorn.python_path").fetchone() == (path,)
        f, bridge, _ = conn.execute("SELECT * FROM bs_shadow").fetchone()
    assert (f, bridge) == (str(BRIDGE_MULTICORN), "True")


def test_python_does_not_change_the_database_ctype(db):
    before = db.one("SELECT upper('é')")
    db.table("bs_ctype", "x text", rows="[{'x': 'y'}]")
    db.q("SELECT * FROM bs_ctype")
    assert db.one("SELECT upper('é')") == before == "É"
