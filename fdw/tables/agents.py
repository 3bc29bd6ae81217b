"""``tinydancer.agents``: one row per agent; ``name`` is the row id. SELECT, INSERT, UPDATE, DELETE."""

from __future__ import annotations

import json
from collections import OrderedDict
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
    as_time,
    changed_paths,
    eq_values,
    optional,
    paged,
    when,
)
from routerd.domain import AGENT_TYPES
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

AGENT_TYPE_HINT = f"agent_type is one of {', '.join(AGENT_TYPES)}."
OUTCOMES_HINT = "Record outcomes (INSERT INTO tinydancer.outcomes) to change it."
# The columns an agent's owner sets, and routerd's default for each (AgentSpec in the proto). INSERT
# leaves a NULL one to that default; UPDATE refuses NULL (it would store the proto's zero, not the default).
SETTABLE = {"agent_type": None, "capabilities": "'{}'", "cost_per_1k_input_tokens": "0",
            "cost_per_1k_output_tokens": "0", "cost_per_call": "0", "cost_per_second": "0",
            "latency_prior_ms": "1000", "quality_score": "0.5", "active": "true", "metadata": "'{}'",
            "typical_output_tokens": "256"}
SCANNED_ROWS = 10_000  # rows an UPDATE may have scanned before it writes them (see Agents.update)


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
    # Set by routerd, never by a statement: INSERT may not give them (avg_latency_ms excepted, see spec).
    ROUTERD_SET = (*(c for c in OBSERVED if c != "avg_latency_ms"), "created_at", "updated_at")
    FIELD_HINTS = {"agent.agent_type": AGENT_TYPE_HINT, "agent_type": AGENT_TYPE_HINT}

    def __init__(self, options: Mapping[str, str], columns: Mapping[str, Any], client: Any = None):
        super().__init__(options, columns, client)
        # The full rows scans returned, by name: an UPDATE compares its new row with the row its own
        # scan read, not with routerd's current one (which outcomes may have changed meanwhile).
        self._scanned: OrderedDict[str, Row] = OrderedDict()

    def _remember(self, row: Row) -> Row:
        self._scanned[row["name"]] = row
        self._scanned.move_to_end(row["name"])
        if len(self._scanned) > SCANNED_ROWS:
            self._scanned.popitem(last=False)
        return row

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1 if eq_values(quals, "name") else 100, 400)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        full = columns is None or set(self.COLUMNS.names) <= set(columns)  # an UPDATE's scan reads all
        names = set(eq_values(quals, "name"))
        if len(names) > 1:
            return
        if names:
            a = self.rpc("GetAgent", pb.GetAgentRequest(name=names.pop()), missing_ok=True)
            if a is not None:
                row = self.COLUMNS.row(a, columns)
                yield self._remember(row) if full else row
            return
        req = pb.ListAgentsRequest(page_size=1000)
        # Filters are filters: a value routerd would reject (an unknown agent_type) matches no row.
        types = set(eq_values(quals, "agent_type"))
        if len(types) > 1 or (types and not types <= set(AGENT_TYPES)):
            return
        if types:
            req.agent_type = types.pop()
        actives = {as_bool(v, "active") for v in eq_values(quals, "active")}
        if None in actives or len(actives) > 1:
            return
        if actives:
            req.active = bool(actives.pop())
        getters = self.COLUMNS.getters(columns)
        for a in paged(self.rpc, "ListAgents", req, "agents"):
            row = {name: get(a) for name, get in getters}
            yield self._remember(row) if full else row

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
        # the seed's register call gives the expected latency as avg_latency_ms
        latency_col = "latency_prior_ms" if values.get("latency_prior_ms") is not None else "avg_latency_ms"
        for col, field, convert in ((latency_col, "latency_prior_ms", as_float),
                                    ("quality_score", "quality_prior", as_float),
                                    ("active", "active", as_bool),
                                    ("typical_output_tokens", "typical_output_tokens", as_int)):
            v = convert(values.get(col), col)
            if v is not None:
                setattr(spec, field, v)
        return spec

    def insert(self, values: dict[str, Any]) -> Row:
        for col in self.ROUTERD_SET:
            if values.get(col) is not None:
                fail(f"column {col} is set by routerd and cannot be given to INSERT",
                     hint=OUTCOMES_HINT if col in self.OBSERVED else "Leave it out: routerd sets it.",
                     sqlstate=FEATURE_NOT_SUPPORTED)
        prior, avg = values.get("latency_prior_ms"), values.get("avg_latency_ms")
        if prior is not None and avg is not None and as_float(prior, "latency_prior_ms") != as_float(
                avg, "avg_latency_ms"):
            fail("give the expected latency once: latency_prior_ms and avg_latency_ms differ",
                 hint="At registration avg_latency_ms is read as latency_prior_ms (the seed's name); "
                      "give only latency_prior_ms.")
        return self.COLUMNS.row(self.rpc("RegisterAgent", pb.RegisterAgentRequest(agent=self.spec(values))))

    @staticmethod
    def _same(col: str, new: Any, old: Any) -> bool:
        if new is None or old is None:
            return new is None and old is None
        if col == "health":
            return str(new) == str(old)
        if col in ("created_at", "updated_at"):
            try:
                return as_time(new, col) == as_time(old, col)
            except Exception:  # a DateStyle fromisoformat cannot read: it came from the scan unchanged
                return True
        return as_float(new, col) == float(old)

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> Row:
        if newvalues.get("name") != rowid:
            fail("an agent cannot be renamed", hint="INSERT a new agent and DELETE the old one.",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        # The row this statement's scan returned: an observed column the statement did not set is
        # exactly as scanned, however outcomes changed routerd's copy meanwhile.
        current = self._scanned.pop(rowid, None)
        if current is None:
            current = self.COLUMNS.row(self.rpc("GetAgent", pb.GetAgentRequest(name=rowid)))
        for col in (*self.OBSERVED, "created_at", "updated_at"):
            if not self._same(col, newvalues.get(col), current[col]):
                fail(f"column {col} is {'observed' if col in self.OBSERVED else 'set'} by routerd and cannot be set",
                     hint=OUTCOMES_HINT if col in self.OBSERVED else "routerd sets it.",
                     sqlstate=FEATURE_NOT_SUPPORTED)
        for col, default in SETTABLE.items():
            if newvalues.get(col) is None:
                fail(f"column {col} cannot be set to NULL", sqlstate=NULL_VALUE_NOT_ALLOWED,
                     hint=AGENT_TYPE_HINT if default is None else f"routerd's default is {default}: "
                          f"SET {col} = {default}.")
        spec = self.spec(newvalues)
        # Send only what this UPDATE changed, so a concurrent change to another field is kept.
        # (Against the spec the scanned row declares, so fields no column shows are never sent.)
        paths = changed_paths(spec, self.spec(current), same={
            "metadata_json": lambda a, b: json.loads(a or "{}") == json.loads(b or "{}")})
        if not paths:
            return current
        req = pb.UpdateAgentRequest(name=rowid, agent=spec, update_mask=FieldMask(paths=paths))
        return self.COLUMNS.row(self.rpc("UpdateAgent", req))

    def delete(self, rowid: Any) -> Row:
        return self.COLUMNS.row(self.rpc("RemoveAgent", pb.RemoveAgentRequest(name=rowid)).agent)
