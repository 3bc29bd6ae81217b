"""``tinydancer.capability_matches``: virtual. Agents ranked by how well their capabilities match
``capability`` (free text), with ``top_k`` (default 10) and ``active_only`` (default false) as
optional inputs, echoed back as given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from fdw.errors import NULL_VALUE_NOT_ALLOWED, fail
from fdw.tables.base import (
    GUARD,
    Column,
    Columns,
    Row,
    TinyDancer,
    as_bool,
    as_int,
    eq_values,
    inputs_from_quals,
    read_only,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

INPUTS = ("capability", "top_k", "active_only")


class CapabilityMatches(TinyDancer):
    resource = "capability_matches"
    COLUMNS = Columns(
        Column("capability", "text"), Column("top_k", "integer"), Column("active_only", "boolean"),
        Column("name", "text", lambda m: m.agent.spec.name),
        Column("similarity", "float8", lambda m: m.similarity),
        Column("agent_type", "text", lambda m: m.agent.spec.agent_type),
        Column("capabilities", "text[]", lambda m: list(m.agent.spec.capabilities)),
        Column("quality_score", "float8", lambda m: m.agent.spec.quality_prior),
        Column("expected_quality", "float8", lambda m: m.agent.metrics.expected_quality),
        Column("cost_per_call", "float8", lambda m: m.agent.spec.cost.per_call),
        Column("active", "boolean", lambda m: m.agent.spec.active),
        Column("avg_latency_ms", "float8",
               lambda m: m.agent.metrics.avg_latency_ms if m.agent.metrics.HasField("avg_latency_ms") else None),
        Column("latency_prior_ms", "float8", lambda m: m.agent.spec.latency_prior_ms),
    )

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("capability_matches", "Change the agents' capabilities: UPDATE tinydancer.agents.")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        # As decisions (fdw.tables.base.GUARD): about 10 matches for a capability.
        return (10, GUARD // 10) if eq_values(quals, "capability") else (GUARD, 1)

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        # Every input a join may supply, largest first (see fdw.tables.decisions: Multicorn2 passes
        # only the clauses of the key that wins, the first added of equal cost).
        # 1 row a key, as decisions: a larger figure times many outer rows passes GUARD, and the
        # planner then drops the parameterized path for the plain scan, which has no capability.
        return [(("capability", "top_k", "active_only"), 1), (("capability", "top_k"), 1),
                (("capability", "active_only"), 1), (("capability",), 1)]

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        given = inputs_from_quals(quals, INPUTS)
        if given is None:
            return
        if not given.get("capability"):
            fail("tinydancer.capability_matches needs a capability to match",
                 hint="Add WHERE capability = 'text describing what the agent must do'.",
                 sqlstate=NULL_VALUE_NOT_ALLOWED)
        top_k = as_int(given.get("top_k"), "top_k")
        active_only = as_bool(given.get("active_only"), "active_only")
        req = pb.FindAgentsByCapabilityRequest(capability=given["capability"], limit=10 if top_k is None else top_k,
                                               active_only=bool(active_only))
        echo = {k: given.get(k) for k in INPUTS}
        getters = self.COLUMNS.getters(columns)
        for m in self.rpc("FindAgentsByCapability", req).matches:
            yield {**echo, **{name: get(m) for name, get in getters}}
