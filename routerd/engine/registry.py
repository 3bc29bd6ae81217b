"""The agent registry: a write-through cache of agents over the store (validation: ``validation``).

Every write goes to the store first and reaches the in-memory view only once it is committed, so
a crash never leaves the cache ahead of what is durable. Reads (and routing) use the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from routerd.domain import AGENT_TYPES, AgentRecord, AgentSpec, AgentStats
from routerd.engine.table import CapabilityVectors
from routerd.engine.validation import (
    CAPABILITY_MAX,
    CAPABILITY_QUERY_MAX,
    NAME_MAX,
    NAME_PATTERN,
    apply_patch,
    check_text,
    decode_page_token,
    encode_page_token,
    shown,
    validate_name,
    validate_spec,
)
from routerd.errors import AgentNotFound, InvalidArgument
from routerd.model.embedders import Embedder
from routerd.store.base import Store


class Registry:
    """Agents by name, backed by ``store``. Thread-safe; ``version`` grows on every change so
    the router can tell when to rebuild its arrays."""

    def __init__(self, store: Store, embedder: Embedder, clock: Callable[[], float] = time.time):
        self.store = store
        self.embedder = embedder
        self.capability_vectors = CapabilityVectors(embedder)
        self.clock = clock
        self._lock = threading.RLock()
        self._agents: dict[str, AgentRecord] = {r.name: r for r in store.list_agents()}
        self.version = 0

    # -- reads --------------------------------------------------------------------------------
    def snapshot(self) -> tuple[int, list[AgentRecord]]:
        with self._lock:
            return self.version, sorted(self._agents.values(), key=lambda r: r.name)

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self._agents

    def get(self, name: str) -> AgentRecord:
        with self._lock:
            rec = self._agents.get(name)
        if rec is None:
            check_text(name, "name", NAME_MAX)  # bounded before it is echoed in the message
            raise AgentNotFound(name)
        return rec

    def list_page(self, *, capability: str = "", agent_type: str = "", active: bool | None = None,
             page_size: int = 0, page_token: str = "") -> tuple[list[AgentRecord], str]:
        if page_size < 0 or page_size > 1000:
            raise InvalidArgument("page_size", f"must be in 0..1000, got {page_size}")
        check_text(capability, "capability", CAPABILITY_MAX)
        if agent_type and agent_type not in AGENT_TYPES:
            raise InvalidArgument("agent_type",
                                  f"unknown type {shown(agent_type)}; valid: {', '.join(AGENT_TYPES)}")
        size = page_size or 100
        after = None
        if page_token:
            (after,) = decode_page_token(page_token, 1)
            if len(after) > NAME_MAX or not NAME_PATTERN.match(after):  # every issued token names an agent
                raise InvalidArgument("page_token", "is not a token this server issued")
        _, records = self.snapshot()
        out = [
            r for r in records
            if (after is None or r.name > after)
            and (not capability or capability in r.spec.capabilities)
            and (not agent_type or r.spec.agent_type == agent_type)
            and (active is None or r.spec.active == active)
        ]
        page = out[:size]
        token = encode_page_token(page[-1].name) if len(out) > size else ""
        return page, token

    def find_by_capability(self, text: str, limit: int = 10,
                           active_only: bool = False) -> list[tuple[AgentRecord, float]]:
        check_text(text, "capability", CAPABILITY_QUERY_MAX)
        if not text.strip():
            raise InvalidArgument("capability", "must not be empty")
        if limit < 0 or limit > 1000:
            raise InvalidArgument("limit", f"must be in 0..1000, got {limit}")
        _, records = self.snapshot()
        records = [r for r in records if r.spec.active or not active_only]
        if not records:
            return []
        q = self.embedder.embed([text])[0]
        m = self.capability_vectors.matrix([r.spec for r in records])
        sims = m @ q
        # A capability declared word for word is the strongest evidence there is.
        wanted = text.strip().lower()
        sims[[any(c.lower() == wanted for c in r.spec.capabilities) for r in records]] = 1.0
        # Equally good matches: the agent declared better first.
        order = sorted(range(len(records)), key=lambda i: (-sims[i], -records[i].spec.quality_prior, records[i].name))
        return [(records[i], float(sims[i])) for i in order[: limit or 10]]

    def reload(self) -> bool:
        """Take in what another routerd sharing the store changed (agents, their stats); True when
        something did. New capability texts are embedded before the lock is taken."""
        self.capability_vectors.warm([r.spec for r in self.store.list_agents()])
        with self._lock:  # a local write in between is in the store: the second read has it
            fresh = {r.name: r for r in self.store.list_agents()}
            if fresh == self._agents:
                return False
            self._agents = fresh
            self.version += 1
            return True

    # -- writes -------------------------------------------------------------------------------
    def register(self, spec: AgentSpec) -> AgentRecord:
        spec = validate_spec(spec)
        now = self.clock()
        rec = AgentRecord(spec=spec, stats=AgentStats(), created_at=now, updated_at=now)
        self.capability_vectors.warm([spec])
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
            self.capability_vectors.warm([spec])
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
