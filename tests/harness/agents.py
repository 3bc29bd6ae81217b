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


# Four agents of distinct price, speed and quality, registered through SQL (tests/sql, bench/bench_sql.py).
SQL_AGENTS = """
INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens,
                               cost_per_1k_output_tokens, latency_prior_ms, quality_score)
VALUES ('premium', 'llm', '{coding,reasoning}', 0.03, 0.06, 900, 0.95),
       ('standard', 'llm', '{coding,general}', 0.001, 0.002, 400, 0.80),
       ('budget', 'llm', '{general}', 0.0001, 0.0002, 150, 0.60),
       ('vision', 'multimodal', '{vision,general}', 0.01, 0.03, 1200, 0.85)
"""
