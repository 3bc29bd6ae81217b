"""OpenTelemetry spans for routerd's RPCs and the engine's phases (issue 12), exported over OTLP/HTTP
only when ``otlp_endpoint`` is set.

Off (``otlp_endpoint = ""``, the default) nothing here imports opentelemetry and nothing touches the
network: the interceptor gets no tracing and the engine keeps its no-op tracer
(routerd.engine.engine.NO_TRACER). On, it needs the ``tracing`` extra (``pip install
'tinydancer[tracing]'``: opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http); without it
startup fails with an error naming ``otlp_endpoint``.

Spans: one per RPC (kind SERVER, named by the full method, ``/tinydancer.v1.Router/Route``;
attributes rpc.system, rpc.service, rpc.method, rpc.grpc.status_code, tinydancer.request_id; status
ERROR when the code is not OK; health checks and reflection are not traced), parented by a W3C
``traceparent`` in the call's metadata when there is one; and, inside it, one child span per engine
phase of a Route or BatchRoute: ``engine.validate``, ``engine.route``, ``engine.commit`` (the
decision log's group commit).

Export: a BatchSpanProcessor sends batches from its own thread, so a request never waits for the
collector. The endpoint is the collector's base URL (``http://127.0.0.1:4318``): the exporter, given
an explicit URL, posts to it as is, so routerd appends ``/v1/traces`` (a URL whose path already ends
in ``/v1/traces`` is used unchanged). An export that fails (collector down, refused, HTTP error) is
logged as ONE warning on the logger ``routerd.tracing``, then at most once every
``WARN_INTERVAL_S`` while it keeps failing, and one line when exports succeed again; the exporter's
own per-batch log lines are silenced. Spans that cannot be sent are dropped. ``shutdown`` flushes
with a bounded wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import grpc

from routerd.errors import InvalidArgument

__all__ = ["EXTRA_HINT", "WARN_INTERVAL_S", "Tracing", "check_endpoint", "start_tracing", "traces_url"]

log = logging.getLogger("routerd.tracing")

EXTRA_HINT = "pip install 'tinydancer[tracing]'"
WARN_INTERVAL_S = 600.0
EXPORT_TIMEOUT_S = 5.0  # one export request, its retries included
SHUTDOWN_TIMEOUT_S = 5.0
TRACES_PATH = "/v1/traces"
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http")


def check_endpoint(value: str, field: str = "otlp_endpoint") -> None:
    """``value`` must be an http or https URL with a host (no query or fragment)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise InvalidArgument(field, f"must be an http:// or https:// URL, got {value!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or any(c.isspace() for c in value):
        raise InvalidArgument(field, f"must be an http:// or https:// URL such as http://127.0.0.1:4318, "
                                     f"got {value!r}")


def traces_url(endpoint: str) -> str:
    """The URL spans are posted to: ``endpoint`` + /v1/traces unless its path already ends with it."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def _status_number(code: str) -> int:
    try:
        return int(grpc.StatusCode[code].value[0])
    except KeyError:
        return int(grpc.StatusCode.UNKNOWN.value[0])


class _WarningExporter:
    """Wraps the OTLP exporter: never raises into the processor; failures are logged rate-limited."""

    def __init__(self, inner: Any, url: str, interval_s: float = WARN_INTERVAL_S):
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.inner = inner
        self.url = url
        self.interval_s = interval_s
        self._ok, self._failure = SpanExportResult.SUCCESS, SpanExportResult.FAILURE
        self._last_warning = -float("inf")
        self._failing = False
        self.failures = 0
        self.exported = 0

    def export(self, spans: Sequence[Any]) -> Any:
        error: Exception | None = None
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001  (a bug of the exporter must not kill the processor)
            result, error = self._failure, exc
        if result == self._ok:
            self.exported += len(spans)
            if self._failing:
                self._failing = False
                log.info("trace export to %s works again", self.url, extra={"otlp_endpoint": self.url})
            return result
        self.failures += 1
        self._failing = True
        now = time.monotonic()
        if now - self._last_warning >= self.interval_s:
            self._last_warning = now
            log.warning("cannot export traces to %s (%s); %d spans dropped; routerd keeps serving and says "
                        "this again at most every %.0f s while it lasts", self.url, error or "export failed",
                        len(spans), self.interval_s, extra={"otlp_endpoint": self.url})
        return self._failure

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class Tracing:
    """The tracer provider and its batch exporter; ``span(name)`` is the engine's tracer seam and
    ``start_rpc``/``end_rpc`` are the interceptor's."""

    def __init__(self, provider: Any, exporter: Any, url: str):
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.exporter = exporter
        self.url = url
        self.tracer = provider.get_tracer("routerd")
        self._context, self._trace = context, trace
        self._server, self._error = SpanKind.SERVER, (Status, StatusCode.ERROR)
        self._propagator = TraceContextTextMapPropagator()

    # -- the engine's seam
    def span(self, name: str) -> Any:
        return self.tracer.start_as_current_span(name)

    # -- the interceptor's
    def start_rpc(self, method: str, request_id: str, metadata: Iterable[Any] | None) -> tuple[Any, Any]:
        carrier = {k: v for k, v in metadata or () if k in ("traceparent", "tracestate") and isinstance(v, str)}
        parent = self._propagator.extract(carrier) if carrier else None
        service, _, name = method.lstrip("/").partition("/")
        span = self.tracer.start_span(method, context=parent, kind=self._server, attributes={
            "rpc.system": "grpc", "rpc.service": service, "rpc.method": name,
            "tinydancer.request_id": request_id})
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def end_rpc(self, handle: tuple[Any, Any], code: str) -> None:
        span, token = handle
        span.set_attribute("rpc.grpc.status_code", _status_number(code))
        if code != "OK":
            status, error = self._error
            span.set_status(status(error, code))
        try:
            self._context.detach(token)
        except Exception:  # noqa: BLE001  (a stream closed from another thread: its context is gone)
            pass
        span.end()

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Export what is queued and stop, waiting at most ``timeout_s``; False if it gave up."""
        t = threading.Thread(target=self.provider.shutdown, name="tracing-shutdown", daemon=True)
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            self.exporter.shutdown()  # aborts a retry's back-off wait
            t.join(1.0)
            log.warning("trace export to %s did not finish within %.1f s at shutdown; queued spans dropped",
                        self.url, timeout_s)
            return False
        return True


def start_tracing(endpoint: str, service_name: str = "routerd", *, exporter: Any = None,
                  schedule_delay_ms: int = 1000) -> Tracing:
    """A ``Tracing`` exporting to ``endpoint`` (or to ``exporter``, a SpanExporter, for tests).
    Without the tracing extra: ``InvalidArgument("otlp_endpoint", ...)`` naming the extra."""
    check_endpoint(endpoint)
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise InvalidArgument("otlp_endpoint", f"tracing needs OpenTelemetry, which is not installed ({exc.name}): "
                                               f"{EXTRA_HINT}, or leave otlp_endpoint empty") from None
    url = traces_url(endpoint)
    if exporter is None:
        for name in _EXPORTER_LOGGERS:  # one warning of ours instead of one error per batch
            logging.getLogger(name).setLevel(logging.CRITICAL)
        exporter = OTLPSpanExporter(endpoint=url, timeout=EXPORT_TIMEOUT_S)
    wrapped = _WarningExporter(exporter, url)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(wrapped, schedule_delay_millis=schedule_delay_ms,  # type: ignore[arg-type]
                                                   export_timeout_millis=int(EXPORT_TIMEOUT_S * 1000)))
    return Tracing(provider, wrapped, url)
