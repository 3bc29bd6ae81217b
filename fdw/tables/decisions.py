"""``tinydancer.decisions``: virtual. The inputs are given in WHERE (or by a join on ``request`` /
``request_embedding``) and echoed back as given, so PostgreSQL's recheck of the WHERE clause passes;
the other columns are routerd's decision.

Three ways in, one request template:
- ``request = 'text'`` / ``request_embedding = '{...}'`` (constants, parameters or a join's outer
  row): one Route call per scan;
- ``request = ANY(array)``: one BatchRoute call per 5,000 distinct texts;
- ``batch = 'handle'``: a batch staged by ``INSERT INTO tinydancer.batches`` (texts *with*
  embeddings, see ``fdw.tables.batches``), one BatchRoute call per 5,000 requests; ``position`` is
  each row's 1-based place in the staged arrays.

Only what the query reads is built: routerd is asked for ``reasoning`` and ``alternatives`` only
when those columns are read, and a row holds only the columns in ``columns``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fdw.errors import FEATURE_NOT_SUPPORTED, fail, notice
from fdw.tables import routing
from fdw.tables.base import (
    ANY,
    GUARD,
    Column,
    Columns,
    Row,
    TinyDancer,
    inputs_from_quals,
    when,
)
from fdw.tables.routing import (
    EMBEDDING_HINT,
    INPUT_TYPES,
    INPUTS,
    OBJECTIVE_HINT,
    batch_request,
    route_request,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

BATCH_CHUNK = 5000  # requests per BatchRoute call; each chunk gets its own deadline


def _routed(field: str) -> Any:
    def read(d: pb.RouteDecision) -> Any:
        return getattr(d, field) if d.routed else None
    return read


def _alternatives(d: pb.RouteDecision) -> str:
    return json.dumps([{"agent_name": a.agent_name, "score": a.score if a.HasField("score") else None,
                        "feasible": a.feasible, "reason": a.reason, "estimated_cost": a.estimated_cost,
                        "estimated_latency_ms": a.estimated_latency_ms, "expected_quality": a.expected_quality}
                       for a in d.alternatives])


# Inputs first (no getter: echoed from the quals), then the decision.
COLUMNS = Columns(
    *(Column(n, t) for n, t in zip(INPUTS, INPUT_TYPES, strict=True)),
    Column("decision_id", "text", lambda d: d.decision_id),
    Column("agent_name", "text", lambda d: d.agent_name or None),
    Column("confidence", "float8", _routed("confidence")),
    Column("estimated_cost", "float8", _routed("estimated_cost")),
    Column("estimated_latency_ms", "float8", _routed("estimated_latency_ms")),
    Column("expected_quality", "float8", _routed("expected_quality")),
    Column("similarity", "float8", _routed("similarity")),
    Column("reasoning", "text", lambda d: d.reasoning),
    Column("alternatives", "jsonb", _alternatives),
    Column("model_version", "text", lambda d: d.model_version),
    Column("decided_at", "timestamptz", lambda d: when(d.decided_at)),
    Column("routed", "boolean", lambda d: d.routed),
    Column("batch", "text"),  # input: the handle of a staged batch (tinydancer.batches)
    Column("position", "integer"),  # 1-based place of the request in its batch or array
)
QUAL_INPUTS = (*INPUTS, "batch")


class Decisions(TinyDancer):
    resource = "decisions"
    COLUMNS = COLUMNS
    FIELD_HINTS = {"objective": OBJECTIVE_HINT, "embedding": EMBEDDING_HINT}
    INVALID_HINT = f"{OBJECTIVE_HINT} {EMBEDDING_HINT}"

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        return [(("request",), 1), (("request_embedding",), 1)]

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        # See fdw.tables.base.GUARD: rows are honest where the quals say how many; costs stay
        # under JIT's threshold and equal between a constant request and a generic plan.
        for q in quals:
            if q.field_name == "request" and q.is_list_operator and isinstance(q.value, list):
                return (max(len(q.value), 1), 1)
            if q.field_name == "batch" and q.operator == "=":
                return (max(routing.size(q.value), 1), 1)
        for q in quals:
            if q.field_name in ("request", "request_embedding") and q.operator == "=":
                return (1, GUARD)
        return (GUARD, 1)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        wanted = frozenset(columns) if columns is not None else frozenset(COLUMNS.names)
        texts: list[str] | None = None
        rest = []
        for q in quals:
            if q.field_name == "request" and q.is_list_operator:
                if q.operator[0] != "=" or q.list_any_or_all is not ANY:
                    fail("request can be given as request = 'text' or request = ANY(array)",
                         sqlstate=FEATURE_NOT_SUPPORTED)
                items = list(OrderedDict.fromkeys(v for v in q.value if v is not None))
                texts = items if texts is None else [r for r in items if r in set(texts)]
            else:
                rest.append(q)
        given = inputs_from_quals(rest, QUAL_INPUTS)
        if given is None:
            return
        if "batch" in given:
            yield from self._staged(given, wanted)
            return
        if texts is not None and "request" in given:
            texts = [r for r in texts if r == given["request"]]
        if texts is None and "request" not in given and "request_embedding" not in given:
            fail("tinydancer.decisions needs a request to route",
                 hint="Add WHERE request = '...' (or request = ANY(array), or request_embedding = '{...}'), "
                      "or join on request: FROM requests r JOIN tinydancer.decisions d ON d.request = r.body; "
                      "for texts with embeddings use tinydancer.route_embedded(texts, embeddings).")
        template = route_request(given, wanted)
        echo = {k: given.get(k) for k in INPUTS if k in wanted}
        getters = COLUMNS.getters(wanted)
        at = "position" in wanted
        if texts is None:
            d = self.rpc("Route", template)
            row = {name: get(d) for name, get in getters}
            if at:
                row["position"] = 1
            yield {**echo, **row}
            return
        with_text = "request" in wanted
        for start in range(0, len(texts), BATCH_CHUNK):
            chunk = texts[start:start + BATCH_CHUNK]
            for i, d in enumerate(self._batch(batch_request(template, chunk), len(chunk)), start + 1):
                row = {**echo, **{name: get(d) for name, get in getters}}
                if with_text:
                    row["request"] = chunk[i - start - 1]
                if at:
                    row["position"] = i
                yield row

    def _batch(self, request: pb.BatchRouteRequest, n: int) -> Sequence[pb.RouteDecision]:
        resp = self.rpc("BatchRoute", request, timeout_s=self.settings.timeout_s * (1 + n / 1000))
        if len(resp.decisions) != n:
            fail(f"routerd returned {len(resp.decisions)} decisions for {n} requests")
        return resp.decisions  # type: ignore[no-any-return]

    def _staged(self, given: Mapping[str, Any], wanted: frozenset[str]) -> Iterator[Row]:
        extra = sorted(k for k in given if k != "batch")
        if extra:
            fail(f"a staged batch carries its own inputs: drop the condition on {', '.join(extra)}",
                 hint="Give them to tinydancer.route_embedded (or the INSERT INTO tinydancer.batches).",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        staged = routing.take(given["batch"])
        template = pb.RouteRequest()
        template.CopyFrom(staged.template)
        if "alternatives" not in wanted:
            template.max_alternatives = 0
        if "reasoning" not in wanted:
            template.omit_reasoning = True
        echo = {k: staged.inputs.get(k) for k in INPUTS if k in wanted}
        if "batch" in wanted:
            echo["batch"] = given["batch"]
        getters = COLUMNS.getters(wanted)
        with_text, with_emb, at = "request" in wanted, "request_embedding" in wanted, "position" in wanted
        texts, emb = staged.texts, staged.embeddings
        timing = routing.TIMING
        for start in range(0, len(texts), BATCH_CHUNK):
            stop = start + BATCH_CHUNK
            t = time.perf_counter()
            request = batch_request(template, texts[start:stop], None if emb is None else emb[start:stop])
            if timing:
                t = routing.timed("BatchRouteRequest bytes", t)
            decided = self._batch(request, stop - start if stop < len(texts) else len(texts) - start)
            if timing:
                t = routing.timed("BatchRoute call (routerd + gRPC)", t)
            for i, d in enumerate(decided, start):
                row = {**echo, **{name: get(d) for name, get in getters}}
                if with_text:
                    row["request"] = texts[i]
                if with_emb and emb is not None:
                    row["request_embedding"] = emb[i].tolist()
                if at:
                    row["position"] = i + 1
                yield row
            if timing:
                routing.timed("rows (FDW Python and the bridge)", t)
        if timing:
            notice("tinydancer fdw timing: " + json.dumps(routing.timings))

