"""Issue 7 item 10 (routerd): the token kept out of ``ps`` (``--token-file``, ``TINYDANCER_TOKEN``),
and exactly one ``authorization`` header per call."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from tests.harness.routerd import Client, RouterdProcess

TOKEN = "s3cret-from-a-file"


def _denied(c: Client, metadata: tuple[tuple[str, str], ...]) -> bool:
    try:
        c.registry.ListAgents(pb.ListAgentsRequest(), metadata=metadata, timeout=10)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
        return True
    return False


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.fixture
def with_token_file(tmp_path: Path) -> Iterator[RouterdProcess]:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    with RouterdProcess(tmp_path / "d", extra_args=("--token-file", str(path))) as proc:
        yield proc


def test_token_file(with_token_file: RouterdProcess) -> None:
    proc = with_token_file
    assert proc.proc is not None and TOKEN not in _cmdline(proc.proc.pid)
    c = Client(proc.target)
    assert _denied(c, ())
    assert _denied(c, (("authorization", "Bearer wrong"),))
    assert not _denied(c, (("authorization", f"Bearer {TOKEN}"),))
    c.close()


def test_exactly_one_authorization_header(with_token_file: RouterdProcess) -> None:
    c = Client(with_token_file.target)
    right, wrong = ("authorization", f"Bearer {TOKEN}"), ("authorization", "Bearer wrong")
    assert not _denied(c, (right,))
    assert _denied(c, (wrong, right))
    assert _denied(c, (right, wrong))
    assert _denied(c, (right, right))
    c.close()


def test_token_from_the_environment(tmp_path: Path) -> None:
    """TINYDANCER_TOKEN (RouterdProcess removes it from the environment, so routerd runs here)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TINYDANCER_TOKEN": "from-env"}
    cmd = [sys.executable, "-m", "routerd", "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        m = re.search(r"listening on \S+:(\d+)", proc.stdout.readline())
        assert m, proc.stderr.read() if proc.stderr else ""
        assert "from-env" not in _cmdline(proc.pid)
        c = Client(f"127.0.0.1:{m.group(1)}")
        assert _denied(c, ())
        assert not _denied(c, (("authorization", "Bearer from-env"),))
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.mark.parametrize("content, extra, words", [
    ("", (), "empty"),
    ("\n", (), "empty"),
    (TOKEN, ("--token", "other"), "not both"),
    (None, (), "cannot read"),
])
def test_token_file_errors(tmp_path: Path, content: str | None, extra: tuple[str, ...], words: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    p = subprocess.run([sys.executable, "-m", "routerd", "serve", "--listen", "127.0.0.1:0", "--data-dir",
                        str(tmp_path / "d"), "--token-file", str(path), *extra],
                       capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if k != "TINYDANCER_TOKEN"})
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode != 0 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "token_file" in lines[0] and words in lines[0], lines[0]
