"""Issue 7 item 8: one routerd per data directory, and a store that cannot be used stops routerd at
start with one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.store import open_store
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess

ROOT = Path(__file__).resolve().parents[2]


def serve(data_dir: Path, *, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """``routerd serve`` expected to exit at once (as ``user`` if given: setpriv, as root)."""
    cmd = [sys.executable, "-m", "routerd", "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    env.pop("TINYDANCER_TOKEN", None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT, env=env)


def one_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode != 0, f"routerd started: {p.stdout} {p.stderr}"
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert "Traceback" not in p.stderr and len(lines) == 1, p.stderr
    assert "listening" not in p.stdout
    return lines[0]


def test_second_routerd_on_the_same_data_dir_exits_at_once(tmp_path: Path) -> None:
    data = tmp_path / "d"
    with RouterdProcess(data) as first:
        c = Client(first.target)
        c.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("alpha")))
        assert first.proc is not None
        line = one_line(serve(data))
        assert str(data.resolve()) in line and f"pid {first.proc.pid}" in line, line
        # the first one is untouched
        assert [a.spec.name for a in c.registry.ListAgents(pb.ListAgentsRequest()).agents] == ["alpha"]
        c.close()
    with RouterdProcess(data) as again:  # the lock went with the first process
        c = Client(again.target)
        assert len(c.registry.ListAgents(pb.ListAgentsRequest()).agents) == 1
        c.close()


def test_corrupt_store_one_line(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "routerd.db").write_bytes(b"this is not a database " * 512)
    line = one_line(serve(data))
    assert "routerd.db" in line and "not a database" in line, line


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user may enter (pytest's tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="td-ro-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_read_only_store_one_line(shared_dir: Path) -> None:
    """A store file routerd may read but not write (SQLite would open it read-only without a word
    and fail every write later) is refused at start."""
    data = shared_dir / "d"
    open_store(f"sqlite://{data / 'routerd.db'}").close()
    (data / "routerd.db").chmod(0o444)
    if os.geteuid() == 0:  # root writes any file: run routerd as nobody, who may write the directory only
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a file read-only to routerd")
        os.chown(data, 65534, 65534)
        p = serve(data, user=65534)
    else:
        p = serve(data)
    line = one_line(p)
    assert "routerd.db" in line and "cannot be written" in line and "readonly" in line, line
