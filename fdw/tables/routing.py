"""Routing requests as the decisions and batches tables build them: the inputs of a decision, the
RouteRequest they describe, embeddings from float4[] values, BatchRouteRequests assembled as bytes,
and the batches staged in this backend by ``INSERT INTO tinydancer.batches``.

Staged batches live in this Python process (one interpreter per backend, on our bridge and on
Multicorn2 alike), under a fresh handle, at most ``MAX_STAGED`` of them (the oldest is dropped), and
each is dropped once a scan of ``tinydancer.decisions WHERE batch = handle`` takes it.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fdw.errors import FDW_INVALID_HANDLE, INVALID_TEXT_REPRESENTATION, fail
from fdw.tables.base import as_bool, as_float, as_int, as_list
from routerd.domain import OBJECTIVES
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

OBJECTIVE_HINT = f"optimize_for is one of {', '.join(OBJECTIVES)}."
EMBEDDING_HINT = "request_embedding must have the embedder's dimension (384 by default) and finite values."

# The inputs of a decision (the decisions table's input columns, the batches table's constraints).
INPUTS = ("request", "request_embedding", "optimize_for", "required_capabilities", "excluded_agents", "max_cost",
          "max_latency_ms", "min_quality", "budget_remaining", "willingness_to_pay", "input_tokens",
          "output_tokens")
INPUT_TYPES = ("text", "float4[]", "text", "text[]", "text[]", "float8", "float8", "float8", "float8", "float8",
               "integer", "integer")
# Inputs of routing by meaning (issue 9), for the decisions table only: the classifier's capabilities
# above capability_threshold become required ones. Given as constants; they are not join keys (see
# fdw.tables.decisions.path_keys) and not a staged batch's shared inputs.
INFERENCE_INPUTS = ("infer_capabilities", "capability_threshold")
INFERENCE_INPUT_TYPES = ("boolean", "float8")
# Tags (issue 11) the request is charged under (budgets scoped 'tag:<t>') and grouped by in analytics:
# a setting given as a constant, for the decisions table only (not a join key, like INFERENCE_INPUTS).
TAG_INPUTS = ("tags",)
TAG_INPUT_TYPES = ("text[]",)
TAGS_HINT = ("tags are at most 32 distinct texts of 1..64 letters, digits and . _ - : / @, e.g. "
             "tags = '{team-a,batch}'.")
CAPABILITY_THRESHOLD_HINT = ("capability_threshold is in (0, 1] (default 0.5): the probability at which an inferred "
                             "capability becomes required.")


# -- protobuf wire pieces: a request's text and embedding appended to a serialized template -----------
# (parsing bytes is one C call; RepeatedScalarContainer.extend converts float by float, ~50 µs for 384)

def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(message: Any, field: str) -> bytes:
    return _varint(message.DESCRIPTOR.fields_by_name[field].number << 3 | 2)  # length-delimited


_REQUEST_TAG = _tag(pb.RouteRequest, "request")
_EMBEDDING_TAG = _tag(pb.RouteRequest, "embedding")  # proto3 repeated float: packed
_REQUESTS_TAG = _tag(pb.BatchRouteRequest, "requests")


def embedding_array(value: Any, n: int | None = None) -> np.ndarray:
    """float4[] values (floats from our bridge, strings from Multicorn2; flattened) as float32, in one
    numpy call; with ``n``, reshaped to one row per request."""
    if not isinstance(value, list | tuple):
        fail("request_embedding must be a float4[] array", sqlstate=INVALID_TEXT_REPRESENTATION)
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        if any(v is None for v in value):
            fail("request_embedding elements must not be NULL", hint=EMBEDDING_HINT)
        fail("request_embedding elements must be numbers", sqlstate=INVALID_TEXT_REPRESENTATION)
    if arr.ndim != 1 or not np.isfinite(arr).all():
        if any(v is None for v in value):  # numpy reads None as NaN
            fail("request_embedding elements must not be NULL", hint=EMBEDDING_HINT)
        fail("request_embedding must be a flat array of finite numbers", hint=EMBEDDING_HINT)
    if n is not None:
        if n == 0 or arr.size % n or arr.size == 0:
            fail(f"embeddings: {arr.size} numbers cannot be {n} embeddings of one dimension",
                 hint="Give one embedding per request, e.g. array_agg(embedding ORDER BY id).")
        arr = arr.reshape(n, -1)
    return arr


def _embedding_field(arr: np.ndarray) -> bytes:
    raw = arr.astype("<f4", copy=False).tobytes()
    return _EMBEDDING_TAG + _varint(len(raw)) + raw


def batch_request(template: pb.RouteRequest, texts: Sequence[str | None],
                  embeddings: np.ndarray | None = None) -> pb.BatchRouteRequest:
    """One BatchRouteRequest: ``template`` with each text (and embedding row), built as bytes."""
    base = template.SerializeToString()
    emb = None if embeddings is None else embeddings.astype("<f4", copy=False)
    prefix = b"" if emb is None else _EMBEDDING_TAG + _varint(emb.shape[1] * 4)
    parts = []
    for i, text in enumerate(texts):
        body = base
        if text:
            raw = text.encode()
            body += _REQUEST_TAG + _varint(len(raw)) + raw
        if emb is not None:
            body += prefix + emb[i].tobytes()
        parts.append(_REQUESTS_TAG + _varint(len(body)) + body)
    return pb.BatchRouteRequest.FromString(b"".join(parts))


def route_request(given: Mapping[str, Any], wanted: set[str] | frozenset[str] | None) -> pb.RouteRequest:
    """The request the inputs describe; reasoning and alternatives asked for only when read."""
    r = pb.RouteRequest(request=given.get("request") or "", objective=given.get("optimize_for") or "")
    if given.get("request_embedding") is not None:
        r.MergeFromString(_embedding_field(embedding_array(given["request_embedding"])))
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
    if as_bool(given.get("infer_capabilities"), "infer_capabilities"):
        r.infer_capabilities = True
    r.tags.extend(as_list(given.get("tags"), "tags"))
    threshold = as_float(given.get("capability_threshold"), "capability_threshold")
    if threshold is not None:
        r.capability_threshold = threshold
    if wanted is not None:
        if "alternatives" not in wanted:
            r.max_alternatives = 0  # nobody reads them: routerd need not explain them
        if "reasoning" not in wanted:
            r.omit_reasoning = True
    return r


# -- phase timers (TINYDANCER_FDW_TIMING=1 in the server's environment) ---------------------------------
# Off by default; on, the batch path reports where its time went as a NOTICE (bench/bench_sql.py).

TIMING = bool(os.environ.get("TINYDANCER_FDW_TIMING"))
timings: dict[str, Any] = {}


def timed(phase: str, since: float) -> float:
    """Add the time since ``since`` to ``phase``; returns now."""
    now = time.perf_counter()
    timings[phase] = timings.get(phase, 0.0) + (now - since)
    return now


# -- staged batches -----------------------------------------------------------------------------------

MAX_STAGED = 4


@dataclass(frozen=True, slots=True)
class Staged:
    template: pb.RouteRequest  # the shared inputs (objective, constraints, tokens)
    inputs: Mapping[str, Any]  # the same as given, echoed on the decision rows
    texts: list[str | None]
    embeddings: np.ndarray | None  # (len(texts), dim) float32


_staged: OrderedDict[str, Staged] = OrderedDict()
_serial = itertools.count(1)


def stage(batch: Staged) -> str:
    handle = f"{os.getpid()}.{next(_serial)}"
    _staged[handle] = batch
    while len(_staged) > MAX_STAGED:
        _staged.popitem(last=False)
    return handle


def staged() -> list[tuple[str, Staged]]:
    return list(_staged.items())


def size(handle: Any) -> int:
    """How many requests the batch ``handle`` holds (0 if none is staged under it)."""
    s = _staged.get(handle) if isinstance(handle, str) else None
    return 0 if s is None else len(s.texts)


def take(handle: Any) -> Staged:
    s = _staged.pop(handle, None) if isinstance(handle, str) else None
    if s is None:
        fail(f"no staged batch {handle!r} in this session",
             hint=f"A batch is routed once, in the session that staged it (INSERT INTO tinydancer.batches ... "
                  f"RETURNING handle); at most {MAX_STAGED} wait at a time. tinydancer.route_embedded does both.",
             sqlstate=FDW_INVALID_HANDLE)
    return s


def drop(handle: Any) -> bool:
    return _staged.pop(handle, None) is not None if isinstance(handle, str) else False
