"""Agent sets the tests register, over gRPC and through SQL."""

from __future__ import annotations

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb


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
