"""Multicorn foreign data wrappers over routerd. The server's wrapper class is ``fdw.TinyDancer``.

``fdw.TinyDancer`` is imported on first use (PEP 562), so that importing a sibling module outside
PostgreSQL (``python -m fdw.stack``, the test helpers) does not load multicorn, which warns there.
Multicorn resolves the wrapper with ``getattr(import_module("fdw"), "TinyDancer")``, which lands here.
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
