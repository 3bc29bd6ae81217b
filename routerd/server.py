"""routerd's gRPC server: ``create_server`` builds it (testable, any port), ``serve`` runs it until
SIGTERM/SIGINT, then drains in-flight calls and closes the store.

One routerd at a time owns a SQLite store: ``create_server`` takes an exclusive ``flock`` on
``<store file>.lock`` (beside the database, so in the data directory by default) holding its pid, and
a second routerd on the same store exits at once naming the directory and that pid. The lock dies
with the process (kill -9 included). A PostgreSQL store takes no lock: replicas share it by design.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hmac
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from routerd.api.servicers import (
    AgentRegistryServicer,
    AnalyticsServicer,
    BudgetsServicer,
    FeedbackServicer,
    ModelServicer,
    RouterServicer,
    RoutesServicer,
    register,
)
from routerd.config import Config, parse_host_port
from routerd.dashboard import Dashboard, DashboardServer, Fanout, InfeasibleTally, start_dashboard
from routerd.engine.engine import Engine
from routerd.engine.health import BreakerPolicy
from routerd.errors import InvalidArgument, TinyDancerError
from routerd.gen.tinydancer.v1 import tinydancer_pb2 as pb
from routerd.model.embedders import make_embedder
from routerd.observability import Metrics, MetricsServer, ObservingInterceptor, start_metrics_server
from routerd.store.base import open_store
from routerd.tracing import Tracing, start_tracing

log = logging.getLogger("routerd")

SERVICES = ("AgentRegistry", "Router", "Feedback", "Analytics", "Routes", "Model", "Budgets")
_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class DataDirInUse(TinyDancerError):
    """Another routerd holds the store's lock."""


class DataDirLock:
    """An exclusive, non-blocking ``flock`` on ``path`` holding this process's pid."""

    def __init__(self, path: Path):
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise DataDirInUse(f"data dir {path.parent} is in use by another routerd (pid {holder}, lock "
                               f"{path.name}); stop it or give this one another --data-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock


def lock_store(cfg: Config) -> DataDirLock | None:
    """Lock the SQLite store's file (see the module docstring); None for PostgreSQL or ``:memory:``."""
    url = cfg.store_url()
    if url.startswith(("postgresql://", "postgres://")):
        return None
    path = url.removeprefix("sqlite://")
    if path == ":memory:":
        return None
    db = Path(path).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    return DataDirLock(db.with_name(db.name + ".lock"))


def read_token(cfg: Config) -> str:
    """The bearer token: ``token`` (flag, TOML or TINYDANCER_TOKEN), else the first line of
    ``token_file`` (kept out of ``ps``). Both, or an empty or unreadable file, is an error."""
    if not cfg.token_file:
        return cfg.token
    if cfg.token:
        raise InvalidArgument("token_file", "give the token or a token file, not both")
    try:
        text = Path(cfg.token_file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument("token_file", f"cannot read {cfg.token_file}: {exc}") from None
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise InvalidArgument("token_file", f"{cfg.token_file} is empty: its first line must be the token")
    return token


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Rejects calls without exactly one ``authorization: Bearer <token>`` header (health and
    reflection excepted): a second ``authorization`` header, even a right one, is refused."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        if details.method.startswith(_OPEN_METHODS):
            return continuation(details)
        given = [value for key, value in details.invocation_metadata or () if key == "authorization"]
        if len(given) != 1:
            return self._deny
        got = given[0].encode() if isinstance(given[0], str) else given[0]
        if hmac.compare_digest(got, self._expected):
            return continuation(details)
        return self._deny


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    engine: Engine
    health: health.HealthServicer
    executor: futures.ThreadPoolExecutor
    lock: DataDirLock | None = None
    metrics: Metrics | None = None
    metrics_server: MetricsServer | None = None
    dashboard_server: DashboardServer | None = None
    tracing: Tracing | None = None

    @property
    def metrics_port(self) -> int:
        return self.metrics_server.port if self.metrics_server is not None else 0

    @property
    def http_port(self) -> int:
        """The dashboard's port (0: no dashboard)."""
        return self.dashboard_server.port if self.dashboard_server is not None else 0

    def stop(self, grace: float | None = 10.0) -> None:
        """Stop taking calls, let in-flight ones finish, flush the decision log, close the store."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.executor.shutdown(wait=True)  # grpc's stop leaves its handler threads to the executor
        if self.metrics_server is not None:
            self.metrics_server.stop()
        if self.dashboard_server is not None:
            self.dashboard_server.stop()
        self.engine.close()
        self.engine.store.close()
        if self.tracing is not None:
            self.tracing.shutdown()  # the last spans, within a bounded wait
        if self.lock is not None:
            self.lock.release()


def create_server(cfg: Config) -> RunningServer:
    """The server, bound and not started. With ``metrics_listen`` its metrics are served from here on
    (a port in use is an error naming metrics_listen, after everything opened is closed again); the
    same for the dashboard and ``http_listen``."""
    if cfg.metrics_listen:
        parse_host_port(cfg.metrics_listen, "metrics_listen")  # malformed: fail before anything is opened
    if cfg.http_listen:
        parse_host_port(cfg.http_listen, "http_listen")
    # Everything opened is closed again, last first, if a later step fails (a port in use, a bad TLS
    # file, …); on success the stack lets go and RunningServer.stop closes it all.
    with contextlib.ExitStack() as opened:
        # Spans only with an endpoint (a missing tracing extra fails here, before anything is opened);
        # the exporter connects lazily, from its own thread, so an unreachable collector never blocks.
        tracing = start_tracing(cfg.otlp_endpoint, cfg.otlp_service_name) if cfg.otlp_endpoint else None
        if tracing is not None:
            opened.callback(tracing.shutdown, 1.0)
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        token = read_token(cfg)
        metrics = Metrics(cfg.max_agent_labels) if cfg.metrics_listen else None
        tally = InfeasibleTally() if cfg.http_listen else None  # the dashboard's infeasible reasons
        observer: Any = metrics if tally is None else (tally if metrics is None else Fanout(metrics, tally))
        # The embedder first: a bad choice fails before the data dir is locked or the store opened.
        embedder = make_embedder(cfg.embedder, cache_size=cfg.embedder_cache_size,
                                 max_seq_length=cfg.embedder_max_seq_length, threads=cfg.embedder_threads)
        lock = lock_store(cfg)
        if lock is not None:
            opened.callback(lock.release)
        store = open_store(cfg.store_url())
        opened.callback(store.close)
        policy = BreakerPolicy(consecutive_failures=cfg.breaker_failures, cooldown_s=cfg.breaker_cooldown_s)
        engine = Engine(store, embedder, policy=policy, batch_max_requests=cfg.batch_max_requests,
                        batch_max_cells=cfg.batch_max_cells, embed_max_texts=cfg.embed_max_texts,
                        route_threshold=cfg.route_threshold, reembed_routes=cfg.reembed_routes,
                        retrain_interval_s=cfg.retrain_interval_s, retrain_min_outcomes=cfg.retrain_min_outcomes,
                        observer=observer, tracer=tracing, reservation_ttl_s=cfg.reservation_ttl_s)
        opened.callback(engine.close)
        engine.start_sync(cfg.sync_interval_s)
        metrics_server = None
        if metrics is not None:
            metrics.bind(engine)
            metrics_server = start_metrics_server(cfg.metrics_listen, metrics.registry)
            opened.callback(metrics_server.stop)
        dashboard_server = None
        if tally is not None:
            dashboard_server = start_dashboard(cfg.http_listen, Dashboard(engine, tally, token))
            opened.callback(dashboard_server.stop)
        # Outermost: every call gets a request id and is timed, refused ones (no token) included.
        rpc_log_level = logging.INFO if cfg.log_format == "json" else logging.DEBUG
        interceptors: list[grpc.ServerInterceptor] = [ObservingInterceptor(metrics, rpc_log_level, tracing)]
        if token:
            interceptors.append(BearerTokenInterceptor(token))
        executor = futures.ThreadPoolExecutor(max_workers=cfg.workers)
        opened.callback(executor.shutdown, wait=False)
        server = grpc.server(executor, interceptors=interceptors,
                             options=[("grpc.max_receive_message_length", cfg.max_message_bytes),
                                      ("grpc.max_send_message_length", cfg.max_message_bytes)])
        for servicer, service in ((AgentRegistryServicer(engine), "AgentRegistry"),
                                  (RouterServicer(engine, cfg.max_message_bytes), "Router"),
                                  (FeedbackServicer(engine), "Feedback"), (AnalyticsServicer(engine), "Analytics"),
                                  (RoutesServicer(engine), "Routes"), (ModelServicer(engine), "Model"),
                                  (BudgetsServicer(engine), "Budgets")):
            register(server, servicer, service)
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = [pb.DESCRIPTOR.services_by_name[s].full_name for s in SERVICES]
        reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        if cfg.tls_cert:
            creds = grpc.ssl_server_credentials([(Path(cfg.tls_key).read_bytes(),
                                                  Path(cfg.tls_cert).read_bytes())])
            port = server.add_secure_port(cfg.listen, creds)
        else:
            port = server.add_insecure_port(cfg.listen)
        if port == 0:
            raise OSError(f"cannot listen on {cfg.listen}")
        opened.pop_all()
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, engine, health_servicer, executor, lock, metrics, metrics_server,
                         dashboard_server, tracing)


def serve(cfg: Config) -> int:
    running = create_server(cfg)
    running.server.start()
    host = cfg.listen.rsplit(":", 1)[0]
    # Tests and scripts read this line to learn the port (``--listen 127.0.0.1:0``).
    metrics = ""
    if running.metrics_server is not None:
        metrics_host = cfg.metrics_listen.rsplit(":", 1)[0]
        metrics = f" metrics=http://{metrics_host}:{running.metrics_port}/metrics"
        log.info("serving metrics on http://%s:%d/metrics", metrics_host, running.metrics_port,
                 extra={"metrics_port": running.metrics_port})
    dashboard = ""
    if running.dashboard_server is not None:
        http_host = cfg.http_listen.rsplit(":", 1)[0]
        dashboard = f" dashboard=http://{http_host}:{running.http_port}/"
        log.info("serving the dashboard on http://%s:%d/", http_host, running.http_port,
                 extra={"http_port": running.http_port})
    if running.tracing is not None:
        log.info("exporting traces to %s", running.tracing.url, extra={"otlp_endpoint": running.tracing.url})
    print(f"routerd listening on {host}:{running.port} store={running.engine.store.url}{metrics}{dashboard}",
          flush=True)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping.wait(1.0):
        pass
    log.info("shutting down: draining calls for up to %.1fs", cfg.shutdown_grace_s)
    running.stop(cfg.shutdown_grace_s)
    if cfg.log_format == "json":  # every line of a JSON log is one JSON object
        log.info("routerd stopped")
    else:
        print("routerd stopped", file=sys.stderr, flush=True)
    return 0
