"""How the local stack's backend finds fdw and routerd, per TINYDANCER_MULTICORN (issue 7, item 16): the bridge's
multicorn.python_path, or, for Multicorn2 (no such setting), PYTHONPATH in the postmaster's environment naming
the checkout before the site-packages (a plain PYTHONPATH processes no .pth file, so the editable install's
finder does not run). tests/sql/test_stack.py starts a stack in each mode."""

from __future__ import annotations

import subprocess
import sys
import sysconfig

import pytest

from devstack import stack


def test_bridge_mode_sets_the_bridges_setting_and_no_pythonpath() -> None:
    assert stack.server_python("bridge", "/venv/site") == ({"multicorn.python_path": "/venv/site"}, None)
    assert stack.server_python("bridge", "/venv/site", "/a:/b") == (
        {"multicorn.python_path": "/venv/site,/a,/b"}, None)
    assert "PYTHONPATH" not in stack._server_env(None)


def test_multicorn2_mode_puts_the_checkout_then_the_site_packages_on_pythonpath() -> None:
    settings, path = stack.server_python("multicorn2", "/venv/site", "/mc2")
    assert settings == {} and path == f"{stack.ROOT}:/venv/site:/mc2"
    assert stack._server_env(path)["PYTHONPATH"] == path
    # what that PYTHONPATH gives a fresh interpreter that processes no site-packages (-S: no .pth): fdw and
    # routerd from the checkout itself, their dependencies from the site-packages (and `multicorn` from where
    # Multicorn2 installs it; here the bridge's package stands in)
    standin = str(stack.ROOT / "fdw" / "bridge" / "python")
    _, real = stack.server_python("multicorn2", sysconfig.get_paths()["purelib"], standin)
    assert real is not None
    code = "import fdw.connection, routerd.engine.kernel as k; print(fdw.__file__, k.__file__)"
    out = subprocess.run([sys.executable, "-S", "-c", code], env={"PYTHONPATH": real, "OPENBLAS_NUM_THREADS": "1"},
                         capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(stack.ROOT / "fdw" / "__init__.py"),
                                  str(stack.ROOT / "routerd" / "engine" / "kernel.py")]


def test_an_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(stack.StackError, match="TINYDANCER_MULTICORN must be one of bridge, multicorn2, not 'x'"):
        stack.server_python("x", "/venv/site")
