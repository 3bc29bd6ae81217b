"""Multicorn foreign data wrappers over routerd. The server's wrapper class is ``fdw.TinyDancer``.

    fdw/options.py     the options of the server, tables and user mappings, as data, and their check
    fdw/connection.py  one gRPC channel per (backend, target, tls_ca); calls with deadlines, the token
                       and PostgreSQL's signals blocked; the Client seam the tables call through
    fdw/errors.py      gRPC status → SQLSTATE, and the one way errors leave the FDW
    fdw/tables/        one module per foreign table (see fdw.tables)
    fdw/bridge/        the Multicorn-compatible C bridge (PGXS) and its ``multicorn`` package

``fdw.TinyDancer`` is imported on first use (PEP 562), so that importing a sibling module does not
load multicorn, which warns outside PostgreSQL. Multicorn resolves the wrapper with
``getattr(import_module("fdw"), "TinyDancer")``, which lands here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fdw.tables import TinyDancer

__all__ = ["TinyDancer"]


def __getattr__(name: str) -> Any:
    if name == "TinyDancer":
        from fdw.tables import TinyDancer

        return TinyDancer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
