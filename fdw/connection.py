"""The FDW's connection to routerd: one channel per (backend, target, tls_ca), created lazily after
fork; every call with a deadline, the user mapping's token and PostgreSQL's signals blocked; gRPC
failures translated into PostgreSQL errors (``fdw.errors``).

Every call has a deadline (the server's ``timeout_ms``): a query cancel cannot interrupt Python
while it waits, so the deadline is what bounds a call to a routerd that is down or stuck.

The tables reach routerd only through a :class:`Client` (``call(method, request)``), so tests hand
them a fake one and need neither gRPC nor a routerd.

Every call carries an ``x-request-id`` (gRPC metadata), one per SQL statement: see
:func:`statement_request_id`. routerd logs it with the call and stores it with each decision, and a
failed call names it in the error's DETAIL, so a SQL statement can be followed into routerd's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import grpc

from fdw.errors import RoutedError
from fdw.options import TIMEOUT_MAX_MS, Settings
from routerd.client import Stubs, bearer, connect, error_field

# Reconnect quickly once routerd is back: the next query must not wait out a long backoff.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", 256 << 20),
    ("grpc.enable_fork_support", 0),
)

# -- PostgreSQL's signals stay with the backend's thread ---------------------------------------
#
# PostgreSQL's signals (cancel, statement_timeout, terminate, latch wakeups) must reach the backend's
# own thread, never one of gRPC's. Threads inherit the mask of the thread that starts them, so gRPC
# work runs with these blocked: any thread it starts never takes them, and what arrives meanwhile is
# delivered to the backend as soon as the call returns (the call is bounded by its deadline).
#
# signal.pthread_sigmask converts the ~60 signals to Signals enum members both ways (~95 µs a call);
# libc's pthread_sigmask with a prebuilt sigset_t costs ~3 µs. The signal module is the fallback.
_SYNCHRONOUS = {signal.SIGKILL, signal.SIGSTOP, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                signal.SIGTRAP, signal.SIGABRT}
ASYNC_SIGNALS = frozenset(signal.valid_signals()) - _SYNCHRONOUS


class _SigSet(ctypes.Structure):
    _fields_ = [("val", ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong))))]  # glibc's sigset_t


def _libc_sigmask() -> tuple[Callable[[int, Any, Any], int], _SigSet] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        sigmask, sigaddset = libc.pthread_sigmask, libc.sigaddset
    except (OSError, AttributeError):
        return None
    sigmask.argtypes = (ctypes.c_int, ctypes.POINTER(_SigSet), ctypes.POINTER(_SigSet))
    sigmask.restype = ctypes.c_int
    blocked = _SigSet()
    for s in ASYNC_SIGNALS:
        if sigaddset(ctypes.byref(blocked), int(s)) != 0:
            return None
    return sigmask, blocked


_LIBC = _libc_sigmask()


@contextlib.contextmanager
def _signals_blocked_libc() -> Iterator[None]:
    assert _LIBC is not None
    sigmask, blocked = _LIBC
    old = _SigSet()
    if sigmask(signal.SIG_BLOCK, blocked, old) != 0:
        raise OSError(ctypes.get_errno(), "pthread_sigmask failed")
    try:
        yield
    finally:
        sigmask(signal.SIG_SETMASK, old, None)


@contextlib.contextmanager
def _signals_blocked_module() -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


signals_blocked: Callable[[], contextlib.AbstractContextManager[None]] = (
    _signals_blocked_libc if _LIBC is not None else _signals_blocked_module)


# -- request ids: one per SQL statement -----------------------------------------------------------
#
# The FDW API has no per-statement hook (instances live across statements, and a statement may run
# many scans, rows and batch chunks). PostgreSQL itself knows: the backend's statement start time,
# GetCurrentStatementStartTimestamp(), set once per client message (a simple query, or each
# Execute of the extended protocol) and read here through ctypes from the backend's own symbols
# (the ~1 µs of a C call). Every call made while that value stays the same is one statement and
# shares one id, "pg-<pid>-<statement start, µs since 2000>-<random>", so the pid and the time
# also find the statement in PostgreSQL's own log. Outside a backend (tests, tools) there is no
# statement: each call gets its own id (uuid4 hex).

def _statement_clock() -> Callable[[], int] | None:
    try:
        fn = ctypes.CDLL(None).GetCurrentStatementStartTimestamp
    except (OSError, AttributeError):
        return None
    fn.argtypes = ()
    fn.restype = ctypes.c_int64
    return fn


_STATEMENT_CLOCK = _statement_clock()
_statement: tuple[int, int, str] = (0, 0, "")  # (pid, statement start, its id)


def statement_request_id() -> str:
    """The x-request-id of the statement this backend is running (see above)."""
    global _statement
    if _STATEMENT_CLOCK is None:
        return uuid.uuid4().hex
    pid, started = os.getpid(), int(_STATEMENT_CLOCK())
    if _statement[:2] != (pid, started):
        _statement = (pid, started, f"pg-{pid}-{started}-{os.urandom(4).hex()}")
    return _statement[2]


# -- channels ------------------------------------------------------------------------------------

_cache: dict[tuple[int, str, str | None], Stubs] = {}


def stubs(settings: Settings) -> Stubs:
    """The stubs for ``settings``' routerd, over this process's one channel to it.

    The key includes the pid: a channel inherited from a parent process is never used across fork.
    """
    pid = os.getpid()
    key = (pid, settings.target, settings.tls_ca)
    s = _cache.get(key)
    if s is None:
        for stale in [k for k in _cache if k[0] != pid]:
            del _cache[stale]  # the parent's: not ours to close
        with signals_blocked():
            s = _cache[key] = connect(settings.target, tls_ca=settings.tls_ca, options=CHANNEL_OPTIONS)
    return s


def drop(settings: Settings) -> None:
    s = _cache.pop((os.getpid(), settings.target, settings.tls_ca), None)
    if s is not None:
        with signals_blocked():
            s.close()


# -- calls ---------------------------------------------------------------------------------------

class Client(Protocol):
    """What the tables need of routerd: one call, returning the response message or raising
    RoutedError."""

    def call(self, method: str, request: Any, *, timeout_s: float | None = None) -> Any: ...


class RouterdClient:
    """The real client: routerd over gRPC, as ``settings`` say."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.metadata = bearer(settings.token)

    def call(self, method: str, request: Any, *, timeout_s: float | None = None) -> Any:
        request_id = statement_request_id()
        metadata = (*(self.metadata or ()), ("x-request-id", request_id))
        try:
            fn = stubs(self.settings).method(method)
            with signals_blocked():
                return fn(request, timeout=timeout_s or self.settings.timeout_s, metadata=metadata)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                drop(self.settings)  # start afresh next time rather than inherit a backoff
            raise translate(e, method, self.settings, timeout_s=timeout_s, request=request,
                            request_id=request_id) from None


def unreachable_or_late(code: grpc.StatusCode, method: str, settings: Settings, timeout_s: float | None,
                        request: Any, detail: str) -> RoutedError:
    """UNAVAILABLE: routerd could not be reached. DEADLINE_EXCEEDED: it did not answer in time, which is not
    the same: say which deadline expired, and for a batch that its deadline grows with the number of
    requests in the call (the FDW sends a long ``= ANY`` or a staged batch in chunks, each with its own)."""
    if code == grpc.StatusCode.UNAVAILABLE:
        return RoutedError(
            f"routerd is unreachable at {settings.target} (UNAVAILABLE)",
            "Check that routerd is running and that the server option target is right "
            "(ALTER SERVER routerd OPTIONS (SET target 'host:port')).", detail, code)
    deadline_ms = (timeout_s or settings.timeout_s) * 1000
    base_ms = settings.timeout_s * 1000
    raise_it = f"raise the server option timeout_ms (now {base_ms:.0f}): ALTER SERVER routerd OPTIONS " \
               f"(SET timeout_ms '{min(int(base_ms * 4), TIMEOUT_MAX_MS)}')"
    n = len(request.requests) if method == "BatchRoute" and hasattr(request, "requests") else None
    if n is not None:
        return RoutedError(
            f"routerd did not answer a BatchRoute call of {n} requests within its deadline of "
            f"{deadline_ms:.0f} ms: the deadline expired (DEADLINE_EXCEEDED)",
            f"Each call of a batch (at most one chunk of requests) gets its own deadline, the server option "
            f"timeout_ms ({base_ms:.0f} ms) scaled with the number of requests in the chunk. Route fewer requests "
            f"per statement, read fewer columns (alternatives and reasoning cost routerd the most), or {raise_it}.",
            detail, code)
    return RoutedError(
        f"routerd did not answer {method} within its deadline of {deadline_ms:.0f} ms: the deadline expired "
        f"(DEADLINE_EXCEEDED)",
        f"routerd was reached but answered too late (overloaded, or a large request); see routerd's log, "
        f"or {raise_it}.", detail, code)


def translate(e: grpc.RpcError, method: str, settings: Settings, *, timeout_s: float | None = None,
              request: Any = None, request_id: str | None = None) -> RoutedError:
    code = e.code()
    details = e.details() or ""
    field = error_field(e)
    ctx = f"routerd rpc: {method} at {settings.target}"
    if request_id:
        ctx += f" (x-request-id {request_id})"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return unreachable_or_late(code, method, settings, timeout_s, request, f"{ctx}: {details}")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return RoutedError("permission denied: routerd rejected the bearer token",
                           "Set the token in the user mapping: ALTER USER MAPPING FOR CURRENT_USER "
                           "SERVER routerd OPTIONS (SET token '...').", ctx, code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return RoutedError(f"invalid input: {details}", None, ctx, code, field)
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION):
        return RoutedError(details, None, ctx, code, field)
    return RoutedError(f"routerd failed: {code.name}: {details}", None, ctx, code, field)
