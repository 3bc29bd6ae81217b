"""The agent registry: validation of declared fields, and a write-through cache over the store.

Every write goes to the store first and reaches the in-memory view only once it is committed, so
a crash never leaves the cache ahead of what is durable. Reads (and routing) use the cache.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from routerd.domain import AGENT_TYPES, AgentRecord, AgentSpec, AgentStats, CostModel
from routerd.errors import AgentNotFound, InvalidArgument
from routerd.model.embedder import Embedder
from routerd.store.base import Store

NAME_MAX = 128
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-:/@]*$")
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
    if not _NAME.match(name):
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


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_token(token: str) -> str:
    # validate=True: the default decoder drops characters outside the alphabet, so garbage such as
    # "!!!!" would decode to "" and silently restart the listing from the first page.
    try:
        name = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        name = ""
    if not name or len(name) > NAME_MAX or not _NAME.match(name):  # every issued token names an agent
        raise InvalidArgument("page_token", "is not a token this server issued")
    return name


class Registry:
    """Agents by name, backed by ``store``. Thread-safe; ``version`` grows on every change so
    the router can tell when to rebuild its arrays."""

    def __init__(self, store: Store, embedder: Embedder, clock: Callable[[], float] = time.time):
        self.store = store
        self.embedder = embedder
        self.clock = clock
        self._lock = threading.RLock()
        self._agents: dict[str, AgentRecord] = {r.name: r for r in store.list_agents()}
        self.version = 0

    # -- reads --------------------------------------------------------------------------------
    def snapshot(self) -> tuple[int, list[AgentRecord]]:
        with self._lock:
            return self.version, sorted(self._agents.values(), key=lambda r: r.name)

    def get(self, name: str) -> AgentRecord:
        with self._lock:
            rec = self._agents.get(name)
        if rec is None:
            raise AgentNotFound(name)
        return rec

    def list_page(self, *, capability: str = "", agent_type: str = "", active: bool | None = None,
             page_size: int = 0, page_token: str = "") -> tuple[list[AgentRecord], str]:
        if page_size < 0 or page_size > 1000:
            raise InvalidArgument("page_size", f"must be in 0..1000, got {page_size}")
        if agent_type and agent_type not in AGENT_TYPES:
            raise InvalidArgument("agent_type", f"unknown type {agent_type!r}; valid: {', '.join(AGENT_TYPES)}")
        size = page_size or 100
        after = _decode_token(page_token) if page_token else None
        _, records = self.snapshot()
        out = [
            r for r in records
            if (after is None or r.name > after)
            and (not capability or capability in r.spec.capabilities)
            and (not agent_type or r.spec.agent_type == agent_type)
            and (active is None or r.spec.active == active)
        ]
        page = out[:size]
        token = _encode_token(page[-1].name) if len(out) > size else ""
        return page, token

    def find_by_capability(self, text: str, limit: int = 10,
                           active_only: bool = False) -> list[tuple[AgentRecord, float]]:
        if not text.strip():
            raise InvalidArgument("capability", "must not be empty")
        if limit < 0 or limit > 1000:
            raise InvalidArgument("limit", f"must be in 0..1000, got {limit}")
        _, records = self.snapshot()
        records = [r for r in records if r.spec.active or not active_only]
        if not records:
            return []
        q = self.embedder.embed([text])[0]
        m = self.embedder.embed([capability_text(r.spec) for r in records])
        sims = m @ q
        # A capability declared word for word is the strongest evidence there is.
        wanted = text.strip().lower()
        sims[[any(c.lower() == wanted for c in r.spec.capabilities) for r in records]] = 1.0
        # Equally good matches: the agent declared better first.
        order = sorted(range(len(records)), key=lambda i: (-sims[i], -records[i].spec.quality_prior, records[i].name))
        return [(records[i], float(sims[i])) for i in order[: limit or 10]]

    # -- writes -------------------------------------------------------------------------------
    def register(self, spec: AgentSpec) -> AgentRecord:
        spec = validate_spec(spec)
        now = self.clock()
        rec = AgentRecord(spec=spec, stats=AgentStats(), created_at=now, updated_at=now)
        with self._lock:
            self.store.insert_agent(rec)  # raises AgentExists before anything changes here
            self._agents[spec.name] = rec
            self.version += 1
        return rec

    def update(self, name: str, patch: Mapping[str, Any]) -> AgentRecord:
        validate_name(name)
        with self._lock:
            current = self.get(name)
            spec = validate_spec(apply_patch(current.spec, patch))
            rec = self.store.replace_agent_spec(spec, self.clock())
            self._agents[name] = rec
            self.version += 1
            return rec

    def set_active(self, name: str, active: bool) -> AgentRecord:
        return self.update(name, {"active": active})

    def remove(self, name: str) -> AgentRecord:
        validate_name(name)
        with self._lock:
            rec = self.get(name)
            self.store.delete_agent(name)
            del self._agents[name]
            self.version += 1
            return rec

    def clear(self) -> int:
        with self._lock:
            n = self.store.clear_agents()
            self._agents.clear()
            self.version += 1
            return n

    def set_stats(self, name: str, stats: AgentStats) -> None:
        """Install stats the store returned after an outcome (the agent may be gone meanwhile)."""
        with self._lock:
            rec = self._agents.get(name)
            if rec is not None:
                self._agents[name] = replace(rec, stats=stats)
                self.version += 1


def capability_text(spec: AgentSpec) -> str:
    """What an agent's capability embedding is made of."""
    return " ".join((*spec.capabilities, spec.agent_type, spec.name.replace("-", " ")))
