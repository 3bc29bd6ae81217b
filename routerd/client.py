"""The one client-side bundle of routerd's services: a channel and a stub per service.

The CLI, the foreign data wrappers and the tests all talk to routerd through ``Stubs``; what each adds
(the FDW's signal mask and error translation, the CLI's printing) stays with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.gen.tinydancer.v1 import tinydancer_pb2_grpc as pbg

# Trailing-metadata key under which routerd names the request field an error is about, so clients
# need not parse it out of the message text.
FIELD_KEY = "tinydancer-field"


# Stubs attribute of each tinydancer.v1 service, and the service of each rpc (from the descriptors).
SERVICE_ATTRS: dict[str, str] = {"AgentRegistry": "registry", "Router": "router", "Feedback": "feedback",
                                 "Analytics": "analytics", "Routes": "routes", "Model": "model",
                                 "Budgets": "budgets"}
SERVICE_OF_METHOD: dict[str, str] = {
    m.name: SERVICE_ATTRS[svc.name]
    for svc in pb.DESCRIPTOR.services_by_name.values() if svc.name in SERVICE_ATTRS for m in svc.methods}


class Stubs:
    """Stubs for every tinydancer.v1 service over one channel."""

    def __init__(self, channel: grpc.Channel):
        self.channel = channel
        self.registry = pbg.AgentRegistryStub(channel)
        self.router = pbg.RouterStub(channel)
        self.feedback = pbg.FeedbackStub(channel)
        self.analytics = pbg.AnalyticsStub(channel)
        self.routes = pbg.RoutesStub(channel)
        self.model = pbg.ModelStub(channel)
        self.budgets = pbg.BudgetsStub(channel)

    def method(self, name: str) -> Any:
        """The stub method ``name`` (e.g. "Route"), whichever service declares it."""
        return getattr(getattr(self, SERVICE_OF_METHOD[name]), name)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Stubs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_channel(target: str, *, tls_ca: str | None = None,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    if tls_ca:
        creds = grpc.ssl_channel_credentials(Path(tls_ca).read_bytes())
        return grpc.secure_channel(target, creds, options=list(options))
    return grpc.insecure_channel(target, options=list(options))


def connect(target: str, *, tls_ca: str | None = None, options: Sequence[tuple[str, Any]] = ()) -> Stubs:
    return Stubs(open_channel(target, tls_ca=tls_ca, options=options))


def bearer(token: str | None) -> tuple[tuple[str, str], ...] | None:
    """The call metadata that carries ``token`` (None without one)."""
    return (("authorization", f"Bearer {token}"),) if token else None


def error_field(e: grpc.RpcError) -> str | None:
    """The request field a failed call was about, as routerd named it in the trailing metadata."""
    trailing = getattr(e, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == FIELD_KEY:
            return str(value)
    return None
