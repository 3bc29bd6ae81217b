"""The one client-side bundle of routerd's services: a channel and a stub per service.

The CLI, the foreign data wrappers and the tests all talk to routerd through ``Stubs``; what each adds
(the FDW's signal mask and error translation, the CLI's printing) stays with it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
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


class BadTarget(ValueError):
    """A target that is not host:port or a comma-separated list of them."""


def parse_targets(target: str) -> list[tuple[str, int]]:
    """``host:port[,host:port...]`` (an IPv6 host in brackets) as (host, port) pairs; ``BadTarget``."""
    if target.startswith("dns:///"):  # one name that resolves to every replica (compose --scale)
        parts = target[len("dns:///"):]
        if "," in parts or "/" in parts:
            raise BadTarget(f"{target!r}: a dns:/// target is one host:port")
        return parse_targets(parts)
    out = []
    for part in target.split(","):
        part = part.strip()
        host, sep, port = part.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in " /"):
            raise BadTarget(f"{part!r} is not host:port" if part else "an empty address in the list")
        out.append((host, int(port)))
    if len(out) > 64:
        raise BadTarget(f"{len(out)} addresses; at most 64")
    return out


# Calls that may be sent again when the replica they went to is unreachable: reads and routing (a
# routing decision made on a replica that died before replying is logged there, unacknowledged: its
# reservation stays charged, the safe side). Writes (registrations, outcomes, budget changes) are not
# retried: an UNAVAILABLE write may have been applied, and a second one would count twice.
_RETRIED = (
    [{"service": "tinydancer.v1.Router"}, {"service": "tinydancer.v1.Analytics"}]
    + [{"service": f"tinydancer.v1.{svc}", "method": m} for svc, methods in (
        ("AgentRegistry", ("GetAgent", "ListAgents", "FindAgentsByCapability")),
        ("Routes", ("GetRoute", "ListRoutes")), ("Feedback", ("ListOutcomes",)),
        ("Model", ("ModelInfo", "ListModels")), ("Budgets", ("GetBudget", "ListBudgets", "GetSpend")))
       for m in methods])


def replica_service_config() -> str:
    """gRPC's own client-side load balancing over several routerd: round_robin over the ready ones,
    with health checking (grpc.health.v1: a replica that stops SERVING leaves the rotation), and the
    retry of idempotent calls on another replica when one is unreachable."""
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [{"name": _RETRIED, "retryPolicy": {
            "maxAttempts": 4, "initialBackoff": "0.02s", "maxBackoff": "0.2s", "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"]}}],
    })


def channel_target(target: str) -> tuple[str, list[tuple[str, Any]]]:
    """The gRPC target and extra channel options for ``target``: one address as it is; several as an
    ``ipv4:``/``ipv6:`` list (names resolved now) balanced by ``replica_service_config``."""
    if target.startswith("dns:///"):  # every address the name resolves to, re-resolved by gRPC
        parse_targets(target)
        return target, [("grpc.service_config", replica_service_config()), ("grpc.enable_retries", 1)]
    if "," not in target:  # one address (or any other gRPC target URI): as it is
        return target, []
    addrs = parse_targets(target)
    resolved: list[tuple[int, str, int]] = []
    for host, port in addrs:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise BadTarget(f"cannot resolve {host!r}: {exc}") from None
        family, _, _, _, sockaddr = sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0]
        resolved.append((family, str(sockaddr[0]), port))
    families = {f for f, _, _ in resolved}
    if families == {socket.AF_INET6}:
        uri = "ipv6:" + ",".join(f"[{h}]:{p}" for _, h, p in resolved)
    elif families == {socket.AF_INET}:
        uri = "ipv4:" + ",".join(f"{h}:{p}" for _, h, p in resolved)
    else:
        raise BadTarget("mixes IPv4 and IPv6 addresses; give addresses of one family")
    options: list[tuple[str, Any]] = [("grpc.service_config", replica_service_config()),
                                      ("grpc.enable_retries", 1)]
    names = {h for h, _ in addrs}
    if len(names) == 1 and not _is_ip(next(iter(names))):  # TLS: verify the certificate's name, not the IP
        options.append(("grpc.ssl_target_name_override", next(iter(names))))
    return uri, options


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def open_channel(target: str, *, tls_ca: str | None = None,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel to routerd at ``target``: ``host:port``, or several (``host1:port,host2:port``, or
    ``dns:///name:port`` for a name that resolves to every replica) load-balanced with health checking
    (``channel_target``). ``BadTarget`` if it is malformed."""
    uri, extra = channel_target(target)
    opts = [*options, *extra]
    if tls_ca:
        creds = grpc.ssl_channel_credentials(Path(tls_ca).read_bytes())
        return grpc.secure_channel(uri, creds, options=opts)
    return grpc.insecure_channel(uri, options=opts)


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
