"""A local Tiny Dancer stack: a PostgreSQL 15 cluster with the multicorn bridge, and routerd on its
embedded SQLite store, both under one state directory. The Makefile's ``up``, ``down``, ``status``
and ``demo`` targets call it, from the checkout's root::

    python -m devstack up | down | status | demo
    python -m devstack install --dsn URL --target HOST:PORT   # only the SQL install (compose uses it)
    python -m devstack health HOST:PORT                        # routerd's gRPC health (compose uses it)

Settings: ``--state-dir`` or ``TINYDANCER_STATE_DIR`` (default ``.tinydancer/`` in the checkout),
``--pg-port`` or ``TINYDANCER_PG_PORT`` (54329), ``--routerd-port`` or ``TINYDANCER_ROUTERD_PORT``
(50551), ``--multicorn`` or ``TINYDANCER_MULTICORN`` (``bridge``, the default, or ``multicorn2``: how the
backend finds the Python packages, see :func:`server_python`) and ``TINYDANCER_SERVER_PYTHONPATH``.
In the state directory: ``pg/`` (data, socket directory, server.log; owned by ``postgres``
when run as root, since PostgreSQL refuses root), ``routerd/`` (routerd's data directory),
``routerd.pid``, ``routerd.log``, ``sql.installed`` and ``env``, the shell file ``up`` writes.

``up`` is idempotent: it starts what is not running (a pid file or postmaster.pid whose process is
gone counts as not running), checks what is, runs the SQL install only when the scripts changed
(a new routerd address only re-points the server), and rewrites ``env``. ``down`` stops both and keeps the data.

The PostgreSQL helpers at the top (PG_BIN, free_port, as_postgres, the initdb and pg_ctl command
lines, health_check) are shared with the test harness (tests/harness/cluster.py and routerd.py), so
tests and the stack start servers the same way. A development tool: nothing in routerd or fdw imports it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg import sql as pgsql

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("TINYDANCER_PG_BIN", "/usr/lib/postgresql/15/bin"))
# A plain PATH for the server: the embedded interpreter finds its prefix via `python3` on PATH.
SERVER_PATH = f"{PG_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_PG_PORT = 54329
DEFAULT_ROUTERD_PORT = 50551
# Replica i (1-based) serves gRPC on routerd_port+i-1, Prometheus on metrics_port+i-1, the dashboard on
# http_port+i-1.
DEFAULT_METRICS_PORT = 9464
DEFAULT_HTTP_PORT = 8089
MAX_REPLICAS = 16
# With two replicas or more, routerd's store is this database of the stack's own cluster.
STORE_DATABASE = "tinydancer_store"
_PID_FILE = re.compile(r"routerd(?:-(\d+))?\.pid")
# What serves the foreign tables: our bridge (fdw/bridge) or Multicorn2 3.x. Both are the extension
# `multicorn`; they differ in how the backend's interpreter finds fdw and routerd (server_python).
MULTICORN_MODES = ("bridge", "multicorn2")
DATABASE = "tinydancer"
# How a machine gets ready for `up`: the system packages, then these make targets. `make demo`
# runs both, `make up` the targets, and the compose image's build steps are the same commands
# (tests/unit/test_compose.py compares them).
DEPS_COMMAND = "bash .ci/deps"
MAKE_TARGETS = ("install", "bridge")
# routerd settings (routerd/config.py) that would take the stack's routerd somewhere else.
_ROUTERD_ENV_DROPPED = ("TINYDANCER_CONFIG", "TINYDANCER_LISTEN", "TINYDANCER_DATA_DIR", "TINYDANCER_STORE",
                        "TINYDANCER_TOKEN", "TINYDANCER_TLS_CERT", "TINYDANCER_TLS_KEY")


class StackError(Exception):
    """Something the user has to fix; the message says what."""


# -- PostgreSQL and routerd helpers shared with the tests ----------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_postgres(cmd: Sequence[str]) -> list[str]:
    """``cmd`` run as the postgres user when we are root (initdb, pg_ctl and postgres refuse root)."""
    if os.geteuid() == 0:
        # absolute path: callers may hand the server a minimal PATH through ``env``
        return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--", *cmd]
    return list(cmd)


def give_to_postgres(*paths: Path) -> None:
    """When root: make ``paths`` owned by postgres (and enterable by everyone)."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam("postgres")
    for p in paths:
        os.chmod(p, 0o755)
        os.chown(p, pw.pw_uid, pw.pw_gid)


def initdb_cmd(datadir: Path, *, sync: bool = True) -> list[str]:
    cmd = [str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
           "--locale=C.UTF-8"]
    return cmd if sync else [*cmd, "--no-sync"]


def pg_ctl_start_cmd(datadir: Path, logfile: Path, port: int, sockdir: Path, settings: Mapping[str, str],
                     timeout_s: int = 60) -> list[str]:
    """Start on 127.0.0.1:port with a private socket directory; ``settings`` become ``-c`` options."""
    opts = [f"-p {port}", f"-k {shlex.quote(str(sockdir))}", "-c listen_addresses=127.0.0.1"]
    opts += [f"-c {k}={shlex.quote(v)}" for k, v in settings.items()]
    return [str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", " ".join(opts),
            "-w", "-t", str(timeout_s), "start"]


def pg_ctl_stop_cmd(datadir: Path, mode: str = "fast") -> list[str]:
    return [str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-m", mode, "-w", "stop"]


def health_check(channel: grpc.Channel, timeout_s: float) -> bool:
    """grpc.health.v1 Check on ``channel``, waiting up to ``timeout_s`` for it to connect.
    True when SERVING; RpcError when routerd cannot be reached in time."""
    resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s,
                                                     wait_for_ready=True)
    return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def routerd_serving(target: str, timeout_s: float = 2.0) -> bool:
    with grpc.insecure_channel(target) as ch:
        try:
            return health_check(ch, timeout_s)
        except grpc.RpcError:
            return False


# The install's first script (the schema the others build on) and its last (privileges on what they made).
FIRST_SCRIPT, LAST_SCRIPT = "tinydancer.sql", "roles.sql"


def install_scripts() -> list[Path]:
    """Every sql/*.sql: tinydancer.sql first (the others build on its schema), roles.sql last (it grants
    privileges on every function the others made), the rest by name."""
    return sorted((ROOT / "sql").glob("*.sql"),
                  key=lambda p: (p.name != FIRST_SCRIPT, p.name == LAST_SCRIPT, p.name))


def install_sql(dsn: str, target: str, *, timeout_ms: int | None = None, token: str | None = None,
                scripts: Sequence[Path] | None = None) -> list[Path]:
    """Run the SQL install (every script, or those given, in one psql) against the database ``dsn``."""
    scripts = list(scripts) if scripts is not None else install_scripts()
    cmd = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-v", f"target={target}"]
    if timeout_ms is not None:
        cmd += ["-v", f"timeout_ms={timeout_ms}"]
    if token:
        cmd += ["-v", f"token={token}"]
    for script in scripts:
        cmd += ["-f", str(script)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise StackError(f"the SQL install failed:\n{p.stderr.strip()}")
    return scripts


# -- the local stack -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Stack:
    state: Path
    pg_port: int = DEFAULT_PG_PORT
    routerd_port: int = DEFAULT_ROUTERD_PORT
    multicorn: str = "bridge"  # MULTICORN_MODES
    server_pythonpath: str = ""  # TINYDANCER_SERVER_PYTHONPATH
    replicas: int = 1  # TINYDANCER_REPLICAS: 1 = routerd on SQLite; N >= 2 share a PostgreSQL store
    metrics_port: int = DEFAULT_METRICS_PORT
    http_port: int = DEFAULT_HTTP_PORT

    def store_url(self, pg_port: int) -> str:
        """routerd's --store: "" (SQLite under its data dir) for one replica, else STORE_DATABASE."""
        return "" if self.replicas == 1 else pg_url(pg_port, STORE_DATABASE)

    def replica(self, i: int, store: str = "") -> Replica:
        """Replica i (1-based): one replica keeps the historic names (routerd/, routerd.pid, routerd.log)."""
        name = "routerd" if self.replicas == 1 else f"routerd-{i}"
        return Replica(name, self.state / name, self.state / f"{name}.pid", self.state / f"{name}.log",
                       f"127.0.0.1:{self.routerd_port + i - 1}", f"127.0.0.1:{self.metrics_port + i - 1}",
                       f"127.0.0.1:{self.http_port + i - 1}", store)

    @property
    def pg_dir(self) -> Path:
        return self.state / "pg"

    @property
    def datadir(self) -> Path:
        return self.pg_dir / "data"

    @property
    def sockdir(self) -> Path:
        return self.pg_dir / "sock"

    @property
    def pg_log(self) -> Path:
        return self.pg_dir / "server.log"

    @property
    def pg_mode(self) -> Path:
        """The MULTICORN_MODES entry the running cluster was started with."""
        return self.pg_dir / "multicorn"

    @property
    def routerd_dir(self) -> Path:
        return self.state / "routerd"

    @property
    def routerd_pid(self) -> Path:
        return self.state / "routerd.pid"

    @property
    def routerd_log(self) -> Path:
        return self.state / "routerd.log"

    @property
    def env_file(self) -> Path:
        return self.state / "env"

    @property
    def sql_mark(self) -> Path:
        return self.state / "sql.installed"


@dataclass(frozen=True)
class Replica:
    """One routerd of the stack: its files and addresses; ``store`` "" is the SQLite store in data_dir."""
    name: str
    data_dir: Path
    pid_file: Path
    log: Path
    listen: str
    metrics_listen: str
    http_listen: str
    store: str = ""

    def flags(self) -> dict[str, str]:
        flags = {"--listen": self.listen, "--data-dir": str(self.data_dir), "--metrics-listen": self.metrics_listen,
                 "--http-listen": self.http_listen}
        return {**flags, "--store": self.store} if self.store else flags

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "routerd", "serve", *(w for kv in self.flags().items() for w in kv)]


def metrics_url(listen: str) -> str:
    return f"http://{listen}/metrics"


def dashboard_url(listen: str) -> str:
    return f"http://{listen}/"


def pg_url(port: int, dbname: str = DATABASE) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _run(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, env=env, cwd="/", timeout=120)


def _server_env(pythonpath: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env = {**env, "PATH": SERVER_PATH, "OPENBLAS_NUM_THREADS": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def server_python(mode: str, site: str, extra: str = "") -> tuple[dict[str, str], str | None]:
    """(server settings, the postmaster's PYTHONPATH) for the backend to import fdw and routerd.

    ``bridge``: the bridge's setting ``multicorn.python_path`` names the virtualenv's site-packages,
    which the bridge adds with ``site.addsitedir`` (so the editable install's .pth finder works); no
    PYTHONPATH. ``multicorn2``: Multicorn2 has no such setting and uses the postmaster's environment,
    and a plain PYTHONPATH processes no .pth files, so it names the checkout (fdw, routerd, the in-place
    compiled kernel) and then the site-packages (their dependencies). ``extra`` (a ':'-separated list,
    TINYDANCER_SERVER_PYTHONPATH) comes after those, in both modes.
    """
    if mode not in MULTICORN_MODES:
        raise StackError(f"TINYDANCER_MULTICORN must be one of {', '.join(MULTICORN_MODES)}, not {mode!r}")
    extras = [d for d in extra.split(":") if d]
    if mode == "bridge":
        return {"multicorn.python_path": ",".join([site, *extras])}, None
    return {}, ":".join([str(ROOT), site, *extras])


def _site_packages() -> str:
    """The directory multicorn.python_path points at: this virtualenv's site-packages."""
    if sys.prefix == sys.base_prefix:
        raise StackError(f"run this with the project's virtualenv (.venv/bin/python -m devstack, or make up), "
                         f"not {sys.executable}: the PostgreSQL backend imports fdw and routerd from it")
    return sysconfig.get_paths()["purelib"]


def _check_reachable(*paths: Path) -> None:
    """As root the server runs as postgres, which must enter every directory above ``paths``."""
    if os.geteuid() != 0:
        return
    for path in paths:
        for d in [path, *path.parents]:
            if d.is_dir() and not d.stat().st_mode & 0o001:
                raise StackError(f"the postgres user cannot enter {d}: run `{DEPS_COMMAND}` (make deps), which "
                                 f"opens this checkout to it, or chmod o+x {d}")


def _check_bridge(mode: str = "bridge") -> None:
    p = _run([str(PG_BIN / "pg_config"), "--sharedir"])
    if p.returncode != 0 or not (Path(p.stdout.strip()) / "extension" / "multicorn.control").exists():
        if mode == "multicorn2":
            raise StackError("the extension multicorn is not installed in PostgreSQL: install Multicorn2 3.x "
                             "for PostgreSQL 15 and Debian's python3.11 (README: Multicorn2 instead of the bridge)")
        raise StackError(f"the multicorn bridge is not installed in PostgreSQL: run "
                         f"`make {' '.join(MAKE_TARGETS)}` (as root)")


def pg_running_port(st: Stack) -> int | None:
    """The port of the cluster in ``st`` when its postmaster runs (pg_ctl status), else None."""
    if not (st.datadir / "PG_VERSION").exists():
        return None
    if _run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(st.datadir), "status"])).returncode != 0:
        return None
    try:
        return int((st.datadir / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, IndexError, ValueError):
        return None


def _pg_ready(port: int, timeout_s: int = 30) -> bool:
    cmd = [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", str(timeout_s)]
    return _run(cmd).returncode == 0


def ensure_postgres(st: Stack) -> tuple[int, str]:
    """(port, what happened): start the cluster unless it runs (initdb on first use)."""
    port = pg_running_port(st)
    if port is not None:
        if not _pg_ready(port):
            raise StackError(f"PostgreSQL runs on port {port} but does not accept connections; see {st.pg_log}")
        try:
            started = st.pg_mode.read_text().strip()
        except OSError:
            started = "bridge"
        if started != st.multicorn:
            return port, f"already running (started for {started}: {st.multicorn} takes effect after `make down`)"
        return port, "already running"
    settings, pythonpath = server_python(st.multicorn, _site_packages(), st.server_pythonpath)
    env = _server_env(pythonpath)
    if not (st.datadir / "PG_VERSION").exists():
        st.pg_dir.mkdir(parents=True, exist_ok=True)
        give_to_postgres(st.pg_dir)
        p = _run(as_postgres(initdb_cmd(st.datadir)), env)
        if p.returncode != 0:
            raise StackError(f"initdb failed:\n{p.stdout}{p.stderr}")
    st.sockdir.mkdir(exist_ok=True)
    give_to_postgres(st.sockdir)
    p = _run(as_postgres(pg_ctl_start_cmd(st.datadir, st.pg_log, st.pg_port, st.sockdir, settings)), env)
    if p.returncode != 0 or not _pg_ready(st.pg_port):
        raise StackError(f"PostgreSQL did not start on port {st.pg_port}:\n{p.stderr}{_tail(st.pg_log)}")
    st.pg_mode.write_text(st.multicorn + "\n")
    return st.pg_port, "started"


def stop_postgres(st: Stack) -> bool:
    if pg_running_port(st) is None:
        return False
    env = _server_env()
    if _run(as_postgres(pg_ctl_stop_cmd(st.datadir, "fast")), env).returncode != 0:
        _run(as_postgres(pg_ctl_stop_cmd(st.datadir, "immediate")), env)
    return True


def _alive(pid: int) -> bool:
    try:  # our own child (routerd started by this process): reap it if it exited
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass(frozen=True)
class RunningRouterd:
    name: str  # routerd or routerd-i, from its pid file
    pid: int
    flags: dict[str, str]  # the serve flags it was started with

    @property
    def target(self) -> str:
        return self.flags["--listen"]

    def store_label(self) -> str:
        return _store_label(self.flags.get("--store", ""), Path(self.flags.get("--data-dir", ".")))


def _store_label(store: str, data_dir: Path) -> str:
    """The store as compared across runs: the SQLite file, or the PostgreSQL database (port left out)."""
    if not store:
        return f"sqlite://{data_dir / 'routerd.db'}"
    return f"postgresql database {store.rsplit('/', 1)[1]}"


def _running_from(pid_file: Path, name: str) -> RunningRouterd | None:
    try:
        pid = int(pid_file.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (OSError, ValueError):
        return None
    if not _alive(pid) or "routerd" not in argv or "serve" not in argv or "--listen" not in argv:
        return None
    return RunningRouterd(name, pid, {k: v for k, v in zip(argv, argv[1:], strict=False) if k.startswith("--")})


def routerd_processes(st: Stack) -> list[RunningRouterd]:
    """Every routerd of the stack that runs (routerd.pid, routerd-i.pid), by replica index."""
    found = []
    for pid_file in st.state.glob("routerd*.pid"):
        m = _PID_FILE.fullmatch(pid_file.name)
        if m:
            r = _running_from(pid_file, pid_file.name[:-4])
            if r is not None:
                found.append((int(m.group(1) or 0), r))
    return [r for _, r in sorted(found, key=lambda x: x[0])]


def routerd_running(st: Stack, name: str = "routerd") -> tuple[int, str] | None:
    """(pid, target) of the routerd the pid file ``name``.pid names, when that process is alive and is routerd."""
    r = _running_from(st.state / f"{name}.pid", name)
    return None if r is None else (r.pid, r.target)


def _spawn(rep: Replica) -> int:
    rep.pid_file.unlink(missing_ok=True)
    rep.data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _ROUTERD_ENV_DROPPED}
    env["OPENBLAS_NUM_THREADS"] = "1"
    log = os.open(rep.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:  # its own session: a Ctrl-C in the terminal that ran `make up` does not reach it
        pid = os.posix_spawn(sys.executable, rep.argv(), env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
    finally:
        os.close(log)
    rep.pid_file.write_text(f"{pid}\n")
    return pid


def ensure_routerds(st: Stack, store: str, timeout_s: float = 60.0) -> list[tuple[Replica, int, str, str]]:
    """[(replica, pid, target, what happened)] for replicas 1..N: routerd of the stack not among them are
    stopped first, one started with other store or metrics/dashboard addresses is restarted, the missing
    ones are started together (the PostgreSQL store serialises its migrations) and waited for."""
    wanted = [st.replica(i, store) for i in range(1, st.replicas + 1)]
    names = {r.name for r in wanted}
    running = {r.name: r for r in routerd_processes(st)}
    extras = [r for r in running.values() if r.name not in names]
    for r in extras:
        print(f"{r.name:9} stopped (REPLICAS={st.replicas})", flush=True)
    _terminate_all([r.pid for r in extras], 30.0)
    for r in extras:
        (st.state / f"{r.name}.pid").unlink(missing_ok=True)
    out: dict[str, tuple[Replica, int, str, str]] = {}
    restart = []
    for rep in wanted:
        cur = running.get(rep.name)
        if cur is None:
            continue
        changed = [k for k in ("--store", "--metrics-listen", "--http-listen")
                   if cur.flags.get(k, "") != rep.flags().get(k, "")]
        if changed:
            restart.append((rep, f"restarted ({', '.join(changed)} changed)"))
            continue
        if not routerd_serving(cur.target, 5.0):
            raise StackError(f"{rep.name} (pid {cur.pid}) runs but is not serving on {cur.target}; see {rep.log}, "
                             f"or stop it with `make down`")
        out[rep.name] = (rep, cur.pid, cur.target, "already running")
    _terminate_all([running[rep.name].pid for rep, _ in restart], 30.0)
    why = {rep.name: what for rep, what in restart}
    spawned = {rep.name: _spawn(rep) for rep in wanted if rep.name not in out}
    deadline = time.monotonic() + timeout_s
    for rep in wanted:
        if rep.name not in spawned:
            continue
        pid = spawned[rep.name]
        while not routerd_serving(rep.listen, 0.5):
            if not _alive(pid) or time.monotonic() > deadline:
                _terminate_all(list(spawned.values()), 5.0)
                for started in wanted:
                    if started.name in spawned:
                        started.pid_file.unlink(missing_ok=True)
                raise StackError(f"{rep.name} did not start on {rep.listen}:\n{_tail(rep.log)}")
        out[rep.name] = (rep, pid, rep.listen, why.get(rep.name, "started"))
    return [out[rep.name] for rep in wanted]


def _terminate_all(pids: Sequence[int], timeout_s: float) -> None:
    """SIGTERM to all, wait, then SIGKILL to those left."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        alive = [p for p in pids if _alive(p)]
        for p in alive:
            os.kill(p, sig)
        deadline = time.monotonic() + wait
        while any(_alive(p) for p in alive) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_routerds(st: Stack) -> list[str]:
    """Stop every routerd of the stack (SIGTERM: it drains calls and flushes its decision log); their names."""
    found = routerd_processes(st)
    _terminate_all([r.pid for r in found], 30.0)
    for pid_file in st.state.glob("routerd*.pid"):
        if _PID_FILE.fullmatch(pid_file.name):
            pid_file.unlink(missing_ok=True)
    return [r.name for r in found]


def ensure_database(port: int, name: str = DATABASE) -> bool:
    """Create the database ``name`` unless it exists; True when it was created."""
    with psycopg.connect(pg_url(port, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None:
            return False
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        return True


def ensure_sql(st: Stack, dsn: str, target: str) -> str:
    """Run the install when the schema is missing or the scripts changed since the last one; when only
    routerd's address changed, point the server at it (a reinstall would drop the user's views)."""
    digest = hashlib.sha256()
    for script in install_scripts():
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    mark = digest.hexdigest()
    with psycopg.connect(dsn, autocommit=True) as conn:
        present = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'tinydancer'").fetchone() is not None
        if present and st.sql_mark.exists() and st.sql_mark.read_text().strip() == mark:
            current = conn.execute(
                "SELECT option_value FROM pg_foreign_server s, pg_options_to_table(s.srvoptions) "
                "WHERE s.srvname = 'routerd' AND option_name = 'target'").fetchone()
            if current == (target,):
                return "already installed"
            conn.execute(pgsql.SQL("ALTER SERVER routerd OPTIONS (SET target {})").format(pgsql.Literal(target)))
            return f"already installed; server routerd now targets {target}"
    scripts = install_sql(dsn, target)
    st.sql_mark.write_text(mark + "\n")
    return "installed " + " ".join(str(s.relative_to(ROOT)) for s in scripts)


def write_env(st: Stack, pg_port: int, target: str) -> None:
    values = {"TINYDANCER_PG_DSN": pg_url(pg_port), "TINYDANCER_ROUTERD": target, "PGHOST": "127.0.0.1",
              "PGPORT": str(pg_port), "PGUSER": "postgres", "PGDATABASE": DATABASE}
    lines = ["# The local Tiny Dancer stack, written by `make up` (devstack/stack.py). Load it with: . "
             f"{shlex.quote(str(st.env_file))}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    st.env_file.write_text("\n".join(lines) + "\n")


def read_env(path: Path) -> dict[str, str]:
    """The variables of an env file that write_env wrote."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.fullmatch(r"export (\w+)=(.*)", line)
        if m:
            out[m.group(1)] = shlex.split(m.group(2))[0]
    return out


@dataclass(frozen=True)
class Running:
    pg_port: int
    routerd_pids: tuple[int, ...]
    target: str  # every replica, comma-separated (the FDW's target, the CLI's --target)

    @property
    def dsn(self) -> str:
        return pg_url(self.pg_port)


def _check_ports(st: Stack) -> None:
    ranges = {"--routerd-port": st.routerd_port, "--metrics-port": st.metrics_port, "--http-port": st.http_port}
    taken: dict[int, str] = {st.pg_port: "--pg-port"}
    for flag, first in ranges.items():
        for port in range(first, first + st.replicas):
            if port > 65535:
                raise StackError(f"{flag} {first}: {st.replicas} replicas need ports up to {port}, past 65535")
            if port in taken:
                raise StackError(f"{flag} {first} and {taken[port]} overlap at port {port} "
                                 f"({st.replicas} replicas use consecutive ports)")
            taken[port] = flag


def _store_mark(st: Stack) -> Path:
    return st.state / "routerd.store"


def _previous_store(st: Stack) -> str | None:
    """The store label of the last `up` (or of what runs, or the SQLite file of a stack older than the mark)."""
    try:
        return _store_mark(st).read_text().strip()
    except OSError:
        pass
    running = routerd_processes(st)
    if running:
        return running[0].store_label()
    legacy = st.routerd_dir / "routerd.db"
    return _store_label("", st.routerd_dir) if legacy.exists() else None


def up(st: Stack) -> Running:
    _check_bridge(st.multicorn)
    server_python(st.multicorn, "", st.server_pythonpath)  # a bad mode fails before anything starts
    _check_ports(st)
    site = Path(_site_packages())
    st.state.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        st.state.chmod(0o755)
    _check_reachable(st.state, site, ROOT)
    pg_port, pg_what = ensure_postgres(st)
    print(f"postgres  {pg_what:16} 127.0.0.1:{pg_port}  data {st.datadir}  ({st.multicorn})", flush=True)
    if pg_port != st.pg_port:
        print(f"          (asked for port {st.pg_port}: that takes effect after `make down`)")
    ensure_database(pg_port)
    store = st.store_url(pg_port)
    label = _store_label(store, st.routerd_dir)
    if store:
        made = ensure_database(pg_port, STORE_DATABASE)
        print(f"store     PostgreSQL {store} ({'created' if made else 'exists'}), shared by {st.replicas} replicas",
              flush=True)
    else:
        print(f"store     SQLite {label.removeprefix('sqlite://')} (one routerd; REPLICAS=2 or more share a "
              f"PostgreSQL store)", flush=True)
    previous = _previous_store(st)
    if previous is not None and previous != label:
        print(f"store     SWITCHED from {previous} to {label} (REPLICAS={st.replicas}). The data is NOT migrated: "
              f"agents, routes, budgets and outcomes of the old store stay there, unseen, until REPLICAS "
              f"{'>= 2' if store else '= 1'} again", flush=True)
    replicas = ensure_routerds(st, store)
    _store_mark(st).write_text(label + "\n")
    for rep, pid, target, what in replicas:
        print(f"{rep.name:9} {what:16} {target}  pid {pid}, log {rep.log}", flush=True)
        print(f"          metrics {metrics_url(rep.metrics_listen)}  dashboard {dashboard_url(rep.http_listen)}",
              flush=True)
        if target != rep.listen:
            print(f"          (asked for {rep.listen}: that takes effect after `make down`)")
    target = ",".join(t for _, _, t, _ in replicas)
    print(f"sql       {ensure_sql(st, pg_url(pg_port), target)}", flush=True)
    write_env(st, pg_port, target)
    print(f"env       {st.env_file}: . {st.env_file} && psql \"$TINYDANCER_PG_DSN\"", flush=True)
    return Running(pg_port, tuple(pid for _, pid, _, _ in replicas), target)


def down(st: Stack) -> None:
    stopped = stop_routerds(st)
    for name in stopped:
        print(f"{name:9} stopped")
    if not stopped:
        print("routerd   not running")
    print(f"postgres  {'stopped' if stop_postgres(st) else 'not running'}")


def status(st: Stack) -> bool:
    """Print what runs; True when PostgreSQL and every routerd found run and answer."""
    port = pg_running_port(st)
    pg_ok = port is not None and _pg_ready(port, 2)
    print(f"postgres  {'not running' if port is None else f'running 127.0.0.1:{port}'}"
          f"{'' if pg_ok or port is None else ' (not accepting connections)'}")
    found = routerd_processes(st)
    if not found:
        print("routerd   not running")
    ok = bool(found)
    for r in found:
        serving = routerd_serving(r.target)
        ok = ok and serving
        extra = "".join(f", {what} {url(r.flags[k])}" for k, what, url in (
            ("--metrics-listen", "metrics", metrics_url), ("--http-listen", "dashboard", dashboard_url))
            if k in r.flags)
        print(f"{r.name:9} running {r.target} pid {r.pid}, store {r.store_label()}{extra}"
              f"{'' if serving else ' (not serving)'}")
    return pg_ok and ok


# -- the demo --------------------------------------------------------------------------------------

# Every SQL snippet of the README is one of these (tests/unit/test_readme_sql.py checks); the demo
# runs them in one psql session, in order. True: print the result as one block per row (psql \x).
DEMO_ROUTES = ("coding", "web_lookup")
DEMO_AGENTS = ("gpt-4o", "claude-3-5-sonnet", "gpt-4o-mini", "llama-3.1-8b", "web-search", "code-interpreter")
DEMO: tuple[tuple[str, str, bool], ...] = (
    ("Register agents: LLMs priced per 1k tokens, tools per call", """
INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens,
                               cost_per_1k_output_tokens, cost_per_call, latency_prior_ms, quality_score)
VALUES ('gpt-4o', 'llm', ARRAY['chat', 'coding', 'reasoning', 'vision'], 0.0025, 0.01, 0, 900, 0.90),
       ('claude-3-5-sonnet', 'llm', ARRAY['chat', 'coding', 'reasoning', 'writing'], 0.003, 0.015, 0, 1100, 0.92),
       ('gpt-4o-mini', 'llm', ARRAY['chat', 'coding', 'summarize'], 0.00015, 0.0006, 0, 450, 0.78),
       ('llama-3.1-8b', 'llm', ARRAY['chat', 'summarize'], 0.00005, 0.00008, 0, 250, 0.62),
       ('web-search', 'tool', ARRAY['search'], 0, 0, 0.005, 700, 0.80),
       ('code-interpreter', 'tool', ARRAY['python', 'math'], 0, 0, 0.03, 1500, 0.85);
""", False),
    ("The registry", """
SELECT name, agent_type, capabilities, cost_per_1k_input_tokens AS usd_1k_in,
       cost_per_1k_output_tokens AS usd_1k_out, cost_per_call AS usd_call, latency_prior_ms, quality_score, health
FROM tinydancer.agents
ORDER BY name;
""", False),
    ("Route one request: best quality under $0.01, must know coding", """
SELECT agent_name, round(confidence::numeric, 3) AS confidence, round(estimated_cost::numeric, 6) AS cost_usd,
       estimated_latency_ms, round(expected_quality::numeric, 3) AS expected_quality, reasoning
FROM tinydancer.route('Write a Rust function that merges two sorted vectors',
                      optimize_for => 'quality', required_capabilities => ARRAY['coding'], max_cost => 0.01);
""", True),
    ("Why not the others: every alternative, with its score or the rule that rejected it", """
SELECT a->>'agent_name' AS agent, a->>'feasible' AS feasible, round((a->>'score')::numeric, 4) AS score,
       a->>'reason' AS reason
FROM tinydancer.route('Write a Rust function that merges two sorted vectors',
                      optimize_for => 'quality', required_capabilities => ARRAY['coding'], max_cost => 0.01) d,
     jsonb_array_elements(d.alternatives) a;
""", False),
    ("Route a table of requests (balanced): a JOIN on tinydancer.decisions", """
CREATE TEMP TABLE requests (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO requests VALUES
    (1, 'Summarize this support ticket in two sentences'),
    (2, 'Explain the difference between a mutex and a semaphore'),
    (3, 'Draft a polite reply declining the meeting on Friday');
SELECT r.id, d.agent_name, round(d.estimated_cost::numeric, 6) AS cost_usd,
       round(d.expected_quality::numeric, 3) AS quality, r.body
FROM requests r JOIN tinydancer.decisions d ON d.request = r.body
WHERE d.optimize_for = 'balanced'
ORDER BY r.id;
""", False),
    ("Record what happened (feeds observed latency, quality and the circuit breaker)", """
WITH d AS (SELECT decision_id FROM tinydancer.route('Summarize this support ticket in two sentences'))
SELECT o.agent_name, o.latency_ms, o.success, o.quality, o.cost
FROM d, tinydancer.record_outcome(d.decision_id, latency_ms => 420, quality => 0.9, cost => 0.0002) o;
""", False),
    ("Semantic routes: intents with example requests, each preferring an agent", """
INSERT INTO tinydancer.routes (name, description, target_agent, group_name, threshold, utterances)
VALUES ('coding', 'Programming help', 'claude-3-5-sonnet', 'engineering', 0.4,
        ARRAY['write a function that parses dates', 'fix this null pointer exception',
              'refactor this class into smaller functions', 'why does my python loop never end',
              'add unit tests for this module']),
       ('web_lookup', 'Fresh facts from the web', 'web-search', 'research', 0.4,
        ARRAY['what is the weather in paris tomorrow', 'latest news about the stock market',
              'who won the game last night', 'current price of bitcoin', 'opening hours of the louvre today']);
""", False),
    ("Match requests to routes (no route: out of scope)", """
SELECT q.request, m.route_name, round(m.similarity::numeric, 3) AS similarity,
       round(m.confidence::numeric, 3) AS confidence, m.target_agent
FROM unnest(ARRAY['my python script crashes with a KeyError', 'will it rain in london this weekend',
                  'write me a haiku about autumn leaves']) AS q(request)
LEFT JOIN tinydancer.semantic_matches m ON m.query = q.request AND m.top_k = 1;
""", False),
    ("Classify a request: routes, groups and the capabilities it needs, with probabilities", """
SELECT kind, category, round(probability::numeric, 3) AS probability
FROM tinydancer.classifications
WHERE text = 'my python script crashes with a KeyError' AND probability > 0.001
ORDER BY kind, probability DESC;
""", False),
    ("The target agent of a matched route is preferred when it is feasible", """
SELECT agent_name, route_name, round(route_similarity::numeric, 3) AS route_similarity, reasoning
FROM tinydancer.route('my python script crashes with a KeyError', optimize_for => 'cost');
""", True),
    ("Statistics", """
SELECT * FROM tinydancer.stats;
""", True),
)


def demo_script() -> str:
    """The DEMO statements as one psql script, with a heading before each step."""
    parts = ["\\set ON_ERROR_STOP on"]
    for n, (title, sql, expanded) in enumerate(DEMO, 1):
        parts += ["\\echo", f"\\echo {shlex.quote(f'== {n}. {title}')}",
                  "\\set QUIET on", "\\x on" if expanded else "\\x off", "\\set QUIET off", sql.strip()]
    return "\n".join(parts) + "\n"


def demo(st: Stack) -> None:
    running = up(st)
    # Start from the example agents as they are defined here, so the demo can run again.
    with psycopg.connect(running.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM tinydancer.routes WHERE name = ANY(%s)", (list(DEMO_ROUTES),))
        conn.execute("DELETE FROM tinydancer.agents WHERE name = ANY(%s)", (list(DEMO_AGENTS),))
    p = subprocess.run([str(PG_BIN / "psql"), "-X", "--echo-queries", "-d", running.dsn, "-f", "-"],
                       input=demo_script(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    print(p.stdout, end="")
    if p.returncode != 0:
        raise StackError("the demo failed (above)")
    print(f"\nThe stack keeps running. Try your own SQL:  . {st.env_file} && psql \"$TINYDANCER_PG_DSN\"\n"
          "Stop it with `make down`; `make clean-stack` also deletes its data.")


# -- command line ----------------------------------------------------------------------------------

def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return port


def _replicas(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_REPLICAS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of replicas in 1..{MAX_REPLICAS}")
    return n


def _multicorn_mode(value: str) -> str:
    if value not in MULTICORN_MODES:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(MULTICORN_MODES)}")
    return value


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--state-dir", type=Path, default=Path(env.get("TINYDANCER_STATE_DIR", ROOT / ".tinydancer")),
                   help="where the stack lives (TINYDANCER_STATE_DIR; default .tinydancer/ in the checkout)")
    # string defaults go through type=, so a bad environment value is reported like a bad flag
    p.add_argument("--pg-port", type=_port, default=env.get("TINYDANCER_PG_PORT", str(DEFAULT_PG_PORT)),
                   help=f"PostgreSQL's port (TINYDANCER_PG_PORT; default {DEFAULT_PG_PORT})")
    p.add_argument("--routerd-port", type=_port,
                   default=env.get("TINYDANCER_ROUTERD_PORT", str(DEFAULT_ROUTERD_PORT)),
                   help=f"routerd's port (TINYDANCER_ROUTERD_PORT; default {DEFAULT_ROUTERD_PORT})")
    p.add_argument("--metrics-port", type=_port, default=env.get("TINYDANCER_METRICS_PORT", str(DEFAULT_METRICS_PORT)),
                   help=f"replica 1's Prometheus port, then consecutive (TINYDANCER_METRICS_PORT; "
                        f"default {DEFAULT_METRICS_PORT})")
    p.add_argument("--http-port", type=_port, default=env.get("TINYDANCER_HTTP_PORT", str(DEFAULT_HTTP_PORT)),
                   help=f"replica 1's dashboard port, then consecutive (TINYDANCER_HTTP_PORT; "
                        f"default {DEFAULT_HTTP_PORT})")
    p.add_argument("--multicorn", type=_multicorn_mode, default=env.get("TINYDANCER_MULTICORN", "bridge"),
                   help="what serves the foreign tables: bridge (multicorn.python_path) or multicorn2 "
                        "(PYTHONPATH in the postmaster's environment) (TINYDANCER_MULTICORN; default bridge)")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start PostgreSQL and routerd, install the SQL, write the env file")
    sub.add_parser("down", help="stop both (the data stays)")
    sub.add_parser("status", help="what runs (exit status 3 unless both run and answer)")
    d = sub.add_parser("demo", help="up, then load example agents and run example queries")
    for cmd in (u, d):
        cmd.add_argument("--replicas", type=_replicas, default=env.get("TINYDANCER_REPLICAS", "1"),
                         help="routerd processes: 1 on SQLite, or N >= 2 sharing a PostgreSQL store "
                              "(TINYDANCER_REPLICAS; default 1)")
    i = sub.add_parser("install", help="run the SQL install (sql/*.sql) against a database")
    i.add_argument("--dsn", required=True, help="libpq URL of the database")
    i.add_argument("--target", required=True, help="routerd's host:port as the PostgreSQL server sees it")
    i.add_argument("--timeout-ms", type=int)
    i.add_argument("--token", default=env.get("TINYDANCER_TOKEN") or None)
    h = sub.add_parser("health", help="exit 0 when routerd at TARGET is SERVING (grpc.health.v1)")
    h.add_argument("target")
    h.add_argument("--timeout", type=float, default=3.0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    st = Stack(args.state_dir.resolve(), args.pg_port, args.routerd_port, args.multicorn,
               os.environ.get("TINYDANCER_SERVER_PYTHONPATH", ""), getattr(args, "replicas", 1),
               args.metrics_port, args.http_port)
    try:
        if args.cmd == "up":
            up(st)
        elif args.cmd == "down":
            down(st)
        elif args.cmd == "status":
            return 0 if status(st) else 3
        elif args.cmd == "demo":
            demo(st)
        elif args.cmd == "install":
            for script in install_sql(args.dsn, args.target, timeout_ms=args.timeout_ms, token=args.token):
                print(f"installed {script.name}")
        elif args.cmd == "health":
            return 0 if routerd_serving(args.target, args.timeout) else 1
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
