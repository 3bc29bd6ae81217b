"""The decision log: every decision is committed to the store before the call that made it returns
(group commit), and remembered in memory for the outcomes that name it.

A returned decision is durable: budgets reserve money on decisions, and an outcome may name a
decision after any crash. To keep throughput, the decisions of calls that arrive while a commit is
in progress are written together in ONE store transaction (one fsync) by one of those callers, the
group's leader (leader/follower group commit; no thread of its own, no hand-off when calls come one
at a time):

    append(decisions): join the group being filled
      - no commit in progress: lead this group at once
      - else wait; when the commit in progress ends, its leader wakes one caller of this group to lead it
    the leader: closes the group (later calls fill the next one), builds the records, one transaction,
      remembers the ids for outcome lookups, wakes the group's callers, passes the lead on

The more callers route at once, the larger the groups and the fewer commits per decision. A write
that fails (disk full, read-only or unreachable store) fails every call of its group with
``StoreUnavailable`` (gRPC UNAVAILABLE): a decision is never returned unless it is stored.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from routerd.domain import BudgetCheck, ChargeRecord, DecisionRecord
from routerd.engine.decision import Decision
from routerd.errors import BudgetConflict, DecisionNotFound, StoreUnavailable
from routerd.model.features import HEAD_CHARS, TAIL_CHARS
from routerd.store.base import Store

log = logging.getLogger(__name__)

RECENT_DECISIONS = 100_000  # decisions remembered in memory for outcome lookups
REQUEST_TEXT_MAX = HEAD_CHARS + TAIL_CHARS + 1  # characters of the request kept in the log
ELISION = "\n…\n"


def logged_text(text: str) -> str:
    """The request text the log keeps: all of it when short, else its head and its tail around an
    elision mark, so the model trained from outcomes sees the chunks it is served
    (``routerd.model.features.chunks`` of the kept text equals that of the full text)."""
    text = text.replace("\x00", "")
    if len(text) <= REQUEST_TEXT_MAX:
        return text
    return text[:HEAD_CHARS] + ELISION + text[-TAIL_CHARS:]


class _Group:
    """Decisions committed together. Its callers wait on ``cv`` (over the log's lock) until it is
    ``done``, or until one of them is asked to lead it (``leader_wanted``)."""

    __slots__ = ("cv", "decisions", "done", "error", "leader_wanted")

    def __init__(self, lock: threading.Lock) -> None:
        self.cv = threading.Condition(lock)
        self.decisions: list[Decision] = []
        self.done = False
        self.leader_wanted = False
        self.error: BaseException | None = None

    def result(self) -> None:
        exc = self.error
        if exc is None:
            return
        if isinstance(exc, StoreUnavailable):
            raise StoreUnavailable(f"the decision could not be stored, so it was not made: {exc}") from exc
        if isinstance(exc, BudgetConflict):
            raise BudgetConflict(exc.budgets) from exc
        raise RuntimeError(f"writing the decision log failed: {exc!r}") from exc


class DecisionLog:
    def __init__(self, store: Store, checks: Callable[[Sequence[ChargeRecord]], list[BudgetCheck]] | None = None):
        self.store = store
        # what the store must verify of a group's charges (the BudgetBook's hard budgets)
        self.checks = checks or (lambda charges: [])
        # decision id -> (agent or None, estimated cost), for outcomes that name only the decision
        self._recent: OrderedDict[str, tuple[str | None, float | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._filling = _Group(self._lock)  # the group new decisions join
        self._writing: _Group | None = None  # the group being committed, if any
        self._idle = threading.Condition(self._lock)  # notified when no commit is in progress
        self._closed = False

    def append(self, decisions: Sequence[Decision]) -> None:
        """Commit ``decisions`` to the store; return once they are durable. Raises
        ``StoreUnavailable`` if they could not be written (then none of them may be returned)."""
        if not decisions:
            return
        with self._lock:
            if self._closed:
                raise StoreUnavailable("routerd is shutting down: the decision log takes no more decisions")
            group = self._filling
            group.decisions.extend(decisions)
            if self._writing is not None:
                while not group.done and not group.leader_wanted:
                    group.cv.wait()
                if group.done:
                    group.result()
                    return
                group.leader_wanted = False  # this caller leads the group
            self._filling = _Group(self._lock)
            self._writing = group
        try:
            self._commit(group)
        finally:
            with self._lock:
                group.done = True
                group.cv.notify_all()
                following = self._filling
                if following.decisions:  # calls waited while this group was written: one of them leads
                    self._writing = following
                    following.leader_wanted = True
                    following.cv.notify()
                else:
                    self._writing = None
                    self._idle.notify_all()
        group.result()

    @staticmethod
    def record(d: Decision) -> DecisionRecord:
        routed = d.agent_name is not None
        return DecisionRecord(
            d.decision_id, d.decided_at, d.agent_name, d.objective,
            logged_text(d.query.text),
            d.estimated_cost if routed else None, d.estimated_latency_ms if routed else None,
            d.expected_quality if routed else None, d.confidence if routed else None, d.model_version,
            d.route_name,
            d.query.embedding.astype("<f4").tobytes() if d.query.embedding is not None and d.query.embedding.size
            else None,
            d.query.request_id,
            d.reference_cost,
            json.dumps(list(d.query.tags)) if d.query.tags else None)

    @staticmethod
    def charges(decisions: Sequence[Decision]) -> list[ChargeRecord]:
        """The budget reservations of ``decisions`` (set by the BudgetBook when it reserved them)."""
        return [c for d in decisions for c in d.charge_rows]

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
        """Decisions appended and not yet committed (their callers are waiting)."""
        with self._lock:
            writing = self._writing
            extra = len(writing.decisions) if writing is not None and writing is not self._filling else 0
            return len(self._filling.decisions) + extra

    def flush(self) -> None:
        """Wait until every decision appended so far (by any thread) is committed. ``append``
        already waits for its own decisions, so this only waits for other threads' calls in flight."""
        with self._lock:
            groups = [g for g in (self._writing, self._filling) if g is not None and g.decisions]
            for g in groups:
                while not g.done:
                    g.cv.wait()

    def _commit(self, group: _Group) -> None:
        try:
            records = [self.record(d) for d in group.decisions]
            charges = self.charges(group.decisions)
            if charges:
                self.store.append_decisions(records, charges, self.checks(charges))
            else:
                self.store.append_decisions(records)
        except Exception as exc:  # every caller of the group gets the error
            if isinstance(exc, StoreUnavailable):
                log.warning("decision log: %d decisions not stored, their calls fail: %s", len(group.decisions), exc)
            elif isinstance(exc, BudgetConflict):  # another routerd spent them: the callers route again
                log.info("decision log: %d decisions not stored, %s", len(group.decisions), exc)
            else:
                log.exception("decision log: %d decisions not stored, their calls fail", len(group.decisions))
            group.error = exc
            return
        with self._lock:
            recent = self._recent
            for d in group.decisions:
                recent[d.decision_id] = (d.agent_name, d.estimated_cost if d.agent_name is not None else None)
            while len(recent) > RECENT_DECISIONS:
                recent.popitem(last=False)

    def close(self) -> None:
        """Refuse new decisions and wait for the commits in progress. Writes nothing itself and
        raises nothing: a decision that could not be stored has already failed its call."""
        with self._lock:
            self._closed = True
            while self._writing is not None:
                self._idle.wait()
