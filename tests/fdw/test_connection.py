"""fdw.connection and fdw.errors without a routerd: the signal mask, the channel cache, the
translation of gRPC failures (field from the trailing metadata, SQLSTATE from one table)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import grpc
import pytest

from fdw import connection, errors
from fdw.options import parse_options
from routerd.client import FIELD_KEY
from tests.fdw.fakes import OPTIONS


def _blocked_in_kernel() -> int:
    """This thread's blocked-signal mask as the kernel reports it (SigBlk, a hex bitmask)."""
    tid = threading.get_native_id()
    with open(f"/proc/{os.getpid()}/task/{tid}/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk:"))


def _bits(signals: Any) -> int:
    return sum(1 << (int(s) - 1) for s in signals)


@pytest.mark.parametrize("blocked", [connection._signals_blocked_libc, connection._signals_blocked_module])
def test_signals_blocked_applies_and_restores_the_mask(blocked: Any) -> None:
    if blocked is connection._signals_blocked_libc and connection._LIBC is None:
        pytest.skip("no libc pthread_sigmask through ctypes here")
    seen: dict[str, Any] = {}

    def work() -> None:  # in a fresh thread, so the test runner's own mask does not matter
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # something already blocked stays so
        before = _blocked_in_kernel()
        with blocked():
            seen["inside"] = _blocked_in_kernel()
            seen["module"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
            started = threading.Thread(target=lambda: seen.setdefault("child", _blocked_in_kernel()))
            started.start()
            started.join()
        seen["before"], seen["after"] = before, _blocked_in_kernel()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["inside"] & _bits(connection.ASYNC_SIGNALS) == _bits(connection.ASYNC_SIGNALS)
    assert seen["inside"] & _bits({signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE}) == 0  # synchronous ones stay
    assert signal.SIGINT in seen["module"] and signal.SIGTERM in seen["module"] and signal.SIGALRM in seen["module"]
    assert seen["child"] == seen["inside"]  # threads gRPC starts inherit it
    assert seen["after"] == seen["before"] and seen["before"] & _bits({signal.SIGUSR2})


def test_signals_blocked_restores_on_error() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(RuntimeError), connection.signals_blocked():
        raise RuntimeError("x")
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_one_channel_per_process_and_target() -> None:
    s, other, third = (parse_options({**OPTIONS, "target": f"127.0.0.1:{p}", "resource": "stats"}) for p in (1, 2, 3))
    try:
        a, b = connection.stubs(s), connection.stubs(s)
        assert a is b
        assert connection.stubs(other) is not a
        connection._cache[(os.getpid() + 1, s.target, None)] = a  # as if inherited across fork
        connection.stubs(third)
        assert all(k[0] == os.getpid() for k in connection._cache)  # the parent's channel is never used
    finally:
        for x in (s, other, third):
            connection.drop(x)


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, str], ...] = ()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


def test_translate_reads_the_field_from_trailing_metadata() -> None:
    s = parse_options({**OPTIONS, "resource": "decisions"})
    e = connection.translate(_RpcError(grpc.StatusCode.INVALID_ARGUMENT, "objective: unknown 'x'",
                                       ((FIELD_KEY, "objective"),)), "Route", s)
    assert e.field == "objective" and e.sqlstate == "22023" and "objective" in e.message
    plain = connection.translate(_RpcError(grpc.StatusCode.INVALID_ARGUMENT, "objective: unknown"), "Route", s)
    assert plain.field is None  # not parsed out of the text
    down = connection.translate(_RpcError(grpc.StatusCode.UNAVAILABLE, "connect failed"), "Route", s)
    assert down.sqlstate == "08006" and "unreachable" in down.message and down.hint
    assert connection.translate(_RpcError(grpc.StatusCode.UNAUTHENTICATED, ""), "Route", s).sqlstate == "28000"


def test_every_status_code_has_a_sqlstate() -> None:
    for code in grpc.StatusCode:
        state = errors.sqlstate_of(code)
        assert len(state) == 5 and state.isalnum()
        assert (state == "XX000") == (code in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                                               grpc.StatusCode.DATA_LOSS))
    assert errors.sqlstate_of(grpc.StatusCode.NOT_FOUND) == "42704"
    assert errors.sqlstate_of(grpc.StatusCode.ALREADY_EXISTS) == "42710"
    assert errors.sqlstate_of(grpc.StatusCode.FAILED_PRECONDITION) == "55000"


def test_fail_carries_the_sqlstate_on_multicorns_exception() -> None:
    from tests.fdw.fakes import MulticornException

    with pytest.raises(MulticornException) as info:
        errors.fail("bad", hint="h", detail="d", sqlstate="22P02")
    e = info.value
    assert (e.message, e.hint, e.detail, e.code, e.sqlstate) == ("bad", "h", "d", 3, "22P02")
