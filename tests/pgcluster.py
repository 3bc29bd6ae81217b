"""A throwaway PostgreSQL 15 cluster for tests: initdb, start, stop, remove.

PostgreSQL refuses to run as root, so when the test run is root the server
runs as the ``postgres`` user on a data directory, socket directory and port
of its own. Nothing here touches the system cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

# The command lines are shared with the local stack (`make up`), so both start PostgreSQL the same way.
from devstack.stack import (
    PG_BIN,
    as_postgres,
    free_port,
    give_to_postgres,
    initdb_cmd,
    pg_ctl_start_cmd,
    pg_ctl_stop_cmd,
)

__all__ = ["PG_BIN", "PgCluster", "free_port"]


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
