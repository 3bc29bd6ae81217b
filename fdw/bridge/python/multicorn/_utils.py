"""Native helpers of the bridge.

They come from the built-in module ``_multicorn_bridge``, which the bridge's
shared library registers before the embedded interpreter starts.  Outside a
PostgreSQL backend the module does not exist and importing this module raises
ImportError (``multicorn.utils`` handles that).
"""

from _multicorn_bridge import _log_to_postgres, check_interrupts  # type: ignore[import-not-found]  # noqa: F401

__all__ = ["_log_to_postgres", "check_interrupts"]
