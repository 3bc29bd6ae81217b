"""Validation of what callers send: names, ids, numbers and agent specs, in one place.

Every check raises ``InvalidArgument`` naming the field and the problem; nothing here touches state.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from routerd.domain import AGENT_TYPES, AgentSpec, CostModel
from routerd.errors import InvalidArgument

NAME_MAX = 128
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-:/@]*$")
CAPABILITY_MAX = 64
CAPABILITIES_MAX = 64
METADATA_MAX_BYTES = 16 * 1024
COST_FIELDS = ("per_1k_input_tokens", "per_1k_output_tokens", "per_call", "per_second")
# Paths an update may name (AgentSpec fields; cost parts by "cost.<part>" or "cost" for all).
UPDATABLE = (
    "agent_type", "capabilities", "cost", *(f"cost.{f}" for f in COST_FIELDS),
    "latency_prior_ms", "quality_prior", "metadata", "active", "typical_output_tokens",
)


def validate_name(name: str, field: str = "name") -> str:
    if not name:
        raise InvalidArgument(field, "must not be empty")
    if len(name) > NAME_MAX:
        raise InvalidArgument(field, f"must be at most {NAME_MAX} characters, got {len(name)}")
    if not NAME_PATTERN.match(name):
        raise InvalidArgument(
            field, f"{name!r} has characters other than letters, digits and . _ - : / @ (or starts with one)"
        )
    return name


def validate_id(value: str, field: str) -> str:
    """An opaque identifier (a decision or outcome id): 1..128 printable characters."""
    if not value or len(value) > NAME_MAX or not value.isprintable():
        raise InvalidArgument(field, f"is not an id this server issued: {value[:40]!r}")
    return value


def check_number(value: float, field: str, *, minimum: float = 0.0, strict: bool = False,
                 maximum: float | None = None) -> float:
    """``value`` as a float, or ``InvalidArgument`` naming ``field``: it must be a real number (not a
    bool), finite, at least ``minimum`` (above it when ``strict``) and at most ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(field, f"must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidArgument(field, f"must be a finite number, got {value!r}")
    if v < minimum or (strict and v == minimum):
        raise InvalidArgument(field, f"must be {'>' if strict else '>='} {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise InvalidArgument(field, f"must be <= {maximum:g}, got {v:g}")
    return v


def validate_spec(spec: AgentSpec, prefix: str = "agent") -> AgentSpec:
    """Return ``spec`` normalised (capabilities deduplicated, metadata canonical JSON) or raise
    ``InvalidArgument`` naming the first bad field."""
    validate_name(spec.name, f"{prefix}.name")
    if spec.agent_type not in AGENT_TYPES:
        raise InvalidArgument(
            f"{prefix}.agent_type", f"unknown type {spec.agent_type!r}; valid: {', '.join(AGENT_TYPES)}"
        )
    caps: list[str] = []
    if isinstance(spec.capabilities, str) or not all(isinstance(c, str) for c in spec.capabilities):
        raise InvalidArgument(f"{prefix}.capabilities", "must be a list of strings")
    if not isinstance(spec.cost, CostModel):
        raise InvalidArgument(f"{prefix}.cost", "must be a cost model")
    if len(spec.capabilities) > CAPABILITIES_MAX:
        raise InvalidArgument(f"{prefix}.capabilities", f"at most {CAPABILITIES_MAX} capabilities allowed")
    for i, cap in enumerate(spec.capabilities):
        c = cap.strip()
        if not c or len(c) > CAPABILITY_MAX:
            raise InvalidArgument(f"{prefix}.capabilities[{i}]", f"must be 1..{CAPABILITY_MAX} characters")
        if not c.isprintable():
            raise InvalidArgument(f"{prefix}.capabilities[{i}]", "must not contain control characters")
        if c not in caps:
            caps.append(c)
    cost = CostModel(*(check_number(getattr(spec.cost, f), f"{prefix}.cost.{f}") for f in COST_FIELDS))
    latency = check_number(spec.latency_prior_ms, f"{prefix}.latency_prior_ms", strict=True)
    quality = check_number(spec.quality_prior, f"{prefix}.quality_prior", maximum=1.0)
    if isinstance(spec.typical_output_tokens, bool) or not isinstance(spec.typical_output_tokens, int) \
            or not 0 <= spec.typical_output_tokens <= 1_000_000:
        raise InvalidArgument(f"{prefix}.typical_output_tokens", "must be in 0..1000000")
    if not isinstance(spec.active, bool):
        raise InvalidArgument(f"{prefix}.active", f"must be true or false, got {spec.active!r}")
    if not isinstance(spec.metadata, str):
        raise InvalidArgument(f"{prefix}.metadata_json", "must be JSON text")
    if len(spec.metadata.encode()) > METADATA_MAX_BYTES:
        raise InvalidArgument(
            f"{prefix}.metadata_json", f"is {len(spec.metadata.encode())} bytes; at most {METADATA_MAX_BYTES}"
        )
    try:
        meta = json.loads(spec.metadata or "{}")
    except json.JSONDecodeError as e:
        raise InvalidArgument(f"{prefix}.metadata_json", f"is not valid JSON ({e.msg})") from None
    except RecursionError:
        raise InvalidArgument(f"{prefix}.metadata_json", "is nested too deeply") from None
    if not isinstance(meta, dict):
        raise InvalidArgument(f"{prefix}.metadata_json", "must be a JSON object")
    try:
        has_nul = _has_nul(meta)
    except RecursionError:
        raise InvalidArgument(f"{prefix}.metadata_json", "is nested too deeply") from None
    if has_nul:
        raise InvalidArgument(f"{prefix}.metadata_json", "must not contain \\u0000 (PostgreSQL's jsonb cannot hold it)")
    metadata = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return replace(spec, capabilities=tuple(caps), cost=cost, latency_prior_ms=latency,
                   quality_prior=quality, metadata=metadata)


def apply_patch(spec: AgentSpec, patch: Mapping[str, Any]) -> AgentSpec:
    """A copy of ``spec`` with the named fields replaced (paths from ``UPDATABLE``)."""
    changes: dict[str, Any] = {}
    cost = spec.cost
    for path, value in patch.items():
        if path not in UPDATABLE:
            if path == "name":
                raise InvalidArgument("update_mask", "an agent's name cannot be changed")
            raise InvalidArgument("update_mask", f"unknown field {path!r}; valid: {', '.join(UPDATABLE)}")
        if path == "cost":
            cost = value
        elif path.startswith("cost."):
            cost = replace(cost, **{path[5:]: value})
        else:
            changes[path] = value
    return replace(spec, cost=cost, **changes)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# -- page tokens: one scheme for every listing -----------------------------------------------------

def encode_page_token(*parts: str) -> str:
    """An opaque token for the key a listing resumes after (unit separator between parts)."""
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_page_token(token: str, n_parts: int, field: str = "page_token") -> list[str]:
    """The ``n_parts`` key parts of a token ``encode_page_token`` issued, or ``InvalidArgument``."""
    # validate=True: the default decoder drops characters outside the alphabet, so garbage such as
    # "!!!!" would decode to "" and silently restart the listing from the first page.
    try:
        parts = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode().split("\x1f")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if len(parts) != n_parts or not all(parts):
        raise InvalidArgument(field, "is not a token this server issued")
    return parts
