"""routerd for tests: in process (``create_server`` on port 0, its Engine on a SQLite store under a
temporary directory) wherever only the API matters, and as a real subprocess where the process is what
is tested (kill -9, SIGTERM, the command line, tokens and TLS, a server the SQL tests stop and restart).
``Client`` is the one stub bundle (routerd.client.Stubs) plus the call metadata for a token.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from devstack.stack import health_check
from routerd.client import Stubs, bearer, open_channel
from routerd.config import Config
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.server import RunningServer, create_server

__all__ = ["Client", "InProcessRouterd", "RouterdProcess"]

_LISTENING = re.compile(r"routerd listening on (\S+):(\d+)")


class Client(Stubs):
    """Stubs for every service over one channel to ``target``; ``metadata`` carries ``token``."""

    def __init__(self, target: str, token: str | None = None):
        super().__init__(open_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)]))
        self.metadata = bearer(token)


    def all_outcomes(self) -> list[pb.Outcome]:
        """Every outcome in the store, page by page."""
        out, token = [], ""
        while True:
            r = self.feedback.ListOutcomes(pb.ListOutcomesRequest(page_size=5000, page_token=token), timeout=30)
            out += list(r.outcomes)
            token = r.next_page_token
            if not token:
                return out


class InProcessRouterd:
    """routerd's server built by ``create_server`` in this process, on a free port.

    ``settings`` are Config fields (``token``, ``store``, ``workers``, ...). ``stop`` drains it, closes
    its engine and store, and checks that every thread it started has ended. The embedder is the
    hashing one unless ``embedder`` says otherwise (MiniLM costs milliseconds a text; the tests of
    the default embedder ask for it)."""

    def __init__(self, data_dir: Path, **settings: Any):
        self.data_dir = Path(data_dir)
        self.config = Config(**{"listen": "127.0.0.1:0", "data_dir": str(self.data_dir), "embedder": "hashing",
                                **settings})
        self.running: RunningServer | None = None
        self.port = 0
        self._threads_before: set[threading.Thread] = set()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def server(self) -> RunningServer:
        assert self.running is not None, "not started"
        return self.running

    def start(self) -> InProcessRouterd:
        self._threads_before = set(threading.enumerate())
        self.running = create_server(self.config)
        self.running.server.start()
        self.port = self.running.port
        return self

    def stop(self, grace: float | None = 5.0, join_timeout: float = 10.0) -> None:
        if self.running is None:
            return
        self.running.stop(grace)
        self.running = None
        gc.collect()
        deadline = time.monotonic() + join_timeout
        left = [t for t in threading.enumerate() if t not in self._threads_before]
        for t in left:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in left if t.is_alive()]
        assert not alive, f"threads of the in-process routerd outlived it: {alive}"

    def __enter__(self) -> InProcessRouterd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RouterdProcess:
    """``python -m routerd serve`` on a free port (read from its "listening on" line), SERVING before
    ``start`` returns. With the hashing embedder unless ``extra_args`` or ``env`` name one."""

    def __init__(self, data_dir: Path, *, store: str | None = None, token: str | None = None,
                 extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 listen: str = "127.0.0.1:0", health_tls_ca: Path | None = None):
        self.data_dir = Path(data_dir)
        self.store = store
        self.token = token
        self.extra_args = extra_args
        self.env = env or {}
        self.listen = listen
        self.health_tls_ca = health_tls_ca
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.stderr_path = self.data_dir / "routerd.stderr"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> RouterdProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "routerd", "serve", "--listen", self.listen, "--data-dir", str(self.data_dir)]
        if self.store:
            cmd += ["--store", self.store]
        if self.token:
            cmd += ["--token", self.token]
        cmd += list(self.extra_args)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **self.env}
        if "--embedder" not in self.extra_args and "TINYDANCER_EMBEDDER" not in self.env:
            cmd += ["--embedder", "hashing"]
        env.pop("TINYDANCER_TOKEN", None)
        with self.stderr_path.open("a") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        found: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                if not found and _LISTENING.search(line):
                    found.append(line)
            # keep draining so the child never blocks on a full pipe

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found:
            if self.proc.poll() is not None:
                self._close_pipe()
                raise RuntimeError(f"routerd exited with {self.proc.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                self.kill9()
                raise RuntimeError(f"routerd did not start in {timeout}s: {self.stderr()}")
            time.sleep(0.02)
        m = _LISTENING.search(found[0])
        assert m
        self.port = int(m.group(2))
        self.wait_serving(deadline - time.monotonic())
        return self

    def wait_serving(self, timeout: float) -> None:
        if self.health_tls_ca:
            ch = grpc.secure_channel(f"localhost:{self.port}",
                                     grpc.ssl_channel_credentials(self.health_tls_ca.read_bytes()))
        else:
            ch = grpc.insecure_channel(self.target)
        with ch:
            assert health_check(ch, max(timeout, 1.0)), "routerd is not SERVING"

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text()[-4000:]
        except OSError:
            return ""

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.proc and self.proc.stdout and self.proc.poll() is not None:
            self.proc.stdout.close()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._close_pipe()
        return code

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.terminate(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def __enter__(self) -> RouterdProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(target: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m routerd ARGS --target TARGET``; with ``check``, a non-zero exit fails the test."""
    p = subprocess.run([sys.executable, "-m", "routerd", *args, "--target", target],
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"routerd {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p
