"""``tinydancer.routes``: one row per semantic route; ``name`` is the row id. SELECT, INSERT, UPDATE, DELETE.

INSERT is CreateRoute, UPDATE is UpdateRoute with an update_mask of the columns the statement changed
(an UPDATE that only adds or removes utterances sends them as ``add_utterances``/``remove_utterances``,
so a concurrent change to other utterances is kept), DELETE is DeleteRoute. ``group_name`` is the
proto's ``group`` (a reserved word in SQL); the four condition columns are ``RouteConditions``.

``utterance_embeddings`` is write-only: a 2-D float4[] with one row per utterance (the embedder's
dimension), given to INSERT (or to an UPDATE, with every utterance) instead of letting routerd embed
the utterances; it reads as NULL. A
SELECT reads the utterances only when the query reads that column (a route may have thousands).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
import numpy as np
from google.protobuf.field_mask_pb2 import FieldMask

from fdw.errors import (
    FEATURE_NOT_SUPPORTED,
    INVALID_TEXT_REPRESENTATION,
    NULL_VALUE_NOT_ALLOWED,
    RoutedError,
    fail,
)
from fdw.tables.base import (
    Column,
    Columns,
    Row,
    TinyDancer,
    as_bool,
    as_float,
    as_int,
    as_list,
    as_time,
    eq_values,
    optional,
    paged,
    when,
)
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb

SCANNED_ROWS = 10_000  # rows an UPDATE may have scanned before it writes them (as fdw.tables.agents)


class FieldHints(dict[str, str]):
    """Hints by the request field routerd names, read without the "route." prefix and list indices
    ("route.utterance_embeddings[3]" is "utterance_embeddings")."""

    def get(self, key: str, default: Any = None) -> Any:
        norm = re.sub(r"\[\d+\]", "", key or "").removeprefix("route.")
        return super().get(norm, default)


NAME_HINT = "name is 1..128 characters: letters, digits and . _ - : / @ (no spaces)."
THRESHOLD_HINT = ("threshold is the similarity a request needs to match, in [0, 1]; NULL uses routerd's default "
                  "(route_threshold) until FitRoutes sets one.")
TARGET_HINT = ("target_agent must name a registered agent (SELECT name FROM tinydancer.agents), or be NULL for a "
               "route without one.")
UTTERANCES_HINT = ("utterances is a text[] of 1..10000 distinct example requests, each 1..100000 characters: "
                   "ARRAY['How do I reset my password?', 'I forgot my login'].")
EMBEDDINGS_HINT = ("utterance_embeddings has one row per utterance (a 2-D float4[], or one float4[] for one "
                   "utterance) of the embedder's dimension (384 by default, see tinydancer.embed), with finite values.")
MINUTES_HINT = ("active_from_minute and active_until_minute are UTC minutes after midnight (0..1440), both or "
                "neither; from > until wraps past midnight (1320 .. 360 is 22:00 to 06:00).")
HINTS = FieldHints({
    "name": NAME_HINT,
    "description": "description is at most 4096 characters.",
    "target_agent": TARGET_HINT,
    "priority": "priority orders routes of equal similarity (higher first): -1000..1000.",
    "utterances": UTTERANCES_HINT,
    "add_utterances": UTTERANCES_HINT,
    "remove_utterances": UTTERANCES_HINT,
    "threshold": THRESHOLD_HINT,
    "group": "group_name is at most 128 characters (Classify reports groups as categories too).",
    "utterance_embeddings": EMBEDDINGS_HINT,
    "conditions.active_from_minute": MINUTES_HINT,
    "conditions.active_until_minute": MINUTES_HINT,
    "conditions.user_tiers": "user_tiers: at most 64 tiers, each 1..64 characters, matched against user_tier.",
    "conditions.rate_limit_per_minute": "rate_limit_per_minute is 1..1000000 matches a minute, or NULL for none.",
})


def _condition(field: str) -> Callable[[Any], Any]:
    return optional(field, lambda r: r.conditions)


COLUMNS = Columns(
    Column("name", "text", lambda r: r.name),
    Column("description", "text", lambda r: r.description),
    Column("target_agent", "text", lambda r: r.target_agent or None),
    Column("priority", "integer", lambda r: r.priority),
    Column("utterances", "text[]", lambda r: list(r.utterances)),
    Column("threshold", "float8", optional("threshold")),
    Column("effective_threshold", "float8", lambda r: r.effective_threshold),
    Column("fitted", "boolean", lambda r: r.fitted),
    Column("group_name", "text", lambda r: r.group or None),
    Column("active_from_minute", "integer", _condition("active_from_minute")),
    Column("active_until_minute", "integer", _condition("active_until_minute")),
    Column("user_tiers", "text[]", lambda r: list(r.conditions.user_tiers)),
    Column("rate_limit_per_minute", "integer", _condition("rate_limit_per_minute")),
    Column("utterance_count", "integer", lambda r: r.utterance_count),
    Column("created_at", "timestamptz", lambda r: when(r.created_at)),
    Column("updated_at", "timestamptz", lambda r: when(r.updated_at)),
    Column("utterance_embeddings", "float4[]"),  # write-only (INSERT): never read back
)

# Set by routerd, never by a statement.
ROUTERD_SET = ("effective_threshold", "fitted", "utterance_count", "created_at", "updated_at")
CONDITIONS = ("active_from_minute", "active_until_minute", "user_tiers", "rate_limit_per_minute")
# The settable columns an UPDATE compares, each with its update_mask path and how to compare it.
_TEXT: Callable[[Any, str], Any] = lambda v, col: v or ""  # noqa: E731 (NULL and '' are the same: none)
MASKED: tuple[tuple[str, str, Callable[[Any, str], Any]], ...] = (
    ("description", "description", _TEXT),
    ("target_agent", "target_agent", _TEXT),
    ("priority", "priority", as_int),
    ("threshold", "threshold", as_float),
    ("group_name", "group", _TEXT),
    ("active_from_minute", "conditions", as_int),
    ("active_until_minute", "conditions", as_int),
    ("user_tiers", "conditions", as_list),
    ("rate_limit_per_minute", "conditions", as_int),
)


def float_array(value: Any, column: str, hint: str) -> np.ndarray:
    """A float4[] value (floats on our bridge, strings on Multicorn2; flattened) as finite float32."""
    if not isinstance(value, list | tuple):
        fail(f"column {column}: expected a float4[] array", hint=hint, sqlstate=INVALID_TEXT_REPRESENTATION)
    if any(v is None for v in value):
        fail(f"column {column}: elements must not be NULL", hint=hint)
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        fail(f"column {column}: elements must be numbers", hint=hint, sqlstate=INVALID_TEXT_REPRESENTATION)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        fail(f"column {column}: must be a non-empty array of finite numbers", hint=hint)
    return arr


def utterance_embeddings(value: Any, n: int) -> list[pb.Vector]:
    """The write-only column as one Vector per utterance."""
    arr = float_array(value, "utterance_embeddings", EMBEDDINGS_HINT)
    if n == 0 or arr.size % n:
        fail(f"column utterance_embeddings: {arr.size} numbers cannot be one embedding for each of {n} utterances",
             hint=EMBEDDINGS_HINT)
    return [pb.Vector(values=row) for row in arr.reshape(n, -1).tolist()]


def spec(values: Mapping[str, Any]) -> pb.SemanticRoute:
    """The declared fields of a row (NULL ones unset: routerd's defaults)."""
    r = pb.SemanticRoute(name=values.get("name") or "", description=values.get("description") or "",
                         target_agent=values.get("target_agent") or "", group=values.get("group_name") or "",
                         utterances=as_list(values.get("utterances"), "utterances"))
    priority = as_int(values.get("priority"), "priority")
    if priority is not None:
        r.priority = priority
    threshold = as_float(values.get("threshold"), "threshold")
    if threshold is not None:
        r.threshold = threshold
    c = r.conditions
    for col in ("active_from_minute", "active_until_minute", "rate_limit_per_minute"):
        n = as_int(values.get(col), col)
        if n is not None:
            setattr(c, col, n)
    c.user_tiers.extend(as_list(values.get("user_tiers"), "user_tiers"))
    return r


class Routes(TinyDancer):
    resource = "routes"
    rowid_column = "name"
    COLUMNS = COLUMNS
    FIELD_HINTS = HINTS

    def __init__(self, options: Mapping[str, str], columns: Mapping[str, Any], client: Any = None):
        super().__init__(options, columns, client)
        # The full rows scans returned, by name: an UPDATE compares its new row with the row its own scan
        # read (as fdw.tables.agents), not with routerd's current one.
        self._scanned: OrderedDict[str, Row] = OrderedDict()

    def _remember(self, row: Row) -> Row:
        self._scanned[row["name"]] = row
        self._scanned.move_to_end(row["name"])
        if len(self._scanned) > SCANNED_ROWS:
            self._scanned.popitem(last=False)
        return row

    def call(self, method: str, request: Any) -> Any:
        """An rpc whose NOT_FOUND / ALREADY_EXISTS errors say what to do instead."""
        try:
            return self.rpc(method, request, passing=(grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS))
        except RoutedError as e:
            if e.code == grpc.StatusCode.ALREADY_EXISTS:
                hint = ("Route names are unique: change it with UPDATE tinydancer.routes ... WHERE name = '...', "
                        "or DELETE it first.")
            else:
                hint = "SELECT name FROM tinydancer.routes lists the routes."
            fail(e.message, hint, e.detail, sqlstate=e.sqlstate)

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (1 if eq_values(quals, "name") else 100, 400)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Iterator[Row]:
        full = columns is None or set(COLUMNS.names) - {"utterance_embeddings"} <= set(columns)  # an UPDATE's scan
        getters = COLUMNS.getters(columns)
        names = set(eq_values(quals, "name"))
        if len(names) > 1:
            return
        if names:
            r = self.rpc("GetRoute", pb.GetRouteRequest(name=str(names.pop())), missing_ok=True)
            routes: Any = [] if r is None else [r]
        else:
            with_utterances = columns is None or "utterances" in columns
            routes = paged(self.rpc, "ListRoutes",
                           pb.ListRoutesRequest(page_size=1000, include_utterances=with_utterances), "routes")
        for r in routes:
            row = {name: get(r) for name, get in getters}
            yield self._remember(row) if full else row

    def insert(self, values: dict[str, Any]) -> Row:
        for col in ROUTERD_SET:
            if values.get(col) is not None:
                fail(f"column {col} is set by routerd and cannot be given to INSERT",
                     hint="Leave it out: routerd sets it (FitRoutes sets fitted and effective_threshold).",
                     sqlstate=FEATURE_NOT_SUPPORTED)
        route = spec(values)
        if values.get("utterance_embeddings") is not None:
            route.utterance_embeddings.extend(utterance_embeddings(values["utterance_embeddings"],
                                                                   len(route.utterances)))
        got = self.call("CreateRoute", pb.CreateRouteRequest(route=route))
        row = COLUMNS.row(got)
        if not got.utterances and got.utterance_count:
            row["utterances"] = list(route.utterances)  # a reply without them: they are what was stored
        return row

    @staticmethod
    def _same_set(col: str, new: Any, old: Any) -> bool:
        """Whether a column routerd sets still holds the value the scan read."""
        if new is None or old is None:
            return new is None and old is None
        if col == "fitted":
            return as_bool(new, col) == bool(old)
        if col in ("created_at", "updated_at"):
            try:
                return as_time(new, col) == as_time(old, col)
            except Exception:  # a DateStyle fromisoformat cannot read: it came from the scan unchanged
                return True
        return as_float(new, col) == float(old)

    def update(self, rowid: Any, newvalues: dict[str, Any]) -> Row:
        if newvalues.get("name") != rowid:
            fail("a route cannot be renamed", hint="INSERT a new route and DELETE the old one.",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        current = self._scanned.pop(rowid, None)
        if current is None:
            current = COLUMNS.row(self.call("GetRoute", pb.GetRouteRequest(name=rowid)))
        for col in ROUTERD_SET:
            if not self._same_set(col, newvalues.get(col), current.get(col)):
                fail(f"column {col} is set by routerd and cannot be set",
                     hint="Set threshold (NULL for routerd's default), or fit the thresholds with FitRoutes "
                          "(routerd routes fit)." if col in ("effective_threshold", "fitted") else "routerd sets it.",
                     sqlstate=FEATURE_NOT_SUPPORTED)
        if newvalues.get("priority") is None:
            fail("column priority cannot be set to NULL", hint="routerd's default is 0: SET priority = 0.",
                 sqlstate=NULL_VALUE_NOT_ALLOWED)
        paths: list[str] = []
        for col, path, norm in MASKED:
            if norm(newvalues.get(col), col) != norm(current.get(col), col) and path not in paths:
                paths.append(path)
        req = pb.UpdateRouteRequest(name=rowid, route=spec({**newvalues, "utterances": None}))
        new_u = as_list(newvalues.get("utterances"), "utterances")
        old_u = as_list(current.get("utterances"), "utterances")
        vectors = newvalues.get("utterance_embeddings")  # the scan reads NULL: the statement set it
        if vectors is not None:  # the utterances with their embeddings, all of them
            req.route.utterances.extend(new_u)
            req.route.utterance_embeddings.extend(utterance_embeddings(vectors, len(new_u)))
            paths.append("utterances")
        elif new_u != old_u:
            old_set, new_set = set(old_u), set(new_u)
            removed = [u for u in old_u if u not in new_set]
            added = [u for u in new_u if u not in old_set]
            if new_u and len(new_set) == len(new_u) and new_u == [u for u in old_u if u in new_set] + added:
                req.add_utterances.extend(added)  # appended and/or removed: only the difference is sent
                req.remove_utterances.extend(removed)
            else:  # reordered, duplicated or emptied: the whole list (routerd checks it)
                req.route.utterances.extend(new_u)
                paths.append("utterances")
        if not paths and not req.add_utterances and not req.remove_utterances:
            return current
        if paths:
            req.update_mask.CopyFrom(FieldMask(paths=paths))
        else:  # only utterances added or removed: with a route and an empty mask routerd would copy its fields
            req.ClearField("route")
        row = COLUMNS.row(self.call("UpdateRoute", req))
        if not row["utterances"] and row.get("utterance_count"):
            row["utterances"] = new_u
        return row

    def delete(self, rowid: Any) -> None:
        # None: RETURNING shows the row the DELETE's scan read (DeleteRoute's reply has no utterances).
        self.call("DeleteRoute", pb.DeleteRouteRequest(name=rowid))
