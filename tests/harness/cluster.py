"""Throwaway PostgreSQL 15 clusters for tests (initdb, start, stop, remove) and the multicorn bridge
they load.

PostgreSQL refuses to run as root, so when the test run is root the server runs as the ``postgres``
user on a data directory, socket directory and port of its own. Nothing here touches the system
cluster. The command lines are the local stack's (devstack/stack.py), so tests and `make up` start
PostgreSQL the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from devstack.stack import (
    PG_BIN,
    SERVER_PATH,
    as_postgres,
    free_port,
    give_to_postgres,
    initdb_cmd,
    pg_ctl_start_cmd,
    pg_ctl_stop_cmd,
)

__all__ = ["PG_BIN", "SERVER_PATH", "PgCluster", "bridge_cluster", "ensure_bridge_installed", "free_port",
           "python_path_setting", "running"]

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "fdw" / "bridge"
# tests/bridge/fdws: the test wrappers the bridge tests' backends import (on multicorn.python_path)
TESTS_BRIDGE = ROOT / "tests" / "bridge"
PG_CONFIG = str(PG_BIN / "pg_config")
PYTHON_CONFIG = "/usr/bin/python3.11-config"


class PgCluster:
    """One PostgreSQL cluster on 127.0.0.1:<port> with a private socket dir.

    ``settings`` become ``-c name=value`` server options (for example a GUC
    that points the multicorn bridge at the project's virtualenv).
    """

    def __init__(self, settings: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None):
        self.settings = dict(settings or {})
        self.env = dict(env or {})
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="tinydancer-pg-"))
        self.datadir = self.base / "data"
        self.sockdir = self.base / "sock"
        self.logfile = self.base / "server.log"
        self.started = False

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **self.env}
        return subprocess.run(as_postgres(cmd), check=True, capture_output=True, text=True, env=env, cwd="/")

    def start(self) -> PgCluster:
        self.sockdir.mkdir()
        give_to_postgres(self.base, self.sockdir)
        self._run(initdb_cmd(self.datadir, sync=False))
        settings = {"fsync": "off", "log_min_messages": "warning", **self.settings}
        self._run(pg_ctl_start_cmd(self.datadir, self.logfile, self.port, self.sockdir, settings))
        self.started = True
        return self

    def postmaster_start_time(self) -> str:
        """The first line of postmaster.pid is the PID; a restart changes it and the file."""
        return (self.datadir / "postmaster.pid").read_text().splitlines()[0]

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.started:
            try:
                self._run(pg_ctl_stop_cmd(self.datadir, "fast"))
            except subprocess.CalledProcessError:
                self._run(pg_ctl_stop_cmd(self.datadir, "immediate"))
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(cluster: PgCluster) -> Iterator[PgCluster]:
    """``cluster`` started, then stopped; no backend may have crashed meanwhile (its log says so)."""
    cluster.start()
    try:
        yield cluster
    finally:
        log = cluster.log()
        cluster.stop()
        assert "terminated by signal" not in log and "PANIC" not in log, log[-5000:]


# -- the multicorn bridge ---------------------------------------------------------------------------

def _pg_config(flag: str) -> Path:
    return Path(subprocess.run([PG_CONFIG, flag], check=True, capture_output=True, text=True).stdout.strip())


def ensure_bridge_installed() -> None:
    """Build and install the bridge when the installed copy is missing or stale."""
    python = sorted(BRIDGE.glob("python/multicorn/*.py"))
    installed = [
        _pg_config("--pkglibdir") / "multicorn.so",
        _pg_config("--sharedir") / "extension" / "multicorn.control",
        _pg_config("--sharedir") / "extension" / "multicorn--3.2.sql",
        # the Python half, where only the bridge looks (fdw/bridge/Makefile install-python)
        *(_pg_config("--sharedir") / "multicorn_bridge" / "python" / "multicorn" / p.name for p in python),
    ]
    sources = [*BRIDGE.glob("src/*.[ch]"), *BRIDGE.glob("sql/*.sql"), BRIDGE / "Makefile",
               BRIDGE / "multicorn.control", *python]
    newest = max(p.stat().st_mtime for p in sources)
    if all(p.exists() and p.stat().st_mtime >= newest for p in installed):
        return
    if os.geteuid() != 0:
        pytest.fail("the multicorn bridge is not installed (or stale) and installing needs root: "
                    "run `make -C fdw/bridge install` as root")
    env = {**os.environ, "PATH": f"{PG_BIN}:{os.environ.get('PATH', '')}"}
    for target in ([], ["install"]):
        subprocess.run(["make", "-C", str(BRIDGE), f"PG_CONFIG={PG_CONFIG}",
                        f"PYTHON_CONFIG={PYTHON_CONFIG}", *target],
                       check=True, capture_output=True, text=True, env=env)
    # make install copies files without bumping mtimes of unchanged ones
    for p in installed:
        p.touch()


def python_path_setting() -> str:
    """multicorn.python_path for test clusters: this virtualenv's site-packages and tests/bridge."""
    site = sysconfig.get_paths()["purelib"]
    return ",".join([site, str(TESTS_BRIDGE)])


def bridge_cluster(env: Mapping[str, str] | None = None) -> PgCluster:
    """A (not yet started) cluster whose backends load the bridge and import from this virtualenv,
    with the bridge installed first. ``env`` adds to the server's environment."""
    ensure_bridge_installed()
    return PgCluster(settings={"multicorn.python_path": python_path_setting()},
                     env={"PATH": SERVER_PATH, "OPENBLAS_NUM_THREADS": "1", **(env or {})})
