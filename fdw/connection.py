"""One gRPC channel per (backend, target), created lazily after fork, and the translation of gRPC
failures into PostgreSQL errors.

Every call has a deadline (the server's ``timeout_ms``): a query cancel cannot interrupt Python
while it waits, so the deadline is what bounds a call to a routerd that is down or stuck.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc

from fdw.options import Settings
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg

# Reconnect quickly once routerd is back: the next query must not wait out a long backoff.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", 256 << 20),
    ("grpc.enable_fork_support", 0),
]


# PostgreSQL's signals (cancel, statement_timeout, terminate, latch wakeups) must reach the backend's
# own thread, never one of gRPC's. Threads inherit the mask of the thread that starts them, so gRPC
# work runs with these blocked: any thread it starts never takes them, and what arrives meanwhile is
# delivered to the backend as soon as the call returns (the call is bounded by its deadline).
_SYNCHRONOUS = {signal.SIGKILL, signal.SIGSTOP, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                signal.SIGTRAP, signal.SIGABRT}
_ASYNC_SIGNALS = set(signal.valid_signals()) - _SYNCHRONOUS


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Stubs:
    def __init__(self, channel: grpc.Channel):
        self.channel = channel
        self.registry = pbg.AgentRegistryStub(channel)
        self.router = pbg.RouterStub(channel)
        self.feedback = pbg.FeedbackStub(channel)
        self.analytics = pbg.AnalyticsStub(channel)


_cache: dict[tuple[str, str | None], Stubs] = {}
_pid = os.getpid()


def stubs(settings: Settings) -> Stubs:
    global _pid
    if os.getpid() != _pid:  # inherited from a parent process: never use a channel across fork
        _cache.clear()
        _pid = os.getpid()
    key = (settings.target, settings.tls_ca)
    s = _cache.get(key)
    if s is None:
        with signals_blocked():
            if settings.tls_ca:
                creds = grpc.ssl_channel_credentials(Path(settings.tls_ca).read_bytes())
                channel = grpc.secure_channel(settings.target, creds, options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.insecure_channel(settings.target, options=_CHANNEL_OPTIONS)
        s = _cache[key] = Stubs(channel)
    return s


def drop(settings: Settings) -> None:
    s = _cache.pop((settings.target, settings.tls_ca), None)
    if s is not None:
        s.channel.close()


class RoutedError(Exception):
    """A failed routerd call, ready to become a PostgreSQL ERROR (message, hint, detail)."""

    def __init__(self, message: str, hint: str | None, detail: str | None, code: grpc.StatusCode):
        super().__init__(message)
        self.message, self.hint, self.detail, self.code = message, hint, detail, code


def translate(e: grpc.RpcError, method: str, settings: Settings) -> RoutedError:
    code = e.code()
    details = e.details() or ""
    ctx = f"routerd rpc: {method} at {settings.target}"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return RoutedError(
            f"routerd is unreachable ({code.name} after at most {settings.timeout_s * 1000:.0f} ms)",
            "Check that routerd is running and that the server option target is right "
            "(ALTER SERVER routerd OPTIONS (SET target 'host:port')).", f"{ctx}: {details}", code)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return RoutedError("permission denied: routerd rejected the bearer token",
                           "Set the token in the user mapping: ALTER USER MAPPING FOR CURRENT_USER "
                           "SERVER routerd OPTIONS (SET token '...').", ctx, code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return RoutedError(f"invalid input: {details}", _hint_for(details), ctx, code)
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION):
        return RoutedError(details, None, ctx, code)
    return RoutedError(f"routerd failed: {code.name}: {details}", None, ctx, code)


def _hint_for(details: str) -> str | None:
    field = details.split(":", 1)[0]
    if "objective" in field:
        return "optimize_for is one of cost, latency, quality, balanced, quality_per_dollar."
    if "embedding" in field:
        return "request_embedding must have the embedder's dimension (384)."
    return None


def call(settings: Settings, method: str, fn: Callable[..., Any], request: Any, *,
         timeout_s: float | None = None) -> Any:
    """``fn(request)`` with the deadline and the user mapping's token; RoutedError on failure."""
    metadata = (("authorization", f"Bearer {settings.token}"),) if settings.token else None
    try:
        with signals_blocked():
            return fn(request, timeout=timeout_s or settings.timeout_s, metadata=metadata)
    except grpc.RpcError as e:
        if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            drop(settings)  # start afresh next time rather than inherit a backoff
        raise translate(e, method, settings) from None
