"""Each option in its one place, at first use (issue 7, item 10), when the options mapping says where each
option came from (``options.catalogs``: {"table": {...}, "server": {...}, "user mapping": {...}}). Multicorn's
merged dict cannot say it (a user mapping's value simply wins), so without ``catalogs`` only the names and
values are checked, and sql/roles.sql's event trigger guards the places at CREATE/ALTER time."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from fdw.options import OPTIONS, PLACES, OptionError, parse_options
from tests.fdw.fakes import OPTIONS as SERVER
from tests.fdw.fakes import MulticornException

VALUES = {"target": "127.0.0.1:1", "timeout_ms": "1000", "tls_ca": "/etc/passwd", "resource": "stats",
          "token": "s3cret"}


class Options(dict[str, str]):
    """Merged options as Multicorn builds them (table, then server, then user mapping), plus the catalogs."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]]):
        super().__init__()
        for place in PLACES:
            self.update(catalogs.get(place, {}))
        self.catalogs = catalogs


def _right() -> dict[str, dict[str, str]]:
    return {"table": {"resource": "stats"}, "server": dict(SERVER), "user mapping": {"token": "t"}}


def test_options_in_their_places_are_accepted() -> None:
    s = parse_options(Options(_right()))
    assert (s.target, s.resource, s.token) == ("127.0.0.1:1", "stats", "t")


@pytest.mark.parametrize("name", [o.name for o in OPTIONS])
def test_every_option_anywhere_else_is_an_error_naming_it_and_its_place(name: str) -> None:
    where = next(o.where for o in OPTIONS if o.name == name)
    for place in PLACES:
        if place == where:
            continue
        catalogs = _right()
        catalogs[place] = {**catalogs[place], name: VALUES[name]}
        with pytest.raises(OptionError) as info:
            parse_options(Options(catalogs))
        e = info.value
        assert str(e).startswith(f'the option "{name}" cannot be set on ') and e.sqlstate == "HV00D", str(e)
        assert ("a user mapping" if place == "user mapping" else place.split()[-1]) in str(e).split(":")[0]
        assert "Drop it with" in e.hint and "DROP " + name in e.hint


def test_a_token_on_the_server_is_refused_even_when_a_user_mapping_overrides_it() -> None:
    """The merged dict shows only the user mapping's token; the server's copy is still readable by all."""
    catalogs = _right()
    catalogs["server"]["token"] = "leaked"
    with pytest.raises(OptionError) as info:
        parse_options(Options(catalogs))
    assert str(info.value) == 'the option "token" cannot be set on the server: it belongs to a user mapping'
    assert "readable by every role" in info.value.hint


def test_wrapper_only_on_the_server() -> None:
    for place in ("table", "user mapping"):
        catalogs = _right()
        catalogs[place]["wrapper"] = "routerd.__main__.x"
        with pytest.raises(OptionError, match='"wrapper" cannot be set on'):
            parse_options(Options(catalogs))
    catalogs = _right()
    catalogs["server"]["wrapper"] = "fdw.TinyDancer"
    merged = Options(catalogs)
    del merged["wrapper"]  # multicorn removes it from the merged options before the FDW sees them
    assert parse_options(merged).resource == "stats"


def test_without_catalogs_the_merged_options_are_checked_as_before() -> None:
    merged = {"resource": "stats", **SERVER, "token": "t"}
    assert parse_options(merged).token == "t"


def test_the_table_reports_a_misplaced_option_as_a_postgresql_error() -> None:
    from fdw.tables import TinyDancer

    catalogs = _right()
    catalogs["user mapping"]["target"] = "10.0.0.1:50051"
    with pytest.raises(MulticornException) as info:
        TinyDancer(Options(catalogs), {})
    assert info.value.sqlstate == "HV00D" and "belongs to the server" in info.value.message and info.value.hint
