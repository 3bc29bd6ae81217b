"""Engine-side test helpers: a clock that moves only when told to, and readable agent specs."""

from __future__ import annotations

from routerd.domain import AgentSpec, CostModel

T0 = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


def spec(name: str, *, agent_type: str = "llm", capabilities: tuple[str, ...] = (), per_1k_input: float = 0.0,
         per_1k_output: float = 0.0, per_call: float = 0.0, per_second: float = 0.0, latency: float = 1000.0,
         quality: float = 0.5, metadata: str = "{}", active: bool = True, typical_output_tokens: int = 0) -> AgentSpec:
    """An AgentSpec with readable keyword names. ``typical_output_tokens`` defaults to 0 here so
    that a per-call price is the whole estimated cost unless a test says otherwise."""
    return AgentSpec(name=name, agent_type=agent_type, capabilities=capabilities,
                     cost=CostModel(per_1k_input, per_1k_output, per_call, per_second),
                     latency_prior_ms=latency, quality_prior=quality, metadata=metadata, active=active,
                     typical_output_tokens=typical_output_tokens)
