"""Budgets: money a window may spend, reserved with each decision, reconciled by its outcome.

A budget (``routerd.domain.BudgetSpec``) has an amount (USD), a window, a scope and a mode:

* window ``day`` | ``week`` | ``month``: the UTC calendar window that contains now (weeks start on
  Monday); ``total``: all time; ``rolling``: the last ``window_seconds``. A charge counts in the
  window that contains its decision's time.
* scope ``global`` charges every routed decision, ``agent:<name>`` the decisions routed to that
  agent, ``tag:<t>`` the requests tagged t. A decision is charged its estimated cost against every
  budget whose scope matches it.
* ``used`` = settled (the outcomes' actual costs) + reserved (the estimates of decisions with no
  outcome yet; past the reservation TTL they stay charged, reported as unreconciled: the safe side)
  of the charges in the current window; cancelled decisions release theirs.
* mode ``hard``: agent a is infeasible for a request when its estimate exceeds ``amount - used`` of
  a hard budget that would charge it, so hard budgets are never overspent by decisions (spend an
  outcome reports without a decision, or an actual cost above its estimate, is counted when it
  happens and can take a budget past its amount: that is money already spent).
* mode ``soft``: pacing. The cost term of the utility is weighted ``pace(u)`` times, u = used/amount:
  1 up to u = 1/2, then 1 + 36 (u - 1/2)^2, which is 10 at u = 1 (``routerd.engine.router``); agents
  are refused only once ``used >= amount``.

Concurrency: ``BudgetBook.lock`` is held from reading the ledgers (``limits``) to adding the new
decisions' reservations (``reserve``), so two decisions can never both take the last dollars; the
store write follows (the decision and its charges in one transaction), and a write that fails
releases them. The ledgers are rebuilt from the store's charges at start, so reservations survive
a crash. (Several routerd replicas on one PostgreSQL store would each hold their own ledgers: that
exactness across replicas is not built yet.)
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerd.domain import (
    BUDGET_MODES,
    BUDGET_WINDOWS,
    NANO,
    BudgetCheck,
    BudgetRecord,
    BudgetSpec,
    ChargeRecord,
    nano,
    nano_down,
    window_bounds,
)
from routerd.engine.query import RouteQuery
from routerd.engine.table import AgentTable
from routerd.engine.validation import COST_MAX, NAME_PATTERN, WTP_MAX, WTP_MIN, check_number, shown, validate_name
from routerd.errors import BudgetNotFound, InvalidArgument
from routerd.store.base import Store

ROLLING_MAX_S = 3.2e8  # about ten years
RESERVATION_TTL_S = 3600.0  # default of Config.reservation_ttl_s
PACE_MAX = 10.0


def usd(n: int) -> float:
    return n / NANO


def pace(used: float, amount: float) -> float:
    """The soft budget's weight on the cost term: 1 up to half spent, 10 once spent."""
    if amount <= 0:
        return PACE_MAX
    u = used / amount
    if u <= 0.5:
        return 1.0
    return min(PACE_MAX, 1.0 + 36.0 * (u - 0.5) ** 2)


def parse_scope(scope: str) -> tuple[str, str]:
    """("global", "") | ("agent", name) | ("tag", tag)."""
    if scope == "global":
        return "global", ""
    kind, sep, value = scope.partition(":")
    if sep and kind in ("agent", "tag"):
        return kind, value
    raise InvalidArgument("budget.scope", f"must be 'global', 'agent:<name>' or 'tag:<tag>', got {shown(scope, 80)}")


def validate_budget(spec: BudgetSpec, agent_exists: Callable[[str], bool], prefix: str = "budget.") -> BudgetSpec:
    """The spec with its numbers normalised, or ``InvalidArgument`` naming the field."""
    validate_name(spec.name, f"{prefix}name")
    amount = check_number(spec.amount, f"{prefix}amount", maximum=COST_MAX)
    if spec.window_kind not in BUDGET_WINDOWS:
        raise InvalidArgument(f"{prefix}window", f"unknown window {shown(spec.window_kind, 40)}; "
                                                 f"valid: {', '.join(BUDGET_WINDOWS)}")
    seconds = spec.window_seconds
    if spec.window_kind == "rolling":
        if seconds is None:
            raise InvalidArgument(f"{prefix}window_seconds", "is required for a rolling window")
        seconds = check_number(seconds, f"{prefix}window_seconds", minimum=1.0, maximum=ROLLING_MAX_S)
    elif seconds is not None:
        raise InvalidArgument(f"{prefix}window_seconds", f"is only for a rolling window, not {spec.window_kind}")
    if not isinstance(spec.scope, str):
        raise InvalidArgument(f"{prefix}scope", f"must be text, got {shown(spec.scope)}")
    try:
        kind, value = parse_scope(spec.scope)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{prefix}scope", exc.problem) from None
    if kind == "agent":
        validate_name(value, f"{prefix}scope")
        if not agent_exists(value):
            raise InvalidArgument(f"{prefix}scope", f"no agent named {value!r} (register it first)")
    elif kind == "tag" and (len(value) > 64 or not NAME_PATTERN.match(value)):
        raise InvalidArgument(f"{prefix}scope", f"the tag must be 1..64 letters, digits and . _ - : / @, "
                                                f"got {shown(value, 40)}")
    mode = spec.mode or "hard"
    if mode not in BUDGET_MODES:
        raise InvalidArgument(f"{prefix}mode", f"unknown mode {shown(mode, 40)}; valid: {', '.join(BUDGET_MODES)}")
    wtp = spec.willingness_to_pay
    if wtp is not None:
        wtp = check_number(wtp, f"{prefix}willingness_to_pay", minimum=WTP_MIN, maximum=WTP_MAX)
    return dataclasses.replace(spec, amount=amount, window_seconds=seconds, mode=mode, willingness_to_pay=wtp)


@dataclass(frozen=True, slots=True)
class SpendReport:
    """A budget's current window, from the store (``Spend`` in the proto)."""

    budget: BudgetSpec
    window_start: float
    window_end: float | None
    settled: float
    reserved: float
    unreconciled: float
    decisions: int
    unreconciled_decisions: int

    @property
    def remaining(self) -> float:
        return round(self.budget.amount - self.settled - self.reserved - self.unreconciled, 9)


class Ledger:
    """One budget's ``used`` (nano-dollars) in its current window, kept in memory under the book's lock."""

    __slots__ = ("amount", "by_id", "end", "entries", "record", "spec", "start", "used")

    def __init__(self, record: BudgetRecord, store: Store, now: float):
        self.record = record
        self.spec = record.spec
        self.amount = nano_down(record.spec.amount)
        self.entries: deque[list[Any]] = deque()  # rolling: [charged_at, decision_id, nano], oldest first
        self.by_id: dict[str, list[Any]] = {}
        self.used = 0
        self.load(store, now)

    def load(self, store: Store, now: float) -> None:
        """Read ``used`` from the store: the window's usage row, or a rolling window's charges."""
        s = self.spec
        self.start, self.end = window_bounds(s.window_kind, s.window_seconds, now)
        self.entries.clear()
        self.by_id.clear()
        self.used = 0
        if s.window_kind == "rolling":
            for decision_id, t, n in store.budget_charge_values(s.name, self.start):
                self.add(decision_id, t, n)
        else:
            self.used = store.budget_used(s.name, self.start)

    @property
    def window_start(self) -> float | None:
        """The calendar window charges count in now (None: rolling)."""
        return None if self.spec.window_kind == "rolling" else self.start

    def current(self, store: Store, now: float) -> int:
        """``used`` in the window containing ``now`` (rolls the window forward first)."""
        s = self.spec
        if s.window_kind == "rolling":
            horizon = now - (s.window_seconds or 0.0)
            if horizon < self.start - 1e-9:  # the clock went back: recount from the store
                self.load(store, now)
            self.start = horizon
            entries = self.entries
            while entries and entries[0][0] < horizon:
                t, decision_id, n = entries.popleft()
                self.by_id.pop(decision_id, None)
                self.used -= n
        elif now < self.start or (self.end is not None and now >= self.end):
            self.load(store, now)
        return self.used

    def add(self, decision_id: str, t: float, n: int) -> None:
        self.used += n
        if self.spec.window_kind == "rolling":
            entry = [t, decision_id, n]
            self.entries.append(entry)
            self.by_id[decision_id] = entry

    def adjust(self, decision_id: str, t: float, before: int, after: int) -> None:
        """A charge of time ``t`` went from ``before`` to ``after`` nano-dollars (settled, or released: 0)."""
        delta = after - before
        if self.spec.window_kind == "rolling":
            entry = self.by_id.get(decision_id)
            if entry is not None:
                entry[2] += delta
                self.used += delta
        elif self.start <= t and (self.end is None or t < self.end):
            self.used += delta

    def applies(self, tags: Sequence[str]) -> bool:
        kind, value = parse_scope(self.spec.scope)
        return kind == "global" or (kind == "tag" and value in tags)


def _fits_below(left: int) -> float:
    """The largest float x with nano(x) <= left (nano-dollars): a cost fits iff cost <= this."""
    x = left / NANO
    while nano(x) > left:
        x = math.nextafter(x, -math.inf)
    while nano(math.nextafter(x, math.inf)) <= left:
        x = math.nextafter(x, math.inf)
    return x


class BudgetLimits:
    """What the budgets leave for one routing call: per request, each agent's headroom under the
    hard budgets, whether a soft budget is spent, and the pacing weight. ``charge`` takes each routed
    request's estimate from the working copy, so later requests of a batch see what earlier ones took.
    Built and consumed under ``BudgetBook.lock``."""

    def __init__(self, ledgers: Sequence[Ledger], table: AgentTable, queries: Sequence[RouteQuery], now: float,
                 store: Store):
        self.table = table
        self.left = {lg.spec.name: lg.amount - lg.current(store, now) for lg in ledgers}  # nano-dollars
        self.specs = {lg.spec.name: lg.spec for lg in ledgers}
        self._global = [lg.spec.name for lg in ledgers if lg.spec.scope == "global"]
        self._by_tag: dict[str, list[str]] = {}
        self._by_agent: dict[int, list[str]] = {}
        for lg in ledgers:
            kind, value = parse_scope(lg.spec.scope)
            if kind == "tag":
                self._by_tag.setdefault(value, []).append(lg.spec.name)
            elif kind == "agent" and value in table.index:
                self._by_agent.setdefault(table.index[value], []).append(lg.spec.name)
        self.queries = queries
        self.charges: list[tuple[tuple[str, float], ...]] = [()] * len(queries)
        self.snapshots: list[dict[str, int]] = [{}] * len(queries)
        self.offset = 0  # a slice's first request (``slice``): row i is request offset + i

    def slice(self, start: int, stop: int) -> BudgetLimits:
        """The same limits (one working copy) seen from request ``start`` on, for a chunk of a batch."""
        view = copy.copy(self)
        view.offset = self.offset + start
        return view

    def charges_of(self, i: int) -> tuple[tuple[str, float], ...]:
        return self.charges[self.offset + i]

    def _common(self, i: int) -> list[str]:
        names = list(self._global)
        for tag in self.queries[self.offset + i].tags:
            names.extend(self._by_tag.get(tag, ()))
        return names

    def applicable(self, i: int, agent: int) -> list[str]:
        return self._common(i) + self._by_agent.get(agent, [])

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(headroom (a,), soft budget spent (a,) bool, pace (a,) or None) for request ``i``."""
        a = len(self.table)
        common = self._common(i)
        involved = common + [n for names in self._by_agent.values() for n in names]
        self.snapshots[self.offset + i] = {n: self.left[n] for n in involved}

        def fold(names: Sequence[str]) -> tuple[float, bool, float]:
            # headroom in USD, rounded down, so that cost <= headroom exactly when nano(cost) <= left
            head, spent, weight = math.inf, False, 1.0
            for n in names:
                spec, left = self.specs[n], self.left[n]
                if spec.mode == "hard":
                    head = min(head, _fits_below(left))
                else:
                    spent = spent or left <= 0
                    weight = max(weight, pace(spec.amount - usd(left), spec.amount))
            return head, spent, weight

        h, s, w = fold(common)
        headroom = np.full(a, h)
        spent = np.full(a, s)
        weights = np.full(a, w)
        for j, names in self._by_agent.items():
            hj, sj, wj = fold(names)
            headroom[j] = min(h, hj)
            spent[j] = s or sj
            weights[j] = max(w, wj)
        return headroom, spent, (weights if (weights > 1.0).any() else None)

    def charge(self, i: int, agent: int, amount: float) -> None:
        names = self.applicable(i, agent)
        cost = nano(amount)
        for n in names:
            self.left[n] -= cost
        self.charges[self.offset + i] = tuple((n, amount) for n in names)

    def explain(self, i: int, agent: int, cost: float) -> str:
        """Why agent ``agent`` did not fit request ``i``'s budgets (names the budget and the amounts)."""
        snap = self.snapshots[self.offset + i]
        for n in self.applicable(i, agent):
            spec, left = self.specs[n], usd(snap.get(n, self.left[n]))
            if spec.mode == "hard" and cost > left:
                return (f"estimated cost ${cost:.6g} exceeds what is left of hard budget {n!r}: "
                        f"${max(left, 0.0):.6g} of ${spec.amount:.6g} ({spec.window_kind})")
            if spec.mode == "soft" and left <= 0:
                return (f"soft budget {n!r} is spent: ${spec.amount - left:.6g} of ${spec.amount:.6g} "
                        f"({spec.window_kind})")
        return "over a budget"


class BudgetBook:
    """The budgets and their ledgers; reservations, settlements and cancellations."""

    def __init__(self, store: Store, agent_exists: Callable[[str], bool], clock: Callable[[], float] = time.time,
                 reservation_ttl_s: float = RESERVATION_TTL_S):
        self.store = store
        self.agent_exists = agent_exists
        self.clock = clock
        self.reservation_ttl_s = reservation_ttl_s
        self.lock = threading.Lock()
        now = clock()
        self._ledgers: dict[str, Ledger] = {r.name: Ledger(r, store, now) for r in store.list_budgets()}

    # -- the catalogue ------------------------------------------------------------------------
    def create(self, spec: BudgetSpec) -> BudgetRecord:
        spec = validate_budget(spec, self.agent_exists)
        now = self.clock()
        record = BudgetRecord(spec, now, now)
        with self.lock:
            self.store.insert_budget(record)  # BudgetExists
            self._ledgers[spec.name] = Ledger(record, self.store, now)
        return record

    def update(self, name: str, change: Callable[[BudgetSpec], BudgetSpec]) -> BudgetRecord:
        validate_name(name, "name")
        with self.lock:
            old = self._ledger(name).record
            spec = validate_budget(change(old.spec), self.agent_exists)
            if spec.name != name:
                raise InvalidArgument("budget.name", f"cannot rename budget {name!r} (delete and create)")
            record = BudgetRecord(spec, old.created_at, self.clock())
            self.store.replace_budget(record)
            self._ledgers[name] = Ledger(record, self.store, self.clock())
        return record

    def delete(self, name: str) -> BudgetRecord:
        validate_name(name, "name")
        with self.lock:
            record = self._ledger(name).record
            self.store.delete_budget(name)
            del self._ledgers[name]
        return record

    def get(self, name: str) -> BudgetRecord:
        validate_name(name, "name")
        with self.lock:
            return self._ledger(name).record

    def records(self) -> list[BudgetRecord]:
        with self.lock:
            return sorted((lg.record for lg in self._ledgers.values()), key=lambda r: r.name)

    def _ledger(self, name: str) -> Ledger:
        lg = self._ledgers.get(name)
        if lg is None:
            raise BudgetNotFound(name)
        return lg

    def __bool__(self) -> bool:
        return bool(self._ledgers)

    # -- routing ------------------------------------------------------------------------------
    def limits(self, table: AgentTable, queries: Sequence[RouteQuery], now: float) -> BudgetLimits | None:
        """The limits of one call (hold ``lock`` until ``reserve``), None when no budget can apply."""
        ledgers = list(self._ledgers.values())
        if not ledgers:
            return None
        tags = {t for q in queries for t in q.tags}
        relevant = [lg for lg in ledgers if lg.spec.scope == "global" or lg.spec.scope.startswith("agent:")
                    or (lg.spec.scope.startswith("tag:") and lg.spec.scope[4:] in tags)]
        if not relevant:
            return None
        return BudgetLimits(relevant, table, queries, now, self.store)

    def with_willingness(self, queries: Sequence[RouteQuery]) -> Sequence[RouteQuery]:
        """Requests without their own willingness to pay take the smallest one of the global and tag
        budgets covering them that have one (OptimizeBudget apply_to_budget)."""
        priced = [lg for lg in self._ledgers.values() if lg.spec.willingness_to_pay is not None]
        if not priced:
            return queries
        out = list(queries)
        for i, q in enumerate(queries):
            if q.willingness_to_pay is not None:
                continue
            wtps = [lg.spec.willingness_to_pay for lg in priced if lg.applies(q.tags)]
            if wtps:
                out[i] = dataclasses.replace(q, willingness_to_pay=min(w for w in wtps if w is not None))
        return out

    def fits(self, decisions: Sequence[Any], now: float) -> bool:
        """Whether the charges of ``decisions`` (routed on a snapshot) still fit the ledgers as they
        are now (under ``lock``): every hard budget's estimate within what is left, no soft budget spent."""
        taken: dict[str, int] = {}
        for d in decisions:
            for name, amount in d.charges:
                lg = self._ledgers.get(name)
                if lg is None:
                    return False  # deleted meanwhile: route again
                n = taken.get(name)
                if n is None:
                    n = lg.current(self.store, now)
                if lg.spec.mode == "hard" and n + nano(amount) > lg.amount:
                    return False
                if lg.spec.mode == "soft" and n >= lg.amount:
                    return False
                taken[name] = n + nano(amount)
        return True

    def charge_records(self, decisions: Sequence[Any]) -> list[ChargeRecord]:
        """The reservations of routed ``decisions`` (``Decision.charges``) as store rows, each in its
        budget's current window (under ``lock``, right after routing with ``limits``)."""
        out = []
        for d in decisions:
            for name, amount in d.charges:
                lg = self._ledgers.get(name)
                if lg is not None:
                    out.append(ChargeRecord(d.decision_id, name, d.decided_at, amount, window_start=lg.window_start,
                                            nano=nano(amount)))
        return out

    def checks(self, charges: Sequence[ChargeRecord]) -> list[BudgetCheck]:
        """What the commit of ``charges`` must verify in the store: every hard budget they charge."""
        out: dict[str, BudgetCheck] = {}
        for c in charges:
            lg = self._ledgers.get(c.budget_name)
            if lg is None or lg.spec.mode != "hard":
                continue
            since = c.charged_at - (lg.spec.window_seconds or 0.0) if c.window_start is None else c.window_start
            seen = out.get(c.budget_name)
            if seen is None or since < seen.since:
                out[c.budget_name] = BudgetCheck(c.budget_name, c.window_start, since, lg.amount)
        return list(out.values())

    def reserve(self, charges: Sequence[ChargeRecord]) -> None:
        """Add charges to the ledgers (under ``lock``)."""
        for c in charges:
            lg = self._ledgers.get(c.budget_name)
            if lg is not None:
                lg.add(c.decision_id, c.charged_at, c.nano)

    def release(self, charges: Sequence[ChargeRecord]) -> None:
        """Take back reservations whose decisions were not stored (their call failed)."""
        with self.lock:
            for c in charges:
                lg = self._ledgers.get(c.budget_name)
                if lg is not None:
                    lg.adjust(c.decision_id, c.charged_at, c.nano, 0)

    def adjusted(self, changes: Sequence[tuple[str, str, float, int, int]]) -> None:
        """Charges the store changed: (decision_id, budget, charged_at, nano before, nano after)."""
        if not changes:
            return
        with self.lock:
            for decision_id, name, t, before, after in changes:
                lg = self._ledgers.get(name)
                if lg is not None:
                    lg.adjust(decision_id, t, before, after)

    def direct_charges(self, outcome_id: str, agent_name: str, at: float, cost: float) -> list[ChargeRecord]:
        """Spend an outcome reports without a decision: settled at once against the global budgets
        and the agent's (its request's tags are unknown)."""
        if cost <= 0:
            return []
        with self.lock:
            ledgers = [lg for lg in self._ledgers.values() if lg.spec.scope in ("global", f"agent:{agent_name}")]
            return [ChargeRecord(f"outcome:{outcome_id}", lg.spec.name, at, 0.0, cost, "settled", at,
                                 window_bounds(lg.spec.window_kind, None, at)[0]
                                 if lg.spec.window_kind != "rolling" else None, nano(cost)) for lg in ledgers]

    def added(self, charges: Sequence[ChargeRecord]) -> None:
        """Settled charges the store took (``direct_charges``)."""
        with self.lock:
            for c in charges:
                lg = self._ledgers.get(c.budget_name)
                if lg is not None and (c.window_start is None or c.window_start == lg.window_start):
                    lg.add(c.decision_id, c.charged_at, c.nano)

    def reload(self, names: Sequence[str] | None = None) -> None:
        """Re-read budgets and their ledgers from the store (another routerd changed or charged them):
        ``names`` only, or every budget (then new and deleted ones are taken in too)."""
        now = self.clock()
        records = {r.name: r for r in self.store.list_budgets()}
        with self.lock:
            for name in list(self._ledgers) if names is None else names:
                if name not in records:
                    self._ledgers.pop(name, None)
            for name, r in records.items():
                if names is not None and name not in names:
                    continue
                lg = self._ledgers.get(name)
                if lg is None or lg.record != r:
                    self._ledgers[name] = Ledger(r, self.store, now)
                elif names is not None or lg.window_start is not None:
                    # a calendar window is one usage row; a rolling one is every charge in it, so the
                    # periodic re-read (names None) leaves it to the commit's check and its conflicts
                    lg.load(self.store, now)

    # -- reports ------------------------------------------------------------------------------
    def usage(self) -> list[tuple[BudgetSpec, float]]:
        """Every budget and what its current window has used (USD), from the ledgers (no store read:
        what the metrics show at each scrape)."""
        now = self.clock()
        with self.lock:
            return [(lg.spec, lg.current(self.store, now) / NANO)
                    for lg in sorted(self._ledgers.values(), key=lambda lg: lg.spec.name)]

    def spend(self, name: str = "") -> list[SpendReport]:
        now = self.clock()
        with self.lock:
            records = [self._ledger(name).record] if name else [lg.record for lg in self._ledgers.values()]
        out = []
        for r in sorted(records, key=lambda r: r.name):
            s = r.spec
            start, end = window_bounds(s.window_kind, s.window_seconds, now)
            settled, reserved, unreconciled, n, stale = self.store.budget_spend(s.name, start, end,
                                                                              now - self.reservation_ttl_s)
            # to the nano-dollar the ledgers count in: the float sums' last-bit error is not money
            out.append(SpendReport(s, start, end, round(settled, 9), round(reserved, 9), round(unreconciled, 9),
                                   n, stale))
        return out
