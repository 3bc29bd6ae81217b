"""A routing query (what one request asks for) and its validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from routerd.domain import OBJECTIVES
from routerd.engine.validation import check_number
from routerd.errors import InvalidArgument

TEXT_MAX = 1_000_000


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

    @property
    def has_embedding(self) -> bool:
        return self.embedding is not None and self.embedding.size > 0


def validate_query(q: RouteQuery, dim: int, prefix: str = "") -> RouteQuery:
    """Raise ``InvalidArgument`` naming the field (with ``prefix``, e.g. "requests[3].")."""
    if q.embedding is not None and q.embedding.size:
        if q.embedding.shape != (dim,):
            got = q.embedding.size if q.embedding.ndim == 1 else f"an array of shape {q.embedding.shape}"
            raise InvalidArgument(f"{prefix}embedding", f"expected {dim} dimensions, not {got}")
        if not np.isfinite(q.embedding).all():
            raise InvalidArgument(f"{prefix}embedding", "must contain only finite numbers")
    elif not q.text:
        raise InvalidArgument(f"{prefix}request", "give the request text or its embedding")
    if len(q.text) > TEXT_MAX:
        raise InvalidArgument(f"{prefix}request", f"is {len(q.text)} characters; at most {TEXT_MAX}")
    if q.objective not in OBJECTIVES:
        raise InvalidArgument(f"{prefix}objective",
                              f"unknown objective {q.objective!r}; valid: {', '.join(OBJECTIVES)}")
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
        check_number(q.willingness_to_pay, f"{prefix}willingness_to_pay", strict=True)
    if q.input_tokens is not None and q.input_tokens < 0:
        raise InvalidArgument(f"{prefix}input_tokens", f"must be >= 0, got {q.input_tokens}")
    if q.output_tokens is not None and q.output_tokens < 0:
        raise InvalidArgument(f"{prefix}output_tokens", f"must be >= 0, got {q.output_tokens}")
    for i, cap in enumerate(q.required_capabilities):
        if not cap:
            raise InvalidArgument(f"{c}required_capabilities[{i}]", "must not be empty")
    return q
