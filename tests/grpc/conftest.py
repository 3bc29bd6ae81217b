from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg
from tests.routerd_proc import RouterdProcess


class Client:
    """Stubs for every service over one channel to a running routerd."""

    def __init__(self, target: str, token: str | None = None):
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
        self.metadata = [("authorization", f"Bearer {token}")] if token else None
        self.registry = pbg.AgentRegistryStub(self.channel)
        self.router = pbg.RouterStub(self.channel)
        self.feedback = pbg.FeedbackStub(self.channel)
        self.analytics = pbg.AnalyticsStub(self.channel)

    def close(self) -> None:
        self.channel.close()


def agent(name: str, **kw: object) -> pb.AgentSpec:
    """A valid AgentSpec with overridable fields."""
    cost = kw.pop("cost", pb.CostModel(per_1k_input_tokens=0.001, per_1k_output_tokens=0.002))
    spec = pb.AgentSpec(name=name, agent_type=str(kw.pop("agent_type", "llm")),
                        capabilities=list(kw.pop("capabilities", ["general"])),  # type: ignore[call-overload]
                        cost=cost, quality_prior=float(kw.pop("quality_prior", 0.8)),  # type: ignore[arg-type]
                        latency_prior_ms=float(kw.pop("latency_prior_ms", 500.0)))  # type: ignore[arg-type]
    for k, v in kw.items():
        setattr(spec, k, v)
    return spec


@pytest.fixture
def routerd(tmp_path: Path) -> Iterator[RouterdProcess]:
    with RouterdProcess(tmp_path / "routerd") as proc:
        yield proc


@pytest.fixture
def client(routerd: RouterdProcess) -> Iterator[Client]:
    c = Client(routerd.target)
    yield c
    c.close()
