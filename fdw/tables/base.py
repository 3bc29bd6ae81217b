"""What every tinydancer foreign table shares: the column declaration, the wrapper class
``TinyDancer`` (its ``resource`` option picks the table), the client seam, and the coercion of the
values PostgreSQL hands to Python.

Written against Multicorn2's Python API and its portability rules (bridge spec §4.4), so the tables
run on our bridge and on Multicorn2 3.x alike: qual and insert values may arrive as text (float8,
bool, int8, timestamptz, json, float4[] elements on Multicorn2) or as Python values (our bridge
converts float4[] to floats) and are coerced here; rows are dicts; json goes out as text; no None
inside lists; ``rowid_column`` is a non-null key; ``update``/``delete`` receive the rowid value.

A table declares its columns once, as ``Column(name, SQL type, getter)``; the column list, the rows
(only the columns a query reads) and IMPORT FOREIGN SCHEMA derive from that declaration.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fdw.connection import Client, RouterdClient
from fdw.errors import (
    FEATURE_NOT_SUPPORTED,
    INVALID_TEXT_REPRESENTATION,
    NUMERIC_VALUE_OUT_OF_RANGE,
    RoutedError,
    fail,
)
from fdw.options import OptionError, Settings, parse_options

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)  # see fdw.errors: multicorn warns outside a backend
    from multicorn import ANY, ColumnDefinition, ForeignDataWrapper, TableDefinition

Row = dict[str, Any]
Getter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name, its SQL type and how to read it from the table's source message
    (None for an input column, which a row echoes from the query's quals)."""

    name: str
    type: str
    get: Getter | None = None

    def definition(self) -> ColumnDefinition:
        return ColumnDefinition(self.name, type_name=self.type)


class Columns:
    """A table's declared columns, and the getters for the subsets that queries read (cached: a
    table sees a handful of distinct column sets)."""

    def __init__(self, *columns: Column):
        self.all = columns
        self.names = tuple(c.name for c in columns)
        self.by_name = {c.name: c for c in columns}
        self._getters: dict[frozenset[str] | None, tuple[tuple[str, Getter], ...]] = {}

    def __iter__(self) -> Any:
        return iter(self.all)

    def getters(self, wanted: Iterable[str] | None) -> tuple[tuple[str, Getter], ...]:
        """(name, getter) of the output columns in ``wanted`` (every one for None)."""
        key = None if wanted is None else frozenset(wanted)
        got = self._getters.get(key)
        if got is None:
            if len(self._getters) > 64:
                self._getters.clear()
            got = self._getters[key] = tuple((c.name, c.get) for c in self.all if c.get is not None
                                             and (key is None or c.name in key))
        return got

    def row(self, msg: Any, wanted: Iterable[str] | None = None) -> Row:
        return {name: get(msg) for name, get in self.getters(wanted)}


# -- values from protobuf ---------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def when(ts: Timestamp) -> datetime:
    """A protobuf Timestamp as an aware datetime, cheaply (the bridge and Multicorn2 both take one)."""
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def optional(field: str, get: Getter = lambda m: m) -> Getter:
    """A getter for an optional (``HasField``) field of ``get(msg)``: None when unset."""
    def read(msg: Any) -> Any:
        m = get(msg)
        return getattr(m, field) if m.HasField(field) else None
    return read


def timestamp(t: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(t.astimezone(UTC))
    return ts


def changed_paths(new: Message, old: Message, *, skip: tuple[str, ...] = ("name",),
                  same: Mapping[str, Callable[[Any, Any], bool]] | None = None) -> list[str]:
    """The field-mask paths where ``new`` differs from ``old`` (sub-messages by their fields), from
    the message's descriptor: no table of update paths to keep in step with the proto."""
    paths: list[str] = []
    for f in new.DESCRIPTOR.fields:
        if f.name in skip:
            continue
        a, b = getattr(new, f.name), getattr(old, f.name)
        if f.message_type is not None and not f.is_repeated:
            paths += [f"{f.name}.{p}" for p in changed_paths(a, b, skip=(), same=None)]
        elif (list(a) != list(b)) if f.is_repeated else (a != b):
            if same is None or f.name not in same or not same[f.name](a, b):
                paths.append(f.name)
    return paths


# -- values from PostgreSQL -------------------------------------------------------------------------

def as_float(value: Any, column: str) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        fail(f"column {column}: {value!r} is not a number", sqlstate=INVALID_TEXT_REPRESENTATION)
    if math.isnan(f) or math.isinf(f):
        fail(f"column {column}: must be a finite number, not {value}")
    return f + 0.0  # -0 is 0: no negative zero reaches routerd (a price of -0 would be stored as such)


INT32 = (-(2**31), 2**31 - 1)  # every integer the tables send is a protobuf int32


def as_int(value: Any, column: str) -> int | None:
    """An integer column's value (an int4 in SQL, an int32 in the proto); an int8 qual value past
    that range is an error naming the column, not a failure to build the request."""
    if value is None:
        return None
    try:
        n = int(value) if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        f = as_float(value, column)
        assert f is not None
        if f != int(f):
            fail(f"column {column}: must be an integer, not {value}", sqlstate=INVALID_TEXT_REPRESENTATION)
        n = int(f)
    if not INT32[0] <= n <= INT32[1]:
        fail(f"column {column}: {value} is out of range for an integer",
             hint=f"{column} is between {INT32[0]} and {INT32[1]}.", sqlstate=NUMERIC_VALUE_OUT_OF_RANGE)
    return n


def as_bool(value: Any, column: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("t", "true", "on", "1", "yes", "y"):
        return True
    if text in ("f", "false", "off", "0", "no", "n"):
        return False
    fail(f"column {column}: {value!r} is not a boolean", sqlstate=INVALID_TEXT_REPRESENTATION)


def as_list(value: Any, column: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        fail(f"column {column}: expected an array, got {value!r}")
    items = list(value)
    if any(v is None for v in items):
        fail(f"column {column}: array elements must not be NULL")
    return [str(v) for v in items]


def as_time(value: Any, column: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value))
        except ValueError:
            fail(f"column {column}: cannot read the time {value!r}",
                 hint="Use ISO 8601, e.g. '2026-01-31 12:00:00+00' (SET datestyle = 'ISO').",
                 sqlstate=INVALID_TEXT_REPRESENTATION)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# -- quals ----------------------------------------------------------------------------------------------

def inputs_from_quals(quals: Iterable[Any], inputs: Iterable[str]) -> dict[str, Any] | None:
    """The ``input = value`` quals of a virtual table, or None when they contradict each other (or
    one is ``= NULL``), so no row can match. Any other operator on an input is an error."""
    given: dict[str, Any] = {}
    for q in quals:
        name = q.field_name
        if name not in inputs:
            continue  # an output column: PostgreSQL filters on it
        if q.operator != "=" or q.is_list_operator:
            fail(f"input column {name} must be compared with =",
                 hint=f"Write WHERE {name} = ... (the inputs are values, not ranges).",
                 sqlstate=FEATURE_NOT_SUPPORTED)
        if q.value is None or (name in given and given[name] != q.value):
            return None
        given[name] = q.value
    return given


def eq_values(quals: Iterable[Any], column: str) -> list[Any]:
    """Values of ``column = value`` quals (several may apply; all must hold)."""
    return [q.value for q in quals if q.field_name == column and q.operator == "="]


# Row estimates. Multicorn prices a scan at rows × width (startup apart), so the width returned by
# get_rel_size is the price of a row, not its size in bytes. A virtual table without a constant
# input either takes it from a parameter (a generic plan: `WHERE request = $1`, one row) or from a
# join (a parameterized path, one row per outer row), or has none (an ERROR at execution). The
# plain path must then cost more than a nested loop over any reasonable outer table (rows), yet stay
# under jit_above_cost (100,000) and cost what the custom plan of one constant request costs, so that
# PostgreSQL can settle on the generic plan and never JIT-compiles a single decision:
#     constant input:   (1 row, width GUARD)  -> cost GUARD
#     no constant one:  (GUARD rows, width 1) -> cost GUARD; the parameterized path costs 1 per row.
GUARD = 50_000


# -- the wrapper --------------------------------------------------------------------------------------

class TinyDancer(ForeignDataWrapper):
    """Base of the tinydancer tables; constructing it returns the table of the ``resource`` option."""

    resource: ClassVar[str] = ""
    COLUMNS: ClassVar[Columns] = Columns()
    # Hints for INVALID_ARGUMENT errors, by the request field routerd names (routerd.client.error_field).
    FIELD_HINTS: ClassVar[Mapping[str, str]] = {}
    INVALID_HINT: ClassVar[str | None] = None  # when routerd names no field

    def __new__(cls, options: Mapping[str, str], columns: Mapping[str, Any],
                client: Client | None = None) -> TinyDancer:
        if cls is TinyDancer:
            from fdw.tables import TABLES

            cls = TABLES.get(options.get("resource", ""), TinyDancer)
        obj: TinyDancer = super().__new__(cls)
        return obj

    def __init__(self, options: Mapping[str, str], columns: Mapping[str, Any], client: Client | None = None):
        super().__init__(options, columns)
        try:
            self.settings: Settings = parse_options(options)
        except OptionError as e:
            fail(str(e), hint=e.hint, sqlstate=e.sqlstate)
        self.columns = columns
        self.client: Client = client if client is not None else RouterdClient(self.settings)

    def rpc(self, method: str, request: Any, *, timeout_s: float | None = None, missing_ok: bool = False,
            passing: tuple[grpc.StatusCode, ...] = ()) -> Any:
        """Call routerd; failures become a PostgreSQL ERROR (NOT_FOUND gives None if ``missing_ok``;
        a RoutedError with a code in ``passing`` reaches the caller, which handles it)."""
        try:
            return self.client.call(method, request, timeout_s=timeout_s)
        except RoutedError as e:
            if e.code in passing:
                raise
            # A name that cannot exist (INVALID_ARGUMENT) is as missing as one that does not.
            if missing_ok and e.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            hint = e.hint
            if hint is None and e.code == grpc.StatusCode.INVALID_ARGUMENT:
                # "requests[3].embedding" (a BatchRoute) is about the same field as "embedding"
                field = (e.field or "").rsplit("].", 1)[-1]
                hint = self.FIELD_HINTS.get(field, self.INVALID_HINT)
            fail(e.message, hint, e.detail, sqlstate=e.sqlstate)

    def get_rel_size(self, quals: list[Any], columns: Any) -> tuple[int, int]:
        return (100, 100)

    def execute(self, quals: list[Any], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None, **kw: Any) -> Any:
        return iter(())

    @classmethod
    def table_definition(cls) -> TableDefinition:
        return TableDefinition(cls.resource, columns=[c.definition() for c in cls.COLUMNS],
                               options={"resource": cls.resource})

    @classmethod
    def import_schema(cls, schema: str, srv_options: Mapping[str, str], options: Mapping[str, str],
                      restriction_type: str | None, restricts: list[str]) -> list[TableDefinition]:
        from fdw.errors import FDW_SCHEMA_NOT_FOUND
        from fdw.tables import TABLES

        if schema != "tinydancer":
            fail(f'routerd has no schema "{schema}"',
                 hint="IMPORT FOREIGN SCHEMA tinydancer FROM SERVER routerd INTO tinydancer",
                 sqlstate=FDW_SCHEMA_NOT_FOUND)
        return [t.table_definition() for t in TABLES.values()]


def paged(rpc: Callable[[str, Any], Any], method: str, request: Any, field: str) -> Iterable[Any]:
    """Every item of a paged listing (``field`` of each reply), following next_page_token."""
    while True:
        resp = rpc(method, request)
        yield from getattr(resp, field)
        if not resp.next_page_token:
            return
        request.page_token = resp.next_page_token


def read_only(table: str, hint: str) -> NoReturn:
    fail(f"tinydancer.{table} is read-only", hint=hint, sqlstate=FEATURE_NOT_SUPPORTED)


__all__ = ["ANY", "GUARD", "Column", "Columns", "Row", "TinyDancer", "as_bool", "as_float",
           "as_int", "as_list", "as_time", "changed_paths", "eq_values", "inputs_from_quals", "optional",
           "read_only", "timestamp", "when"]
