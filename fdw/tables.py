"""The tinydancer foreign tables: thin translators between SQL rows and routerd's gRPC API.

Written against Multicorn2's Python API and its portability rules (bridge spec §4.4), so they run on
our bridge and on Multicorn2 3.x alike: qual and insert values arrive as text for float8, bool, int8,
timestamptz and json and are coerced here; rows are dicts; json goes out as text; no None inside
lists; ``rowid_column`` is a non-null key; ``update``/``delete`` receive the rowid value.

The server's wrapper is ``fdw.TinyDancer``; each table's ``resource`` option picks its class.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from multicorn import ANY, ColumnDefinition, ForeignDataWrapper, TableDefinition
from multicorn.utils import ERROR, log_to_postgres

from fdw.connection import RoutedError, call, stubs
from fdw.options import OptionError, Settings, parse_options
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

# The column contract of DESIGN.md ("Foreign tables"), plus a few useful extra columns.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "agents": [
        ("name", "text"), ("agent_type", "text"), ("capabilities", "text[]"),
        ("cost_per_1k_input_tokens", "float8"), ("cost_per_1k_output_tokens", "float8"),
        ("cost_per_call", "float8"), ("cost_per_second", "float8"),
        ("avg_latency_ms", "float8"), ("p95_latency_ms", "float8"), ("p99_latency_ms", "float8"),
        ("quality_score", "float8"), ("success_rate", "float8"), ("total_requests", "bigint"),
        ("active", "boolean"), ("health", "text"), ("metadata", "jsonb"),
        ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
        ("latency_prior_ms", "float8"), ("expected_quality", "float8"), ("typical_output_tokens", "integer"),
        ("total_spend", "float8"),
    ],
    "decisions": [
        ("request", "text"), ("request_embedding", "float4[]"), ("optimize_for", "text"),
        ("required_capabilities", "text[]"), ("excluded_agents", "text[]"), ("max_cost", "float8"),
        ("max_latency_ms", "float8"), ("min_quality", "float8"), ("budget_remaining", "float8"),
        ("willingness_to_pay", "float8"), ("input_tokens", "integer"), ("output_tokens", "integer"),
        ("decision_id", "text"), ("agent_name", "text"), ("confidence", "float8"), ("estimated_cost", "float8"),
        ("estimated_latency_ms", "float8"), ("expected_quality", "float8"), ("similarity", "float8"),
        ("reasoning", "text"), ("alternatives", "jsonb"), ("model_version", "text"),
        ("decided_at", "timestamptz"), ("routed", "boolean"),
    ],
    "outcomes": [
        ("decision_id", "text"), ("agent_name", "text"), ("recorded_at", "timestamptz"), ("latency_ms", "float8"),
        ("success", "boolean"), ("quality", "float8"), ("cost", "float8"), ("input_tokens", "integer"),
        ("output_tokens", "integer"), ("outcome_id", "text"),
    ],
    "capability_matches": [
        ("capability", "text"), ("top_k", "integer"), ("active_only", "boolean"),
        ("name", "text"), ("similarity", "float8"), ("agent_type", "text"), ("capabilities", "text[]"),
        ("quality_score", "float8"), ("expected_quality", "float8"), ("cost_per_call", "float8"),
        ("active", "boolean"), ("avg_latency_ms", "float8"), ("latency_prior_ms", "float8"),
    ],
    "stats": [
        ("agents", "bigint"), ("active_agents", "bigint"), ("decisions", "bigint"), ("outcomes", "bigint"),
        ("total_spend", "float8"), ("mean_quality", "float8"), ("success_rate", "float8"),
        ("open_circuits", "bigint"), ("model_version", "text"),
    ],
}
DECISION_INPUTS = ("request", "request_embedding", "optimize_for", "required_capabilities", "excluded_agents",
                   "max_cost", "max_latency_ms", "min_quality", "budget_remaining", "willingness_to_pay",
                   "input_tokens", "output_tokens")
BATCH_CHUNK = 5000  # requests per BatchRoute call; each chunk gets its own deadline


def fail(message: str, hint: str | None = None, detail: str | None = None) -> NoReturn:
    log_to_postgres(message, ERROR, hint=hint, detail=detail)
    raise AssertionError("unreachable: log_to_postgres(ERROR) raises")


# -- coercion of values that arrive from PostgreSQL (text on both bridge and Multicorn2) ---------

def as_float(value: Any, column: str) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        fail(f"column {column}: {value!r} is not a number")
    if math.isnan(f) or math.isinf(f):
        fail(f"column {column}: must be a finite number, not {value}")
    return f


def as_int(value: Any, column: str) -> int | None:
    f = as_float(value, column)
    if f is None:
        return None
    if f != int(f):
        fail(f"column {column}: must be an integer, not {value}")
    return int(f)


def as_bool(value: Any, column: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("t", "true", "on", "1", "yes", "y"):
        return True
    if text in ("f", "false", "off", "0", "no", "n"):
        return False
    fail(f"column {column}: {value!r} is not a boolean")


def as_list(value: Any, column: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        fail(f"column {column}: expected an array, got {value!r}")
    out = [str(v) for v in value if v is not None]
    if len(out) != len(list(value)):
        fail(f"column {column}: array elements must not be NULL")
    return out


def as_time(value: Any, column: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value))
        except ValueError:
            fail(f"column {column}: cannot read the time {value!r}",
                 hint="Use ISO 8601, e.g. '2026-01-31 12:00:00+00' (SET datestyle = 'ISO').")
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def timestamp(t: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(t.astimezone(UTC))
    return ts


def iso(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).isoformat()


def opt(msg: Any, field: str) -> Any:
    return getattr(msg, field) if msg.HasField(field) else None


def inputs_from_quals(quals: Iterable[Any], inputs: tuple[str, ...]) -> dict[str, Any] | None:
    """The ``input = value`` quals of a virtual table, or None when they contradict each other (or
    one is ``= NULL``), so no row can match. Any other operator on an input is an error."""
    given: dict[str, Any] = {}
    for q in quals:
        name = q.field_name
        if name not in inputs:
            continue  # an output column: PostgreSQL filters on it
        if q.operator != "=" or q.is_list_operator:
            fail(f"input column {name} must be compared with =",
                 hint=f"Write WHERE {name} = ... (the inputs are values, not ranges).")
        if q.value is None or (name in given and given[name] != q.value):
            return None
        given[name] = q.value
    return given


def eq_values(quals: Iterable[Any], column: str) -> list[Any]:
    """Values of ``column = value`` quals (several may apply; all must hold)."""
    return [q.value for q in quals if q.field_name == column and q.operator == "="]


# -- the wrapper --------------------------------------------------------------------------------

class TinyDancer(ForeignDataWrapper):
    """Base of the tinydancer tables; constructing it returns the class of the table's resource."""

    resource = ""

    def __new__(cls, options: Mapping[str, str], columns: Mapping[str, Any]) -> TinyDancer:
        if cls is TinyDancer:
            cls = RESOURCES.get(options.get("resource", ""), TinyDancer)
        obj: TinyDancer = super().__new__(cls)
        return obj

    def __init__(self, options: Mapping[str, str], columns: Mapping[str, Any]):
        super().__init__(options, columns)
        try:
            self.settings: Settings = parse_options(options)
        except OptionError as e:
            fail(str(e), hint=e.hint)
        self.columns = columns

    def rpc(self, method: str, request: Any, *, timeout_s: float | None = None, missing_ok: bool = False) -> Any:
        """Call routerd; failures become a PostgreSQL ERROR (NOT_FOUND gives None if ``missing_ok``)."""
        s = stubs(self.settings)
        service = {"Route": s.router, "BatchRoute": s.router, "RecordOutcome": s.feedback,
                   "ListOutcomes": s.feedback, "RoutingStats": s.analytics}.get(method, s.registry)
        try:
            return call(self.settings, method, getattr(service, method), request, timeout_s=timeout_s)
        except RoutedError as e:
            # A name that cannot exist (INVALID_ARGUMENT) is as missing as one that does not.
            if missing_ok and e.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            fail(e.message, e.hint, e.detail)

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (100, 100 * max(len(self.columns), 1))

    @classmethod
    def import_schema(cls, schema: str, srv_options: Mapping[str, str], options: Mapping[str, str],
                      restriction_type: str | None, restricts: list[str]) -> list[TableDefinition]:
        if schema != "tinydancer":
            fail(f'routerd has no schema "{schema}"',
                 hint="IMPORT FOREIGN SCHEMA tinydancer FROM SERVER routerd INTO tinydancer")
        return [TableDefinition(name, columns=[ColumnDefinition(c, type_name=t) for c, t in cols],
                                options={"resource": name})
                for name, cols in COLUMNS.items()]


class Agents(TinyDancer):
    """One row per agent; ``name`` is the row id. SELECT, INSERT, UPDATE, DELETE."""

    resource = "agents"
    rowid_column = "name"
    READ_ONLY_NUMBERS = ("avg_latency_ms", "p95_latency_ms", "p99_latency_ms", "success_rate",
                         "total_requests", "expected_quality", "total_spend")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1 if eq_values(quals, "name") else 100, 400)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        names = set(eq_values(quals, "name"))
        if len(names) > 1:
            return
        if names:
            a = self.rpc("GetAgent", pb.GetAgentRequest(name=names.pop()), missing_ok=True)
            if a is not None:
                yield self.row(a)
            return
        req = pb.ListAgentsRequest(page_size=1000)
        types = set(eq_values(quals, "agent_type"))
        if len(types) == 1:
            req.agent_type = types.pop()
        actives = {as_bool(v, "active") for v in eq_values(quals, "active")}
        if len(actives) == 1:
            req.active = bool(actives.pop())
        for a in self._list(req):
            yield self.row(a)

    def _list(self, req: pb.ListAgentsRequest) -> Iterator[pb.Agent]:
        while True:
            resp = self.rpc("ListAgents", req)
            yield from resp.agents
            if not resp.next_page_token:
                return
            req.page_token = resp.next_page_token

    @staticmethod
    def row(a: pb.Agent) -> dict[str, Any]:
        s, m = a.spec, a.metrics
        return {
            "name": s.name, "agent_type": s.agent_type, "capabilities": list(s.capabilities),
            "cost_per_1k_input_tokens": s.cost.per_1k_input_tokens,
            "cost_per_1k_output_tokens": s.cost.per_1k_output_tokens,
            "cost_per_call": s.cost.per_call, "cost_per_second": s.cost.per_second,
            "avg_latency_ms": opt(m, "avg_latency_ms"), "p95_latency_ms": opt(m, "p95_latency_ms"),
            "p99_latency_ms": opt(m, "p99_latency_ms"), "quality_score": s.quality_prior,
            "success_rate": opt(m, "success_rate"), "total_requests": m.total_requests, "active": s.active,
            "health": m.health, "metadata": s.metadata_json or "{}", "created_at": iso(a.created_at),
            "updated_at": iso(a.updated_at), "latency_prior_ms": s.latency_prior_ms,
            "expected_quality": m.expected_quality, "typical_output_tokens": s.typical_output_tokens,
            "total_spend": m.total_spend,
        }

    @staticmethod
    def spec(values: Mapping[str, Any]) -> pb.AgentSpec:
        """The declared fields of a row; unset (NULL) ones are left to routerd's defaults."""
        if not values.get("agent_type"):
            fail("column agent_type must not be NULL",
                 hint="One of llm, tool, api, human, ensemble, embedding, vision, audio, multimodal, custom.")
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

    def insert(self, values: dict[str, Any]) -> dict[str, Any]:
        return self.row(self.rpc("RegisterAgent", pb.RegisterAgentRequest(agent=self.spec(values))))

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> dict[str, Any]:
        if newvalues.get("name") != rowid:
            fail("an agent cannot be renamed", hint="INSERT a new agent and DELETE the old one.")
        current = self.row(self.rpc("GetAgent", pb.GetAgentRequest(name=rowid)))
        for col in (*self.READ_ONLY_NUMBERS, "health"):
            new = newvalues.get(col)
            old = current[col]
            same = (new is None and old is None) or (
                new is not None and old is not None
                and (str(new) == str(old) if col == "health" else as_float(new, col) == float(old)))
            if not same:
                fail(f"column {col} is observed by routerd and cannot be set",
                     hint="Record outcomes (INSERT INTO tinydancer.outcomes) to change it.")
        for col in ("agent_type", "quality_score", "latency_prior_ms", "active"):
            if newvalues.get(col) is None:
                fail(f"column {col} cannot be NULL")
        spec = self.spec(newvalues)
        old = self.spec(current)
        # Send only what this UPDATE changed, so a concurrent change to another field is kept.
        paths = [p for p in ("agent_type", "capabilities", "latency_prior_ms", "quality_prior", "metadata_json",
                             "active", "typical_output_tokens")
                 if getattr(spec, p) != getattr(old, p) and not (p == "metadata_json" and
                                                                  json.loads(spec.metadata_json or "{}")
                                                                  == json.loads(old.metadata_json or "{}"))]
        paths += [f"cost.{f}" for f in ("per_1k_input_tokens", "per_1k_output_tokens", "per_call", "per_second")
                  if getattr(spec.cost, f) != getattr(old.cost, f)]
        if not paths:
            return current
        req = pb.UpdateAgentRequest(name=rowid, agent=spec, update_mask=FieldMask(paths=paths))
        return self.row(self.rpc("UpdateAgent", req))

    def delete(self, rowid: Any) -> dict[str, Any]:
        return self.row(self.rpc("RemoveAgent", pb.RemoveAgentRequest(name=rowid)).agent)


class Decisions(TinyDancer):
    """Virtual: the inputs are given in WHERE (or by a join on ``request``/``request_embedding``) and
    echoed back as given, so PostgreSQL's recheck of the WHERE clause passes."""

    resource = "decisions"

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        return [(("request",), 1), (("request_embedding",), 1)]

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        for q in quals:
            if q.field_name == "request" and q.is_list_operator and isinstance(q.value, list):
                return (max(len(q.value), 1), 600)
            if q.field_name in ("request", "request_embedding") and q.operator == "=":
                return (1, 600)
        # Without a request the scan is an error: make every plan that supplies one cheaper.
        return (100_000_000, 600)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        batch: list[str] | None = None
        for q in quals:
            if q.field_name == "request" and q.is_list_operator:
                if q.operator[0] != "=" or q.list_any_or_all is not ANY:
                    fail("request can be given as request = 'text' or request = ANY(array)")
                items = list(OrderedDict.fromkeys(v for v in q.value if v is not None))
                batch = items if batch is None else [r for r in items if r in set(batch)]
        found = inputs_from_quals([q for q in quals if not (q.field_name == "request" and q.is_list_operator)],
                                  DECISION_INPUTS)
        if found is None:
            return
        given = found
        if batch is not None and "request" in given:
            batch = [r for r in batch if r == given["request"]]
        if batch is None and "request" not in given and "request_embedding" not in given:
            fail("tinydancer.decisions needs a request to route",
                 hint="Add WHERE request = '...' (or request = ANY(array), or request_embedding = '{...}'), "
                      "or join on request: FROM requests r JOIN tinydancer.decisions d ON d.request = r.body.")
        template = self.route_request(given)
        wanted = set(columns) if columns is not None else None
        if wanted is not None and "alternatives" not in wanted:
            template.max_alternatives = 0  # nobody reads them: routerd need not explain them
        if batch is None:
            yield self.row(given, self.rpc("Route", template), wanted)
            return
        for start in range(0, len(batch), BATCH_CHUNK):
            chunk = batch[start:start + BATCH_CHUNK]
            reqs = []
            for text in chunk:
                r = pb.RouteRequest()
                r.CopyFrom(template)
                r.request = text
                reqs.append(r)
            resp = self.rpc("BatchRoute", pb.BatchRouteRequest(requests=reqs),
                            timeout_s=self.settings.timeout_s * (1 + len(chunk) / 1000))
            for text, d in zip(chunk, resp.decisions, strict=True):
                yield self.row({**given, "request": text}, d, wanted)

    @staticmethod
    def route_request(given: Mapping[str, Any]) -> pb.RouteRequest:
        r = pb.RouteRequest(request=given.get("request") or "", objective=given.get("optimize_for") or "")
        if given.get("request_embedding") is not None:
            emb = given["request_embedding"]
            if not isinstance(emb, list):
                fail("request_embedding must be a float4[] array")
            r.embedding.extend(as_float(v, "request_embedding") or 0.0 for v in emb)
        c = r.constraints
        c.required_capabilities.extend(as_list(given.get("required_capabilities"), "required_capabilities"))
        c.excluded_agents.extend(as_list(given.get("excluded_agents"), "excluded_agents"))
        for col in ("max_cost", "max_latency_ms", "min_quality"):
            v = as_float(given.get(col), col)
            if v is not None:
                setattr(c, col, v)
        for col in ("budget_remaining", "willingness_to_pay"):
            v = as_float(given.get(col), col)
            if v is not None:
                setattr(r, col, v)
        for col in ("input_tokens", "output_tokens"):
            n = as_int(given.get(col), col)
            if n is not None:
                setattr(r, col, n)
        return r

    @staticmethod
    def row(given: Mapping[str, Any], d: pb.RouteDecision, wanted: set[str] | None = None) -> dict[str, Any]:
        """The decision as a row; with ``wanted`` (the columns the query reads), only those."""
        out: dict[str, Any] = {k: given.get(k) for k in DECISION_INPUTS}
        if wanted is not None and not wanted - out.keys():
            return out  # only inputs are read (count(*), or a join key)
        alternatives = [{"agent_name": a.agent_name, "score": opt(a, "score"), "feasible": a.feasible,
                         "reason": a.reason, "estimated_cost": a.estimated_cost,
                         "estimated_latency_ms": a.estimated_latency_ms, "expected_quality": a.expected_quality}
                        for a in d.alternatives] if wanted is None or "alternatives" in wanted else None
        out.update({
            "decision_id": d.decision_id, "agent_name": d.agent_name or None,
            "confidence": d.confidence if d.routed else None,
            "estimated_cost": d.estimated_cost if d.routed else None,
            "estimated_latency_ms": d.estimated_latency_ms if d.routed else None,
            "expected_quality": d.expected_quality if d.routed else None,
            "similarity": d.similarity if d.routed else None, "reasoning": d.reasoning,
            "alternatives": None if alternatives is None else json.dumps(alternatives),
            "model_version": d.model_version,
            "decided_at": iso(d.decided_at), "routed": d.routed,
        })
        return out


class Outcomes(TinyDancer):
    """INSERT records an outcome; SELECT reads the log, with time-range quals pushed down."""

    resource = "outcomes"
    rowid_column = "outcome_id"

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        req = pb.ListOutcomesRequest(page_size=10_000)
        start: datetime | None = None
        end: datetime | None = None
        for q in quals:
            if q.is_list_operator or q.value is None:
                continue
            if q.field_name == "recorded_at":
                # Pushdown is a hint: PostgreSQL rechecks every qual, so an unreadable time is skipped.
                try:
                    t = as_time(q.value, "recorded_at")
                except Exception:
                    continue
                assert t is not None
                if q.operator in (">", ">=", "="):
                    start = t if start is None else max(start, t)
                if q.operator in ("<", "<=", "="):
                    # the API's end is exclusive; a microsecond covers <= and =
                    bound = t if q.operator == "<" else t.replace(microsecond=t.microsecond) + _MICROSECOND
                    end = bound if end is None else min(end, bound)
            elif q.field_name == "agent_name" and q.operator == "=":
                req.agent_name = q.value
            elif q.field_name == "decision_id" and q.operator == "=":
                req.decision_id = q.value
        if start is not None:
            req.start.CopyFrom(timestamp(start))
        if end is not None:
            req.end.CopyFrom(timestamp(end))
        while True:
            resp = self.rpc("ListOutcomes", req)
            for o in resp.outcomes:
                yield self.row(o)
            if not resp.next_page_token:
                return
            req.page_token = resp.next_page_token

    @staticmethod
    def row(o: pb.Outcome) -> dict[str, Any]:
        return {"decision_id": o.decision_id or None, "agent_name": o.agent_name, "recorded_at": iso(o.recorded_at),
                "latency_ms": o.latency_ms, "success": o.success, "quality": opt(o, "quality"),
                "cost": opt(o, "cost"), "input_tokens": o.input_tokens, "output_tokens": o.output_tokens,
                "outcome_id": o.outcome_id}

    def insert(self, values: dict[str, Any]) -> dict[str, Any]:
        latency = as_float(values.get("latency_ms"), "latency_ms")
        success = as_bool(values.get("success"), "success")
        if latency is None or success is None:
            fail("an outcome needs latency_ms and success",
                 hint="INSERT INTO tinydancer.outcomes (decision_id, latency_ms, success, quality) VALUES (...)")
        req = pb.RecordOutcomeRequest(decision_id=values.get("decision_id") or "",
                                      agent_name=values.get("agent_name") or "", latency_ms=latency, success=success,
                                      input_tokens=as_int(values.get("input_tokens"), "input_tokens") or 0,
                                      output_tokens=as_int(values.get("output_tokens"), "output_tokens") or 0)
        for col in ("quality", "cost"):
            v = as_float(values.get(col), col)
            if v is not None:
                setattr(req, col, v)
        at = as_time(values.get("recorded_at"), "recorded_at")
        if at is not None:
            req.recorded_at.CopyFrom(timestamp(at))
        return self.row(self.rpc("RecordOutcome", req).outcome)

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> NoReturn:
        fail("tinydancer.outcomes is append-only", hint="Record a new outcome instead.")

    def delete(self, rowid: Any) -> NoReturn:
        fail("tinydancer.outcomes is append-only", hint="Outcomes are the log routerd learns from.")


class CapabilityMatches(TinyDancer):
    """Virtual: agents ranked by how well their capabilities match ``capability`` (free text),
    with ``top_k`` (default 10) and ``active_only`` (default false) as optional inputs."""

    resource = "capability_matches"
    INPUTS = ("capability", "top_k", "active_only")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (10 if eq_values(quals, "capability") else 100_000_000, 200)

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        return [(("capability",), 10)]

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        given = inputs_from_quals(quals, self.INPUTS)
        if given is None:
            return
        if not given.get("capability"):
            fail("tinydancer.capability_matches needs a capability to match",
                 hint="Add WHERE capability = 'text describing what the agent must do'.")
        top_k = as_int(given.get("top_k"), "top_k")
        active_only = as_bool(given.get("active_only"), "active_only")
        req = pb.FindAgentsByCapabilityRequest(capability=given["capability"], limit=10 if top_k is None else top_k,
                                               active_only=bool(active_only))
        for m in self.rpc("FindAgentsByCapability", req).matches:
            s = m.agent.spec
            yield {"capability": given["capability"], "top_k": given.get("top_k"),
                   "active_only": given.get("active_only"), "name": s.name, "similarity": m.similarity,
                   "agent_type": s.agent_type, "capabilities": list(s.capabilities), "quality_score": s.quality_prior,
                   "expected_quality": m.agent.metrics.expected_quality, "cost_per_call": s.cost.per_call,
                   "active": s.active, "avg_latency_ms": opt(m.agent.metrics, "avg_latency_ms"),
                   "latency_prior_ms": s.latency_prior_ms}


class Stats(TinyDancer):
    """One row of routing statistics."""

    resource = "stats"

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        s = self.rpc("RoutingStats", pb.RoutingStatsRequest())
        yield {"agents": s.agents, "active_agents": s.active_agents, "decisions": s.decisions,
               "outcomes": s.outcomes, "total_spend": s.total_spend, "mean_quality": opt(s, "mean_quality"),
               "success_rate": opt(s, "success_rate"), "open_circuits": s.open_circuits,
               "model_version": s.model_version}


RESOURCES: dict[str, type[TinyDancer]] = {c.resource: c for c in (Agents, Decisions, Outcomes, CapabilityMatches,
                                                                   Stats)}
_MICROSECOND = datetime.fromtimestamp(1e-6, UTC) - datetime.fromtimestamp(0, UTC)
