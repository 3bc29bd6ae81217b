"""A fake routerd client for the fdw tables (the seam is ``TinyDancer(options, columns, client=...)``),
and Multicorn's Qual, imported without its outside-PostgreSQL ImportWarning."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import grpc

from fdw.errors import RoutedError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    from multicorn import ANY, Qual
    from multicorn.utils import MulticornException

OPTIONS = {"target": "127.0.0.1:1", "timeout_ms": "1000"}
__all__ = ["ANY", "OPTIONS", "FakeClient", "MulticornException", "Qual", "failure"]


def failure(code: grpc.StatusCode, message: str = "boom", field: str | None = None) -> RoutedError:
    return RoutedError(message, None, "routerd rpc: test", code, field)


class FakeClient:
    """Answers each method with a fixed message, or a function of the request; records every call."""

    def __init__(self, **answers: Any):
        self.answers = answers
        self.calls: list[tuple[str, Any, float | None]] = []

    def call(self, method: str, request: Any, *, timeout_s: float | None = None) -> Any:
        self.calls.append((method, request, timeout_s))
        answer = self.answers[method]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if isinstance(answer, Callable) else answer  # type: ignore[arg-type]

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.calls]
