"""Python half of Tiny Dancer's multicorn-compatible FDW bridge.

FDW classes subclass ``ForeignDataWrapper``; PostgreSQL reaches them through
the bridge's C extension (``CREATE EXTENSION multicorn``).  The API follows
Multicorn2 3.2 (see docs/ in the bridge's README for the deviations).  This is
an independent implementation: ``__bridge__`` marks it.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict, namedtuple
from typing import Any

__version__ = "3.2"
__bridge__ = True

__all__ = [
    "ANY", "ALL", "UNBOUND", "ForeignDataWrapper", "TransactionAwareForeignDataWrapper",
    "Qual", "SortKey", "ColumnDefinition", "TableDefinition", "get_class", "import_module",
    "quote_identifier", "quote_option", "dict_to_optionstring", "__version__", "__bridge__",
]

ANY = object()
ALL = object()
UNBOUND = object()


def import_module(name: str) -> Any:
    """Import and return the module ``name`` (dotted names allowed)."""
    return importlib.import_module(name)


def get_class(path: str) -> Any:
    """``get_class("a.b.C")`` imports ``a.b`` and returns its attribute ``C``."""
    module_name, _, class_name = path.rpartition(".")
    module = import_module(module_name)
    return getattr(module, class_name)


def quote_identifier(name: str) -> str:
    """SQL identifier quoting: wrap in double quotes, double embedded ones."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_option(value: Any) -> str:
    """SQL literal quoting for option values: single quotes, doubled inside."""
    return "'" + str(value).replace("'", "''") + "'"


def dict_to_optionstring(options: dict[str, Any]) -> str:
    """Render ``{"k": "v"}`` as ``"k" 'v', ...`` sorted by key."""
    return ", ".join(f"{quote_identifier(k)} {quote_option(v)}" for k, v in sorted(options.items()))


class Qual:
    """One restriction ``field_name operator value`` pushed to ``execute``.

    ``operator`` is a str, or a tuple ``(opname, True)`` for ``op ANY(array)``
    and ``(opname, False)`` for ``op ALL(array)``; then ``value`` is a list.
    """

    def __init__(self, field_name: str, operator: Any, value: Any):
        self.field_name = field_name
        self.operator = operator
        self.value = value

    @property
    def is_list_operator(self) -> bool:
        return isinstance(self.operator, tuple)

    @property
    def list_any_or_all(self) -> Any:
        if not self.is_list_operator:
            return None
        return ANY if self.operator[1] else ALL

    def __repr__(self) -> str:
        if self.is_list_operator:
            which = "ANY" if self.operator[1] else "ALL"
            return f"{self.field_name} {self.operator[0]} {which}({self.value!r})"
        return f"{self.field_name} {self.operator} {self.value!r}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Qual):
            return NotImplemented
        return (self.field_name, self.operator, self.value) == (other.field_name, other.operator, other.value)

    def __hash__(self) -> int:
        # Like the reference implementation, this fails for list values.
        return hash((self.field_name, self.operator, self.value))


SortKey = namedtuple("SortKey", ["attname", "attnum", "is_reversed", "nulls_first", "collate"])


class ColumnDefinition:
    """A foreign table column as seen by the FDW (and emitted by IMPORT)."""

    def __init__(self, column_name: str, type_oid: int = 0, typmod: int = 0, type_name: str = "",
                 base_type_name: str = "", options: dict[str, Any] | None = None):
        self.column_name = column_name
        self.type_oid = type_oid
        self.typmod = typmod
        self.type_name = type_name
        self.base_type_name = base_type_name
        self.options = options if options is not None else {}

    def __repr__(self) -> str:
        return f"{self.column_name} {self.type_name}"

    def to_statement(self) -> str:
        parts = [quote_identifier(self.column_name), self.type_name]
        if self.options:
            parts.append(f"OPTIONS ({dict_to_optionstring(self.options)})")
        return " ".join(parts)


class TableDefinition:
    """A foreign table returned by ``import_schema``; ``schema`` is ignored."""

    def __init__(self, table_name: str, schema: str | None = None,
                 columns: list[ColumnDefinition] | None = None, options: dict[str, Any] | None = None):
        self.table_name = table_name
        self.schema = schema
        self.columns = columns if columns is not None else []
        self.options = options if options is not None else {}

    def __repr__(self) -> str:
        return f"{self.table_name}({', '.join(map(repr, self.columns))})"

    def to_statement(self, schema_name: str, server_name: str) -> str:
        cols = ",\n".join("  " + c.to_statement() for c in self.columns)
        stmt = (f"CREATE FOREIGN TABLE {quote_identifier(schema_name)}.{quote_identifier(self.table_name)} "
                f"(\n{cols}\n) SERVER {quote_identifier(server_name)}")
        if self.options:
            stmt += f" OPTIONS ({dict_to_optionstring(self.options)})"
        return stmt


class ForeignDataWrapper:
    """Base class of every FDW.  ``options`` is a str->str dict (table, then
    server, then user-mapping options, later ones winning; ``wrapper``
    removed); ``columns`` an OrderedDict name -> ColumnDefinition."""

    _startup_cost = 20

    def __init__(self, fdw_options: dict[str, str], fdw_columns: OrderedDict[str, ColumnDefinition]):
        pass

    def get_rel_size(self, quals: list[Qual], columns: Any) -> tuple[int, int]:
        return (100000000, len(columns) * 100)

    def can_sort(self, sortkeys: list[SortKey]) -> list[SortKey]:
        return []

    def can_limit(self, limit: int | None, offset: int | None) -> bool:
        return False

    def get_path_keys(self) -> list[Any]:
        return []

    def explain(self, quals: list[Qual], columns: Any, sortkeys: Any = None, verbose: bool = False,
                limit: Any = None, offset: Any = None) -> list[Any]:
        return []

    def execute(self, quals: list[Qual], columns: Any, sortkeys: Any = None, limit: Any = None,
                offset: Any = None) -> Any:
        return None

    @property
    def rowid_column(self) -> str:
        raise NotImplementedError("This FDW does not support the writable API")

    @property
    def modify_batch_size(self) -> int:
        return 1

    def insert(self, values: dict[str, Any]) -> Any:
        raise NotImplementedError("This FDW does not support the writable API")

    def bulk_insert(self, all_values: list[dict[str, Any]]) -> Any:
        raise NotImplementedError("This FDW does not support bulk insert")

    def update(self, oldvalues: Any, newvalues: dict[str, Any]) -> Any:
        raise NotImplementedError("This FDW does not support the writable API")

    def delete(self, oldvalues: Any) -> Any:
        raise NotImplementedError("This FDW does not support the writable API")

    def begin(self, serializable: int) -> None:
        pass

    def pre_commit(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def sub_begin(self, level: int) -> None:
        pass

    def sub_commit(self, level: int) -> None:
        pass

    def sub_rollback(self, level: int) -> None:
        pass

    def end_scan(self) -> None:
        pass

    def end_modify(self) -> None:
        pass

    @classmethod
    def import_schema(cls, schema: str, srv_options: dict[str, str], options: dict[str, str],
                      restriction_type: str | None, restricts: list[str]) -> Any:
        raise NotImplementedError("This FDW does not support IMPORT FOREIGN SCHEMA")


class TransactionAwareForeignDataWrapper(ForeignDataWrapper):
    """Buffers writes as ``(kind, payload)`` pairs in
    ``current_transaction_state`` until the transaction ends; subclasses
    apply them in ``commit`` (and call ``super().commit()`` to reset)."""

    def __init__(self, fdw_options: dict[str, str], fdw_columns: OrderedDict[str, ColumnDefinition]):
        super().__init__(fdw_options, fdw_columns)
        self._init_transaction_state()

    def _init_transaction_state(self) -> None:
        self.current_transaction_state: list[tuple[str, Any]] = []

    def insert(self, values: dict[str, Any]) -> Any:
        self.current_transaction_state.append(("insert", values))

    def update(self, oldvalues: Any, newvalues: dict[str, Any]) -> Any:
        self.current_transaction_state.append(("update", (oldvalues, newvalues)))

    def delete(self, oldvalues: Any) -> Any:
        self.current_transaction_state.append(("delete", oldvalues))

    def commit(self) -> None:
        self._init_transaction_state()

    def rollback(self) -> None:
        self._init_transaction_state()
