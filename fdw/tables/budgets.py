"""Budgets in SQL: ``tinydancer.budgets`` (SELECT INSERT UPDATE DELETE; ``name`` is the row id),
``tinydancer.spend`` (read-only: each budget's current window) and ``tinydancer.decision_cancellations``
(write-only: one INSERT cancels a decision and releases what it reserved).

    INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('team-a', 50, 'month', 'tag:team-a');
    UPDATE tinydancer.budgets SET amount = 80, mode = 'soft' WHERE name = 'team-a';
    SELECT budget, settled, reserved, remaining FROM tinydancer.spend WHERE budget = 'team-a';
    SELECT * FROM tinydancer.cancel_decision('0123456789abcdef01234567');

A budget's columns are the proto's Budget, except that its ``window`` is the column ``period`` (WINDOW
is a reserved word in SQL: every query would have to quote it) and ``window_seconds`` is
``period_seconds``; in ``tinydancer.spend`` ``window_start``/``window_end`` are ``period_start``/
``period_end``. routerd's errors name the proto's fields ("budget.window: unknown window ..."); the
HINT names the column.

    name                1..128 letters, digits and . _ - : / @
    amount              USD the period may spend, >= 0
    period              day | week | month (calendar, UTC; weeks start on Monday) | total | rolling
    period_seconds      a rolling period's length in seconds (NULL for the others)
    scope               'global', 'agent:<name>' (a registered agent) or 'tag:<tag>' (RouteRequest tags)
    mode                hard (default: what does not fit is infeasible) | soft (the cost weight rises to x10)
    willingness_to_pay  NULL, or the USD per +1.0 quality that the requests it covers route with
                        (tinydancer.budget_plan's apply_to_budget sets it)

An UPDATE sends UpdateBudget with the fields it changed (a field mask), so a concurrent change to
another field is kept; NULL period_seconds or willingness_to_pay clears them. A budget cannot be
renamed. ``spend`` is read-only: remaining = amount - settled - reserved - unreconciled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, NoReturn

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from fdw.errors import FEATURE_NOT_SUPPORTED, NULL_VALUE_NOT_ALLOWED, RoutedError, fail
from fdw.tables.base import (
    Column,
    Columns,
    Row,
    TinyDancer,
    as_float,
    as_time,
    eq_values,
    optional,
    read_only,
    when,
)
from routerd.domain import BUDGET_MODES, BUDGET_WINDOWS
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

PERIOD_HINT = (f"period is one of {', '.join(BUDGET_WINDOWS)} (calendar periods in UTC; 'rolling' needs "
               "period_seconds, the others take none).")
SCOPE_HINT = "scope is 'global', 'agent:<name>' (a registered agent) or 'tag:<tag>' (a tag requests carry)."
MODE_HINT = (f"mode is one of {', '.join(BUDGET_MODES)}: hard refuses what does not fit, soft raises the cost "
             "weight as spend nears the amount.")
AMOUNT_HINT = "amount is the USD the period may spend: a finite number >= 0."
NAME_HINT = "name is 1..128 letters, digits and . _ - : / @ (no spaces)."
WTP_HINT = "willingness_to_pay is USD per +1.0 of expected quality (1e-6 .. 1e12), or NULL for none."
LIST_HINT = "SELECT name, amount, period, scope FROM tinydancer.budgets lists the budgets."
INSERT_HINT = ("INSERT INTO tinydancer.budgets (name, amount, period, scope) VALUES ('team-a', 50, 'month', "
               "'tag:team-a')")

# The settable columns and the Budget field each one is (the update mask's path).
FIELDS = {"amount": "amount", "period": "window", "period_seconds": "window_seconds", "scope": "scope",
          "mode": "mode", "willingness_to_pay": "willingness_to_pay"}
OPTIONAL_FIELDS = ("window_seconds", "willingness_to_pay")  # NULL is meaningful: unset


class Budgets(TinyDancer):
    resource = "budgets"
    rowid_column = "name"
    COLUMNS = Columns(
        Column("name", "text", lambda b: b.name),
        Column("amount", "float8", lambda b: b.amount),
        Column("period", "text", lambda b: b.window),
        Column("period_seconds", "float8", optional("window_seconds")),
        Column("scope", "text", lambda b: b.scope),
        Column("mode", "text", lambda b: b.mode),
        Column("willingness_to_pay", "float8", optional("willingness_to_pay")),
        Column("created_at", "timestamptz", lambda b: when(b.created_at)),
        Column("updated_at", "timestamptz", lambda b: when(b.updated_at)),
    )
    FIELD_HINTS = {
        **{f"budget.{f}": h for f, h in (("window", PERIOD_HINT), ("window_seconds", PERIOD_HINT),
                                          ("scope", SCOPE_HINT), ("mode", MODE_HINT), ("amount", AMOUNT_HINT),
                                          ("name", NAME_HINT), ("willingness_to_pay", WTP_HINT))},
        "name": NAME_HINT,
    }

    def __init__(self, options: Mapping[str, str], columns: Mapping[str, Any], client: Any = None):
        super().__init__(options, columns, client)
        # The budgets scans returned, by name: an UPDATE compares its new row with the row its own scan
        # read, so that what another client changed meanwhile (and this UPDATE did not) is not sent back.
        self._scanned: dict[str, pb.Budget] = {}

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1 if eq_values(quals, "name") else 20, 200)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        names = set(eq_values(quals, "name"))
        if len(names) > 1 or None in names:
            return
        if names:  # GetBudget; a name that does not (or cannot) exist is no row
            b = self.rpc("GetBudget", pb.GetBudgetRequest(name=str(names.pop())), missing_ok=True)
            budgets = [] if b is None else [b]
        else:
            budgets = list(self.rpc("ListBudgets", pb.ListBudgetsRequest()).budgets)
        getters = self.COLUMNS.getters(columns)
        if len(self._scanned) > 10_000:
            self._scanned.clear()
        for b in budgets:
            self._scanned[b.name] = b
            yield {name: get(b) for name, get in getters}

    @staticmethod
    def budget(values: Mapping[str, Any]) -> pb.Budget:
        """The Budget a row describes; NULL columns are left unset (routerd's defaults: mode hard)."""
        b = pb.Budget(name=values.get("name") or "", window=values.get("period") or "",
                      scope=values.get("scope") or "", mode=values.get("mode") or "")
        amount = as_float(values.get("amount"), "amount")
        if amount is not None:
            b.amount = amount
        for col in ("period_seconds", "willingness_to_pay"):
            v = as_float(values.get(col), col)
            if v is not None:
                setattr(b, FIELDS[col], v)
        return b

    def insert(self, values: dict[str, Any]) -> Row:
        for col in ("created_at", "updated_at"):
            if values.get(col) is not None:
                fail(f"column {col} is set by routerd and cannot be given to INSERT",
                     hint="Leave it out: RETURNING shows it.", sqlstate=FEATURE_NOT_SUPPORTED)
        for col, hint in (("name", NAME_HINT), ("amount", AMOUNT_HINT), ("period", PERIOD_HINT),
                          ("scope", SCOPE_HINT)):
            if values.get(col) is None:
                fail(f"column {col} must not be NULL", hint=f"{hint} {INSERT_HINT}", sqlstate=NULL_VALUE_NOT_ALLOWED)
        return self.COLUMNS.row(self.rpc("CreateBudget", pb.CreateBudgetRequest(budget=self.budget(values))))

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> Row:
        if newvalues.get("name") != rowid:
            fail("a budget cannot be renamed", hint="INSERT a new budget and DELETE the old one.",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        for col in ("amount", "period", "scope", "mode"):
            if newvalues.get(col) is None:
                fail(f"column {col} cannot be set to NULL", sqlstate=NULL_VALUE_NOT_ALLOWED,
                     hint={"amount": AMOUNT_HINT, "period": PERIOD_HINT, "scope": SCOPE_HINT,
                           "mode": MODE_HINT}[col])
        current = self._scanned.pop(rowid, None)
        if current is None:
            current = self.rpc("GetBudget", pb.GetBudgetRequest(name=rowid))
        new = self.budget(newvalues)
        # Only the fields this UPDATE changed from the scanned row (unset and set differ for the optional ones).
        paths = []
        for field in FIELDS.values():
            if field in OPTIONAL_FIELDS:
                a = getattr(new, field) if new.HasField(field) else None
                b = getattr(current, field) if current.HasField(field) else None
            else:
                a, b = getattr(new, field), getattr(current, field)
            if a != b:
                paths.append(field)
        for col in ("created_at", "updated_at"):
            if not _same_time(newvalues.get(col), when(getattr(current, col)), col):
                fail(f"column {col} is set by routerd and cannot be set", hint="routerd sets it.",
                     sqlstate=FEATURE_NOT_SUPPORTED)
        if not paths:
            return self.COLUMNS.row(current)
        req = pb.UpdateBudgetRequest(name=rowid, budget=new, update_mask=FieldMask(paths=paths))
        return self.COLUMNS.row(self.rpc("UpdateBudget", req))

    def delete(self, rowid: Any) -> Row:
        return self.COLUMNS.row(self.rpc("DeleteBudget", pb.DeleteBudgetRequest(name=rowid)).budget)


def _same_time(new: Any, old: datetime, col: str) -> bool:
    """Whether an UPDATE left a routerd-set time as its scan read it (a text the scan rendered in a
    DateStyle fromisoformat cannot read came from the scan unchanged)."""
    if new is None:
        return False
    try:
        return as_time(new, col) == old
    except Exception:
        return True


def _opt_when(field: str) -> Any:
    return lambda m: when(getattr(m, field)) if m.HasField(field) else None


class Spend(TinyDancer):
    resource = "spend"
    COLUMNS = Columns(
        Column("budget", "text", lambda s: s.budget),
        Column("period_start", "timestamptz", lambda s: when(s.window_start)),
        Column("period_end", "timestamptz", _opt_when("window_end")),
        Column("amount", "float8", lambda s: s.amount),
        Column("settled", "float8", lambda s: s.settled),
        Column("reserved", "float8", lambda s: s.reserved),
        Column("unreconciled", "float8", lambda s: s.unreconciled),
        Column("remaining", "float8", lambda s: s.remaining),
        Column("decisions", "bigint", lambda s: s.decisions),
        Column("unreconciled_decisions", "bigint", lambda s: s.unreconciled_decisions),
        Column("mode", "text", lambda s: s.mode),
        Column("scope", "text", lambda s: s.scope),
    )

    @property
    def rowid_column(self) -> NoReturn:  # read at the start of every INSERT, UPDATE and DELETE
        read_only("spend", "routerd computes spend from decisions and outcomes; change a budget in "
                           "tinydancer.budgets, release a decision's reservation with tinydancer.cancel_decision(id).")

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1 if eq_values(quals, "budget") else 20, 200)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        names = set(eq_values(quals, "budget"))
        if len(names) > 1 or None in names:
            return
        req = pb.GetSpendRequest(budget=str(names.pop()) if names else "")
        resp = self.rpc("GetSpend", req, missing_ok=bool(req.budget))  # an unknown budget: no row
        if resp is None:
            return
        getters = self.COLUMNS.getters(columns)
        for s in resp.spend:
            yield {name: get(s) for name, get in getters}


class DecisionCancellations(TinyDancer):
    """Write-only: ``INSERT INTO tinydancer.decision_cancellations (decision_id) VALUES (...) RETURNING *``
    is one CancelDecision (the request was never sent: its reservations are released, and a later
    outcome for it is refused). A write rather than a scan, so it runs exactly once per row and is
    refused in a read-only transaction. ``released`` is jsonb [{"budget", "amount"}, ...];
    ``already_cancelled`` says the decision had been cancelled before (nothing changed)."""

    resource = "decision_cancellations"
    rowid_column = "decision_id"
    COLUMNS = Columns(
        Column("decision_id", "text"),
        Column("released", "jsonb"),
        Column("already_cancelled", "boolean"),
    )

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        fail("tinydancer.decision_cancellations is write-only: each INSERT cancels a decision and stores nothing",
             hint="SELECT tinydancer.cancel_decision('<decision_id>'); tinydancer.decision_log shows cancelled_at.",
             sqlstate=FEATURE_NOT_SUPPORTED)

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> NoReturn:  # never reached: no row is scanned
        fail("tinydancer.decision_cancellations is write-only", sqlstate=FEATURE_NOT_SUPPORTED)

    def delete(self, rowid: Any) -> NoReturn:
        fail("tinydancer.decision_cancellations is write-only", sqlstate=FEATURE_NOT_SUPPORTED)

    def insert(self, values: dict[str, Any]) -> Row:
        decision_id = values.get("decision_id")
        if decision_id is None:
            fail("column decision_id must not be NULL", sqlstate=NULL_VALUE_NOT_ALLOWED,
                 hint="Pass the decision_id a routing decision returned: SELECT tinydancer.cancel_decision(id).")
        for col in ("released", "already_cancelled"):
            if values.get(col) is not None:
                fail(f"column {col} is set by routerd and cannot be given to INSERT",
                     hint="Leave it out: RETURNING shows it.", sqlstate=FEATURE_NOT_SUPPORTED)
        resp = self._cancel(str(decision_id))
        return {"decision_id": resp.decision_id,
                "released": json.dumps([{"budget": c.budget, "amount": c.amount} for c in resp.released]),
                "already_cancelled": resp.already_cancelled}

    def _cancel(self, decision_id: str) -> pb.CancelDecisionResponse:
        try:
            resp: pb.CancelDecisionResponse = self.client.call(
                "CancelDecision", pb.CancelDecisionRequest(decision_id=decision_id))
            return resp
        except RoutedError as e:
            hint = e.hint
            if hint is None and e.code == grpc.StatusCode.NOT_FOUND:
                hint = ("decision_id must name a logged decision: SELECT decision_id, decided_at FROM "
                        "tinydancer.decision_log lists them.")
            elif hint is None and e.code == grpc.StatusCode.FAILED_PRECONDITION:
                hint = ("A decision with an outcome has its cost settled, not reserved: there is nothing to "
                        "release. Cancel only decisions whose request was never sent.")
            elif hint is None and e.code == grpc.StatusCode.INVALID_ARGUMENT:
                hint = "decision_id is the text id a decision returned (tinydancer.decisions' decision_id)."
            fail(e.message, hint, e.detail, sqlstate=e.sqlstate)


__all__ = ["Budgets", "DecisionCancellations", "Spend"]
