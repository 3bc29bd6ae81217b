"""The decision log: every decision is buffered, written to the store in the background, and
remembered in memory for the outcomes that name it."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

from routerd.domain import DecisionRecord
from routerd.engine.decision import Decision
from routerd.errors import DecisionNotFound
from routerd.store.base import Store

log = logging.getLogger(__name__)

RECENT_DECISIONS = 100_000  # decisions remembered in memory for outcome lookups
PENDING_MAX = 1_000_000  # decisions buffered while the store is unavailable; older ones are dropped
REQUEST_TEXT_MAX = 1000  # characters of the request kept in the log


class DecisionLog:
    def __init__(self, store: Store, flush_interval_s: float = 0.2):
        self.store = store
        # Decisions are turned into records by the flusher, off the request path; records that failed
        # to be written wait in ``_unwritten`` (compact, unlike decisions, which hold their arrays).
        self._pending: list[Decision] = []
        self._unwritten: list[DecisionRecord] = []
        # decision id -> (agent or None, estimated cost), for outcomes that name only the decision
        self._recent: OrderedDict[str, tuple[str | None, float | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_interval_s,),
                                         name="decision-log", daemon=True)
        self._flusher.start()

    def append(self, decisions: Sequence[Decision]) -> None:
        with self._lock:
            self._pending.extend(decisions)
            recent = self._recent
            for d in decisions:
                recent[d.decision_id] = (d.agent_name, d.estimated_cost if d.agent_name is not None else None)
            while len(recent) > RECENT_DECISIONS:
                recent.popitem(last=False)

    @staticmethod
    def record(d: Decision) -> DecisionRecord:
        routed = d.agent_name is not None
        return DecisionRecord(
            d.decision_id, d.decided_at, d.agent_name, d.objective,
            d.query.text[:REQUEST_TEXT_MAX].replace("\x00", ""),
            d.estimated_cost if routed else None, d.estimated_latency_ms if routed else None,
            d.expected_quality if routed else None, d.confidence if routed else None, d.model_version)

    def lookup(self, decision_id: str) -> tuple[str | None, float | None]:
        """The agent a decision routed to (None: routed nowhere) and its estimated cost."""
        with self._lock:
            hit = self._recent.get(decision_id)
        if hit is None:
            rec = self.store.get_decision(decision_id)
            if rec is None:
                raise DecisionNotFound(decision_id)
            hit = (rec.agent_name, rec.estimated_cost)
        return hit

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._unwritten)

    def flush(self) -> None:
        """Write the buffered decisions. Safe to call from any thread."""
        with self._flush_lock:
            with self._lock:
                decisions, self._pending = self._pending, []
                batch, self._unwritten = self._unwritten, []
            batch.extend(self.record(d) for d in decisions)
            if not batch:
                return
            try:
                self.store.append_decisions(batch)
            except Exception:
                with self._lock:  # keep them for the next try, within bounds
                    self._unwritten[:0] = batch
                    if len(self._unwritten) > PENDING_MAX:
                        dropped = len(self._unwritten) - PENDING_MAX
                        del self._unwritten[:dropped]
                        log.error("decision log: store unavailable, dropped %d oldest decisions", dropped)
                raise

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except Exception:
                log.exception("decision log flush failed; will retry")

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(timeout=5)
        self.flush()
