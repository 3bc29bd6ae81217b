"""`make up` / `make down` / `make demo` (devstack/stack.py) on free ports and a temporary state directory:
the env file, SQL through the FDW with its DSN, `up` again changing nothing, a dead routerd restarted,
the demo (which runs every SQL snippet of the README), and `down` twice. Everything is stopped and
removed afterwards, whatever happened."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack import stack
from tests.harness.cluster import ROOT, ensure_bridge_installed

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _cli(st: stack.Stack, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    # the settings by environment, as `make up` users give them
    env = {k: v for k, v in os.environ.items() if k not in ("TINYDANCER_MULTICORN", "TINYDANCER_SERVER_PYTHONPATH")}
    env = {**env, "TINYDANCER_STATE_DIR": str(st.state), "TINYDANCER_PG_PORT": str(st.pg_port),
           "TINYDANCER_ROUTERD_PORT": str(st.routerd_port), "TINYDANCER_METRICS_PORT": str(st.metrics_port),
           "TINYDANCER_HTTP_PORT": str(st.http_port), **settings}
    # from the checkout's root, as the Makefile runs it
    return subprocess.run([sys.executable, "-m", "devstack", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def _ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def _postmaster_pid(st: stack.Stack) -> str:
    return (st.datadir / "postmaster.pid").read_text().splitlines()[0]


def _free_range(n: int) -> int:
    """The first of n consecutive free ports (replicas use consecutive ports)."""
    while True:
        base = stack.free_port()
        if base + n <= 65535 and all(_port_free(p) for p in range(base, base + n)):
            return base


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def st() -> Iterator[stack.Stack]:
    ensure_bridge_installed()
    # not under pytest's 0700 tmp dirs: the server runs as postgres when we are root
    s = stack.Stack(Path(tempfile.mkdtemp(prefix="tinydancer-stack-")), stack.free_port(), _free_range(3),
                    metrics_port=_free_range(3), http_port=_free_range(3))
    try:
        yield s
    finally:
        _cli(s, "down")
        for found in stack.routerd_processes(s):
            os.kill(found.pid, signal.SIGKILL)
        if stack.pg_running_port(s) is not None:
            subprocess.run(stack.as_postgres(stack.pg_ctl_stop_cmd(s.datadir, "immediate")), cwd="/", check=False)
        shutil.rmtree(s.state, ignore_errors=True)


def test_up_demo_up_again_down(st: stack.Stack) -> None:
    out = _ok(_cli(st, "up"))
    assert "postgres  started" in out and "routerd   started" in out and "sql       installed" in out, out

    # the env file: a libpq URL and routerd's host:port, usable from a shell
    env = stack.read_env(st.env_file)
    dsn = f"postgresql://postgres@127.0.0.1:{st.pg_port}/tinydancer"
    assert env["TINYDANCER_PG_DSN"] == dsn
    assert env["TINYDANCER_ROUTERD"] == f"127.0.0.1:{st.routerd_port}"
    assert env["PGPORT"] == str(st.pg_port)
    shell = subprocess.run(["bash", "-c", f'. {st.env_file} && echo "$TINYDANCER_PG_DSN $TINYDANCER_ROUTERD"'],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.split() == [dsn, f"127.0.0.1:{st.routerd_port}"]

    # SQL through the FDW, with that DSN
    with psycopg.connect(env["TINYDANCER_PG_DSN"], autocommit=True) as conn:
        conn.execute("INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens, "
                     "quality_score) VALUES ('probe', 'llm', ARRAY['chat'], 0.001, 0.7)")
        row = conn.execute("SELECT agent_name, routed FROM tinydancer.route('hello there')").fetchone()
        assert row == ("probe", True)
        assert conn.execute("SELECT agents FROM tinydancer.stats").fetchone() == (1,)

    # the demo: example agents and queries (every SQL snippet of the README), on the running stack
    demo = _ok(_cli(st, "demo"))
    assert "already running" in demo
    for n, (title, _, _) in enumerate(stack.DEMO, 1):
        assert f"== {n}. {title}" in demo, demo
    assert "claude-3-5-sonnet" in demo and "ERROR" not in demo

    # up again: nothing restarted, nothing reinstalled
    routerd_pid, pg_pid = stack.routerd_running(st), _postmaster_pid(st)
    again = _ok(_cli(st, "up"))
    assert again.count("already running") == 2 and "already installed" in again, again
    assert stack.routerd_running(st) == routerd_pid and _postmaster_pid(st) == pg_pid
    assert _ok(_cli(st, "status")).count("running 127.0.0.1:") == 2

    # a routerd that died is restarted; PostgreSQL is left alone
    assert routerd_pid is not None
    os.kill(routerd_pid[0], signal.SIGKILL)
    revived = _ok(_cli(st, "up"))
    assert "routerd   started" in revived and "postgres  already running" in revived, revived
    new_routerd = stack.routerd_running(st)
    assert new_routerd is not None and new_routerd[0] != routerd_pid[0] and _postmaster_pid(st) == pg_pid
    with psycopg.connect(dsn, autocommit=True) as conn:  # the registry survived (SQLite store)
        assert conn.execute("SELECT count(*) FROM tinydancer.agents WHERE name = 'probe'").fetchone() == (1,)

    # down stops both and keeps the data; down again is fine
    down = _ok(_cli(st, "down"))
    assert "routerd   stopped" in down and "postgres  stopped" in down, down
    assert stack.routerd_running(st) is None and stack.pg_running_port(st) is None
    assert not st.routerd_pid.exists() and (st.datadir / "PG_VERSION").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    assert "not running" in _ok(_cli(st, "down"))
    assert _cli(st, "status").returncode == 3


def _environ(pid: str) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv)


def test_up_for_multicorn2_imports_through_the_postmasters_pythonpath(st: stack.Stack) -> None:
    """TINYDANCER_MULTICORN=multicorn2 (issue 7, item 16), on our bridge: no multicorn.python_path, and a plain
    PYTHONPATH in the postmaster's environment (no .pth processed) finds fdw and routerd and serves the foreign
    tables. The bridge's `multicorn` Python package stands in for Multicorn2's, which its build installs
    system-wide (here only the editable install's .pth finder provides it: TINYDANCER_SERVER_PYTHONPATH adds it)."""
    standin = ROOT / "fdw" / "bridge" / "python"
    out = _ok(_cli(st, "up", TINYDANCER_MULTICORN="multicorn2", TINYDANCER_SERVER_PYTHONPATH=str(standin)))
    assert "postgres  started" in out and "(multicorn2)" in out and "sql       installed" in out, out
    env = _environ(_postmaster_pid(st))
    site = env["PYTHONPATH"].split(":")
    assert site[0] == str(ROOT) and site[1].endswith("site-packages") and site[2] == str(standin), site
    with psycopg.connect(stack.pg_url(st.pg_port), autocommit=True) as conn:
        conn.execute("INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens, "
                     "quality_score) VALUES ('probe', 'llm', ARRAY['chat'], 0.001, 0.7)")
        assert conn.execute("SELECT agent_name, routed FROM tinydancer.route('hello there')").fetchone() == (
            "probe", True)
        assert conn.execute("SELECT agents FROM tinydancer.stats").fetchone() == (1,)
        # the bridge is loaded now (its setting is defined): nothing came through it
        assert conn.execute("SHOW multicorn.python_path").fetchone() == ("",)
    # up again in the other mode: the running cluster says it keeps its own until `down`
    again = _ok(_cli(st, "up"))
    assert "started for multicorn2: bridge takes effect after `make down`" in again, again
    assert "routerd   already running" in again
    bad = _cli(st, "up", TINYDANCER_MULTICORN="pgsql")
    assert bad.returncode == 2 and "'pgsql' is not one of bridge, multicorn2" in bad.stderr, bad.stderr


def test_up_with_two_replicas_on_the_postgresql_store(st: stack.Stack) -> None:
    t0 = time.monotonic()
    out = _ok(_cli(st, "up", TINYDANCER_REPLICAS="2"))
    took = time.monotonic() - t0
    print(f"up with 2 replicas: {took:.1f} s")
    assert "routerd-1 started" in out and "routerd-2 started" in out and "shared by 2 replicas" in out, out
    targets = [f"127.0.0.1:{st.routerd_port + i}" for i in range(2)]
    assert stack.read_env(st.env_file)["TINYDANCER_ROUTERD"] == ",".join(targets)
    procs = stack.routerd_processes(st)
    assert [p.name for p in procs] == ["routerd-1", "routerd-2"]
    assert all(p.flags["--store"] == stack.pg_url(st.pg_port, stack.STORE_DATABASE) for p in procs)
    with psycopg.connect(stack.pg_url(st.pg_port), autocommit=True) as conn:
        current = conn.execute("SELECT option_value FROM pg_foreign_server s, pg_options_to_table(s.srvoptions) "
                               "WHERE s.srvname = 'routerd' AND option_name = 'target'").fetchone()
        assert current == (",".join(targets),)
        conn.execute("INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens, "
                     "quality_score) VALUES ('probe', 'llm', ARRAY['chat'], 0.001, 0.7)")
        deadline = time.monotonic() + 5
        while True:  # the other replica follows the store (NOTIFY; a re-read every 2 s)
            rows = [conn.execute("SELECT agent_name FROM tinydancer.route('hello there')").fetchone()
                    for _ in range(4)]
            if rows == [("probe",)] * 4 or time.monotonic() > deadline:
                break
        assert rows == [("probe",)] * 4
    for i in range(2):
        body = urllib.request.urlopen(f"http://127.0.0.1:{st.metrics_port + i}/metrics", timeout=5).read().decode()
        assert "tinydancer_" in body
    again = _ok(_cli(st, "up", TINYDANCER_REPLICAS="2"))
    assert again.count("already running") == 3, again
    # back to one: the extras stop, the SQLite store comes back, and the output says the data stays behind
    one = _ok(_cli(st, "up"))
    assert "routerd-1 stopped" in one and "routerd-2 stopped" in one and "SWITCHED" in one and "NOT migrated" in one
    assert [p.name for p in stack.routerd_processes(st)] == ["routerd"]
    down = _ok(_cli(st, "down"))
    assert "routerd   stopped" in down and stack.routerd_processes(st) == []
