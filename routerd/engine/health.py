"""Agent health from outcomes: latency quantiles over a recent window and a circuit breaker.

Circuit breaker, per agent:
    closed ──(``consecutive_failures`` failures in a row, or a failure rate ≥ ``failure_rate`` over
              the last ``window`` outcomes once ``min_samples`` are in)──► open
    open ──(``cooldown_s`` elapsed)──► half_open  (routable again: the next requests are probes)
    half_open ──(a probe succeeds)──► closed;  ──(a probe fails)──► open (cooldown restarts)
The state is stored with the agent, so a restarted routerd keeps it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from routerd.domain import CLOSED, HALF_OPEN, OPEN, AgentStats, HealthUpdate


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    consecutive_failures: int = 5
    failure_rate: float = 0.5
    window: int = 20
    min_samples: int = 10
    cooldown_s: float = 30.0

    def effective_state(self, stats: AgentStats, now: float) -> str:
        """``open`` turns into ``half_open`` by itself once the cooldown has passed."""
        if stats.breaker_state == OPEN and stats.breaker_opened_at is not None \
                and now - stats.breaker_opened_at >= self.cooldown_s:
            return HALF_OPEN
        return stats.breaker_state

    def retry_in(self, stats: AgentStats, now: float) -> float:
        if stats.breaker_opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (now - stats.breaker_opened_at))

    def after_outcome(self, stats: AgentStats, success: bool, recent: Iterable[bool],
                      now: float) -> tuple[str, int, float | None]:
        """(state, consecutive_failures, opened_at) after one more outcome; ``recent`` are the
        success flags of the latest outcomes including this one."""
        state = self.effective_state(stats, now)
        streak = 0 if success else stats.consecutive_failures + 1
        if success:
            if state == HALF_OPEN:
                return CLOSED, 0, None
            return state, 0, stats.breaker_opened_at if state == OPEN else None
        if state == HALF_OPEN:
            return OPEN, streak, now
        if state == OPEN:
            return OPEN, streak, stats.breaker_opened_at
        flags = list(recent)[-self.window:]
        rate = flags.count(False) / len(flags) if flags else 0.0
        if streak >= self.consecutive_failures or (len(flags) >= self.min_samples and rate >= self.failure_rate):
            return OPEN, streak, now
        return CLOSED, streak, None


class AgentWindows:
    """Per-agent recent latencies and success flags, for quantiles and the failure-rate rule."""

    def __init__(self, size: int = 512):
        self.size = size
        self._latency: dict[str, deque[float]] = {}
        self._success: dict[str, deque[bool]] = {}
        self._lock = threading.Lock()

    def seed(self, agent: str, latencies: Iterable[float], successes: Iterable[bool] = ()) -> None:
        with self._lock:
            self._latency[agent] = deque(latencies, maxlen=self.size)
            self._success[agent] = deque(successes, maxlen=self.size)

    def add(self, agent: str, latency_ms: float, success: bool) -> tuple[list[float], list[bool]]:
        with self._lock:
            lat = self._latency.setdefault(agent, deque(maxlen=self.size))
            ok = self._success.setdefault(agent, deque(maxlen=self.size))
            lat.append(latency_ms)
            ok.append(success)
            return list(lat), list(ok)

    def reset_flags(self, agent: str) -> None:
        with self._lock:
            self._success[agent] = deque(maxlen=self.size)

    def forget(self, agent: str) -> None:
        with self._lock:
            self._latency.pop(agent, None)
            self._success.pop(agent, None)


def quantiles(latencies: list[float]) -> tuple[float | None, float | None]:
    if not latencies:
        return None, None
    p95, p99 = np.percentile(np.asarray(latencies, dtype=np.float64), [95, 99])
    return float(p95), float(p99)


def health_after(policy: BreakerPolicy, stats: AgentStats, success: bool, latencies: list[float],
                 flags: list[bool], now: float) -> HealthUpdate:
    state, streak, opened = policy.after_outcome(stats, success, flags, now)
    p95, p99 = quantiles(latencies)
    return HealthUpdate(p95, p99, state, streak, opened)
