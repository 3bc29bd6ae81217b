"""Logging to PostgreSQL and interrupt checks for FDW code.

``log_to_postgres`` with DEBUG, INFO or WARNING emits a message at once
(DEBUG1, NOTICE, WARNING).  ERROR and CRITICAL raise ``MulticornException``;
the bridge turns it into an ERROR or FATAL with the same message, hint and
detail when it reaches PostgreSQL.

Outside a backend the native helpers are missing: importing this module
emits an ``ImportWarning``, logging does nothing, and ERROR/CRITICAL still
raise, so FDWs can be unit-tested without PostgreSQL.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

__all__ = [
    "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "REPORT_CODES",
    "MulticornException", "log_to_postgres", "check_interrupts",
]

DEBUG = logging.DEBUG
INFO = logging.INFO
WARNING = logging.WARNING
ERROR = logging.ERROR
CRITICAL = logging.CRITICAL

REPORT_CODES = {
    DEBUG: 0,
    INFO: 1,
    WARNING: 2,
    ERROR: 3,
    CRITICAL: 4,
}


class MulticornException(Exception):
    """An error meant for PostgreSQL: ERROR (code 3) or FATAL (code 4)."""

    _is_multicorn_exception = True

    def __init__(self, message: Any, code: int = 3, hint: Any = None, detail: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        self.detail = detail


try:
    from ._utils import _log_to_postgres, check_interrupts
except ImportError as _exc:  # not running inside a PostgreSQL backend
    warnings.warn(
        f"multicorn native helpers are unavailable ({_exc}); log_to_postgres only raises for ERROR/CRITICAL",
        ImportWarning,
        stacklevel=2,
    )

    def _log_to_postgres(message: str, level: int, hint: str | None = None,
                         detail: str | None = None) -> None:
        return None

    def check_interrupts() -> None:
        """Outside PostgreSQL there is never an interrupt pending."""
        return None


def log_to_postgres(message: Any, level: int = INFO, hint: Any = None, detail: Any = None) -> None:
    """Send ``message`` to PostgreSQL at ``level`` (a ``logging`` level).

    ERROR and CRITICAL raise ``MulticornException`` instead of returning.
    Unknown levels raise ``KeyError``.
    """
    code = REPORT_CODES[level]
    if code >= 3:
        raise MulticornException(message, code, hint, detail)
    _log_to_postgres(str(message), code, hint, detail)
