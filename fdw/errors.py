"""Errors the foreign tables raise into PostgreSQL: message, hint, detail and a SQLSTATE.

Every error leaves the FDW through :func:`fail`, which raises Multicorn's ``MulticornException`` (the
exception ``log_to_postgres(..., ERROR)`` raises) with one more attribute, ``sqlstate`` (5 characters).
Our bridge reports that SQLSTATE; real Multicorn2 ignores the attribute and reports XX000, so the
code stays portable (bridge spec §4.4).

gRPC status codes map to SQLSTATEs in one table, :data:`SQLSTATE_OF_STATUS`, in the spirit of
postgres_fdw's ``pgfdw_report_error`` (keep the remote class of error, fall back to a generic one):

    INVALID_ARGUMENT     22023 invalid_parameter_value
    OUT_OF_RANGE         22003 numeric_value_out_of_range
    NOT_FOUND            42704 undefined_object
    ALREADY_EXISTS       42710 duplicate_object
    FAILED_PRECONDITION  55000 object_not_in_prerequisite_state
    ABORTED              40001 serialization_failure
    UNAUTHENTICATED      28000 invalid_authorization_specification
    PERMISSION_DENIED    42501 insufficient_privilege
    RESOURCE_EXHAUSTED   54000 program_limit_exceeded
    UNIMPLEMENTED        0A000 feature_not_supported
    UNAVAILABLE          08006 connection_failure
    DEADLINE_EXCEEDED    08006 connection_failure   (not 57014: the FDW drops the channel as for an
                                                     unreachable routerd, and class 08 is what clients
                                                     retry; the message says the deadline expired)
    CANCELLED            57014 query_canceled
    anything else        XX000 internal_error

Errors the FDW finds itself use the constants below (22023, 22P02, 22004, 22003, 0A000, the HV FDW class).
"""

from __future__ import annotations

import warnings
from typing import NoReturn

import grpc

with warnings.catch_warnings():
    # Outside a backend multicorn.utils warns that its native helpers are missing (ImportWarning);
    # ERROR still raises there, which is all the FDW needs, so tests can import the tables.
    warnings.simplefilter("ignore", ImportWarning)
    from multicorn.utils import ERROR, INFO, MulticornException, log_to_postgres

INVALID_PARAMETER_VALUE = "22023"
INVALID_TEXT_REPRESENTATION = "22P02"
NULL_VALUE_NOT_ALLOWED = "22004"
NUMERIC_VALUE_OUT_OF_RANGE = "22003"
FEATURE_NOT_SUPPORTED = "0A000"
UNDEFINED_OBJECT = "42704"
FDW_INVALID_OPTION_NAME = "HV00D"
FDW_OPTION_NAME_NOT_FOUND = "HV00J"
FDW_INVALID_HANDLE = "HV00B"
FDW_SCHEMA_NOT_FOUND = "HV00Q"
CONNECTION_FAILURE = "08006"
INTERNAL_ERROR = "XX000"

SQLSTATE_OF_STATUS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: INVALID_PARAMETER_VALUE,
    grpc.StatusCode.OUT_OF_RANGE: NUMERIC_VALUE_OUT_OF_RANGE,
    grpc.StatusCode.NOT_FOUND: UNDEFINED_OBJECT,
    grpc.StatusCode.ALREADY_EXISTS: "42710",
    grpc.StatusCode.FAILED_PRECONDITION: "55000",
    grpc.StatusCode.ABORTED: "40001",
    grpc.StatusCode.UNAUTHENTICATED: "28000",
    grpc.StatusCode.PERMISSION_DENIED: "42501",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "54000",
    grpc.StatusCode.UNIMPLEMENTED: FEATURE_NOT_SUPPORTED,
    grpc.StatusCode.UNAVAILABLE: CONNECTION_FAILURE,
    grpc.StatusCode.DEADLINE_EXCEEDED: CONNECTION_FAILURE,
    grpc.StatusCode.CANCELLED: "57014",
}


def sqlstate_of(code: grpc.StatusCode) -> str:
    return SQLSTATE_OF_STATUS.get(code, INTERNAL_ERROR)


class RoutedError(Exception):
    """A failed routerd call, translated (message, hint, detail, SQLSTATE) but not yet raised into
    PostgreSQL: the table may still decide it is not an error (``missing_ok``) or name the column."""

    def __init__(self, message: str, hint: str | None, detail: str | None, code: grpc.StatusCode,
                 field: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.detail, self.code, self.field = message, hint, detail, code, field

    @property
    def sqlstate(self) -> str:
        return sqlstate_of(self.code)


def fail(message: str, hint: str | None = None, detail: str | None = None, *,
         sqlstate: str = INVALID_PARAMETER_VALUE) -> NoReturn:
    """Raise a PostgreSQL ERROR (as ``log_to_postgres(ERROR)`` does) carrying ``sqlstate``."""
    try:
        log_to_postgres(message, ERROR, hint=hint, detail=detail)
    except MulticornException as e:
        e.sqlstate = sqlstate
        raise
    raise AssertionError("unreachable: log_to_postgres(ERROR) raises")  # pragma: no cover


def notice(message: str) -> None:
    """A NOTICE to the client (``log_to_postgres`` at INFO)."""
    log_to_postgres(message, INFO)
