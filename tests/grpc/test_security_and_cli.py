"""Bearer tokens, TLS, and the routerd command-line clients against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg
from tests.harness.agents import agent
from tests.harness.routerd import Client, RouterdProcess


def test_bearer_token(tmp_path: Path) -> None:
    with RouterdProcess(tmp_path / "d", token="s3cret") as proc:
        for token in (None, "wrong"):
            c = Client(proc.target, token)
            with pytest.raises(grpc.RpcError) as info:
                c.registry.ListAgents(pb.ListAgentsRequest(), metadata=c.metadata, timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            c.close()
        ok = Client(proc.target, "s3cret")
        ok.registry.RegisterAgent(pb.RegisterAgentRequest(agent=agent("a")), metadata=ok.metadata, timeout=10)
        assert len(ok.registry.ListAgents(pb.ListAgentsRequest(), metadata=ok.metadata).agents) == 1
        # health probes need no token
        h = health_pb2_grpc.HealthStub(ok.channel)
        assert h.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        ok.close()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return key, crt


def test_tls(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    key, crt = cert
    with RouterdProcess(tmp_path / "d", extra_args=("--tls-cert", str(crt), "--tls-key", str(key)),
                        health_tls_ca=crt) as proc:
        creds = grpc.ssl_channel_credentials(crt.read_bytes())
        with grpc.secure_channel(proc.target, creds) as ch:
            stub = pbg.AgentRegistryStub(ch)
            stub.RegisterAgent(pb.RegisterAgentRequest(agent=agent("tls-agent")), timeout=10)
            assert [a.spec.name for a in stub.ListAgents(pb.ListAgentsRequest()).agents] == ["tls-agent"]
        with grpc.insecure_channel(proc.target) as plain, pytest.raises(grpc.RpcError):
            pbg.AgentRegistryStub(plain).ListAgents(pb.ListAgentsRequest(), timeout=3)


@pytest.fixture
def cli(routerd: RouterdProcess) -> Iterator[object]:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([sys.executable, "-m", "routerd", *args, "--target", routerd.target],
                           capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"routerd {' '.join(args)} failed: {p.stderr}")
        return p

    yield run


def test_cli_end_to_end(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("agents", "add", "gpt-4", "--type", "llm", "--capabilities", "coding", "reasoning",
        "--cost-per-1k-input", "0.03", "--cost-per-1k-output", "0.06", "--latency-ms", "900", "--quality", "0.95")
    cli("agents", "add", "mini", "--capabilities", "general", "--cost-per-1k-input", "0.0001",
        "--latency-ms", "200", "--quality", "0.6")
    listed = [json.loads(line) for line in cli("agents", "list", "--json").stdout.splitlines()]
    assert [a["spec"]["name"] for a in listed] == ["gpt-4", "mini"]
    d = json.loads(cli("route", "write a sort function", "--objective", "quality", "--json").stdout)
    assert d["agent_name"] == "gpt-4" and d["routed"] is True
    d2 = json.loads(cli("route", "hello", "--objective", "cost", "--json").stdout)
    assert d2["agent_name"] == "mini"
    batch = tmp_path / "reqs.jsonl"
    batch.write_text('"first"\n{"request": "second", "objective": "quality"}\n\n"third"\n')
    lines = cli("route-batch", str(batch), "--objective", "cost", "--json").stdout.splitlines()
    agents = [json.loads(x)["agent_name"] for x in lines]
    assert agents == ["mini", "gpt-4", "mini"]
    out = json.loads(cli("outcome", "--decision-id", d["decision_id"], "--latency-ms", "850",
                         "--quality", "0.9", "--json").stdout)
    assert out["outcome"]["agent_name"] == "gpt-4" and out["metrics"]["total_requests"] == "1"
    bad = cli("route", "x", "--objective", "fastest", check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT: objective" in bad.stderr
    bad = cli("agents", "add", "neg", "--cost-per-call", "-1", check=False)
    assert bad.returncode == 1 and "agent.cost.per_call" in bad.stderr
    batch.write_text("{not json\n")
    bad = cli("route-batch", str(batch), check=False)
    assert bad.returncode == 2 and "reqs.jsonl:1" in bad.stderr
    cli("agents", "remove", "mini")
    assert json.loads(cli("stats", "--json").stdout)["agents"] == "1"
