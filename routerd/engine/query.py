"""A routing query (what one request asks for) and its validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from routerd.domain import OBJECTIVES
from routerd.engine.validation import (
    CAPABILITIES_MAX,
    CAPABILITY_MAX,
    CONTEXT_MAX_ENTRIES,
    CONTEXT_VALUE_MAX,
    EXCLUDED_MAX,
    NAME_MAX,
    NAME_PATTERN,
    TEXT_MAX,
    TOKENS_MAX,
    WTP_MAX,
    WTP_MIN,
    check_int,
    check_number,
    check_text,
    shown,
)
from routerd.errors import InvalidArgument

__all__ = ["REQUEST_ID_MAX", "TEXT_MAX", "RouteQuery", "valid_request_id", "validate_query"]

REQUEST_ID_MAX = 128
TAGS_MAX = 32
TAG_MAX = 64


def valid_request_id(value: object) -> bool:
    """A request id a caller may choose: 1..REQUEST_ID_MAX printable ASCII characters."""
    return (isinstance(value, str) and 0 < len(value) <= REQUEST_ID_MAX and value.isascii()
            and value.isprintable())


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x on the request path
class RouteQuery:
    text: str = ""
    embedding: np.ndarray | None = None
    objective: str = "balanced"
    required_capabilities: tuple[str, ...] = ()
    excluded_agents: tuple[str, ...] = ()
    max_cost: float | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    budget_remaining: float | None = None
    willingness_to_pay: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    # Add the classifier's capabilities (probability >= capability_threshold) to the requirements.
    infer_capabilities: bool = False
    capability_threshold: float | None = None
    # The call's request id (gRPC metadata x-request-id, or generated; routerd.observability), stored
    # with the decision so a request can be followed from a client's log into the decision log.
    request_id: str | None = None
    # Budgets scoped "tag:<t>" charge the request; analytics group by them (routerd.engine.budgets).
    tags: tuple[str, ...] = ()

    @property
    def has_embedding(self) -> bool:
        return self.embedding is not None and self.embedding.size > 0


def validate_query(q: RouteQuery, dim: int, prefix: str = "") -> RouteQuery:
    """Raise ``InvalidArgument`` naming the field (with ``prefix``, e.g. "requests[3].") and the limit
    (the ranges of ``routerd.engine.validation``)."""
    check_text(q.text, f"{prefix}request", TEXT_MAX)
    if q.embedding is not None and q.embedding.size:
        if q.embedding.shape != (dim,):
            got = q.embedding.size if q.embedding.ndim == 1 else f"an array of shape {q.embedding.shape}"
            raise InvalidArgument(f"{prefix}embedding", f"expected {dim} dimensions, not {got}")
        if not np.isfinite(q.embedding).all():
            raise InvalidArgument(f"{prefix}embedding", "must contain only finite numbers")
    elif not q.text:
        raise InvalidArgument(f"{prefix}request", "give the request text or its embedding")
    if not isinstance(q.objective, str) or q.objective not in OBJECTIVES:
        raise InvalidArgument(f"{prefix}objective",
                              f"unknown objective {shown(q.objective)}; valid: {', '.join(OBJECTIVES)}")
    c = f"{prefix}constraints."
    if q.max_cost is not None:
        check_number(q.max_cost, f"{c}max_cost")
    if q.max_latency_ms is not None:
        check_number(q.max_latency_ms, f"{c}max_latency_ms", strict=True)
    if q.min_quality is not None:
        check_number(q.min_quality, f"{c}min_quality", maximum=1.0)
    if q.budget_remaining is not None:
        check_number(q.budget_remaining, f"{prefix}budget_remaining")
    if q.willingness_to_pay is not None:
        check_number(q.willingness_to_pay, f"{prefix}willingness_to_pay", minimum=WTP_MIN, maximum=WTP_MAX)
    if q.input_tokens is not None:
        check_int(q.input_tokens, f"{prefix}input_tokens", TOKENS_MAX)
    if q.output_tokens is not None:
        check_int(q.output_tokens, f"{prefix}output_tokens", TOKENS_MAX)
    if len(q.required_capabilities) > CAPABILITIES_MAX:
        raise InvalidArgument(f"{c}required_capabilities",
                              f"has {len(q.required_capabilities)} entries; at most {CAPABILITIES_MAX}")
    for i, cap in enumerate(q.required_capabilities):
        check_text(cap, f"{c}required_capabilities[{i}]", CAPABILITY_MAX, minimum=1)
    if len(q.excluded_agents) > EXCLUDED_MAX:
        raise InvalidArgument(f"{c}excluded_agents", f"has {len(q.excluded_agents)} entries; at most {EXCLUDED_MAX}")
    for i, name in enumerate(q.excluded_agents):
        check_text(name, f"{c}excluded_agents[{i}]", NAME_MAX)
    if q.capability_threshold is not None:
        check_number(q.capability_threshold, f"{prefix}capability_threshold", strict=True, maximum=1.0)
    if q.request_id is not None and not valid_request_id(q.request_id):
        raise InvalidArgument(f"{prefix}request_id", f"must be 1..{REQUEST_ID_MAX} printable ASCII characters, "
                                                     f"got {shown(q.request_id, 40)}")
    if q.tags:
        if len(q.tags) > TAGS_MAX:
            raise InvalidArgument(f"{prefix}tags", f"has {len(q.tags)} entries; at most {TAGS_MAX}")
        for i, tag in enumerate(q.tags):
            if not isinstance(tag, str) or len(tag) > TAG_MAX or not NAME_PATTERN.match(tag):
                raise InvalidArgument(f"{prefix}tags[{i}]", f"must be 1..{TAG_MAX} letters, digits and . _ - : / @, "
                                                            f"got {shown(tag, 40)}")
        if len(set(q.tags)) != len(q.tags):
            raise InvalidArgument(f"{prefix}tags", "has duplicates")
    if q.context:
        if len(q.context) > CONTEXT_MAX_ENTRIES:
            raise InvalidArgument(f"{prefix}context", f"has {len(q.context)} entries; at most {CONTEXT_MAX_ENTRIES}")
        for k, v in q.context.items():
            check_text(k, f"{prefix}context", NAME_MAX, minimum=1)
            check_text(v, f"{prefix}context[{shown(k, 40)}]", CONTEXT_VALUE_MAX)
    return q
