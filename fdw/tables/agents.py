"""``tinydancer.agents``: one row per agent; ``name`` is the row id. SELECT, INSERT, UPDATE, DELETE."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask

from fdw.errors import FEATURE_NOT_SUPPORTED, NULL_VALUE_NOT_ALLOWED, fail
from fdw.tables.base import (
    Column,
    Columns,
    Row,
    TinyDancer,
    as_bool,
    as_float,
    as_int,
    as_list,
    changed_paths,
    eq_values,
    optional,
    paged,
    when,
)
from routerd.domain import AGENT_TYPES
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

AGENT_TYPE_HINT = f"agent_type is one of {', '.join(AGENT_TYPES)}."


def _metric(field: str) -> Any:
    return optional(field, lambda a: a.metrics)


class Agents(TinyDancer):
    resource = "agents"
    rowid_column = "name"
    # The columns of DESIGN.md ("Foreign tables"), then routerd's extra ones.
    COLUMNS = Columns(
        Column("name", "text", lambda a: a.spec.name),
        Column("agent_type", "text", lambda a: a.spec.agent_type),
        Column("capabilities", "text[]", lambda a: list(a.spec.capabilities)),
        Column("cost_per_1k_input_tokens", "float8", lambda a: a.spec.cost.per_1k_input_tokens),
        Column("cost_per_1k_output_tokens", "float8", lambda a: a.spec.cost.per_1k_output_tokens),
        Column("cost_per_call", "float8", lambda a: a.spec.cost.per_call),
        Column("cost_per_second", "float8", lambda a: a.spec.cost.per_second),
        Column("avg_latency_ms", "float8", _metric("avg_latency_ms")),
        Column("p95_latency_ms", "float8", _metric("p95_latency_ms")),
        Column("p99_latency_ms", "float8", _metric("p99_latency_ms")),
        Column("quality_score", "float8", lambda a: a.spec.quality_prior),
        Column("success_rate", "float8", _metric("success_rate")),
        Column("total_requests", "bigint", lambda a: a.metrics.total_requests),
        Column("active", "boolean", lambda a: a.spec.active),
        Column("health", "text", lambda a: a.metrics.health),
        Column("metadata", "jsonb", lambda a: a.spec.metadata_json or "{}"),
        Column("created_at", "timestamptz", lambda a: when(a.created_at)),
        Column("updated_at", "timestamptz", lambda a: when(a.updated_at)),
        Column("latency_prior_ms", "float8", lambda a: a.spec.latency_prior_ms),
        Column("expected_quality", "float8", lambda a: a.metrics.expected_quality),
        Column("typical_output_tokens", "integer", lambda a: a.spec.typical_output_tokens),
        Column("total_spend", "float8", lambda a: a.metrics.total_spend),
    )
    # Observed by routerd from outcomes: an UPDATE may not change them.
    OBSERVED = ("avg_latency_ms", "p95_latency_ms", "p99_latency_ms", "success_rate", "total_requests",
                "expected_quality", "total_spend", "health")
    FIELD_HINTS = {"agent.agent_type": AGENT_TYPE_HINT, "agent_type": AGENT_TYPE_HINT}

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1 if eq_values(quals, "name") else 100, 400)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        names = set(eq_values(quals, "name"))
        if len(names) > 1:
            return
        if names:
            a = self.rpc("GetAgent", pb.GetAgentRequest(name=names.pop()), missing_ok=True)
            if a is not None:
                yield self.COLUMNS.row(a, columns)
            return
        req = pb.ListAgentsRequest(page_size=1000)
        types = set(eq_values(quals, "agent_type"))
        if len(types) == 1:
            req.agent_type = types.pop()
        actives = {as_bool(v, "active") for v in eq_values(quals, "active")}
        if len(actives) == 1:
            req.active = bool(actives.pop())
        getters = self.COLUMNS.getters(columns)
        for a in paged(self.rpc, "ListAgents", req, "agents"):
            yield {name: get(a) for name, get in getters}

    @staticmethod
    def spec(values: Mapping[str, Any]) -> pb.AgentSpec:
        """The declared fields of a row; unset (NULL) ones are left to routerd's defaults."""
        if not values.get("agent_type"):
            fail("column agent_type must not be NULL", hint=AGENT_TYPE_HINT, sqlstate=NULL_VALUE_NOT_ALLOWED)
        spec = pb.AgentSpec(
            name=values.get("name") or "", agent_type=values.get("agent_type") or "",
            capabilities=as_list(values.get("capabilities"), "capabilities"),
            metadata_json=values.get("metadata") or "{}")
        for col, field in (("cost_per_1k_input_tokens", "per_1k_input_tokens"),
                           ("cost_per_1k_output_tokens", "per_1k_output_tokens"),
                           ("cost_per_call", "per_call"), ("cost_per_second", "per_second")):
            v = as_float(values.get(col), col)
            if v is not None:
                setattr(spec.cost, field, v)
        latency = as_float(values.get("latency_prior_ms"), "latency_prior_ms")
        if latency is None:  # the seed's register call gives the expected latency as avg_latency_ms
            latency = as_float(values.get("avg_latency_ms"), "avg_latency_ms")
        if latency is not None:
            spec.latency_prior_ms = latency
        quality = as_float(values.get("quality_score"), "quality_score")
        if quality is not None:
            spec.quality_prior = quality
        active = as_bool(values.get("active"), "active")
        if active is not None:
            spec.active = active
        tokens = as_int(values.get("typical_output_tokens"), "typical_output_tokens")
        if tokens is not None:
            spec.typical_output_tokens = tokens
        return spec

    def insert(self, values: dict[str, Any]) -> Row:
        return self.COLUMNS.row(self.rpc("RegisterAgent", pb.RegisterAgentRequest(agent=self.spec(values))))

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> Row:
        if newvalues.get("name") != rowid:
            fail("an agent cannot be renamed", hint="INSERT a new agent and DELETE the old one.",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        agent = self.rpc("GetAgent", pb.GetAgentRequest(name=rowid))
        current = self.COLUMNS.row(agent)
        for col in self.OBSERVED:
            new, old = newvalues.get(col), current[col]
            same = (new is None and old is None) or (
                new is not None and old is not None
                and (str(new) == str(old) if col == "health" else as_float(new, col) == float(old)))
            if not same:
                fail(f"column {col} is observed by routerd and cannot be set",
                     hint="Record outcomes (INSERT INTO tinydancer.outcomes) to change it.",
                     sqlstate=FEATURE_NOT_SUPPORTED)
        for col in ("agent_type", "quality_score", "latency_prior_ms", "active"):
            if newvalues.get(col) is None:
                fail(f"column {col} cannot be NULL", sqlstate=NULL_VALUE_NOT_ALLOWED)
        spec = self.spec(newvalues)
        # Send only what this UPDATE changed, so a concurrent change to another field is kept.
        # (Against the spec the current row declares, so fields no column shows are never sent.)
        paths = changed_paths(spec, self.spec(current), same={
            "metadata_json": lambda a, b: json.loads(a or "{}") == json.loads(b or "{}")})
        if not paths:
            return current
        req = pb.UpdateAgentRequest(name=rowid, agent=spec, update_mask=FieldMask(paths=paths))
        return self.COLUMNS.row(self.rpc("UpdateAgent", req))

    def delete(self, rowid: Any) -> Row:
        return self.COLUMNS.row(self.rpc("RemoveAgent", pb.RemoveAgentRequest(name=rowid)).agent)
