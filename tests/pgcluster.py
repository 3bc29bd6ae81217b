"""A throwaway PostgreSQL 15 cluster for tests: initdb, start, stop, remove.

PostgreSQL refuses to run as root, so when the test run is root the server
runs as the ``postgres`` user on a data directory, socket directory and port
of its own. Nothing here touches the system cluster.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

PG_BIN = Path(os.environ.get("TINYDANCER_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        # absolute path: callers may hand the server a minimal PATH through ``env``
        return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--", *cmd]
    return cmd


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
        return subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True, env=env, cwd="/")

    def start(self) -> PgCluster:
        self.sockdir.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chmod(self.base, 0o755)
            for p in (self.base, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        opts = [f"-p {self.port}", f"-k {self.sockdir}", "-c listen_addresses=127.0.0.1",
                "-c fsync=off", "-c log_min_messages=warning"]
        opts += [f"-c {k}={v}" for k, v in self.settings.items()]
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                   "-o", " ".join(opts), "-w", "-t", "60", "start"])
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
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])
            except subprocess.CalledProcessError:
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"])
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
