"""Options of the tinydancer foreign tables, as data (like contrib's ``valid_options[]``).

Multicorn merges table, server and user-mapping options into one dict (user mapping beats server
beats table), so they are checked here, at the first use of a table, with a "did you mean" hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from fdw.errors import FDW_INVALID_OPTION_NAME, FDW_OPTION_NAME_NOT_FOUND, INVALID_PARAMETER_VALUE

# One foreign table per resource (fdw.tables.TABLES; a unit test holds the two equal).
RESOURCES = ("agents", "decisions", "outcomes", "capability_matches", "stats", "batches")


@dataclass(frozen=True)
class Option:
    name: str
    where: str  # where it belongs: server, table or user mapping
    required: bool = False
    default: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option("target", "server", required=True),
    Option("timeout_ms", "server", default="2000"),
    Option("tls_ca", "server"),
    Option("resource", "table", required=True),
    Option("token", "user mapping"),
)
_BY_NAME = {o.name: o for o in OPTIONS}
TIMEOUT_MAX_MS = 600_000


class OptionError(ValueError):
    def __init__(self, message: str, hint: str, sqlstate: str = INVALID_PARAMETER_VALUE):
        super().__init__(message)
        self.hint = hint
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class Settings:
    target: str
    timeout_s: float
    tls_ca: str | None
    resource: str
    token: str | None


def parse_options(options: Mapping[str, str]) -> Settings:
    for name in options:
        if name not in _BY_NAME:
            close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
            hint = f'Perhaps you meant the option "{close[0]}".' if close else \
                f"Valid options: {', '.join(o.name + ' (' + o.where + ')' for o in OPTIONS)}."
            raise OptionError(f'invalid option "{name}" for a tinydancer foreign table', hint,
                              FDW_INVALID_OPTION_NAME)
    for o in OPTIONS:
        if o.required and not options.get(o.name):
            raise OptionError(f'the {o.where} option "{o.name}" is required',
                              f"Set it with ALTER {'SERVER' if o.where == 'server' else 'FOREIGN TABLE'} "
                              f"... OPTIONS (ADD {o.name} '...').", FDW_OPTION_NAME_NOT_FOUND)
    target = options["target"]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise OptionError(f'server option "target" must be host:port, not "{target}"',
                          "For example: ALTER SERVER routerd OPTIONS (SET target '127.0.0.1:50051').")
    raw = options.get("timeout_ms", _BY_NAME["timeout_ms"].default) or ""
    try:
        timeout_ms = int(raw)
    except ValueError:
        timeout_ms = -1
    if not 1 <= timeout_ms <= TIMEOUT_MAX_MS:
        raise OptionError(f'server option "timeout_ms" must be an integer in 1..{TIMEOUT_MAX_MS}, not "{raw}"',
                          "It bounds every call to routerd made from PostgreSQL.")
    resource = options["resource"]
    if resource not in RESOURCES:
        raise OptionError(f'unknown resource "{resource}"', f"Valid resources: {', '.join(RESOURCES)}.")
    return Settings(target, timeout_ms / 1000.0, options.get("tls_ca") or None, resource,
                    options.get("token") or None)
