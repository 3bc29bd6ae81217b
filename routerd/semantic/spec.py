"""Validation of semantic routes, their vectors and the requests that match against them.

Every check raises ``InvalidArgument`` naming the field (``route.utterances``, ``top_k``, ...) and the
problem. The limits are the proto's (protos/tinydancer/v1/tinydancer.proto, SemanticRoute):

=========================================  =============================================================
name                                       1 .. 128 characters: letters, digits and . _ - : / @
description                                at most 4,096 characters (``DESCRIPTION_MAX``)
utterances                                 1 .. 10,000 (``UTTERANCES_MAX``), each 1 .. 100,000 characters
                                           and not blank, no two equal
target_agent                               empty, or a registered agent
priority                                   -1,000 .. 1,000
threshold                                  unset, or in [0, 1]
group                                      empty, or 1 .. 128 printable characters
conditions.active_from/until_minute        both or neither, each 0 .. 1,440, not equal (an empty window)
conditions.user_tiers                      at most 64, each 1 .. 64 printable characters
conditions.rate_limit_per_minute           unset, or 1 .. 1,000,000
utterance_embeddings                       none, or one finite non-zero row of the embedder's dimension
                                           per utterance
SemanticRoute top_k                        1 .. 100 (``TOP_K_MAX``)
Classify top_k                             1 .. 1,000 (``CLASSIFY_TOP_K_MAX``)
=========================================  =============================================================
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import numpy as np

from routerd.domain import RouteConditions, RouteSpec
from routerd.engine.validation import NAME_MAX, TEXT_MAX, check_int, check_number, check_text, shown, validate_name
from routerd.errors import InvalidArgument

UTTERANCES_MAX = 10_000
DESCRIPTION_MAX = 4_096
GROUP_MAX = NAME_MAX
PRIORITY_MIN, PRIORITY_MAX = -1_000, 1_000
MINUTES_PER_DAY = 1_440
USER_TIERS_MAX = 64
USER_TIER_MAX = 64
RATE_LIMIT_MAX = 1_000_000
TOP_K_MAX = 100
CLASSIFY_TOP_K_MAX = 1_000


def check_vectors(vectors: object, *, dim: int, count: int, field: str) -> np.ndarray:
    """``vectors`` as float32 unit rows (count, dim), or ``InvalidArgument`` naming ``field``: the shape
    must match, every value be finite and no row be zero (a zero vector has no direction)."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidArgument(field, "must be a list of numeric vectors") from None
    if arr.ndim != 2 or arr.shape != (count, dim):
        got = "x".join(str(s) for s in arr.shape) if arr.ndim else "a scalar"
        raise InvalidArgument(field, f"must be {count} vector(s) of {dim} values (one per utterance), got {got}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise InvalidArgument(field, f"vector {int(np.argmin(finite))} has a value that is not finite")
    norms = np.linalg.norm(arr, axis=1)
    if (norms == 0).any():
        raise InvalidArgument(field, f"vector {int(np.argmin(norms))} is all zeros")
    out: np.ndarray = (arr / norms[:, None]).astype(np.float32)
    return out


def check_embeddings(embeddings: object, *, dim: int, field: str = "embedding") -> np.ndarray:
    """Request embeddings as float32 unit rows (n, dim); a single (dim,) vector is one row."""
    try:
        arr = np.asarray(embeddings, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidArgument(field, "must be numeric vectors") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidArgument(field, f"must have {dim} values (the embedder's dimension), got "
                                     f"{arr.shape[-1] if arr.ndim else 0}")
    if not np.isfinite(arr).all():
        raise InvalidArgument(field, "has a value that is not finite")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: np.ndarray = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
    return out


def check_top_k(top_k: int, field: str = "top_k", maximum: int = TOP_K_MAX) -> int:
    """``top_k`` if it is an integer in 1 .. ``maximum``."""
    return check_int(top_k, field, maximum, minimum=1)


def _check_utterances(utterances: object, field: str) -> tuple[str, ...]:
    if isinstance(utterances, str) or not isinstance(utterances, Collection):
        raise InvalidArgument(field, "must be a list of texts")
    items = tuple(utterances)
    if not items:
        raise InvalidArgument(field, "a route needs at least one utterance")
    if len(items) > UTTERANCES_MAX:
        raise InvalidArgument(field, f"has {len(items)} utterances; at most {UTTERANCES_MAX}")
    first: dict[str, int] = {}
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidArgument(field, f"utterance {i} must be text, got {shown(text)}")
        if not text.strip():
            raise InvalidArgument(field, f"utterance {i} is empty")
        if len(text) > TEXT_MAX:
            raise InvalidArgument(field, f"utterance {i} is {len(text)} characters; at most {TEXT_MAX}")
        if text in first:
            raise InvalidArgument(field, f"utterance {i} repeats utterance {first[text]}: {shown(text)}")
        first[text] = i
    return items


def _check_label(value: object, field: str, maximum: int) -> str:
    text = check_text(value, field, maximum, minimum=1)  # type: ignore[arg-type]
    if not text.isprintable():
        raise InvalidArgument(field, "must not contain control characters")
    return text


def _check_conditions(c: RouteConditions, prefix: str) -> RouteConditions:
    if not isinstance(c, RouteConditions):
        raise InvalidArgument(prefix, "must be route conditions")
    lo, hi = c.active_from_minute, c.active_until_minute
    if (lo is None) != (hi is None):
        missing = "active_until_minute" if hi is None else "active_from_minute"
        raise InvalidArgument(f"{prefix}.{missing}", "a time window needs both active_from_minute and "
                                                     "active_until_minute")
    if lo is not None and hi is not None:
        check_int(lo, f"{prefix}.active_from_minute", MINUTES_PER_DAY)
        check_int(hi, f"{prefix}.active_until_minute", MINUTES_PER_DAY)
        if lo % MINUTES_PER_DAY == hi:  # 1440 as a start is midnight, as an end the end of the day
            raise InvalidArgument(f"{prefix}.active_until_minute",
                                  f"equals active_from_minute ({lo}): the window would be empty")
    tiers = c.user_tiers
    if isinstance(tiers, str) or not isinstance(tiers, Collection):
        raise InvalidArgument(f"{prefix}.user_tiers", "must be a list of tier names")
    if len(tiers) > USER_TIERS_MAX:
        raise InvalidArgument(f"{prefix}.user_tiers", f"has {len(tiers)} tiers; at most {USER_TIERS_MAX}")
    kept: list[str] = []
    for i, tier in enumerate(tiers):
        t = _check_label(tier, f"{prefix}.user_tiers[{i}]", USER_TIER_MAX)
        if t not in kept:
            kept.append(t)
    limit = c.rate_limit_per_minute
    if limit is not None:
        check_int(limit, f"{prefix}.rate_limit_per_minute", RATE_LIMIT_MAX, minimum=1)
    return replace(c, user_tiers=tuple(kept))


def validate_route(spec: RouteSpec, *, dim: int, vectors: np.ndarray | None, known_agents: Collection[str],
                   field_prefix: str = "route.") -> RouteSpec:
    """``spec`` normalised (empty target agent and group as None, tiers deduplicated, threshold a float)
    or ``InvalidArgument`` naming the first bad field (see the module docstring for the limits).

    ``vectors`` are the caller's utterance embeddings, if any: one row of ``dim`` values per utterance
    (``check_vectors`` returns them normalised)."""
    p = field_prefix
    if not isinstance(spec, RouteSpec):
        raise InvalidArgument(p.rstrip("."), "must be a route")
    validate_name(spec.name, f"{p}name")
    description = check_text(spec.description, f"{p}description", DESCRIPTION_MAX)
    utterances = _check_utterances(spec.utterances, f"{p}utterances")
    target = spec.target_agent or None
    if target is not None:
        validate_name(target, f"{p}target_agent")
        if target not in known_agents:
            raise InvalidArgument(f"{p}target_agent", f"no agent named {target!r} is registered")
    priority = check_int(spec.priority, f"{p}priority", PRIORITY_MAX, minimum=PRIORITY_MIN)
    threshold = None if spec.threshold is None else check_number(spec.threshold, f"{p}threshold", maximum=1.0)
    group = spec.group or None
    if group is not None:
        group = _check_label(group, f"{p}group", GROUP_MAX)
    conditions = _check_conditions(spec.conditions, f"{p}conditions")
    if not isinstance(spec.fitted, bool):
        raise InvalidArgument(f"{p}fitted", "must be true or false")
    if vectors is not None:
        check_vectors(vectors, dim=dim, count=len(utterances), field=f"{p}utterance_embeddings")
    return replace(spec, description=description, utterances=utterances, target_agent=target,
                   priority=priority, threshold=threshold, group=group, conditions=conditions)


def minute_of_day(now: float) -> int:
    """The UTC minute after midnight (0 .. 1439) of a Unix time."""
    return int((now % 86_400.0) // 60.0)


def in_window(conditions: RouteConditions, now: float) -> bool:
    """Whether ``now`` is inside the route's [from, until) UTC window (always, without a window); a
    window with from > until wraps past midnight."""
    lo, hi = conditions.active_from_minute, conditions.active_until_minute
    if lo is None or hi is None:
        return True
    m = minute_of_day(now)
    lo %= MINUTES_PER_DAY
    if lo < hi:
        return lo <= m < hi
    return m >= lo or m < hi
