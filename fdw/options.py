"""Options of the tinydancer foreign tables, as data (like contrib's ``valid_options[]``).

Multicorn merges table, server and user-mapping options into one dict (user mapping beats server
beats table), so they are checked here, at the first use of a table, with a "did you mean" hint.

Each option belongs to one place (:data:`OPTIONS`), and only there is it accepted:

    target, timeout_ms, tls_ca   the server: only its owner may change where the FDW connects, for how
                                 long and which CA it trusts; a user mapping (which a role with USAGE on
                                 the server may create for itself) must not redirect it
    resource                     the foreign table
    token                        a user mapping only: server and table options are readable by every
                                 role (pg_foreign_server, pg_foreign_table), user-mapping options only by
                                 the mapped user and the server's owner (pg_user_mappings)

The merged dict alone cannot say where an option was set. Two checks make up for it: sql/roles.sql
installs an event trigger that rejects a misplaced option at CREATE/ALTER time (on our bridge and on
Multicorn2 alike), and when the options mapping says where each came from (an attribute
``catalogs``: {"table": {...}, "server": {...}, "user mapping": {...}}, each catalog's own options),
:func:`parse_options` checks the places again at first use (for objects made before the trigger).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from fdw.errors import FDW_INVALID_OPTION_NAME, FDW_OPTION_NAME_NOT_FOUND, INVALID_PARAMETER_VALUE
from routerd.client import BadTarget, parse_targets

# One foreign table per resource (fdw.tables.TABLES; a unit test holds the two equal).
RESOURCES = ("agents", "decisions", "outcomes", "capability_matches", "stats", "batches", "routes", "semantic_matches",
             "classifications", "embeddings", "model", "model_actions", "budgets", "spend", "decision_cancellations",
             "analytics", "decision_log", "route_multi", "budget_plan", "batch_routes")


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
# The places an option can be set, as the ``catalogs`` attribute names them.
PLACES = ("table", "server", "user mapping")
# Multicorn's own option: the wrapper class, on the server.
WRAPPER = "wrapper"

_HOW_TO_SET = {
    "server": "ALTER SERVER routerd OPTIONS (ADD {name} '...') (as the server's owner)",
    "table": "ALTER FOREIGN TABLE ... OPTIONS (ADD {name} '...')",
    "user mapping": "CREATE USER MAPPING FOR CURRENT_USER SERVER routerd OPTIONS ({name} '...') "
                    "(or ALTER USER MAPPING ... OPTIONS (ADD {name} '...'))",
}
_DROP = {
    "server": "ALTER SERVER routerd OPTIONS (DROP {name})",
    "table": "ALTER FOREIGN TABLE ... OPTIONS (DROP {name})",
    "user mapping": "ALTER USER MAPPING FOR ... SERVER routerd OPTIONS (DROP {name})",
}
_PHRASE = {"server": "the server", "table": "a foreign table", "user mapping": "a user mapping"}
_WHY = {
    "token": "Server and table options are readable by every role (pg_foreign_server, pg_foreign_table); "
             "user-mapping options only by the mapped user and the server's owner.",
    "target": "A user mapping must not redirect the FDW: only the server's owner chooses where it connects.",
    "timeout_ms": "Only the server's owner bounds how long the FDW waits for routerd.",
    "tls_ca": "Only the server's owner chooses which certificate authority (a file on the database host) "
              "the FDW trusts.",
    "resource": "Each foreign table names the resource it serves.",
}


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


def misplaced(name: str, place: str) -> OptionError:
    """The error for option ``name`` set in ``place`` ("table", "server" or "user mapping")."""
    o = _BY_NAME[name]
    return OptionError(
        f'the option "{name}" cannot be set on {_PHRASE[place]}: it belongs to {_PHRASE[o.where]}',
        f"{_WHY[name]} Drop it with {_DROP[place].format(name=name)}, and set it on {_PHRASE[o.where]}: "
        f"{_HOW_TO_SET[o.where].format(name=name)}.", FDW_INVALID_OPTION_NAME)


def check_places(catalogs: Mapping[str, Mapping[str, str]]) -> None:
    """Every known option in ``catalogs`` ({place: that catalog's options}) is in its own place.

    Unknown names are left to :func:`parse_options`, which names the closest valid one."""
    for place in PLACES:
        for name in catalogs.get(place) or {}:
            o = _BY_NAME.get(name)
            if o is not None and o.where != place:
                raise misplaced(name, place)
    for place in ("table", "user mapping"):
        if WRAPPER in (catalogs.get(place) or {}):
            raise OptionError(f'the option "{WRAPPER}" cannot be set on {_PHRASE[place]}',
                              "Multicorn's wrapper class is set on the server only.", FDW_INVALID_OPTION_NAME)


def parse_options(options: Mapping[str, str]) -> Settings:
    """The settings of a table from Multicorn's merged options; an :class:`OptionError` names the first
    problem. When ``options`` says where each option came from (``options.catalogs``), misplaced options
    are errors too (see the module docstring)."""
    catalogs = getattr(options, "catalogs", None)
    if isinstance(catalogs, Mapping):
        check_places(catalogs)
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
    try:
        parse_targets(target)
    except BadTarget as exc:
        raise OptionError(f'server option "target" must be host:port or a comma-separated list of them '
                          f'(replicas), not "{target}": {exc}',
                          "For example: ALTER SERVER routerd OPTIONS (SET target '127.0.0.1:50051'), or "
                          "'10.0.0.1:50051,10.0.0.2:50051' for two replicas.") from None
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
