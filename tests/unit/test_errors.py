"""Every domain error maps to a deliberate gRPC status, never INTERNAL."""

from __future__ import annotations

import inspect

import grpc
import pytest

from routerd import errors
from routerd.api.servicers import status_of


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


MODULE_ERRORS = sorted(
    {c for _, c in inspect.getmembers(errors, inspect.isclass)
     if issubclass(c, errors.TinyDancerError) and c is not errors.TinyDancerError},
    key=lambda c: c.__name__)


def test_the_tree_is_complete() -> None:
    assert {c.__name__ for c in MODULE_ERRORS} >= {
        "InvalidArgument", "NotFound", "AgentNotFound", "DecisionNotFound", "AlreadyExists", "AgentExists",
        "FailedPrecondition", "Unauthenticated", "StoreUnavailable"}
    # Subclasses defined anywhere in routerd (imported by now) are covered too.
    assert set(MODULE_ERRORS) >= {c for c in _subclasses(errors.TinyDancerError) if c.__module__ == errors.__name__}


@pytest.mark.parametrize("cls", MODULE_ERRORS, ids=lambda c: c.__name__)
def test_every_error_has_a_status(cls: type[errors.TinyDancerError]) -> None:
    exc = cls.__new__(cls)  # status_of looks only at the type
    code = status_of(exc)
    assert isinstance(code, grpc.StatusCode)
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)


@pytest.mark.parametrize(("exc", "code"), [
    (errors.InvalidArgument("f", "bad"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.AgentNotFound("a"), grpc.StatusCode.NOT_FOUND),
    (errors.DecisionNotFound("d"), grpc.StatusCode.NOT_FOUND),
    (errors.AgentExists("a"), grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unauthenticated("x"), grpc.StatusCode.UNAUTHENTICATED),
    (errors.StoreUnavailable("x"), grpc.StatusCode.UNAVAILABLE),
])
def test_expected_codes(exc: errors.TinyDancerError, code: grpc.StatusCode) -> None:
    assert status_of(exc) == code


def test_a_new_subclass_inherits_its_parents_status() -> None:
    class RouteNotFound(errors.NotFound):
        pass

    assert status_of(RouteNotFound("r")) == grpc.StatusCode.NOT_FOUND
    assert status_of(errors.TinyDancerError("bare")) == grpc.StatusCode.INTERNAL


def test_messages_name_the_field() -> None:
    assert str(errors.InvalidArgument("agent.name", "must not be empty")) == "agent.name: must not be empty"
    e = errors.AgentNotFound("x", field="agent_name")
    assert str(e).startswith("agent_name: ") and e.name == "x"
    assert str(errors.AgentExists("x")).startswith("agent.name: ")
    assert isinstance(errors.InvalidArgument("f", "p"), ValueError)
    assert isinstance(errors.AgentNotFound("x"), LookupError)
