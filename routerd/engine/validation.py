"""Validation of what callers send: names, ids, numbers, texts, times and agent specs, in one place.

Every check raises ``InvalidArgument`` naming the field and the problem (and the limit it broke);
nothing here touches state. Values that are echoed in a message are shortened (``shown``).

The accepted ranges, chosen so that everything routerd derives from them (estimated cost and
latency, utilities, timestamps) is finite and representable by every reader: JSON (no NaN or
Infinity), PostgreSQL float8/timestamptz, Python's datetime and protobuf's Timestamp.

=========================================  =============================================================
agent prices (each part of a cost model)   0 .. 1e6 USD (``PRICE_MAX``); -0 is read as 0
agent latency_prior_ms                     0.1 .. 604,800,000 ms (``LATENCY_MIN_MS``.. 7 days,
                                           ``LATENCY_MAX_MS``)
agent quality_prior, outcome quality,      0 .. 1
min_quality
agent typical_output_tokens                0 .. 1,000,000 (``TYPICAL_OUTPUT_TOKENS_MAX``)
agent name, agent_name, excluded agents    1 .. 128 characters (``NAME_MAX``)
agent capabilities                         at most 64, each 1 .. 64 characters
agent metadata_json                        a strict RFC 8259 JSON object, at most 16 KiB: no NaN or
                                           Infinity, every number finite as a float8 (no 1e999, no
                                           nonzero number that rounds to 0, integers of at most 309
                                           digits), no duplicate keys, no lone surrogate, no \u0000
request text                               at most 100,000 characters (``TEXT_MAX``): for a longer
                                           prompt send an excerpt with input_tokens, or its embedding
request input_tokens, output_tokens        0 .. 10,000,000 (``TOKENS_MAX``)
request willingness_to_pay                 1e-6 .. 1e12 USD (``WTP_MIN``, ``WTP_MAX``)
request max_cost, budget_remaining,        finite, >= 0 (> 0 for max_latency_ms); only compared, never
batch_budget, max_latency_ms               derived from
request required_capabilities              at most 64, each 1 .. 64 characters
request excluded_agents                    at most 10,000 (``EXCLUDED_MAX``)
request context                            at most 64 entries; keys 1 .. 128, values at most 1,024
                                           characters
FindAgentsByCapability capability          1 .. 1,000 characters (``CAPABILITY_QUERY_MAX``)
page tokens                                at most 1,024 characters (``PAGE_TOKEN_MAX``)
outcome latency_ms                         0 .. 604,800,000 ms (``LATENCY_MAX_MS``)
outcome cost                               0 .. 1e12 USD (``COST_MAX``)
outcome input_tokens, output_tokens        0 .. 2,147,483,647 (``OUTCOME_TOKENS_MAX``)
times (recorded_at, ListOutcomes start,    1970-01-01T00:00:00Z .. 9999-12-31T00:00:00Z (``TIME_MIN``,
end)                                       ``TIME_MAX``: a day inside what Python's datetime and
                                           protobuf's Timestamp hold, in any time zone)
=========================================  =============================================================

Derived, hence bounded: a request's estimated latency on an agent is its observed p95 or prior,
clamped to LATENCY_MIN_MS .. LATENCY_MAX_MS; its estimated cost is at most
2 * TOKENS_MAX / 1000 * PRICE_MAX + PRICE_MAX + LATENCY_MAX_MS / 1000 * PRICE_MAX
(``ESTIMATED_COST_MAX``, about 6.2e11 USD, below ``COST_MAX``); utilities are finite.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NoReturn

from routerd.domain import AGENT_TYPES, AgentSpec, CostModel
from routerd.errors import InvalidArgument

NAME_MAX = 128
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-:/@]*$")
CAPABILITY_MAX = 64
CAPABILITIES_MAX = 64
METADATA_MAX_BYTES = 16 * 1024
COST_FIELDS = ("per_1k_input_tokens", "per_1k_output_tokens", "per_call", "per_second")
PRICE_MAX = 1e6
LATENCY_MIN_MS = 0.1
LATENCY_MAX_MS = 7 * 86_400_000.0
TYPICAL_OUTPUT_TOKENS_MAX = 1_000_000
TOKENS_MAX = 10_000_000
OUTCOME_TOKENS_MAX = 2**31 - 1
COST_MAX = 1e12
ESTIMATED_COST_MAX = 2 * TOKENS_MAX / 1000 * PRICE_MAX + PRICE_MAX + LATENCY_MAX_MS / 1000 * PRICE_MAX
WTP_MIN, WTP_MAX = 1e-6, 1e12
TEXT_MAX = 100_000
CAPABILITY_QUERY_MAX = 1_000
EXCLUDED_MAX = 10_000
CONTEXT_MAX_ENTRIES = 64
CONTEXT_VALUE_MAX = 1_024
PAGE_TOKEN_MAX = 1_024
TIME_MIN = 0.0  # 1970-01-01T00:00:00Z
TIME_MAX = 253_402_214_400.0  # 9999-12-31T00:00:00Z
JSON_INT_DIGITS_MAX = 309  # the digits of the largest finite float8
assert ESTIMATED_COST_MAX < COST_MAX
# Paths an update may name (AgentSpec fields; cost parts by "cost.<part>" or "cost" for all).
UPDATABLE = (
    "agent_type", "capabilities", "cost", *(f"cost.{f}" for f in COST_FIELDS),
    "latency_prior_ms", "quality_prior", "metadata", "active", "typical_output_tokens",
)


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for echoing caller input in a message."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def check_text(value: str, field: str, maximum: int, *, minimum: int = 0) -> str:
    """``value`` if it is a string of ``minimum`` .. ``maximum`` characters, else ``InvalidArgument``."""
    if not isinstance(value, str):
        raise InvalidArgument(field, f"must be text, got {shown(value)}")
    if len(value) > maximum:
        raise InvalidArgument(field, f"is {len(value)} characters; at most {maximum}")
    if len(value) < minimum:
        raise InvalidArgument(field, "must not be empty" if minimum == 1 else f"must be at least {minimum} characters")
    return value


def validate_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str):
        raise InvalidArgument(field, f"must be text, got {shown(name)}")
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
    if not isinstance(value, str) or not value or len(value) > NAME_MAX or not value.isprintable():
        raise InvalidArgument(field, f"is not an id this server issued: {shown(value, 40)}")
    return value


def check_number(value: float, field: str, *, minimum: float = 0.0, strict: bool = False,
                 maximum: float | None = None) -> float:
    """``value`` as a float, or ``InvalidArgument`` naming ``field``: it must be a real number (not a
    bool), finite, at least ``minimum`` (above it when ``strict``) and at most ``maximum``. -0 is 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(field, f"must be a number, got {shown(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float8
        raise InvalidArgument(field, f"must be a finite number, got an integer of {len(str(abs(value)))} digits") \
            from None
    if not math.isfinite(v):
        raise InvalidArgument(field, f"must be a finite number, got {value!r}")
    if v < minimum or (strict and v == minimum):
        raise InvalidArgument(field, f"must be {'>' if strict else '>='} {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise InvalidArgument(field, f"must be <= {maximum:g}, got {v:g}")
    return v + 0.0  # -0.0 + 0.0 is 0.0


def check_int(value: int, field: str, maximum: int, minimum: int = 0) -> int:
    """``value`` if it is an integer (not a bool) in ``minimum`` .. ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(field, f"must be an integer, got {shown(value)}")
    if value < minimum:
        raise InvalidArgument(field, f"must be >= {minimum}, got {shown(value)}")
    if value > maximum:
        raise InvalidArgument(field, f"must be <= {maximum}, got {shown(value)}")
    return value


def check_time(value: float, field: str) -> float:
    """A time in Unix seconds within ``TIME_MIN`` .. ``TIME_MAX`` (1970-01-01 .. 9999-12-31 UTC)."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not (math.isfinite(value) and TIME_MIN <= value <= TIME_MAX):
        raise InvalidArgument(field, f"must be a time from 1970-01-01T00:00:00Z to 9999-12-31T00:00:00Z, "
                                     f"got {shown(value)} seconds")
    return float(value)


# -- strict JSON (RFC 8259) ------------------------------------------------------------------------

class _JSONRejected(ValueError):
    pass


def _reject(problem: str, *, syntax: bool = True) -> NoReturn:
    raise _JSONRejected(f"is not valid JSON: {problem}" if syntax else problem)


def _json_constant(name: str) -> NoReturn:
    _reject(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _json_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        _reject(f"the number {shown(text, 30)} is out of range (beyond float8)")
    if v == 0.0 and any(c in "123456789" for c in text.split("e")[0].split("E")[0]):
        _reject(f"the number {shown(text, 30)} is out of range (it rounds to 0)")
    return v


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_INT_DIGITS_MAX:
        _reject(f"an integer of {len(text.lstrip('-'))} digits is out of range (at most {JSON_INT_DIGITS_MAX})")
    v = int(text)
    if abs(v) > sys.float_info.max:
        _reject("an integer is out of range (beyond float8)")
    return v


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            _reject(f"duplicate key {shown(k, 40)}")
        out[k] = v
    return out


def _encodable(value: Any) -> bool:
    """No lone surrogate (``"\\ud800"``) and no NUL anywhere: PostgreSQL's jsonb holds neither."""
    if isinstance(value, str):
        if "\x00" in value:
            _reject("must not contain \\u0000 (PostgreSQL's jsonb cannot hold it)", syntax=False)
        try:
            value.encode()
        except UnicodeEncodeError:
            _reject("has an unpaired surrogate escape (not valid Unicode)")
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def parse_json(text: str, field: str) -> Any:
    """``text`` parsed as strict RFC 8259 JSON whose every value PostgreSQL's jsonb and a float8 can
    hold, else ``InvalidArgument`` naming ``field``."""
    try:
        value = json.loads(text, parse_constant=_json_constant, parse_float=_json_float, parse_int=_json_int,
                           object_pairs_hook=_json_object)
        _encodable(value)
    except _JSONRejected as e:
        raise InvalidArgument(field, str(e)) from None
    except json.JSONDecodeError as e:
        raise InvalidArgument(field, f"is not valid JSON ({e.msg} at character {e.pos})") from None
    except RecursionError:
        raise InvalidArgument(field, "is nested too deeply") from None
    except ValueError as e:  # anything else the decoder refuses (int conversion limits, ...)
        raise InvalidArgument(field, f"is not valid JSON ({shown(str(e), 80)})") from None
    return value


def validate_spec(spec: AgentSpec, prefix: str = "agent") -> AgentSpec:
    """Return ``spec`` normalised (capabilities deduplicated, metadata canonical JSON, -0 as 0) or raise
    ``InvalidArgument`` naming the first bad field. The ranges are this module's (see its docstring)."""
    validate_name(spec.name, f"{prefix}.name")
    if not isinstance(spec.agent_type, str) or spec.agent_type not in AGENT_TYPES:
        raise InvalidArgument(
            f"{prefix}.agent_type", f"unknown type {shown(spec.agent_type)}; valid: {', '.join(AGENT_TYPES)}"
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
    cost = CostModel(*(check_number(getattr(spec.cost, f), f"{prefix}.cost.{f}", maximum=PRICE_MAX)
                       for f in COST_FIELDS))
    latency = check_number(spec.latency_prior_ms, f"{prefix}.latency_prior_ms", minimum=LATENCY_MIN_MS,
                           maximum=LATENCY_MAX_MS)
    quality = check_number(spec.quality_prior, f"{prefix}.quality_prior", maximum=1.0)
    check_int(spec.typical_output_tokens, f"{prefix}.typical_output_tokens", TYPICAL_OUTPUT_TOKENS_MAX)
    if not isinstance(spec.active, bool):
        raise InvalidArgument(f"{prefix}.active", f"must be true or false, got {shown(spec.active)}")
    if not isinstance(spec.metadata, str):
        raise InvalidArgument(f"{prefix}.metadata_json", "must be JSON text")
    size = len(spec.metadata) if len(spec.metadata) > METADATA_MAX_BYTES else len(spec.metadata.encode())
    if size > METADATA_MAX_BYTES:
        raise InvalidArgument(f"{prefix}.metadata_json", f"is {size} bytes; at most {METADATA_MAX_BYTES}")
    meta = parse_json(spec.metadata or "{}", f"{prefix}.metadata_json")
    if not isinstance(meta, dict):
        raise InvalidArgument(f"{prefix}.metadata_json", "must be a JSON object")
    metadata = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
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
            raise InvalidArgument("update_mask", f"unknown field {shown(path)}; valid: {', '.join(UPDATABLE)}")
        if path == "cost":
            cost = value
        elif path.startswith("cost."):
            cost = replace(cost, **{path[5:]: value})
        else:
            changes[path] = value
    return replace(spec, cost=cost, **changes)


# -- page tokens: one scheme for every listing -----------------------------------------------------

def encode_page_token(*parts: str) -> str:
    """An opaque token for the key a listing resumes after (unit separator between parts)."""
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_page_token(token: str, n_parts: int, field: str = "page_token") -> list[str]:
    """The ``n_parts`` key parts of a token ``encode_page_token`` issued, or ``InvalidArgument``."""
    if not isinstance(token, str) or len(token) > PAGE_TOKEN_MAX:
        raise InvalidArgument(field, "is not a token this server issued")
    # validate=True: the default decoder drops characters outside the alphabet, so garbage such as
    # "!!!!" would decode to "" and silently restart the listing from the first page.
    try:
        parts = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode().split("\x1f")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if len(parts) != n_parts or not all(parts):
        raise InvalidArgument(field, "is not a token this server issued")
    return parts
