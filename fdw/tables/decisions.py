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

``tags = '{a,b}'`` (a constant, not a join key) charges the request under those tags (budgets scoped
'tag:<t>', analytics by tag); ``charges`` is jsonb [{"budget", "amount"}, ...], what the decision
reserved against configured budgets.

Only what the query reads is built: routerd is asked for ``reasoning`` and ``alternatives`` only
when those columns are read, and a row holds only the columns in ``columns``.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NoReturn

import grpc

from fdw.errors import FEATURE_NOT_SUPPORTED, RoutedError, fail, notice
from fdw.tables import routing
from fdw.tables.base import (
    ANY,
    GUARD,
    Column,
    Columns,
    Row,
    TinyDancer,
    inputs_from_quals,
    read_only,
    when,
)
from fdw.tables.routing import (
    CAPABILITY_THRESHOLD_HINT,
    EMBEDDING_HINT,
    INFERENCE_INPUT_TYPES,
    INFERENCE_INPUTS,
    INPUT_TYPES,
    INPUTS,
    OBJECTIVE_HINT,
    TAG_INPUT_TYPES,
    TAG_INPUTS,
    TAGS_HINT,
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


def _charges(d: pb.RouteDecision) -> str:
    return json.dumps([{"budget": c.budget, "amount": c.amount} for c in d.charges])


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
    # issue 9: routing by meaning (inputs, then outputs)
    *(Column(n, t) for n, t in zip(INFERENCE_INPUTS, INFERENCE_INPUT_TYPES, strict=True)),
    Column("route_name", "text", lambda d: d.route_name or None),
    Column("route_similarity", "float8", lambda d: d.route_similarity if d.route_name else None),
    Column("inferred_capabilities", "text[]", lambda d: list(d.inferred_capabilities)),
    # issue 11: the request's tags (input), what the decision reserved against budgets (output)
    *(Column(n, t) for n, t in zip(TAG_INPUTS, TAG_INPUT_TYPES, strict=True)),
    Column("charges", "jsonb", _charges),
)
QUAL_INPUTS = (*INPUTS, "batch", *INFERENCE_INPUTS, *TAG_INPUTS)
ECHOED = (*INPUTS, *INFERENCE_INPUTS, *TAG_INPUTS)
READ_ONLY_HINT = ("Route with SELECT ... FROM tinydancer.decisions WHERE request = '...' (or tinydancer.route); "
                  "record what happened with INSERT INTO tinydancer.outcomes.")

# -- path keys: the inputs a join may supply per row ------------------------------------------------------
# Multicorn2 builds a parameterized path from the join clauses of the declared key columns only (its
# findPaths: ppi_clauses are the clauses of the keys), so a join clause on an input outside the key
# that wins never reaches execute(): the input would be silently dropped. So the keys are every
# combination of the inputs a join may supply, each with request or request_embedding, largest first:
# every qualifying key costs the same (1 row), add_path keeps the first one added, and the first one
# whose columns all have join clauses is then exactly the joined set. Our bridge hands every movable
# join clause to the path anyway (get_baserel_parampathinfo); the keys only decide that there is one.
#
# All 3,072 combinations of the 12 inputs cost ~5 ms of planning per query, so the combinations are
# those of the inputs the query reads and does not give as constants (a join's columns are always read:
# they are in the relation's target list), from the last JOIN_WINDOW get_rel_size calls (a statement
# sizes every relation before it builds any path, so several decisions relations in one statement
# share the union). A constant request takes no key: it is not joined. infer_capabilities and
# capability_threshold (INFERENCE_INPUTS) are not keys: they are settings given as constants, and as keys
# they would quadruple the combinations of a `d.*` join.
JOIN_WINDOW = 8
_REQUEST_KEYS = ("request", "request_embedding")


def join_candidates(quals: Iterable[Any], columns: Iterable[str] | None) -> frozenset[str]:
    """The inputs a join may supply to this scan: read by the query, not given as a constant."""
    const = {q.field_name for q in quals}
    if const & set(_REQUEST_KEYS):
        return frozenset()
    read = set(INPUTS) if columns is None else set(columns) & set(INPUTS)
    return frozenset(read - const)


@functools.lru_cache(maxsize=64)
def path_keys(candidates: frozenset[str]) -> tuple[tuple[tuple[str, ...], int], ...]:
    """Every combination of ``candidates`` with a request key, largest first (one row each)."""
    heads = [k for k in _REQUEST_KEYS if k in candidates]
    starts = [tuple(heads)] + ([(k,) for k in heads] if len(heads) > 1 else [])
    others = [n for n in INPUTS if n in candidates and n not in _REQUEST_KEYS]
    keys = [(h + combo, 1) for h in starts for n in range(len(others), -1, -1)
            for combo in itertools.combinations(others, n)] if heads else []
    return tuple(sorted(keys, key=lambda k: -len(k[0])))  # stable: among equals, INPUTS order


class Decisions(TinyDancer):
    resource = "decisions"
    COLUMNS = COLUMNS
    FIELD_HINTS = {"objective": OBJECTIVE_HINT, "embedding": EMBEDDING_HINT,
                   "capability_threshold": CAPABILITY_THRESHOLD_HINT, "tags": TAGS_HINT,
                   **{f"tags[{i}]": TAGS_HINT for i in range(32)}}  # routerd names the bad tag's index
    INVALID_HINT = f"{OBJECTIVE_HINT} {EMBEDDING_HINT}"

    def __init__(self, options: Mapping[str, str], columns: Mapping[str, Any], client: Any = None):
        super().__init__(options, columns, client)
        self._joinable: deque[frozenset[str]] = deque(maxlen=JOIN_WINDOW)

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("decisions", READ_ONLY_HINT)

    def get_path_keys(self) -> list[tuple[tuple[str, ...], int]]:
        joinable = frozenset().union(*self._joinable) if self._joinable else frozenset(_REQUEST_KEYS)
        return list(path_keys(joinable))

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        self._joinable.append(join_candidates(quals, columns))
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
                if q.value is None:  # request = ANY(NULL) matches no row
                    return
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
        echo = {k: given.get(k) for k in ECHOED if k in wanted}
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
        for start, decided in self._batches(lambda a, b: batch_request(template, texts[a:b]), len(texts)):
            for i, d in enumerate(decided, start + 1):
                row = {**echo, **{name: get(d) for name, get in getters}}
                if with_text:
                    row["request"] = texts[i - 1]
                if at:
                    row["position"] = i
                yield row

    def _batches(self, make: Callable[[int, int], pb.BatchRouteRequest],
                 n: int) -> Iterator[tuple[int, Sequence[pb.RouteDecision]]]:
        """(start, decisions) of requests [0, n) routed in BatchRoute chunks of at most BATCH_CHUNK. A
        chunk whose reply routerd refuses as too large (RESOURCE_EXHAUSTED: many agents, every
        alternative asked for) is split in halves until it fits; the smaller size is kept."""
        size, start = BATCH_CHUNK, 0
        while start < n:
            stop = min(start + size, n)
            t = time.perf_counter()
            request = make(start, stop)
            if routing.TIMING:
                t = routing.timed("BatchRouteRequest bytes", t)
            try:
                resp = self.rpc("BatchRoute", request, timeout_s=self.settings.timeout_s * (1 + (stop - start) / 1000),
                                passing=(grpc.StatusCode.RESOURCE_EXHAUSTED,) if stop - start > 1 else ())
            except RoutedError:
                size = max(1, (stop - start) // 2)
                continue
            if routing.TIMING:
                routing.timed("BatchRoute call (routerd + gRPC)", t)
            if len(resp.decisions) != stop - start:
                fail(f"routerd returned {len(resp.decisions)} decisions for {stop - start} requests")
            yield start, resp.decisions
            start = stop

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
        chunks = self._batches(
            lambda a, b: batch_request(template, texts[a:b], None if emb is None else emb[a:b]), len(texts))
        for start, decided in chunks:
            t = time.perf_counter()
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

