"""The registry as arrays for routing (``AgentTable``), and the capability vectors it carries.

A table is rebuilt whenever the registry changes, and every recorded outcome changes it (stats), so
nothing expensive may happen in a rebuild: capability vectors come from ``CapabilityVectors``, which
embeds an agent's capability text only when that text is new.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from routerd.domain import OPEN, AgentRecord, AgentSpec
from routerd.engine.health import BreakerPolicy
from routerd.engine.validation import LATENCY_MAX_MS, LATENCY_MIN_MS, PRICE_MAX, TYPICAL_OUTPUT_TOKENS_MAX
from routerd.model.embedders import Embedder

PRIOR_WEIGHT = 10.0  # observations a declared quality prior is worth (see ``observed_quality``)


def capability_text(spec: AgentSpec) -> str:
    """What an agent's capability embedding is made of."""
    return " ".join((*spec.capabilities, spec.agent_type, spec.name.replace("-", " ")))


def observed_quality(r: AgentRecord) -> float:
    """The prior blended with every reported quality, times the smoothed success rate."""
    s = r.stats
    blended = (r.spec.quality_prior * PRIOR_WEIGHT + s.quality_sum) / (PRIOR_WEIGHT + s.quality_count)
    success = (s.successes + PRIOR_WEIGHT) / (s.total_requests + PRIOR_WEIGHT)
    return float(min(1.0, max(0.0, blended * success)))


def bounded(values: list[float], lo: float, hi: float) -> npt.NDArray[np.float64]:
    """``values`` as float8 clamped to [lo, hi] (NaN as ``hi``). Registration keeps declared numbers in
    these ranges already; the clamp keeps every estimate finite whatever the store holds (an agent
    stored before the ranges existed) or an outcome observed (a p95 of 0 ms)."""
    clean = np.nan_to_num(np.array(values, dtype=np.float64), nan=hi, posinf=hi, neginf=lo)
    return np.asarray(np.clip(clean, lo, hi), dtype=np.float64)


class CapabilityVectors:
    """Capability embeddings by capability text: stats changes never re-embed, a changed spec
    re-embeds only its own text. Entries no table uses any more are dropped at the next call."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self._by_text: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def warm(self, specs: Sequence[AgentSpec]) -> None:
        """Embed the specs' capability texts now (outside any caller's lock), so the next table build
        does not: with a neural embedder that is milliseconds an agent."""
        texts = [t for t in dict.fromkeys(capability_text(s) for s in specs)]
        with self._lock:
            missing = [t for t in texts if t not in self._by_text]
        if missing:
            vectors = self.embedder.embed(missing)
            with self._lock:
                self._by_text.update(zip(missing, vectors, strict=True))

    def matrix(self, specs: Sequence[AgentSpec]) -> np.ndarray:
        texts = [capability_text(s) for s in specs]
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._by_text]
            if missing:
                for t, v in zip(missing, self.embedder.embed(missing), strict=True):
                    self._by_text[t] = v
            if len(self._by_text) > 2 * len(texts) + 64:
                keep = set(texts)
                self._by_text = {t: v for t, v in self._by_text.items() if t in keep}
            if not texts:
                return np.zeros((0, self.embedder.dim), dtype=np.float32)
            return np.stack([self._by_text[t] for t in texts])


class AgentTable:
    """Per-agent columns the router computes with, built from one registry snapshot."""

    def __init__(self, version: int, records: Sequence[AgentRecord], vectors: CapabilityVectors,
                 policy: BreakerPolicy):
        self.version = version
        self.records = list(records)
        self.names = [r.name for r in self.records]
        self.index = {n: i for i, n in enumerate(self.names)}
        n = len(self.records)
        f8 = np.float64
        specs = [r.spec for r in self.records]
        self.active = np.array([s.active for s in specs], dtype=bool)
        self.open_until = np.array(
            [(r.stats.breaker_opened_at or 0.0) + policy.cooldown_s if r.stats.breaker_state == OPEN
             else -math.inf for r in self.records], dtype=f8)
        self.any_open = bool(np.isfinite(self.open_until).any())
        self.any_inactive = not bool(self.active.all())
        self.state = [r.stats.breaker_state for r in self.records]
        # Estimates are bounded (routerd.engine.validation): prices 0..PRICE_MAX, latencies
        # LATENCY_MIN_MS..LATENCY_MAX_MS, so every cost, utility and alternative is finite.
        self.in1k = bounded([s.cost.per_1k_input_tokens for s in specs], 0.0, PRICE_MAX)
        self.out1k = bounded([s.cost.per_1k_output_tokens for s in specs], 0.0, PRICE_MAX)
        self.per_call = bounded([s.cost.per_call for s in specs], 0.0, PRICE_MAX)
        self.per_second = bounded([s.cost.per_second for s in specs], 0.0, PRICE_MAX)
        self.typical_out = bounded([s.typical_output_tokens for s in specs], 0.0, TYPICAL_OUTPUT_TOKENS_MAX)
        self.latency = bounded(
            [r.stats.p95_latency_ms if r.stats.p95_latency_ms is not None else r.spec.latency_prior_ms
             for r in self.records], LATENCY_MIN_MS, LATENCY_MAX_MS)
        self.log_latency = np.log10(self.latency)
        self.observed_quality = np.array([observed_quality(r) for r in self.records], dtype=f8)
        self.capabilities = [frozenset(s.capabilities) for s in specs]
        self.caps: dict[str, np.ndarray] = {}
        for i, s in enumerate(specs):
            for cap in s.capabilities:
                self.caps.setdefault(cap, np.zeros(n, dtype=bool))[i] = True
        self._lacks: dict[str, np.ndarray] = {}
        self._nobody = np.ones(n, dtype=bool)
        self.cap_embeddings = vectors.matrix(specs)
        # The cost part that does not depend on the request.
        self.base_cost = (self.per_call + self.latency / 1000.0 * self.per_second
                          + self.typical_out / 1000.0 * self.out1k)
        self.in_per_token = self.in1k / 1000.0

    def lacks(self, capability: str) -> np.ndarray:
        """(a,) True where an agent does not declare ``capability`` (cached per table)."""
        m = self._lacks.get(capability)
        if m is None:
            have = self.caps.get(capability)
            m = ~have if have is not None else self._nobody
            if len(self._lacks) < 1024:
                self._lacks[capability] = m
        return m

    def __len__(self) -> int:
        return len(self.names)
