"""A wrapper module whose import is visible: it sends a NOTICE and writes a marker file named after
the backend's PID (the privilege tests check that a refused role imports nothing)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from multicorn import ForeignDataWrapper
from multicorn.utils import log_to_postgres


def marker(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"tinydancer-bridge-sideeffect-{pid}"


marker(os.getpid()).write_text("imported\n")
log_to_postgres("fdws.sideeffect imported")


class Wrapper(ForeignDataWrapper):
    pass
